//! The credit scheduler (Xen's `sched=credit`, xen/common/sched/credit.c):
//! a weighted proportional fair share of a pool's pCPUs.
//!
//! Each pCPU has a run queue ordered by priority (BOOST > UNDER > OVER),
//! first come first served within a priority. Every 30 ms (the timeslice,
//! `sched_credit_tslice_ms=`) the accounting hands out 10 credits per
//! millisecond per pCPU among the active units in proportion to their
//! domain's weight, limited by the domain's cap; a running unit burns 10
//! credits per millisecond. A unit with credit left is UNDER, one in debt
//! is OVER; a unit of a capped domain deep in debt is parked (not run)
//! until its credit is positive again. A unit waking from a block is
//! BOOSTed until the 10 ms accounting tick finds it running, so an I/O
//! bound unit preempts CPU hogs. A pCPU whose best local choice is OVER or
//! idle steals better work from its peers' queues.
//!
//! Departures from Xen 4.20, all deliberate:
//! - The accounting ticks of all pCPUs fall on multiples of the tick
//!   period (Xen aligns them too, but only after a pCPU was idle), and
//!   both ticks and the accounting period are one policy timer driven by
//!   the core (`next_event`/`on_timer`).
//! - Burnt credits are computed from the exact run time with the remainder
//!   carried (Xen also moves `start_time` by the credited part only, which
//!   counts the remainder twice).
//! - The rate-limit continuation never arms a slice shorter than 100 us
//!   (Xen's stated intent; its code arms 100 us whenever the unit has run
//!   less than that).
//! - Topology is flat (one socket, no SMT): `_csched_cpu_pick`'s
//!   sibling/core idleness comparison reduces to "prefer an idle pCPU".
//! - Weight and cap are per domain as in Xen, taken from the domain's
//!   first unit.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use linkme::distributed_slice;
use tessera_core::cmdline::{Param, ParamKind, PARAMS};
use tessera_core::registry::{Plugin, Status, SupportRow, PLUGINS};
use tessera_core::sched::{
    ratelimit_us, sched_id, CpuMask, Decision, SchedError, SchedInstance, SchedulerOps, Time,
    UnitId, UnitParams, SCHEDULERS,
};

/// Xen's `CSCHED_DEFAULT_TSLICE_MS`.
pub const DEFAULT_TSLICE_MS: u32 = 30;
/// Xen's `CSCHED_TICKS_PER_TSLICE`: accounting ticks per timeslice.
pub const TICKS_PER_TSLICE: u32 = 3;
/// Xen's `CSCHED_CREDITS_PER_MSEC`.
pub const CREDITS_PER_MSEC: i64 = 10;
/// Xen's `CSCHED_MIN_TIMER` (= `XEN_SYSCTL_SCHED_RATELIMIT_MIN`, 100 us).
pub const MIN_TIMER_NS: u64 = 100_000;
/// Xen's `CSCHED_DEFAULT_LOAD_BALANCE_RATELIMIT_US`.
pub const LOAD_BALANCE_RATELIMIT_NS: u64 = 1_000_000;
/// `XEN_SYSCTL_CSCHED_TSLICE_MIN` and `_MAX`.
pub const TSLICE_MS_RANGE: (u32, u32) = (1, 1000);

const MS: u64 = 1_000_000;

static TSLICE_MS: AtomicU32 = AtomicU32::new(DEFAULT_TSLICE_MS);

fn set_tslice(v: &str) -> Result<(), &'static str> {
    let n: u32 = v.parse().map_err(|_| "expected milliseconds")?;
    if !(TSLICE_MS_RANGE.0..=TSLICE_MS_RANGE.1).contains(&n) {
        return Err("outside 1..=1000");
    }
    TSLICE_MS.store(n, Ordering::Relaxed);
    Ok(())
}

#[distributed_slice(PARAMS)]
static P_TSLICE: Param = Param {
    name: "sched_credit_tslice_ms",
    kind: ParamKind::Value(set_tslice),
    help: "credit scheduler timeslice in ms (default 30)",
};

