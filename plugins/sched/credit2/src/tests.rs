//! The credit2 policy run by the simulator against synthetic workloads.

extern crate std;

use super::*;
use std::string::String;
use std::vec::Vec;
use tessera_core::sched::sim::{Sim, Workload, MS};
use tessera_core::sched::{find_scheduler, UnitParams};

const S: u64 = 1000 * MS;

/// One runqueue for the whole pool (QEMU's single socket).
static ONE_RQ: Credit2Scheduler = Credit2Scheduler {
    arrangement: Some(Arrangement::All),
    ratelimit_us: Some(1000),
};
/// A runqueue per pCPU.
static PER_CPU: Credit2Scheduler = Credit2Scheduler {
    arrangement: Some(Arrangement::Cpu),
    ratelimit_us: Some(1000),
};

fn hog(domid: u16, weight: u16) -> (UnitParams, Workload) {
    (
        UnitParams::new(domid, 0).weighted(weight),
        Workload::CpuBound,
    )
}

#[test]
fn registers_under_its_xen_name_and_id() {
    let s = find_scheduler(&SCHEDULERS, "credit2").expect("registered");
    assert_eq!((s.name(), s.sched_id()), ("SMP Credit Scheduler rev2", 6));
    let p = PLUGINS.iter().find(|p| p.name == "sched-credit2").unwrap();
    assert_eq!(
        (p.kconfig, p.status),
        ("SCHED_CREDIT2", Status::Experimental)
    );
    assert_eq!(p.support[0].feature, "Credit2 Scheduler");
    assert!(set_runqueue("all").is_ok() && set_runqueue("rack").is_err());
    assert_eq!(P_RUNQUEUE.name, "credit2_runqueue");
}

#[test]
fn weights_share_two_pcpus() {
    let mut sim = Sim::single_pool(&ONE_RQ, 2).unwrap();
    let u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 512), hog(3, 768)]);
    sim.run_for(10 * S);
    sim.assert_no_violations();
    let r = sim.check_shares(&[(u[0], 2.0 / 6.0), (u[1], 4.0 / 6.0), (u[2], 1.0)], 0.05);
    assert_eq!(r, Ok(()));
}

#[test]
fn weights_share_one_pcpu() {
    let mut sim = Sim::single_pool(&ONE_RQ, 1).unwrap();
    let u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 512)]);
    sim.run_for(10 * S);
    sim.assert_no_violations();
    assert_eq!(
        sim.check_shares(&[(u[0], 1.0 / 3.0), (u[1], 2.0 / 3.0)], 0.05),
        Ok(())
    );
}

#[test]
fn a_wrong_ratio_fails_the_share_check() {
    let mut sim = Sim::single_pool(&ONE_RQ, 1).unwrap();
    let u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 512)]);
    sim.run_for(10 * S);
    let e = sim
        .check_shares(&[(u[0], 2.0 / 3.0), (u[1], 1.0 / 3.0)], 0.05)
        .unwrap_err();
    assert!(e.contains("d1v0") && e.contains("d2v0"), "{e}");
}

#[test]
fn a_cap_holds_in_every_period() {
    let mut sim = Sim::single_pool(&ONE_RQ, 2).unwrap();
    sim.enable_trace();
    let capped = (UnitParams::new(1, 0).capped(30), Workload::CpuBound);
    let u = sim.add_single_unit_domains(&[capped, hog(2, 256)]);
    sim.run_for(10 * S);
    sim.assert_no_violations();
    assert_eq!(sim.check_shares(&[(u[0], 0.30)], 0.05), Ok(()));
    // The budget (3 ms per 10 ms) is refilled every 10 ms from the
    // domain's creation at time 0. A unit can overrun its budget by at
    // most one minimum slice (the 1 ms rate limit), which the next period
    // pays back: no 10 ms period, plus a 1 ms tick of slack, sees more.
    for k in 0..1000 {
        let got = sim.run_between(u[0], k * 10 * MS, (k + 1) * 10 * MS);
        assert!(got <= 3 * MS + MS, "period {k}: {got} ns");
    }
    // Over any two consecutive periods the overrun is paid back.
    for k in 0..999 {
        let got = sim.run_between(u[0], k * 10 * MS, (k + 2) * 10 * MS);
        assert!(got <= 6 * MS + MS, "periods {k}-{}: {got} ns", k + 1);
    }
}

#[test]
fn nobody_starves() {
    let mut sim = Sim::single_pool(&ONE_RQ, 2).unwrap();
    sim.enable_trace();
    let u = sim.add_single_unit_domains(&[
        hog(1, 128),
        hog(2, 256),
        hog(3, 512),
        hog(4, 1024),
        hog(5, 2048),
        (UnitParams::new(6, 0), Workload::YieldEvery { run_ns: MS }),
    ]);
    sim.run_for(5 * S);
    sim.assert_no_violations();
    // Credit resets when the best unit runs dry: every unit runs at least
    // once every 10 resets' worth of time (10 x 10 ms).
    for &unit in &u {
        let gap = sim.longest_gap(unit);
        assert!(gap <= 100 * MS, "{unit} waited {gap} ns");
    }
}

#[test]
fn waking_units_run_soon() {
    let mut sim = Sim::single_pool(&ONE_RQ, 1).unwrap();
    let mut u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 256)]);
    sim.run_for(100 * MS);
    let io = (
        UnitParams::new(3, 0),
        Workload::BlockWake {
            run_ns: MS / 2,
            sleep_ns: 10 * MS,
        },
    );
    u.extend(sim.add_single_unit_domains(&[io]));
    sim.run_for(5 * S);
    sim.assert_no_violations();
    let s = sim.unit_stats(u[2]).unwrap();
    assert!(s.wakes > 400, "{s:?}");
    // It burns little, so it has more credit than the hogs and preempts
    // them once they ran the rate limit (1 ms).
    assert!(s.max_wake_latency_ns <= MS, "{s:?}");
    assert!(s.run_ns >= (s.wakes - 1) * MS / 2, "{s:?}");
}

#[test]
fn load_balancing_evens_out_runqueues() {
    let mut sim = Sim::single_pool(&PER_CPU, 4).unwrap();
    // All prefer pCPU 0, so all start in its runqueue.
    let u: Vec<UnitId> = (1..=4)
        .map(|d| {
            let p = UnitParams::new(d, 0).preferring(CpuMask::single(0));
            sim.add_domain(0, d, &[(p, Workload::CpuBound)]).unwrap();
            p.unit
        })
        .collect();
    let start: Vec<_> = u.iter().map(|&x| sim.core().unit_cpu(x)).collect();
    assert!(start.iter().all(|&c| c == Some(0)), "{start:?}");
    sim.run_for(10 * S);
    sim.assert_no_violations();
    // Moved apart, they get about a pCPU each.
    let busy: u64 = (0..4).map(|c| sim.cpu_stats(c).unwrap().busy_ns).sum();
    let mut dbg = String::new();
    sim.core().dump(&mut dbg).unwrap();
    assert!(busy >= 4 * 10 * S * 95 / 100, "{busy} {dbg}");
    for &x in &u {
        let s = sim.unit_stats(x).unwrap();
        assert!(s.run_ns >= 10 * S * 90 / 100, "{x}: {s:?}");
    }
    let mut out = String::new();
    sim.core().dump(&mut out).unwrap();
    assert!(
        out.contains("credit2: Cpu runqueues, ratelimit 1000 us"),
        "{out}"
    );
}
