//! Tests of the scheduler core, with two small policies written here (core
//! never names a plugin): a round-robin "fifo" with a time slice and an
//! optional unit limit, and a "broken" one that tries to run whatever it
//! likes.

use super::sim::{Sim, Workload, MS};
use super::*;
use alloc::collections::{BTreeMap, VecDeque};
use std::format;
use std::string::String;
use std::vec::Vec;

/// A global round-robin queue: a slice of 1 ms, hard affinity respected.
struct Fifo {
    limit: Option<usize>,
    cpus: CpuMask,
    units: BTreeMap<UnitId, UnitParams>,
    queue: VecDeque<UnitId>,
    running: BTreeMap<usize, UnitId>,
    /// Idle pCPUs already poked: the next wake pokes another one.
    tickled: CpuMask,
}

struct FifoOps {
    opt: &'static str,
    limit: Option<usize>,
}

impl SchedulerOps for FifoOps {
    fn name(&self) -> &'static str {
        "test FIFO"
    }
    fn opt_name(&self) -> &'static str {
        self.opt
    }
    fn sched_id(&self) -> u32 {
        100
    }
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError> {
        Ok(Box::new(Fifo {
            limit: self.limit,
            cpus: CpuMask::empty(),
            units: BTreeMap::new(),
            queue: VecDeque::new(),
            running: BTreeMap::new(),
            tickled: CpuMask::empty(),
        }))
    }
}

impl SchedInstance for Fifo {
    fn add_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        self.cpus.set(cpu);
        Ok(())
    }
    fn remove_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        self.cpus.clear(cpu);
        Ok(())
    }
    fn insert_unit(&mut self, params: &UnitParams) -> Result<(), SchedError> {
        if let Some(limit) = self.limit {
            if self.units.len() >= limit {
                return Err(SchedError::Refused(Refusal {
                    unit: params.unit,
                    pcpus: self.cpus.count(),
                    free: 0,
                    rule: "the test policy takes few units",
                }));
            }
        }
        self.units.insert(params.unit, *params);
        Ok(())
    }
    fn remove_unit(&mut self, unit: UnitId) -> CpuMask {
        self.units.remove(&unit);
        self.queue.retain(|&u| u != unit);
        CpuMask::empty()
    }
    fn wake(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        if self.running.values().any(|&u| u == unit) || self.queue.contains(&unit) {
            return CpuMask::empty();
        }
        self.queue.push_back(unit);
        let hard = self
            .units
            .get(&unit)
            .map_or(CpuMask::empty(), |p| p.hard_affinity);
        let idle = self
            .cpus
            .and(hard)
            .iter()
            .find(|&c| !self.running.contains_key(&c) && !self.tickled.contains(c));
        let t = idle.map_or(CpuMask::empty(), CpuMask::single);
        self.tickled = self.tickled.or(t);
        t
    }
    fn sleep(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        self.queue.retain(|&u| u != unit);
        CpuMask::empty()
    }
    fn yield_unit(&mut self, _unit: UnitId, _now: Time) -> CpuMask {
        CpuMask::empty()
    }
    fn do_schedule(
        &mut self,
        cpu: usize,
        _now: Time,
        prev: Option<UnitId>,
        prev_runnable: bool,
    ) -> Decision {
        self.running.remove(&cpu);
        self.tickled.clear(cpu);
        if let Some(p) = prev.filter(|_| prev_runnable) {
            self.queue.push_back(p);
        }
        let pos = self.queue.iter().position(|u| {
            self.units
                .get(u)
                .is_some_and(|p| p.hard_affinity.contains(cpu))
        });
        match pos.and_then(|i| self.queue.remove(i)) {
            Some(u) => {
                self.running.insert(cpu, u);
                Decision {
                    next: Some(u),
                    slice_ns: Some(MS),
                    tickle: CpuMask::empty(),
                }
            }
            None => Decision::idle(),
        }
    }
    fn pick_cpu(&self, unit: UnitId) -> Option<usize> {
        self.units.get(&unit)?.hard_affinity.and(self.cpus).first()
    }
    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "fifo: queue {:?}", self.queue)
    }
}

