//! A discrete-event simulator of pCPUs running units, for host tests of
//! scheduling policies. It drives the real [`SchedCore`] and through it the
//! real policy instance, exactly as the arch layer does: it calls
//! `schedule` on every pCPU whose reschedule flag is set, `timer_interrupt`
//! on every pCPU whose timer (`next_timer`: the decision's slice, the
//! policy's own events) expired, and `vcpu_block`/`vcpu_wake`/
//! `vcpu_yield` when a unit's workload says so. Time is virtual
//! (nanoseconds) and jumps from event to event; reschedule requests take
//! effect at the instant they are made (zero IPI latency), so a decision
//! delay seen here is the policy's own.
//!
//! It records per unit run time, dispatches, migrations, the pCPUs it ran
//! on, wake-to-run latency and periodic deadline misses, and per pCPU busy
//! and idle time and decision counts; and it checks, on every decision,
//! that no unit runs on two pCPUs, that the pCPU's previous unit is the one
//! the sim thinks it ran, and that no unit runs while its workload has no
//! work. Violations are collected (see [`Sim::violations`]), not panicked
//! on, so a test can print them all.
//!
//! It is an ordinary module (not `cfg(test)`) so policy crates can use it
//! from their own tests; nothing in the image calls it.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{CpuMask, SchedCore, SchedError, SchedulerOps, Time, UnitId, UnitParams};

/// One millisecond in simulator time.
pub const MS: u64 = 1_000_000;
/// One microsecond in simulator time.
pub const US: u64 = 1_000;

/// What a unit does with a pCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Always has work.
    CpuBound,
    /// Never has work: it stays blocked as created.
    Idle,
    /// Runs `run_ns` of CPU time, then blocks for `sleep_ns`, repeatedly.
    BlockWake { run_ns: u64, sleep_ns: u64 },
    /// A job of `budget_ns` released every `period_ns` from `offset_ns`;
    /// blocks when the job is done. A release that finds the previous job
    /// unfinished counts a deadline miss and restarts the budget.
    Periodic {
        period_ns: u64,
        budget_ns: u64,
        offset_ns: u64,
    },
    /// Runs `run_ns`, yields, repeatedly (never blocks).
    YieldEvery { run_ns: u64 },
}

impl Workload {
    /// CPU time wanted per wake-up (`None`: unbounded).
    fn burst(self) -> Option<u64> {
        match self {
            Workload::CpuBound | Workload::Idle => None,
            Workload::BlockWake { run_ns, .. } => Some(run_ns.max(1)),
            Workload::Periodic { budget_ns, .. } => Some(budget_ns.max(1)),
            Workload::YieldEvery { run_ns } => Some(run_ns.max(1)),
        }
    }
}

/// What happened to one unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitStats {
    /// CPU time received.
    pub run_ns: u64,
    /// Times it was switched in.
    pub dispatches: u64,
    /// Dispatches on another pCPU than the last one it ran on.
    pub migrations: u64,
    /// Every pCPU it ran on.
    pub cpus: CpuMask,
    pub wakes: u64,
    pub blocks: u64,
    pub yields: u64,
    /// Longest time from a wake to running.
    pub max_wake_latency_ns: u64,
    /// Sum of wake-to-run times (with `wakes`, the mean).
    pub total_wake_latency_ns: u64,
    /// Periodic jobs finished.
    pub jobs_done: u64,
    /// Periodic jobs not finished by the next release.
    pub deadline_misses: u64,
}

/// What happened on one pCPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Calls of `schedule`.
    pub decisions: u64,
    /// Decisions that changed the running unit.
    pub switches: u64,
    pub busy_ns: u64,
    pub idle_ns: u64,
}

/// One decision, when tracing is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    pub time: Time,
    pub cpu: usize,
    pub prev: Option<UnitId>,
    pub next: Option<UnitId>,
    pub migrated: bool,
}

