//! The part of `cargo xtask bench` that boots hypervisors: the test guest's
//! mode=bench (tests/guests/testguest/src/bench.rs) under Tessera and under
//! a reference image that takes the same dom0less device tree (Debian's
//! Xen 4.20 by default, docs/xen-reference.md), on the same QEMU machine
//! under `-icount shift=0,align=off,sleep=off -seed 1 -rtc clock=vm`, and
//! a Linux guest's time to userspace. docs/performance.md has the method.
//!
//! Three setups under tests/bench/ (the scenario format, read for their
//! machine, xen,xen-bootargs and domains): main.toml (2 vCPUs on 2 pCPUs:
//! hypercall, MMIO, timer, SGI, event channel, and the guest's first
//! counter read), switch.toml (2 vCPUs on 1 pCPU: the vCPU switch) and
//! linux.toml (the test guest as a shim in front of Debian's Linux, whose
//! /init reads the virtual counter first thing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::qemu::{self, Boot, Machine};
use crate::scenario::{self, Ended};
use crate::{util, xenref};

/// The setups, relative to the root.
pub const MAIN: &str = "tests/bench/main.toml";
pub const SWITCH: &str = "tests/bench/switch.toml";
pub const LINUX: &str = "tests/bench/linux.toml";

/// What every benchmark run adds to QEMU's command line: virtual time
/// driven by the instruction count (one nanosecond per instruction, the
/// clock jumping ahead when every CPU idles), a fixed seed for QEMU's
/// randomness (the device tree's rng-seed and kaslr-seed) and the RTC on
/// virtual time, so that runs repeat exactly.
pub const DETERMINISM: [&str; 6] = [
    "-icount",
    "shift=0,align=off,sleep=off",
    "-seed",
    "1",
    "-rtc",
    "clock=vm",
];

/// The guest-measured figures, in the order of the table: key (the test
/// guest's `bench-KEY`), label, setup.
pub const GUEST_METRICS: [(&str, &str, &str); 6] = [
    (
        "hypercall",
        "null hypercall (xen_version), round trip",
        MAIN,
    ),
    (
        "mmio",
        "emulated MMIO read (vpl011 UARTFR), round trip",
        MAIN,
    ),
    ("sgi", "virtual SGI, send to handler on another vCPU", MAIN),
    ("timer", "virtual timer, deadline to handler", MAIN),
    (
        "switch",
        "vCPU switch (SCHEDOP_yield, 2 vCPUs, 1 pCPU)",
        SWITCH,
    ),
    (
        "evtchn",
        "event channel, send to upcall on another vCPU",
        MAIN,
    ),
];

/// The marker Linux's /init prints (see [`init_elf`]).
pub const USERSPACE_MARKER: &str = "TESSERA-BENCH-USERSPACE cntvct ";

fn dir() -> PathBuf {
    util::root().join("target/bench")
}

/// One figure of the test guest: `PASS bench-KEY (median M min A max B n N
/// warm W)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: u64,
    pub min: u64,
    pub max: u64,
    pub n: u64,
    pub warm: u64,
}

/// The Linux guest's times, in counter ticks (virtual ns) from QEMU's
/// start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinuxTimes {
    /// /init's first instruction, the shim's time taken off.
    pub userspace: u64,
    /// The shim's time (its entry to its jump into Linux).
    pub shim: u64,
}

/// Everything measured under one hypervisor.
#[derive(Debug, Default)]
pub struct Figures {
    pub guest: BTreeMap<String, Result<Stat, String>>,
    /// CNTPCT at the bench guest's first instruction: on 1 pCPU
    /// (switch.toml) and on 2 (main.toml).
    pub first_1: Option<u64>,
    pub first_2: Option<u64>,
    pub linux: Option<Result<LinuxTimes, String>>,
    /// Lines that say a run went wrong (FAIL outside a figure, timeouts).
    pub problems: Vec<String>,
    /// Wall-clock seconds of each run.
    pub runs: Vec<(String, f64)>,
}

