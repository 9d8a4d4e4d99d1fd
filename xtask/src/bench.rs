//! `cargo xtask bench`: figures, never test assertions (docs/performance.md).
//!
//! Four parts: each scheduler's decision cost with 4, 64 and 1024 vCPUs
//! (the `tessera-bench` host binary with every scheduler plugin linked),
//! the image size of every defconfig, the guest-measured paths and a Linux
//! guest's time to userspace (hvbench.rs: QEMU under -icount, Tessera
//! beside a reference hypervisor, Debian's Xen 4.20 unless told
//! otherwise). Results print as tables; `--json PATH` writes them as JSON
//! as well.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::hvbench::{self, Figures, Hv, Stat, GUEST_METRICS};
use crate::{config, image, toolchain, util, xenref};

/// One scheduler measurement.
struct SchedFigure {
    sched: String,
    vcpus: u32,
    /// `None`: the policy cannot take that many vCPUs (`why`).
    result: Result<SchedCost, String>,
}

struct SchedCost {
    pcpus: u32,
    schedule_ns: f64,
    timer_ns: f64,
    decisions: u64,
}

/// Parses the `tessera-bench` records.
fn parse_sched(out: &str) -> Result<(f64, Vec<SchedFigure>)> {
    let mut clock = 0.0;
    let mut figs = vec![];
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[..] {
            ["clock", ns] => clock = ns.parse()?,
            ["sched", name, vcpus, "-", "n/a", why] => figs.push(SchedFigure {
                sched: name.into(),
                vcpus: vcpus.parse()?,
                result: Err(why.into()),
            }),
            ["sched", name, vcpus, pcpus, s, t, n] => figs.push(SchedFigure {
                sched: name.into(),
                vcpus: vcpus.parse()?,
                result: Ok(SchedCost {
                    pcpus: pcpus.parse()?,
                    schedule_ns: s.parse()?,
                    timer_ns: t.parse()?,
                    decisions: n.parse()?,
                }),
            }),
            _ => bail!("tessera-bench printed an unknown record: {line:?}"),
        }
    }
    Ok((clock, figs))
}

