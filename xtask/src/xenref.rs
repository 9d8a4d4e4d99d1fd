//! Xen 4.20 as a reference: `cargo xtask test --against-xen` boots the
//! test guest's Xen ABI conformance suite (mode=xen) under Tessera and
//! under Debian's Xen 4.20 on the same QEMU machine with the same device
//! tree, and diffs what the conformance domain printed. See
//! docs/xen-reference.md.
//!
//! Xen comes from Debian trixie's `xen-hypervisor-4.20-arm64` (its
//! `boot/xen-4.20-arm64` is an arm64 Image with an EFI stub, which QEMU's
//! `-kernel` boots at EL2 like Tessera's), downloaded (never installed)
//! through a private apt configuration under target/xen-ref/apt: its own
//! sources.list naming trixie, its own lists, cache and an empty dpkg
//! status, so the bookworm host is neither upgraded nor changed. Outputs:
//! target/xen-ref/xen-4.20-arm64, xen-4.20-arm64.config (the Kconfig it
//! was built with) and xen-package (package and version, the cache key).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;

use crate::linux::{field, is_root, read_trimmed, write_atomic};
use crate::qemu::{self, Boot};
use crate::scenario::{self, Ended};
use crate::{elf, util};

/// The Debian suite and package Xen comes from.
const SUITE: &str = "trixie";
const MIRROR: &str = "http://deb.debian.org/debian";
const PACKAGE: &str = "xen-hypervisor-4.20-arm64";
const ARCH: &str = "arm64";
/// The file in the package that is the hypervisor.
const XEN_FILE: &str = "boot/xen-4.20-arm64";
/// The machine and domains both hypervisors boot: the conformance suite.
pub const SETUP: &str = "tests/xen-ref/xen-abi.toml";
/// The second machine: the two-domain suite (mode=xen-pair).
pub const PAIR_SETUP: &str = "tests/xen-ref/xen-pair.toml";
/// Every setup `--against-xen` runs, in order.
pub const SETUPS: &[&str] = &[SETUP, PAIR_SETUP];
/// Differences between the two runs that are understood, with a reason.
pub const KNOWN: &str = "tests/xen-ref/known-differences.toml";
/// apt lists older than this are refreshed (about 10 MB from the mirror).
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

fn dir() -> PathBuf {
    util::root().join("target/xen-ref")
}

// ---------------------------------------------------------------------------
// Fetching Xen

/// apt with its own configuration under target/xen-ref/apt.
struct Apt {
    dir: PathBuf,
}

impl Apt {
    fn new() -> Result<Apt> {
        let dir = dir().join("apt");
        for d in [
            "state/lists/partial",
            "cache/archives/partial",
            "preferences.d",
        ] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        let sources = format!(
            "# Written by cargo xtask (xtask/src/xenref.rs): where Xen 4.20 comes from.\n\
             deb [arch={ARCH} signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \
             {MIRROR} {SUITE} main\n"
        );
        if std::fs::read_to_string(dir.join("sources.list"))
            .ok()
            .as_deref()
            != Some(&sources)
        {
            write_atomic(&dir.join("sources.list"), sources.as_bytes())?;
        }
        let status = dir.join("state/status");
        if !status.exists() {
            std::fs::write(&status, "")?;
        }
        Ok(Apt { dir })
    }

