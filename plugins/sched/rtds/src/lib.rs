//! The RTDS scheduler (Xen's `sched=rtds`, xen/common/sched/rt.c):
//! preemptive global earliest deadline first over deferrable servers.
//!
//! Every unit has a period and a budget (default 10 ms and 4 ms). Its
//! deadline is the end of its current period; at each period boundary a
//! replenishment timer gives it its full budget back and moves the deadline
//! one period on. A running unit burns budget; a blocked one keeps what is
//! left until its period ends (deferrable server). The pool has one run
//! queue ordered by (priority level, deadline), one queue of depleted
//! units, and one replenishment queue ordered by deadline whose head arms
//! the policy timer. Each pCPU runs the first unit of the run queue it may
//! run; a woken or replenished unit takes an idle pCPU or preempts the
//! unit with the latest deadline. With `extratime` (Xen's default since
//! 4.10) a unit that used its budget gets it again at one priority level
//! lower, so it only uses time nobody reserved.
//!
//! Departures from Xen 4.20: no separate `context_saved` (what it does
//! happens at the end of the decision, when the core switches); parameters
//! come with the unit (`PolicyParams::Rtds`) and are checked at insertion
//! as `XEN_DOMCTL_SCHEDOP_putvcpuinfo` checks them.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;

use linkme::distributed_slice;
use tessera_core::registry::{Plugin, Status, SupportRow, PLUGINS};
use tessera_core::sched::{
    sched_id, CpuMask, Decision, PolicyParams, SchedError, SchedInstance, SchedulerOps, Time,
    UnitId, UnitParams, SCHEDULERS,
};

const US: u64 = 1_000;
/// Xen's `RTDS_DEFAULT_PERIOD`.
pub const DEFAULT_PERIOD_NS: u64 = 10_000 * US;
/// Xen's `RTDS_DEFAULT_BUDGET`.
pub const DEFAULT_BUDGET_NS: u64 = 4_000 * US;
/// Xen's `RTDS_MIN_PERIOD`.
pub const MIN_PERIOD_NS: u64 = 10 * US;
/// Xen's `RTDS_MIN_BUDGET`.
pub const MIN_BUDGET_NS: u64 = 10 * US;

/// The RTDS scheduler's descriptor.
pub struct RtdsScheduler;

impl SchedulerOps for RtdsScheduler {
    fn name(&self) -> &'static str {
        "SMP RTDS Scheduler"
    }
    fn opt_name(&self) -> &'static str {
        "rtds"
    }
    fn sched_id(&self) -> u32 {
        sched_id::RTDS
    }
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError> {
        Ok(Box::new(RtdsInstance::default()))
    }
}

struct Unit {
    params: UnitParams,
    period: u64,
    budget: u64,
    extratime: bool,
    cur_budget: u64,
    cur_deadline: Time,
    last_start: Time,
    priority_level: u32,
    /// Xen's `processor`.
    cpu: usize,
    runnable: bool,
    /// On the run queue or the depleted queue (Xen's `q_elem`).
    on_q: bool,
    on_replq: bool,
    /// Current on a pCPU (Xen's `RTDS_scheduled`).
    scheduled: bool,
    depleted: bool,
}

/// One pool's RTDS scheduler.
#[derive(Default)]
pub struct RtdsInstance {
    pcpus: CpuMask,
    units: BTreeMap<UnitId, Unit>,
    /// Ordered by (priority level, deadline), ties first come first
    /// served; the key is kept beside the unit so ordering needs no
    /// lookups.
    runq: Vec<(u32, Time, UnitId)>,
    depletedq: Vec<UnitId>,
    /// Ordered by deadline.
    replq: Vec<(Time, UnitId)>,
    curr: BTreeMap<usize, UnitId>,
    tickled: CpuMask,
    now_hint: Time,
}

impl RtdsInstance {
    /// Xen's `compare_unit_priority`: `Greater` when `a` goes first.
    fn compare(&self, a: UnitId, b: UnitId) -> Ordering {
        match (self.units.get(&a), self.units.get(&b)) {
            (Some(x), Some(y)) => {
                (y.priority_level, y.cur_deadline).cmp(&(x.priority_level, x.cur_deadline))
            }
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        }
    }

