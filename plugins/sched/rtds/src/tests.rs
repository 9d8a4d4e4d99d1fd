//! The RTDS policy run by the simulator against synthetic workloads.

extern crate std;

use super::*;
use std::format;
use std::string::String;
use std::vec::Vec;
use tessera_core::sched::sim::{Sim, Workload, MS, US};
use tessera_core::sched::{find_scheduler, UnitParams};

fn rt(domid: u16, period: u64, budget: u64, extratime: bool) -> UnitParams {
    UnitParams::new(domid, 0).with_policy(PolicyParams::Rtds {
        period_ns: period,
        budget_ns: budget,
        extratime,
    })
}

/// A periodic task served by a unit with the same period and budget.
fn task(domid: u16, period: u64, budget: u64) -> (UnitParams, Workload) {
    (
        rt(domid, period, budget, true),
        Workload::Periodic {
            period_ns: period,
            budget_ns: budget,
            offset_ns: 0,
        },
    )
}

/// Runs `tasks` on `m` pCPUs under global EDF for `ns`; returns the
/// deadline misses of each task and checks every job was accounted for.
fn run_tasks(m: usize, tasks: &[(u64, u64)], ns: u64) -> Vec<u64> {
    let mut sim = Sim::single_pool(&RTDS, m).unwrap();
    for (i, &(p, b)) in tasks.iter().enumerate() {
        let d = i as u16 + 1;
        sim.add_domain(0, d, &[task(d, p, b)]).unwrap();
    }
    sim.run_for(ns);
    sim.assert_no_violations();
    tasks
        .iter()
        .enumerate()
        .map(|(i, &(p, _))| {
            let s = sim.unit_stats(UnitId::new(i as u16 + 1, 0)).unwrap();
            // The last job may still be running at the end.
            assert!(s.jobs_done + s.deadline_misses + 1 >= ns / p, "{s:?}");
            s.deadline_misses
        })
        .collect()
}

/// Goossens-Funk-Baruah: global EDF meets every deadline of implicit-
/// deadline periodic tasks when U <= m - (m - 1) u_max.
fn gfb_bound(m: usize, tasks: &[(u64, u64)]) -> (f64, f64) {
    let u: Vec<f64> = tasks.iter().map(|&(p, b)| b as f64 / p as f64).collect();
    let total: f64 = u.iter().sum();
    let umax = u.iter().cloned().fold(0.0, f64::max);
    (total, m as f64 - (m as f64 - 1.0) * umax)
}

#[test]
fn registers_under_its_xen_name_and_id() {
    let s = find_scheduler(&SCHEDULERS, "rtds").expect("registered");
    assert_eq!((s.name(), s.sched_id()), ("SMP RTDS Scheduler", 8));
    let p = PLUGINS.iter().find(|p| p.name == "sched-rtds").unwrap();
    assert_eq!((p.kconfig, p.status), ("SCHED_RTDS", Status::Experimental));
    assert_eq!(p.support[0].feature, "RTDS based Scheduler");
}

#[test]
fn partitioned_units_get_their_budget_every_period() {
    for extratime in [false, true] {
        let mut sim = Sim::single_pool(&RTDS, 2).unwrap();
        sim.enable_trace();
        // pCPU 0: 0.4 + 0.3; pCPU 1: 0.4 + 0.5 + defaults (4/10) = 1.3 >
        // 1 would not fit, so its third unit goes to pCPU 0: 0.7 + 0.2.
        let set = [
            (0, 10 * MS, 4 * MS),
            (0, 20 * MS, 6 * MS),
            (1, 5 * MS, 2 * MS),
            (1, 10 * MS, 5 * MS),
            (0, 50 * MS, 10 * MS),
        ];
        let mut units = Vec::new();
        for (i, &(cpu, p, b)) in set.iter().enumerate() {
            let d = i as u16 + 1;
            let params = rt(d, p, b, extratime).pinned(CpuMask::single(cpu));
            sim.add_domain(0, d, &[(params, Workload::CpuBound)])
                .unwrap();
            units.push((params.unit, p, b));
        }
        sim.run_for(1000 * MS);
        sim.assert_no_violations();
        for &(u, p, b) in &units {
            for k in 0..1000 * MS / p {
                let got = sim.run_between(u, k * p, (k + 1) * p);
                if extratime {
                    assert!(got >= b, "{u} period {k}: {got} < {b}");
                } else {
                    assert_eq!(got, b, "{u} period {k}");
                }
            }
        }
    }
}