/// Runs `target` whenever asked, blocked or not, on any pCPU.
struct Broken {
    target: UnitId,
}
struct BrokenOps;
impl SchedulerOps for BrokenOps {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn opt_name(&self) -> &'static str {
        "broken"
    }
    fn sched_id(&self) -> u32 {
        101
    }
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError> {
        Ok(Box::new(Broken {
            target: UnitId::new(1, 0),
        }))
    }
}
impl SchedInstance for Broken {
    fn add_pcpu(&mut self, _: usize) -> Result<(), SchedError> {
        Ok(())
    }
    fn remove_pcpu(&mut self, _: usize) -> Result<(), SchedError> {
        Ok(())
    }
    fn insert_unit(&mut self, _: &UnitParams) -> Result<(), SchedError> {
        Ok(())
    }
    fn remove_unit(&mut self, _: UnitId) -> CpuMask {
        CpuMask::empty()
    }
    fn wake(&mut self, _: UnitId, _: Time) -> CpuMask {
        CpuMask::all()
    }
    fn sleep(&mut self, _: UnitId, _: Time) -> CpuMask {
        CpuMask::empty()
    }
    fn yield_unit(&mut self, _: UnitId, _: Time) -> CpuMask {
        CpuMask::empty()
    }
    fn do_schedule(&mut self, cpu: usize, _: Time, _: Option<UnitId>, _: bool) -> Decision {
        // It also pokes the next pCPU, and one beyond any pool.
        Decision {
            tickle: CpuMask::from_cpus(&[(cpu + 1) % 2, 100]),
            ..Decision::run(self.target)
        }
    }
    fn pick_cpu(&self, _: UnitId) -> Option<usize> {
        Some(0)
    }
    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "broken")
    }
}

static FIFO: FifoOps = FifoOps {
    opt: "fifo",
    limit: None,
};
static LIMITED: FifoOps = FifoOps {
    opt: "limited",
    limit: Some(2),
};
static BROKEN: BrokenOps = BrokenOps;

// Only this test binary links these: the registry of the real image holds
// the plugins' schedulers.
#[distributed_slice(SCHEDULERS)]
static REG_FIFO: &'static dyn SchedulerOps = &FIFO;
#[distributed_slice(SCHEDULERS)]
static REG_LIMITED: &'static dyn SchedulerOps = &LIMITED;

fn units(domid: u16, n: u16) -> Vec<UnitParams> {
    (0..n).map(|v| UnitParams::new(domid, v)).collect()
}

#[test]
fn boot_pool_takes_the_online_cpus_and_the_requested_scheduler() {
    let core = SchedCore::new(4);
    core.create_boot_pool(&SCHEDULERS, "limited", "fifo", CpuMask::first_n(4))
        .unwrap();
    let info = core.pool_info(0).unwrap();
    assert_eq!(info.sched.opt_name(), "limited");
    assert_eq!(info.cpus, CpuMask::first_n(4));
    assert_eq!(core.pool_of_cpu(3), Some(0));
    // A pCPU belongs to one pool; indices beyond the core are refused.
    core.create_pool(1, &FIFO).unwrap();
    assert_eq!(
        core.pool_assign_cpu(1, 2),
        Err(SchedError::CpuInPool { cpu: 2, pool: 0 })
    );
    assert_eq!(
        core.pool_assign_cpu(1, 9),
        Err(SchedError::CpuOutOfRange(9))
    );
    assert_eq!(core.create_pool(1, &FIFO), Err(SchedError::PoolExists(1)));
    core.pool_unassign_cpu(3).unwrap();
    core.pool_assign_cpu(1, 3).unwrap();
    assert_eq!(core.pool_of_cpu(3), Some(1));
    assert_eq!(core.destroy_pool(1), Err(SchedError::PoolNotEmpty(1)));
    core.pool_unassign_cpu(3).unwrap();
    core.destroy_pool(1).unwrap();
    assert_eq!(core.pool_info(1), None);
    let mut out = String::new();
    core.dump(&mut out).unwrap();
    assert!(
        out.starts_with("Pool 0: test FIFO (limited), pCPUs 0-2"),
        "{out}"
    );
}

