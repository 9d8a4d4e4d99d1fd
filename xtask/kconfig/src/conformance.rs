//! Conformance harness against Python's kconfiglib 14.1.0.
//!
//! [`check_tree`] generates random raw `.config` files for a Kconfig tree
//! (random subsets of symbols with random and sometimes invalid values,
//! unknown symbols, malformed lines, duplicates), runs our olddefconfig and
//! savedefconfig on each and compares the outputs byte for byte with
//! kconfiglib's `write_config`/`write_min_config` (both with an empty
//! header). Warnings are compared as sets. allnoconfig and allyesconfig are
//! compared too.
//!
//! kconfiglib is installed on demand into a virtualenv (see
//! [`ensure_kconfiglib`]); failure to install is an error, never a skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::ops::Rng;
use crate::{Kconfig, SymType};

/// The Python driver, embedded so the harness works from any crate.
pub const DRIVER_PY: &str = include_str!("../scripts/kconfiglib_driver.py");

/// The pinned reference version.
pub const KCONFIGLIB_VERSION: &str = "14.1.0";

/// One difference between our output and kconfiglib's.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// Which output ("3.config", "3.min", "3.warn", "allno.config", ...).
    pub what: String,
    /// The input .config (empty for allno/allyes).
    pub input: String,
    pub ours: String,
    pub theirs: String,
}

/// Result of a conformance run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub configs: usize,
    pub config_mismatches: Vec<Mismatch>,
    pub min_mismatches: Vec<Mismatch>,
    pub warning_mismatches: Vec<Mismatch>,
    pub all_mismatches: Vec<Mismatch>,
    pub listnew_mismatches: Vec<Mismatch>,
    /// Our randconfig outputs that kconfiglib does not reproduce when it
    /// loads them (they must be fixed points).
    pub randconfig_mismatches: Vec<Mismatch>,
    /// Number of randconfig seeds checked.
    pub randconfigs: usize,
    /// Number of distinct resolved .config files among the random inputs
    /// (shows the inputs are not degenerate).
    pub distinct_configs: usize,
    /// Number of warnings compared (ours, across all configs).
    pub warnings_compared: usize,
    pub elapsed: Duration,
}

impl Report {
    /// True if every output matched.
    pub fn ok(&self) -> bool {
        self.config_mismatches.is_empty()
            && self.min_mismatches.is_empty()
            && self.warning_mismatches.is_empty()
            && self.all_mismatches.is_empty()
            && self.listnew_mismatches.is_empty()
            && self.randconfig_mismatches.is_empty()
    }

    /// Human-readable summary with the first few diffs.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} configs ({} distinct results): {} .config mismatches, {} defconfig mismatches, \
             {} warning-set mismatches ({} warnings compared), {} listnewconfig mismatches, \
             {} allno/allyes mismatches, {}/{} randconfig results not reproduced, {:.1?}",
            self.configs,
            self.distinct_configs,
            self.config_mismatches.len(),
            self.min_mismatches.len(),
            self.warning_mismatches.len(),
            self.warnings_compared,
            self.listnew_mismatches.len(),
            self.all_mismatches.len(),
            self.randconfig_mismatches.len(),
            self.randconfigs,
            self.elapsed
        );
        let all = self
            .config_mismatches
            .iter()
            .chain(&self.min_mismatches)
            .chain(&self.warning_mismatches)
            .chain(&self.listnew_mismatches)
            .chain(&self.all_mismatches)
            .chain(&self.randconfig_mismatches);
        for m in all.take(3) {
            s.push_str(&format!(
                "\n--- {} ---\ninput:\n{}\n{}",
                m.what,
                m.input,
                line_diff(&m.theirs, &m.ours)
            ));
        }
        s
    }
}

/// A minimal line diff ("-" kconfiglib only, "+" ours only).
fn line_diff(theirs: &str, ours: &str) -> String {
    let t: Vec<&str> = theirs.lines().collect();
    let o: Vec<&str> = ours.lines().collect();
    let ts: BTreeSet<&str> = t.iter().copied().collect();
    let os: BTreeSet<&str> = o.iter().copied().collect();
    let mut out = String::new();
    for l in &t {
        if !os.contains(l) {
            out.push_str(&format!("- {}\n", l));
        }
    }
    for l in &o {
        if !ts.contains(l) {
            out.push_str(&format!("+ {}\n", l));
        }
    }
    if out.is_empty() {
        out.push_str("(same lines, different order or blank lines)\n");
    }
    out
}

