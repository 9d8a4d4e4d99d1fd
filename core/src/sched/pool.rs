//! CPU pools and the per-pCPU scheduling state (Xen's cpupool.c and the
//! policy-independent half of core.c).
//!
//! Locking: a pool's `spin::Mutex` guards its policy instance, its pCPU set
//! and its units' run states; it is the lock a pCPU's scheduling takes, as
//! in Xen where every `sched_resource` of a pool shares the pool's lock
//! under the policies Tessera has. The pool list and the domain-to-pool map
//! are read-mostly (`RwLock`) and are never held while a pool lock is
//! taken, except `pool_assign_cpu`/`pool_unassign_cpu`, which take the list
//! then the pool, always in that order. EL2 runs with IRQs masked outside
//! the idle loop, so no lock is ever taken from an interrupt handler that
//! could interrupt its holder.
//!
//! Nothing a guest does reaches a panic here: unknown units and pCPUs are
//! errors, repeated blocks and wakes are no-ops, and a policy decision that
//! would run a blocked unit, a unit of another pool or one already running
//! elsewhere is replaced by idle and counted.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use spin::{Mutex, RwLock};

use super::bootpools::BootPools;
use super::{
    select_scheduler, CpuMask, Decision, SchedError, SchedInstance, SchedulerOps, Time, UnitId,
    UnitParams,
};

/// What a pCPU does after [`SchedCore::schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// What it ran until now.
    pub prev: Option<UnitId>,
    /// What it runs now (`None`: idle).
    pub next: Option<UnitId>,
    /// Program the pCPU's timer to call `schedule` again after this long;
    /// `None`: no timer.
    pub slice_ns: Option<u64>,
    /// `next` last ran on another pCPU (its state may be in that pCPU's
    /// caches and TLB-tagged structures). Computed by the core from where
    /// the unit really ran, not taken from the policy.
    pub migrated: bool,
    /// `prev != next`: a context switch is needed.
    pub switched: bool,
    /// Other pCPUs the policy asked to reschedule while deciding (load
    /// balancing, a unit it put back): the caller sends them the
    /// reschedule IPI, since a pCPU asleep in WFI does not see a flag.
    pub tickle: CpuMask,
}

impl Dispatch {
    /// Idle, no timer, nothing to switch.
    pub const fn idle() -> Self {
        Dispatch {
            prev: None,
            next: None,
            slice_ns: None,
            migrated: false,
            switched: false,
            tickle: CpuMask::empty(),
        }
    }
}

/// Counters of one pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Calls of `do_schedule`.
    pub decisions: u64,
    /// Decisions the core refused (a policy bug): the pCPU idled instead.
    pub rejected: u64,
}

/// A unit's run state as the core sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitInfo {
    pub params: UnitParams,
    pub runnable: bool,
    /// The pCPU whose current unit it is.
    pub on_cpu: Option<usize>,
    /// The pCPU it last ran on.
    pub last_cpu: Option<usize>,
}

/// A pool as the toolstack sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolInfo {
    pub id: u32,
    pub sched: &'static dyn SchedulerOps,
    pub cpus: CpuMask,
    pub units: usize,
    pub stats: PoolStats,
}

struct PoolInner {
    instance: Box<dyn SchedInstance>,
    cpus: CpuMask,
    units: BTreeMap<UnitId, UnitInfo>,
    stats: PoolStats,
    /// A rejected decision is warned about once per pool: a policy bug
    /// triggered by guest timing must not flood the console.
    warned: bool,
}

/// A CPU pool: a set of pCPUs scheduled by one instance of one policy.
pub struct CpuPool {
    id: u32,
    ops: &'static dyn SchedulerOps,
    inner: Mutex<PoolInner>,
}

impl CpuPool {
    pub fn id(&self) -> u32 {
        self.id
    }
    pub fn ops(&self) -> &'static dyn SchedulerOps {
        self.ops
    }
}

const NO_POOL: u32 = u32::MAX;
/// `current` encoding: 0 = idle, else this bit set plus the packed unit.
const CURRENT_SOME: u64 = 1 << 32;

/// `slice_end` encoding of "no slice timer".
const NO_DEADLINE: u64 = u64::MAX;

struct PerCpu {
    pool: AtomicU32,
    current: AtomicU64,
    resched: AtomicBool,
    /// When the slice of the last decision ends ([`NO_DEADLINE`]: never).
    slice_end: AtomicU64,
}

