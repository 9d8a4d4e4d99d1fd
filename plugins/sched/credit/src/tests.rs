//! The credit policy run by the simulator against synthetic workloads.

extern crate std;

use super::*;
use std::string::String;
use tessera_core::sched::sim::{Sim, Workload, MS};
use tessera_core::sched::{find_scheduler, UnitParams};

const S: u64 = 1000 * MS;

fn hog(domid: u16, weight: u16) -> (UnitParams, Workload) {
    (
        UnitParams::new(domid, 0).weighted(weight),
        Workload::CpuBound,
    )
}

#[test]
fn registers_under_its_xen_name_and_id() {
    let s = find_scheduler(&SCHEDULERS, "credit").expect("registered");
    assert_eq!((s.name(), s.sched_id()), ("SMP Credit Scheduler", 5));
    let p = PLUGINS.iter().find(|p| p.name == "sched-credit").unwrap();
    assert_eq!(
        (p.kconfig, p.status),
        ("SCHED_CREDIT", Status::Experimental)
    );
    assert_eq!(p.support[0].feature, "Credit Scheduler");
    assert!(P_TSLICE.name == "sched_credit_tslice_ms" && set_tslice("0").is_err());
}

#[test]
fn weights_share_two_pcpus() {
    let mut sim = Sim::single_pool(&CREDIT, 2).unwrap();
    let u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 512), hog(3, 768)]);
    sim.run_for(10 * S);
    sim.assert_no_violations();
    // 2 pCPUs shared 1:2:3.
    let r = sim.check_shares(&[(u[0], 2.0 / 6.0), (u[1], 4.0 / 6.0), (u[2], 1.0)], 0.05);
    assert_eq!(r, Ok(()));
}

#[test]
fn weights_share_one_pcpu() {
    let mut sim = Sim::single_pool(&CREDIT, 1).unwrap();
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
    let mut sim = Sim::single_pool(&CREDIT, 1).unwrap();
    let u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 512)]);
    sim.run_for(10 * S);
    // Equal shares are wrong for weights 256:512, and the check says so.
    let e = sim
        .check_shares(&[(u[0], 0.5), (u[1], 0.5)], 0.05)
        .unwrap_err();
    assert!(e.contains("d1v0") && e.contains("d2v0"), "{e}");
}

#[test]
fn a_cap_holds_over_time() {
    let mut sim = Sim::single_pool(&CREDIT, 2).unwrap();
    sim.enable_trace();
    let capped = (UnitParams::new(1, 0).capped(30), Workload::CpuBound);
    let u = sim.add_single_unit_domains(&[capped, hog(2, 256)]);
    sim.run_for(10 * S);
    sim.assert_no_violations();
    // 30% of a pCPU in the long run, though a pCPU is free for it.
    assert_eq!(sim.check_shares(&[(u[0], 0.30)], 0.05), Ok(()));
    // Xen's credit parks a capped unit only at accounting (every 30 ms)
    // once its debt exceeds one period's cap, so within one period it may
    // run the whole period: the cap holds over longer windows. Over any
    // second (aligned on accounting periods) it gets at most its cap plus
    // one timeslice of overrun.
    for k in 0..10 {
        let got = sim.run_between(u[0], k * S, (k + 1) * S);
        assert!(got <= 300 * MS + 30 * MS, "second {k}: {got} ns");
    }
    // And its debt never lets it run two whole periods in a row.
    let longest = sim
        .runs(u[0])
        .iter()
        .map(|&(s, e, _)| e - s)
        .max()
        .unwrap_or(0);
    assert!(longest <= 60 * MS, "ran {longest} ns in one go");
}

#[test]
fn nobody_starves() {
    let mut sim = Sim::single_pool(&CREDIT, 2).unwrap();
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
    // Every unit runs at least once every 20 accounting periods. The
    // lightest (128 of 4224 on 2 pCPUs, 6%) earns a 30 ms slice about
    // every 500 ms: credit runs units for whole slices, not in slivers.
    for &unit in &u {
        let gap = sim.longest_gap(unit);
        assert!(gap <= 600 * MS, "{unit} waited {gap} ns");
    }
}

#[test]
fn waking_units_are_boosted() {
    let mut sim = Sim::single_pool(&CREDIT, 1).unwrap();
    let io = (
        UnitParams::new(3, 0),
        Workload::BlockWake {
            run_ns: MS / 2,
            sleep_ns: 10 * MS,
        },
    );
    let mut u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 256)]);
    // Joins once the hogs have settled into their slices.
    sim.run_for(100 * MS);
    u.extend(sim.add_single_unit_domains(&[io]));
    sim.run_for(5 * S);
    sim.assert_no_violations();
    let s = sim.unit_stats(u[2]).unwrap();
    assert!(s.wakes > 400, "{s:?}");
    // BOOST preempts a hog as soon as the rate limit (1 ms) allows,
    // where an UNDER unit would queue behind 30 ms slices.
    assert!(s.max_wake_latency_ns <= MS, "{s:?}");
    // It is never found running at a tick, so it stays boosted and gets
    // all the CPU it asks for.
    assert!(s.run_ns >= (s.wakes - 1) * MS / 2, "{s:?}");
}

#[test]
fn idle_pcpus_steal_work() {
    let mut sim = Sim::single_pool(&CREDIT, 2).unwrap();
    // Three hogs: whichever pCPU has two queues one; the other, when its
    // own unit goes OVER, steals the waiting UNDER unit.
    let u = sim.add_single_unit_domains(&[hog(1, 256), hog(2, 256), hog(3, 256)]);
    sim.run_for(10 * S);
    sim.assert_no_violations();
    for cpu in 0..2 {
        assert_eq!(sim.cpu_stats(cpu).unwrap().idle_ns, 0, "pCPU {cpu}");
    }
    let migrations: u64 = u
        .iter()
        .map(|&x| sim.unit_stats(x).unwrap().migrations)
        .sum();
    assert!(migrations > 0);
    assert_eq!(
        sim.check_shares(
            &[(u[0], 2.0 / 3.0), (u[1], 2.0 / 3.0), (u[2], 2.0 / 3.0)],
            0.05
        ),
        Ok(())
    );
    let mut out = String::new();
    sim.core().dump(&mut out).unwrap();
    assert!(
        out.contains("credit: tslice 30 ms, ratelimit 1000 us, tick 10 ms"),
        "{out}"
    );
}
