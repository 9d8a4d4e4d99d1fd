//! `cargo xtask fuzz --hypercalls N [--seed S]`: the test guest's
//! hypercall fuzzer (mode=fuzz) for N calls beside a bystander guest.
//!
//! The setup is tests/scenarios/xen-fuzz.toml (the default suite runs it
//! as it is) with the fuzzer's `calls=`/`seed=` and the lines that name
//! them substituted, and the timeouts scaled to N. It fails (non-zero
//! exit) when the scenario does: a FAIL or exception in the fuzzer, its
//! code changed, the hypervisor complaining or leaking pages, the
//! bystander ending before the fuzzer or failing a check. On success it
//! prints the fuzzer's time per call and its counts per result.

use anyhow::{bail, Context, Result};

use crate::scenario::{self, Scenario};
use crate::{toolchain, util};

/// The template scenario.
const TEMPLATE: &str = "xen-fuzz";

/// Time budget per call for the timeouts (about 40 us measured under
/// QEMU TCG on a busy 2-core host; ten times that and some).
const BUDGET_US: u64 = 500;

pub fn cmd_fuzz(args: &[String]) -> Result<()> {
    let o = util::Opts::parse(args, &["hypercalls", "seed"], &[])?;
    let num = |k: &str, default: u64| -> Result<u64> {
        o.value(k).map_or(Ok(default), |v| {
            v.parse().with_context(|| format!("--{k} {v}"))
        })
    };
    let calls = num("hypercalls", 100_000)?;
    let seed = num("seed", 1)?;
    if calls == 0 {
        bail!("--hypercalls must be at least 1");
    }
    toolchain::ensure_all()?;
    let sc = scenario_for(scenario::load(TEMPLATE)?, calls, seed)?;
    let name = format!("fuzz-s{seed}-n{calls}");
    let text = scenario::run_scenario(&name, &sc)?;
    let s = summary(&text, calls, seed)?;
    println!("{s}");
    Ok(())
}

/// `key=value` of a bootargs string, replaced (or appended).
fn set_arg(bootargs: &str, key: &str, value: &str) -> String {
    let mut found = false;
    let mut words: Vec<String> = bootargs
        .split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, _)) if k == key => {
                found = true;
                format!("{key}={value}")
            }
            _ => w.to_string(),
        })
        .collect();
    if !found {
        words.push(format!("{key}={value}"));
    }
    words.join(" ")
}

fn get_arg<'a>(bootargs: &'a str, key: &str) -> Option<&'a str> {
    bootargs
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The template with `calls` and `seed`: the fuzzer's bootargs, the lines
/// naming the template's count and seed, the timeouts.
pub fn scenario_for(mut sc: Scenario, calls: u64, seed: u64) -> Result<Scenario> {
    let fuzz = sc
        .domain
        .iter()
        .position(|d| get_arg(&d.bootargs, "mode") == Some("fuzz"))
        .context("the template has no mode=fuzz domain")?;
    let args = sc.domain[fuzz].bootargs.clone();
    let (c0, s0) = match (get_arg(&args, "calls"), get_arg(&args, "seed")) {
        (Some(c), Some(s)) => (c.to_string(), s.to_string()),
        _ => bail!("the template's fuzzer has no calls= and seed="),
    };
    let timeout = 60 + calls * BUDGET_US / 1_000_000;
    sc.timeout = sc.timeout.max(timeout);
    for (i, d) in sc.domain.iter_mut().enumerate() {
        if i == fuzz {
            d.bootargs = set_arg(
                &set_arg(&d.bootargs, "calls", &calls.to_string()),
                "seed",
                &seed.to_string(),
            );
        } else if get_arg(&d.bootargs, "hold_domid").is_some() {
            // The bystander holds until the fuzzer is gone; this only
            // bounds it.
            d.bootargs = set_arg(&d.bootargs, "hold_ms", &(sc.timeout * 1000).to_string());
        }
    }
    let subst = |e: &mut String| {
        *e = e
            .replace(&format!("{c0} calls"), &format!("{calls} calls"))
            .replace(&format!("seed {s0},"), &format!("seed {seed},"));
    };
    sc.expect.iter_mut().for_each(subst);
    sc.expect_anywhere.iter_mut().for_each(subst);
    sc.description = format!("{} (here {calls} calls, seed {seed})", sc.description);
    Ok(sc)
}