fn run_sched_bench() -> Result<(f64, Vec<SchedFigure>)> {
    let features: Vec<String> = config::plugin_crates()?
        .into_iter()
        .map(|p| p.feature)
        .filter(|f| f.starts_with("sched-"))
        .collect();
    if features.is_empty() {
        bail!("no scheduler plugin under plugins/sched");
    }
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(util::root()).args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "tessera",
        "--bin",
        "tessera-bench",
        "--features",
        &features.join(","),
    ]);
    println!(
        "bench: scheduler decision cost (host, {} schedulers)...",
        features.len()
    );
    let out = c.output().context("running tessera-bench")?;
    if !out.status.success() {
        bail!(
            "tessera-bench failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_sched(&String::from_utf8(out.stdout)?)
}

/// `(defconfig, bytes of tessera.bin)` for every configs/*_defconfig.
fn image_sizes() -> Result<Vec<(String, u64)>> {
    let mut defconfigs: Vec<PathBuf> = std::fs::read_dir(util::root().join("configs"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("_defconfig"))
        .collect();
    defconfigs.sort();
    let mut out = vec![];
    for d in defconfigs {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        println!("bench: building {name}...");
        let img = image::build(&d, &[], "")?;
        out.push((name, std::fs::metadata(&img.path)?.len()));
    }
    Ok(out)
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The hypervisor runs of a bench: who ran (Tessera first, then the
/// reference if any) and what each measured.
pub struct Comparison {
    pub hvs: Vec<Hv>,
    /// The reference's package (Xen) or image path, for the report.
    pub reference_detail: Option<String>,
    pub figs: Vec<Figures>,
    /// Bytes of the reference image file.
    pub reference_bytes: Option<u64>,
}

/// `a / b`, when both exist and b is not 0.
fn ratio(a: Option<u64>, b: Option<u64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut o = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// One row of the comparison: a label, each hypervisor's value (or why
/// there is none), the ratio Tessera / reference.
struct Row {
    label: String,
    values: Vec<Result<u64, String>>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        let v = |i: usize| self.values.get(i).and_then(|v| v.as_ref().ok().copied());
        ratio(v(0), v(1))
    }
}

/// The rows of the comparison, in sections: (title, rows).
fn sections(c: &Comparison, sizes: &[(String, u64)]) -> Vec<(String, Vec<Row>)> {
    let mut out = vec![];
    let (n, warm) = c
        .figs
        .iter()
        .flat_map(|f| f.guest.values())
        .find_map(|v| v.as_ref().ok().map(|s| (s.n, s.warm)))
        .unwrap_or((0, 0));
    let guest: Vec<Row> = GUEST_METRICS
        .iter()
        .filter(|m| c.figs.iter().any(|f| f.guest.contains_key(m.0)))
        .map(|m| Row {
            label: m.1.to_string(),
            values: c
                .figs
                .iter()
                .map(|f| match f.guest.get(m.0) {
                    Some(Ok(s)) => Ok(s.median),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err("not measured".into()),
                })
                .collect(),
        })
        .collect();
    if !guest.is_empty() {
        out.push((
            format!("guest-measured, counter ticks (median of {n} after {warm} warm-up)"),
            guest,
        ));
    }
    let mut host = vec![];
    if c.figs.iter().any(|f| !f.guest.is_empty()) {
        for (label, get) in [
            (
                "first guest instruction (CNTPCT), 1 pCPU",
                (|f: &Figures| f.first_1) as fn(&Figures) -> Option<u64>,
            ),
            (
                "first guest instruction (CNTPCT), 2 pCPUs",
                |f: &Figures| f.first_2,
            ),
        ] {
            host.push(Row {
                label: label.into(),
                values: c
                    .figs
                    .iter()
                    .map(|f| get(f).ok_or_else(|| "not reported".to_string()))
                    .collect(),
            });
        }
    }
    if c.figs.iter().any(|f| f.linux.is_some()) {
        host.push(Row {
            label: "Linux guest (1 pCPU): first instruction of /init".into(),
            values: c
                .figs
                .iter()
                .map(|f| match &f.linux {
                    Some(Ok(l)) => Ok(l.userspace),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err("not measured".into()),
                })
                .collect(),
        });
    }
    if !host.is_empty() {
        out.push((
            "host-measured, ns of virtual time from QEMU's start".to_string(),
            host,
        ));
    }
    if !sizes.is_empty() {
        let rows = sizes
            .iter()
            .map(|(name, bytes)| {
                let mut values = vec![Ok(*bytes)];
                if c.hvs.len() > 1 {
                    values.push(c.reference_bytes.ok_or_else(|| "unknown".to_string()));
                }
                Row {
                    label: format!("  {}", name.trim_end_matches("_defconfig")),
                    values,
                }
            })
            .collect();
        out.push(("image size, bytes (per defconfig)".to_string(), rows));
    }
    out
}

/// The comparison as a table (and the reasons behind any missing value).
pub fn comparison_table(c: &Comparison, sizes: &[(String, u64)]) -> String {
    let mut t = String::new();
    let labels: Vec<&str> = c.hvs.iter().map(|h| h.label.as_str()).collect();
    let _ = writeln!(
        t,
        "== {}{}",
        labels.join(" against "),
        c.reference_detail
            .as_deref()
            .map_or(String::new(), |d| format!(" ({d})"))
    );
    let _ = writeln!(
        t,
        "QEMU virt, GICv3, cortex-a57 with a 1 GHz counter, {}:\n\
         a tick is one instruction of any CPU, or a nanosecond in which every CPU idled",
        hvbench::DETERMINISM.join(" ")
    );
    const W: usize = 62;
    let mut notes = vec![];
    for (title, rows) in sections(c, sizes) {
        let _ = write!(t, "\n{title:<W$}");
        for l in &labels {
            let _ = write!(t, " {l:>13}");
        }
        if labels.len() > 1 {
            let _ = write!(t, " {:>12}", format!("{}/{}", labels[0], short(labels[1])));
        }
        t.push('\n');
        for r in rows {
            let _ = write!(t, "{:<W$}", r.label);
            for (i, v) in r.values.iter().enumerate() {
                match v {
                    Ok(x) => {
                        let _ = write!(t, " {:>13}", thousands(*x));
                    }
                    Err(e) => {
                        let _ = write!(t, " {:>13}", "FAIL");
                        notes.push(format!("{} under {}: {e}", r.label.trim(), labels[i]));
                    }
                }
            }
            if labels.len() > 1 {
                match r.ratio() {
                    Some(q) => {
                        let _ = write!(t, " {q:>12.2}");
                    }
                    None => {
                        let _ = write!(t, " {:>12}", "-");
                    }
                }
            }
            t.push('\n');
        }
    }
    for (f, l) in c.figs.iter().zip(&labels) {
        for p in &f.problems {
            notes.push(format!("{l}: {p}"));
        }
    }
    if !notes.is_empty() {
        t.push('\n');
        for n in notes {
            let _ = writeln!(t, "note: {n}");
        }
    }
    t
}

/// "Xen 4.20" -> "Xen": the ratio column's heading.
fn short(label: &str) -> &str {
    label.split_whitespace().next().unwrap_or(label)
}

/// The aims (goals, not assertions): (aim, met?, detail).
pub fn aims(c: &Comparison, sizes: &[(String, u64)]) -> Vec<(String, Option<bool>, String)> {
    let mut out = vec![];
    let reference = c.hvs.get(1).map(|h| short(&h.label).to_string());
    if let Some(x) = &reference {
        if c.figs.iter().any(|f| !f.guest.is_empty()) {
            let mut detail = vec![];
            let (mut over, mut missing) = (false, false);
            for m in GUEST_METRICS {
                let v = |i: usize| match c.figs.get(i).and_then(|f| f.guest.get(m.0)) {
                    Some(Ok(s)) => Some(s.median),
                    _ => None,
                };
                match ratio(v(0), v(1)) {
                    Some(q) => {
                        detail.push(format!("{} {q:.2}", m.0));
                        over |= q > 0.5;
                    }
                    None => {
                        detail.push(format!("{} -", m.0));
                        missing = true;
                    }
                }
            }
            // Missed as soon as one path is over; else unknown while one
            // is missing.
            let met = if over {
                Some(false)
            } else if missing {
                None
            } else {
                Some(true)
            };
            out.push((
                format!("every guest-measured path at most half of {x}'s ticks"),
                met,
                detail.join(", "),
            ));
        }
    }
    if let Some((_, b)) = sizes.iter().find(|(n, _)| n.starts_with("tiny")) {
        out.push((
            "the tiny defconfig's image under 150 KiB".into(),
            Some(*b < 150 * 1024),
            format!("{:.1} KiB", *b as f64 / 1024.0),
        ));
    }
    if let Some(x) = &reference {
        let q = |get: fn(&Figures) -> Option<u64>| {
            ratio(c.figs.first().and_then(get), c.figs.get(1).and_then(get))
        };
        let (q1, q2) = (q(|f| f.first_1), q(|f| f.first_2));
        if c.figs.iter().any(|f| !f.guest.is_empty()) {
            // Judged on 1 pCPU: with 2, cross-CPU waits that the
            // round robin of -icount stretches dominate both boots.
            let s = |q: Option<f64>| q.map_or("-".into(), |q| format!("{q:.2}"));
            out.push((
                format!("first guest instruction in under half of {x}'s time"),
                q1.map(|q| q < 0.5),
                format!("1 pCPU {}; 2 pCPUs {}", s(q1), s(q2)),
            ));
        }
    }
    out
}

fn aims_text(a: &[(String, Option<bool>, String)]) -> String {
    if a.is_empty() {
        return String::new();
    }
    let mut t = String::from("\naims (issue 11; goals, not test assertions):\n");
    for (aim, met, detail) in a {
        let m = match met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "unknown",
        };
        let _ = writeln!(t, "  {aim}: {m} ({detail})");
    }
    t
}

fn stat_json(s: &Result<Stat, String>) -> String {
    match s {
        Ok(s) => format!(
            "{{\"median\": {}, \"min\": {}, \"max\": {}, \"n\": {}, \"warm_up\": {}}}",
            s.median, s.min, s.max, s.n, s.warm
        ),
        Err(e) => format!("{{\"error\": {}}}", json_str(e)),
    }
}

fn opt_json(v: Option<f64>) -> String {
    v.map_or("null".into(), |q| format!("{q:.4}"))
}

fn comparison_json(c: &Comparison, sizes: &[(String, u64)]) -> String {
    let mut j = String::from("  \"hypervisors\": [\n");
    for (i, h) in c.hvs.iter().enumerate() {
        let _ = writeln!(
            j,
            "    {{\"name\": {}, \"image\": {}{}}}{}",
            json_str(&h.label),
            json_str(&h.image.display().to_string()),
            if i == 1 {
                c.reference_detail
                    .as_deref()
                    .map_or(String::new(), |d| format!(", \"detail\": {}", json_str(d)))
            } else {
                String::new()
            },
            if i + 1 < c.hvs.len() { "," } else { "" }
        );
    }
    let _ = writeln!(
        j,
        "  ],\n  \"method\": {},",
        json_str(&format!(
            "QEMU virt,virtualization=on,gic-version=3, cortex-a57 with cntfrq=1000000000, {}; \
             guest figures are CNTVCT differences (median, min, max of n after warm_up), host \
             figures the counter (virtual ns) from QEMU's start",
            hvbench::DETERMINISM.join(" ")
        ))
    );
    j.push_str("  \"guest_measured\": [\n");
    let metrics: Vec<_> = GUEST_METRICS
        .iter()
        .filter(|m| c.figs.iter().any(|f| f.guest.contains_key(m.0)))
        .collect();
    for (k, m) in metrics.iter().enumerate() {
        let per: Vec<String> = c
            .figs
            .iter()
            .map(|f| stat_json(f.guest.get(m.0).unwrap_or(&Err("not measured".to_string()))))
            .collect();
        let med = |i: usize| match c.figs.get(i).and_then(|f| f.guest.get(m.0)) {
            Some(Ok(s)) => Some(s.median),
            _ => None,
        };
        let _ = writeln!(
            j,
            "    {{\"metric\": {}, \"label\": {}, \"unit\": \"ticks\", \"results\": [{}], \"ratio\": {}}}{}",
            json_str(m.0),
            json_str(m.1),
            per.join(", "),
            opt_json(ratio(med(0), med(1))),
            if k + 1 < metrics.len() { "," } else { "" }
        );
    }
    j.push_str("  ],\n  \"host_measured\": [\n");
    let first_1: Vec<Option<u64>> = c.figs.iter().map(|f| f.first_1).collect();
    let first_2: Vec<Option<u64>> = c.figs.iter().map(|f| f.first_2).collect();
    let linux: Vec<Option<u64>> = c
        .figs
        .iter()
        .map(|f| match &f.linux {
            Some(Ok(l)) => Some(l.userspace),
            _ => None,
        })
        .collect();
    let list = |v: &[Option<u64>]| {
        v.iter()
            .map(|x| x.map_or("null".into(), |x| x.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, v) in [
        ("first_guest_instruction_1_pcpu", &first_1),
        ("first_guest_instruction_2_pcpus", &first_2),
    ] {
        let _ = writeln!(
            j,
            "    {{\"metric\": \"{name}\", \"unit\": \"ns\", \"results\": [{}], \"ratio\": {}}},",
            list(v),
            opt_json(ratio(v[0], v.get(1).copied().flatten()))
        );
    }
    let _ = writeln!(
        j,
        "    {{\"metric\": \"linux_userspace\", \"unit\": \"ns\", \"results\": [{}], \"ratio\": {}}}",
        list(&linux),
        opt_json(ratio(linux[0], linux.get(1).copied().flatten()))
    );
    j.push_str("  ],\n");
    let _ = writeln!(
        j,
        "  \"reference_image_bytes\": {},",
        c.reference_bytes.map_or("null".into(), |b| b.to_string())
    );
    let a = aims(c, sizes);
    j.push_str("  \"aims\": [\n");
    for (i, (aim, met, detail)) in a.iter().enumerate() {
        let _ = writeln!(
            j,
            "    {{\"aim\": {}, \"met\": {}, \"detail\": {}}}{}",
            json_str(aim),
            met.map_or("null".into(), |m| m.to_string()),
            json_str(detail),
            if i + 1 < a.len() { "," } else { "" }
        );
    }
    j.push_str("  ],\n");
    j
}

fn to_json(
    clock: f64,
    sched: &[SchedFigure],
    sizes: &[(String, u64)],
    cmp: Option<&Comparison>,
) -> String {
    let mut j = String::from("{\n");
    if let Some(c) = cmp {
        j += &comparison_json(c, sizes);
    }
    j.push_str("  \"scheduler_decision\": {\n");
    let _ = writeln!(
        j,
        "    \"method\": \"host, ns per call of schedule and of the due policy timers, clock cost ({clock:.1} ns) taken off\","
    );
    j.push_str("    \"results\": [\n");
    for (i, f) in sched.iter().enumerate() {
        let body = match &f.result {
            Ok(c) => format!(
                "\"pcpus\": {}, \"schedule_ns\": {:.1}, \"timer_ns\": {:.1}, \"decisions\": {}",
                c.pcpus, c.schedule_ns, c.timer_ns, c.decisions
            ),
            Err(why) => format!("\"not_applicable\": {}", json_str(why)),
        };
        let _ = writeln!(
            j,
            "      {{\"sched\": {}, \"vcpus\": {}, {body}}}{}",
            json_str(&f.sched),
            f.vcpus,
            if i + 1 < sched.len() { "," } else { "" }
        );
    }
    j.push_str("    ]\n  },\n  \"image_size\": [\n");
    for (i, (name, bytes)) in sizes.iter().enumerate() {
        let _ = writeln!(
            j,
            "    {{\"defconfig\": {}, \"bytes\": {bytes}}}{}",
            json_str(name),
            if i + 1 < sizes.len() { "," } else { "" }
        );
    }
    j.push_str("  ]\n}\n");
    j
}

fn print_table(sched: &[SchedFigure], sizes: &[(String, u64)]) {
    if !sched.is_empty() {
        println!();
        println!("Scheduler decision cost (host ns per scheduling point; all vCPUs CPU-bound)");
        println!(
            "{:<10} {:>6} {:>6} {:>12} {:>12} {:>10}",
            "sched", "vCPUs", "pCPUs", "schedule ns", "timers ns", "decisions"
        );
    }
    for f in sched {
        match &f.result {
            Ok(c) => println!(
                "{:<10} {:>6} {:>6} {:>12.1} {:>12.1} {:>10}",
                f.sched, f.vcpus, c.pcpus, c.schedule_ns, c.timer_ns, c.decisions
            ),
            Err(why) => println!(
                "{:<10} {:>6} {:>6} {:>12} ({why})",
                f.sched, f.vcpus, "-", "n/a"
            ),
        }
    }
    if !sizes.is_empty() {
        println!();
        println!("Image size (tessera.bin)");
        for (name, bytes) in sizes {
            println!(
                "{name:<32} {bytes:>10} B {:>8.1} KiB",
                *bytes as f64 / 1024.0
            );
        }
    }
}

const PARTS: [&str; 4] = ["sched", "size", "guest", "linux"];

/// `cargo xtask bench [--json PATH] [--only PART] [--hypervisor xen|PATH |
/// --no-xen]`.
pub fn cmd_bench(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let o = util::Opts::parse(args, &["json", "only", "hypervisor"], &["no-xen"])?;
    let only = o.value("only");
    if let Some(w) = only {
        if !PARTS.contains(&w) {
            bail!("--only takes one of {}, not {w:?}", PARTS.join(", "));
        }
    }
    let part = |p: &str| only.is_none() || only == Some(p);
    if o.flag("no-xen") && o.value("hypervisor").is_some() {
        bail!("--no-xen and --hypervisor exclude each other");
    }
    toolchain::ensure_all()?;
    let (clock, sched) = if part("sched") {
        run_sched_bench()?
    } else {
        (0.0, vec![])
    };
    let sizes = if part("size") { image_sizes()? } else { vec![] };
    let cmp = if part("guest") || part("linux") {
        let mut hvs = vec![Hv {
            label: "Tessera".into(),
            tag: "tessera".into(),
            image: PathBuf::new(), // the image each setup asks for
        }];
        let mut detail = None;
        if !o.flag("no-xen") {
            match o.value("hypervisor") {
                None | Some("xen") => {
                    let image = xenref::xen_image()?;
                    detail = crate::linux::read_trimmed(&image.with_file_name("xen-package"));
                    hvs.push(Hv {
                        label: "Xen 4.20".into(),
                        tag: "xen".into(),
                        image,
                    });
                }
                Some(p) => {
                    let image = std::fs::canonicalize(p)
                        .with_context(|| format!("--hypervisor {p}: no such image"))?;
                    detail = Some(image.display().to_string());
                    hvs.push(Hv {
                        label: hvbench::label_of(&image),
                        tag: "ref".into(),
                        image,
                    });
                }
            }
        }
        let reference_bytes = hvs
            .get(1)
            .and_then(|h| std::fs::metadata(&h.image).ok())
            .map(|m| m.len());
        let figs = hvbench::measure(&hvs, part("guest"), part("linux"))?;
        Some(Comparison {
            hvs,
            reference_detail: detail,
            figs,
            reference_bytes,
        })
    } else {
        None
    };
    print_table(&sched, &sizes);
    if let Some(c) = &cmp {
        println!();
        print!("{}", comparison_table(c, &sizes));
        print!("{}", aims_text(&aims(c, &sizes)));
    }
    if let Some(path) = o.value("json") {
        std::fs::write(path, to_json(clock, &sched, &sizes, cmp.as_ref()))
            .with_context(|| format!("writing {path}"))?;
        println!("\nJSON written to {path}");
    }
    println!("\nbench: {:.0} s in all", started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_become_json() {
        let out = "clock\t21.5\nsched\tnull\t1024\t-\tn/a\tone vCPU per pCPU\n\
                   sched\tcredit\t4\t4\t80.5\t79.0\t700000\n";
        let (clock, figs) = parse_sched(out).unwrap();
        assert_eq!(clock, 21.5);
        assert_eq!(figs.len(), 2);
        assert!(figs[0].result.is_err());
        let c = figs[1].result.as_ref().unwrap();
        assert_eq!((c.pcpus, c.decisions), (4, 700000));
        let j = to_json(clock, &figs, &[("tiny\"_defconfig".into(), 1234)], None);
        assert!(
            j.contains("\"not_applicable\": \"one vCPU per pCPU\""),
            "{j}"
        );
        assert!(j.contains("\"schedule_ns\": 80.5"), "{j}");
        assert!(
            j.contains("{\"defconfig\": \"tiny\\\"_defconfig\", \"bytes\": 1234}"),
            "{j}"
        );
        assert!(parse_sched("sched\tx\n").is_err());
    }

    fn stat(median: u64) -> Result<Stat, String> {
        Ok(Stat {
            median,
            min: median,
            max: median,
            n: 51,
            warm: 10,
        })
    }

    fn comparison() -> Comparison {
        let hv = |label: &str| Hv {
            label: label.into(),
            tag: "x".into(),
            image: PathBuf::from("/x"),
        };
        let mut t = Figures::default();
        let mut x = Figures::default();
        for (k, a, b) in [
            ("hypercall", 200, 427),
            ("mmio", 300, 639),
            ("sgi", 3000, 6304),
            ("timer", 2000, 4397),
            ("switch", 1900, 3817),
        ] {
            t.guest.insert(k.into(), stat(a));
            x.guest.insert(k.into(), stat(b));
        }
        t.guest.insert("evtchn".into(), Err("no upcall".into()));
        x.guest.insert("evtchn".into(), stat(8099));
        (t.first_1, x.first_1) = (Some(48_670_531), Some(13_622_540));
        (t.first_2, x.first_2) = (Some(125_255_340), Some(690_574_240));
        t.linux = Some(Ok(hvbench::LinuxTimes {
            userspace: 1_019_485_127,
            shim: 38_065_968,
        }));
        x.linux = Some(Err("timed out".into()));
        Comparison {
            hvs: vec![hv("Tessera"), hv("Xen 4.20")],
            reference_detail: Some("xen 4.20.4".into()),
            figs: vec![t, x],
            reference_bytes: Some(1_015_816),
        }
    }

    #[test]
    fn the_comparison_table_has_values_ratios_and_reasons() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let c = comparison();
        let sizes = [("tiny-arm64_defconfig".to_string(), 150_000u64)];
        let t = comparison_table(&c, &sizes);
        let line = |start: &str| {
            t.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in\n{t}"))
                .split_whitespace()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
        };
        assert_eq!(line("null hypercall"), ["0.47", "427", "200"]);
        assert_eq!(line("event channel"), ["-", "8,099", "FAIL"]);
        assert_eq!(
            line("first guest instruction (CNTPCT), 1 pCPU"),
            ["3.57", "13,622,540", "48,670,531"]
        );
        assert_eq!(line("Linux guest"), ["-", "FAIL", "1,019,485,127"]);
        assert_eq!(line("  tiny"), ["0.15", "1,015,816", "150,000"]);
        assert!(t.contains("Tessera/Xen"), "{t}");
        assert!(
            t.contains(
                "note: event channel, send to upcall on another vCPU under Tessera: no upcall"
            ),
            "{t}"
        );
        assert!(t.contains("under Xen 4.20: timed out"), "{t}");
        let a = aims(&c, &sizes);
        // evtchn is missing but none is over half: unknown.
        assert_eq!(a[0].1, None, "{a:?}");
        assert!(
            a[0].2.contains("hypercall 0.47") && a[0].2.contains("evtchn -"),
            "{a:?}"
        );
        assert_eq!(
            a[1],
            (
                "the tiny defconfig's image under 150 KiB".into(),
                Some(true),
                "146.5 KiB".into()
            )
        );
        assert_eq!(a[2].1, Some(false));
        assert_eq!(a[2].2, "1 pCPU 3.57; 2 pCPUs 0.18");
        let j = to_json(0.0, &[], &sizes, Some(&c));
        assert!(j.contains("\"metric\": \"hypercall\""), "{j}");
        assert!(j.contains("\"ratio\": 0.4684"), "{j}");
        assert!(j.contains("{\"error\": \"no upcall\"}"), "{j}");
        assert!(
            j.contains("\"linux_userspace\", \"unit\": \"ns\", \"results\": [1019485127, null]"),
            "{j}"
        );
        assert!(j.contains("\"met\": false"), "{j}");
        // Alone: one column, no ratios, no aims that need a reference.
        let alone = Comparison {
            hvs: vec![c.hvs[0].clone()],
            reference_detail: None,
            figs: vec![comparison().figs.remove(0)],
            reference_bytes: None,
        };
        let t = comparison_table(&alone, &[]);
        assert!(!t.contains("Tessera/"), "{t}");
        assert!(aims(&alone, &[]).is_empty());
    }
}
