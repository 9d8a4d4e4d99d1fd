//! Configuration: resolving a defconfig (plus fragments) into a full
//! `.config`, the image's cargo features (one per plugin, by the naming
//! rule) and the typed constants of the `tessera-config` crate.
//!
//! Resolution is Tessera's own Kconfig engine (`tessera-kconfig`), checked
//! against Python's kconfiglib by its conformance tests.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::util;

struct Resolved {
    symbols: Vec<Symbol>,
}

pub const DEFAULT_CONFIG: &str = "configs/qemu-arm64_defconfig";

/// A resolved symbol.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    pub ty: String,
    pub value: String,
}

/// A resolved configuration, written under target/tessera/<name>/.
pub struct Config {
    pub name: String,
    pub dir: PathBuf,
    pub dot_config: PathBuf,
    pub config_rs: PathBuf,
    pub features: Vec<String>,
    pub symbols: Vec<Symbol>,
}

/// A plugin crate and its Kconfig symbol.
#[derive(Debug, Clone)]
pub struct PluginCrate {
    pub dir: PathBuf,
    pub symbol: String,
    pub feature: String,
}

/// Every plugin crate: plugins/<group>/<name>/ with a Kconfig file.
pub fn plugin_crates() -> Result<Vec<PluginCrate>> {
    let root = util::root().join("plugins");
    let mut out = vec![];
    for group in std::fs::read_dir(&root)?
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        for plugin in std::fs::read_dir(group.path())?
            .flatten()
            .filter(|e| e.path().is_dir())
        {
            let kconfig = plugin.path().join("Kconfig");
            let text = std::fs::read_to_string(&kconfig)
                .with_context(|| format!("plugin {} has no Kconfig", plugin.path().display()))?;
            let symbols: Vec<&str> = text
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("config ")
                        .or_else(|| l.trim().strip_prefix("menuconfig "))
                })
                .map(str::trim)
                .collect();
            let [symbol] = symbols[..] else {
                bail!(
                    "{}: a plugin's Kconfig defines exactly one symbol, found {:?}",
                    kconfig.display(),
                    symbols
                );
            };
            out.push(PluginCrate {
                dir: plugin.path(),
                symbol: symbol.to_string(),
                feature: symbol.to_lowercase().replace('_', "-"),
            });
        }
    }
    out.sort_by(|a, b| a.feature.cmp(&b.feature));
    Ok(out)
}

/// A platform crate and its Kconfig choice symbol.
#[derive(Debug, Clone)]
pub struct PlatformCrate {
    pub symbol: String,
    pub feature: String,
}

/// Every platform crate: platforms/<name>/ with a Cargo.toml. The naming
/// rule mirrors the plugins': Kconfig `PLATFORM_ZYNQMP` = feature
/// `platform-zynqmp` = crate `tessera-platform-zynqmp` in
/// platforms/zynqmp/; the choice in platforms/Kconfig links exactly one.
pub fn platform_crates() -> Result<Vec<PlatformCrate>> {
    let root = util::root().join("platforms");
    let mut out = vec![];
    for dir in std::fs::read_dir(&root)?
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
    {
        let name = dir.file_name().to_string_lossy().into_owned();
        out.push(PlatformCrate {
            symbol: format!("PLATFORM_{}", name.to_uppercase().replace('-', "_")),
            feature: format!("platform-{name}"),
        });
    }
    out.sort_by(|a, b| a.feature.cmp(&b.feature));
    Ok(out)
}

/// Name of a configuration from its file: configs/qemu-arm64_defconfig -> qemu-arm64.
pub fn config_name(path: &Path) -> String {
    let stem = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("config");
    stem.strip_suffix("_defconfig").unwrap_or(stem).to_string()
}

