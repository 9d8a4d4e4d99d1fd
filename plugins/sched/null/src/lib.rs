//! The null scheduler (Xen's `sched=null`): every unit gets a pCPU of its
//! own when it joins the pool, within its hard affinity (preferring its
//! soft affinity), and keeps it: a pCPU runs its unit whenever that unit is
//! runnable and idles otherwise, no unit ever migrates, no timer is set.
//! For static partitioning with no more vCPUs than pCPUs.
//!
//! Departure from Xen 4.20: when no free pCPU fits, Xen parks the unit on
//! a waitqueue until one frees up, and the vCPU silently never runs. Here
//! `insert_unit` refuses instead, so an over-committed configuration fails
//! at domain creation with a message that says why, and the waitqueue,
//! with its locking and its retry paths, does not exist.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::fmt;

use linkme::distributed_slice;
use tessera_core::registry::{Plugin, Status, SupportRow, PLUGINS};
use tessera_core::sched::{
    sched_id, CpuMask, Decision, Refusal, SchedError, SchedInstance, SchedulerOps, Time, UnitId,
    UnitParams, SCHEDULERS,
};

/// Why an insert is refused, in every message that reports it.
pub const RULE: &str = "the null scheduler runs one vCPU per pCPU";

/// The null scheduler's descriptor.
pub struct NullScheduler;

impl SchedulerOps for NullScheduler {
    fn name(&self) -> &'static str {
        "null Scheduler"
    }
    fn opt_name(&self) -> &'static str {
        "null"
    }
    fn sched_id(&self) -> u32 {
        sched_id::NULL
    }
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError> {
        Ok(Box::new(NullInstance::default()))
    }
}

struct NullUnit {
    cpu: usize,
    runnable: bool,
}

/// One pool's null scheduler.
#[derive(Default)]
pub struct NullInstance {
    /// The pool's pCPUs.
    pcpus: CpuMask,
    /// pCPUs with no unit assigned (Xen's `cpus_free`).
    free: CpuMask,
    /// Each pCPU's unit.
    owner: BTreeMap<usize, UnitId>,
    units: BTreeMap<UnitId, NullUnit>,
    /// What each pCPU runs since its last decision, so a wake of a unit
    /// that never stopped running does not cost a reschedule.
    running: CpuMask,
}

impl NullInstance {
    /// A free pCPU within the unit's hard affinity, preferring its soft
    /// affinity, lowest index first (Xen's `pick_res` balance steps).
    fn pick_free(&self, p: &UnitParams) -> Option<usize> {
        let hard = p.hard_affinity.and(self.free);
        let soft = p.soft_affinity.and(hard);
        if p.has_soft_affinity(self.pcpus) {
            soft.first().or_else(|| hard.first())
        } else {
            hard.first()
        }
    }

    fn tickle_if_not_running(&self, unit: UnitId) -> CpuMask {
        match self.units.get(&unit) {
            Some(u) if !self.running.contains(u.cpu) => CpuMask::single(u.cpu),
            _ => CpuMask::empty(),
        }
    }
}