#[test]
fn unknown_sched_falls_back_to_the_kconfig_default_with_a_warning() {
    let (s, fb) = select_scheduler(&SCHEDULERS, "fifo", "limited").unwrap();
    assert_eq!((s.opt_name(), fb), ("fifo", None));
    let (s, fb) = select_scheduler(&SCHEDULERS, "", "limited").unwrap();
    assert_eq!((s.opt_name(), fb), ("limited", None));
    let (s, fb) = select_scheduler(&SCHEDULERS, "credit9", "limited").unwrap();
    assert_eq!(s.opt_name(), "limited");
    let fb = fb.expect("a fallback to warn about");
    let text = format!("{fb}");
    assert!(
        text.starts_with("sched: unknown scheduler 'credit9' (this image has: "),
        "{text}"
    );
    assert!(text.ends_with("); using test FIFO (limited)"), "{text}");
    // This test binary does not link the host default ("null"): the first
    // scheduler by name is used and the message says so.
    assert_eq!(default_scheduler_name(), "null");
    let (s, fb) = select_scheduler(&SCHEDULERS, "", default_scheduler_name()).unwrap();
    assert_eq!(s.opt_name(), "fifo");
    assert!(format!("{}", fb.unwrap())
        .starts_with("sched: the default scheduler 'null' is not built in"));
    assert_eq!(
        select_scheduler(&[], "null", "null").map(|r| r.0.opt_name()),
        Err(SchedError::NoScheduler)
    );
}

#[test]
fn sched_is_a_registered_parameter_that_checks_its_value() {
    let p = PARAMS.iter().find(|p| p.name == "sched").expect("sched=");
    let ParamKind::Value(set) = p.kind else {
        panic!("sched= takes a value")
    };
    assert!(set("null").is_ok());
    assert!(set("").is_err());
    assert!(set("a b").is_err());
    assert_eq!(set("a-very-long-scheduler-name"), Err("too long"));
    SCHED_PARAM.with(|s| assert_eq!(s, "null"));
}

#[test]
fn global_entry_points_before_and_after_init() {
    assert_eq!(schedule(0, 0), Dispatch::idle());
    assert_eq!(
        vcpu_wake(UnitId::new(1, 0), 0),
        Err(SchedError::NotInitialised)
    );
    assert!(!need_resched(0));
    // sched= as set by other tests may be "null" (absent here): init
    // falls back and still builds Pool-0.
    let core = init(2, &BootPools::single(CpuMask::first_n(2))).unwrap();
    assert_eq!(
        init(2, &BootPools::single(CpuMask::first_n(2))).err(),
        Some(SchedError::AlreadyInitialised)
    );
    assert_eq!(core.pool_info(0).unwrap().cpus, CpuMask::first_n(2));
    core.add_domain(0, 7, &units(7, 1)).unwrap();
    assert!(need_resched(0));
    assert_eq!(
        vcpu_wake(UnitId::new(7, 0), 10).map(|m| m.is_empty()),
        Ok(false)
    );
    let d = schedule(0, 10).next.or(schedule(1, 10).next);
    assert_eq!(d, Some(UnitId::new(7, 0)));
    assert!(current(0) == d || current(1) == d);
    assert_eq!(vcpu_yield(UnitId::new(7, 0), 11).map(|m| m.count()), Ok(1));
    assert!(vcpu_block(UnitId::new(7, 0), 12).is_ok());
    assert!(get().is_some());
}