/// Unit priorities (Xen's `CSCHED_PRI_*`); higher runs first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pri {
    Idle = -64,
    Over = -2,
    Under = -1,
    Boost = 0,
}

/// The credit scheduler's descriptor. Zero/`None` fields take the
/// command-line values when a pool is created.
pub struct CreditScheduler {
    /// Timeslice in ms; 0: `sched_credit_tslice_ms=` (default 30).
    pub tslice_ms: u32,
    /// Rate limit in us; `None`: `sched_ratelimit_us=` (default 1000).
    pub ratelimit_us: Option<u32>,
}

impl SchedulerOps for CreditScheduler {
    fn name(&self) -> &'static str {
        "SMP Credit Scheduler"
    }
    fn opt_name(&self) -> &'static str {
        "credit"
    }
    fn sched_id(&self) -> u32 {
        sched_id::CREDIT
    }
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError> {
        let tslice_ms = match self.tslice_ms {
            0 => TSLICE_MS.load(Ordering::Relaxed),
            t => t,
        }
        .clamp(TSLICE_MS_RANGE.0, TSLICE_MS_RANGE.1);
        let ratelimit = u64::from(self.ratelimit_us.unwrap_or_else(ratelimit_us)) * 1000;
        Ok(Box::new(CreditInstance::new(tslice_ms, ratelimit)))
    }
}

struct Unit {
    params: UnitParams,
    /// The pCPU whose run queue it belongs to (Xen's `processor`).
    cpu: usize,
    pri: Pri,
    credit: i64,
    /// Sub-credit run time not charged yet, in ns x credits per ms.
    residual: u64,
    /// Since when its run time is not charged.
    start_time: Time,
    /// Since when it runs without a switch (for the rate limit).
    state_entry: Time,
    /// Wants the pCPU for the core's view (woken, not blocked).
    runnable: bool,
    queued: bool,
    yielding: bool,
    /// Capped out: not run until accounting gives it credit again.
    parked: bool,
    /// On its domain's active list (earns credit).
    active: bool,
    /// Asked to move to an idle pCPU when it next leaves its own.
    kicked: bool,
}

struct Dom {
    weight: u16,
    cap: u16,
    /// Active units, in the order they became active.
    active: Vec<UnitId>,
}

struct Pcpu {
    runq: Vec<UnitId>,
    curr: Option<UnitId>,
    last_load_balance: Time,
}

/// One pool's credit scheduler.
pub struct CreditInstance {
    tslice: u64,
    tick_period: u64,
    credits_per_tslice: i64,
    ratelimit: u64,
    pcpus: BTreeMap<usize, Pcpu>,
    /// pCPUs idle and not tickled since (Xen's `prv->idlers`).
    idlers: CpuMask,
    units: BTreeMap<UnitId, Unit>,
    doms: BTreeMap<u16, Dom>,
    /// Domains with active units, in Xen's `active_sdom` order.
    active_doms: Vec<u16>,
    /// Sum of the weights of active units (Xen's `prv->weight`).
    weight: u64,
    credit_balance: i64,
    next_acct: Time,
    next_tick: Time,
    /// Run queues must be re-sorted at the next tick (priorities changed).
    sort_pending: bool,
    last_tickle: usize,
}

impl CreditInstance {
    fn new(tslice_ms: u32, ratelimit: u64) -> Self {
        let ticks = if tslice_ms < TICKS_PER_TSLICE {
            1
        } else {
            TICKS_PER_TSLICE
        };
        let tslice = u64::from(tslice_ms) * MS;
        CreditInstance {
            tslice,
            tick_period: tslice / u64::from(ticks),
            credits_per_tslice: CREDITS_PER_MSEC * i64::from(tslice_ms),
            // Xen: "Setting ratelimit to tslice" when it is larger.
            ratelimit: ratelimit.min(tslice),
            pcpus: BTreeMap::new(),
            idlers: CpuMask::empty(),
            units: BTreeMap::new(),
            doms: BTreeMap::new(),
            active_doms: Vec::new(),
            weight: 0,
            credit_balance: 0,
            next_acct: tslice,
            next_tick: tslice / u64::from(ticks),
            sort_pending: false,
            last_tickle: 0,
        }
    }

