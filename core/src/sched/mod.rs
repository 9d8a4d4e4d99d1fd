//! The scheduler core, after Xen's design (xen/common/sched): a scheduling
//! policy is a read-only descriptor ([`SchedulerOps`]) registered in
//! [`SCHEDULERS`]; each CPU pool instantiates one ([`SchedInstance`]) and
//! owns it behind the pool's lock, which is the lock every scheduling
//! operation on the pool's pCPUs takes. A vCPU is a scheduling unit
//! ([`UnitId`]); Tessera has no core scheduling, so a unit is one vCPU.
//!
//! The hooks are all mandatory and have no default bodies: Xen drops a
//! scheduler at boot that misses one; here the compiler refuses it.
//!
//! [`SchedCore`] (in `pool.rs`) holds the pools, the per-pCPU state (current
//! unit, reschedule flag) and every unit's run state, and checks each
//! decision a policy makes before a pCPU acts on it. The arch layer drives
//! it through the free functions at the bottom of this file.

use alloc::boxed::Box;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use linkme::distributed_slice;

use crate::boot::ParamStr;
use crate::cmdline::{Param, ParamKind, PARAMS};

mod bootpools;
mod cpumask;
mod pool;
pub mod sim;
#[cfg(test)]
mod tests;

pub use bootpools::{parse_boot_pools, BootPool, BootPools, PoolDtError, CPUPOOL_COMPATIBLE};
pub use cpumask::CpuMask;
pub use pool::{CpuPool, Dispatch, PoolInfo, PoolStats, SchedCore, UnitInfo};

/// How many times in a row the core calls a policy's `on_timer` at one
/// instant before giving up until the next interrupt: a policy whose
/// `next_event` does not move forward must not hang a pCPU.
pub const MAX_TIMER_ROUNDS: u32 = 16;

/// Time in nanoseconds since boot (Xen's `s_time_t`, never negative here).
pub type Time = u64;

/// Scheduler ids of the toolstack ABI (`XEN_SCHEDULER_*` in Xen's
/// public/domctl.h); 4 was SEDF, removed.
pub mod sched_id {
    pub const CREDIT: u32 = 5;
    pub const CREDIT2: u32 = 6;
    pub const ARINC653: u32 = 7;
    pub const RTDS: u32 = 8;
    pub const NULL: u32 = 9;
}

/// A scheduling unit: one vCPU, named by its domain and vCPU index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitId {
    pub domid: u16,
    pub vcpu: u16,
}

impl UnitId {
    pub const fn new(domid: u16, vcpu: u16) -> Self {
        UnitId { domid, vcpu }
    }
    /// Packed form (domain in the upper half) for atomics and traces.
    pub const fn to_raw(self) -> u32 {
        (self.domid as u32) << 16 | self.vcpu as u32
    }
    pub const fn from_raw(raw: u32) -> Self {
        UnitId {
            domid: (raw >> 16) as u16,
            vcpu: raw as u16,
        }
    }
}

/// Xen's `%pv` form: `d1v0`.
impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "d{}v{}", self.domid, self.vcpu)
    }
}

impl fmt::Debug for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Xen credit's default weight; also the default for later policies.
pub const DEFAULT_WEIGHT: u16 = 256;

/// Policy-specific parameters of a unit, beyond weight and cap (Xen's
/// `xen_domctl_sched_*` per-domain or per-vCPU parameters). A policy that
/// is given another policy's parameters, or `None`, uses its defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PolicyParams {
    /// The policy's defaults.
    #[default]
    None,
    /// RTDS (Xen's `xen_domctl_schedparam_vcpu.rtds`): a deferrable server
    /// with `budget_ns` of CPU time every `period_ns`; with `extratime` the
    /// unit may also run, at a lower priority, in time nobody reserved.
    Rtds {
        period_ns: u64,
        budget_ns: u64,
        extratime: bool,
    },
    /// ARINC 653: the unit's window in the major frame, appended in the
    /// order units join the pool (Xen gives dom0's vCPUs 10 ms each this
    /// way; a toolstack schedule replaces it).
    Arinc653 { runtime_ns: u64 },
}

