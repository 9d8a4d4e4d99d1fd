//! `cargo xtask`: everything that runs on the host. See README.md.
//!
//! Commands: build, run, test (and test --against-xen), fuzz, bench,
//! support, doctor, and the Kconfig commands.

mod bench;
mod config;
mod dtb;
mod elf;
mod fuzz;
mod guests;
mod hvbench;
mod image;
mod linux;
mod qemu;
mod scenario;
mod support;
mod toolchain;
mod util;
mod xenref;

use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

  build [--config FILE] [--out PATH]   resolve FILE (default configs/qemu-arm64_defconfig),
                                       build the image; prints its path last
  run [--setup FILE | --scenario NAME] [--xen] [-- QEMU-ARGS...]
                                       boot the demo (configs/demo.toml: Linux and the
                                       test guest), another setup, or a scenario's setup;
                                       console on stdio; --xen: Debian's Xen 4.20 in place
                                       of Tessera (docs/xen-reference.md)
  run --bare [--config FILE] [--smp N] [--cpu MODEL] [--append ARGS] [-- QEMU-ARGS...]
                                       the hypervisor alone
  test [--scenario NAME]... [--host-only] [--scenarios-only]
                                       host unit tests, SUPPORT.md check, then QEMU scenarios
  test --against-xen                   the Xen ABI conformance suite under Tessera and under
                                       Debian's Xen 4.20 on the same machine, diffed
                                       (docs/xen-reference.md; not part of `test`)
  fuzz [--hypercalls N] [--seed S]    the test guest's hypercall fuzzer for N calls (default
                                       100000, seed 1) beside a bystander guest
                                       (tests/scenarios/xen-fuzz.toml as the template)
  bench [--json PATH] [--only sched|size|guest|linux] [--hypervisor xen|PATH | --no-xen]
                                       figures (docs/performance.md): scheduler decision cost,
                                       image size per defconfig, guest-measured paths and a
                                       Linux guest's time to userspace under QEMU -icount,
                                       Tessera beside Debian's Xen 4.20 (or the image PATH;
                                       --no-xen: Tessera alone)
  support [--check]                    regenerate SUPPORT.md (or check it is current)
  doctor                               show the toolchain found and what is missing
  menuconfig | defconfig [FILE] | savedefconfig [--out FILE] | olddefconfig |
  allyesconfig | allnoconfig | randconfig [--seed N] | listnewconfig
                                       Kconfig commands (--config PATH, --arch ARCH)
  randconfig --sweep N [--seed FIRST]  build N random configurations
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((cmd, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(());
    };
    match cmd.as_str() {
        "build" => image::cmd_build(rest),
        "run" => qemu::cmd_run(rest),
        "test" => scenario::cmd_test(rest),
        "bench" => bench::cmd_bench(rest),
        "fuzz" => fuzz::cmd_fuzz(rest),
        "support" => support::cmd_support(rest),
        "doctor" => toolchain::cmd_doctor(),
        "menuconfig" | "defconfig" | "savedefconfig" | "olddefconfig" | "allyesconfig"
        | "allnoconfig" | "randconfig" | "listnewconfig" => config::cmd_kconfig(cmd, rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n{USAGE}"),
    }
}