impl SchedInstance for NullInstance {
    fn add_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        if cpu >= CpuMask::CAPACITY {
            return Err(SchedError::CpuOutOfRange(cpu));
        }
        self.pcpus.set(cpu);
        self.free.set(cpu);
        Ok(())
    }

    fn remove_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        // Xen moves the unit to the waitqueue; with none, a pCPU that owns
        // a unit stays until the unit's domain goes.
        if let Some(&unit) = self.owner.get(&cpu) {
            return Err(SchedError::CpuBusy { cpu, unit });
        }
        self.pcpus.clear(cpu);
        self.free.clear(cpu);
        self.running.clear(cpu);
        Ok(())
    }

    fn insert_unit(&mut self, params: &UnitParams) -> Result<(), SchedError> {
        if self.units.contains_key(&params.unit) {
            return Err(SchedError::UnitExists(params.unit));
        }
        let cpu = self.pick_free(params).ok_or(SchedError::Refused(Refusal {
            unit: params.unit,
            pcpus: self.pcpus.count(),
            free: self.free.count(),
            rule: RULE,
        }))?;
        self.free.clear(cpu);
        self.owner.insert(cpu, params.unit);
        self.units.insert(
            params.unit,
            NullUnit {
                cpu,
                runnable: false,
            },
        );
        Ok(())
    }

    fn remove_unit(&mut self, unit: UnitId) -> CpuMask {
        if let Some(u) = self.units.remove(&unit) {
            self.owner.remove(&u.cpu);
            // Only a pCPU still in the pool becomes free again.
            if self.pcpus.contains(u.cpu) {
                self.free.set(u.cpu);
            }
        }
        CpuMask::empty()
    }

    fn wake(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        let tickle = self.tickle_if_not_running(unit);
        if let Some(u) = self.units.get_mut(&unit) {
            u.runnable = true;
        }
        tickle
    }

    fn sleep(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        u.runnable = false;
        // Its pCPU must stop running it; the core asks for that too when
        // the unit is current, this covers a decision still in flight.
        if self.running.contains(u.cpu) {
            CpuMask::single(u.cpu)
        } else {
            CpuMask::empty()
        }
    }

    fn yield_unit(&mut self, _unit: UnitId, _now: Time) -> CpuMask {
        // Alone on its pCPU, a unit has nobody to yield to: the core's
        // reschedule picks it again (Xen's null has no yield hook either).
        CpuMask::empty()
    }

    fn do_schedule(
        &mut self,
        cpu: usize,
        _now: Time,
        _prev: Option<UnitId>,
        _prev_runnable: bool,
    ) -> Decision {
        let next = self
            .owner
            .get(&cpu)
            .copied()
            .filter(|u| self.units.get(u).is_some_and(|n| n.runnable));
        if next.is_some() {
            self.running.set(cpu);
        } else {
            self.running.clear(cpu);
        }
        // No slice: nothing else could run here, so there is no timer.
        Decision {
            next,
            slice_ns: None,
            tickle: CpuMask::empty(),
        }
    }

    fn pick_cpu(&self, unit: UnitId) -> Option<usize> {
        self.units.get(&unit).map(|u| u.cpu)
    }

    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "null: pCPUs {}, free {}", self.pcpus, self.free)?;
        for (cpu, unit) in &self.owner {
            let state = if self.running.contains(*cpu) {
                "running"
            } else if self.units.get(unit).is_some_and(|u| u.runnable) {
                "runnable"
            } else {
                "blocked"
            };
            writeln!(out, "  CPU{cpu}: {unit} ({state})")?;
        }
        Ok(())
    }
}

/// The descriptor registered in [`SCHEDULERS`].
pub static NULL: NullScheduler = NullScheduler;