#[test]
fn global_edf_meets_deadlines_within_the_bound() {
    let sets: [(usize, &[(u64, u64)]); 3] = [
        // U = 1.2, bound 1.7.
        (
            2,
            &[
                (10 * MS, 3 * MS),
                (10 * MS, 3 * MS),
                (20 * MS, 6 * MS),
                (5 * MS, 1500 * US),
            ],
        ),
        // U = 2.0, bound 4 - 3 * 0.4 = 2.8.
        (
            4,
            &[
                (10 * MS, 4 * MS),
                (10 * MS, 4 * MS),
                (20 * MS, 4 * MS),
                (20 * MS, 4 * MS),
                (5 * MS, MS),
                (5 * MS, MS),
                (8 * MS, 2400 * US),
                (40 * MS, 8 * MS),
            ],
        ),
        // Harmonic and odd periods mixed, U = 0.95 on 2.
        (2, &[(7 * MS, 2 * MS), (11 * MS, 3 * MS), (13 * MS, 4 * MS)]),
    ];
    for (m, tasks) in sets {
        let (u, bound) = gfb_bound(m, tasks);
        assert!(u <= bound, "{u} > {bound}");
        let misses = run_tasks(m, tasks, 2000 * MS);
        assert!(misses.iter().all(|&x| x == 0), "m={m} U={u}: {misses:?}");
    }
}

#[test]
fn global_edf_meets_deadlines_at_the_bound() {
    // Three tasks of utilisation 1/2 on 2 pCPUs: U = 1.5 = 2 - 1 * 0.5.
    let tasks = [(10 * MS, 5 * MS), (10 * MS, 5 * MS), (10 * MS, 5 * MS)];
    let (u, bound) = gfb_bound(2, &tasks);
    assert!((u - bound).abs() < 1e-9);
    assert_eq!(run_tasks(2, &tasks, 2000 * MS), [0, 0, 0]);
}

#[test]
fn global_edf_misses_deadlines_above_the_bound() {
    // Dhall's effect: two light tasks with earlier deadlines take both
    // pCPUs first, and the heavy one (10.5 of every 11 ms) cannot finish.
    // U = 1.15 < 2 pCPUs, but above the bound 2 - 0.95 = 1.05.
    let tasks = [(10 * MS, MS), (10 * MS, MS), (11 * MS, 10500 * US)];
    let (u, bound) = gfb_bound(2, &tasks);
    assert!(u > bound);
    let misses = run_tasks(2, &tasks, 1100 * MS);
    assert_eq!(&misses[..2], [0, 0]);
    assert!(misses[2] > 0, "{misses:?}");
}

#[test]
fn unused_budget_is_kept_until_the_period_ends() {
    let mut sim = Sim::single_pool(&RTDS, 1).unwrap();
    sim.enable_trace();
    let a = rt(1, 10 * MS, 4 * MS, false);
    let hog = rt(2, 20 * MS, 12 * MS, false);
    sim.add_domain(0, 1, &[(a, Workload::Idle)]).unwrap();
    sim.add_domain(0, 2, &[(hog, Workload::CpuBound)]).unwrap();
    // Blocked until 5 ms into its period, a still has all 4 ms of budget
    // and, with the earlier deadline (10 ms against 20 ms), preempts the
    // hog at once and runs 5..9 ms.
    sim.run_for(5 * MS);
    sim.wake(a.unit).unwrap();
    sim.run_for(25 * MS);
    sim.assert_no_violations();
    let runs = sim.runs(a.unit);
    assert_eq!(
        runs.first().map(|r| (r.0, r.1)),
        Some((5 * MS, 9 * MS)),
        "{runs:?}"
    );
    // Next period: budget again 4 ms, deadline 20 ms.
    assert_eq!(sim.run_between(a.unit, 10 * MS, 20 * MS), 4 * MS);
    assert_eq!(sim.run_between(hog.unit, 0, 20 * MS), 12 * MS);
    let mut out = String::new();
    sim.core().dump(&mut out).unwrap();
    assert!(
        out.contains("d1v0: period=10000000 budget=4000000"),
        "{out}"
    );
}

#[test]
fn bad_parameters_are_refused() {
    let mut sim = Sim::single_pool(&RTDS, 1).unwrap();
    for (p, b) in [(10 * MS, 11 * MS), (5 * US, 5 * US), (10 * MS, US)] {
        let e = sim
            .add_domain(0, 1, &[(rt(1, p, b, true), Workload::CpuBound)])
            .unwrap_err();
        assert!(format!("{e}").starts_with("rtds: a unit needs"), "{e}");
    }
    // Defaults: 4 ms every 10 ms.
    sim.add_domain(0, 1, &[(UnitParams::new(1, 0), Workload::Idle)])
        .unwrap();
    let mut out = String::new();
    sim.core().dump(&mut out).unwrap();
    assert!(out.contains("period=10000000 budget=4000000"), "{out}");
}