/// The numbers after `marker` in `line`, in order.
fn numbers(line: &str) -> Vec<i64> {
    line.split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// What the run says: time per call, results, the page count.
pub fn summary(text: &str, calls: u64, seed: u64) -> Result<String> {
    let head = format!("testguest: fuzz: {calls} calls, seed {seed},");
    let line = text
        .lines()
        .find_map(|l| Some(&l[l.find(&head)? + head.len()..]))
        .context("no fuzzer summary line")?;
    let n = numbers(line);
    let [avoided, ms, ns] = n[..] else {
        bail!("cannot read the fuzzer's summary: {line:?}");
    };
    let results: Vec<&str> = text
        .lines()
        .filter_map(|l| Some(l[l.find("fuzz: results ")? + 14..].trim_end()))
        .collect();
    let pages = text
        .lines()
        .find_map(|l| Some(&l[l.find("free pages: ")?..]))
        .context("no free-page count")?;
    let p = numbers(pages);
    if p.len() != 2 || p[0] != p[1] {
        bail!("pages: {pages}");
    }
    Ok(format!(
        "fuzz: {calls} hypercalls, seed {seed}: {ms} ms in the guest, {:.1} us per call, {avoided} avoided\n\
         fuzz: results {}\n\
         fuzz: {}; the bystander outlived the fuzzer",
        ns as f64 / 1000.0,
        results.join(", "),
        pages.trim_end()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_takes_count_and_seed() {
        let sc = scenario_for(scenario::load(TEMPLATE).unwrap(), 100_000, 7).unwrap();
        let f = sc.domain.iter().find(|d| d.name == "fuzz").unwrap();
        assert_eq!(get_arg(&f.bootargs, "calls"), Some("100000"));
        assert_eq!(get_arg(&f.bootargs, "seed"), Some("7"));
        assert!(sc
            .expect
            .iter()
            .any(|e| e.contains("fuzz: 100000 calls, seed 7,")));
        assert!(sc
            .expect
            .iter()
            .any(|e| e.contains("PASS fuzz (100000 calls")));
        assert!(!sc.expect.iter().any(|e| e.contains("20000 calls")));
        assert!(sc.timeout >= 110);
        let b = sc.domain.iter().find(|d| d.name == "bystander").unwrap();
        assert_eq!(
            get_arg(&b.bootargs, "hold_ms"),
            Some(&*(sc.timeout * 1000).to_string())
        );
        assert_eq!(set_arg("a=1 b=2", "c", "3"), "a=1 b=2 c=3");
    }

    #[test]
    fn the_summary_reads_the_run() {
        let text = "(d2) testguest: fuzz: 5 calls, seed 3, 1 avoided, 2 ms (400000 ns per call)\n\
                    (d2) testguest: fuzz: results 0: 2, -38: 2\n\
                    (d2) testguest: fuzz: results >0: 0, other: 0, fault: 0\n\
                    (HV) All domains have ended; free pages: 10 before the domains, 10 after\n";
        let s = summary(text, 5, 3).unwrap();
        assert!(s.contains("400.0 us per call, 1 avoided"), "{s}");
        assert!(
            s.contains("results 0: 2, -38: 2, >0: 0, other: 0, fault: 0"),
            "{s}"
        );
        let leak = text.replace("10 after", "9 after");
        assert!(summary(&leak, 5, 3).is_err());
        assert!(summary(text, 6, 3).is_err());
    }
}