/// What one run of a setup printed, read back.
#[derive(Debug, Default, PartialEq)]
pub struct GuestRun {
    /// (CNTPCT, CNTVCT) at the guest's first instruction.
    pub entry: Option<(u64, u64)>,
    pub figures: Vec<(String, Result<Stat, String>)>,
    /// Other FAIL lines.
    pub fails: Vec<String>,
    /// CNTPCT when the shim jumped into Linux.
    pub linux_jump: Option<u64>,
    /// CNTVCT at /init's first instruction.
    pub userspace_cntvct: Option<u64>,
    pub done: bool,
}

/// The numbers after `word` in `text` (`word N`).
fn num_after(text: &str, word: &str) -> Option<u64> {
    let mut it = text.split_whitespace();
    while let Some(w) = it.next() {
        if w == word {
            return it.next()?.trim_end_matches(')').parse().ok();
        }
    }
    None
}

/// Reads what domain `domid` printed (Tessera's `(dN) `, Xen's
/// `(XEN) DOMN: ` prefixes) and the Linux userspace marker.
pub fn parse_run(log: &str, domid: u32) -> GuestRun {
    let mut r = GuestRun::default();
    for line in log.lines() {
        if let Some(i) = line.find(USERSPACE_MARKER) {
            r.userspace_cntvct = line[i + USERSPACE_MARKER.len()..].trim().parse().ok();
        }
        let Some(text) = xenref::domain_text(line, domid) else {
            continue;
        };
        if let Some(rest) = text.strip_prefix("info bench entry ") {
            if let (Some(p), Some(v)) = (num_after(rest, "cntpct"), num_after(rest, "cntvct")) {
                r.entry = Some((p, v));
            }
        } else if let Some(rest) = text.strip_prefix("info bench linux-jump ") {
            r.linux_jump = num_after(rest, "cntpct");
        } else if let Some(rest) = text.strip_prefix("PASS bench-") {
            let (key, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            let stat = (|| {
                Some(Stat {
                    median: num_after(detail, "(median")?,
                    min: num_after(detail, "min")?,
                    max: num_after(detail, "max")?,
                    n: num_after(detail, "n")?,
                    warm: num_after(detail, "warm")?,
                })
            })();
            r.figures.push((
                key.to_string(),
                stat.ok_or_else(|| format!("unreadable figure: {text}")),
            ));
        } else if let Some(rest) = text.strip_prefix("FAIL bench-") {
            let (key, why) = rest.split_once(": ").unwrap_or((rest, ""));
            r.figures.push((key.to_string(), Err(why.to_string())));
        } else if text.starts_with("FAIL ") {
            r.fails.push(text.to_string());
        } else if text.starts_with("done,") {
            r.done = true;
        }
    }
    r
}

/// `/init` of the Linux benchmark: a static arm64 Linux executable that
/// reads CNTVCT_EL0 first, prints `TESSERA-BENCH-USERSPACE cntvct N` on
/// its standard output (the console) and execs `/bin/poweroff -f`.
/// Hand-assembled (llvm-mc -triple=aarch64) from:
///
/// ```text
///     isb
///     mrs  x9, cntvct_el0
///     sub  sp, sp, #64
///     add  x10, sp, #48          // end of the digit buffer
///     mov  x11, x10
///     mov  x12, #10
///     strb w12, [x11, #-1]!      // '\n'
/// 1:  udiv x14, x9, x12
///     msub x15, x14, x12, x9
///     add  w15, w15, #48
///     strb w15, [x11, #-1]!
///     mov  x9, x14
///     cbnz x9, 1b
///     mov  x0, #1                // write(1, prefix, 31)
///     adr  x1, prefix
///     mov  x2, #31
///     mov  x8, #64
///     svc  #0
///     mov  x0, #1                // write(1, digits, n)
///     mov  x1, x11
///     sub  x2, x10, x11
///     mov  x8, #64
///     svc  #0
///     adr  x0, path              // execve("/bin/poweroff", {path, "-f", 0}, 0)
///     adr  x3, arg1
///     stp  x0, x3, [sp]
///     str  xzr, [sp, #16]
///     mov  x1, sp
///     mov  x2, #0
///     mov  x8, #221
///     svc  #0
///     mov  x0, #1                // exit(1)
///     mov  x8, #93
///     svc  #0
/// prefix: .ascii "TESSERA-BENCH-USERSPACE cntvct "
/// path:   .asciz "/bin/poweroff"
/// arg1:   .asciz "-f"
/// ```
const INIT_CODE: [u32; 34] = [
    0xd5033fdf, 0xd53be049, 0xd10103ff, 0x9100c3ea, 0xaa0a03eb, 0xd280014c, 0x381ffd6c, 0x9acc092e,
    0x9b0ca5cf, 0x1100c1ef, 0x381ffd6f, 0xaa0e03e9, 0xb5ffff69, 0xd2800020, 0x10000281, 0xd28003e2,
    0xd2800808, 0xd4000001, 0xd2800020, 0xaa0b03e1, 0xcb0b0142, 0xd2800808, 0xd4000001, 0x70000240,
    0x300002a3, 0xa9000fe0, 0xf9000bff, 0x910003e1, 0xd2800002, 0xd2801ba8, 0xd4000001, 0xd2800020,
    0xd2800ba8, 0xd4000001,
];
const INIT_DATA: &[u8] = b"TESSERA-BENCH-USERSPACE cntvct /bin/poweroff\0-f\0";

/// The ELF of [`INIT_CODE`]: one read-execute segment at 0x400000 holding
/// the ELF and program headers (120 bytes) and the code.
pub fn init_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HDRS: u64 = 64 + 56;
    let mut body: Vec<u8> = INIT_CODE.iter().flat_map(|w| w.to_le_bytes()).collect();
    body.extend_from_slice(INIT_DATA);
    let size = HDRS + body.len() as u64;
    let mut e = Vec::with_capacity(size as usize);
    e.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + HDRS).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for h in [64u16, 56, 1, 64, 0, 0] {
        e.extend_from_slice(&h.to_le_bytes()); // ehsize phentsize phnum shentsize shnum shstrndx
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    e.extend_from_slice(&0u64.to_le_bytes()); // offset
    e.extend_from_slice(&BASE.to_le_bytes()); // vaddr
    e.extend_from_slice(&BASE.to_le_bytes()); // paddr
    e.extend_from_slice(&size.to_le_bytes()); // filesz
    e.extend_from_slice(&size.to_le_bytes()); // memsz
    e.extend_from_slice(&0x1000u64.to_le_bytes());
    e.extend_from_slice(&body);
    e
}

