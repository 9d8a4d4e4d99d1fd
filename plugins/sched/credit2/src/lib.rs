//! The credit2 scheduler (Xen's `sched=credit2`, the default of Xen 4.20;
//! xen/common/sched/credit2.c).
//!
//! pCPUs are grouped into runqueues (`credit2_runqueue=`: per pCPU, core,
//! socket, node or all, at most 16 pCPUs each). Every unit has credit, in
//! nanoseconds: it starts at 10 ms and a running unit burns it at
//! `max_weight / weight` of real time, so heavier units burn slower. A
//! runqueue is ordered by credit; a pCPU runs the unit with the most. When
//! the best candidate has no credit left, every unit of the runqueue gets
//! 10 ms more (carrying over at most 0.5 ms) and the runqueues' decaying
//! average loads are balanced by moving a unit. A woken unit preempts the
//! running unit with the least credit if it has more (less a migration
//! resistance of 0.5 ms), once that one ran the rate limit
//! (`sched_ratelimit_us=`, 1 ms). A cap is a budget of `cap`% of 10 ms
//! per domain, refilled every 10 ms; a unit that finds no budget is parked
//! until the refill.
//!
//! Departures from Xen 4.20, all deliberate:
//! - Topology is flat (one socket, no SMT): `core` and `cpu` both mean a
//!   runqueue per pCPU, `socket`, `node` and `all` one runqueue (split by
//!   the 16-pCPU limit). [`Arrangement::Groups`] lets tests and other
//!   topologies choose the grouping directly.
//! - There is no separate `context_saved`: what Xen does there (putting
//!   the previous unit back on its queue, returning unused budget) happens
//!   at the end of the decision, which is when the core switches.
//! - A cap also works at domain creation (Xen sets it afterwards with
//!   `XEN_DOMCTL_SCHEDOP_putinfo`); weight and cap are per domain, taken
//!   from its first unit.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

use linkme::distributed_slice;
use tessera_core::cmdline::{Param, ParamKind, PARAMS};
use tessera_core::registry::{Plugin, Status, SupportRow, PLUGINS};
use tessera_core::sched::{
    ratelimit_us, sched_id, CpuMask, Decision, SchedError, SchedInstance, SchedulerOps, Time,
    UnitId, UnitParams, DEFAULT_WEIGHT, SCHEDULERS,
};

const US: i64 = 1_000;
const MS: i64 = 1_000_000;

/// Xen's `CSCHED2_MIN_TIMER`.
pub const MIN_TIMER: i64 = 500 * US;
/// Xen's `CSCHED2_CREDIT_INIT`: credit at start and added at each reset.
pub const CREDIT_INIT: i64 = 10 * MS;
/// Xen's `CSCHED2_CREDIT_MIN`.
pub const CREDIT_MIN: i64 = -CREDIT_INIT;
/// Xen's `CSCHED2_CARRYOVER_MAX`.
pub const CARRYOVER_MAX: i64 = MIN_TIMER;
/// Xen's `CSCHED2_MIGRATE_RESIST` (`sched_credit2_migrate_resist`, 500 us).
pub const MIGRATE_RESIST: i64 = 500 * US;
/// Xen's `CSCHED2_MIGRATE_COMPENSATION`.
pub const MIGRATE_COMPENSATION: i64 = 50 * US;
/// Xen's `CSCHED2_RATELIMIT_TICKLE_TOLERANCE`.
pub const RATELIMIT_TICKLE_TOLERANCE: i64 = 50 * US;
/// Xen's `CSCHED2_MAX_TIMER`.
pub const MAX_TIMER: i64 = CREDIT_INIT;
/// Xen's `CSCHED2_BDGT_REPL_PERIOD` (`credit2_cap_period_ms`, 10 ms).
pub const BDGT_REPL_PERIOD: i64 = 10 * MS;
/// Xen's `MAX_CPUS_RUNQ` (`sched_credit2_max_cpus_runqueue`).
pub const MAX_CPUS_RUNQ: usize = 16;
/// Load tracking (Xen's `LOADAVG_*`): time in units of 2^10 ns, a window
/// of 2^20 such units (~1 s), 18 fractional bits.
const LOAD_GRANULARITY_SHIFT: u32 = 10;
const LOAD_WINDOW_SHIFT: u32 = 30 - LOAD_GRANULARITY_SHIFT;
const LOAD_PRECISION_SHIFT: u32 = 18;
/// `credit2_balance_under` and `credit2_balance_over`.
const UNDERLOAD_TOLERANCE: i32 = 0;
const OVERLOAD_TOLERANCE: i32 = -3;

/// How pCPUs are grouped into runqueues (`credit2_runqueue=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    Cpu,
    Core,
    Socket,
    Node,
    All,
    /// Runqueues of this many consecutive pCPUs (the pCPUs sharing a core
    /// or socket on a machine with that many threads per core or socket).
    Groups(usize),
}

impl Arrangement {
    const NAMES: [(&'static str, Arrangement); 5] = [
        ("cpu", Arrangement::Cpu),
        ("core", Arrangement::Core),
        ("socket", Arrangement::Socket),
        ("node", Arrangement::Node),
        ("all", Arrangement::All),
    ];

    /// pCPUs per runqueue on Tessera's flat topology.
    fn group_size(self) -> usize {
        match self {
            Arrangement::Cpu | Arrangement::Core => 1,
            Arrangement::Socket | Arrangement::Node | Arrangement::All => MAX_CPUS_RUNQ,
            Arrangement::Groups(n) => n.clamp(1, MAX_CPUS_RUNQ),
        }
    }
}

/// `credit2_runqueue=`: index into [`Arrangement::NAMES`]; Xen's default
/// is `socket`.
static RUNQUEUE_PARAM: AtomicU8 = AtomicU8::new(2);

fn set_runqueue(v: &str) -> Result<(), &'static str> {
    let i = Arrangement::NAMES
        .iter()
        .position(|(n, _)| *n == v)
        .ok_or("expected cpu, core, socket, node or all")?;
    RUNQUEUE_PARAM.store(i as u8, Ordering::Relaxed);
    Ok(())
}