    /// The options that make apt use only this configuration's sources,
    /// lists, cache and (empty) package status, for arm64. The host's
    /// apt.conf.d still applies (proxies), minus the AppStream and
    /// command-not-found indexes it may ask for.
    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        let mut o = vec![
            format!("Dir::Etc::sourcelist={d}/sources.list"),
            "Dir::Etc::sourceparts=-".into(),
            format!("Dir::Etc::preferences={d}/preferences"),
            format!("Dir::Etc::preferencesparts={d}/preferences.d"),
            format!("Dir::State={d}/state"),
            format!("Dir::State::status={d}/state/status"),
            format!("Dir::Cache={d}/cache"),
            format!("APT::Architecture={ARCH}"),
            format!("APT::Architectures={ARCH}"),
            "Acquire::Languages=none".into(),
        ];
        for t in ["DEP-11", "DEP-11-icons", "DEP-11-icons-small", "CNF"] {
            o.push(format!(
                "Acquire::IndexTargets::deb::{t}::DefaultEnabled=false"
            ));
        }
        if is_root() {
            // Else apt warns that its _apt user cannot write here.
            o.push("APT::Sandbox::User=root".into());
        }
        o
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("LC_ALL", "C");
        for o in self.options() {
            c.arg("-o").arg(o);
        }
        c
    }

    /// When the package lists were last fetched (None: never).
    fn lists_time(&self) -> Option<SystemTime> {
        std::fs::read_dir(self.dir.join("state/lists"))
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("_Packages"))
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .max()
    }

    fn update(&self) -> Result<()> {
        eprintln!(
            "xtask: apt-get update (Debian {SUITE}, into {})",
            self.dir.display()
        );
        util::run(self.command("apt-get").args(["-q", "update"]))
    }

    /// The candidate version of `package`.
    fn candidate(&self, package: &str) -> Result<String> {
        let out = self
            .command("apt-cache")
            .args(["show", "--no-all-versions", package])
            .output()
            .context("cannot run apt-cache (is this a Debian host?)")?;
        ensure!(
            out.status.success(),
            "apt-cache show {package} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let show = String::from_utf8_lossy(&out.stdout);
        Ok(field(&show, "Version")
            .with_context(|| format!("no Version in apt-cache show {package}"))?
            .to_string())
    }

    /// Downloads `package` at `version` into `into` and returns the .deb.
    fn download(&self, package: &str, version: &str, into: &Path) -> Result<PathBuf> {
        let _ = std::fs::remove_dir_all(into);
        std::fs::create_dir_all(into)?;
        util::run(self.command("apt-get").current_dir(into).args([
            "-q",
            "download",
            &format!("{package}={version}"),
        ]))
        .with_context(|| format!("downloading {package} {version}"))?;
        std::fs::read_dir(into)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .with_context(|| format!("apt-get download left no .deb in {}", into.display()))
    }
}

/// Debian's Xen 4.20 for arm64: target/xen-ref/xen-4.20-arm64, fetched on
/// first use and when trixie has a newer build (the lists are refreshed
/// once a day); offline, a cached copy is used. Asks apt once per process.
pub fn xen_image() -> Result<PathBuf> {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = DONE.get().filter(|p| p.exists()) {
        return Ok(p.clone());
    }
    let image = fetch_xen()?;
    let _ = DONE.set(image.clone());
    Ok(image)
}

fn fetch_xen() -> Result<PathBuf> {
    let dir = dir();
    let image = dir.join("xen-4.20-arm64");
    let stamp_file = dir.join("xen-package");
    let cached = image.exists().then(|| read_trimmed(&stamp_file)).flatten();
    let apt = Apt::new()?;
    let stale = apt
        .lists_time()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age > LISTS_MAX_AGE);
    let version = (|| {
        if stale {
            apt.update()?;
        }
        apt.candidate(PACKAGE)
    })();
    let version = match (version, &cached) {
        (Ok(v), _) => v,
        (Err(e), Some(c)) => {
            eprintln!("xtask: cannot ask apt about Xen ({e:#}); using the cached {c}");
            return Ok(image);
        }
        (Err(e), None) => return Err(e.context(format!("resolving {PACKAGE} in Debian {SUITE}"))),
    };
    let stamp = format!("{PACKAGE}:{ARCH} {version}");
    if cached.as_deref() == Some(stamp.as_str()) {
        return Ok(image);
    }
    eprintln!("xtask: fetching {PACKAGE}:{ARCH} {version} from Debian {SUITE}");
    let deb = apt.download(PACKAGE, &version, &dir.join("debs"))?;
    let x = dir.join("extract");
    let _ = std::fs::remove_dir_all(&x);
    util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x))
        .with_context(|| format!("unpacking {}", deb.display()))?;
    let data = std::fs::read(x.join(XEN_FILE))
        .with_context(|| format!("{PACKAGE} {version} has no {XEN_FILE}"))?;
    elf::check_image_header(&data).with_context(|| format!("{XEN_FILE} is not an arm64 Image"))?;
    eprintln!(
        "xtask: {XEN_FILE} is an arm64 Image{} of {} bytes",
        if data.starts_with(b"MZ") {
            " with an EFI stub"
        } else {
            ""
        },
        data.len()
    );
    if let Ok(cfg) = std::fs::read(x.join(format!("{XEN_FILE}.config"))) {
        write_atomic(&dir.join("xen-4.20-arm64.config"), &cfg)?;
    }
    write_atomic(&image, &data)?;
    // The cache key last: it marks the outputs complete.
    write_atomic(&stamp_file, format!("{stamp}\n").as_bytes())?;
    std::fs::remove_dir_all(&x)?;
    std::fs::remove_dir_all(dir.join("debs"))?;
    Ok(image)
}