    fn pool_cpus(&self) -> CpuMask {
        self.pcpus
            .keys()
            .fold(CpuMask::empty(), |m, &c| m.or(CpuMask::single(c)))
    }

    fn pri_of(&self, cpu: usize) -> Pri {
        self.pcpus
            .get(&cpu)
            .and_then(|p| p.curr)
            .and_then(|u| self.units.get(&u))
            .map_or(Pri::Idle, |u| u.pri)
    }

    /// Charges the unit's run time since `start_time` (Xen's
    /// `burn_credits`).
    fn burn(&mut self, unit: UnitId, now: Time) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        let delta = now.saturating_sub(u.start_time);
        if delta == 0 {
            return;
        }
        let val = u128::from(delta) * CREDITS_PER_MSEC as u128 + u128::from(u.residual);
        let credits = (val / u128::from(MS)) as i64;
        u.residual = (val % u128::from(MS)) as u64;
        u.credit = u.credit.saturating_sub(credits);
        u.start_time = now;
    }

    /// A pCPU for the unit: its own if idle, else an idle one in its
    /// affinity (soft first), else its own if allowed, else the next
    /// allowed one (Xen's `_csched_cpu_pick` on a flat topology).
    fn cpu_pick(&self, p: &UnitParams, current: Option<usize>) -> Option<usize> {
        let pool = self.pool_cpus();
        let hard = p.hard_affinity.and(pool);
        let steps: [CpuMask; 2] = [p.soft_affinity.and(hard), hard];
        let skip_soft = !p.has_soft_affinity(pool);
        for (i, cpus) in steps.iter().enumerate() {
            if (i == 0 && skip_soft) || cpus.is_empty() {
                continue;
            }
            let mut idlers = self.idlers;
            if let Some(c) = current {
                // Its own pCPU counts as idle when nothing waits there.
                if self.pcpus.get(&c).is_some_and(|p| p.runq.is_empty()) {
                    idlers.set(c);
                }
            }
            // A new unit has no pCPU yet: spread new units over the pool
            // (Xen places each new vCPU on the pCPU after the previous
            // one's before asking the policy).
            let base = current.filter(|&c| cpus.contains(c)).or_else(|| {
                cpus.iter()
                    .min_by_key(|&c| self.units.values().filter(|u| u.cpu == c).count())
            });
            let idle = cpus.and(idlers);
            if let Some(c) = base.filter(|&c| idle.contains(c) || current.is_none()) {
                return Some(c);
            }
            if let Some(c) = idle.cycle(current.unwrap_or(0)) {
                return Some(c);
            }
            if i == 1 {
                return base;
            }
        }
        None
    }

    /// Inserts into its pCPU's run queue, after every unit of its priority
    /// or better; a yielding unit also goes behind one lower-priority
    /// unit (Xen's `__runq_insert`).
    fn runq_insert(&mut self, unit: UnitId) {
        let Some(u) = self.units.get(&unit) else {
            return;
        };
        if u.queued {
            return;
        }
        let (cpu, pri, yielding) = (u.cpu, u.pri, u.yielding);
        let Some(pc) = self.pcpus.get(&cpu) else {
            return;
        };
        let mut pos = pc
            .runq
            .iter()
            .position(|v| self.units.get(v).is_some_and(|x| pri > x.pri))
            .unwrap_or(pc.runq.len());
        if yielding && pos < pc.runq.len() {
            pos += 1;
        }
        if let Some(pc) = self.pcpus.get_mut(&cpu) {
            pc.runq.insert(pos, unit);
        }
        if let Some(u) = self.units.get_mut(&unit) {
            u.queued = true;
        }
    }

    fn runq_remove(&mut self, unit: UnitId) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        if !u.queued {
            return;
        }
        u.queued = false;
        // Xen clears the yield flag as the unit leaves the queue.
        u.yielding = false;
        let cpu = u.cpu;
        if let Some(pc) = self.pcpus.get_mut(&cpu) {
            pc.runq.retain(|&v| v != unit);
        }
    }

    /// Which pCPUs should look at a unit just queued (Xen's
    /// `__runq_tickle`).
    fn tickle(&mut self, unit: UnitId) -> CpuMask {
        let Some(u) = self.units.get(&unit) else {
            return CpuMask::empty();
        };
        let (cpu, pri, params) = (u.cpu, u.pri, u.params);
        let pool = self.pool_cpus();
        let idle = self.idlers.and(pool);
        let cur_pri = self.pri_of(cpu);
        let mut mask = CpuMask::empty();
        let pinned = params.hard_affinity.and(pool).count() == 1;
        if (pinned && idle.contains(cpu))
            || cur_pri == Pri::Idle
            || (idle.is_empty() && pri > cur_pri)
        {
            mask.set(cpu);
        } else if !idle.is_empty() {
            let hard = params.hard_affinity.and(pool);
            let steps = [params.soft_affinity.and(hard), hard];
            for (i, step) in steps.iter().enumerate() {
                if i == 0 && !params.has_soft_affinity(pool) {
                    continue;
                }
                let fit = step.and(idle);
                if fit.is_empty() && i == 0 {
                    continue;
                }
                if fit.is_empty() && pri > cur_pri {
                    // Preempt cur here, and send cur to an idler if it
                    // may run on one.
                    let cur = self.pcpus.get(&cpu).and_then(|p| p.curr);
                    if let Some(c) = cur.and_then(|c| self.units.get_mut(&c)) {
                        if c.params.hard_affinity.intersects(idle) {
                            c.kicked = true;
                        }
                    }
                    mask.set(cpu);
                } else if let Some(t) = fit.cycle(self.last_tickle) {
                    self.last_tickle = t;
                    mask.set(t);
                }
                if !mask.is_empty() {
                    break;
                }
            }
        }
        self.idlers = self.idlers.and_not(mask);
        mask
    }

    /// Puts a domain's unit on the active list (Xen's
    /// `__csched_unit_acct_start`).
    fn acct_start(&mut self, unit: UnitId) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        if u.active {
            return;
        }
        u.active = true;
        let Some(d) = self.doms.get_mut(&unit.domid) else {
            return;
        };
        d.active.insert(0, unit);
        self.weight += u64::from(d.weight);
        if !self.active_doms.contains(&unit.domid) {
            self.active_doms.insert(0, unit.domid);
        }
    }

    fn acct_stop(&mut self, unit: UnitId) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        if !u.active {
            return;
        }
        u.active = false;
        let Some(d) = self.doms.get_mut(&unit.domid) else {
            return;
        };
        d.active.retain(|&v| v != unit);
        self.weight = self.weight.saturating_sub(u64::from(d.weight));
        if d.active.is_empty() {
            self.active_doms.retain(|&x| x != unit.domid);
        }
    }

    /// The accounting period (Xen's `csched_acct`): shares out the
    /// period's credit by weight, caps it, recomputes priorities, parks
    /// and unparks capped units. Returns pCPUs to reschedule.
    fn acct(&mut self) -> CpuMask {
        let weight_total = self.weight as i64;
        let mut credit_total = self.credits_per_tslice * self.pcpus.len() as i64;
        if self.credit_balance < 0 {
            credit_total -= self.credit_balance;
        }
        if weight_total == 0 {
            self.credit_balance = 0;
            return CpuMask::empty();
        }
        let mut tickle = CpuMask::empty();
        let mut weight_left = weight_total;
        let mut credit_balance = 0i64;
        let mut credit_xtra = false;
        let order = self.active_doms.clone();
        for domid in order {
            let Some(d) = self.doms.get(&domid) else {
                continue;
            };
            let n = d.active.len() as i64;
            if n == 0 {
                continue;
            }
            let w = i64::from(d.weight);
            weight_left -= w * n;
            let mut credit_peak = n * self.credits_per_tslice;
            if self.credit_balance < 0 {
                credit_peak += (-self.credit_balance * w * n + weight_total - 1) / weight_total;
            }
            let mut credit_cap = 0i64;
            if d.cap != 0 {
                credit_cap = (i64::from(d.cap) * self.credits_per_tslice + 99) / 100;
                credit_peak = credit_peak.min(credit_cap);
                credit_cap = (credit_cap + n - 1) / n;
            }
            let mut credit_fair = (credit_total * w * n + weight_total - 1) / weight_total;
            if credit_fair < credit_peak {
                credit_xtra = true;
            } else {
                if weight_left > 0 {
                    // Give other domains a chance at unused credits.
                    credit_total += ((credit_fair - credit_peak) * weight_total + weight_left - 1)
                        / weight_left;
                }
                if credit_xtra {
                    self.active_doms.retain(|&x| x != domid);
                    self.active_doms.insert(0, domid);
                }
                credit_fair = credit_peak;
            }
            let credit_fair = (credit_fair + n - 1) / n;
            let cap = d.cap;
            let members = d.active.clone();
            for unit in members {
                let cpt = self.credits_per_tslice;
                let Some(u) = self.units.get_mut(&unit) else {
                    continue;
                };
                u.credit += credit_fair;
                let mut stop = false;
                if u.credit < 0 {
                    u.pri = Pri::Over;
                    if cap != 0 && u.credit < -credit_cap && !u.parked {
                        u.parked = true;
                        // Off its queue, or off its pCPU.
                        let cpu = u.cpu;
                        if u.queued {
                            self.runq_remove(unit);
                        } else if self.pcpus.get(&cpu).and_then(|p| p.curr) == Some(unit) {
                            tickle.set(cpu);
                        }
                    }
                    if let Some(u) = self.units.get_mut(&unit) {
                        u.credit = u.credit.max(-cpt);
                    }
                } else {
                    u.pri = Pri::Under;
                    if u.parked {
                        // Unparked like a wake, but not boosted.
                        u.parked = false;
                        let runnable = u.runnable;
                        let cpu = u.cpu;
                        let running = self.pcpus.get(&cpu).and_then(|p| p.curr) == Some(unit);
                        if runnable && !running {
                            self.runq_insert(unit);
                            tickle = tickle.or(self.tickle(unit));
                        }
                    }
                    if let Some(u) = self.units.get_mut(&unit) {
                        if u.credit > cpt {
                            // Stops earning; halved so it starts again a
                            // little ahead.
                            u.credit /= 2;
                            stop = true;
                        }
                    }
                }
                if stop {
                    self.acct_stop(unit);
                }
                credit_balance += self.units.get(&unit).map_or(0, |u| u.credit);
            }
        }
        self.credit_balance = credit_balance;
        self.sort_pending = true;
        tickle
    }

    /// The accounting tick of every busy pCPU (Xen's `csched_tick` and
    /// `csched_unit_acct`).
    fn tick(&mut self, now: Time) -> CpuMask {
        let mut tickle = CpuMask::empty();
        let busy: Vec<(usize, UnitId)> = self
            .pcpus
            .iter()
            .filter_map(|(&c, p)| Some((c, p.curr?)))
            .collect();
        for (cpu, unit) in busy {
            if let Some(u) = self.units.get_mut(&unit) {
                // Found running at a tick: no longer an I/O unit.
                if u.pri == Pri::Boost {
                    u.pri = Pri::Under;
                }
            }
            self.burn(unit, now);
            if !self.units.get(&unit).is_some_and(|u| u.active) {
                self.acct_start(unit);
            } else {
                // Active a while: would it be better off on an idle pCPU?
                let waiting = self.pcpus.get(&cpu).is_some_and(|p| !p.runq.is_empty());
                let params = self.units.get(&unit).map(|u| u.params);
                if let Some(p) = params.filter(|_| waiting) {
                    if p.hard_affinity.intersects(self.idlers) {
                        if let Some(u) = self.units.get_mut(&unit) {
                            u.kicked = true;
                        }
                        tickle.set(cpu);
                    }
                }
            }
        }
        if self.sort_pending {
            self.sort_pending = false;
            // UNDER and BOOST move ahead of OVER, order otherwise kept
            // (Xen's `csched_runq_sort`).
            let units = &self.units;
            for pc in self.pcpus.values_mut() {
                pc.runq
                    .sort_by_key(|u| units.get(u).is_none_or(|x| x.pri < Pri::Under));
            }
        }
        tickle
    }

    /// Steals a unit of better priority than `pri` from a busy peer's
    /// queue (Xen's `csched_load_balance`/`csched_runq_steal`).
    fn steal(&mut self, cpu: usize, pri: Pri) -> Option<UnitId> {
        let pool = self.pool_cpus();
        let workers = pool.and_not(self.idlers).and_not(CpuMask::single(cpu));
        for step in 0..2 {
            let mut peer = workers.cycle(cpu);
            let first = peer;
            while let Some(p) = peer {
                let candidate = self
                    .pcpus
                    .get(&p)
                    .filter(|pc| pc.curr.is_some())
                    .and_then(|pc| {
                        // The queue is in priority order: the first unit not
                        // better than ours ends the search there, as in Xen.
                        let better = |v: &&UnitId| self.units.get(*v).is_some_and(|x| x.pri > pri);
                        pc.runq.iter().take_while(better).copied().find(|v| {
                            let Some(x) = self.units.get(v) else {
                                return false;
                            };
                            if x.yielding {
                                return false;
                            }
                            if step == 0 && !x.params.has_soft_affinity(pool) {
                                return false;
                            }
                            let mask = if step == 0 {
                                x.params.soft_affinity.and(x.params.hard_affinity)
                            } else {
                                x.params.hard_affinity
                            };
                            mask.contains(cpu)
                        })
                    });
                if let Some(v) = candidate {
                    self.runq_remove(v);
                    if let Some(x) = self.units.get_mut(&v) {
                        x.cpu = cpu;
                    }
                    return Some(v);
                }
                peer = workers.cycle(p).filter(|&n| Some(n) != first);
            }
        }
        None
    }
}