    /// Next period with a full budget (Xen's `rt_update_deadline`).
    fn update_deadline(&mut self, unit: UnitId, now: Time) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        if now >= u.cur_deadline {
            let behind = (now - u.cur_deadline) / u.period + 1;
            u.cur_deadline = u
                .cur_deadline
                .saturating_add(behind.saturating_mul(u.period));
        }
        u.last_start = now;
        u.cur_budget = u.budget;
        u.priority_level = 0;
    }

    fn runq_insert(&mut self, unit: UnitId) {
        let Some(u) = self.units.get(&unit) else {
            return;
        };
        if u.on_q {
            return;
        }
        if u.cur_budget > 0 || u.extratime {
            let key = (u.priority_level, u.cur_deadline);
            let pos = self.runq.partition_point(|&(l, d, _)| (l, d) <= key);
            self.runq.insert(pos, (key.0, key.1, unit));
        } else {
            self.depletedq.push(unit);
        }
        if let Some(u) = self.units.get_mut(&unit) {
            u.on_q = true;
        }
    }

    fn q_remove(&mut self, unit: UnitId) {
        if let Some(u) = self.units.get_mut(&unit) {
            if !u.on_q {
                return;
            }
            u.on_q = false;
        }
        if let Some(i) = self.runq.iter().position(|e| e.2 == unit) {
            self.runq.remove(i);
        } else if let Some(i) = self.depletedq.iter().position(|&v| v == unit) {
            self.depletedq.swap_remove(i);
        }
    }

    fn replq_insert(&mut self, unit: UnitId) {
        let Some(u) = self.units.get(&unit) else {
            return;
        };
        if u.on_replq {
            return;
        }
        let d = u.cur_deadline;
        let pos = self.replq.partition_point(|&(x, _)| x <= d);
        self.replq.insert(pos, (d, unit));
        if let Some(u) = self.units.get_mut(&unit) {
            u.on_replq = true;
        }
    }

    fn replq_remove(&mut self, unit: UnitId) {
        if let Some(u) = self.units.get_mut(&unit) {
            if !u.on_replq {
                return;
            }
            u.on_replq = false;
        }
        if let Some(i) = self.replq.iter().position(|e| e.1 == unit) {
            self.replq.remove(i);
        }
    }

    /// Xen's `burn_budget`.
    fn burn(&mut self, unit: UnitId, now: Time) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        let delta = now.saturating_sub(u.last_start);
        u.last_start = now;
        u.cur_budget = u.cur_budget.saturating_sub(delta);
        if u.cur_budget == 0 {
            if u.extratime {
                u.priority_level = u.priority_level.saturating_add(1);
                u.cur_budget = u.budget;
            } else {
                u.depleted = true;
            }
        }
    }

    /// The pCPU that should take a unit just queued (Xen's `runq_tickle`).
    fn runq_tickle(&mut self, unit: UnitId) -> CpuMask {
        let Some(u) = self.units.get(&unit) else {
            return CpuMask::empty();
        };
        let mut cands = u.params.hard_affinity.and(self.pcpus).and_not(self.tickled);
        let mut cpu = if cands.contains(u.cpu) {
            Some(u.cpu)
        } else {
            cands.cycle(u.cpu)
        };
        let mut latest: Option<(usize, UnitId)> = None;
        while let Some(c) = cpu {
            match self.curr.get(&c) {
                None => return self.tickle_cpu(c),
                Some(&cur) => {
                    if latest.is_none_or(|(_, l)| self.compare(cur, l) == Ordering::Less) {
                        latest = Some((c, cur));
                    }
                }
            }
            cands.clear(c);
            cpu = cands.cycle(c);
        }
        match latest {
            Some((c, l)) if self.compare(l, unit) == Ordering::Less => self.tickle_cpu(c),
            _ => CpuMask::empty(),
        }
    }

    fn tickle_cpu(&mut self, cpu: usize) -> CpuMask {
        self.tickled.set(cpu);
        CpuMask::single(cpu)
    }

    /// Checks a unit's parameters as `XEN_DOMCTL_SCHEDOP_putvcpuinfo`.
    fn params_of(p: &UnitParams) -> Result<(u64, u64, bool), SchedError> {
        let (period, budget, extratime) = match p.policy {
            PolicyParams::Rtds {
                period_ns,
                budget_ns,
                extratime,
            } => (period_ns, budget_ns, extratime),
            _ => (DEFAULT_PERIOD_NS, DEFAULT_BUDGET_NS, true),
        };
        if period < MIN_PERIOD_NS || budget < MIN_BUDGET_NS || budget > period {
            return Err(SchedError::Policy(
                "rtds: a unit needs 10 us <= budget <= period and period >= 10 us",
            ));
        }
        Ok((period, budget, extratime))
    }
}