/// What a policy is told about a unit when it joins a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitParams {
    pub unit: UnitId,
    /// pCPUs the unit may run on (Xen's `cpu_hard_affinity`).
    pub hard_affinity: CpuMask,
    /// pCPUs the unit prefers (Xen's `cpu_soft_affinity`); all = none.
    pub soft_affinity: CpuMask,
    /// Relative share (credit, credit2); unused by null.
    pub weight: u16,
    /// Cap in percent of one pCPU, 0 = uncapped (credit, credit2).
    pub cap: u16,
    /// Parameters only one policy understands.
    pub policy: PolicyParams,
}

impl UnitParams {
    /// A unit free to run anywhere, with default weight and no cap.
    pub const fn new(domid: u16, vcpu: u16) -> Self {
        UnitParams {
            unit: UnitId::new(domid, vcpu),
            hard_affinity: CpuMask::all(),
            soft_affinity: CpuMask::all(),
            weight: DEFAULT_WEIGHT,
            cap: 0,
            policy: PolicyParams::None,
        }
    }
    /// The same unit with relative weight `weight` (credit, credit2).
    pub const fn weighted(self, weight: u16) -> Self {
        UnitParams { weight, ..self }
    }
    /// The same unit capped at `cap` percent of one pCPU (credit, credit2).
    pub const fn capped(self, cap: u16) -> Self {
        UnitParams { cap, ..self }
    }
    /// The same unit with policy-specific parameters.
    pub const fn with_policy(self, policy: PolicyParams) -> Self {
        UnitParams { policy, ..self }
    }
    /// The same unit pinned to `cpus`.
    pub const fn pinned(self, cpus: CpuMask) -> Self {
        UnitParams {
            hard_affinity: cpus,
            ..self
        }
    }
    /// The same unit preferring `cpus`.
    pub const fn preferring(self, cpus: CpuMask) -> Self {
        UnitParams {
            soft_affinity: cpus,
            ..self
        }
    }
    /// Whether soft affinity says anything within `pool` (Xen's
    /// `has_soft_affinity`): it must narrow the hard affinity without
    /// emptying it, otherwise policies ignore it.
    pub fn has_soft_affinity(&self, pool: CpuMask) -> bool {
        let hard = self.hard_affinity.and(pool);
        let soft = self.soft_affinity.and(hard);
        !soft.is_empty() && soft != hard
    }
}

/// A policy's answer to "what runs next on this pCPU".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The unit to run; `None` runs the idle loop.
    pub next: Option<UnitId>,
    /// When to decide again; `None` = only when something changes (a
    /// wake, a block, a tickle). The arch programs the pCPU's timer.
    pub slice_ns: Option<u64>,
    /// Other pCPUs of the pool the policy wants rescheduled (Xen's
    /// `cpu_raise_softirq(SCHEDULE_SOFTIRQ)` from inside `do_schedule`).
    pub tickle: CpuMask,
}

impl Decision {
    /// Run the idle loop until something changes.
    pub const fn idle() -> Self {
        Decision {
            next: None,
            slice_ns: None,
            tickle: CpuMask::empty(),
        }
    }
    /// Run `unit` until something changes.
    pub const fn run(unit: UnitId) -> Self {
        Decision {
            next: Some(unit),
            slice_ns: None,
            tickle: CpuMask::empty(),
        }
    }
}

/// A policy's refusal to take a unit into its pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub unit: UnitId,
    /// pCPUs in the pool.
    pub pcpus: usize,
    /// pCPUs the policy still had free when it refused.
    pub free: usize,
    /// The policy's rule, said as a reason ("the null scheduler runs one
    /// vCPU per pCPU").
    pub rule: &'static str,
}

