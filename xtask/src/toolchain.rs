//! Finds (and on a Debian machine where we are root, installs) what the
//! build and the tests need: a Rust compiler with its std sources for
//! `-Zbuild-std`, `ld.lld`, QEMU 10, U-Boot for QEMU, and Python 3 with
//! venv (the Kconfig conformance tests install kconfiglib into target/). `cargo xtask doctor` shows the result.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::util;

/// A compiler that can build `core` and `alloc` from source.
#[derive(Clone, Debug)]
pub struct Toolchain {
    pub cargo: PathBuf,
    /// `+name` for a rustup toolchain.
    pub plus: Option<String>,
    pub rustc: PathBuf,
    pub description: String,
}

impl Toolchain {
    /// A `cargo` command for bare-metal builds.
    pub fn cargo(&self) -> Command {
        let mut c = Command::new(&self.cargo);
        if let Some(p) = &self.plus {
            c.arg(p);
        }
        c.env("RUSTC", &self.rustc);
        // Debian's compiler is a stable release: -Z flags need this.
        c.env("RUSTC_BOOTSTRAP", "1");
        c.env_remove("RUSTFLAGS");
        c.env_remove("CARGO_ENCODED_RUSTFLAGS");
        c
    }
}

fn has_rust_src(sysroot: &Path) -> bool {
    sysroot
        .join("lib/rustlib/src/rust/library/core/Cargo.toml")
        .exists()
        && sysroot
            .join("lib/rustlib/src/rust/library/alloc/Cargo.toml")
            .exists()
}

fn sysroot_of(rustc: &Path, plus: Option<&str>) -> Option<PathBuf> {
    let mut c = Command::new(rustc);
    if let Some(p) = plus {
        c.arg(p);
    }
    let out = c.args(["--print", "sysroot"]).output().ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn version_of(rustc: &Path, plus: Option<&str>) -> String {
    let mut c = Command::new(rustc);
    if let Some(p) = plus {
        c.arg(p);
    }
    c.arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Looks for a toolchain without installing anything.
pub fn find_toolchain() -> Option<Toolchain> {
    // A rustup toolchain with rust-src, nightly first.
    if let Ok(out) = Command::new("rustup").args(["toolchain", "list"]).output() {
        let list = String::from_utf8_lossy(&out.stdout);
        let mut names: Vec<&str> = list
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        names.sort_by_key(|n| !n.starts_with("nightly"));
        for name in names {
            let plus = format!("+{name}");
            if let Some(sysroot) = sysroot_of(Path::new("rustc"), Some(&plus)) {
                if has_rust_src(&sysroot) {
                    let rustc = sysroot.join("bin/rustc");
                    let cargo = sysroot.join("bin/cargo");
                    if rustc.exists() && cargo.exists() {
                        return Some(Toolchain {
                            description: format!("rustup {name}: {}", version_of(&rustc, None)),
                            cargo,
                            plus: None,
                            rustc,
                        });
                    }
                }
            }
        }
    }
    // Debian's rustc-web with rust-web-src.
    let rustc = PathBuf::from("/usr/bin/rustc");
    let cargo = PathBuf::from("/usr/bin/cargo");
    if rustc.exists() && cargo.exists() {
        if let Some(sysroot) = sysroot_of(&rustc, None) {
            if has_rust_src(&sysroot) {
                return Some(Toolchain {
                    description: format!("Debian {} (RUSTC_BOOTSTRAP=1)", version_of(&rustc, None)),
                    cargo,
                    plus: None,
                    rustc,
                });
            }
        }
    }
    None
}

/// Something the build or the tests need.
struct Need {
    what: &'static str,
    check: fn() -> Option<String>,
    packages: &'static [&'static str],
    backports: bool,
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn qemu_version() -> Option<String> {
    let out = Command::new("qemu-system-aarch64")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .to_string();
    let ver = text
        .split("version ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()?
        .to_string();
    let major: u32 = ver.split('.').next()?.parse().ok()?;
    (major >= 10).then_some(text)
}

pub const UBOOT_QEMU_ARM64: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

const NEEDS: &[Need] = &[
    Need {
        what: "Rust compiler with std sources",
        check: || find_toolchain().map(|t| t.description),
        packages: &["rustc-web", "cargo-web", "rust-web-src"],
        backports: false,
    },
    Need {
        what: "linker ld.lld",
        check: || which("ld.lld").map(|p| p.display().to_string()),
        packages: &["lld"],
        backports: false,
    },
    Need {
        what: "QEMU >= 10 (qemu-system-aarch64)",
        check: qemu_version,
        packages: &["qemu-system-arm"],
        backports: true,
    },
    Need {
        what: "U-Boot for QEMU arm64",
        check: || {
            Path::new(UBOOT_QEMU_ARM64)
                .exists()
                .then(|| UBOOT_QEMU_ARM64.to_string())
        },
        packages: &["u-boot-qemu"],
        backports: false,
    },
    Need {
        what: "dtc (device-tree compiler)",
        check: || which("dtc").map(|p| p.display().to_string()),
        packages: &["device-tree-compiler"],
        backports: false,
    },
    Need {
        what: "tmux (menuconfig test)",
        check: || which("tmux").map(|p| p.display().to_string()),
        packages: &["tmux"],
        backports: false,
    },
    Need {
        what: "Python 3 with venv",
        check: || {
            let ok = Command::new("python3")
                .args(["-c", "import venv, ensurepip"])
                .output()
                .ok()?
                .status
                .success();
            ok.then(|| "python3".to_string())
        },
        packages: &["python3", "python3-venv"],
        backports: false,
    },
];

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn debian_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|s| s.trim_matches('"').to_string())
}

const BACKPORTS_SOURCE: &str = "/etc/apt/sources.list.d/tessera-bookworm-backports.sources";

fn backports_configured() -> bool {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(rd.flatten().map(|e| e.path()));
    }
    files
        .iter()
        .any(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains("bookworm-backports")))
}