#[test]
fn refusal_of_a_domain_names_it_and_undoes_its_other_vcpus() {
    let core = SchedCore::new(4);
    core.create_pool(0, &LIMITED).unwrap();
    for c in 0..4 {
        core.pool_assign_cpu(0, c).unwrap();
    }
    let e = core.add_domain(0, 1, &units(1, 6)).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "domain d1 has 6 vCPUs but pool 0 (limited) has 4 pCPUs: the test policy takes few units"
    );
    assert_eq!(core.pool_info(0).unwrap().units, 0, "rolled back");
    assert_eq!(core.pool_of_domain(1), None);
    core.add_domain(0, 1, &units(1, 1)).unwrap();
    let e = core.add_domain(0, 2, &units(2, 2)).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "domain d2: no free pCPU for vCPU 1 in pool 0 (limited) within its hard affinity 0-3 \
         (0 of 4 pCPUs free): the test policy takes few units"
    );
    assert_eq!(core.pool_info(0).unwrap().units, 1);
    // Bad input is an error, never a panic.
    assert_eq!(
        core.add_domain(0, 1, &units(1, 1)),
        Err(SchedError::DomainExists(1))
    );
    assert_eq!(
        core.add_domain(0, 3, &[]),
        Err(SchedError::BadDomainUnits(3))
    );
    assert_eq!(
        core.add_domain(0, 3, &units(4, 1)),
        Err(SchedError::BadDomainUnits(3))
    );
    assert_eq!(
        core.add_domain(0, 3, &[UnitParams::new(3, 0), UnitParams::new(3, 0)]),
        Err(SchedError::UnitExists(UnitId::new(3, 0)))
    );
    let pinned = UnitParams::new(3, 0).pinned(CpuMask::single(9));
    assert_eq!(
        format!("{}", core.add_domain(0, 3, &[pinned]).unwrap_err()),
        "d3v0: hard affinity 9 has no pCPU of pool 0 (0-3)"
    );
    assert_eq!(
        core.add_domain(5, 3, &units(3, 1)),
        Err(SchedError::UnknownPool(5))
    );
}

#[test]
fn block_wake_yield_bookkeeping() {
    let core = SchedCore::new(2);
    core.create_pool(0, &FIFO).unwrap();
    core.pool_assign_cpu(0, 0).unwrap();
    core.pool_assign_cpu(0, 1).unwrap();
    let (a, b) = (UnitId::new(1, 0), UnitId::new(1, 1));
    core.add_domain(0, 1, &units(1, 2)).unwrap();
    // Units start blocked; both pCPUs were asked to look for work.
    assert!(core.need_resched(0) && core.need_resched(1));
    assert_eq!(core.schedule(0, 0).next, None);
    assert!(!core.need_resched(0));
    assert!(!core.unit_info(a).unwrap().runnable);

    // Wake: the policy tickles an idle pCPU; a second wake is a no-op.
    assert_eq!(core.vcpu_wake(a, 1), Ok(CpuMask::single(0)));
    assert!(core.need_resched(0));
    assert_eq!(core.vcpu_wake(a, 1), Ok(CpuMask::empty()));
    let d = core.schedule(0, 2);
    assert_eq!(
        (d.prev, d.next, d.switched, d.migrated),
        (None, Some(a), true, false)
    );
    assert_eq!(d.slice_ns, Some(MS));
    assert_eq!(core.current(0), Some(a));
    assert_eq!(core.unit_info(a).unwrap().on_cpu, Some(0));
    assert_eq!(core.unit_cpu(a), Some(0));

    // Yield: its own pCPU reschedules; alone, it runs on.
    assert_eq!(core.vcpu_yield(a, 3), Ok(CpuMask::single(0)));
    let d = core.schedule(0, 3);
    assert_eq!((d.next, d.switched), (Some(a), false));
    // Yield of a unit not on a pCPU does nothing.
    assert_eq!(core.vcpu_yield(b, 3), Ok(CpuMask::empty()));

    // Block: the pCPU it runs on must reschedule; it then idles. A second
    // block is a no-op.
    assert_eq!(core.vcpu_block(a, 4), Ok(CpuMask::single(0)));
    assert_eq!(core.vcpu_block(a, 4), Ok(CpuMask::empty()));
    assert_eq!(
        core.unit_info(a).unwrap().on_cpu,
        Some(0),
        "until the pCPU reschedules"
    );
    assert_eq!(
        core.remove_domain(1),
        Err(SchedError::UnitOnCpu { unit: a, cpu: 0 })
    );
    let d = core.schedule(0, 5);
    assert_eq!((d.prev, d.next, d.switched), (Some(a), None, true));
    assert_eq!(core.current(0), None);

    // Woken again and run on pCPU 1: the core reports the migration.
    core.vcpu_wake(a, 6).unwrap();
    let d = core.schedule(1, 6);
    assert_eq!((d.next, d.migrated), (Some(a), true));
    core.vcpu_block(a, 7).unwrap();
    core.schedule(1, 7);

    // A pCPU running a unit cannot leave its pool.
    core.vcpu_wake(b, 8).unwrap();
    core.schedule(0, 8);
    assert_eq!(
        core.pool_unassign_cpu(0),
        Err(SchedError::CpuBusy { cpu: 0, unit: b })
    );

    // Unknown units are errors, not panics.
    let ghost = UnitId::new(9, 9);
    assert_eq!(
        core.vcpu_wake(ghost, 9),
        Err(SchedError::UnknownUnit(ghost))
    );
    assert_eq!(
        core.vcpu_block(UnitId::new(1, 7), 9),
        Err(SchedError::UnknownUnit(UnitId::new(1, 7)))
    );
    assert_eq!(core.schedule(99, 9), Dispatch::idle());
    assert_eq!(core.current(99), None);

    // Runnable-but-queued units are dequeued when the domain goes.
    core.vcpu_block(b, 10).unwrap();
    core.schedule(0, 10);
    core.vcpu_wake(a, 11).unwrap();
    assert_eq!(core.remove_domain(1).map(|_| ()), Ok(()));
    assert_eq!(core.pool_info(0).unwrap().units, 0);
    assert_eq!(core.schedule(0, 12).next, None);
}