struct SimUnit {
    workload: Workload,
    has_work: bool,
    /// Work left in the current burst; `None`: unbounded.
    remaining: Option<u64>,
    next_wake: Option<Time>,
    woken_at: Option<Time>,
    stats: UnitStats,
}

#[derive(Default)]
struct SimCpu {
    current: Option<UnitId>,
    stats: CpuStats,
}

/// Decisions at one instant beyond which the sim declares a livelock.
const MAX_ROUNDS_PER_INSTANT: u32 = 10_000;
/// Violations kept (the count goes on).
const MAX_VIOLATIONS: usize = 32;

/// The simulator: pCPUs, pools, units with workloads, virtual time.
pub struct Sim {
    core: SchedCore,
    now: Time,
    cpus: Vec<SimCpu>,
    units: BTreeMap<UnitId, SimUnit>,
    trace: Option<Vec<TraceEntry>>,
    violations: Vec<String>,
    violation_count: usize,
}

impl Sim {
    /// `nr_cpus` pCPUs in no pool, at time 0.
    pub fn new(nr_cpus: usize) -> Self {
        let core = SchedCore::new(nr_cpus);
        let n = core.nr_cpus();
        Sim {
            core,
            now: 0,
            cpus: (0..n).map(|_| SimCpu::default()).collect(),
            units: BTreeMap::new(),
            trace: None,
            violations: Vec::new(),
            violation_count: 0,
        }
    }

    /// `nr_cpus` pCPUs, all in pool 0 scheduled by `ops`.
    pub fn single_pool(ops: &'static dyn SchedulerOps, nr_cpus: usize) -> Result<Self, SchedError> {
        let mut sim = Self::new(nr_cpus);
        sim.add_pool(0, ops, CpuMask::first_n(nr_cpus))?;
        Ok(sim)
    }

    /// Creates pool `id` with the pCPUs `cpus`.
    pub fn add_pool(
        &mut self,
        id: u32,
        ops: &'static dyn SchedulerOps,
        cpus: CpuMask,
    ) -> Result<(), SchedError> {
        self.core.create_pool(id, ops)?;
        for cpu in cpus.iter() {
            self.core.pool_assign_cpu(id, cpu)?;
        }
        Ok(())
    }

    /// Adds a domain to `pool`; its units get work at once (periodic ones
    /// at their first release). The policy's refusal comes back as is.
    pub fn add_domain(
        &mut self,
        pool: u32,
        domid: u16,
        units: &[(UnitParams, Workload)],
    ) -> Result<(), SchedError> {
        let params: Vec<UnitParams> = units.iter().map(|(p, _)| *p).collect();
        self.core.add_domain(pool, domid, &params)?;
        for &(p, workload) in units {
            let next_wake = match workload {
                Workload::Idle => None,
                Workload::Periodic { offset_ns, .. } => Some(self.now + offset_ns),
                _ => Some(self.now),
            };
            self.units.insert(
                p.unit,
                SimUnit {
                    workload,
                    has_work: false,
                    remaining: None,
                    next_wake,
                    woken_at: None,
                    stats: UnitStats::default(),
                },
            );
        }
        Ok(())
    }