/// The ramdisk of bench=linux: a 4 KiB header ("TSRB", 0, then the offset
/// and length of the Image and of the initramfs as u64), the arm64 Image,
/// the initramfs at the next 4 KiB boundary.
pub fn bundle(image: &[u8], initramfs: &[u8]) -> Vec<u8> {
    let io = 4096u64;
    let co = (io + image.len() as u64).div_ceil(4096) * 4096;
    let mut b = vec![0u8; co as usize];
    b[0..4].copy_from_slice(b"TSRB");
    for (i, v) in [io, image.len() as u64, co, initramfs.len() as u64]
        .iter()
        .enumerate()
    {
        b[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    b[io as usize..io as usize + image.len()].copy_from_slice(image);
    b.extend_from_slice(initramfs);
    b
}

/// target/bench/linux-bundle.bin: Debian's kernel and the initramfs whose
/// /init is [`init_elf`].
fn linux_bundle() -> Result<PathBuf> {
    let kernel = std::fs::read(crate::linux::kernel()?)?;
    let initramfs = std::fs::read(crate::linux::initramfs("bench", &init_elf())?)?;
    let out = dir().join("linux-bundle.bin");
    std::fs::create_dir_all(dir())?;
    let b = bundle(&kernel, &initramfs);
    if std::fs::read(&out).ok().as_deref() != Some(&b[..]) {
        std::fs::write(&out, b)?;
    }
    Ok(out)
}

/// A hypervisor image to run the setups under.
#[derive(Debug, Clone)]
pub struct Hv {
    /// "Tessera", "Xen 4.20", or a file name.
    pub label: String,
    /// Short name for log files.
    pub tag: String,
    pub image: PathBuf,
}

/// A setup, its machine (device tree and modules built) and the Tessera
/// image it asks for.
pub struct Prepared {
    pub name: String,
    pub sc: scenario::Scenario,
    pub machine: Machine,
    pub tessera: PathBuf,
}

/// Builds what a setup needs: its Tessera image, guests, device tree.
pub fn prepare(setup: &str) -> Result<Prepared> {
    let path = util::root().join(setup);
    let mut sc = scenario::load_path(&path)?;
    let name = path
        .file_stem()
        .map_or("bench".into(), |s| s.to_string_lossy().into_owned());
    if sc
        .domain
        .iter()
        .any(|d| d.ramdisk.as_deref() == Some("bench:linux"))
    {
        let b = linux_bundle()?.display().to_string();
        for d in &mut sc.domain {
            if d.ramdisk.as_deref() == Some("bench:linux") {
                d.ramdisk = Some(b.clone());
            }
        }
    }
    let img = scenario::build_image(&sc, false)?;
    // The -seed goes in first: the device tree dumped from QEMU has it too.
    let base = Machine {
        extra: DETERMINISM.iter().map(|s| s.to_string()).collect(),
        ..Machine::default()
    };
    let machine = scenario::machine_on(base, &format!("bench-{name}"), &sc, &dir())?;
    Ok(Prepared {
        name,
        sc,
        machine,
        tessera: img.path,
    })
}

/// Boots `hv` on the setup's machine until the bench domain's tally (or
/// the Linux marker, or a FAIL of the shim), QEMU's exit or the timeout.
pub fn run(p: &Prepared, hv: &Hv) -> Result<(GuestRun, String, f64)> {
    let boot = Boot::Kernel {
        append: p.sc.append.clone(),
    };
    let mut cmd = qemu::command(&p.machine, &boot, &hv.image, false);
    eprintln!(
        "xtask: {} / {}: {:?} {}",
        p.name,
        hv.label,
        cmd.get_program(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let domid = 1 + p
        .sc
        .domain
        .iter()
        .position(|d| d.bootargs.contains("mode=bench"))
        .context("the setup has no mode=bench domain")? as u32;
    let until = [
        format!("(d{domid}) testguest: done,"),
        format!("DOM{domid}: testguest: done,"),
        USERSPACE_MARKER.to_string(),
    ];
    let until: Vec<&str> = until.iter().map(String::as_str).collect();
    let t = Instant::now();
    let (out, ended) =
        scenario::run_qemu(&mut cmd, &[], Duration::from_secs(p.sc.timeout), &until)?;
    let secs = t.elapsed().as_secs_f64();
    let log = dir().join(format!("{}-{}.log", p.name, hv.tag));
    std::fs::write(&log, &out)?;
    let text = String::from_utf8_lossy(&out);
    let mut r = parse_run(&text, domid);
    let how = match ended {
        Ended::TimedOut => {
            r.fails
                .push(format!("{}: timed out after {} s", p.name, p.sc.timeout));
            "TIMED OUT".to_string()
        }
        Ended::Stopped => "stopped at its last line".to_string(),
        Ended::Exited(c) => format!("QEMU exited {c}"),
    };
    println!(
        "bench: {} under {}: {} ({secs:.1} s); log {}",
        p.name,
        hv.label,
        how,
        log.display()
    );
    Ok((r, log.display().to_string(), secs))
}

/// Runs every setup under each hypervisor: `guest` (main.toml and
/// switch.toml) and/or `linux` (linux.toml).
pub fn measure(hvs: &[Hv], guest: bool, linux: bool) -> Result<Vec<Figures>> {
    let mut setups = vec![];
    if guest {
        setups.extend([MAIN, SWITCH]);
    }
    if linux {
        setups.push(LINUX);
    }
    let mut figs: Vec<Figures> = hvs.iter().map(|_| Figures::default()).collect();
    for setup in setups {
        let p = prepare(setup)?;
        for (i, hv) in hvs.iter().enumerate() {
            // Tessera's column runs the image the setup asks for.
            let hv = if i == 0 {
                Hv {
                    image: p.tessera.clone(),
                    ..hv.clone()
                }
            } else {
                hv.clone()
            };
            let (r, log, secs) = run(&p, &hv)?;
            let f = &mut figs[i];
            f.runs.push((p.name.clone(), secs));
            for x in &r.fails {
                f.problems.push(format!("{}: {x} (log {log})", p.name));
            }
            if setup == LINUX {
                f.linux = Some(linux_times(&r).map_err(|e| format!("{e} (log {log})")));
                continue;
            }
            match setup {
                MAIN => f.first_2 = r.entry.map(|e| e.0),
                _ => f.first_1 = r.entry.map(|e| e.0),
            }
            let wanted: Vec<&str> = GUEST_METRICS
                .iter()
                .filter(|m| m.2 == setup)
                .map(|m| m.0)
                .collect();
            for (k, v) in r.figures {
                f.guest.insert(k, v);
            }
            for k in wanted {
                f.guest.entry(k.to_string()).or_insert_with(|| {
                    Err(format!(
                        "not reported{} (log {log})",
                        if r.done {
                            ""
                        } else {
                            "; the guest did not finish"
                        }
                    ))
                });
            }
        }
    }
    Ok(figs)
}

/// The Linux guest's time to userspace from QEMU's start: CNTVCT at
/// /init plus the domain's counter offset (CNTPCT - CNTVCT at the shim's
/// entry), minus the shim's own time (entry to jump).
pub fn linux_times(r: &GuestRun) -> Result<LinuxTimes> {
    if let Some((k, Err(e))) = r.figures.iter().find(|f| f.0 == "linux") {
        bail!("the shim failed ({k}): {e}");
    }
    let (pct0, vct0) = r.entry.context("the shim's entry line is missing")?;
    let jump = r.linux_jump.context("the shim did not jump into Linux")?;
    let user = r
        .userspace_cntvct
        .context("Linux's /init did not print its counter")?;
    let shim = jump
        .checked_sub(pct0)
        .context("the shim jumped before it started")?;
    let offset = pct0.checked_sub(vct0).context("CNTVCT ahead of CNTPCT")?;
    let userspace = (user + offset)
        .checked_sub(shim)
        .context("userspace before the shim ended")?;
    Ok(LinuxTimes { userspace, shim })
}

/// The reference image's label: Xen with its package version, else the
/// file name.
pub fn label_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_hypervisors_logs_read_the_same() {
        let tessera = "(HV) d1 (bench): 2 vCPUs\n\
            (d1) testguest: info bench entry cntpct 125205076 cntvct 19957 freq 1000000000\r\n\
            (d1) testguest: info bench clock-overhead 2\n\
            (d1) testguest: PASS bench-hypercall (median 1872 min 1870 max 1900 n 51 warm 10)\n\
            (d1) testguest: FAIL bench-evtchn: 61 of 61 sends without exactly one upcall\n\
            (d1) testguest: FAIL exception: sync vec 4\n\
            (d1) testguest: done, 1 passed, 2 failed\n";
        let xen = "(XEN) DOM1: testguest: info bench entry cntpct 690573769 cntvct 3020435 freq 1000000000\n\
            (XEN) DOM1: testguest: PASS bench-hypercall (median 427 min 427 max 427 n 51 warm 10)\n\
            (XEN) DOM1: testguest: info bench linux-jump cntpct 700000000 image 0x40200000\n\
            (XEN) DOM1: TESSERA-BENCH-USERSPACE cntvct 900000000\n\
            (XEN) DOM1: testguest: done, 1 passed, 0 failed\n";
        let t = parse_run(tessera, 1);
        assert_eq!(t.entry, Some((125205076, 19957)));
        assert_eq!(
            t.figures[0],
            (
                "hypercall".to_string(),
                Ok(Stat {
                    median: 1872,
                    min: 1870,
                    max: 1900,
                    n: 51,
                    warm: 10
                })
            )
        );
        assert_eq!(
            t.figures[1],
            (
                "evtchn".to_string(),
                Err("61 of 61 sends without exactly one upcall".to_string())
            )
        );
        assert_eq!(t.fails, ["FAIL exception: sync vec 4"]);
        assert!(t.done);
        let x = parse_run(xen, 1);
        assert_eq!(x.figures[0].1.as_ref().unwrap().median, 427);
        assert_eq!(x.linux_jump, Some(700_000_000));
        assert_eq!(x.userspace_cntvct, Some(900_000_000));
        // 900,000,000 + (690,573,769 - 3,020,435) - (700,000,000 - 690,573,769)
        let l = linux_times(&x).unwrap();
        assert_eq!(l.shim, 9_426_231);
        assert_eq!(l.userspace, 900_000_000 + 687_553_334 - 9_426_231);
        assert!(parse_run("(d2) testguest: done, 0 passed, 0 failed", 1) == GuestRun::default());
    }

    #[test]
    fn the_init_is_an_arm64_executable() {
        let e = init_elf();
        assert_eq!(&e[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([e[18], e[19]]), 183);
        let entry = u64::from_le_bytes(e[24..32].try_into().unwrap());
        assert_eq!(entry, 0x40_0078);
        let filesz = u64::from_le_bytes(e[64 + 32..64 + 40].try_into().unwrap());
        assert_eq!(filesz, e.len() as u64);
        // adr x1, prefix: the prefix is where the code says.
        let adr = INIT_CODE[14];
        let imm = ((adr >> 5) & 0x7ffff) << 2 | (adr >> 29) & 3;
        let at = 120 + 14 * 4 + imm as usize;
        assert_eq!(&e[at..at + 31], USERSPACE_MARKER.as_bytes());
        assert_eq!(INIT_CODE[15], 0xd280_0000 | (31 << 5) | 2); // mov x2, #31
    }

    #[test]
    fn the_bundle_says_where_its_parts_are() {
        let b = bundle(&[1u8; 5000], &[2u8; 10]);
        let at = |i: usize| u64::from_le_bytes(b[8 + 8 * i..16 + 8 * i].try_into().unwrap());
        assert_eq!(&b[..4], b"TSRB");
        assert_eq!((at(0), at(1), at(2), at(3)), (4096, 5000, 12288, 10));
        assert_eq!(b[4096], 1);
        assert_eq!(b[12288..], [2u8; 10]);
    }

    #[test]
    fn the_bench_setups_parse() {
        for s in [MAIN, SWITCH, LINUX] {
            let sc = scenario::load_path(&util::root().join(s)).unwrap();
            assert!(sc.domain.iter().any(|d| d.bootargs.contains("mode=bench")));
            for d in &sc.domain {
                assert!(
                    crate::guests::exists(&d.kernel),
                    "{s}: no guest {}",
                    d.kernel
                );
            }
        }
        assert!(GUEST_METRICS.iter().all(|m| [MAIN, SWITCH].contains(&m.2)));
    }
}