#[test]
fn policy_decisions_that_break_the_rules_are_refused_and_counted() {
    let core = SchedCore::new(2);
    core.create_pool(0, &BROKEN).unwrap();
    core.pool_assign_cpu(0, 0).unwrap();
    core.pool_assign_cpu(0, 1).unwrap();
    // The target does not exist yet, then is blocked.
    assert_eq!(core.schedule(0, 0).next, None);
    core.add_domain(0, 1, &[UnitParams::new(1, 0).pinned(CpuMask::single(0))])
        .unwrap();
    assert_eq!(core.schedule(0, 1).next, None);
    // Runnable: runs on pCPU 0, but neither twice at once nor outside its
    // hard affinity.
    let woke = core.vcpu_wake(UnitId::new(1, 0), 2).unwrap();
    assert_eq!(woke, CpuMask::first_n(2), "tickles are limited to the pool");
    let d = core.schedule(0, 2);
    assert_eq!(d.next, Some(UnitId::new(1, 0)));
    // A decision's tickles come back to the caller (who must send the
    // reschedule IPI: a pCPU asleep in WFI does not see a flag), limited
    // to the pool.
    assert_eq!(d.tickle, CpuMask::single(1));
    assert!(core.need_resched(1));
    assert_eq!(core.schedule(1, 2).next, None);
    assert_eq!(
        core.pool_info(0).unwrap().stats,
        PoolStats {
            decisions: 4,
            rejected: 3
        }
    );
}

#[test]
fn simulated_round_robin_shares_cpu_time_evenly() {
    let mut sim = Sim::single_pool(&FIFO, 2).unwrap();
    let work: Vec<_> = (0..3)
        .map(|v| (UnitParams::new(1, v), Workload::CpuBound))
        .collect();
    sim.add_domain(0, 1, &work).unwrap();
    sim.run_for(3000 * MS);
    assert_eq!(sim.violations(), &[] as &[String]);
    for v in 0..3 {
        let s = sim.unit_stats(UnitId::new(1, v)).unwrap();
        // Each gets 2/3 of a pCPU, within 5%.
        let share = s.run_ns as f64 / (3000 * MS) as f64;
        assert!(
            (share - 2.0 / 3.0).abs() < 0.05 * 2.0 / 3.0,
            "d1v{v}: {share}"
        );
        assert!(s.migrations > 0, "a global queue moves units around");
    }
    assert_eq!(sim.cpu_stats(0).unwrap().idle_ns, 0);
}