    /// The scheduler core under test.
    pub fn core(&self) -> &SchedCore {
        &self.core
    }
    pub fn now(&self) -> Time {
        self.now
    }
    /// Records every decision from now on.
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }
    pub fn trace(&self) -> &[TraceEntry] {
        self.trace.as_deref().unwrap_or(&[])
    }
    /// The unit's runs as `(start, end, pCPU)`, in time order, rebuilt from
    /// the trace (empty without [`Self::enable_trace`]); a run still going
    /// ends now.
    pub fn runs(&self, unit: UnitId) -> Vec<(Time, Time, usize)> {
        let mut open: Vec<Option<Time>> = alloc::vec![None; self.cpus.len()];
        let mut out = Vec::new();
        for t in self.trace() {
            let Some(slot) = open.get_mut(t.cpu) else {
                continue;
            };
            if let Some(start) = slot.take() {
                if t.next == Some(unit) {
                    // Picked again without a switch: the run goes on.
                    *slot = Some(start);
                    continue;
                }
                if t.time > start {
                    out.push((start, t.time, t.cpu));
                }
            }
            if t.next == Some(unit) {
                *slot = Some(t.time);
            }
        }
        for (cpu, slot) in open.iter().enumerate() {
            if let Some(start) = *slot {
                if self.now > start {
                    out.push((start, self.now, cpu));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// CPU time the unit received within `[from, to)` (needs the trace).
    pub fn run_between(&self, unit: UnitId, from: Time, to: Time) -> u64 {
        self.runs(unit)
            .iter()
            .map(|&(s, e, _)| e.min(to).saturating_sub(s.max(from)))
            .sum()
    }

    /// Checks that each unit received its expected share of CPU time since
    /// time 0, in pCPUs (0.5 = half of one pCPU), within `tolerance` of
    /// it (0.05 = 5%). The error lists every unit out of bounds.
    pub fn check_shares(&self, expected: &[(UnitId, f64)], tolerance: f64) -> Result<(), String> {
        let elapsed = self.now.max(1) as f64;
        let mut bad = String::new();
        for &(unit, want) in expected {
            let got = self.units.get(&unit).map_or(0, |u| u.stats.run_ns) as f64 / elapsed;
            let err = if want > 0.0 { (got - want) / want } else { got };
            if !(-tolerance..=tolerance).contains(&err) {
                bad += &format!("{unit}: {got:.4} pCPUs, expected {want:.4}; ");
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad)
        }
    }

    /// The longest time the unit went without running while the sim ran,
    /// from time 0 to now (needs the trace).
    pub fn longest_gap(&self, unit: UnitId) -> u64 {
        let mut last = 0;
        let mut gap = 0;
        for (s, e, _) in self.runs(unit) {
            gap = gap.max(s.saturating_sub(last));
            last = last.max(e);
        }
        gap.max(self.now.saturating_sub(last))
    }

    pub fn unit_stats(&self, unit: UnitId) -> Option<UnitStats> {
        self.units.get(&unit).map(|u| u.stats)
    }
    pub fn cpu_stats(&self, cpu: usize) -> Option<CpuStats> {
        self.cpus.get(cpu).map(|c| c.stats)
    }
    /// What `cpu` runs, as the sim saw the last decision.
    pub fn running(&self, cpu: usize) -> Option<UnitId> {
        self.cpus.get(cpu).and_then(|c| c.current)
    }
    /// Broken invariants (the first few), empty when all held.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }
    /// Fails the calling test, listing them, when any invariant broke.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        assert_eq!(self.violations(), &[] as &[String]);
    }
    /// Adds one single-unit domain per entry to Pool-0 (domain id from
    /// the unit), returning the units in order.
    pub fn add_single_unit_domains(&mut self, units: &[(UnitParams, Workload)]) -> Vec<UnitId> {
        units
            .iter()
            .map(|&(p, w)| {
                self.add_domain(0, p.unit.domid, &[(p, w)])
                    .expect("the policy refused a simulated domain");
                p.unit
            })
            .collect()
    }
    /// How many invariants broke in all.
    pub fn violation_count(&self) -> usize {
        self.violation_count
    }

    fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(what);
        }
    }

    /// Takes the unit's work away now (a scripted block); it stays blocked
    /// until [`Self::wake`].
    pub fn block(&mut self, unit: UnitId) -> Result<(), SchedError> {
        let u = self
            .units
            .get_mut(&unit)
            .ok_or(SchedError::UnknownUnit(unit))?;
        u.has_work = false;
        u.next_wake = None;
        self.core.vcpu_block(unit, self.now)?;
        self.dispatch_pending();
        Ok(())
    }

    /// Gives the unit work now (a scripted wake).
    pub fn wake(&mut self, unit: UnitId) -> Result<(), SchedError> {
        if !self.units.contains_key(&unit) {
            return Err(SchedError::UnknownUnit(unit));
        }
        self.wake_unit(unit)?;
        self.dispatch_pending();
        Ok(())
    }

    fn wake_unit(&mut self, unit: UnitId) -> Result<(), SchedError> {
        let now = self.now;
        let running = self.cpus.iter().any(|c| c.current == Some(unit));
        let Some(u) = self.units.get_mut(&unit) else {
            return Err(SchedError::UnknownUnit(unit));
        };
        if u.has_work {
            return Ok(());
        }
        u.has_work = true;
        u.remaining = u.workload.burst();
        u.stats.wakes += 1;
        // Woken while still on its pCPU (blocked, not yet switched out):
        // it never stopped running.
        u.woken_at = (!running).then_some(now);
        self.core.vcpu_wake(unit, now)?;
        Ok(())
    }

    /// Runs for `ns` of virtual time.
    pub fn run_for(&mut self, ns: u64) {
        self.run_until(self.now.saturating_add(ns));
    }

    /// Runs until virtual time `end`.
    pub fn run_until(&mut self, end: Time) {
        let mut still = 0u32;
        loop {
            if !self.dispatch_pending() {
                return;
            }
            let t = self.next_event().unwrap_or(end).min(end);
            // A timer that stays due (a policy whose next event never
            // moves on) would spin here forever.
            still = if t > self.now { 0 } else { still + 1 };
            if still > MAX_ROUNDS_PER_INSTANT {
                self.violation(format!("t={}: timers never stop firing", self.now));
                return;
            }
            self.advance(t);
            if self.now >= end {
                return;
            }
            self.fire_events();
        }
    }

    fn next_event(&self) -> Option<Time> {
        // The timers as the arch arms them: each pCPU's slice end and,
        // on a pool's timer pCPU, the policy's next event.
        let timers = (0..self.cpus.len()).filter_map(|c| self.core.next_timer(c));
        let done = self.cpus.iter().filter_map(|c| {
            let u = self.units.get(&c.current?)?;
            u.has_work.then_some(())?;
            Some(self.now + u.remaining?)
        });
        let wakes = self.units.values().filter_map(|u| u.next_wake);
        timers
            .chain(done)
            .chain(wakes)
            .map(|t| t.max(self.now))
            .min()
    }

    fn advance(&mut self, t: Time) {
        let dt = t.saturating_sub(self.now);
        if dt == 0 {
            return;
        }
        for c in &mut self.cpus {
            match c.current.and_then(|u| self.units.get_mut(&u)) {
                Some(u) => {
                    c.stats.busy_ns += dt;
                    u.stats.run_ns += dt;
                    if let Some(r) = &mut u.remaining {
                        *r = r.saturating_sub(dt);
                    }
                }
                None => c.stats.idle_ns += dt,
            }
        }
        // Checked after charging: time given to a unit with no work means
        // its pCPU was not rescheduled when it blocked.
        for cpu in 0..self.cpus.len() {
            if let Some(u) = self.cpus[cpu].current {
                if self.units.get(&u).is_some_and(|s| !s.has_work) {
                    self.violation(format!(
                        "t={}: {u} ran on pCPU {cpu} for {dt} ns while blocked",
                        self.now
                    ));
                }
            }
        }
        self.now = t;
    }

    fn fire_events(&mut self) {
        let now = self.now;
        // Bursts finished on a pCPU.
        for cpu in 0..self.cpus.len() {
            let Some(unit) = self.cpus[cpu].current else {
                continue;
            };
            let Some(u) = self.units.get_mut(&unit) else {
                continue;
            };
            if !u.has_work || u.remaining != Some(0) {
                continue;
            }
            let r = match u.workload {
                Workload::BlockWake { sleep_ns, .. } => {
                    u.has_work = false;
                    u.next_wake = Some(now + sleep_ns.max(1));
                    u.stats.blocks += 1;
                    self.core.vcpu_block(unit, now)
                }
                Workload::Periodic { .. } => {
                    u.has_work = false;
                    u.stats.blocks += 1;
                    u.stats.jobs_done += 1;
                    self.core.vcpu_block(unit, now)
                }
                Workload::YieldEvery { .. } => {
                    u.remaining = u.workload.burst();
                    u.stats.yields += 1;
                    self.core.vcpu_yield(unit, now)
                }
                Workload::CpuBound | Workload::Idle => Ok(CpuMask::empty()),
            };
            if let Err(e) = r {
                self.violation(format!("t={now}: {unit}: {e}"));
            }
        }
        // Wakes and periodic releases.
        let due: Vec<UnitId> = self
            .units
            .iter()
            .filter(|(_, u)| u.next_wake == Some(now))
            .map(|(&id, _)| id)
            .collect();
        for unit in due {
            let Some(u) = self.units.get_mut(&unit) else {
                continue;
            };
            u.next_wake = None;
            if let Workload::Periodic {
                period_ns,
                budget_ns,
                ..
            } = u.workload
            {
                u.next_wake = Some(now + period_ns.max(1));
                if u.has_work {
                    u.stats.deadline_misses += 1;
                    u.remaining = Some(budget_ns.max(1));
                    continue;
                }
            }
            if let Err(e) = self.wake_unit(unit) {
                self.violation(format!("t={now}: waking {unit}: {e}"));
            }
        }
        // Timer interrupts: slice ends and policy timers, through the
        // same entry point the arch uses.
        for cpu in 0..self.cpus.len() {
            if self.core.next_timer(cpu).is_some_and(|t| t <= now) {
                self.core.timer_interrupt(cpu, now);
            }
        }
    }

    /// Calls `schedule` on every pCPU that needs it, until none does.
    /// Returns false on a livelock (recorded as a violation).
    fn dispatch_pending(&mut self) -> bool {
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            let pending: Vec<usize> = (0..self.cpus.len())
                .filter(|&c| self.core.need_resched(c))
                .collect();
            if pending.is_empty() {
                return true;
            }
            for cpu in pending {
                self.dispatch(cpu);
            }
        }
        self.violation(format!("t={}: reschedule requests never stop", self.now));
        false
    }

    fn dispatch(&mut self, cpu: usize) {
        let now = self.now;
        let d = self.core.schedule(cpu, now);
        if let Some(t) = &mut self.trace {
            t.push(TraceEntry {
                time: now,
                cpu,
                prev: d.prev,
                next: d.next,
                migrated: d.migrated,
            });
        }
        let expected = self.cpus[cpu].current;
        if d.prev != expected {
            self.violation(format!(
                "t={now}: pCPU {cpu} was running {expected:?}, the core says {:?}",
                d.prev
            ));
        }
        if let Some(u) = d.next {
            if let Some(other) =
                (0..self.cpus.len()).find(|&c| c != cpu && self.cpus[c].current == Some(u))
            {
                self.violation(format!("t={now}: {u} on pCPUs {other} and {cpu} at once"));
            }
            match self.units.get(&u).map(|s| s.has_work) {
                None => self.violation(format!("t={now}: unknown {u} dispatched on pCPU {cpu}")),
                Some(false) => {
                    self.violation(format!("t={now}: blocked {u} dispatched on pCPU {cpu}"))
                }
                Some(true) => {}
            }
            if let Some(s) = self.units.get_mut(&u) {
                s.stats.cpus.set(cpu);
                if d.switched {
                    s.stats.dispatches += 1;
                }
                if d.migrated {
                    s.stats.migrations += 1;
                }
                if let Some(w) = s.woken_at.take() {
                    let lat = now - w;
                    s.stats.max_wake_latency_ns = s.stats.max_wake_latency_ns.max(lat);
                    s.stats.total_wake_latency_ns += lat;
                }
            }
        }
        let c = &mut self.cpus[cpu];
        c.stats.decisions += 1;
        if d.switched {
            c.stats.switches += 1;
        }
        c.current = d.next;
    }
}