impl PerCpu {
    fn current(&self) -> Option<UnitId> {
        let v = self.current.load(Ordering::Acquire);
        (v & CURRENT_SOME != 0).then(|| UnitId::from_raw(v as u32))
    }
    fn set_current(&self, u: Option<UnitId>) {
        let v = u.map_or(0, |u| CURRENT_SOME | u.to_raw() as u64);
        self.current.store(v, Ordering::Release);
    }
}

/// The scheduler core: pools, per-pCPU state and unit states. One exists
/// in the image (`sched::init`); tests and the simulator make their own.
pub struct SchedCore {
    pools: RwLock<Vec<Arc<CpuPool>>>,
    domains: RwLock<BTreeMap<u16, u32>>,
    percpu: Box<[PerCpu]>,
}

impl SchedCore {
    /// A core for pCPUs `0..nr_cpus` (at most [`CpuMask::CAPACITY`]), with
    /// no pool.
    pub fn new(nr_cpus: usize) -> Self {
        let n = nr_cpus.min(CpuMask::CAPACITY);
        SchedCore {
            pools: RwLock::new(Vec::new()),
            domains: RwLock::new(BTreeMap::new()),
            percpu: (0..n)
                .map(|_| PerCpu {
                    pool: AtomicU32::new(NO_POOL),
                    current: AtomicU64::new(0),
                    resched: AtomicBool::new(false),
                    slice_end: AtomicU64::new(NO_DEADLINE),
                })
                .collect(),
        }
    }

    pub fn nr_cpus(&self) -> usize {
        self.percpu.len()
    }

    fn percpu(&self, cpu: usize) -> Result<&PerCpu, SchedError> {
        self.percpu.get(cpu).ok_or(SchedError::CpuOutOfRange(cpu))
    }

    fn pool(&self, id: u32) -> Result<Arc<CpuPool>, SchedError> {
        self.pools
            .read()
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or(SchedError::UnknownPool(id))
    }

    fn pool_of_unit(&self, unit: UnitId) -> Result<Arc<CpuPool>, SchedError> {
        let id = *self
            .domains
            .read()
            .get(&unit.domid)
            .ok_or(SchedError::UnknownUnit(unit))?;
        self.pool(id)
    }

    /// Creates an empty pool scheduled by `ops` (Xen's `cpupool_create`).
    pub fn create_pool(&self, id: u32, ops: &'static dyn SchedulerOps) -> Result<(), SchedError> {
        if id == NO_POOL {
            return Err(SchedError::UnknownPool(id));
        }
        let mut pools = self.pools.write();
        if pools.iter().any(|p| p.id == id) {
            return Err(SchedError::PoolExists(id));
        }
        let instance = ops.instantiate()?;
        pools.push(Arc::new(CpuPool {
            id,
            ops,
            inner: Mutex::new(PoolInner {
                instance,
                cpus: CpuMask::empty(),
                units: BTreeMap::new(),
                stats: PoolStats::default(),
                warned: false,
            }),
        }));
        Ok(())
    }

    /// Destroys a pool with no pCPU and no domain.
    pub fn destroy_pool(&self, id: u32) -> Result<(), SchedError> {
        let mut pools = self.pools.write();
        let idx = pools
            .iter()
            .position(|p| p.id == id)
            .ok_or(SchedError::UnknownPool(id))?;
        {
            let inner = pools[idx].inner.lock();
            if !inner.cpus.is_empty() || !inner.units.is_empty() {
                return Err(SchedError::PoolNotEmpty(id));
            }
        }
        pools.remove(idx);
        Ok(())
    }