#[test]
fn simulated_workloads_block_wake_yield_and_release_periodically() {
    let mut sim = Sim::single_pool(&FIFO, 1).unwrap();
    sim.enable_trace();
    sim.add_domain(
        0,
        1,
        &[
            (
                UnitParams::new(1, 0),
                Workload::BlockWake {
                    run_ns: 2 * MS,
                    sleep_ns: 8 * MS,
                },
            ),
            (
                UnitParams::new(1, 1),
                Workload::Periodic {
                    period_ns: 10 * MS,
                    budget_ns: MS,
                    offset_ns: 5 * MS,
                },
            ),
            (
                UnitParams::new(1, 2),
                Workload::YieldEvery { run_ns: MS / 2 },
            ),
            (UnitParams::new(1, 3), Workload::Idle),
        ],
    )
    .unwrap();
    sim.run_for(100 * MS);
    assert_eq!(sim.violations(), &[] as &[String]);
    let bw = sim.unit_stats(UnitId::new(1, 0)).unwrap();
    let per = sim.unit_stats(UnitId::new(1, 1)).unwrap();
    let y = sim.unit_stats(UnitId::new(1, 2)).unwrap();
    let idle = sim.unit_stats(UnitId::new(1, 3)).unwrap();
    assert!(
        bw.blocks >= 5 && bw.wakes.abs_diff(bw.blocks) <= 1,
        "{bw:?}"
    );
    assert_eq!(per.jobs_done, 10);
    assert_eq!(per.deadline_misses, 0);
    assert!(y.yields > 50, "{y:?}");
    assert_eq!(idle.run_ns + idle.dispatches, 0);
    let c = sim.cpu_stats(0).unwrap();
    assert_eq!(c.busy_ns + c.idle_ns, 100 * MS);
    assert_eq!(bw.run_ns + per.run_ns + y.run_ns, c.busy_ns);
    assert_eq!(sim.trace().len() as u64, c.decisions);
    assert_eq!(sim.now(), 100 * MS);
    assert!(
        bw.max_wake_latency_ns <= 2 * MS,
        "round robin behind one yielder"
    );
}

// Boot-time pools from `xen,cpupool` nodes.

mod boot_pools {
    use super::*;
    use crate::fdt::Fdt;
    use crate::testing::DtBuilder;
    use std::vec;

    /// Xen's cpupools.txt machine: a72 cores 0 and 1, a53 cores 0x100 to
    /// 0x103 (phandles 1..=6), pCPU index = position in this list.
    const HWIDS: [u64; 6] = [0, 1, 0x100, 0x101, 0x102, 0x103];

    fn hwid(i: usize) -> Option<u64> {
        HWIDS.get(i).copied()
    }

    /// A tree with those cpus and `chosen` written by the closure.
    fn tree(chosen: impl FnOnce(&mut DtBuilder)) -> Vec<u8> {
        let mut b = DtBuilder::new();
        b.begin("");
        b.prop_u32("#address-cells", 2);
        b.prop_u32("#size-cells", 2);
        b.begin("cpus");
        b.prop_u32("#address-cells", 1);
        b.prop_u32("#size-cells", 0);
        for (i, h) in HWIDS.iter().enumerate() {
            b.begin(&format!("cpu@{h:x}"));
            b.prop_str("device_type", "cpu");
            b.prop_u32("reg", *h as u32);
            b.prop_u32("phandle", i as u32 + 1);
            b.end();
        }
        b.end();
        b.begin("uart@9000000");
        b.prop_u32("phandle", 0x40);
        b.end();
        b.begin("chosen");
        chosen(&mut b);
        b.end();
        b.end();
        b.finish(&[])
    }

    fn pool(b: &mut DtBuilder, name: &str, phandle: u32, cpus: &[u32], sched: Option<&str>) {
        b.begin(name);
        b.prop_str("compatible", "xen,cpupool");
        b.prop_cells("cpupool-cpus", cpus);
        if let Some(s) = sched {
            b.prop_str("cpupool-sched", s);
        }
        b.prop_u32("phandle", phandle);
        b.end();
    }

