//! Command-line dispatcher: `menuconfig`, `defconfig [FILE]`,
//! `savedefconfig [--out FILE]`, `olddefconfig`, `allyesconfig`,
//! `allnoconfig`, `randconfig [--seed N]`, `listnewconfig`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

use crate::Kconfig;

const USAGE: &str =
    "usage: <menuconfig | defconfig [FILE] | savedefconfig [--out FILE] | olddefconfig | \
allyesconfig | allnoconfig | randconfig [--seed N] | listnewconfig> [--config PATH] [--arch ARCH]";

/// Parsed common options.
#[derive(Debug, Clone)]
struct Opts {
    cmd: String,
    config: PathBuf,
    arch: String,
    positional: Vec<String>,
    out: Option<PathBuf>,
    seed: Option<u64>,
}

fn parse_args(args: &[String]) -> anyhow::Result<Opts> {
    let mut cmd = None;
    let mut config = None;
    let mut arch = None;
    let mut positional = Vec::new();
    let mut out = None;
    let mut seed = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<String> {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("{} needs a value\n{}", name, USAGE))
        };
        match a.as_str() {
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--arch" => arch = Some(value("--arch")?),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--seed" => {
                let v = value("--seed")?;
                seed = Some(parse_seed(&v).ok_or_else(|| anyhow!("bad --seed value '{}'", v))?);
            }
            "-h" | "--help" => bail!("{}", USAGE),
            s if s.starts_with("--") => bail!("unknown option '{}'\n{}", s, USAGE),
            s => {
                if cmd.is_none() {
                    cmd = Some(s.to_string());
                } else {
                    positional.push(s.to_string());
                }
            }
        }
    }
    let cmd = cmd.ok_or_else(|| anyhow!("missing subcommand\n{}", USAGE))?;
    let config = config
        .or_else(|| std::env::var_os("KCONFIG_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".config"));
    Ok(Opts {
        cmd,
        config,
        arch: arch.unwrap_or_else(|| "aarch64".to_string()),
        positional,
        out,
        seed,
    })
}

fn parse_seed(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn print_warnings(kc: &Kconfig) {
    for w in kc.take_warnings() {
        eprintln!("{}", w);
    }
}

/// Loads the Kconfig tree at `kconfig_root` (directory containing
/// `Kconfig`, or the top-level file) with `SRCARCH=arch`.
pub fn load_tree(kconfig_root: &Path, arch: &str) -> crate::Result<Kconfig> {
    Kconfig::load_with_arch(kconfig_root, arch)
}

/// Loads the tree and the given .config (if it exists), i.e. the resolved
/// configuration `olddefconfig` would write. Warnings stay collected in the
/// returned object ([`Kconfig::take_warnings`]).
pub fn load_resolved(kconfig_root: &Path, arch: &str, config: &Path) -> crate::Result<Kconfig> {
    let mut kc = load_tree(kconfig_root, arch)?;
    if config.exists() {
        kc.load_config(config, true)?;
    }
    Ok(kc)
}

/// CLI entry point. `args` are the arguments after the program name,
/// starting with the subcommand, e.g. `["savedefconfig", "--out", "x"]`.
/// `kconfig_root` is the directory holding the top-level `Kconfig` (or the
/// file itself). Warnings go to stderr, status messages to stdout.
pub fn run(args: &[String], kconfig_root: &Path) -> anyhow::Result<()> {
    let o = parse_args(args)?;
    let mut kc = load_tree(kconfig_root, &o.arch)
        .map_err(|e| anyhow!("{}", e))
        .with_context(|| format!("loading Kconfig tree at {}", kconfig_root.display()))?;
    print_warnings(&kc);
    let header = kc.default_header();
    let load_existing = |kc: &mut Kconfig| -> anyhow::Result<()> {
        if o.config.exists() {
            kc.load_config(&o.config, true)
                .map_err(|e| anyhow!("{}", e))?;
            println!("Loaded configuration '{}'", o.config.display());
        } else {
            println!("Using default symbol values (no '{}')", o.config.display());
        }
        print_warnings(kc);
        Ok(())
    };
    let write = |kc: &Kconfig| -> anyhow::Result<()> {
        let msg = kc
            .write_config(&o.config, &header)
            .map_err(|e| anyhow!("{}", e))?;
        print_warnings(kc);
        println!("{}", msg);
        Ok(())
    };
    let no_positional = || -> anyhow::Result<()> {
        if let Some(p) = o.positional.first() {
            bail!("unexpected argument '{}' for {}\n{}", p, o.cmd, USAGE);
        }
        Ok(())
    };
    match o.cmd.as_str() {
        "olddefconfig" => {
            no_positional()?;
            load_existing(&mut kc)?;
            write(&kc)
        }
        "defconfig" => {
            if o.positional.len() > 1 {
                bail!("defconfig takes at most one FILE\n{}", USAGE);
            }
            let file = match o.positional.first() {
                Some(f) => PathBuf::from(f),
                None => default_defconfig(&kc.srctree, &o.arch)?,
            };
            kc.load_config(&file, true).map_err(|e| anyhow!("{}", e))?;
            println!("Loaded configuration '{}'", file.display());
            print_warnings(&kc);
            write(&kc)
        }
        "savedefconfig" => {
            no_positional()?;
            load_existing(&mut kc)?;
            let out = o.out.clone().unwrap_or_else(|| PathBuf::from("defconfig"));
            let msg = kc
                .write_min_config(&out, "")
                .map_err(|e| anyhow!("{}", e))?;
            print_warnings(&kc);
            println!("{}", msg);
            Ok(())
        }
        "allyesconfig" => {
            no_positional()?;
            kc.allyesconfig();
            write(&kc)
        }
        "allnoconfig" => {
            no_positional()?;
            kc.allnoconfig();
            write(&kc)
        }
        "randconfig" => {
            no_positional()?;
            let seed = o.seed.unwrap_or_else(|| {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                t ^ (std::process::id() as u64) << 32
            });
            println!("KCONFIG_SEED=0x{:X}", seed);
            kc.randconfig(seed);
            write(&kc)
        }
        "listnewconfig" => {
            no_positional()?;
            if o.config.exists() {
                kc.load_config(&o.config, true)
                    .map_err(|e| anyhow!("{}", e))?;
            }
            print_warnings(&kc);
            for l in kc.list_new_config() {
                println!("{}", l);
            }
            Ok(())
        }
        "menuconfig" => {
            no_positional()?;
            load_existing(&mut kc)?;
            crate::menuconfig::run_tui(kc, &o.config, &header)
        }
        other => bail!("unknown subcommand '{}'\n{}", other, USAGE),
    }
}

fn default_defconfig(srctree: &Path, arch: &str) -> anyhow::Result<PathBuf> {
    let candidates = [
        srctree.join("configs").join(format!("{}_defconfig", arch)),
        srctree
            .join("arch")
            .join(arch)
            .join("configs")
            .join("defconfig"),
        srctree.join("configs").join("defconfig"),
    ];
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
    }
    bail!(
        "defconfig: no FILE given and none of {} exists",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        let a: Vec<String> = [
            "randconfig",
            "--seed",
            "0x10",
            "--arch",
            "x86",
            "--config",
            "c",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = parse_args(&a).unwrap();
        assert_eq!(o.cmd, "randconfig");
        assert_eq!(o.seed, Some(16));
        assert_eq!(o.arch, "x86");
        assert_eq!(o.config, PathBuf::from("c"));
        assert!(parse_args(&["--bogus".to_string()]).is_err());
        assert!(parse_args(&[]).is_err());
    }
}
