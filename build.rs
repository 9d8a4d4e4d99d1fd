//! Links the image with the arch crate's linker script (bare metal only).
fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if target_os == "none" && arch == "aarch64" {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        let script = format!("{dir}/arch/aarch64/link.ld");
        println!("cargo:rerun-if-changed={script}");
        println!("cargo:rustc-link-arg-bin=tessera=-T{script}");
        println!("cargo:rustc-link-arg-bin=tessera=--build-id=sha1");
        println!("cargo:rustc-link-arg-bin=tessera=--orphan-handling=error");
        println!("cargo:rustc-link-arg-bin=tessera=-z");
        println!("cargo:rustc-link-arg-bin=tessera=norelro");
    }
}