/// Where the kconfiglib virtualenv lives: `$KCONFIGLIB_VENV`, else
/// `<target>/kconfiglib-venv` where `<target>` is the workspace target
/// directory (the parent of `$CARGO_TARGET_DIR` when that is a
/// subdirectory of a `target` directory, e.g. target/kconfig-helper).
pub fn venv_dir() -> PathBuf {
    if let Some(v) = std::env::var_os("KCONFIGLIB_VENV") {
        return PathBuf::from(v);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .find(|a| {
                    matches!(
                        a.file_name().and_then(|f| f.to_str()),
                        Some("debug") | Some("release")
                    )
                })
                .and_then(|p| p.parent())
                .map(|p| p.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let target = std::path::absolute(&target).unwrap_or(target);
    let base = match target.parent() {
        Some(p) if p.file_name().and_then(|f| f.to_str()) == Some("target") => p.to_path_buf(),
        _ => target,
    };
    base.join("kconfiglib-venv")
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn has_kconfiglib(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            &format!(
                "import kconfiglib, sys; sys.exit(0 if kconfiglib.VERSION == tuple(int(x) for x in '{}'.split('.')) else 1)",
                KCONFIGLIB_VERSION
            ),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Makes sure a virtualenv with kconfiglib 14.1.0 exists (creating it with
/// `python3 -m venv` and `pip install kconfiglib==14.1.0` if needed) and
/// returns its Python interpreter. Concurrent callers are serialized with a
/// lock directory next to the venv.
pub fn ensure_kconfiglib() -> anyhow::Result<PathBuf> {
    let venv = venv_dir();
    let python = venv_python(&venv);
    if has_kconfiglib(&python) {
        return Ok(python);
    }
    let parent = venv
        .parent()
        .ok_or_else(|| anyhow!("bad venv path {}", venv.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock = venv.with_extension("lock");
    let start = Instant::now();
    loop {
        match std::fs::create_dir(&lock) {
            Ok(()) => break,
            Err(_) if start.elapsed() < Duration::from_secs(300) => {
                // Stale lock (older than 10 minutes)?
                if let Ok(md) = std::fs::metadata(&lock) {
                    if md
                        .modified()
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .unwrap_or_default()
                        > Duration::from_secs(600)
                    {
                        let _ = std::fs::remove_dir(&lock);
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
                if has_kconfiglib(&python) {
                    return Ok(python);
                }
            }
            Err(e) => bail!("timed out waiting for lock {}: {}", lock.display(), e),
        }
    }
    let result = (|| -> anyhow::Result<()> {
        if has_kconfiglib(&python) {
            return Ok(());
        }
        if !python.exists() {
            let out = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .output()
                .context("running `python3 -m venv` (is python3 installed?)")?;
            if !out.status.success() {
                bail!(
                    "`python3 -m venv {}` failed:\n{}",
                    venv.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(format!("kconfiglib=={}", KCONFIGLIB_VERSION))
            .output()
            .context("running pip")?;
        if !out.status.success() {
            bail!(
                "`pip install kconfiglib=={}` into {} failed (PyPI reachable?):\n{}{}",
                KCONFIGLIB_VERSION,
                venv.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if !has_kconfiglib(&python) {
            bail!(
                "kconfiglib {} still not importable from {}",
                KCONFIGLIB_VERSION,
                python.display()
            );
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir(&lock);
    result.map(|_| python)
}

/// Generates a random raw .config for the tree (deliberately including
/// invalid values, unknown symbols, malformed lines and duplicates).
pub fn random_config(kc: &Kconfig, rng: &mut Rng) -> String {
    let syms: Vec<_> = kc.unique_defined_syms().to_vec();
    let mut lines: Vec<String> = Vec::new();
    let density = 10 + rng.below(90); // percent of symbols mentioned
    for &s in &syms {
        if !rng.chance(density) {
            continue;
        }
        let sym = kc.sym(s);
        let name = &sym.name;
        let r = rng.below(100);
        let line = match sym.orig_type {
            SymType::Bool | SymType::Tristate => match r {
                0..=34 => format!("CONFIG_{}=y", name),
                35..=59 => format!("# CONFIG_{} is not set", name),
                60..=74 => format!("CONFIG_{}=m", name),
                75..=84 => format!("CONFIG_{}=n", name),
                85..=89 => format!("CONFIG_{}=yes", name),
                90..=94 => format!("CONFIG_{}=x", name),
                _ => format!("CONFIG_{}=", name),
            },
            SymType::Int => {
                let v = match r {
                    0..=49 => (rng.below(40) as i64 - 15).to_string(),
                    50..=64 => (rng.below(300_000) as i64).to_string(),
                    65..=69 => "0x10".to_string(),
                    70..=74 => "abc".to_string(),
                    75..=79 => String::new(),
                    80..=84 => format!(" {}", rng.below(20)),
                    85..=89 => "1_0".to_string(),
                    _ => (rng.below(12) as i64).to_string(),
                };
                format!("CONFIG_{}={}", name, v)
            }
            SymType::Hex => {
                let v = match r {
                    0..=49 => format!("0x{:x}", rng.below(0x20000)),
                    50..=59 => format!("{:X}", rng.below(0x10000)),
                    60..=64 => "0xzz".to_string(),
                    65..=69 => "-0x5".to_string(),
                    70..=74 => String::new(),
                    75..=79 => "0X1F".to_string(),
                    _ => format!("0x{:x}", rng.below(0x100)),
                };
                format!("CONFIG_{}={}", name, v)
            }
            SymType::String => {
                let v = match r {
                    0..=39 => format!("\"val{}\"", rng.below(100)),
                    40..=54 => "\"esc \\\" q \\\\ b\"".to_string(),
                    55..=64 => "unquoted".to_string(),
                    65..=69 => "\"unterminated".to_string(),
                    70..=74 => "\"\"".to_string(),
                    75..=79 => "\"hello-torture\"".to_string(),
                    80..=84 => "\"trailing\" junk".to_string(),
                    _ => format!("\"{}\"", rng.below(1000)),
                };
                format!("CONFIG_{}={}", name, v)
            }
            SymType::Unknown => format!("CONFIG_{}=y", name),
        };
        lines.push(line);
        // Occasional duplicate assignment.
        if rng.chance(3) {
            lines.push(format!("CONFIG_{}=y", name));
        }
    }
    // Noise.
    let extras = rng.below(4);
    for _ in 0..extras {
        let l = match rng.below(8) {
            0 => format!("CONFIG_UNKNOWN_SYM_{}=y", rng.below(5)),
            1 => format!("# CONFIG_NOT_A_SYMBOL_{} is not set", rng.below(5)),
            2 => "this line is garbage".to_string(),
            3 => "# just a comment".to_string(),
            4 => String::new(),
            5 => "CONFIG_=5".to_string(),
            6 => "   ".to_string(),
            _ => "CONFIG_MODULES=y   ".to_string(),
        };
        let pos = rng.below(lines.len() as u64 + 1) as usize;
        lines.insert(pos, l);
    }
    // Shuffle a little (order matters for choices and duplicates).
    if rng.chance(50) && lines.len() > 1 {
        for i in (1..lines.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            lines.swap(i, j);
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

fn warning_set(ws: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    ws.into_iter().collect()
}

/// Runs the conformance check on a Kconfig tree: `n_configs` random
/// .config files generated from `seed`. `kconfig_root` is the directory
/// holding the top-level `Kconfig`.
pub fn check_tree(
    kconfig_root: &Path,
    srcarch: &str,
    n_configs: usize,
    seed: u64,
) -> anyhow::Result<Report> {
    let start = Instant::now();
    let python = ensure_kconfiglib().with_context(|| {
        format!(
            "kconfiglib {} is required for the conformance check and could not be installed into {}",
            KCONFIGLIB_VERSION,
            venv_dir().display()
        )
    })?;
    let root = kconfig_root
        .canonicalize()
        .with_context(|| format!("accessing {}", kconfig_root.display()))?;
    let base = Kconfig::load_with_arch(&root, srcarch).map_err(|e| anyhow!("{}", e))?;
    let _ = base.take_warnings();

    let work = tempdir("kconfig-conformance")?;
    let indir = work.join("in");
    std::fs::create_dir_all(&indir)?;
    let mut rng = Rng::new(seed);
    let mut inputs = Vec::new();
    for i in 0..n_configs {
        let text = random_config(&base, &mut rng);
        let p = indir.join(format!("{}.config", i));
        std::fs::write(&p, &text)?;
        inputs.push((p, text));
    }
    // Our randconfig results are fed to kconfiglib as extra inputs: each
    // must come back unchanged.
    let n_rand = (n_configs / 4).max(1);
    let mut rand_texts = Vec::new();
    for r in 0..n_rand {
        let mut kc = base.clone();
        kc.randconfig(seed ^ (0x5eed_0000 + r as u64));
        let _ = kc.take_warnings();
        let text = kc.config_text("");
        std::fs::write(indir.join(format!("{}.config", n_configs + r)), &text)?;
        rand_texts.push(text);
    }
    let driver = work.join("kconfiglib_driver.py");
    std::fs::write(&driver, DRIVER_PY)?;
    let out = Command::new(&python)
        .arg(&driver)
        .arg(&root)
        .arg(&work)
        .arg((n_configs + n_rand).to_string())
        .env("SRCARCH", srcarch)
        .env("ARCH", srcarch)
        .env_remove("KCONFIG_CONFIG_HEADER")
        .env_remove("srctree")
        .env_remove("CONFIG_")
        .output()
        .context("running the kconfiglib driver")?;
    if !out.status.success() {
        bail!(
            "kconfiglib driver failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let py = work.join("py");
    let read = |name: &str| -> anyhow::Result<String> {
        std::fs::read_to_string(py.join(name))
            .with_context(|| format!("reading kconfiglib output {}", name))
    };

    let mut report = Report {
        configs: n_configs,
        randconfigs: n_rand,
        ..Default::default()
    };
    let mut distinct = BTreeSet::new();
    for (i, (path, text)) in inputs.iter().enumerate() {
        let mut kc = base.clone();
        kc.load_config(path, true).map_err(|e| anyhow!("{}", e))?;
        let ours_conf = kc.config_text("");
        let ours_min = kc.min_config_text("");
        let ours_new: String = kc
            .list_new_config()
            .iter()
            .map(|l| format!("{}\n", l))
            .collect();
        distinct.insert(ours_conf.clone());
        // We attach the .config location to "invalid value" warnings that
        // kconfiglib reports without one; compare without it.
        let ours_warn = warning_set(kc.take_warnings().iter().map(|w| {
            if w.msg.ends_with("-- assignment ignored") {
                format!("warning: {}", w.msg)
            } else {
                w.to_string()
            }
        }));
        let theirs_conf = read(&format!("{}.config", i))?;
        let theirs_min = read(&format!("{}.min", i))?;
        let theirs_warn_raw = read(&format!("{}.warn", i))?;
        let theirs_warn = warning_set(
            theirs_warn_raw
                .split('\0')
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string()),
        );
        report.warnings_compared += ours_warn.len();
        let mk = |what: String, ours: &str, theirs: &str| Mismatch {
            what,
            input: text.clone(),
            ours: ours.to_string(),
            theirs: theirs.to_string(),
        };
        if ours_conf != theirs_conf {
            report
                .config_mismatches
                .push(mk(format!("{}.config", i), &ours_conf, &theirs_conf));
        }
        let theirs_new = read(&format!("{}.new", i))?;
        if ours_new != theirs_new {
            report
                .listnew_mismatches
                .push(mk(format!("{}.new", i), &ours_new, &theirs_new));
        }
        if ours_min != theirs_min {
            report
                .min_mismatches
                .push(mk(format!("{}.min", i), &ours_min, &theirs_min));
        }
        if ours_warn != theirs_warn {
            let o: Vec<String> = ours_warn.into_iter().collect();
            let t: Vec<String> = theirs_warn.into_iter().collect();
            report
                .warning_mismatches
                .push(mk(format!("{}.warn", i), &o.join("\n"), &t.join("\n")));
        }
    }
    report.distinct_configs = distinct.len();
    for (r, ours) in rand_texts.iter().enumerate() {
        let i = n_configs + r;
        let theirs = read(&format!("{}.config", i))?;
        if *ours != theirs {
            report.randconfig_mismatches.push(Mismatch {
                what: format!("randconfig #{} ({}.config)", r, i),
                input: ours.clone(),
                ours: ours.clone(),
                theirs,
            });
        }
    }
    for (what, f) in [
        ("allno.config", Kconfig::allnoconfig as fn(&mut Kconfig)),
        ("allyes.config", Kconfig::allyesconfig as fn(&mut Kconfig)),
    ] {
        let mut kc = base.clone();
        f(&mut kc);
        let ours = kc.config_text("");
        let theirs = read(what)?;
        if ours != theirs {
            report.all_mismatches.push(Mismatch {
                what: what.to_string(),
                input: String::new(),
                ours,
                theirs,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Creates a fresh temporary directory.
pub(crate) fn tempdir(prefix: &str) -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = base.join(format!("{}-{}-{}-{}", prefix, std::process::id(), nanos, i));
        if std::fs::create_dir(&p).is_ok() {
            return Ok(p);
        }
    }
    bail!(
        "could not create a temporary directory in {}",
        base.display()
    )
}
