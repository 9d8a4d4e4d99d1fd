//! QEMU command lines, and `cargo xtask run`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::{config, image, scenario, toolchain, util};

/// What a QEMU run looks like.
#[derive(Debug, Clone)]
pub struct Machine {
    pub machine: String,
    pub cpu: String,
    pub smp: u32,
    pub memory: String,
    /// Extra arguments (devices, -dtb ...).
    pub extra: Vec<String>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            machine: "virt,virtualization=on,gic-version=3".into(),
            cpu: "cortex-a57".into(),
            smp: 4,
            memory: "1G".into(),
            extra: vec![],
        }
    }
}

/// How the image gets into the machine.
#[derive(Debug, Clone)]
pub enum Boot {
    /// `-kernel image` (QEMU loads the Image, x0 = its DTB); `append` goes
    /// to /chosen/bootargs.
    Kernel { append: String },
    /// U-Boot from Debian's u-boot-qemu loads nothing itself: the image is
    /// placed at `addr` by QEMU's loader and started with `booti`.
    UBoot { addr: u64 },
}

pub fn command(m: &Machine, boot: &Boot, image: &Path, semihosting: bool) -> Command {
    let mut c = Command::new("qemu-system-aarch64");
    c.args([
        "-M",
        &m.machine,
        "-cpu",
        &m.cpu,
        "-smp",
        &m.smp.to_string(),
        "-m",
        &m.memory,
    ]);
    c.args([
        "-nographic",
        "-no-user-config",
        "-nodefaults",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
    ]);
    c.args(board_args(&m.machine));
    if semihosting {
        c.args(["-semihosting-config", "enable=on,target=native"]);
    }
    match boot {
        Boot::Kernel { append } => {
            c.arg("-kernel").arg(image);
            if !append.is_empty() {
                c.args(["-append", append]);
            }
        }
        Boot::UBoot { addr } => {
            c.args(["-bios", toolchain::UBOOT_QEMU_ARM64]);
            c.arg("-device").arg(format!(
                "loader,file={},addr={addr:#x},force-raw=on",
                image.display()
            ));
        }
    }
    c.args(&m.extra);
    c
}

/// What a board model needs besides `-nodefaults` to start quietly.
/// QEMU's xlnx-zcu102 has DisplayPort audio (no audio backend: QEMU
/// refuses to start) and four GEM Ethernet controllers (without a peer
/// each prints a warning): no audio, and restricted user-mode networking
/// that reaches nothing.
pub fn board_args(machine: &str) -> Vec<String> {
    if machine.split(',').next() == Some("xlnx-zcu102") {
        let mut a: Vec<String> = vec!["-audio".into(), "none".into()];
        for _ in 0..4 {
            a.extend(["-nic".into(), "user,restrict=on".into()]);
        }
        a
    } else {
        vec![]
    }
}

/// The setup `cargo xtask run` boots unless told otherwise.
pub const DEMO: &str = "configs/demo.toml";

/// `cargo xtask run`: the demo setup (a Debian Linux domain with a shell
/// beside a test-guest domain), any scenario's setup, or with `--bare` the
/// hypervisor alone; console on stdio.
pub fn cmd_run(args: &[String]) -> Result<()> {
    let o = util::Opts::parse(
        args,
        &["config", "smp", "cpu", "append", "scenario", "setup"],
        &["bare", "xen"],
    )?;
    if o.flag("xen") && o.flag("bare") {
        bail!("--xen boots a setup (--setup FILE or --scenario NAME)");
    }
    let mut c = if o.flag("bare") {
        let base = PathBuf::from(o.value("config").unwrap_or(config::DEFAULT_CONFIG));
        let img = image::build(&base, &[], "")?;
        let mut m = Machine::default();
        if let Some(n) = o.value("smp") {
            m.smp = n.parse()?;
        }
        if let Some(cpu) = o.value("cpu") {
            m.cpu = cpu.to_string();
        }
        m.extra = o.trailing.clone();
        let boot = Boot::Kernel {
            append: o.value("append").unwrap_or("").to_string(),
        };
        let testing = img
            .config
            .symbols
            .iter()
            .any(|s| s.name == "TESTING" && s.value == "y");
        command(&m, &boot, &img.path, testing)
    } else {
        for opt in ["config", "smp", "cpu", "append"] {
            if o.value(opt).is_some() {
                bail!("--{opt} goes with --bare; a setup file names its own");
            }
        }
        let (name, sc, testing) = match o.value("scenario") {
            Some(n) => (n.to_string(), scenario::load(n)?, true),
            None => {
                let path = util::root().join(o.value("setup").unwrap_or(DEMO));
                let name = path
                    .file_stem()
                    .map_or("demo".into(), |s| s.to_string_lossy().into_owned());
                (name, scenario::load_path(&path)?, false)
            }
        };
        eprintln!("xtask: {}", sc.description);
        let logdir = util::root().join("target/run");
        let mut c = if o.flag("xen") {
            // The same machine, device tree and modules, with Debian's Xen
            // 4.20 in place of Tessera (docs/xen-reference.md).
            let m = scenario::machine(&name, &sc, &logdir)?;
            let boot = Boot::Kernel {
                append: sc.append.clone(),
            };
            command(&m, &boot, &crate::xenref::xen_image()?, testing)
        } else {
            scenario::prepare(&name, &sc, &logdir, testing)?
        };
        c.args(&o.trailing);
        c
    };
    eprintln!(
        "xtask: {:?} {}",
        c.get_program(),
        c.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if o.flag("xen") {
        eprintln!(
            "xtask: the console is on stdio: CTRL-a three times moves its input between Xen \
             (debug keys: 'h') and each domain; Xen does not power off when the domains \
             end: CTRL-c ends QEMU"
        );
    } else {
        eprintln!(
            "xtask: the console is on stdio: CTRL-a three times moves its input between the \
             hypervisor (debug keys: 'h') and each domain; the hypervisor powers off when \
             no domain is left (CTRL-c ends QEMU at once)"
        );
    }
    util::run(&mut c)
}
