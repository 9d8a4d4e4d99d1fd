//! The ARINC 653 policy run by the simulator.

extern crate std;

use super::*;
use std::format;
use std::string::String;
use std::vec::Vec;
use tessera_core::sched::find_scheduler;
use tessera_core::sched::sim::{Sim, Workload, MS};

fn windowed(domid: u16, runtime: u64) -> UnitParams {
    UnitParams::new(domid, 0).with_policy(PolicyParams::Arinc653 {
        runtime_ns: runtime,
    })
}

/// Runs of `unit` expected from windows `[(start, end)]` within a frame,
/// repeated for `frames` frames of `frame` ns.
fn expected(windows: &[(u64, u64)], frame: u64, frames: u64) -> Vec<(u64, u64, usize)> {
    (0..frames)
        .flat_map(|k| {
            windows
                .iter()
                .map(move |&(s, e)| (k * frame + s, k * frame + e, 0))
        })
        .collect()
}

#[test]
fn registers_under_its_xen_name_and_id() {
    let s = find_scheduler(&SCHEDULERS, "arinc653").expect("registered");
    assert_eq!((s.name(), s.sched_id()), ("ARINC 653 Scheduler", 7));
    let p = PLUGINS.iter().find(|p| p.name == "sched-arinc653").unwrap();
    assert_eq!(
        (p.kconfig, p.status),
        ("SCHED_ARINC653", Status::Experimental)
    );
    assert_eq!(p.support[0].feature, "ARINC653 Scheduler");
}

#[test]
fn windows_are_exact_over_several_frames() {
    let mut sim = Sim::single_pool(&ARINC653, 1).unwrap();
    sim.enable_trace();
    let (a, b, c) = (
        windowed(1, 5 * MS),
        windowed(2, 3 * MS),
        UnitParams::new(3, 0),
    );
    for p in [a, b, c] {
        sim.add_domain(0, p.unit.domid, &[(p, Workload::CpuBound)])
            .unwrap();
    }
    // 5 + 3 + 10 (the default window) = an 18 ms frame; six of them.
    sim.run_for(6 * 18 * MS);
    sim.assert_no_violations();
    assert_eq!(sim.runs(a.unit), expected(&[(0, 5 * MS)], 18 * MS, 6));
    assert_eq!(sim.runs(b.unit), expected(&[(5 * MS, 8 * MS)], 18 * MS, 6));
    assert_eq!(sim.runs(c.unit), expected(&[(8 * MS, 18 * MS)], 18 * MS, 6));
    // Exactly one decision per window switch: no extra wake-ups.
    assert_eq!(sim.cpu_stats(0).unwrap().decisions, 3 * 6 + 1);
}

static GAP: Arinc653Scheduler = Arinc653Scheduler {
    schedule: Some(Schedule {
        windows: &[
            Window {
                unit: UnitId::new(1, 0),
                runtime_ns: 2 * MS,
            },
            Window {
                unit: UnitId::new(2, 0),
                runtime_ns: 3 * MS,
            },
            Window {
                unit: UnitId::new(1, 0),
                runtime_ns: MS,
            },
        ],
        major_frame_ns: 10 * MS,
    }),
};

#[test]
fn a_fixed_schedule_with_a_gap_and_a_repeat() {
    // Two pCPUs: the schedule runs on pCPU 0; pCPU 1 stays idle.
    let mut sim = Sim::single_pool(&GAP, 2).unwrap();
    sim.enable_trace();
    for d in 1..=2 {
        sim.add_domain(0, d, &[(UnitParams::new(d, 0), Workload::CpuBound)])
            .unwrap();
    }
    sim.run_for(50 * MS);
    sim.assert_no_violations();
    let d1 = UnitId::new(1, 0);
    let d2 = UnitId::new(2, 0);
    assert_eq!(
        sim.runs(d1),
        expected(&[(0, 2 * MS), (5 * MS, 6 * MS)], 10 * MS, 5)
    );
    assert_eq!(sim.runs(d2), expected(&[(2 * MS, 5 * MS)], 10 * MS, 5));
    let c0 = sim.cpu_stats(0).unwrap();
    assert_eq!((c0.busy_ns, c0.idle_ns), (30 * MS, 20 * MS));
    assert_eq!(sim.cpu_stats(1).unwrap().busy_ns, 0);
    assert_eq!(sim.core().unit_cpu(d2), Some(0));
}