/// Why a scheduling operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// This image links no scheduler at all.
    NoScheduler,
    /// The scheduler core has been set up already.
    AlreadyInitialised,
    /// The scheduler core is not set up yet.
    NotInitialised,
    UnknownPool(u32),
    PoolExists(u32),
    /// A pool still has pCPUs or domains.
    PoolNotEmpty(u32),
    /// A pCPU index beyond the core's pCPUs.
    CpuOutOfRange(usize),
    /// The pCPU already belongs to a pool.
    CpuInPool {
        cpu: usize,
        pool: u32,
    },
    /// The pCPU belongs to no pool.
    CpuNotInPool(usize),
    /// The pCPU runs or owns a unit and cannot leave its pool.
    CpuBusy {
        cpu: usize,
        unit: UnitId,
    },
    UnknownUnit(UnitId),
    UnitExists(UnitId),
    UnknownDomain(u16),
    DomainExists(u16),
    /// A domain with no vCPU, or a unit whose domain id is not the domain's.
    BadDomainUnits(u16),
    /// The unit's hard affinity has no pCPU of the pool.
    AffinityOutsidePool {
        unit: UnitId,
        hard: CpuMask,
        pool: u32,
        pool_cpus: CpuMask,
    },
    /// The unit is still on a pCPU: block it and let the pCPU reschedule
    /// before removing it.
    UnitOnCpu {
        unit: UnitId,
        cpu: usize,
    },
    /// The policy refused a unit (from `insert_unit`).
    Refused(Refusal),
    /// The policy refused one of a domain's units: the boot-time message.
    DomainRefused {
        domid: u16,
        vcpus: usize,
        pool: u32,
        sched: &'static str,
        hard: CpuMask,
        refusal: Refusal,
    },
    /// A policy-specific failure (instantiation, an unusable pCPU).
    Policy(&'static str),
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SchedError::*;
        match *self {
            NoScheduler => {
                f.write_str("this image has no scheduler: enable one in Kconfig (SCHED_NULL)")
            }
            AlreadyInitialised => f.write_str("the scheduler is already set up"),
            NotInitialised => f.write_str("the scheduler is not set up yet"),
            UnknownPool(p) => write!(f, "no CPU pool {p}"),
            PoolExists(p) => write!(f, "CPU pool {p} exists already"),
            PoolNotEmpty(p) => write!(f, "CPU pool {p} still has pCPUs or domains"),
            CpuOutOfRange(c) => write!(f, "no pCPU {c}"),
            CpuInPool { cpu, pool } => write!(f, "pCPU {cpu} is already in pool {pool}"),
            CpuNotInPool(c) => write!(f, "pCPU {c} is in no pool"),
            CpuBusy { cpu, unit } => write!(f, "pCPU {cpu} still has {unit}"),
            UnknownUnit(u) => write!(f, "no scheduling unit {u}"),
            UnitExists(u) => write!(f, "{u} is already scheduled"),
            UnknownDomain(d) => write!(f, "domain d{d} is not scheduled"),
            DomainExists(d) => write!(f, "domain d{d} is already scheduled"),
            BadDomainUnits(d) => write!(f, "domain d{d}: no vCPU, or a vCPU of another domain"),
            AffinityOutsidePool {
                unit,
                hard,
                pool,
                pool_cpus,
            } => write!(
                f,
                "{unit}: hard affinity {hard} has no pCPU of pool {pool} ({pool_cpus})"
            ),
            UnitOnCpu { unit, cpu } => write!(f, "{unit} is still on pCPU {cpu}"),
            Refused(r) => write!(
                f,
                "{} refused ({} of {} pCPUs free): {}",
                r.unit, r.free, r.pcpus, r.rule
            ),
            DomainRefused {
                domid,
                vcpus,
                pool,
                sched,
                hard,
                refusal: r,
            } => {
                if vcpus > r.pcpus {
                    write!(
                        f,
                        "domain d{domid} has {vcpus} vCPUs but pool {pool} ({sched}) has {} pCPUs: {}",
                        r.pcpus, r.rule
                    )
                } else {
                    write!(
                        f,
                        "domain d{domid}: no free pCPU for vCPU {} in pool {pool} ({sched}) within \
                         its hard affinity {hard} ({} of {} pCPUs free): {}",
                        r.unit.vcpu, r.free, r.pcpus, r.rule
                    )
                }
            }
            Policy(why) => f.write_str(why),
        }
    }
}

/// A scheduling policy: the read-only descriptor every scheduler plugin
/// registers (Xen's `struct scheduler` without its per-pool data).
pub trait SchedulerOps: Sync {
    /// Full name, as in Xen ("null Scheduler").
    fn name(&self) -> &'static str;
    /// The name `sched=` and the toolstack use ("null").
    fn opt_name(&self) -> &'static str;
    /// `XEN_SCHEDULER_*` ([`sched_id`]).
    fn sched_id(&self) -> u32;
    /// A fresh instance for one CPU pool, with no pCPU and no unit.
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError>;
}