#[distributed_slice(PARAMS)]
static P_RUNQUEUE: Param = Param {
    name: "credit2_runqueue",
    kind: ParamKind::Value(set_runqueue),
    help: "credit2 runqueues per cpu|core|socket|node|all (default socket)",
};

/// The credit2 scheduler's descriptor. `None` fields take the
/// command-line values when a pool is created.
pub struct Credit2Scheduler {
    /// `None`: `credit2_runqueue=`.
    pub arrangement: Option<Arrangement>,
    /// `None`: `sched_ratelimit_us=`.
    pub ratelimit_us: Option<u32>,
}

impl SchedulerOps for Credit2Scheduler {
    fn name(&self) -> &'static str {
        "SMP Credit Scheduler rev2"
    }
    fn opt_name(&self) -> &'static str {
        "credit2"
    }
    fn sched_id(&self) -> u32 {
        sched_id::CREDIT2
    }
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError> {
        let arrangement = self.arrangement.unwrap_or_else(|| {
            let i = usize::from(RUNQUEUE_PARAM.load(Ordering::Relaxed));
            Arrangement::NAMES
                .get(i)
                .map_or(Arrangement::Socket, |(_, a)| *a)
        });
        let ratelimit = i64::from(self.ratelimit_us.unwrap_or_else(ratelimit_us)) * US;
        Ok(Box::new(Credit2Instance::new(arrangement, ratelimit)))
    }
}

struct Unit {
    params: UnitParams,
    rq: usize,
    /// Xen's `processor`: the pCPU it last ran on or was placed on.
    cpu: usize,
    credit: i64,
    weight: i64,
    residual: i64,
    start_time: Time,
    /// When it was last switched in (the rate limit counts from here).
    state_entry: Time,
    /// `None`: its domain has no cap.
    budget: Option<i64>,
    budget_quota: i64,
    avgload: i64,
    load_last_update: i64,
    runnable: bool,
    on_runq: bool,
    /// Current on a pCPU (Xen's `CSFLAG_scheduled`).
    scheduled: bool,
    yielding: bool,
    parked: bool,
    tickled_cpu: Option<usize>,
    /// Load balancing moves it to this runqueue when it leaves its pCPU
    /// (Xen's `CSFLAG_runq_migrate_request`).
    migrate_to: Option<usize>,
}

struct Dom {
    weight: u16,
    cap: u16,
    nr_units: i64,
    tot_budget: i64,
    budget: i64,
    next_repl: Option<Time>,
    parked: Vec<UnitId>,
}

struct Runq {
    active: CpuMask,
    runq: Vec<UnitId>,
    /// Units assigned to this runqueue (Xen's `rqd->svc`).
    svc: Vec<UnitId>,
    max_weight: i64,
    load: i64,
    avgload: i64,
    b_avgload: i64,
    load_last_update: i64,
    idle: CpuMask,
    tickled: CpuMask,
    pick_bias: usize,
}

impl Runq {
    fn new(cpu: usize) -> Self {
        Runq {
            active: CpuMask::empty(),
            runq: Vec::new(),
            svc: Vec::new(),
            max_weight: 1,
            load: 0,
            avgload: 0,
            b_avgload: 0,
            load_last_update: 0,
            idle: CpuMask::empty(),
            tickled: CpuMask::empty(),
            pick_bias: cpu,
        }
    }
}

/// One pool's credit2 scheduler.
pub struct Credit2Instance {
    arrangement: Arrangement,
    ratelimit: i64,
    rqs: Vec<Runq>,
    /// Each pCPU's runqueue and current unit.
    cpu_rq: BTreeMap<usize, usize>,
    curr: BTreeMap<usize, UnitId>,
    units: BTreeMap<UnitId, Unit>,
    doms: BTreeMap<u16, Dom>,
    /// The latest time any hook was given (insertion has none).
    now_hint: Time,
}

fn st(t: Time) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

impl Credit2Instance {
    fn new(arrangement: Arrangement, ratelimit: i64) -> Self {
        Credit2Instance {
            arrangement,
            ratelimit,
            rqs: Vec::new(),
            cpu_rq: BTreeMap::new(),
            curr: BTreeMap::new(),
            units: BTreeMap::new(),
            doms: BTreeMap::new(),
            now_hint: 0,
        }
    }

    fn pool_cpus(&self) -> CpuMask {
        self.cpu_rq
            .keys()
            .fold(CpuMask::empty(), |m, &c| m.or(CpuMask::single(c)))
    }

    /// Xen's `update_runq_load`: an exponentially decaying average of the
    /// number of runnable units, in fixed point.
    fn update_runq_load(&mut self, rq: usize, change: i64, now: Time) {
        let Some(r) = self.rqs.get_mut(rq) else {
            return;
        };
        let now = st(now) >> LOAD_GRANULARITY_SHIFT;
        let load = r.load;
        if r.load_last_update + (1i64 << LOAD_WINDOW_SHIFT) < now {
            r.avgload = load << LOAD_PRECISION_SHIFT;
            r.b_avgload = load << LOAD_PRECISION_SHIFT;
        } else {
            let delta = (now - r.load_last_update).max(0);
            r.avgload = r.avgload + ((delta * (load << LOAD_PRECISION_SHIFT)) >> LOAD_WINDOW_SHIFT)
                - ((delta * r.avgload) >> LOAD_WINDOW_SHIFT);
            r.b_avgload = r.b_avgload
                + ((delta * (load << LOAD_PRECISION_SHIFT)) >> LOAD_WINDOW_SHIFT)
                - ((delta * r.b_avgload) >> LOAD_WINDOW_SHIFT);
        }
        r.load = (r.load + change).max(0);
        r.load_last_update = now;
    }