#[test]
fn a_blocked_units_window_idles() {
    let mut sim = Sim::single_pool(&ARINC653, 1).unwrap();
    sim.enable_trace();
    let a = windowed(1, 4 * MS);
    let b = windowed(2, 4 * MS);
    sim.add_domain(0, 1, &[(a, Workload::CpuBound)]).unwrap();
    // b works 1 ms, then sleeps 20 ms: it never takes a's window, and its
    // own windows idle while it sleeps.
    sim.add_domain(
        0,
        2,
        &[(
            b,
            Workload::BlockWake {
                run_ns: MS,
                sleep_ns: 20 * MS,
            },
        )],
    )
    .unwrap();
    sim.run_for(80 * MS);
    sim.assert_no_violations();
    assert_eq!(sim.runs(a.unit), expected(&[(0, 4 * MS)], 8 * MS, 10));
    for (s, e, _) in sim.runs(b.unit) {
        assert!(
            s % (8 * MS) >= 4 * MS && (e - 1) % (8 * MS) >= 4 * MS,
            "{s}..{e}"
        );
        assert_eq!(e - s, MS);
    }
    // It woke at 21 ms inside a's window (16..20 is its own, 20..24 a's):
    // it waits for its window at 28 ms.
    assert_eq!(sim.runs(b.unit)[1].0, 28 * MS);
}

#[test]
fn a_wrong_schedule_fails_the_window_check() {
    let mut sim = Sim::single_pool(&ARINC653, 1).unwrap();
    sim.enable_trace();
    let (a, b) = (windowed(1, 5 * MS), windowed(2, 3 * MS));
    for p in [a, b] {
        sim.add_domain(0, p.unit.domid, &[(p, Workload::CpuBound)])
            .unwrap();
    }
    sim.run_for(40 * MS);
    // Windows shifted by one tick (1 ms) are not what ran.
    assert_ne!(sim.runs(a.unit), expected(&[(MS, 6 * MS)], 8 * MS, 5));
    assert_ne!(sim.runs(b.unit), expected(&[(5 * MS, 9 * MS)], 8 * MS, 5));
    assert_eq!(sim.runs(a.unit), expected(&[(0, 5 * MS)], 8 * MS, 5));
}

#[test]
fn multi_vcpu_domains_are_refused() {
    let mut sim = Sim::single_pool(&ARINC653, 1).unwrap();
    let two = [
        (UnitParams::new(1, 0), Workload::CpuBound),
        (UnitParams::new(1, 1), Workload::CpuBound),
    ];
    let e = sim.add_domain(0, 1, &two).unwrap_err();
    assert_eq!(format!("{e}"), SINGLE_VCPU_RULE);
    // Nothing of d1 stays, its window included.
    assert_eq!(sim.core().pool_info(0).unwrap().units, 0);
    let mut out = String::new();
    sim.core().dump(&mut out).unwrap();
    assert!(out.contains("major frame of 0 ns"), "{out}");
    // Bad fixed schedules are refused when the pool is created.
    static BAD: Arinc653Scheduler = Arinc653Scheduler {
        schedule: Some(Schedule {
            windows: &[Window {
                unit: UnitId::new(1, 0),
                runtime_ns: 11 * MS,
            }],
            major_frame_ns: 10 * MS,
        }),
    };
    assert!(Sim::single_pool(&BAD, 1).is_err());
}