// ---------------------------------------------------------------------------
// What the conformance domain printed

/// One comparable line of the conformance domain: a check's result
/// (`PASS`/`FAIL`/`SKIP`, keyed by the check's name), an `info` line
/// (keyed by its first word and, when the second is a name, that too;
/// else by its position among that word's info lines), or any other line
/// (keyed by its text).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    pub value: String,
}

/// What one run printed for the conformance domain `domid`.
#[derive(Debug, Default)]
pub struct Run {
    pub records: Vec<Record>,
    /// The "done, N passed, N failed" line, if it came.
    pub done: Option<String>,
}

/// The text of a line the domain printed, without the hypervisor's
/// prefixes: Tessera's "(dN) ", Xen's "(XEN) DOMN: " (vpl011 output of a
/// domain without the console input) and "(dN) " (CONSOLEIO_write).
pub fn domain_text(line: &str, domid: u32) -> Option<&str> {
    let l = line.trim_end_matches('\r');
    let l = l.strip_prefix("(XEN) ").unwrap_or(l);
    l.strip_prefix(&format!("(d{domid}) "))
        .or_else(|| l.strip_prefix(&format!("DOM{domid}: ")))?
        .strip_prefix("testguest: ")
}

/// Reads a run's log: the conformance domain's lines up to its tally.
pub fn parse(log: &str, domid: u32) -> Run {
    let mut run = Run::default();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for text in log.lines().filter_map(|l| domain_text(l, domid)) {
        if text.starts_with("done,") {
            run.done = Some(text.to_string());
            break;
        }
        let (key, value) = if let Some(r) = text.strip_prefix("PASS ") {
            match r.split_once(' ') {
                Some((name, detail)) => (name.to_string(), format!("PASS {detail}")),
                None => (r.to_string(), "PASS".to_string()),
            }
        } else if let Some(r) = text.strip_prefix("FAIL ") {
            match r.split_once(": ") {
                Some((name, detail)) => (name.to_string(), format!("FAIL: {detail}")),
                None => (r.to_string(), "FAIL".to_string()),
            }
        } else if let Some(r) = text.strip_prefix("SKIP ") {
            let name = r.split(' ').next().unwrap_or(r);
            (name.to_string(), text.to_string())
        } else if let Some(r) = text.strip_prefix("info ") {
            let mut words = r.splitn(3, ' ');
            let first = words.next().unwrap_or("");
            match words.next() {
                Some(w) if w.starts_with(|c: char| c.is_ascii_alphabetic()) => (
                    format!("info {first} {w}"),
                    words.next().unwrap_or("").to_string(),
                ),
                _ => {
                    let n = seen.entry(format!("info {first}")).or_default();
                    *n += 1;
                    (
                        format!("info {first} #{n}"),
                        r[first.len()..].trim_start().to_string(),
                    )
                }
            }
        } else {
            (text.to_string(), "(printed)".to_string())
        };
        // A key seen before gets its occurrence number.
        let n = seen.entry(format!("key {key}")).or_default();
        *n += 1;
        let key = if *n > 1 { format!("{key} ({n})") } else { key };
        run.records.push(Record { key, value });
    }
    run
}

/// One key whose values differ between the runs (None: not printed).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub key: String,
    pub tessera: Option<String>,
    pub xen: Option<String>,
}