#[distributed_slice(SCHEDULERS)]
static REGISTER: &'static dyn SchedulerOps = &NULL;

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "sched-null",
    kconfig: "SCHED_NULL",
    summary: "Null scheduler: one vCPU per pCPU, never migrated",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Resource Management",
        feature: "Null Scheduler",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "unit:tessera-sched-null::tests::each_unit_runs_only_on_its_own_pcpu",
            "unit:tessera-sched-null::tests::an_idle_pcpu_stays_idle",
            "unit:tessera-sched-null::tests::blocked_units_do_not_run",
            "unit:tessera-sched-null::tests::a_woken_unit_runs_at_its_pcpus_next_decision",
            "unit:tessera-sched-null::tests::an_overcommitted_domain_is_refused",
            "unit:tessera-sched-null::tests::affinity_decides_the_pcpu",
            "scenario:guest-two",
            "scenario:guest-overcommit",
        ],
        note: "Placement at domain creation within hard affinity (soft preferred), no migration, \
               no timer; tested in the host simulator and on QEMU. More vCPUs than free pCPUs is refused \
               (Xen keeps a waitqueue); pCPUs owning a unit cannot leave the pool.",
    }],
    init: None,
};

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;
    use tessera_core::sched::sim::{Sim, Workload, MS};
    use tessera_core::sched::{find_scheduler, select_scheduler, SchedCore};

    fn domain(domid: u16, w: &[Workload]) -> Vec<(UnitParams, Workload)> {
        w.iter()
            .enumerate()
            .map(|(v, &w)| (UnitParams::new(domid, v as u16), w))
            .collect()
    }

    #[test]
    fn registers_under_its_xen_name_and_id() {
        let s = find_scheduler(&SCHEDULERS, "null").expect("registered");
        assert_eq!((s.name(), s.sched_id()), ("null Scheduler", 9));
        let (s, fallback) = select_scheduler(&SCHEDULERS, "credit2", "null").unwrap();
        assert_eq!(s.opt_name(), "null");
        assert!(format!("{}", fallback.unwrap()).contains("unknown scheduler 'credit2'"));
        let p = PLUGINS.iter().find(|p| p.name == "sched-null").unwrap();
        assert_eq!((p.kconfig, p.status), ("SCHED_NULL", Status::Experimental));
        assert_eq!(p.support[0].feature, "Null Scheduler");
    }

    #[test]
    fn each_unit_runs_only_on_its_own_pcpu() {
        let mut sim = Sim::single_pool(&NULL, 4).unwrap();
        sim.add_domain(0, 1, &domain(1, &[Workload::CpuBound, Workload::CpuBound]))
            .unwrap();
        sim.add_domain(
            0,
            2,
            &domain(
                2,
                &[
                    Workload::BlockWake {
                        run_ns: MS,
                        sleep_ns: 3 * MS,
                    },
                    Workload::YieldEvery { run_ns: MS / 4 },
                ],
            ),
        )
        .unwrap();
        sim.run_for(200 * MS);
        sim.assert_no_violations();
        let mut seen = CpuMask::empty();
        for u in [
            UnitId::new(1, 0),
            UnitId::new(1, 1),
            UnitId::new(2, 0),
            UnitId::new(2, 1),
        ] {
            let s = sim.unit_stats(u).unwrap();
            assert_eq!(s.cpus.count(), 1, "{u} ran on {}", s.cpus);
            assert_eq!(s.migrations, 0, "{u}");
            assert!(!s.cpus.intersects(seen), "{u} shares a pCPU");
            seen = seen.or(s.cpus);
            assert_eq!(sim.core().unit_cpu(u), s.cpus.first());
        }
        // CPU-bound units own their pCPU outright, with no timer: one
        // decision at start, none after.
        for u in [UnitId::new(1, 0), UnitId::new(1, 1)] {
            let s = sim.unit_stats(u).unwrap();
            assert_eq!(s.run_ns, 200 * MS);
            assert_eq!(s.dispatches, 1);
        }
        let y = sim.unit_stats(UnitId::new(2, 1)).unwrap();
        assert_eq!(
            (y.run_ns, y.dispatches),
            (200 * MS, 1),
            "yielding changes nothing"
        );
    }

    #[test]
    fn an_idle_pcpu_stays_idle() {
        let mut sim = Sim::single_pool(&NULL, 4).unwrap();
        sim.add_domain(0, 1, &domain(1, &[Workload::CpuBound, Workload::Idle]))
            .unwrap();
        sim.run_for(100 * MS);
        sim.assert_no_violations();
        // pCPU 1 owns an idle unit; pCPUs 2 and 3 own nothing.
        for cpu in 1..4 {
            let c = sim.cpu_stats(cpu).unwrap();
            assert_eq!(
                (c.busy_ns, c.idle_ns, c.switches),
                (0, 100 * MS, 0),
                "pCPU {cpu}"
            );
            assert!(c.decisions <= 2, "pCPU {cpu} woken for nothing: {c:?}");
        }
        assert_eq!(sim.cpu_stats(0).unwrap().busy_ns, 100 * MS);
        assert_eq!(sim.unit_stats(UnitId::new(1, 1)).unwrap().run_ns, 0);
    }

    #[test]
    fn blocked_units_do_not_run() {
        let mut sim = Sim::single_pool(&NULL, 2).unwrap();
        sim.enable_trace();
        sim.add_domain(
            0,
            1,
            &domain(
                1,
                &[
                    Workload::BlockWake {
                        run_ns: 2 * MS,
                        sleep_ns: 8 * MS,
                    },
                    Workload::CpuBound,
                ],
            ),
        )
        .unwrap();
        sim.run_for(100 * MS);
        sim.assert_no_violations();
        let s = sim.unit_stats(UnitId::new(1, 0)).unwrap();
        // Ten cycles of 2 ms run, 8 ms blocked; idle while blocked.
        assert_eq!((s.run_ns, s.blocks, s.wakes), (20 * MS, 10, 10));
        let c = sim.cpu_stats(0).unwrap();
        assert_eq!((c.busy_ns, c.idle_ns), (20 * MS, 80 * MS));
        // A scripted block of the CPU-bound unit stops it at once.
        let hog = UnitId::new(1, 1);
        sim.block(hog).unwrap();
        assert_eq!(sim.core().current(1), None);
        sim.run_for(10 * MS);
        sim.assert_no_violations();
        assert_eq!(sim.unit_stats(hog).unwrap().run_ns, 100 * MS);
        assert!(sim
            .trace()
            .iter()
            .all(|t| t.next.is_none_or(|u| u != hog) || t.time < 100 * MS));
    }

    #[test]
    fn a_woken_unit_runs_at_its_pcpus_next_decision() {
        let mut sim = Sim::single_pool(&NULL, 2).unwrap();
        sim.enable_trace();
        let periodic = Workload::Periodic {
            period_ns: 5 * MS,
            budget_ns: MS,
            offset_ns: MS,
        };
        sim.add_domain(0, 1, &domain(1, &[periodic, periodic]))
            .unwrap();
        sim.run_for(50 * MS);
        sim.assert_no_violations();
        for v in 0..2 {
            let s = sim.unit_stats(UnitId::new(1, v)).unwrap();
            assert_eq!((s.jobs_done, s.deadline_misses), (10, 0));
            assert_eq!(s.max_wake_latency_ns, 0, "run at the instant of the wake");
        }
        // Each wake leads to exactly one decision on the unit's pCPU, at
        // the wake's instant, which runs it.
        let u = UnitId::new(1, 1);
        let cpu = sim.core().unit_cpu(u).unwrap();
        let runs: Vec<_> = sim
            .trace()
            .iter()
            .filter(|t| t.cpu == cpu && t.next == Some(u))
            .map(|t| t.time)
            .collect();
        let expect: Vec<_> = (0..10).map(|k| MS + k * 5 * MS).collect();
        assert_eq!(runs, expect);
        // A wake of a unit that is still running costs no decision.
        let core = SchedCore::new(1);
        core.create_pool(0, &NULL).unwrap();
        core.pool_assign_cpu(0, 0).unwrap();
        core.add_domain(0, 1, &[UnitParams::new(1, 0)]).unwrap();
        assert_eq!(core.vcpu_wake(UnitId::new(1, 0), 0), Ok(CpuMask::single(0)));
        assert_eq!(core.schedule(0, 0).next, Some(UnitId::new(1, 0)));
        assert_eq!(
            core.vcpu_block(UnitId::new(1, 0), 1),
            Ok(CpuMask::single(0))
        );
        assert_eq!(core.vcpu_wake(UnitId::new(1, 0), 1), Ok(CpuMask::empty()));
        assert_eq!(core.schedule(0, 1).next, Some(UnitId::new(1, 0)));
    }

    #[test]
    fn an_overcommitted_domain_is_refused() {
        let core = SchedCore::new(4);
        core.create_pool(0, &NULL).unwrap();
        for c in 0..4 {
            core.pool_assign_cpu(0, c).unwrap();
        }
        let six: Vec<_> = (0..6).map(|v| UnitParams::new(1, v)).collect();
        let e = core.add_domain(0, 1, &six).unwrap_err();
        assert_eq!(
            format!("{e}"),
            "domain d1 has 6 vCPUs but pool 0 (null) has 4 pCPUs: \
             the null scheduler runs one vCPU per pCPU"
        );
        // Nothing of d1 stays: all four pCPUs are still free.
        assert_eq!(core.pool_info(0).unwrap().units, 0);
        let three: Vec<_> = (0..3).map(|v| UnitParams::new(2, v)).collect();
        core.add_domain(0, 2, &three).unwrap();
        let e = core
            .add_domain(0, 3, &[UnitParams::new(3, 0), UnitParams::new(3, 1)])
            .unwrap_err();
        assert_eq!(
            format!("{e}"),
            "domain d3: no free pCPU for vCPU 1 in pool 0 (null) within its hard affinity 0-3 \
             (0 of 4 pCPUs free): the null scheduler runs one vCPU per pCPU"
        );
        // Removing a domain frees its pCPUs for the next one.
        core.remove_domain(2).unwrap();
        core.add_domain(0, 3, &[UnitParams::new(3, 0), UnitParams::new(3, 1)])
            .unwrap();
        // A pCPU that owns a unit cannot leave the pool; a free one can.
        let owned = core.unit_cpu(UnitId::new(3, 0)).unwrap();
        assert_eq!(
            core.pool_unassign_cpu(owned),
            Err(SchedError::CpuBusy {
                cpu: owned,
                unit: UnitId::new(3, 0)
            })
        );
        assert_eq!(core.pool_unassign_cpu(3), Ok(()));
    }

    #[test]
    fn affinity_decides_the_pcpu() {
        let core = SchedCore::new(4);
        core.create_pool(0, &NULL).unwrap();
        for c in 0..4 {
            core.pool_assign_cpu(0, c).unwrap();
        }
        let pinned = UnitParams::new(1, 0).pinned(CpuMask::single(2));
        let soft = UnitParams::new(1, 1).preferring(CpuMask::from_cpus(&[3]));
        let any = UnitParams::new(1, 2);
        core.add_domain(0, 1, &[pinned, soft, any]).unwrap();
        assert_eq!(core.unit_cpu(UnitId::new(1, 0)), Some(2));
        assert_eq!(core.unit_cpu(UnitId::new(1, 1)), Some(3));
        assert_eq!(core.unit_cpu(UnitId::new(1, 2)), Some(0));
        // Two units pinned to one pCPU: the second is refused.
        let a = UnitParams::new(2, 0).pinned(CpuMask::single(1));
        let b = UnitParams::new(2, 1).pinned(CpuMask::single(1));
        let e = core.add_domain(0, 2, &[a, b]).unwrap_err();
        assert_eq!(
            format!("{e}"),
            "domain d2: no free pCPU for vCPU 1 in pool 0 (null) within its hard affinity 1 \
             (0 of 4 pCPUs free): the null scheduler runs one vCPU per pCPU"
        );
        let mut out = String::new();
        core.dump(&mut out).unwrap();
        assert!(out.contains("null: pCPUs 0-3, free 1"), "{out}");
        assert!(out.contains("CPU2: d1v0 (blocked)"), "{out}");
    }
}