/// One pool's scheduler state. Every call is made with the pool's lock
/// held, so an instance needs no locking of its own. The core has already
/// checked arguments it can check (pCPU in range and in the pool, unit
/// known, state transitions real); hooks that return a [`CpuMask`] name the
/// pCPUs to reschedule.
pub trait SchedInstance: Send {
    /// `cpu` joins the pool.
    fn add_pcpu(&mut self, cpu: usize) -> Result<(), SchedError>;
    /// `cpu` leaves the pool; no unit runs on it. May refuse (a pCPU that
    /// owns a unit under null).
    fn remove_pcpu(&mut self, cpu: usize) -> Result<(), SchedError>;
    /// A unit joins the pool, blocked (it becomes runnable with `wake`).
    /// May refuse: [`SchedError::Refused`].
    fn insert_unit(&mut self, params: &UnitParams) -> Result<(), SchedError>;
    /// A unit on no pCPU leaves the pool. It may still be runnable and
    /// queued (its domain is destroyed without blocking every vCPU first):
    /// the policy drops it from its queues.
    fn remove_unit(&mut self, unit: UnitId) -> CpuMask;
    /// A blocked unit became runnable.
    fn wake(&mut self, unit: UnitId, now: Time) -> CpuMask;
    /// A runnable unit blocked. The core reschedules the pCPU it runs on.
    fn sleep(&mut self, unit: UnitId, now: Time) -> CpuMask;
    /// The running unit gives up the rest of its slice. The core
    /// reschedules its pCPU.
    fn yield_unit(&mut self, unit: UnitId, now: Time) -> CpuMask;
    /// Picks what `cpu` runs next. `prev` is what it ran until now and
    /// `prev_runnable` whether that unit may go on running.
    fn do_schedule(
        &mut self,
        cpu: usize,
        now: Time,
        prev: Option<UnitId>,
        prev_runnable: bool,
    ) -> Decision;
    /// The pCPU the unit would run on now (Xen's `pick_resource`), for
    /// routing its interrupts; `None` for an unknown unit.
    fn pick_cpu(&self, unit: UnitId) -> Option<usize>;
    /// The policy's state for `dump` (Xen's `dump_settings`).
    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result;
    /// When the policy's own timer must fire next (credit's accounting
    /// tick, a replenishment, a budget refill); `None`: no timer. The core
    /// calls [`Self::on_timer`] at or after that time. The default suits a
    /// policy with no timer at all (null); a policy with one must say so.
    fn next_event(&self) -> Option<Time> {
        None
    }
    /// The time from [`Self::next_event`] has come (`now` may be later).
    /// Returns the pCPUs to reschedule.
    fn on_timer(&mut self, _now: Time) -> CpuMask {
        CpuMask::empty()
    }
}

/// Every scheduler of this image.
#[distributed_slice]
pub static SCHEDULERS: [&'static dyn SchedulerOps];

/// The scheduler Kconfig chose (SCHED_DEFAULT), used when `sched=` is
/// absent or names no scheduler of this image.
pub fn default_scheduler_name() -> &'static str {
    tessera_config::SCHED_DEFAULT
}

/// Finds a scheduler by its `sched=` name.
pub fn find_scheduler(
    registry: &[&'static dyn SchedulerOps],
    opt_name: &str,
) -> Option<&'static dyn SchedulerOps> {
    registry.iter().copied().find(|s| s.opt_name() == opt_name)
}

/// Finds a scheduler by its `XEN_SCHEDULER_*` id (pool creation by the
/// toolstack).
pub fn find_scheduler_by_id(
    registry: &[&'static dyn SchedulerOps],
    id: u32,
) -> Option<&'static dyn SchedulerOps> {
    registry.iter().copied().find(|s| s.sched_id() == id)
}

/// Why the boot pool does not use the scheduler `sched=` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fallback<'a> {
    /// The `sched=` value ("" = not given).
    pub requested: &'a str,
    /// The Kconfig default.
    pub default: &'a str,
    /// The Kconfig default is not linked either (only possible with a
    /// hand-edited .config).
    pub default_missing: bool,
    pub used: &'static dyn SchedulerOps,
    pub registry: &'a [&'static dyn SchedulerOps],
}