    /// Xen's `update_svc_load`.
    fn update_svc_load(&mut self, unit: UnitId, change: i64, now: Time) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        let unit_load = match change {
            -1 => 1,
            1 => 0,
            _ => i64::from(u.runnable && !u.parked),
        };
        let now = st(now) >> LOAD_GRANULARITY_SHIFT;
        if u.load_last_update + (1i64 << LOAD_WINDOW_SHIFT) < now {
            u.avgload = unit_load << LOAD_PRECISION_SHIFT;
        } else {
            let delta = (now - u.load_last_update).max(0);
            u.avgload = u.avgload
                + ((delta * (unit_load << LOAD_PRECISION_SHIFT)) >> LOAD_WINDOW_SHIFT)
                - ((delta * u.avgload) >> LOAD_WINDOW_SHIFT);
        }
        u.load_last_update = now;
    }

    fn update_load(&mut self, rq: usize, unit: Option<UnitId>, change: i64, now: Time) {
        self.update_runq_load(rq, change, now);
        if let Some(u) = unit {
            self.update_svc_load(u, change, now);
        }
    }

    fn update_max_weight(&mut self, rq: usize) {
        let max = self.rqs.get(rq).map_or(1, |r| {
            r.svc
                .iter()
                .filter_map(|u| self.units.get(u))
                .map(|u| u.weight)
                .max()
                .unwrap_or(1)
        });
        if let Some(r) = self.rqs.get_mut(rq) {
            r.max_weight = max.max(1);
        }
    }

    fn runq_assign(&mut self, unit: UnitId, rq: usize) {
        let load = self.units.get(&unit).map_or(0, |u| u.avgload);
        if let Some(u) = self.units.get_mut(&unit) {
            u.rq = rq;
        }
        if let Some(r) = self.rqs.get_mut(rq) {
            r.svc.push(unit);
            r.b_avgload += load;
        }
        self.update_max_weight(rq);
    }

    fn runq_deassign(&mut self, unit: UnitId) {
        let Some(u) = self.units.get(&unit) else {
            return;
        };
        let (rq, load) = (u.rq, u.avgload);
        if let Some(r) = self.rqs.get_mut(rq) {
            r.svc.retain(|&v| v != unit);
            r.b_avgload = (r.b_avgload - load).max(0);
        }
        self.update_max_weight(rq);
    }

    /// Inserts by credit, behind units with as much (Xen's `runq_insert`).
    fn runq_insert(&mut self, unit: UnitId) {
        let Some(u) = self.units.get(&unit) else {
            return;
        };
        if u.on_runq || u.scheduled {
            return;
        }
        let (rq, credit) = (u.rq, u.credit);
        let Some(r) = self.rqs.get(rq) else {
            return;
        };
        let pos = r
            .runq
            .iter()
            .position(|v| self.units.get(v).is_some_and(|x| credit > x.credit))
            .unwrap_or(r.runq.len());
        if let Some(r) = self.rqs.get_mut(rq) {
            r.runq.insert(pos, unit);
        }
        if let Some(u) = self.units.get_mut(&unit) {
            u.on_runq = true;
        }
    }

    fn runq_remove(&mut self, unit: UnitId) {
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        if !u.on_runq {
            return;
        }
        u.on_runq = false;
        let rq = u.rq;
        if let Some(r) = self.rqs.get_mut(rq) {
            r.runq.retain(|&v| v != unit);
        }
    }

    /// Charges run time as credit (weighted) and budget (Xen's
    /// `burn_credits` and `t2c_update`).
    fn burn(&mut self, unit: UnitId, now: Time) {
        let Some(u) = self.units.get(&unit) else {
            return;
        };
        let max_weight = self.rqs.get(u.rq).map_or(1, |r| r.max_weight);
        let Some(u) = self.units.get_mut(&unit) else {
            return;
        };
        let delta = st(now) - st(u.start_time);
        if delta <= 0 {
            return;
        }
        let val = i128::from(delta) * i128::from(max_weight) + i128::from(u.residual);
        let w = i128::from(u.weight.max(1));
        u.residual = (val % w) as i64;
        let burnt = i64::try_from(val / w).unwrap_or(i64::MAX);
        u.credit = u.credit.saturating_sub(burnt).max(CREDIT_MIN);
        if let Some(b) = &mut u.budget {
            *b -= delta;
        }
        u.start_time = now;
    }

    fn is_preemptable(&self, unit: UnitId, now: Time) -> bool {
        if self.ratelimit <= RATELIMIT_TICKLE_TOLERANCE {
            return true;
        }
        self.units.get(&unit).is_some_and(|u| {
            st(now) - st(u.state_entry) > self.ratelimit - RATELIMIT_TICKLE_TOLERANCE
        })
    }

    /// Xen's `tickle_score`: how much `new` deserves `cpu`, negative for
    /// not at all.
    fn tickle_score(&mut self, new: UnitId, cpu: usize, now: Time) -> i64 {
        let Some(cur) = self.curr.get(&cpu).copied() else {
            return -1;
        };
        if !self.is_preemptable(cur, now) {
            return -1;
        }
        self.burn(cur, now);
        let (Some(n), Some(c)) = (self.units.get(&new), self.units.get(&cur)) else {
            return -1;
        };
        let mut score = n.credit - c.credit;
        if n.cpu != cpu {
            score -= MIGRATE_RESIST;
        }
        if score > 0 {
            if n.params.soft_affinity.contains(cpu) {
                score += CREDIT_INIT;
            }
            if !c.params.soft_affinity.contains(cpu) {
                score += CREDIT_INIT;
            }
        }
        score
    }

    /// The pCPU that should pick up a unit just queued (Xen's
    /// `runq_tickle`): an idle untickled one of its runqueue (its own pCPU
    /// first), else the busy one whose unit it beats by most.
    fn runq_tickle(&mut self, unit: UnitId, now: Time) -> CpuMask {
        let Some(u) = self.units.get(&unit) else {
            return CpuMask::empty();
        };
        let (rq, cpu, params) = (u.rq, u.cpu, u.params);
        let Some(r) = self.rqs.get(rq) else {
            return CpuMask::empty();
        };
        let pool = self.pool_cpus();
        let hard = params.hard_affinity.and(pool);
        let pinned = hard.count() == 1;
        let mut ipid = None;
        if pinned && r.idle.contains(cpu) && !r.tickled.contains(cpu) {
            ipid = Some(cpu);
        }
        if ipid.is_none() {
            let steps = [params.soft_affinity.and(hard), hard];
            for (i, step) in steps.iter().enumerate() {
                if i == 0 && !params.has_soft_affinity(pool) {
                    continue;
                }
                let idle = r.idle.and_not(r.tickled).and(*step);
                if idle.contains(cpu) {
                    ipid = Some(cpu);
                } else {
                    ipid = idle.cycle(cpu);
                }
                if ipid.is_some() {
                    break;
                }
            }
        }
        if ipid.is_none() {
            let busy = r.active.and_not(r.idle).and_not(r.tickled).and(hard);
            let mut max = 0;
            let mut order: Vec<usize> = busy.iter().filter(|&c| c != cpu).collect();
            if busy.contains(cpu) {
                order.insert(0, cpu);
            }
            for c in order {
                let score = self.tickle_score(unit, c, now);
                if score > max {
                    max = score;
                    ipid = Some(c);
                    if c == cpu && params.soft_affinity.contains(cpu) {
                        break;
                    }
                }
            }
        }
        let Some(t) = ipid else {
            return CpuMask::empty();
        };
        if let Some(r) = self.rqs.get_mut(rq) {
            r.tickled.set(t);
        }
        if let Some(u) = self.units.get_mut(&unit) {
            u.tickled_cpu = Some(t);
        }
        CpuMask::single(t)
    }

    /// Everyone in the runqueue gets `CREDIT_INIT` more, clipped to the
    /// carry-over (Xen's `reset_credit`). Returns pCPUs whose unit ran
    /// out of budget meanwhile.
    fn reset_credit(&mut self, rq: usize, now: Time, snext_credit: i64) -> CpuMask {
        let mut reset = CREDIT_INIT;
        if snext_credit <= CREDIT_MIN {
            reset += CREDIT_INIT;
        }
        let mut tickle = CpuMask::empty();
        let members = self.rqs.get(rq).map(|r| r.svc.clone()).unwrap_or_default();
        for unit in members {
            let cpu = self.units.get(&unit).map(|u| u.cpu);
            if let Some(cpu) = cpu.filter(|c| self.curr.get(c) == Some(&unit)) {
                self.burn(unit, now);
                if self
                    .units
                    .get(&unit)
                    .and_then(|u| u.budget)
                    .is_some_and(|b| b <= 0)
                {
                    tickle.set(cpu);
                }
            }
            if let Some(u) = self.units.get_mut(&unit) {
                u.credit = (u.credit + reset).min(CREDIT_INIT + CARRYOVER_MAX);
                u.start_time = now;
            }
        }
        if let Some(r) = self.rqs.get_mut(rq) {
            r.tickled = r.tickled.or(tickle);
        }
        tickle
    }

    fn migrateable(&self, unit: UnitId, to: usize) -> bool {
        let (Some(u), Some(r)) = (self.units.get(&unit), self.rqs.get(to)) else {
            return false;
        };
        u.params.hard_affinity.intersects(r.active)
    }

    /// Moves a unit to runqueue `to` (Xen's `migrate`). A unit current on
    /// a pCPU moves when it is descheduled; the core never lets it run in
    /// two places.
    fn migrate(&mut self, unit: UnitId, to: usize, now: Time) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        if u.scheduled {
            // Running: it moves when its pCPU, asked now, deschedules it.
            u.migrate_to = Some(to);
            let (rq, cpu) = (u.rq, u.cpu);
            if let Some(r) = self.rqs.get_mut(rq) {
                r.tickled.set(cpu);
            }
            return CpuMask::single(cpu);
        }
        let on_runq = u.on_runq;
        let from = u.rq;
        if on_runq {
            self.runq_remove(unit);
            self.update_load(from, None, -1, now);
        }
        self.runq_deassign(unit);
        let hard = self
            .units
            .get(&unit)
            .map_or(CpuMask::empty(), |u| u.params.hard_affinity);
        let Some(r) = self.rqs.get_mut(to) else {
            return CpuMask::empty();
        };
        let dest = hard.and(r.active).cycle(r.pick_bias);
        if let Some(d) = dest {
            r.pick_bias = d;
        }
        if let (Some(u), Some(d)) = (self.units.get_mut(&unit), dest) {
            u.cpu = d;
        }
        self.runq_assign(unit, to);
        if on_runq {
            self.update_load(to, None, 1, now);
            self.runq_insert(unit);
            return self.runq_tickle(unit, now);
        }
        CpuMask::empty()
    }

    /// Evens out the runqueues' average loads by a push, a pull or a swap
    /// with the runqueue furthest from this one (Xen's `balance_load`).
    fn balance_load(&mut self, cpu: usize, now: Time) -> CpuMask {
        let Some(&lrq) = self.cpu_rq.get(&cpu) else {
            return CpuMask::empty();
        };
        self.update_runq_load(lrq, 0, now);
        let mut load_delta = 0;
        let mut orq = None;
        for o in 0..self.rqs.len() {
            if o == lrq || self.rqs[o].active.is_empty() {
                continue;
            }
            self.update_runq_load(o, 0, now);
            let d = (self.rqs[lrq].b_avgload - self.rqs[o].b_avgload).abs();
            if d > load_delta {
                load_delta = d;
                orq = Some(o);
            }
        }
        let Some(orq) = orq else {
            return CpuMask::empty();
        };
        let (l, o) = (&self.rqs[lrq], &self.rqs[orq]);
        let load_max = l.b_avgload.max(o.b_avgload);
        let cpus_max = l.active.count().max(o.active.count()) as i64;
        let tolerance = if load_max < cpus_max << LOAD_PRECISION_SHIFT {
            UNDERLOAD_TOLERANCE
        } else {
            OVERLOAD_TOLERANCE
        };
        let shift = (LOAD_PRECISION_SHIFT as i32 + tolerance).max(0) as u32;
        if load_delta < 1i64 << shift {
            return CpuMask::empty();
        }
        let lsvc = self.rqs[lrq].svc.clone();
        let osvc = self.rqs[orq].svc.clone();
        for &u in lsvc.iter().chain(osvc.iter()) {
            self.update_svc_load(u, 0, now);
        }
        let load = |s: &Self, u: UnitId| s.units.get(&u).map_or(0, |x| x.avgload);
        let (lb, ob) = (self.rqs[lrq].b_avgload, self.rqs[orq].b_avgload);
        let mut best = (load_delta, None, None);
        let mut consider = |push: Option<UnitId>, pull: Option<UnitId>, s: &Self| {
            let (mut l, mut o) = (lb, ob);
            if let Some(p) = push {
                l -= load(s, p);
                o += load(s, p);
            }
            if let Some(p) = pull {
                l += load(s, p);
                o -= load(s, p);
            }
            let d = (l - o).abs();
            if d < best.0 {
                best = (d, push, pull);
            }
        };
        for &push in &lsvc {
            if !self.migrateable(push, orq) {
                continue;
            }
            for &pull in &osvc {
                if self.migrateable(pull, lrq) {
                    consider(Some(push), Some(pull), self);
                }
            }
            consider(Some(push), None, self);
        }
        for &pull in &osvc {
            if self.migrateable(pull, lrq) {
                consider(None, Some(pull), self);
            }
        }
        let mut tickle = CpuMask::empty();
        if let Some(p) = best.1 {
            tickle = tickle.or(self.migrate(p, orq, now));
        }
        if let Some(p) = best.2 {
            tickle = tickle.or(self.migrate(p, lrq, now));
        }
        tickle
    }

    /// Takes budget from the domain's pool, or parks the unit (Xen's
    /// `unit_grab_budget`).
    fn grab_budget(&mut self, unit: UnitId) -> bool {
        let Some(u) = self.units.get(&unit) else {
            return false;
        };
        let Some(b) = u.budget else {
            return true;
        };
        if b > 0 {
            return true;
        }
        let quota = u.budget_quota;
        let Some(d) = self.doms.get_mut(&unit.domid) else {
            return false;
        };
        d.budget += b;
        let got = if d.budget > 0 {
            let g = quota.min(d.budget);
            d.budget -= g;
            g
        } else {
            0
        };
        if got == 0 {
            if !d.parked.contains(&unit) {
                d.parked.push(unit);
            }
            let rq = u.rq;
            let on_runq = u.on_runq;
            if let Some(u) = self.units.get_mut(&unit) {
                u.budget = Some(0);
                u.parked = true;
            }
            if on_runq {
                self.runq_remove(unit);
                self.update_load(rq, Some(unit), -1, self.now_hint);
            }
            return false;
        }
        if let Some(u) = self.units.get_mut(&unit) {
            u.budget = Some(got);
        }
        true
    }

    /// Unit stops running: unused budget goes back; parked units of the
    /// domain may run again (Xen's `unit_return_budget`).
    fn return_budget(&mut self, unit: UnitId, now: Time) -> CpuMask {
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        let Some(b) = u.budget.filter(|&b| b > 0) else {
            return CpuMask::empty();
        };
        u.budget = Some(0);
        let Some(d) = self.doms.get_mut(&unit.domid) else {
            return CpuMask::empty();
        };
        d.budget += b;
        if d.budget > 0 {
            let parked = core::mem::take(&mut d.parked);
            return self.unpark(parked, now);
        }
        CpuMask::empty()
    }

    fn unpark(&mut self, parked: Vec<UnitId>, now: Time) -> CpuMask {
        let mut tickle = CpuMask::empty();
        for unit in parked {
            let Some(u) = self.units.get_mut(&unit) else {
                continue;
            };
            u.parked = false;
            if u.scheduled || !u.runnable {
                continue;
            }
            let rq = u.rq;
            self.update_load(rq, Some(unit), 1, now);
            self.runq_insert(unit);
            tickle = tickle.or(self.runq_tickle(unit, now));
        }
        tickle
    }

    /// Xen's `replenish_domain_budget`.
    fn replenish(&mut self, domid: u16, now: Time) -> CpuMask {
        let Some(d) = self.doms.get_mut(&domid) else {
            return CpuMask::empty();
        };
        let Some(mut next) = d.next_repl else {
            return CpuMask::empty();
        };
        loop {
            next += BDGT_REPL_PERIOD as u64;
            d.budget += d.tot_budget;
            if next > now {
                break;
            }
        }
        d.next_repl = Some(next);
        if d.budget <= 0 {
            return CpuMask::empty();
        }
        d.budget = d.budget.min(d.tot_budget);
        let parked = core::mem::take(&mut d.parked);
        self.unpark(parked, now)
    }

    /// Xen's `runq_candidate`: the unit `cpu` should run, `None` for idle.
    fn candidate(
        &mut self,
        rq: usize,
        scurr: Option<UnitId>,
        cpu: usize,
        now: Time,
    ) -> Option<UnitId> {
        let mut yielding = false;
        if let Some(c) = scurr {
            if let Some(u) = self.units.get_mut(&c) {
                yielding = core::mem::take(&mut u.yielding);
            }
            // Rate limit: it stays if it ran less than the limit.
            let ran = self
                .units
                .get(&c)
                .map_or(0, |u| st(now) - st(u.state_entry));
            if !yielding && self.ratelimit > 0 && ran < self.ratelimit {
                return Some(c);
            }
        }
        let mut snext = scurr;
        // Soft affinity: leave if an idle pCPU of its soft affinity waits.
        if let Some(c) = scurr {
            let pool = self.pool_cpus();
            if let (Some(u), Some(r)) = (self.units.get(&c), self.rqs.get(rq)) {
                if u.params.has_soft_affinity(pool) && !u.params.soft_affinity.contains(cpu) {
                    let free = u
                        .params
                        .soft_affinity
                        .and(r.idle)
                        .and_not(r.tickled)
                        .and(pool);
                    if !free.is_empty() {
                        snext = None;
                    }
                }
            }
        }
        let snext_credit = |s: &Self, n: Option<UnitId>| {
            n.and_then(|u| s.units.get(&u))
                .map_or(CREDIT_MIN - 1, |u| u.credit)
        };
        // By index, not over a copy: parking a unit (no budget) takes it
        // off the queue, and then the same index is the next unit.
        let mut i = 0;
        while let Some(&svc) = self.rqs.get(rq).and_then(|r| r.runq.get(i)) {
            i += 1;
            let Some(u) = self.units.get(&svc) else {
                continue;
            };
            if !yielding && u.credit <= snext_credit(self, snext) {
                break;
            }
            if !u.params.hard_affinity.contains(cpu) {
                continue;
            }
            let tickled_elsewhere = u.tickled_cpu.is_some_and(|t| {
                t != cpu && self.rqs.get(rq).is_some_and(|r| r.tickled.contains(t))
            });
            if tickled_elsewhere {
                continue;
            }
            if u.cpu != cpu && snext_credit(self, snext) + MIGRATE_RESIST > u.credit {
                continue;
            }
            if !self.grab_budget(svc) {
                if self.units.get(&svc).is_some_and(|u| !u.on_runq) {
                    i -= 1;
                }
                continue;
            }
            snext = Some(svc);
            break;
        }
        snext
    }

    /// Xen's `csched2_runtime`: how long `snext` runs before the next
    /// decision.
    fn runtime(&self, rq: usize, snext: UnitId, now: Time, continuing: bool) -> i64 {
        let Some(u) = self.units.get(&snext) else {
            return MIN_TIMER;
        };
        let mut min_time = MIN_TIMER;
        if self.ratelimit > 0 {
            let rl = if continuing {
                st(u.state_entry) + self.ratelimit - st(now)
            } else {
                self.ratelimit
            };
            min_time = min_time.max(rl);
        }
        let mut rt_credit = u.credit;
        if let Some(w) = self
            .rqs
            .get(rq)
            .and_then(|r| r.runq.first())
            .and_then(|w| self.units.get(w))
        {
            if w.credit > 0 {
                rt_credit = u.credit - w.credit;
            }
        }
        let max_weight = self.rqs.get(rq).map_or(1, |r| r.max_weight);
        let mut time = if rt_credit > 0 {
            i64::try_from(i128::from(rt_credit) * i128::from(u.weight) / i128::from(max_weight))
                .unwrap_or(MAX_TIMER)
        } else {
            0
        };
        if let Some(b) = u.budget {
            time = time.min(b);
        }
        time.clamp(min_time, MAX_TIMER.max(min_time))
    }
}

