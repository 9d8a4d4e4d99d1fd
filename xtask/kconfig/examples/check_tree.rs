//! Runs the kconfiglib conformance harness on any Kconfig tree:
//! `cargo run -p tessera-kconfig --example check_tree -- ROOT [ARCH] [N] [SEED]`

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(args.first().map(String::as_str).unwrap_or("."));
    let arch = args.get(1).map(String::as_str).unwrap_or("aarch64");
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let seed: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let r = tessera_kconfig::conformance::check_tree(&root, arch, n, seed)?;
    println!("{}", r.summary());
    if !r.ok() {
        std::process::exit(1);
    }
    Ok(())
}
