//! QEMU scenarios: each is a TOML file under tests/scenarios/ describing
//! the configuration, the machine, how the image boots, and which lines
//! must and must not appear. `cargo xtask test` runs the host unit tests,
//! the SUPPORT.md check, then every scenario.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::qemu::{self, Boot, Machine};
use crate::{dtb, image, support, toolchain, util};

/// A scenario file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    #[serde(default = "default_config")]
    pub config: String,
    /// Extra `.config` lines on top of `config` (test builds add
    /// CONFIG_DEBUG=y and CONFIG_TESTING=y themselves).
    #[serde(default)]
    pub config_fragment: Vec<String>,
    #[serde(default)]
    pub machine: Option<String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub smp: Option<u32>,
    #[serde(default)]
    pub memory: Option<String>,
    /// "kernel" (QEMU -kernel) or "uboot" (U-Boot booti).
    #[serde(default = "default_boot")]
    pub boot: String,
    /// Command line (/chosen/bootargs) for kernel boots.
    #[serde(default)]
    pub append: String,
    /// Load address for U-Boot boots.
    #[serde(default)]
    pub load_addr: Option<String>,
    /// A change made to QEMU's own device tree before boot (see dtb.rs).
    #[serde(default)]
    pub dtb_corruption: Option<String>,
    /// The board's device tree to start from, for machines QEMU generates
    /// none for (xlnx-zcu102): `debian:<file>` names one the Linux kernel
    /// package ships (fetched with it, see linux.rs), anything else is a
    /// path from the repository root. /chosen gets `xen,xen-bootargs`
    /// (empty if none is given, so the board's Linux bootargs are not
    /// taken for the hypervisor's) and the domains.
    #[serde(default)]
    pub base_dtb: Option<String>,
    /// Lines that must appear, in this order (substring match).
    #[serde(default)]
    pub expect: Vec<String>,
    /// Substrings that must appear somewhere, in any order (output of
    /// domains running side by side interleaves).
    #[serde(default)]
    pub expect_anywhere: Vec<String>,
    /// Substrings that must not appear anywhere.
    #[serde(default)]
    pub forbid: Vec<String>,
    /// Text to wait for and what to type then.
    #[serde(default)]
    pub interact: Vec<Interact>,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// /chosen/xen,xen-bootargs (needs a generated device tree).
    #[serde(default)]
    pub xen_bootargs: String,
    /// Raw device-tree source lines added under /chosen before the
    /// domains (`xen,cpupool` nodes; `&{/cpus/cpu@1}` names a pCPU).
    #[serde(default)]
    pub chosen_extra: Vec<String>,
    /// Boot-time domains (Xen's dom0less nodes) added under /chosen.
    #[serde(default)]
    pub domain: Vec<DomainCfg>,
    /// Ratios between numbers two lines print (CPU shares).
    #[serde(default)]
    pub ratio: Vec<Ratio>,
}

/// `a / b` must be within `tolerance` (relative) of `want`, where `a` and
/// `b` are the first decimal numbers after the texts `a` and `b`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Ratio {
    pub a: String,
    pub b: String,
    pub want: f64,
    pub tolerance: f64,
}

