//! Conformance with kconfiglib 14.1.0 on the torture tree. Installs
//! kconfiglib into a venv if needed and fails (never skips) if it can't.

use std::path::PathBuf;

use tessera_kconfig::conformance::check_tree;

fn torture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/torture")
}

#[test]
fn torture_tree_matches_kconfiglib_aarch64() {
    let r =
        check_tree(&torture(), "aarch64", 200, 0x7e55_e7a1).expect("conformance harness failed");
    eprintln!("aarch64: {}", r.summary());
    assert!(r.ok(), "{}", r.summary());
}

#[test]
fn torture_tree_matches_kconfiglib_x86() {
    let r = check_tree(&torture(), "x86", 50, 42).expect("conformance harness failed");
    eprintln!("x86: {}", r.summary());
    assert!(r.ok(), "{}", r.summary());
}