/// Every key of both runs in order (Tessera's, with Xen's own keys after
/// the key Xen printed before them), and whether their values agree.
pub fn compare(t: &Run, x: &Run) -> (Vec<String>, Vec<Difference>) {
    let mut keys: Vec<String> = t.records.iter().map(|r| r.key.clone()).collect();
    let mut after: Option<usize> = None;
    for r in &x.records {
        match keys.iter().position(|k| *k == r.key) {
            Some(i) => after = Some(i),
            None => {
                let i = after.map_or(0, |a| a + 1);
                keys.insert(i, r.key.clone());
                after = Some(i);
            }
        }
    }
    let value = |run: &Run, k: &str| {
        run.records
            .iter()
            .find(|r| r.key == k)
            .map(|r| r.value.clone())
    };
    let diffs = keys
        .iter()
        .filter_map(|k| {
            let (a, b) = (value(t, k), value(x, k));
            (a != b).then(|| Difference {
                key: k.clone(),
                tessera: a,
                xen: b,
            })
        })
        .collect();
    (keys, diffs)
}

// ---------------------------------------------------------------------------
// Known differences

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    #[serde(default)]
    difference: Vec<Known>,
}

/// A difference that is understood: patterns (`*` matches any text) for
/// the key as the comparison names it and for each side's value
/// ("(absent)" when a run did not print the key).
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Known {
    pub key: String,
    #[serde(default = "any")]
    pub tessera: String,
    #[serde(default = "any")]
    pub xen: String,
    pub reason: String,
}

fn any() -> String {
    "*".into()
}

pub const ABSENT: &str = "(absent)";

pub fn load_known(path: &Path) -> Result<Vec<Known>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let f: KnownFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for k in &f.difference {
        ensure!(
            !k.reason.trim().is_empty(),
            "{}: the known difference {} gives no reason",
            path.display(),
            k.key
        );
    }
    Ok(f.difference)
}

/// `*`-glob match of the whole text.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

impl Known {
    pub fn matches(&self, d: &Difference) -> bool {
        glob(&self.key, &d.key)
            && glob(&self.tessera, d.tessera.as_deref().unwrap_or(ABSENT))
            && glob(&self.xen, d.xen.as_deref().unwrap_or(ABSENT))
    }
}

// ---------------------------------------------------------------------------
// The command

/// The domain ids of the setup's compared domains (mode=xen or
/// mode=xen-pair): boot-time domains get ids from 1 in device-tree order
/// under Xen and Tessera.
fn compared_domids(sc: &scenario::Scenario) -> Result<Vec<u32>> {
    let ids: Vec<u32> = sc
        .domain
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.bootargs
                .split_whitespace()
                .any(|w| w == "mode=xen" || w == "mode=xen-pair")
        })
        .map(|(i, _)| i as u32 + 1)
        .collect();
    ensure!(
        !ids.is_empty(),
        "the setup has no domain with mode=xen or mode=xen-pair"
    );
    Ok(ids)
}

/// The records of several domains as one run: with more than one domain
/// each key is prefixed "dN " (a single domain's keys stay as they are).
pub fn parse_domains(log: &str, domids: &[u32]) -> Vec<(u32, Run)> {
    domids.iter().map(|&d| (d, parse(log, d))).collect()
}

fn merged(runs: &[(u32, Run)]) -> Run {
    let mut out = Run::default();
    let many = runs.len() > 1;
    for (d, r) in runs {
        for rec in &r.records {
            out.records.push(Record {
                key: if many {
                    format!("d{d} {}", rec.key)
                } else {
                    rec.key.clone()
                },
                value: rec.value.clone(),
            });
        }
    }
    out.done = runs
        .iter()
        .map(|(d, r)| r.done.as_ref().map(|t| format!("d{d} {t}")))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.join("; "));
    out
}

struct Outcome {
    run: Run,
    secs: f64,
    log: PathBuf,
}