impl Ratio {
    fn number_after(text: &str, marker: &str) -> Option<u64> {
        let rest = &text[text.find(marker)? + marker.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }

    /// `Ok(observed ratio)`, or why the check fails.
    pub fn check(&self, text: &str) -> std::result::Result<f64, String> {
        let a = Self::number_after(text, &self.a).ok_or(format!("no number after {:?}", self.a))?;
        let b = Self::number_after(text, &self.b).ok_or(format!("no number after {:?}", self.b))?;
        if b == 0 {
            return Err(format!("{:?} is 0", self.b));
        }
        let r = a as f64 / b as f64;
        if (r - self.want).abs() > self.want * self.tolerance {
            return Err(format!(
                "ratio {a}/{b} = {r:.3}, want {} within {}%",
                self.want,
                self.tolerance * 100.0
            ));
        }
        Ok(r)
    }
}

/// A dom0less domain in a scenario.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct DomainCfg {
    pub name: String,
    /// A guest under tests/guests (built), or a path to an Image.
    pub kernel: String,
    pub memory_kib: u64,
    #[serde(default = "one")]
    pub cpus: u32,
    #[serde(default)]
    pub vpl011: bool,
    #[serde(default)]
    pub bootargs: String,
    /// Raw device-tree lines for the domain node (hostile-input tests).
    #[serde(default)]
    pub extra: Vec<String>,
    /// Source of a partial device tree given as the domain's
    /// `multiboot,device-tree` module.
    #[serde(default)]
    pub partial_dts: Option<String>,
    /// A `multiboot,ramdisk` module: `initramfs:<name>` builds a busybox
    /// initramfs whose /init prints a marker and powers off, or a path.
    #[serde(default)]
    pub ramdisk: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Interact {
    pub wait: String,
    pub send: String,
    /// Wait this long after seeing `wait` before typing.
    #[serde(default)]
    pub delay_ms: u64,
}

fn default_config() -> String {
    "configs/qemu-arm64_defconfig".into()
}
fn default_boot() -> String {
    "kernel".into()
}
fn default_timeout() -> u64 {
    120
}

/// Lines every test build adds.
pub const TEST_FRAGMENT: [&str; 2] = ["CONFIG_DEBUG=y", "CONFIG_TESTING=y"];

pub fn scenario_dir() -> PathBuf {
    util::root().join("tests/scenarios")
}

pub fn list() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(scenario_dir())?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

pub fn load(name: &str) -> Result<Scenario> {
    load_path(&scenario_dir().join(format!("{name}.toml")))
}

/// Reads a scenario (or the demo setup) from `path`.
pub fn load_path(path: &Path) -> Result<Scenario> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn parse_addr(s: &str) -> Result<u64> {
    let t = s.trim_start_matches("0x");
    u64::from_str_radix(t, 16).with_context(|| format!("bad address {s}"))
}

/// Runs one scenario; Ok(()) when it passed.
pub fn run_one(name: &str) -> Result<()> {
    run_scenario(name, &load(name)?).map(|_| ())
}

/// Runs scenario `sc` under `name` (its files and log are
/// target/scenarios/NAME.*); what it printed, when it passed.
pub fn run_scenario(name: &str, sc: &Scenario) -> Result<String> {
    println!("scenario {name}: {}", sc.description);
    let logdir = util::root().join("target/scenarios");
    let mut cmd = prepare(name, sc, &logdir, true)?;
    let log_path = logdir.join(format!("{name}.log"));
    let started = Instant::now();
    let (output, ended) = run_qemu(&mut cmd, &sc.interact, Duration::from_secs(sc.timeout), &[])?;
    std::fs::write(&log_path, &output)?;
    let text = String::from_utf8_lossy(&output);
    let mut problems = vec![];
    match ended {
        Ended::TimedOut | Ended::Stopped => {
            problems.push(format!("timed out after {} s", sc.timeout))
        }
        Ended::Exited(code) if code != sc.exit_code => {
            problems.push(format!("QEMU exited {code}, expected {}", sc.exit_code))
        }
        _ => {}
    }
    check_output(sc, &text, &mut problems);
    let secs = started.elapsed().as_secs_f64();
    if problems.is_empty() {
        println!("scenario {name}: ok ({secs:.1} s)");
        Ok(text.into_owned())
    } else {
        println!(
            "scenario {name}: FAILED ({secs:.1} s); log {}",
            log_path.display()
        );
        for p in &problems {
            println!("    {p}");
        }
        println!("    --- last lines ---");
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines[lines.len().saturating_sub(25)..] {
            println!("    | {l}");
        }
        bail!("scenario {name} failed")
    }
}

/// Builds the scenario's image, modules and device tree (files under
/// `logdir`, named after `name`) and returns the QEMU command that boots
/// them. Shared by the tests and `cargo xtask run`. `testing` adds
/// [`TEST_FRAGMENT`] (and semihosting, for exit codes) to the image.
pub fn prepare(name: &str, sc: &Scenario, logdir: &Path, testing: bool) -> Result<Command> {
    let img = build_image(sc, testing)?;
    let m = machine(name, sc, logdir)?;
    let boot = match sc.boot.as_str() {
        "kernel" => Boot::Kernel {
            append: sc.append.clone(),
        },
        "uboot" => Boot::UBoot {
            addr: parse_addr(sc.load_addr.as_deref().unwrap_or("0x48000000"))?,
        },
        other => bail!("{name}: unknown boot method {other}"),
    };
    Ok(qemu::command(&m, &boot, &img.path, testing))
}

/// Builds the hypervisor image a scenario boots: its `config` with its
/// `config_fragment` (and [`TEST_FRAGMENT`] when `testing`).
pub fn build_image(sc: &Scenario, testing: bool) -> Result<image::Image> {
    let mut fragment: Vec<String> = if testing {
        TEST_FRAGMENT.iter().map(|s| s.to_string()).collect()
    } else {
        vec![]
    };
    fragment.extend(sc.config_fragment.iter().cloned());
    let base = if testing { "test" } else { "run" };
    let variant = if sc.config_fragment.is_empty() {
        base.to_string()
    } else {
        format!(
            "{base}-{:08x}",
            util::fnv64(sc.config_fragment.join("\n").as_bytes()) as u32
        )
    };
    image::build(Path::new(&sc.config), &fragment, &variant)
}

/// The scenario's machine: QEMU's board with the scenario's CPU count and
/// memory, its modules on QEMU's generic loader and, when it has domains
/// (or a corrupted tree), its device tree (files under `logdir`, named
/// after `name`). Whatever hypervisor boots on it sees the same machine.
pub fn machine(name: &str, sc: &Scenario, logdir: &Path) -> Result<Machine> {
    machine_on(Machine::default(), name, sc, logdir)
}

/// [`machine`], starting from `m` (its extra arguments kept, first).
pub fn machine_on(mut m: Machine, name: &str, sc: &Scenario, logdir: &Path) -> Result<Machine> {
    if let Some(x) = &sc.machine {
        m.machine = x.clone();
    }
    if let Some(x) = &sc.cpu {
        m.cpu = x.clone();
    }
    if let Some(x) = sc.smp {
        m.smp = x;
    }
    if let Some(x) = &sc.memory {
        m.memory = x.clone();
    }
    std::fs::create_dir_all(logdir)?;
    if let Some(kind) = &sc.dtb_corruption {
        let blob = dtb::dump_qemu_dtb(&m, &logdir.join(format!("{name}.qemu.dtb")))?;
        let bad = dtb::corrupt(&blob, kind)?;
        let path = logdir.join(format!("{name}.dtb"));
        std::fs::write(&path, bad)?;
        m.extra
            .extend(["-dtb".to_string(), path.display().to_string()]);
    }
    let base_dtb = match sc.base_dtb.as_deref() {
        None => None,
        Some(b) => Some(match b.strip_prefix("debian:") {
            Some(file) => {
                crate::linux::kernel()?;
                crate::linux::packaged_dtb(file)?
            }
            None => util::root().join(b),
        }),
    };
    if !sc.domain.is_empty()
        || !sc.xen_bootargs.is_empty()
        || !sc.chosen_extra.is_empty()
        || base_dtb.is_some()
    {
        if sc.dtb_corruption.is_some() {
            bail!("{name}: dtb_corruption and domains cannot be combined");
        }
        let mut nodes = vec![];
        for (i, d) in sc.domain.iter().enumerate() {
            let kernel = if d.kernel == "linux" {
                crate::linux::kernel()?
            } else {
                crate::guests::image(&d.kernel)?
            };
            // Modules go high in RAM, clear of the image and of the DTB
            // QEMU places at 0x48000000: a 64 MiB slot per domain (a
            // Debian kernel is 32 MiB), ramdisk at +40 MiB, partial device
            // tree at +63 MiB.
            let addr = 0x5000_0000u64 + i as u64 * 0x0400_0000;
            let ramdisk = match &d.ramdisk {
                Some(r) => {
                    let path = match r.strip_prefix("initramfs:") {
                        Some(n) => crate::linux::initramfs(n, &crate::linux::init_script(n)?)?,
                        None => std::path::PathBuf::from(r),
                    };
                    let raddr = addr + 0x0280_0000;
                    m.extra.extend([
                        "-device".to_string(),
                        format!(
                            "loader,file={},addr={raddr:#x},force-raw=on",
                            path.display()
                        ),
                    ]);
                    Some((path, raddr))
                }
                None => None,
            };
            m.extra.extend([
                "-device".to_string(),
                format!(
                    "loader,file={},addr={addr:#x},force-raw=on",
                    kernel.display()
                ),
            ]);
            let partial = match &d.partial_dts {
                Some(src) => {
                    let path = logdir.join(format!("{name}.{}.partial.dtb", d.name));
                    dtb::compile(src, &path)?;
                    let paddr = addr + 0x03f0_0000;
                    m.extra.extend([
                        "-device".to_string(),
                        format!(
                            "loader,file={},addr={paddr:#x},force-raw=on",
                            path.display()
                        ),
                    ]);
                    Some((path, paddr))
                }
                None => None,
            };
            nodes.push(dtb::DomainNode {
                name: d.name.clone(),
                memory_kib: d.memory_kib,
                cpus: d.cpus,
                vpl011: d.vpl011,
                kernel,
                kernel_addr: addr,
                bootargs: d.bootargs.clone(),
                extra: d.extra.clone(),
                partial,
                ramdisk,
            });
        }
        let base = dtb::Base {
            file: base_dtb.as_deref(),
            xen_bootargs: &sc.xen_bootargs,
            chosen_extra: &sc.chosen_extra,
        };
        let dtb_path = dtb::with_domains(&m, logdir, name, &base, &nodes)?;
        m.extra
            .extend(["-dtb".to_string(), dtb_path.display().to_string()]);
    }
    Ok(m)
}

/// Appends to `problems` every `expect` (in order), `expect_anywhere` and
/// `forbid` line of `sc` that `text` does not satisfy.
fn check_output(sc: &Scenario, text: &str, problems: &mut Vec<String>) {
    let mut pos = 0;
    for e in &sc.expect {
        match text[pos..].find(e.as_str()) {
            Some(i) => pos += i + e.len(),
            None => problems.push(format!("missing (in order): {e:?}")),
        }
    }
    for e in &sc.expect_anywhere {
        if !text.contains(e.as_str()) {
            problems.push(format!("missing: {e:?}"));
        }
    }
    for f in &sc.forbid {
        if text.contains(f.as_str()) {
            problems.push(format!("forbidden line seen: {f:?}"));
        }
    }
    for r in &sc.ratio {
        match r.check(text) {
            Ok(v) => println!("    ratio {:?} / {:?} = {v:.3} (want {})", r.a, r.b, r.want),
            Err(e) => problems.push(e),
        }
    }
}

/// How a QEMU run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ended {
    /// QEMU exited with this code (-1: killed by a signal).
    Exited(i32),
    /// One of the `until` texts appeared and QEMU was stopped.
    Stopped,
    TimedOut,
}