impl SchedInstance for RtdsInstance {
    fn add_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        if cpu >= CpuMask::CAPACITY {
            return Err(SchedError::CpuOutOfRange(cpu));
        }
        self.pcpus.set(cpu);
        Ok(())
    }

    fn remove_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        let rest = self.pcpus.and_not(CpuMask::single(cpu));
        if rest.is_empty() && !self.units.is_empty() {
            return Err(SchedError::Policy(
                "rtds: the last pCPU of a pool with units cannot leave it",
            ));
        }
        self.pcpus = rest;
        self.tickled.clear(cpu);
        self.curr.remove(&cpu);
        for u in self.units.values_mut().filter(|u| u.cpu == cpu) {
            if let Some(c) = u.params.hard_affinity.and(rest).first().or(rest.first()) {
                u.cpu = c;
            }
        }
        Ok(())
    }

    fn insert_unit(&mut self, params: &UnitParams) -> Result<(), SchedError> {
        if self.units.contains_key(&params.unit) {
            return Err(SchedError::UnitExists(params.unit));
        }
        let (period, budget, extratime) = Self::params_of(params)?;
        let cpu = params
            .hard_affinity
            .and(self.pcpus)
            .first()
            .ok_or(SchedError::Policy(
                "rtds: no pCPU of the pool in the unit's affinity",
            ))?;
        self.units.insert(
            params.unit,
            Unit {
                params: *params,
                period,
                budget,
                extratime,
                cur_budget: budget,
                cur_deadline: 0,
                last_start: 0,
                priority_level: 0,
                cpu,
                runnable: false,
                on_q: false,
                on_replq: false,
                scheduled: false,
                depleted: false,
            },
        );
        self.update_deadline(params.unit, self.now_hint);
        Ok(())
    }

    fn remove_unit(&mut self, unit: UnitId) -> CpuMask {
        self.q_remove(unit);
        self.replq_remove(unit);
        self.units.remove(&unit);
        CpuMask::empty()
    }

    fn wake(&mut self, unit: UnitId, now: Time) -> CpuMask {
        self.now_hint = self.now_hint.max(now);
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        u.runnable = true;
        if u.on_q || u.scheduled {
            // Queued already, or still on its pCPU (re-queued when that
            // pCPU reschedules; Xen's "wake_running").
            return CpuMask::empty();
        }
        // A deadline passed while it slept: new period, full budget.
        if now >= u.cur_deadline {
            self.update_deadline(unit, now);
            if self.units.get(&unit).is_some_and(|u| u.on_replq) {
                self.replq_remove(unit);
                self.replq_insert(unit);
            }
        }
        self.replq_insert(unit);
        self.runq_insert(unit);
        self.runq_tickle(unit)
    }

    fn sleep(&mut self, unit: UnitId, now: Time) -> CpuMask {
        self.now_hint = self.now_hint.max(now);
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        u.runnable = false;
        if u.scheduled {
            return CpuMask::single(u.cpu);
        }
        if u.on_q {
            self.q_remove(unit);
            self.replq_remove(unit);
        }
        CpuMask::empty()
    }

    fn yield_unit(&mut self, _unit: UnitId, _now: Time) -> CpuMask {
        // Xen's RTDS has no yield: a unit keeps its deadline.
        CpuMask::empty()
    }

    fn do_schedule(
        &mut self,
        cpu: usize,
        now: Time,
        prev: Option<UnitId>,
        prev_runnable: bool,
    ) -> Decision {
        self.now_hint = self.now_hint.max(now);
        self.tickled.clear(cpu);
        let prev = prev.filter(|u| self.units.contains_key(u));
        if let Some(p) = prev {
            self.burn(p, now);
        }
        let mut snext = self.runq.iter().map(|e| e.2).find(|v| {
            self.units
                .get(v)
                .is_some_and(|u| u.params.hard_affinity.contains(cpu))
        });
        if let Some(p) = prev.filter(|_| prev_runnable) {
            let keeps = self
                .units
                .get(&p)
                .is_some_and(|u| u.cur_budget > 0 && !u.depleted);
            if keeps && snext.is_none_or(|n| self.compare(p, n) == Ordering::Greater) {
                snext = Some(p);
            }
        }
        let mut tickle = CpuMask::empty();
        // What Xen's rt_context_saved does for the unit leaving the pCPU.
        if let Some(p) = prev.filter(|&p| Some(p) != snext) {
            if let Some(u) = self.units.get_mut(&p) {
                u.scheduled = false;
            }
            if prev_runnable {
                self.runq_insert(p);
                tickle = tickle.or(self.runq_tickle(p));
            } else {
                self.replq_remove(p);
            }
        }
        self.curr.remove(&cpu);
        let Some(n) = snext else {
            return Decision {
                next: None,
                slice_ns: None,
                tickle,
            };
        };
        if Some(n) != prev {
            self.q_remove(n);
        }
        self.curr.insert(cpu, n);
        let slice = match self.units.get_mut(&n) {
            Some(u) => {
                u.scheduled = true;
                u.last_start = now;
                u.cpu = cpu;
                u.cur_budget
            }
            None => 0,
        };
        Decision {
            next: Some(n),
            slice_ns: Some(slice.max(1)),
            tickle: tickle.and_not(CpuMask::single(cpu)),
        }
    }

    fn pick_cpu(&self, unit: UnitId) -> Option<usize> {
        self.units.get(&unit).map(|u| u.cpu)
    }

    fn next_event(&self) -> Option<Time> {
        self.replq.first().map(|e| e.0)
    }

    /// Xen's `repl_timer_handler`: every unit whose period ended gets a
    /// new deadline and a full budget, and may preempt someone.
    fn on_timer(&mut self, now: Time) -> CpuMask {
        self.now_hint = self.now_hint.max(now);
        let due: Vec<UnitId> = self
            .replq
            .iter()
            .take_while(|e| e.0 <= now)
            .map(|e| e.1)
            .collect();
        for &unit in &due {
            self.replq_remove(unit);
            self.update_deadline(unit, now);
            if self.units.get(&unit).is_some_and(|u| u.on_q) {
                self.q_remove(unit);
                self.runq_insert(unit);
            }
        }
        let mut tickle = CpuMask::empty();
        for &unit in &due {
            let running = self
                .units
                .get(&unit)
                .is_some_and(|u| self.curr.get(&u.cpu) == Some(&unit));
            if running {
                if let Some(head) = self.runq.first().map(|e| e.2) {
                    if self.compare(unit, head) == Ordering::Less {
                        tickle = tickle.or(self.runq_tickle(head));
                    }
                }
            } else if let Some(u) = self.units.get_mut(&unit) {
                let was_depleted = core::mem::take(&mut u.depleted);
                if was_depleted && u.on_q {
                    tickle = tickle.or(self.runq_tickle(unit));
                }
            }
            if let Some(u) = self.units.get_mut(&unit) {
                u.depleted = false;
            }
            self.replq_insert(unit);
        }
        tickle
    }

    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "rtds: pCPUs {}, tickled {}", self.pcpus, self.tickled)?;
        for (id, u) in &self.units {
            writeln!(
                out,
                "  {id}: period={} budget={} cur_b={} cur_d={} lvl={} cpu={}{}",
                u.period,
                u.budget,
                u.cur_budget,
                u.cur_deadline,
                u.priority_level,
                u.cpu,
                if u.extratime { " extratime" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// The descriptor registered in [`SCHEDULERS`].
pub static RTDS: RtdsScheduler = RtdsScheduler;

#[distributed_slice(SCHEDULERS)]
static REGISTER: &'static dyn SchedulerOps = &RTDS;

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "sched-rtds",
    kconfig: "SCHED_RTDS",
    summary: "RTDS scheduler: global EDF over deferrable servers",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Resource Management",
        feature: "RTDS based Scheduler",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "unit:tessera-sched-rtds::tests::partitioned_units_get_their_budget_every_period",
            "unit:tessera-sched-rtds::tests::global_edf_meets_deadlines_within_the_bound",
            "unit:tessera-sched-rtds::tests::global_edf_meets_deadlines_at_the_bound",
            "unit:tessera-sched-rtds::tests::global_edf_misses_deadlines_above_the_bound",
            "unit:tessera-sched-rtds::tests::unused_budget_is_kept_until_the_period_ends",
            "unit:tessera-sched-rtds::tests::bad_parameters_are_refused",
            "scenario:sched-rtds",
        ],
        note: "Period/budget per vCPU (10 ms/4 ms default), extratime, global EDF, \
               deferrable servers, replenishment timer; tested in the host simulator and on QEMU. \
               Parameters only at domain creation.",
    }],
    init: None,
};

#[cfg(test)]
mod tests;