    fn registry() -> [&'static dyn SchedulerOps; 2] {
        [&FIFO, &LIMITED]
    }

    fn parse(blob: &[u8], online: CpuMask) -> Result<BootPools, PoolDtError> {
        parse_boot_pools(&Fdt::new(blob).unwrap(), &registry(), 6, &hwid, online)
    }

    fn all() -> CpuMask {
        CpuMask::first_n(6)
    }

    #[test]
    fn no_pool_node_puts_every_online_pcpu_in_pool_0() {
        let blob = tree(|_| {});
        let l = parse(&blob, CpuMask::from_cpus(&[0, 2, 3])).unwrap();
        assert_eq!(l, BootPools::single(CpuMask::from_cpus(&[0, 2, 3])));
    }

    #[test]
    fn xen_second_example_gives_three_pools_with_the_boot_pcpu_in_pool_0() {
        // cpupools.txt: pool a = a53_1, a53_2; pool b = a72_1, a72_2
        // with its own scheduler; a53_3 and a53_4 form a third pool.
        let blob = tree(|b| {
            pool(b, "cpupool_a", 0x20, &[3, 4], None);
            pool(b, "cpupool_b", 0x21, &[1, 2], Some("limited"));
        });
        let fdt_blob = blob.clone();
        let l = parse(&blob, all()).unwrap();
        let ids: Vec<(u32, Option<&str>, CpuMask, Option<&str>)> = l
            .pools
            .iter()
            .map(|p| {
                (
                    p.id,
                    p.node.as_deref(),
                    p.cpus,
                    p.sched.map(|s| s.opt_name()),
                )
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                (
                    0,
                    Some("cpupool_b"),
                    CpuMask::from_cpus(&[0, 1]),
                    Some("limited")
                ),
                (1, Some("cpupool_a"), CpuMask::from_cpus(&[2, 3]), None),
                (2, None, CpuMask::from_cpus(&[4, 5]), None),
            ]
        );
        let fdt = Fdt::new(&fdt_blob).unwrap();
        assert_eq!(l.pool_of_phandle(&fdt, 0x20), Ok(1));
        assert_eq!(l.pool_of_phandle(&fdt, 0x21), Ok(0));
        assert_eq!(
            l.pool_of_phandle(&fdt, 0x40),
            Err(PoolDtError::NotAPool {
                phandle: 0x40,
                node: "uart@9000000".into()
            })
        );
        assert_eq!(
            l.pool_of_phandle(&fdt, 0x99),
            Err(PoolDtError::NoSuchPhandle { phandle: 0x99 })
        );
    }

    #[test]
    fn every_pcpu_named_means_no_extra_pool() {
        let blob = tree(|b| {
            pool(b, "p0", 0x20, &[1, 2, 3], None);
            pool(b, "p1", 0x21, &[4, 5, 6], Some("fifo"));
        });
        let l = parse(&blob, all()).unwrap();
        assert_eq!(l.pools.len(), 2);
        assert_eq!(l.pools[1].cpus, CpuMask::from_cpus(&[3, 4, 5]));
        assert_eq!(l.pools[1].sched.map(|s| s.opt_name()), Some("fifo"));
    }

