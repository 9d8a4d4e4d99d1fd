//! Stand-alone driver: `tessera-kconfig [--root DIR] <subcommand> [options]`.
//! The Kconfig root defaults to `$KCONFIG_ROOT` or the current directory.

use std::path::PathBuf;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut root = std::env::var_os("KCONFIG_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    if args
        .first()
        .map(|a| a == "--root" || a == "-C")
        .unwrap_or(false)
    {
        if args.len() < 2 {
            eprintln!("error: --root needs a directory");
            std::process::exit(2);
        }
        root = PathBuf::from(args.remove(1));
        args.remove(0);
    }
    if let Err(e) = tessera_kconfig::run(&args, &root) {
        eprintln!("error: {:#}", e);
        std::process::exit(1);
    }
}