fn install_command(pkgs: &[&str], backports: bool) -> String {
    let t = if backports {
        "-t bookworm-backports "
    } else {
        ""
    };
    format!("apt-get install -y {t}{}", pkgs.join(" "))
}

/// Installs what is missing when we can (root on Debian bookworm); else
/// says exactly what to run and fails.
pub fn ensure_all() -> Result<()> {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.get().is_some() {
        return Ok(());
    }
    let missing: Vec<&Need> = NEEDS.iter().filter(|n| (n.check)().is_none()).collect();
    if missing.is_empty() {
        let _ = DONE.set(());
        return Ok(());
    }
    let can_install =
        is_root() && debian_codename().as_deref() == Some("bookworm") && which("apt-get").is_some();
    if !can_install {
        let mut msg = String::from("missing tools:\n");
        for n in &missing {
            msg += &format!(
                "  {}: {}\n",
                n.what,
                install_command(n.packages, n.backports)
            );
        }
        if missing.iter().any(|n| n.backports) {
            msg += "  (bookworm-backports must be in the apt sources for QEMU 10)\n";
        }
        bail!("{msg}run the commands above as root, then try again");
    }
    if missing.iter().any(|n| n.backports) && !backports_configured() {
        eprintln!("xtask: adding bookworm-backports to apt sources ({BACKPORTS_SOURCE})");
        std::fs::write(
            BACKPORTS_SOURCE,
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\n\
             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        )
        .context("writing the backports source")?;
    }
    eprintln!("xtask: apt-get update");
    util::run(Command::new("apt-get").args(["update", "-qq"]))?;
    for n in &missing {
        eprintln!(
            "xtask: installing {} ({})",
            n.what,
            install_command(n.packages, n.backports)
        );
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq"]);
        if n.backports {
            c.args(["-t", "bookworm-backports"]);
        }
        c.args(n.packages);
        util::run(&mut c)?;
        if (n.check)().is_none() {
            bail!("{} still missing after installing {:?}", n.what, n.packages);
        }
    }
    let _ = DONE.set(());
    Ok(())
}

/// The bare-metal toolchain, installed if needed.
pub fn toolchain() -> Result<Toolchain> {
    ensure_all()?;
    find_toolchain().context("no Rust toolchain with std sources")
}

pub fn cmd_doctor() -> Result<()> {
    let mut all = true;
    for n in NEEDS {
        match (n.check)() {
            Some(found) => println!("ok       {:<36} {found}", n.what),
            None => {
                all = false;
                println!(
                    "MISSING  {:<36} {}",
                    n.what,
                    install_command(n.packages, n.backports)
                );
            }
        }
    }
    println!(
        "root: {}; Debian: {}",
        is_root(),
        debian_codename().unwrap_or_else(|| "no".into())
    );
    if all {
        println!("everything needed is here");
    } else {
        println!("`cargo xtask build` or `test` installs what is missing when run as root on Debian bookworm");
    }
    Ok(())
}
