//! `cargo xtask bench`: figures, never test assertions (docs/performance.md).
//!
//! Today: each scheduler's decision cost with 4, 64 and 1024 vCPUs (the
//! `tessera-bench` host binary with every scheduler plugin linked) and the
//! image size of every defconfig. Results print as a table; `--json PATH`
//! writes them as JSON as well.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{config, image, util};

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

fn to_json(clock: f64, sched: &[SchedFigure], sizes: &[(String, u64)]) -> String {
    let mut j = String::from("{\n  \"scheduler_decision\": {\n");
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
    println!();
    println!("Scheduler decision cost (host ns per scheduling point; all vCPUs CPU-bound)");
    println!(
        "{:<10} {:>6} {:>6} {:>12} {:>12} {:>10}",
        "sched", "vCPUs", "pCPUs", "schedule ns", "timers ns", "decisions"
    );
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

pub fn cmd_bench(args: &[String]) -> Result<()> {
    let o = util::Opts::parse(args, &["json", "only"], &[])?;
    let only = o.value("only");
    if let Some(w) = only {
        if w != "sched" && w != "size" {
            bail!("--only takes sched or size, not {w:?}");
        }
    }
    let (clock, sched) = if only.is_none() || only == Some("sched") {
        run_sched_bench()?
    } else {
        (0.0, vec![])
    };
    let sizes = if only.is_none() || only == Some("size") {
        image_sizes()?
    } else {
        vec![]
    };
    print_table(&sched, &sizes);
    if let Some(path) = o.value("json") {
        std::fs::write(path, to_json(clock, &sched, &sizes))
            .with_context(|| format!("writing {path}"))?;
        println!("\nJSON written to {path}");
    }
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
        let j = to_json(clock, &figs, &[("tiny\"_defconfig".into(), 1234)]);
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
}
