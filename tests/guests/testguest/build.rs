//! Passes the linker script and the position-independent link mode to ld.lld.
//!
//! The code is compiled with the target's default static relocation model;
//! it reaches everything PC-relatively (adrp/add), and the few absolute
//! pointers in data (core::fmt vtables, panic locations) become
//! R_AARCH64_RELATIVE entries that `start` applies to itself (src/boot.rs),
//! so the Image runs wherever the loader puts it.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = dir.join("link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    for arg in [
        "-pie",
        "--no-dynamic-linker",
        "-znotext",
        "-znorelro",
        "--pack-dyn-relocs=none",
        "--hash-style=sysv",
        "--build-id=none",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