impl SchedInstance for CreditInstance {
    fn add_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        if cpu >= CpuMask::CAPACITY {
            return Err(SchedError::CpuOutOfRange(cpu));
        }
        self.pcpus.insert(
            cpu,
            Pcpu {
                runq: Vec::new(),
                curr: None,
                last_load_balance: 0,
            },
        );
        self.idlers.set(cpu);
        Ok(())
    }

    fn remove_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        let homed: Vec<UnitId> = self
            .units
            .iter()
            .filter(|(_, u)| u.cpu == cpu)
            .map(|(&id, _)| id)
            .collect();
        if !homed.is_empty() && self.pcpus.len() == 1 {
            return Err(SchedError::Policy(
                "credit: the last pCPU of a pool with units cannot leave it",
            ));
        }
        self.pcpus.remove(&cpu);
        self.idlers.clear(cpu);
        for unit in homed {
            let queued = self.units.get(&unit).is_some_and(|u| u.queued);
            self.runq_remove(unit);
            let params = self.units.get(&unit).map(|u| u.params);
            let to = params.and_then(|p| self.cpu_pick(&p, None));
            if let (Some(u), Some(to)) = (self.units.get_mut(&unit), to) {
                u.cpu = to;
            }
            if queued {
                self.runq_insert(unit);
            }
        }
        Ok(())
    }

    fn insert_unit(&mut self, params: &UnitParams) -> Result<(), SchedError> {
        if self.units.contains_key(&params.unit) {
            return Err(SchedError::UnitExists(params.unit));
        }
        let cpu = self.cpu_pick(params, None).ok_or(SchedError::Policy(
            "credit: no pCPU of the pool in the unit's affinity",
        ))?;
        let dom = self.doms.entry(params.unit.domid).or_insert(Dom {
            // Xen ignores a weight of 0 (it means "unchanged").
            weight: if params.weight == 0 {
                tessera_core::sched::DEFAULT_WEIGHT
            } else {
                params.weight
            },
            cap: params.cap,
            active: Vec::new(),
        });
        let _ = dom;
        self.units.insert(
            params.unit,
            Unit {
                params: *params,
                cpu,
                pri: Pri::Under,
                credit: 0,
                residual: 0,
                start_time: 0,
                state_entry: 0,
                runnable: false,
                queued: false,
                yielding: false,
                parked: false,
                active: false,
                kicked: false,
            },
        );
        Ok(())
    }

    fn remove_unit(&mut self, unit: UnitId) -> CpuMask {
        self.runq_remove(unit);
        self.acct_stop(unit);
        self.units.remove(&unit);
        if !self.units.keys().any(|u| u.domid == unit.domid) {
            self.doms.remove(&unit.domid);
        }
        CpuMask::empty()
    }

    fn wake(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        u.runnable = true;
        let cpu = u.cpu;
        if u.queued || u.parked || self.pcpus.get(&cpu).and_then(|p| p.curr) == Some(unit) {
            return CpuMask::empty();
        }
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        // Boosted until an accounting tick finds it running.
        if u.pri == Pri::Under {
            u.pri = Pri::Boost;
        }
        self.runq_insert(unit);
        self.tickle(unit)
    }

    fn sleep(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        u.runnable = false;
        let cpu = u.cpu;
        if self.pcpus.get(&cpu).and_then(|p| p.curr) == Some(unit) {
            return CpuMask::single(cpu);
        }
        self.runq_remove(unit);
        CpuMask::empty()
    }

    fn yield_unit(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        if let Some(u) = self.units.get_mut(&unit) {
            u.yielding = true;
        }
        CpuMask::empty()
    }

    fn do_schedule(
        &mut self,
        cpu: usize,
        now: Time,
        prev: Option<UnitId>,
        prev_runnable: bool,
    ) -> Decision {
        let mut tickle = CpuMask::empty();
        // What the core says ran here is what this policy put here; a
        // unit it does not know (removed meanwhile) is simply gone.
        let prev = prev.filter(|u| self.units.contains_key(u));
        if let Some(p) = prev {
            self.burn(p, now);
        }
        let prev_ok = prev.filter(|p| {
            prev_runnable && self.units.get(p).is_some_and(|u| !u.parked && u.cpu == cpu)
        });
        // Rate limiting: a unit that ran less than the limit goes on,
        // unless it yields or was asked to move.
        if let Some(p) = prev_ok {
            if let Some(u) = self.units.get(&p) {
                let runtime = now.saturating_sub(u.state_entry);
                if !u.yielding && !u.kicked && self.ratelimit > 0 && runtime < self.ratelimit {
                    let slice = (self.ratelimit - runtime).max(MIN_TIMER_NS);
                    self.idlers.clear(cpu);
                    return Decision {
                        next: Some(p),
                        slice_ns: Some(slice),
                        tickle,
                    };
                }
            }
        }
        if let Some(p) = prev_ok {
            let kicked = self.units.get(&p).is_some_and(|u| u.kicked);
            if kicked {
                // Moves to an idle pCPU rather than waiting here.
                let params = self.units.get(&p).map(|u| u.params);
                let to = params.and_then(|pp| {
                    let idle = self
                        .idlers
                        .and(pp.hard_affinity)
                        .and_not(CpuMask::single(cpu));
                    idle.cycle(cpu)
                });
                if let Some(u) = self.units.get_mut(&p) {
                    u.kicked = false;
                    if let Some(to) = to {
                        u.cpu = to;
                    }
                }
                self.runq_insert(p);
                if let Some(to) = to {
                    self.idlers.clear(to);
                    tickle.set(to);
                }
            } else {
                self.runq_insert(p);
            }
        }
        if let Some(pc) = self.pcpus.get_mut(&cpu) {
            pc.curr = None;
        }
        let head = self.pcpus.get(&cpu).and_then(|pc| pc.runq.first().copied());
        let head_pri = head
            .and_then(|u| self.units.get(&u))
            .map_or(Pri::Idle, |u| u.pri);
        let mut next = head;
        let lb_due = self.pcpus.get(&cpu).is_some_and(|pc| {
            now.saturating_sub(pc.last_load_balance) > LOAD_BALANCE_RATELIMIT_NS
                || pc.last_load_balance == 0
        });
        let mut stolen = None;
        if head_pri <= Pri::Over && lb_due {
            if let Some(pc) = self.pcpus.get_mut(&cpu) {
                pc.last_load_balance = now.max(1);
            }
            stolen = self.steal(cpu, head_pri);
        }
        if stolen.is_some() {
            next = stolen;
        } else if let Some(h) = head {
            self.runq_remove(h);
        }
        let Some(n) = next else {
            self.idlers.set(cpu);
            return Decision {
                next: None,
                slice_ns: None,
                tickle,
            };
        };
        self.idlers.clear(cpu);
        if let Some(pc) = self.pcpus.get_mut(&cpu) {
            pc.curr = Some(n);
        }
        if let Some(u) = self.units.get_mut(&n) {
            u.start_time = now;
            u.yielding = false;
            if prev != Some(n) {
                u.state_entry = now;
            }
        }
        Decision {
            next: Some(n),
            slice_ns: Some(self.tslice),
            tickle,
        }
    }

    fn pick_cpu(&self, unit: UnitId) -> Option<usize> {
        self.units.get(&unit).map(|u| u.cpu)
    }

    fn next_event(&self) -> Option<Time> {
        if self.pcpus.is_empty() {
            return None;
        }
        Some(self.next_acct.min(self.next_tick))
    }

    fn on_timer(&mut self, now: Time) -> CpuMask {
        let mut tickle = CpuMask::empty();
        if now >= self.next_tick {
            tickle = tickle.or(self.tick(now));
            // Aligned on the tick period, never in the past.
            self.next_tick = (now / self.tick_period + 1) * self.tick_period;
        }
        if now >= self.next_acct {
            tickle = tickle.or(self.acct());
            self.next_acct = now + self.tslice;
        }
        tickle
    }

    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(
            out,
            "credit: tslice {} ms, ratelimit {} us, tick {} ms, weight {}, balance {}",
            self.tslice / MS,
            self.ratelimit / 1000,
            self.tick_period / MS,
            self.weight,
            self.credit_balance
        )?;
        for (cpu, pc) in &self.pcpus {
            write!(out, "  CPU{cpu}: runq")?;
            for u in &pc.runq {
                write!(out, " {u}")?;
            }
            writeln!(out)?;
        }
        for (id, u) in &self.units {
            let (w, c) = self
                .doms
                .get(&id.domid)
                .map_or((0, 0), |d| (d.weight, d.cap));
            writeln!(
                out,
                "  {id}: pri={:?} cpu={} credit={} [w={w},cap={c}]{}",
                u.pri,
                u.cpu,
                u.credit,
                if u.parked { " parked" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// The descriptor registered in [`SCHEDULERS`]: command-line timeslice
/// and rate limit.
pub static CREDIT: CreditScheduler = CreditScheduler {
    tslice_ms: 0,
    ratelimit_us: None,
};

#[distributed_slice(SCHEDULERS)]
static REGISTER: &'static dyn SchedulerOps = &CREDIT;

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "sched-credit",
    kconfig: "SCHED_CREDIT",
    summary: "Credit scheduler: weighted fair share with caps and boost",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Resource Management",
        feature: "Credit Scheduler",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "unit:tessera-sched-credit::tests::weights_share_two_pcpus",
            "unit:tessera-sched-credit::tests::weights_share_one_pcpu",
            "unit:tessera-sched-credit::tests::a_wrong_ratio_fails_the_share_check",
            "unit:tessera-sched-credit::tests::a_cap_holds_over_time",
            "unit:tessera-sched-credit::tests::nobody_starves",
            "unit:tessera-sched-credit::tests::waking_units_are_boosted",
            "unit:tessera-sched-credit::tests::idle_pcpus_steal_work",
            "scenario:sched-credit",
            "scenario:sched-weights-credit",
        ],
        note: "Weights, caps (parking at accounting as Xen), BOOST on wake, UNDER/OVER, \
               30 ms slice, 10 ms tick, rate limit, work stealing; tested in the host \
               simulator, and on QEMU, where weights 256:512 on one pCPU give 1:2 within \
               10%. Weight and cap at boot from tessera, properties; no toolstack \
               adjustment, no SMT-aware placement.",
    }],
    init: None,
};

#[cfg(test)]
mod tests;