/// How long QEMU runs on after an `until` text, for the lines that follow.
const UNTIL_GRACE: Duration = Duration::from_millis(500);

/// Runs QEMU, feeding `interact` answers, until it exits, one of the
/// `until` texts appears (then QEMU is stopped shortly after), or
/// `timeout`. Returns everything it printed and how it ended.
pub fn run_qemu(
    cmd: &mut Command,
    interact: &[Interact],
    timeout: Duration,
    until: &[&str],
) -> Result<(Vec<u8>, Ended)> {
    run_qemu_with(cmd, interact, timeout, until, false)
}

/// run_qemu, stopped once every text of `until` has appeared (not the
/// first of them).
pub fn run_qemu_until_all(
    cmd: &mut Command,
    timeout: Duration,
    until: &[&str],
) -> Result<(Vec<u8>, Ended)> {
    run_qemu_with(cmd, &[], timeout, until, true)
}

fn run_qemu_with(
    cmd: &mut Command,
    interact: &[Interact],
    timeout: Duration,
    until: &[&str],
    all: bool,
) -> Result<(Vec<u8>, Ended)> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting qemu-system-aarch64")?;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let tx2 = tx.clone();
    let t1 = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let t2 = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 || tx2.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut next = 0;
    // Each wait text is looked for after its own previous match, so steps
    // waiting for different domains' prompts do not depend on which domain
    // printed first, while a repeated prompt ("=>") is waited for anew.
    let mut consumed: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut stop_at: Option<Instant> = None;
    let ended = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
        while let Some(step) = interact.get(next) {
            let from = consumed.get(&step.wait).copied().unwrap_or(0);
            let w = step.wait.as_bytes();
            let Some(i) = out[from.min(out.len())..]
                .windows(w.len().max(1))
                .position(|x| x == w)
            else {
                break;
            };
            consumed.insert(step.wait.clone(), from + i + w.len());
            if step.delay_ms > 0 {
                std::thread::sleep(Duration::from_millis(step.delay_ms));
            }
            if let Some(s) = stdin.as_mut() {
                // Typed slowly: a UART FIFO is 16-32 bytes.
                for b in step.send.as_bytes() {
                    let _ = s.write_all(&[*b]);
                    let _ = s.flush();
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            next += 1;
        }
        if let Some(st) = child.try_wait()? {
            break Ended::Exited(st.code().unwrap_or(-1));
        }
        let seen = |u: &&str| contains(&out, u.as_bytes());
        let reached = if all {
            !until.is_empty() && until.iter().all(seen)
        } else {
            until.iter().any(seen)
        };
        if stop_at.is_none() && reached {
            stop_at = Some(Instant::now() + UNTIL_GRACE);
        }
        if stop_at.is_some_and(|t| Instant::now() > t) {
            let _ = child.kill();
            let _ = child.wait();
            break Ended::Stopped;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break Ended::TimedOut;
        }
    };
    drop(stdin);
    let _ = t1.join();
    let _ = t2.join();
    while let Ok(chunk) = rx.try_recv() {
        out.extend_from_slice(&chunk);
    }
    Ok((out, ended))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn host_tests() -> Result<(usize, usize)> {
    // The host toolchain (rustup's stable) builds and tests host crates.
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(util::root())
        .args(["test", "--workspace", "--no-fail-fast"]);
    let out = c
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test")?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    let (mut passed, mut failed) = (0, 0);
    for line in text.lines().filter(|l| l.starts_with("test result:")) {
        let num = |word: &str| -> usize {
            line.split(';')
                .find_map(|p| {
                    p.trim()
                        .strip_suffix(word)?
                        .trim()
                        .rsplit(' ')
                        .next()?
                        .parse()
                        .ok()
                })
                .unwrap_or(0)
        };
        passed += num("passed");
        failed += num("failed");
    }
    if !out.status.success() && failed == 0 {
        failed = 1; // a build failure counts
    }
    Ok((passed, failed))
}

pub fn cmd_test(args: &[String]) -> Result<()> {
    let o = util::Opts::parse(
        args,
        &["scenario"],
        &["host-only", "scenarios-only", "against-xen"],
    )?;
    toolchain::ensure_all()?;
    if o.flag("against-xen") {
        if !o.all("scenario").is_empty() || o.flag("host-only") || o.flag("scenarios-only") {
            bail!("--against-xen runs on its own (tests/xen-ref/xen-abi.toml)");
        }
        return crate::xenref::cmd_against_xen();
    }
    let chosen = o.all("scenario");
    let (mut passed, mut failed) = (0usize, 0usize);
    if chosen.is_empty() && !o.flag("scenarios-only") {
        println!("== host unit tests");
        let (p, f) = host_tests()?;
        passed += p;
        failed += f;
        println!("== SUPPORT.md");
        match support::check() {
            Ok(()) => {
                println!("support check: ok");
                passed += 1;
            }
            Err(e) => {
                println!("support check: FAILED: {e:#}");
                failed += 1;
            }
        }
    }
    if !o.flag("host-only") {
        println!("== QEMU scenarios");
        let names: Vec<String> = if chosen.is_empty() {
            list()?
        } else {
            chosen.iter().map(|s| s.to_string()).collect()
        };
        for name in names {
            match run_one(&name) {
                Ok(()) => passed += 1,
                Err(e) => {
                    println!("scenario {name}: {e:#}");
                    failed += 1;
                }
            }
        }
    }
    if chosen.is_empty() && !o.flag("host-only") {
        println!("== randconfig builds (seeds 1-3; `cargo xtask randconfig --sweep N` does more)");
        let bad = crate::config::randconfig_builds(1..=3)?;
        passed += 3 - bad.len();
        failed += bad.len();
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} test(s) failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_reads_the_numbers_and_checks_the_tolerance() {
        let r = Ratio {
            a: "(d2) testguest: spin:".into(),
            b: "(d1) testguest: spin:".into(),
            want: 2.0,
            tolerance: 0.1,
        };
        let text = "(d1) testguest: spin: 1000 iterations\n(d2) testguest: spin: 2150 iterations\n";
        assert!((r.check(text).unwrap() - 2.15).abs() < 1e-9);
        let text = "(d1) testguest: spin: 1000 iterations\n(d2) testguest: spin: 2250 iterations\n";
        assert!(r.check(text).unwrap_err().contains("2.250"));
        assert!(r
            .check("(d1) testguest: spin: 1000")
            .unwrap_err()
            .contains("no number"));
        let text = "(d1) testguest: spin: 0\n(d2) testguest: spin: 5\n";
        assert!(r.check(text).unwrap_err().contains("is 0"));
    }

    /// Every scenario and the demo setup parse, and name guests and
    /// initramfs inits that exist, so `cargo xtask run` cannot rot unseen.
    #[test]
    fn scenarios_and_the_demo_setup_parse() {
        let mut all: Vec<(String, Scenario)> = list()
            .unwrap()
            .into_iter()
            .map(|n| {
                let sc = load(&n).unwrap();
                (n, sc)
            })
            .collect();
        let demo = util::root().join(crate::qemu::DEMO);
        all.push(("demo".into(), load_path(&demo).unwrap()));
        assert!(all.len() > 1);
        for (name, sc) in &all {
            for d in &sc.domain {
                if let Some(r) = d
                    .ramdisk
                    .as_deref()
                    .and_then(|r| r.strip_prefix("initramfs:"))
                {
                    crate::linux::init_script(r).unwrap_or_else(|e| panic!("{name}: {e}"));
                }
                assert!(
                    d.kernel == "linux" || crate::guests::exists(&d.kernel),
                    "{name}: no guest {}",
                    d.kernel
                );
            }
        }
        let demo = &all.last().unwrap().1;
        assert_eq!(demo.domain.len(), 2);
        assert!(
            demo.interact.is_empty(),
            "the demo is for a person to type into"
        );
    }

    /// The vGIC conformance checks are the same on both GIC versions: the
    /// GICv3 (virt) and GICv2 (zcu102) scenarios expect the same test
    /// guest checks to pass, run the same guest mode, and forbid FAIL.
    #[test]
    fn gicv2_and_gicv3_scenarios_expect_the_same_interrupt_checks() {
        let checks = |name: &str| -> (Vec<String>, String) {
            let sc = load(name).unwrap();
            assert!(sc.forbid.iter().any(|f| f == "FAIL"), "{name}");
            let passes = sc
                .expect
                .iter()
                .filter_map(|e| e.split("testguest: PASS ").nth(1))
                .map(|c| c.split(' ').next().unwrap().to_string())
                .collect();
            (passes, sc.domain[0].bootargs.clone())
        };
        let (v3, args3) = checks("guest-irq");
        let (v2, args2) = checks("zcu102-guest-irq");
        assert_eq!(v3.len(), 7, "{v3:?}");
        assert_eq!(v3, v2);
        assert_eq!(args3, args2);
        assert_eq!(
            load("zcu102-guest-irq").unwrap().machine.as_deref(),
            Some("xlnx-zcu102,virtualization=on")
        );
    }

    #[test]
    fn an_unknown_initramfs_is_refused() {
        assert!(crate::linux::init_script("nope").is_err());
    }
}