impl PartialEq for dyn SchedulerOps + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.opt_name() == other.opt_name()
    }
}
impl Eq for dyn SchedulerOps + '_ {}
impl fmt::Debug for dyn SchedulerOps + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.opt_name())
    }
}

impl fmt::Display for Fallback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requested.is_empty() {
            write!(
                f,
                "sched: the default scheduler '{}' is not built in",
                self.default
            )?;
        } else {
            write!(f, "sched: unknown scheduler '{}'", self.requested)?;
        }
        f.write_str(" (this image has:")?;
        for s in self.registry {
            write!(f, " {}", s.opt_name())?;
        }
        f.write_str(")")?;
        if !self.requested.is_empty() && self.default_missing {
            write!(f, "; the default '{}' is not built in either", self.default)?;
        }
        write!(f, "; using {} ({})", self.used.name(), self.used.opt_name())
    }
}

/// Chooses Pool-0's scheduler: `requested` (the `sched=` value, empty when
/// not given), else `default`, else (a .config whose default is not linked)
/// the first by name, so boot goes on rather than stopping as Xen's BUG_ON
/// does. The fallback, if any, comes back for the caller to warn about.
pub fn select_scheduler<'a>(
    registry: &'a [&'static dyn SchedulerOps],
    requested: &'a str,
    default: &'a str,
) -> Result<(&'static dyn SchedulerOps, Option<Fallback<'a>>), SchedError> {
    if !requested.is_empty() {
        if let Some(s) = find_scheduler(registry, requested) {
            return Ok((s, None));
        }
    }
    let (used, default_missing) = match find_scheduler(registry, default) {
        Some(s) => (s, false),
        None => (
            registry
                .iter()
                .copied()
                .min_by_key(|s| s.opt_name())
                .ok_or(SchedError::NoScheduler)?,
            true,
        ),
    };
    let fallback = (!requested.is_empty() || default_missing).then_some(Fallback {
        requested,
        default,
        default_missing,
        used,
        registry,
    });
    Ok((used, fallback))
}

/// `sched=` as given ("" = not given). Xen keeps 10 bytes; 16 is plenty.
static SCHED_PARAM: ParamStr<16> = ParamStr::new("");

fn set_sched_param(v: &str) -> Result<(), &'static str> {
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("expected a scheduler name such as null");
    }
    SCHED_PARAM.set(v)
}

#[distributed_slice(PARAMS)]
static P_SCHED: Param = Param {
    name: "sched",
    kind: ParamKind::Value(set_sched_param),
    help: "scheduler of Pool-0 (default: Kconfig SCHED_DEFAULT)",
};

/// Xen's `SCHED_DEFAULT_RATELIMIT_US`: a unit runs at least this long
/// before a credit or credit2 pCPU preempts it.
pub const DEFAULT_RATELIMIT_US: u32 = 1000;
/// `XEN_SYSCTL_SCHED_RATELIMIT_MIN` and `_MAX` (public/sysctl.h).
pub const RATELIMIT_US_RANGE: (u32, u32) = (100, 500_000);

/// `sched_ratelimit_us=` (0 disables rate limiting).
static RATELIMIT_US: AtomicU32 = AtomicU32::new(DEFAULT_RATELIMIT_US);

fn set_ratelimit_param(v: &str) -> Result<(), &'static str> {
    let n: u32 = v.parse().map_err(|_| "expected microseconds")?;
    // Xen warns and keeps its default for a value out of range.
    if n != 0 && !(RATELIMIT_US_RANGE.0..=RATELIMIT_US_RANGE.1).contains(&n) {
        return Err("outside 100..=500000 (or 0 to disable)");
    }
    RATELIMIT_US.store(n, Ordering::Relaxed);
    Ok(())
}

#[distributed_slice(PARAMS)]
static P_RATELIMIT: Param = Param {
    name: "sched_ratelimit_us",
    kind: ParamKind::Value(set_ratelimit_param),
    help: "minimum run time before preemption, credit and credit2 (default 1000, 0 = off)",
};