fn boot(
    what: &str,
    cmd: &mut Command,
    sc: &scenario::Scenario,
    domids: &[u32],
    xen: bool,
    log: PathBuf,
) -> Result<Outcome> {
    eprintln!(
        "xtask: {what}: {:?} {}",
        cmd.get_program(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    // Xen does not power off when its domains end: stop after every
    // compared domain's tally (vpl011 output: "DOMn: " under Xen).
    let until: Vec<String> = domids
        .iter()
        .map(|d| {
            if xen {
                format!("DOM{d}: testguest: done,")
            } else {
                format!("(d{d}) testguest: done,")
            }
        })
        .collect();
    let until: Vec<&str> = until.iter().map(String::as_str).collect();
    let (out, ended) = scenario::run_qemu_until_all(cmd, Duration::from_secs(sc.timeout), &until)?;
    let secs = started.elapsed().as_secs_f64();
    std::fs::write(&log, &out)?;
    let runs = parse_domains(&String::from_utf8_lossy(&out), domids);
    let run = merged(&runs);
    let how = match ended {
        Ended::Stopped => "stopped after the compared domains' tallies".to_string(),
        Ended::TimedOut => format!("TIMED OUT after {} s", sc.timeout),
        Ended::Exited(c) => format!("QEMU exited {c}"),
    };
    let ids: Vec<String> = domids.iter().map(|d| format!("d{d}")).collect();
    println!(
        "{what}: {} lines from {}, {} ({secs:.1} s); log {}",
        run.records.len(),
        ids.join(" "),
        how,
        log.display()
    );
    Ok(Outcome { run, secs, log })
}

/// A value's column in the table: the result of a check, "printed" for
/// other lines, "info" for info lines, "-" when not printed.
fn status_of(key: &str, v: Option<&str>) -> &'static str {
    match v {
        None => "-",
        Some(_) if key.starts_with("info ") => "info",
        Some(v) if v.starts_with("PASS") => "PASS",
        Some(v) if v.starts_with("FAIL") => "FAIL",
        Some(v) if v.starts_with("SKIP") => "SKIP",
        Some(_) => "printed",
    }
}

/// `cargo xtask test --against-xen`: every setup of SETUPS under both
/// hypervisors, one report.
pub fn cmd_against_xen() -> Result<()> {
    let root = util::root();
    let known = load_known(&root.join(KNOWN))?;
    let xen = xen_image()?;
    let xen_pkg = read_trimmed(&dir().join("xen-package")).unwrap_or_default();
    println!("== against Xen: {xen_pkg}");
    let mut report = String::new();
    let mut used = vec![false; known.len()];
    let (mut unexpected, mut unfinished) = (0, Vec::new());
    for setup in SETUPS {
        let (u, finished) = run_setup(setup, &xen, &xen_pkg, &known, &mut used, &mut report)?;
        unexpected += u;
        if !finished {
            unfinished.push(*setup);
        }
    }
    for (k, u) in known.iter().zip(&used) {
        if !*u {
            let _ = writeln!(
                report,
                "note: known difference {} (Tessera {:?}, Xen {:?}) was not seen",
                k.key, k.tessera, k.xen
            );
        }
    }
    std::fs::write(dir().join("diff.txt"), &report)?;
    println!("report: {}", dir().join("diff.txt").display());
    if !unfinished.is_empty() {
        bail!(
            "a run did not reach every compared domain's tally: {}",
            unfinished.join(", ")
        );
    }
    if unexpected > 0 {
        bail!("{unexpected} difference(s) from Xen 4.20 not listed in {KNOWN}");
    }
    Ok(())
}

/// One setup under both hypervisors: its part of the report, and (the
/// differences not known, whether both runs reached every tally).
fn run_setup(
    setup: &str,
    xen: &Path,
    xen_pkg: &str,
    known: &[Known],
    used: &mut [bool],
    all: &mut String,
) -> Result<(usize, bool)> {
    let root = util::root();
    let sc = scenario::load_path(&root.join(setup))?;
    let domids = compared_domids(&sc)?;
    let name = Path::new(setup)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("setup")
        .to_string();
    println!("== {setup}");
    let img = scenario::build_image(&sc, true)?;
    let logdir = dir().join("run");
    // One machine, one device tree, one set of modules; only -kernel
    // differs (semihosting too is on for both: Tessera's test build exits
    // through it, Xen does not use it).
    let m = scenario::machine(&name, &sc, &logdir)?;
    let boot_args = Boot::Kernel {
        append: sc.append.clone(),
    };
    let t = boot(
        "Tessera",
        &mut qemu::command(&m, &boot_args, &img.path, true),
        &sc,
        &domids,
        false,
        logdir.join(format!("{name}-tessera.log")),
    )?;
    let x = boot(
        "Xen 4.20",
        &mut qemu::command(&m, &boot_args, xen, true),
        &sc,
        &domids,
        true,
        logdir.join(format!("{name}-xen.log")),
    )?;
    let (keys, diffs) = compare(&t.run, &x.run);

    let mut report = String::new();
    let _ = writeln!(
        report,
        "== {setup}\nTessera ({}) and {xen_pkg} on {} -cpu {} -smp {} -m {}, device tree {}",
        img.path.display(),
        m.machine,
        m.cpu,
        m.smp,
        m.memory,
        logdir.join(format!("{name}.dtb")).display()
    );
    let ids: Vec<String> = domids.iter().map(|d| format!("d{d}")).collect();
    let _ = writeln!(report, "compared: {}", ids.join(" "));
    let _ = writeln!(
        report,
        "  Tessera: {} ({:.1} s)",
        t.run.done.as_deref().unwrap_or("no tally (did not finish)"),
        t.secs
    );
    let _ = writeln!(
        report,
        "  Xen:     {} ({:.1} s)",
        x.run.done.as_deref().unwrap_or("no tally (did not finish)"),
        x.secs
    );
    let w = keys.iter().map(|k| k.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(report, "\n{:w$}  {:7}  {:7}  ", "check", "Tessera", "Xen");
    let mut unexpected = 0;
    let mut details = String::new();
    for k in &keys {
        let d = diffs.iter().find(|d| d.key == *k);
        let rec = |r: &Run| {
            r.records
                .iter()
                .find(|r| r.key == *k)
                .map(|r| r.value.clone())
        };
        let (a, b) = (rec(&t.run), rec(&x.run));
        let verdict = match d {
            None => "same".to_string(),
            Some(d) => match known.iter().position(|kn| kn.matches(d)) {
                Some(i) => {
                    used[i] = true;
                    let _ = writeln!(details, "KNOWN {k}: {}", known[i].reason);
                    "known difference".to_string()
                }
                None => {
                    unexpected += 1;
                    let _ = writeln!(details, "DIFFERS {k}");
                    "DIFFERS".to_string()
                }
            },
        };
        if let Some(d) = d {
            let _ = writeln!(
                details,
                "    Tessera: {}\n    Xen:     {}",
                d.tessera.as_deref().unwrap_or(ABSENT),
                d.xen.as_deref().unwrap_or(ABSENT)
            );
        }
        if !k.starts_with("info ") || d.is_some() {
            let _ = writeln!(
                report,
                "{k:w$}  {:7}  {:7}  {verdict}",
                status_of(k, a.as_deref()),
                status_of(k, b.as_deref())
            );
        }
    }
    let _ = writeln!(
        report,
        "({} keys compared; info lines that agree are not listed)\n",
        keys.len()
    );
    report += &details;
    let finished = t.run.done.is_some() && x.run.done.is_some();
    let _ = writeln!(
        report,
        "{} differences, {} known, {unexpected} not known",
        diffs.len(),
        diffs.len() - unexpected
    );
    print!("{report}");
    println!("logs: {} {}\n", t.log.display(), x.log.display());
    all.push_str(&report);
    all.push('\n');
    Ok((unexpected, finished))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_either_hypervisor_become_the_same_records() {
        let tessera = "(HV) d2: kernel entry\n\
            (d2) testguest: start (cpus 1, mode xen)\r\n\
            (d1) testguest: PASS boot-state (EL1)\n\
            (d2) testguest: info xen domid 2\n\
            (d2) testguest: info image 0x40000000 dtb 0x40e00000\n\
            (d2) testguest: PASS xen-dt (15 ok)\n\
            (d2) testguest: console_io hello\n\
            (d2) testguest: info xen-evtchn-upcall 1 upcall(s) pending\n\
            (d2) testguest: FAIL xen-evtchn-fifo: init_control -38\n\
            (d2) testguest: SKIP xen-other\n\
            (d2) testguest: done, 2 passed, 1 failed\n\
            (d2) testguest: PASS after-the-tally\n";
        let xen = "(XEN) DOM2: testguest: start (cpus 1, mode xen)\n\
            (XEN) DOM1: testguest: PASS boot-state (EL1)\n\
            (XEN) DOM2: testguest: info xen domid 2\n\
            (XEN) DOM2: testguest: info image 0x40000000 dtb 0x40e00000\n\
            (XEN) DOM2: testguest: PASS xen-dt (15 ok)\n\
            (d2) testguest: console_io hello\n\
            (XEN) DOM2: testguest: info xen-evtchn-upcall 1 upcall(s) pending\n\
            (XEN) DOM2: testguest: PASS xen-evtchn-fifo (23 ok)\n\
            (XEN) DOM2: testguest: SKIP xen-other\n\
            (XEN) DOM2: testguest: done, 3 passed, 0 failed\n";
        let (t, x) = (parse(tessera, 2), parse(xen, 2));
        assert_eq!(t.done.as_deref(), Some("done, 2 passed, 1 failed"));
        assert_eq!(x.done.as_deref(), Some("done, 3 passed, 0 failed"));
        let keys: Vec<&str> = t.records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "start (cpus 1, mode xen)",
                "info xen domid",
                "info image #1",
                "xen-dt",
                "console_io hello",
                "info xen-evtchn-upcall #1",
                "xen-evtchn-fifo",
                "xen-other"
            ]
        );
        assert_eq!(t.records[1].value, "2");
        assert_eq!(t.records[2].value, "0x40000000 dtb 0x40e00000");
        assert_eq!(t.records[6].value, "FAIL: init_control -38");
        let (keys2, diffs) = compare(&t, &x);
        assert_eq!(keys2.len(), keys.len());
        assert_eq!(
            diffs,
            [Difference {
                key: "xen-evtchn-fifo".into(),
                tessera: Some("FAIL: init_control -38".into()),
                xen: Some("PASS (23 ok)".into()),
            }]
        );
    }

    #[test]
    fn keys_only_one_side_printed_keep_their_place() {
        let t = parse("(d2) testguest: PASS a\n(d2) testguest: PASS c\n", 2);
        let x = parse(
            "(XEN) DOM2: testguest: PASS a\n(XEN) DOM2: testguest: PASS b\n",
            2,
        );
        let (keys, diffs) = compare(&t, &x);
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(diffs.len(), 2);
        assert_eq!(diffs[0].tessera, None);
        assert_eq!(diffs[1].xen, None);
    }

    #[test]
    fn known_differences_match_by_key_and_glob() {
        assert!(glob("*", ""));
        assert!(glob("FAIL*", "FAIL: -38"));
        assert!(!glob("FAIL*", "PASS (1 ok)"));
        assert!(glob("\"*\"", "\".5-pre\""));
        assert!(glob("a*b*c", "a-b-b-c"));
        assert!(!glob("a*b*c", "a-c"));
        assert!(glob("exact", "exact"));
        assert!(!glob("ab*ba", "aba"));
        let k = Known {
            key: "x".into(),
            tessera: ABSENT.into(),
            xen: "PASS*".into(),
            reason: "r".into(),
        };
        let d = Difference {
            key: "x".into(),
            tessera: None,
            xen: Some("PASS (1 ok)".into()),
        };
        assert!(k.matches(&d));
        assert!(!k.matches(&Difference {
            tessera: Some("FAIL".into()),
            ..d.clone()
        }));
        assert!(!k.matches(&Difference {
            key: "y".into(),
            ..d.clone()
        }));
        let k = Known {
            key: "info x *".into(),
            ..k
        };
        assert!(k.matches(&Difference {
            key: "info x init (2)".into(),
            ..d
        }));
    }

    /// The setup and the known differences parse, and the setup has one
    /// conformance domain.
    #[test]
    fn the_setup_and_the_known_differences_parse() {
        let root = util::root();
        let sc = scenario::load_path(&root.join(SETUP)).unwrap();
        assert_eq!(compared_domids(&sc).unwrap(), vec![2]);
        let pair = scenario::load_path(&root.join(PAIR_SETUP)).unwrap();
        assert_eq!(compared_domids(&pair).unwrap(), vec![1, 2]);
        assert!(!sc.xen_bootargs.is_empty());
        for d in &sc.domain {
            assert!(crate::guests::exists(&d.kernel), "no guest {}", d.kernel);
        }
        let known = load_known(&root.join(KNOWN)).unwrap();
        assert!(!known.is_empty());
    }
}