impl SchedInstance for Credit2Instance {
    fn add_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        if cpu >= CpuMask::CAPACITY {
            return Err(SchedError::CpuOutOfRange(cpu));
        }
        // The runqueue of its group if one exists, else a new one.
        let size = self.arrangement.group_size();
        let group = cpu / size;
        let rq = match self
            .rqs
            .iter()
            .position(|r| r.active.iter().any(|c| c / size == group))
        {
            Some(i) => i,
            None => match self.rqs.iter().position(|r| r.active.is_empty()) {
                Some(i) => {
                    self.rqs[i] = Runq::new(cpu);
                    i
                }
                None => {
                    self.rqs.push(Runq::new(cpu));
                    self.rqs.len() - 1
                }
            },
        };
        self.rqs[rq].active.set(cpu);
        self.rqs[rq].idle.set(cpu);
        self.cpu_rq.insert(cpu, rq);
        Ok(())
    }

    fn remove_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        let Some(&rq) = self.cpu_rq.get(&cpu) else {
            return Ok(());
        };
        let last = self.rqs[rq].active.count() == 1;
        if last && !self.rqs[rq].svc.is_empty() {
            let others: Vec<usize> = (0..self.rqs.len())
                .filter(|&o| o != rq && !self.rqs[o].active.is_empty())
                .collect();
            let Some(&to) = others.first() else {
                return Err(SchedError::Policy(
                    "credit2: the last pCPU of a pool with units cannot leave it",
                ));
            };
            let now = self.now_hint;
            for u in self.rqs[rq].svc.clone() {
                self.migrate(u, to, now);
            }
        }
        self.rqs[rq].active.clear(cpu);
        self.rqs[rq].idle.clear(cpu);
        self.rqs[rq].tickled.clear(cpu);
        self.cpu_rq.remove(&cpu);
        self.curr.remove(&cpu);
        // Units placed on it move to another pCPU of their runqueue.
        let stay = self.rqs[rq].active;
        for u in self.units.values_mut().filter(|u| u.cpu == cpu) {
            if let Some(c) = u.params.hard_affinity.and(stay).first().or(stay.first()) {
                u.cpu = c;
            }
        }
        Ok(())
    }

    fn insert_unit(&mut self, params: &UnitParams) -> Result<(), SchedError> {
        if self.units.contains_key(&params.unit) {
            return Err(SchedError::UnitExists(params.unit));
        }
        // The runqueue with the least load in its affinity (soft first).
        let pool = self.pool_cpus();
        let hard = params.hard_affinity.and(pool);
        let pick = |mask: CpuMask, s: &Self| {
            (0..s.rqs.len())
                .filter(|&i| s.rqs[i].active.intersects(mask))
                .min_by_key(|&i| s.rqs[i].b_avgload)
        };
        let rq = params
            .has_soft_affinity(pool)
            .then(|| pick(params.soft_affinity.and(hard), self))
            .flatten()
            .or_else(|| pick(hard, self))
            .ok_or(SchedError::Policy(
                "credit2: no pCPU of the pool in the unit's affinity",
            ))?;
        let cpus = self.rqs[rq].active.and(hard);
        let cpu = cpus.cycle(self.rqs[rq].pick_bias).unwrap_or(0);
        self.rqs[rq].pick_bias = cpu;
        let now = self.now_hint;
        let d = self.doms.entry(params.unit.domid).or_insert(Dom {
            weight: if params.weight == 0 {
                DEFAULT_WEIGHT
            } else {
                params.weight
            },
            cap: params.cap,
            nr_units: 0,
            tot_budget: 0,
            budget: 0,
            next_repl: None,
            parked: Vec::new(),
        });
        d.nr_units += 1;
        let (weight, cap) = (i64::from(d.weight), d.cap);
        if cap != 0 {
            d.tot_budget = BDGT_REPL_PERIOD * i64::from(cap) / 100;
            if d.next_repl.is_none() {
                d.budget = d.tot_budget;
                d.next_repl = Some(now + BDGT_REPL_PERIOD as u64);
            }
        }
        let quota = (d.tot_budget / d.nr_units.max(1)).max(MIN_TIMER);
        self.units.insert(
            params.unit,
            Unit {
                params: *params,
                rq,
                cpu,
                credit: CREDIT_INIT,
                weight,
                residual: 0,
                start_time: now,
                state_entry: now,
                budget: (cap != 0).then_some(0),
                budget_quota: quota,
                // A new unit counts as half loaded (Xen).
                avgload: 1 << (LOAD_PRECISION_SHIFT - 1),
                load_last_update: st(now) >> LOAD_GRANULARITY_SHIFT,
                runnable: false,
                on_runq: false,
                scheduled: false,
                yielding: false,
                parked: false,
                tickled_cpu: None,
                migrate_to: None,
            },
        );
        for u in self
            .units
            .values_mut()
            .filter(|u| u.params.unit.domid == params.unit.domid)
        {
            u.budget_quota = quota;
        }
        self.runq_assign(params.unit, rq);
        Ok(())
    }

    fn remove_unit(&mut self, unit: UnitId) -> CpuMask {
        let Some(u) = self.units.get(&unit) else {
            return CpuMask::empty();
        };
        if u.on_runq {
            let rq = u.rq;
            self.runq_remove(unit);
            self.update_load(rq, None, -1, self.now_hint);
        }
        self.runq_deassign(unit);
        self.units.remove(&unit);
        if let Some(d) = self.doms.get_mut(&unit.domid) {
            d.nr_units -= 1;
            d.parked.retain(|&v| v != unit);
            if d.nr_units <= 0 {
                self.doms.remove(&unit.domid);
            }
        }
        CpuMask::empty()
    }

    fn wake(&mut self, unit: UnitId, now: Time) -> CpuMask {
        self.now_hint = self.now_hint.max(now);
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        u.runnable = true;
        if u.scheduled || u.on_runq || u.parked {
            // Still on its pCPU (that pCPU re-queues it when it
            // reschedules), already queued, or waiting for budget.
            return CpuMask::empty();
        }
        let rq = u.rq;
        self.update_load(rq, Some(unit), 1, now);
        self.runq_insert(unit);
        self.runq_tickle(unit, now)
    }

    fn sleep(&mut self, unit: UnitId, now: Time) -> CpuMask {
        self.now_hint = self.now_hint.max(now);
        let Some(u) = self.units.get_mut(&unit) else {
            return CpuMask::empty();
        };
        u.runnable = false;
        let (rq, cpu) = (u.rq, u.cpu);
        if u.scheduled {
            if let Some(r) = self.rqs.get_mut(rq) {
                r.tickled.set(cpu);
            }
            return CpuMask::single(cpu);
        }
        if u.on_runq {
            self.update_load(rq, Some(unit), -1, now);
            self.runq_remove(unit);
        }
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
        self.now_hint = self.now_hint.max(now);
        let Some(&rq) = self.cpu_rq.get(&cpu) else {
            return Decision::idle();
        };
        let mut tickle = CpuMask::empty();
        if let Some(r) = self.rqs.get_mut(rq) {
            r.tickled.clear(cpu);
        }
        let prev = prev.filter(|u| self.units.contains_key(u));
        if let Some(p) = prev {
            self.burn(p, now);
            if self
                .units
                .get(&p)
                .and_then(|u| u.budget)
                .is_some_and(|b| b <= 0)
            {
                self.grab_budget(p);
            }
        }
        let scurr = prev.filter(|p| {
            prev_runnable
                && self
                    .units
                    .get(p)
                    .is_some_and(|u| !u.parked && u.rq == rq && u.migrate_to.is_none())
        });
        let snext = self.candidate(rq, scurr, cpu, now);
        // What Xen's context_saved does for the unit leaving the pCPU.
        if let Some(p) = prev.filter(|&p| Some(p) != snext) {
            tickle = tickle.or(self.return_budget(p, now));
            let back = self
                .units
                .get(&p)
                .map(|u| (u.runnable && !u.parked, u.rq))
                .unwrap_or((false, rq));
            let mut move_to = None;
            if let Some(u) = self.units.get_mut(&p) {
                u.scheduled = false;
                move_to = u.migrate_to.take();
            }
            if back.0 {
                self.runq_insert(p);
                match move_to {
                    // Queued where it was, then moved with its load.
                    Some(to) => tickle = tickle.or(self.migrate(p, to, now)),
                    None => tickle = tickle.or(self.runq_tickle(p, now)),
                }
            } else {
                self.update_load(back.1, Some(p), -1, now);
                if let Some(to) = move_to {
                    self.migrate(p, to, now);
                }
            }
        }
        let Some(n) = snext else {
            self.curr.remove(&cpu);
            if let Some(r) = self.rqs.get_mut(rq) {
                r.idle.set(cpu);
            }
            self.update_load(rq, None, 0, now);
            return Decision {
                next: None,
                slice_ns: None,
                tickle,
            };
        };
        let continuing = Some(n) == prev;
        if continuing {
            self.update_load(rq, Some(n), 0, now);
        } else {
            self.runq_remove(n);
        }
        // Scheduled before balancing, so balancing sees it as running.
        if let Some(u) = self.units.get_mut(&n) {
            u.scheduled = true;
        }
        if let Some(r) = self.rqs.get_mut(rq) {
            r.idle.clear(cpu);
        }
        // The end of an epoch: the best unit has no credit left.
        let top = self
            .rqs
            .get(rq)
            .and_then(|r| r.runq.first())
            .and_then(|u| self.units.get(u))
            .map(|u| u.credit);
        let own = self.units.get(&n).map_or(0, |u| u.credit);
        if top.map_or(own, |t| t.max(own)) <= 0 {
            tickle = tickle.or(self.reset_credit(rq, now, own));
            tickle = tickle.or(self.balance_load(cpu, now));
        }
        if let Some(u) = self.units.get_mut(&n) {
            u.start_time = now;
            u.tickled_cpu = None;
            if !continuing {
                u.state_entry = now;
            }
            if u.cpu != cpu {
                u.credit += MIGRATE_COMPENSATION;
                u.cpu = cpu;
            }
        }
        self.curr.insert(cpu, n);
        let slice = self.runtime(rq, n, now, continuing);
        Decision {
            next: Some(n),
            slice_ns: Some(slice.max(1) as u64),
            tickle: tickle.and_not(CpuMask::single(cpu)),
        }
    }

    fn pick_cpu(&self, unit: UnitId) -> Option<usize> {
        self.units.get(&unit).map(|u| u.cpu)
    }

    fn next_event(&self) -> Option<Time> {
        self.doms.values().filter_map(|d| d.next_repl).min()
    }

    fn on_timer(&mut self, now: Time) -> CpuMask {
        self.now_hint = self.now_hint.max(now);
        let due: Vec<u16> = self
            .doms
            .iter()
            .filter(|(_, d)| d.next_repl.is_some_and(|t| t <= now))
            .map(|(&id, _)| id)
            .collect();
        let mut tickle = CpuMask::empty();
        for domid in due {
            tickle = tickle.or(self.replenish(domid, now));
        }
        tickle
    }

    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(
            out,
            "credit2: {:?} runqueues, ratelimit {} us",
            self.arrangement,
            self.ratelimit / US
        )?;
        for (i, r) in self
            .rqs
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.active.is_empty())
        {
            write!(
                out,
                "  runqueue {i}: pCPUs {}, max_weight {}, load {} (~{}%), runq",
                r.active,
                r.max_weight,
                r.load,
                (r.avgload * 100) >> LOAD_PRECISION_SHIFT
            )?;
            for u in &r.runq {
                write!(out, " {u}")?;
            }
            writeln!(out)?;
        }
        for (id, u) in &self.units {
            write!(
                out,
                "  {id}: cpu={} credit={} [w={}]",
                u.cpu, u.credit, u.weight
            )?;
            if let Some(b) = u.budget {
                write!(out, " budget={b}({})", u.budget_quota)?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

/// The descriptor registered in [`SCHEDULERS`]: command-line runqueue
/// arrangement and rate limit.
pub static CREDIT2: Credit2Scheduler = Credit2Scheduler {
    arrangement: None,
    ratelimit_us: None,
};

#[distributed_slice(SCHEDULERS)]
static REGISTER: &'static dyn SchedulerOps = &CREDIT2;

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "sched-credit2",
    kconfig: "SCHED_CREDIT2",
    summary: "Credit2 scheduler: credits, runqueues, ratelimit, load balancing, caps",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Resource Management",
        feature: "Credit2 Scheduler",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "unit:tessera-sched-credit2::tests::weights_share_two_pcpus",
            "unit:tessera-sched-credit2::tests::weights_share_one_pcpu",
            "unit:tessera-sched-credit2::tests::a_wrong_ratio_fails_the_share_check",
            "unit:tessera-sched-credit2::tests::a_cap_holds_in_every_period",
            "unit:tessera-sched-credit2::tests::nobody_starves",
            "unit:tessera-sched-credit2::tests::waking_units_run_soon",
            "unit:tessera-sched-credit2::tests::load_balancing_evens_out_runqueues",
            "scenario:sched-credit2",
            "scenario:sched-weights-credit2",
            "scenario:linux-credit2-overcommit",
        ],
        note: "Credits, runqueues (credit2_runqueue=, flat topology), rate limit, load \
               balancing, weights, caps by budget replenishment; tested in the host simulator \
               and on QEMU, where weights 256:512 on one pCPU give 1:2 within 10%. Weight and \
               cap at boot from tessera, properties; no toolstack adjustment, no SMT awareness.",
    }],
    init: None,
};

#[cfg(test)]
mod tests;