    /// Creates Pool-0 from `sched=` (`requested`) and the Kconfig default,
    /// with the `online` pCPUs, and says which scheduler it uses; an
    /// unknown `sched=` is a warning, as in Xen.
    pub fn create_boot_pool(
        &self,
        registry: &[&'static dyn SchedulerOps],
        requested: &str,
        default: &str,
        online: CpuMask,
    ) -> Result<(), SchedError> {
        self.create_boot_pools(registry, requested, default, &BootPools::single(online))
    }

    /// Creates the boot-time pools (from `xen,cpupool` nodes): a pool that
    /// names no scheduler gets the `sched=` choice, whose fallback is
    /// warned about once. pCPUs beyond this core's are left out rather
    /// than failing boot.
    pub fn create_boot_pools(
        &self,
        registry: &[&'static dyn SchedulerOps],
        requested: &str,
        default: &str,
        layout: &BootPools,
    ) -> Result<(), SchedError> {
        let (chosen, fallback) = select_scheduler(registry, requested, default)?;
        if let Some(f) = fallback {
            warn!("{f}");
        }
        for p in &layout.pools {
            let ops = p.sched.unwrap_or(chosen);
            if p.id == 0 {
                info!("Using scheduler: {} ({})", ops.name(), ops.opt_name());
            }
            self.create_pool(p.id, ops)?;
            let cpus = p.cpus.and(CpuMask::first_n(self.nr_cpus()));
            for cpu in cpus.iter() {
                self.pool_assign_cpu(p.id, cpu)?;
            }
            match &p.node {
                Some(node) => info!("Pool-{}: {} on pCPUs {cpus} ({node})", p.id, ops.opt_name()),
                None => info!("Pool-{}: {} on pCPUs {cpus}", p.id, ops.opt_name()),
            }
        }
        Ok(())
    }

    /// Moves a free pCPU into a pool (Xen's `cpupool_assign_cpu_locked`).
    /// The pCPU is asked to reschedule so it picks up work.
    pub fn pool_assign_cpu(&self, pool: u32, cpu: usize) -> Result<(), SchedError> {
        let pc = self.percpu(cpu)?;
        let pools = self.pools.read();
        let p = pools
            .iter()
            .find(|p| p.id == pool)
            .ok_or(SchedError::UnknownPool(pool))?;
        let owner = pc.pool.load(Ordering::Acquire);
        if owner != NO_POOL {
            return Err(SchedError::CpuInPool { cpu, pool: owner });
        }
        let mut inner = p.inner.lock();
        inner.instance.add_pcpu(cpu)?;
        inner.cpus.set(cpu);
        pc.pool.store(pool, Ordering::Release);
        pc.resched.store(true, Ordering::Release);
        Ok(())
    }

    /// Takes an idle pCPU out of its pool. The policy may refuse (null:
    /// the pCPU still owns a unit).
    pub fn pool_unassign_cpu(&self, cpu: usize) -> Result<(), SchedError> {
        let pc = self.percpu(cpu)?;
        let pools = self.pools.read();
        let id = pc.pool.load(Ordering::Acquire);
        let p = pools
            .iter()
            .find(|p| p.id == id)
            .ok_or(SchedError::CpuNotInPool(cpu))?;
        let mut inner = p.inner.lock();
        if let Some(unit) = pc.current() {
            return Err(SchedError::CpuBusy { cpu, unit });
        }
        inner.instance.remove_pcpu(cpu)?;
        inner.cpus.clear(cpu);
        pc.pool.store(NO_POOL, Ordering::Release);
        Ok(())
    }

    /// Adds a domain's units to a pool, all blocked; [`Self::vcpu_wake`]
    /// starts them. All or nothing: when the policy refuses one unit the
    /// ones inserted before it are removed and the error names the domain,
    /// e.g. "domain d1 has 6 vCPUs but pool 0 (null) has 4 pCPUs: the null
    /// scheduler runs one vCPU per pCPU".
    pub fn add_domain(
        &self,
        pool: u32,
        domid: u16,
        units: &[UnitParams],
    ) -> Result<(), SchedError> {
        if units.is_empty() || units.iter().any(|u| u.unit.domid != domid) {
            return Err(SchedError::BadDomainUnits(domid));
        }
        let p = self.pool(pool)?;
        // Holding the map's write lock across the insertion keeps two
        // creations of the same domain from interleaving.
        let mut domains = self.domains.write();
        if domains.contains_key(&domid) {
            return Err(SchedError::DomainExists(domid));
        }
        let mut inner = p.inner.lock();
        for (i, u) in units.iter().enumerate() {
            if units[..i].iter().any(|v| v.unit == u.unit) {
                Self::undo_insert(&mut inner, &units[..i]);
                return Err(SchedError::UnitExists(u.unit));
            }
            if !u.hard_affinity.intersects(inner.cpus) {
                Self::undo_insert(&mut inner, &units[..i]);
                return Err(SchedError::AffinityOutsidePool {
                    unit: u.unit,
                    hard: u.hard_affinity,
                    pool,
                    pool_cpus: inner.cpus,
                });
            }
            if let Err(e) = inner.instance.insert_unit(u) {
                Self::undo_insert(&mut inner, &units[..i]);
                return Err(match e {
                    SchedError::Refused(refusal) => SchedError::DomainRefused {
                        domid,
                        vcpus: units.len(),
                        pool,
                        sched: p.ops.opt_name(),
                        hard: u.hard_affinity.and(inner.cpus),
                        refusal,
                    },
                    e => e,
                });
            }
            inner.units.insert(
                u.unit,
                UnitInfo {
                    params: *u,
                    runnable: false,
                    on_cpu: None,
                    last_cpu: None,
                },
            );
        }
        domains.insert(domid, pool);
        Ok(())
    }

    fn undo_insert(inner: &mut PoolInner, done: &[UnitParams]) {
        for u in done.iter().rev() {
            inner.instance.remove_unit(u.unit);
            inner.units.remove(&u.unit);
        }
    }

    /// Removes a domain whose units are all off their pCPUs (blocked and
    /// descheduled). Returns the pCPUs to reschedule.
    pub fn remove_domain(&self, domid: u16) -> Result<CpuMask, SchedError> {
        let mut domains = self.domains.write();
        let pool = *domains
            .get(&domid)
            .ok_or(SchedError::UnknownDomain(domid))?;
        let p = self.pool(pool)?;
        let mut inner = p.inner.lock();
        let units: Vec<UnitInfo> = inner
            .units
            .range(UnitId::new(domid, 0)..=UnitId::new(domid, u16::MAX))
            .map(|(_, i)| *i)
            .collect();
        if let Some((unit, cpu)) = units.iter().find_map(|i| Some((i.params.unit, i.on_cpu?))) {
            return Err(SchedError::UnitOnCpu { unit, cpu });
        }
        let mut tickle = CpuMask::empty();
        for i in &units {
            tickle = tickle.or(inner.instance.remove_unit(i.params.unit));
            inner.units.remove(&i.params.unit);
        }
        domains.remove(&domid);
        Ok(self.raise(&inner, tickle))
    }

    /// Sets the reschedule flag of the pool's pCPUs in `mask`; returns them.
    fn raise(&self, inner: &PoolInner, mask: CpuMask) -> CpuMask {
        // A policy may only poke its own pool's pCPUs.
        let mask = mask.and(inner.cpus);
        for cpu in mask.iter() {
            if let Some(pc) = self.percpu.get(cpu) {
                pc.resched.store(true, Ordering::Release);
            }
        }
        mask
    }

    /// Decides what `cpu` runs next: takes its pool's lock, asks the policy
    /// (`do_schedule`), checks the answer and records the new current unit.
    /// Clears the pCPU's reschedule flag. A pCPU in no pool idles.
    pub fn schedule(&self, cpu: usize, now: Time) -> Dispatch {
        let Some(pc) = self.percpu.get(cpu) else {
            return Dispatch::idle();
        };
        // The pCPU may change pool between reading its pool id and taking
        // that pool's lock (Xen re-checks the lock pointer the same way).
        for _ in 0..4 {
            let id = pc.pool.load(Ordering::Acquire);
            let Ok(p) = self.pool(id) else {
                pc.resched.store(false, Ordering::Release);
                return Dispatch {
                    prev: pc.current(),
                    ..Dispatch::idle()
                };
            };
            let mut inner = p.inner.lock();
            if !inner.cpus.contains(cpu) {
                continue;
            }
            // Cleared before deciding: a wake after this point sets it
            // again and is not lost.
            pc.resched.store(false, Ordering::Release);
            return self.decide(&p, &mut inner, pc, cpu, now);
        }
        Dispatch::idle()
    }

    fn decide(
        &self,
        p: &CpuPool,
        inner: &mut PoolInner,
        pc: &PerCpu,
        cpu: usize,
        now: Time,
    ) -> Dispatch {
        let prev = pc.current();
        let prev_runnable = prev
            .and_then(|u| inner.units.get(&u))
            .is_some_and(|i| i.runnable);
        let d: Decision = inner.instance.do_schedule(cpu, now, prev, prev_runnable);
        inner.stats.decisions += 1;
        let mut next = d.next;
        if let Some(u) = next {
            let why = match inner.units.get(&u) {
                None => Some("not in this pool"),
                Some(i) if !i.runnable => Some("blocked"),
                Some(i) if i.on_cpu.is_some_and(|c| c != cpu) => Some("running elsewhere"),
                Some(i) if !i.params.hard_affinity.contains(cpu) => {
                    Some("outside its hard affinity")
                }
                Some(_) => None,
            };
            if let Some(why) = why {
                inner.stats.rejected += 1;
                if !inner.warned {
                    inner.warned = true;
                    warn!(
                        "sched: pool {} ({}) chose {u} ({why}) for pCPU {cpu}; idling instead",
                        p.id,
                        p.ops.opt_name()
                    );
                }
                next = None;
            }
        }
        if let Some(pu) = prev.filter(|&pu| Some(pu) != next) {
            if let Some(i) = inner.units.get_mut(&pu) {
                i.on_cpu = None;
            }
        }
        let mut migrated = false;
        if let Some(i) = next.and_then(|u| inner.units.get_mut(&u)) {
            migrated = i.last_cpu.is_some_and(|c| c != cpu);
            i.on_cpu = Some(cpu);
            i.last_cpu = Some(cpu);
        }
        pc.set_current(next);
        // A zero slice would be a timer already due: one nanosecond is the
        // shortest the core arms, so time always moves on.
        let end = d.slice_ns.map_or(NO_DEADLINE, |s| {
            now.saturating_add(s.max(1)).min(NO_DEADLINE - 1)
        });
        pc.slice_end.store(end, Ordering::Release);
        let tickle = self.raise(inner, d.tickle);
        Dispatch {
            prev,
            next,
            slice_ns: d.slice_ns,
            migrated,
            switched: prev != next,
            tickle,
        }
    }

    /// The unit blocked. Idempotent. Returns the pCPUs to reschedule,
    /// including the one it runs on.
    pub fn vcpu_block(&self, unit: UnitId, now: Time) -> Result<CpuMask, SchedError> {
        let p = self.pool_of_unit(unit)?;
        let mut inner = p.inner.lock();
        let info = inner
            .units
            .get_mut(&unit)
            .ok_or(SchedError::UnknownUnit(unit))?;
        if !info.runnable {
            return Ok(CpuMask::empty());
        }
        info.runnable = false;
        let on = info.on_cpu.map_or(CpuMask::empty(), CpuMask::single);
        let t = inner.instance.sleep(unit, now).or(on);
        Ok(self.raise(&inner, t))
    }

    /// The unit became runnable. Idempotent. Returns the pCPUs to
    /// reschedule.
    pub fn vcpu_wake(&self, unit: UnitId, now: Time) -> Result<CpuMask, SchedError> {
        let p = self.pool_of_unit(unit)?;
        let mut inner = p.inner.lock();
        let info = inner
            .units
            .get_mut(&unit)
            .ok_or(SchedError::UnknownUnit(unit))?;
        if info.runnable {
            return Ok(CpuMask::empty());
        }
        info.runnable = true;
        let t = inner.instance.wake(unit, now);
        Ok(self.raise(&inner, t))
    }

    /// The running unit yields. A unit not on a pCPU has nothing to give
    /// up: a no-op. Returns the pCPUs to reschedule (its own).
    pub fn vcpu_yield(&self, unit: UnitId, now: Time) -> Result<CpuMask, SchedError> {
        let p = self.pool_of_unit(unit)?;
        let mut inner = p.inner.lock();
        let info = inner
            .units
            .get(&unit)
            .ok_or(SchedError::UnknownUnit(unit))?;
        let Some(cpu) = info.on_cpu.filter(|_| info.runnable) else {
            return Ok(CpuMask::empty());
        };
        let t = inner
            .instance
            .yield_unit(unit, now)
            .or(CpuMask::single(cpu));
        Ok(self.raise(&inner, t))
    }

    /// When `cpu` needs its timer next: the end of its current slice or,
    /// when it is its pool's timer pCPU (the lowest of the pool, Xen's
    /// credit `master`), the policy's next event, whichever comes first.
    pub fn next_timer(&self, cpu: usize) -> Option<Time> {
        let pc = self.percpu.get(cpu)?;
        let slice = pc.slice_end.load(Ordering::Acquire);
        let slice = (slice != NO_DEADLINE).then_some(slice);
        let policy = self
            .pool(pc.pool.load(Ordering::Acquire))
            .ok()
            .and_then(|p| {
                let inner = p.inner.lock();
                if inner.cpus.first() != Some(cpu) {
                    return None;
                }
                inner.instance.next_event()
            });
        match (slice, policy) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `cpu`'s timer fired at `now`: flags `cpu` for rescheduling if its
    /// slice is over, and runs its pool's policy timer if that is due
    /// (whichever pCPU of the pool gets here first runs it). Returns every
    /// pCPU flagged.
    pub fn timer_interrupt(&self, cpu: usize, now: Time) -> CpuMask {
        let Some(pc) = self.percpu.get(cpu) else {
            return CpuMask::empty();
        };
        let mut mask = CpuMask::empty();
        if pc.slice_end.load(Ordering::Acquire) <= now {
            pc.slice_end.store(NO_DEADLINE, Ordering::Release);
            pc.resched.store(true, Ordering::Release);
            mask.set(cpu);
        }
        if let Ok(p) = self.pool(pc.pool.load(Ordering::Acquire)) {
            let mut inner = p.inner.lock();
            for _ in 0..super::MAX_TIMER_ROUNDS {
                match inner.instance.next_event() {
                    Some(t) if t <= now => {
                        let t = inner.instance.on_timer(now);
                        mask = mask.or(self.raise(&inner, t));
                    }
                    _ => break,
                }
            }
        }
        mask
    }

    /// The unit `cpu` runs (`None`: idle or out of range). Lock-free.
    pub fn current(&self, cpu: usize) -> Option<UnitId> {
        self.percpu.get(cpu).and_then(PerCpu::current)
    }

    /// Whether `cpu` must call [`Self::schedule`] (its reschedule SGI or
    /// the check before returning to a guest). Lock-free.
    pub fn need_resched(&self, cpu: usize) -> bool {
        self.percpu
            .get(cpu)
            .is_some_and(|pc| pc.resched.load(Ordering::Acquire))
    }

    /// Asks `cpu` to reschedule (its timer fired, an operator request).
    pub fn raise_resched(&self, cpu: usize) {
        if let Some(pc) = self.percpu.get(cpu) {
            pc.resched.store(true, Ordering::Release);
        }
    }

    /// The pool `cpu` belongs to.
    pub fn pool_of_cpu(&self, cpu: usize) -> Option<u32> {
        let id = self.percpu.get(cpu)?.pool.load(Ordering::Acquire);
        (id != NO_POOL).then_some(id)
    }

    /// The pool a domain is in.
    pub fn pool_of_domain(&self, domid: u16) -> Option<u32> {
        self.domains.read().get(&domid).copied()
    }

    /// A pool's scheduler, pCPUs, unit count and counters.
    pub fn pool_info(&self, id: u32) -> Option<PoolInfo> {
        let p = self.pool(id).ok()?;
        let inner = p.inner.lock();
        Some(PoolInfo {
            id,
            sched: p.ops,
            cpus: inner.cpus,
            units: inner.units.len(),
            stats: inner.stats,
        })
    }

    /// A unit's run state.
    pub fn unit_info(&self, unit: UnitId) -> Option<UnitInfo> {
        let p = self.pool_of_unit(unit).ok()?;
        let info = p.inner.lock().units.get(&unit).copied();
        info
    }

    /// Where the unit runs, else where its policy would run it: the pCPU
    /// to send its wake-up interrupts to.
    pub fn unit_cpu(&self, unit: UnitId) -> Option<usize> {
        let p = self.pool_of_unit(unit).ok()?;
        let inner = p.inner.lock();
        let info = inner.units.get(&unit)?;
        info.on_cpu.or_else(|| inner.instance.pick_cpu(unit))
    }

    /// Every pool, its units and its policy's state (the `r` debug key).
    pub fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let pools: Vec<Arc<CpuPool>> = self.pools.read().clone();
        for p in pools {
            let inner = p.inner.lock();
            writeln!(
                out,
                "Pool {}: {} ({}), pCPUs {}, {} decisions, {} rejected",
                p.id,
                p.ops.name(),
                p.ops.opt_name(),
                inner.cpus,
                inner.stats.decisions,
                inner.stats.rejected
            )?;
            for cpu in inner.cpus.iter() {
                match self.current(cpu) {
                    Some(u) => writeln!(out, "  CPU{cpu}: running {u}")?,
                    None => writeln!(out, "  CPU{cpu}: idle")?,
                }
            }
            for (u, i) in &inner.units {
                let state = match (i.runnable, i.on_cpu) {
                    (true, Some(_)) => "running",
                    (true, None) => "runnable",
                    (false, Some(_)) => "blocking",
                    (false, None) => "blocked",
                };
                writeln!(out, "  {u}: {state}, hard {}", i.params.hard_affinity)?;
            }
            inner.instance.dump(out)?;
        }
        Ok(())
    }
}