    #[test]
    fn bad_pool_nodes_are_refused_by_name() {
        let cases: Vec<(Vec<u8>, PoolDtError)> = vec![
            (
                tree(|b| {
                    pool(b, "a", 0x20, &[1, 2], None);
                    pool(b, "b", 0x21, &[2], None);
                }),
                PoolDtError::CpuTwice {
                    node: "b".into(),
                    cpu: 1,
                },
            ),
            (
                tree(|b| pool(b, "a", 0x20, &[1, 1], None)),
                PoolDtError::CpuTwice {
                    node: "a".into(),
                    cpu: 0,
                },
            ),
            (
                tree(|b| pool(b, "a", 0x20, &[], None)),
                PoolDtError::NoCpus { node: "a".into() },
            ),
            (
                tree(|b| pool(b, "a", 0x20, &[0x40], None)),
                PoolDtError::NotACpu {
                    node: "a".into(),
                    phandle: 0x40,
                },
            ),
            (
                tree(|b| pool(b, "a", 0x20, &[0x77], None)),
                PoolDtError::NotACpu {
                    node: "a".into(),
                    phandle: 0x77,
                },
            ),
            (
                tree(|b| pool(b, "a", 0x20, &[2], Some("credit9"))),
                PoolDtError::UnknownScheduler {
                    node: "a".into(),
                    name: "credit9".into(),
                    available: " fifo limited".into(),
                },
            ),
            (
                tree(|b| {
                    b.begin("a");
                    b.prop_str("compatible", "xen,cpupool");
                    b.prop_cells("cpupool-cpus", &[2]);
                    b.prop_u32("cpupool-weight", 3);
                    b.end();
                }),
                PoolDtError::UnknownProperty {
                    node: "a".into(),
                    property: "cpupool-weight".into(),
                },
            ),
            (
                tree(|b| {
                    b.begin("a");
                    b.prop_str("compatible", "xen,cpupool");
                    b.prop_bytes("cpupool-cpus", &[0, 0, 1]);
                    b.end();
                }),
                PoolDtError::BadProperty {
                    node: "a".into(),
                    property: "cpupool-cpus",
                    why: "must be a list of phandles",
                },
            ),
        ];
        for (blob, want) in cases {
            let got = parse(&blob, all()).unwrap_err();
            assert_eq!(got, want);
            let msg = format!("{got}");
            assert!(msg.starts_with("cpupool "), "{msg}");
        }
        // A pool naming a pCPU that never came online (Xen panics).
        let blob = tree(|b| pool(b, "a", 0x20, &[3], None));
        assert_eq!(
            parse(&blob, CpuMask::from_cpus(&[0, 1])).unwrap_err(),
            PoolDtError::CpuOffline {
                node: "a".into(),
                cpu: 2
            }
        );
        // A cpu node whose reg is no pCPU the machine has.
        let blob = tree(|b| pool(b, "a", 0x20, &[6], None));
        let l = parse_boot_pools(&Fdt::new(&blob).unwrap(), &registry(), 5, &hwid, all());
        assert_eq!(
            l.unwrap_err(),
            PoolDtError::NoSuchCpu {
                node: "a".into(),
                cpu_node: "cpu@103".into(),
                hwid: 0x103
            }
        );
    }

    #[test]
    fn boot_pools_get_their_schedulers_and_keep_domains_on_their_pcpus() {
        let blob = tree(|b| pool(b, "rt", 0x20, &[5, 6], Some("fifo")));
        let l = parse(&blob, CpuMask::first_n(6)).unwrap();
        let core = SchedCore::new(6);
        core.create_boot_pools(&registry(), "", "limited", &l)
            .unwrap();
        let p0 = core.pool_info(0).unwrap();
        let p1 = core.pool_info(1).unwrap();
        assert_eq!(
            (p0.sched.opt_name(), p0.cpus),
            ("limited", CpuMask::first_n(4))
        );
        assert_eq!(
            (p1.sched.opt_name(), p1.cpus),
            ("fifo", CpuMask::from_cpus(&[4, 5]))
        );
        core.add_domain(1, 1, &[UnitParams::new(1, 0), UnitParams::new(1, 1)])
            .unwrap();
        assert_eq!(core.pool_of_domain(1), Some(1));
        core.vcpu_wake(UnitId::new(1, 0), 0).unwrap();
        core.vcpu_wake(UnitId::new(1, 1), 0).unwrap();
        for cpu in 0..4 {
            assert_eq!(core.schedule(cpu, 1).next, None, "pCPU {cpu} is Pool-0's");
        }
        let ran: Vec<Option<UnitId>> = (4..6).map(|c| core.schedule(c, 1).next).collect();
        assert!(ran.contains(&Some(UnitId::new(1, 0))) && ran.contains(&Some(UnitId::new(1, 1))));
    }
}