/// Resolves `base` plus `fragments` (lines such as `CONFIG_DEBUG=y`).
pub fn resolve(base: &Path, fragments: &[String], variant: &str) -> Result<Config> {
    let root = util::root();
    let base = if base.is_absolute() {
        base.to_path_buf()
    } else {
        std::env::current_dir()?.join(base)
    };
    if !base.exists() {
        bail!("configuration {} does not exist", base.display());
    }
    let mut name = config_name(&base);
    if !variant.is_empty() {
        name = format!("{name}+{variant}");
    }
    let dir = root.join("target/tessera").join(&name);
    std::fs::create_dir_all(&dir)?;
    let mut frag_files = vec![];
    if !fragments.is_empty() {
        let f = dir.join("fragment.config");
        std::fs::write(&f, fragments.join("\n") + "\n")?;
        frag_files.push(f);
    }
    let dot_config = dir.join(".config");
    let mut kconf = tessera_kconfig::Kconfig::load_with_arch(&root, "aarch64")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    kconf
        .load_config(&base, true)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for f in &frag_files {
        kconf
            .load_config(f, false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    kconf
        .write_config(
            &dot_config,
            "# Generated by cargo xtask: the resolved configuration\n",
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in kconf.take_warnings() {
        eprintln!("xtask: {w}");
    }
    let symbols: Vec<Symbol> = kconf
        .symbols()
        .map(|s| Symbol {
            name: s.name,
            ty: format!("{:?}", s.ty).to_lowercase(),
            value: s.value,
        })
        .collect();
    let r = Resolved { symbols };
    let plugins = plugin_crates()?;
    let set = |symbol: &str| r.symbols.iter().any(|s| s.name == symbol && s.value == "y");
    let mut features: Vec<String> = plugins
        .iter()
        .filter(|p| set(&p.symbol))
        .map(|p| p.feature.clone())
        .chain(
            platform_crates()?
                .into_iter()
                .filter(|p| set(&p.symbol))
                .map(|p| p.feature),
        )
        .collect();
    features.sort();
    let text = std::fs::read_to_string(&dot_config)?;
    let config_rs = dir.join("config.rs");
    let generated = generate_rust(&name, &text, &r.symbols)?;
    // Only rewrite when changed, so cargo sees no change otherwise.
    if std::fs::read_to_string(&config_rs).ok().as_deref() != Some(generated.as_str()) {
        std::fs::write(&config_rs, generated)?;
    }
    Ok(Config {
        name,
        dir,
        dot_config,
        config_rs,
        features,
        symbols: r.symbols,
    })
}

/// The typed constants of `tessera-config`.
pub fn generate_rust(name: &str, dot_config: &str, symbols: &[Symbol]) -> Result<String> {
    let mut s = format!("// Generated by cargo xtask from configuration {name}: do not edit.\n");
    for sym in symbols {
        let line = match sym.ty.as_str() {
            "bool" | "tristate" => format!(
                "pub const {}: bool = {};\n",
                sym.name,
                sym.value == "y" || sym.value == "m"
            ),
            "int" => {
                let v: i64 = if sym.value.is_empty() {
                    0
                } else {
                    sym.value
                        .parse()
                        .with_context(|| format!("{} = {}", sym.name, sym.value))?
                };
                format!("pub const {}: i64 = {v};\n", sym.name)
            }
            "hex" => {
                let digits = sym.value.trim_start_matches("0x").trim_start_matches("0X");
                let v = if digits.is_empty() {
                    0
                } else {
                    u64::from_str_radix(digits, 16)
                        .with_context(|| format!("{} = {}", sym.name, sym.value))?
                };
                format!("pub const {}: u64 = {v:#x};\n", sym.name)
            }
            "string" => format!("pub const {}: &str = {:?};\n", sym.name, sym.value),
            _ => continue,
        };
        s += &line;
    }
    s += &format!("pub const DOT_CONFIG: &str = {dot_config:?};\n");
    s += &format!(
        "pub const CONFIG_HASH: &str = \"{:012x}\";\n",
        util::fnv64(dot_config.as_bytes()) & 0xffff_ffff_ffff
    );
    s += &format!("pub const CONFIG_NAME: &str = {name:?};\n");
    Ok(s)
}

/// Writes a random configuration for `seed` (Tessera's engine) and returns
/// its path: target/tessera/randconfig-<seed>.config.
pub fn randconfig(seed: u64) -> Result<PathBuf> {
    let root = util::root();
    let mut kconf = tessera_kconfig::Kconfig::load_with_arch(&root, "aarch64")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    kconf.randconfig(seed);
    let dir = root.join("target/tessera");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("randconfig-{seed}_defconfig"));
    kconf
        .write_config(&path, &format!("# randconfig, seed {seed}\n"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(path)
}

/// Builds random configurations for seeds `seeds`; returns the failures.
pub fn randconfig_builds(seeds: impl IntoIterator<Item = u64>) -> Result<Vec<(u64, String)>> {
    let mut failed = vec![];
    for seed in seeds {
        let path = randconfig(seed)?;
        match crate::image::build(&path, &[], "") {
            Ok(img) => println!(
                "randconfig seed {seed}: ok ({} bytes; features: {})",
                std::fs::metadata(&img.path)?.len(),
                if img.config.features.is_empty() {
                    "none".into()
                } else {
                    img.config.features.join(",")
                }
            ),
            Err(e) => {
                println!(
                    "randconfig seed {seed}: FAILED: {e:#} (configuration {})",
                    path.display()
                );
                failed.push((seed, format!("{e:#}")));
            }
        }
    }
    Ok(failed)
}

/// The Kconfig commands, by Tessera's engine.
pub fn cmd_kconfig(cmd: &str, args: &[String]) -> Result<()> {
    if cmd == "randconfig"
        && args
            .iter()
            .any(|a| a == "--sweep" || a.starts_with("--sweep="))
    {
        let o = util::Opts::parse(args, &["sweep", "seed"], &[])?;
        let n: u64 = o
            .value("sweep")
            .unwrap_or("10")
            .parse()
            .context("--sweep N")?;
        let first: u64 = o.value("seed").unwrap_or("1").parse().context("--seed N")?;
        let failed = randconfig_builds(first..first + n)?;
        println!(
            "{} passed, {} failed",
            n as usize - failed.len(),
            failed.len()
        );
        if !failed.is_empty() {
            bail!(
                "randconfig builds failed for seeds {:?}",
                failed.iter().map(|f| f.0).collect::<Vec<_>>()
            );
        }
        return Ok(());
    }
    let mut full = vec![cmd.to_string()];
    full.extend(args.iter().cloned());
    // Our default defconfig is the QEMU one, not <arch>_defconfig.
    let mut has_file = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if matches!(a.as_str(), "--config" | "--arch" | "--out" | "--seed") {
            it.next();
        } else if !a.starts_with("--") {
            has_file = true;
        }
    }
    if cmd == "defconfig" && !has_file {
        full.push(DEFAULT_CONFIG.to_string());
    }
    tessera_kconfig::run(&full, &util::root())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, ty: &str, value: &str) -> Symbol {
        Symbol {
            name: name.into(),
            ty: ty.into(),
            value: value.into(),
        }
    }

    #[test]
    fn constants_are_typed_and_escaped() {
        let rs = generate_rust(
            "x",
            "CONFIG_A=y\n",
            &[
                sym("A", "bool", "y"),
                sym("B", "bool", "n"),
                sym("N", "int", "-4"),
                sym("H", "hex", "0x9000000"),
                sym("E", "hex", ""),
                sym("S", "string", "a\"b"),
            ],
        )
        .unwrap();
        assert!(rs.contains("pub const A: bool = true;"));
        assert!(rs.contains("pub const B: bool = false;"));
        assert!(rs.contains("pub const N: i64 = -4;"));
        assert!(rs.contains("pub const H: u64 = 0x9000000;"));
        assert!(rs.contains("pub const E: u64 = 0x0;"));
        assert!(rs.contains(r#"pub const S: &str = "a\"b";"#));
        assert!(rs.contains(r#"pub const DOT_CONFIG: &str = "CONFIG_A=y\n";"#));
        assert!(generate_rust("x", "", &[sym("N", "int", "zz")]).is_err());
    }

    #[test]
    fn plugin_crates_follow_the_naming_rule() {
        let plugins = plugin_crates().unwrap();
        assert!(!plugins.is_empty());
        for p in plugins {
            let group = p
                .dir
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            let name = p.dir.file_name().unwrap().to_str().unwrap();
            assert_eq!(p.feature, format!("{group}-{name}"), "{}", p.dir.display());
            let manifest = std::fs::read_to_string(p.dir.join("Cargo.toml")).unwrap();
            assert!(
                manifest.contains(&format!("name = \"tessera-{}\"", p.feature)),
                "{}",
                p.dir.display()
            );
        }
    }

    #[test]
    fn platform_crates_follow_the_naming_rule_and_the_kconfig_choice() {
        let platforms = platform_crates().unwrap();
        assert!(platforms.len() >= 2);
        let kconfig = std::fs::read_to_string(util::root().join("platforms/Kconfig")).unwrap();
        let manifest = std::fs::read_to_string(util::root().join("Cargo.toml")).unwrap();
        for p in platforms {
            let name = p.feature.strip_prefix("platform-").unwrap();
            let dir = util::root().join("platforms").join(name);
            let crate_toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(
                crate_toml.contains(&format!("name = \"tessera-{}\"", p.feature)),
                "{}",
                dir.display()
            );
            assert!(
                kconfig.contains(&format!("config {}\n", p.symbol)),
                "{}",
                p.symbol
            );
            assert!(
                manifest.contains(&format!("{} = [\"dep:tessera-{}\"]", p.feature, p.feature)),
                "Cargo.toml has no feature {}",
                p.feature
            );
        }
    }

    #[test]
    fn zcu102_defconfig_links_its_platform_and_the_cadence_console() {
        let c = resolve(
            Path::new(&util::root().join("configs/zcu102_defconfig")),
            &[],
            "xtask-unit",
        )
        .unwrap();
        assert_eq!(
            c.features,
            [
                "platform-zynqmp",
                "sched-null",
                "uart-cadence",
                "vuart-vpl011"
            ]
        );
        let v = |n: &str| {
            c.symbols
                .iter()
                .find(|s| s.name == n)
                .map(|s| s.value.clone())
        };
        assert_eq!(v("EARLY_UART_DRIVER").as_deref(), Some("cadence"));
        assert_eq!(v("EARLY_UART_BASE_ADDRESS").as_deref(), Some("0xff000000"));
        assert_eq!(v("NR_CPUS").as_deref(), Some("4"));
        assert_eq!(v("PLATFORM_QEMU_VIRT").as_deref(), Some("n"));
    }

    #[test]
    fn default_config_resolves_with_its_plugins() {
        let c = resolve(
            Path::new(&util::root().join(DEFAULT_CONFIG)),
            &["CONFIG_NR_CPUS=2".into()],
            "xtask-unit",
        )
        .unwrap();
        assert_eq!(
            c.features,
            [
                "platform-qemu-virt",
                "sched-null",
                "uart-pl011",
                "vuart-vpl011"
            ]
        );
        let v = |n: &str| {
            c.symbols
                .iter()
                .find(|s| s.name == n)
                .map(|s| s.value.clone())
        };
        assert_eq!(v("NR_CPUS").as_deref(), Some("2"));
        assert_eq!(v("EARLY_UART_DRIVER").as_deref(), Some("pl011"));
        let rs = std::fs::read_to_string(&c.config_rs).unwrap();
        assert!(rs.contains("pub const NR_CPUS: i64 = 2;"));
    }

    /// Every UART plugin can be the Kconfig early UART: the choice pulls
    /// nothing else in, and names the driver whose polled output core's
    /// early console looks up in the registry (the plugins' host tests
    /// drive that lookup and output against their register models).
    #[test]
    fn every_uart_driver_can_be_the_early_uart() {
        let cases: [(&str, &[&str], &str, &str); 9] = [
            (
                "pl011",
                &["CONFIG_EARLY_UART_CHOICE_PL011=y"],
                "pl011",
                "uart-pl011",
            ),
            (
                "8250",
                &[
                    "CONFIG_UART_NS16550=y",
                    "CONFIG_EARLY_UART_CHOICE_NS16550=y",
                ],
                "ns16550",
                "uart-ns16550",
            ),
            (
                "8250w",
                &[
                    "CONFIG_UART_NS16550=y",
                    "CONFIG_EARLY_UART_CHOICE_NS16550=y",
                    "CONFIG_EARLY_UART_NS16550_WORD=y",
                ],
                "ns16550-word",
                "uart-ns16550",
            ),
            (
                "cdns",
                &[
                    "CONFIG_UART_CADENCE=y",
                    "CONFIG_EARLY_UART_CHOICE_CADENCE=y",
                ],
                "cadence",
                "uart-cadence",
            ),
            (
                "exy",
                &[
                    "CONFIG_UART_EXYNOS4210=y",
                    "CONFIG_EARLY_UART_CHOICE_EXYNOS4210=y",
                ],
                "exynos4210",
                "uart-exynos4210",
            ),
            (
                "omap",
                &["CONFIG_UART_OMAP=y", "CONFIG_EARLY_UART_CHOICE_OMAP=y"],
                "omap",
                "uart-omap",
            ),
            (
                "scif",
                &["CONFIG_UART_SCIF=y", "CONFIG_EARLY_UART_CHOICE_SCIF=y"],
                "scif",
                "uart-scif",
            ),
            (
                "scifa",
                &[
                    "CONFIG_UART_SCIF=y",
                    "CONFIG_EARLY_UART_CHOICE_SCIF=y",
                    "CONFIG_EARLY_UART_SCIF_SCIFA=y",
                ],
                "scifa",
                "uart-scif",
            ),
            (
                "hscif",
                &[
                    "CONFIG_UART_SCIF=y",
                    "CONFIG_EARLY_UART_CHOICE_SCIF=y",
                    "CONFIG_EARLY_UART_SCIF_HSCIF=y",
                ],
                "hscif",
                "uart-scif",
            ),
        ];
        for (tag, lines, driver, feature) in cases {
            let mut frag: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            frag.push("CONFIG_EARLY_UART_BASE_ADDRESS=0x1c090000".into());
            let c = resolve(
                Path::new(&util::root().join(DEFAULT_CONFIG)),
                &frag,
                &format!("xtask-early-{tag}"),
            )
            .unwrap();
            let v = |n: &str| {
                c.symbols
                    .iter()
                    .find(|s| s.name == n)
                    .map(|s| s.value.clone())
            };
            assert_eq!(v("EARLY_UART_DRIVER").as_deref(), Some(driver), "{tag}");
            assert_eq!(
                v("EARLY_UART_BASE_ADDRESS").as_deref(),
                Some("0x1c090000"),
                "{tag}"
            );
            assert!(
                c.features.iter().any(|f| f == feature),
                "{tag}: {:?}",
                c.features
            );
            let rs = std::fs::read_to_string(&c.config_rs).unwrap();
            assert!(
                rs.contains(&format!(
                    "pub const EARLY_UART_DRIVER: &str = \"{driver}\";"
                )),
                "{tag}"
            );
        }
        // Without its driver a choice is not offered: the early UART stays
        // off rather than naming a driver the image lacks.
        let c = resolve(
            Path::new(&util::root().join(DEFAULT_CONFIG)),
            &["CONFIG_EARLY_UART_CHOICE_CADENCE=y".into()],
            "xtask-early-nodriver",
        )
        .unwrap();
        let drv = c.symbols.iter().find(|s| s.name == "EARLY_UART_DRIVER");
        assert_ne!(drv.map(|s| s.value.as_str()), Some("cadence"));
    }
}

#[cfg(test)]
mod conformance {
    /// Tessera's own Kconfig tree gives the same olddefconfig and
    /// savedefconfig results as kconfiglib for 200 random raw configs.
    #[test]
    fn tessera_tree_matches_kconfiglib() {
        let report = tessera_kconfig::conformance::check_tree(
            &crate::util::root(),
            "aarch64",
            200,
            0x7e55_e7a2,
        )
        .expect("conformance harness failed");
        println!("{}", report.summary());
        assert!(report.ok(), "{}", report.summary());
        assert_eq!(report.configs, 200);
    }
}
