//! Picks the generated constants: the file named by TESSERA_CONFIG_RS (the
//! xtask writes it from a resolved .config) or, for plain host builds such
//! as `cargo test` and editors, `host_default.rs`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=TESSERA_CONFIG_RS");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = match std::env::var_os("TESSERA_CONFIG_RS") {
        Some(p) => PathBuf::from(p),
        None => manifest.join("host_default.rs"),
    };
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("config.rs");
    let text = std::fs::read_to_string(&src)
        .unwrap_or_else(|e| panic!("tessera-config: cannot read {}: {e}", src.display()));
    std::fs::write(out, text).unwrap();
}