/// The context-switch rate limit from `sched_ratelimit_us=`, in
/// microseconds (0: none). Policies read it when a pool is created.
pub fn ratelimit_us() -> u32 {
    RATELIMIT_US.load(Ordering::Relaxed)
}

/// The scheduler core, once [`init`] has run.
static SCHED: spin::Once<SchedCore> = spin::Once::new();

/// Sets up scheduling at boot: picks Pool-0's scheduler from `sched=`
/// (warning and falling back to the Kconfig default when it names none of
/// this image's) and creates the boot-time pools of `layout`
/// ([`parse_boot_pools`], or [`BootPools::single`]: Pool-0 with every
/// online pCPU). Call once, after secondary CPUs are up and before the
/// first domain.
pub fn init(nr_cpus: usize, layout: &BootPools) -> Result<&'static SchedCore, SchedError> {
    if SCHED.is_completed() {
        return Err(SchedError::AlreadyInitialised);
    }
    let mut requested = [0u8; 16];
    let len = SCHED_PARAM.with(|s| {
        let n = s.len().min(requested.len());
        requested[..n].copy_from_slice(&s.as_bytes()[..n]);
        n
    });
    let requested = core::str::from_utf8(&requested[..len]).unwrap_or("");
    let core = SchedCore::new(nr_cpus);
    core.create_boot_pools(&SCHEDULERS, requested, default_scheduler_name(), layout)?;
    let mut fresh = false;
    let sched = SCHED.call_once(|| {
        fresh = true;
        core
    });
    if fresh {
        Ok(sched)
    } else {
        Err(SchedError::AlreadyInitialised)
    }
}

/// The scheduler core, if set up.
pub fn get() -> Option<&'static SchedCore> {
    SCHED.get()
}

/// Per-pCPU entry point: what `cpu` runs next. Idle before [`init`].
pub fn schedule(cpu: usize, now: Time) -> Dispatch {
    match SCHED.get() {
        Some(s) => s.schedule(cpu, now),
        None => Dispatch::idle(),
    }
}

/// The vCPU blocked (WFI, a blocking hypercall). Returns the pCPUs to
/// reschedule (raise SGI 0 on the others).
pub fn vcpu_block(unit: UnitId, now: Time) -> Result<CpuMask, SchedError> {
    SCHED
        .get()
        .ok_or(SchedError::NotInitialised)?
        .vcpu_block(unit, now)
}

/// The vCPU has work again (an interrupt, an event). Returns the pCPUs to
/// reschedule.
pub fn vcpu_wake(unit: UnitId, now: Time) -> Result<CpuMask, SchedError> {
    SCHED
        .get()
        .ok_or(SchedError::NotInitialised)?
        .vcpu_wake(unit, now)
}

/// The running vCPU yields. Returns the pCPUs to reschedule (its own).
pub fn vcpu_yield(unit: UnitId, now: Time) -> Result<CpuMask, SchedError> {
    SCHED
        .get()
        .ok_or(SchedError::NotInitialised)?
        .vcpu_yield(unit, now)
}

/// When `cpu` must take a timer interrupt next: the end of its slice or,
/// on the pool's timer pCPU, the policy's next event. `None`: no timer.
/// Arm the pCPU's timer for this after every [`schedule`].
pub fn next_timer(cpu: usize) -> Option<Time> {
    SCHED.get().and_then(|s| s.next_timer(cpu))
}

/// `cpu`'s timer fired at `now`: runs the policy timers that are due and
/// flags the pCPUs that must reschedule (`cpu` itself when its slice
/// ended). Returns them all; send SGI 0 to the others.
pub fn timer_interrupt(cpu: usize, now: Time) -> CpuMask {
    SCHED
        .get()
        .map_or(CpuMask::empty(), |s| s.timer_interrupt(cpu, now))
}

/// The unit `cpu` runs (`None`: idle, or not set up).
pub fn current(cpu: usize) -> Option<UnitId> {
    SCHED.get().and_then(|s| s.current(cpu))
}

/// Whether `cpu` must call [`schedule`] before returning to a guest.
pub fn need_resched(cpu: usize) -> bool {
    SCHED.get().is_some_and(|s| s.need_resched(cpu))
}
