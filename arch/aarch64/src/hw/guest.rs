//! Running guests: the per-pCPU scheduling loop, guest exits, and the end
//! of a domain.
//!
//! Each pCPU loops in [`run`]: it asks the scheduler core what to run,
//! loads that vCPU and enters it. Every exit lands in
//! [`tessera_guest_exit`] on a fresh stack; it handles the trap and either
//! re-enters the same vCPU or unloads it and goes back to [`run`]. A guest
//! can end its domain (PSCI SYSTEM_OFF/RESET) or crash it (an exception it
//! cannot take, a fault storm); either way only that domain ends: its
//! vCPUs are stopped, its stage 2 is torn down with TLB maintenance, and
//! its memory is scrubbed and returned through the frame table.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use spin::Mutex;
use tessera_core::config::NR_CPUS;
use tessera_core::domain::{Domain, ShutdownReason};
use tessera_core::sched::{self, CpuMask, UnitId};
use tessera_core::xen::{Action as XenAction, Runstate, XenDomain};

use super::gic::{self, IrqEvent};
use super::p2m::P2m;
use super::vcpu::{self, VcpuContext};
use super::vgic::GicCpuState;
use super::{percpu, sysreg, timer};
use crate::esr::Esr;
use crate::guest::layout::{
    GUEST_GICC_BASE, GUEST_GICC_SIZE, GUEST_GICD_BASE, GUEST_GICV3_GICD_BASE,
    GUEST_GICV3_GICR0_BASE, GUEST_GICV3_GICR0_SIZE,
};
use crate::trap::inject::{self, Injection};
use crate::trap::mmio;
use crate::trap::sysreg::{self as sysemu, Action};
use crate::trap::vpsci::{self, GuestPower, Outcome};
use crate::vgic::v3::{GICD_SIZE, GICR_STRIDE};
use crate::vgic::{self as vg, GicVersion, Vgic};

const OFF: u8 = 0;
const ON: u8 = 1;

/// Injected aborts in a row after which a vCPU is considered lost.
const FAULT_STORM: u32 = 32;

/// A guest vCPU.
pub struct Vcpu {
    pub unit: UnitId,
    pub index: usize,
    pub mpidr: u64,
    power: AtomicU8,
    /// Counter value a WFI waits for: 0 = not waiting, `u64::MAX` = until
    /// an interrupt arrives.
    wait_until: AtomicU64,
    faults: AtomicU32,
    /// The emulated EL1 physical timer: CNTP_CTL_EL0 (ENABLE, IMASK) and
    /// CNTP_CVAL_EL0 (physical counter, as the guest sees it).
    ptimer: Mutex<(u64, u64)>,
    ctx: UnsafeCell<VcpuContext>,
    gic: UnsafeCell<GicCpuState>,
}

// SAFETY: `ctx` is touched only by the one pCPU that has this vCPU loaded
// (the scheduler runs a unit on at most one pCPU at a time), or, while the
// vCPU is off and loaded nowhere, under its domain's `power` lock.
unsafe impl Sync for Vcpu {}
// SAFETY: as above; VcpuContext is plain data.
unsafe impl Send for Vcpu {}

/// A running domain: core's part, its stage 2 and its vCPUs.
pub struct Guest {
    pub dom: Arc<Domain>,
    pub p2m: P2m,
    pub vcpus: Vec<Arc<Vcpu>>,
    /// Guest RAM banks (IPA, size).
    pub ram: Vec<(u64, u64)>,
    pub cntvoff: u64,
    /// The GIC the domain sees (the host's version).
    pub gic: GicVersion,
    pub vgic: Mutex<Vgic>,
    /// MPIDR affinity of each vCPU (for SGI target lists).
    affinities: Vec<u64>,
    /// vCPUs loaded on a pCPU right now, and whether teardown happened.
    loaded: Mutex<(usize, bool)>,
    /// Serialises CPU_ON (and reads of the power states).
    power: Mutex<()>,
    /// Xen ABI state (`xen,enhanced`), shared with core's registry of
    /// live Xen domains (events and grants between domains).
    pub xen: Option<Arc<XenDomain>>,
    /// RAM pages taken out of the map by the balloon (still the domain's,
    /// freed with it), and pages claimed back by increase_reservation.
    pub ballooned: Mutex<Vec<u64>>,
    pub claimed: Mutex<Vec<u64>>,
    /// "(dN) " for console output of hypercalls.
    pub console_prefix: String,
    /// Console input for `CONSOLEIO_read` (a domain without vpl011).
    pub rx: Arc<XenConsoleRx>,
    /// Ended, but other domains still map pages it granted.
    zombie: AtomicBool,
}

/// Console input queued for `CONSOLEIO_read`.
pub struct XenConsoleRx(Mutex<alloc::collections::VecDeque<u8>>);

impl XenConsoleRx {
    pub fn new() -> Arc<Self> {
        Arc::new(XenConsoleRx(
            Mutex::new(alloc::collections::VecDeque::new()),
        ))
    }
}

impl tessera_core::console::ConsoleInput for XenConsoleRx {
    fn push(&self, byte: u8) -> bool {
        let mut q = self.0.lock();
        if q.len() >= 1024 {
            return false;
        }
        q.push_back(byte);
        true
    }
}

static GUESTS: Mutex<Vec<Arc<Guest>>> = Mutex::new(Vec::new());
static CURRENT: [Mutex<Option<(Arc<Guest>, Arc<Vcpu>)>>; NR_CPUS] =
    [const { Mutex::new(None) }; NR_CPUS];
static STARTED: AtomicBool = AtomicBool::new(false);
/// Domains whose vCPUs have all stopped, waiting for the scheduler to let
/// go of them (a pCPU still counts its unit as current until it schedules).
static PENDING_DESTROY: Mutex<Vec<Arc<Guest>>> = Mutex::new(Vec::new());
static ENDED: AtomicUsize = AtomicUsize::new(0);
/// Destroys in progress (on any pCPU).
static DESTROYING: AtomicUsize = AtomicUsize::new(0);
/// Domains whose granted pages other domains still map.
static ZOMBIES: Mutex<Vec<Arc<Guest>>> = Mutex::new(Vec::new());

impl Guest {
    /// A guest with `nr_vcpus` vCPUs; vCPU 0 starts at `entry` with x0 =
    /// `dtb`, the others are off until PSCI CPU_ON.
    pub fn new(
        dom: Arc<Domain>,
        p2m: P2m,
        ram: Vec<(u64, u64)>,
        mpidrs: &[u64],
        entry: u64,
        dtb: u64,
        nr_spis: u32,
        gic: GicVersion,
    ) -> Guest {
        let cntvoff = timer::counter();
        let vttbr = p2m.vttbr();
        let vcpus = mpidrs
            .iter()
            .enumerate()
            .map(|(i, &mpidr)| {
                let (pc, x0) = if i == 0 { (entry, dtb) } else { (0, 0) };
                Arc::new(Vcpu {
                    unit: UnitId::new(dom.id, i as u16),
                    index: i,
                    mpidr,
                    power: AtomicU8::new(if i == 0 { ON } else { OFF }),
                    wait_until: AtomicU64::new(0),
                    faults: AtomicU32::new(0),
                    ptimer: Mutex::new((0, 0)),
                    ctx: UnsafeCell::new(VcpuContext::new(
                        pc,
                        x0,
                        mpidr | (1 << 31),
                        vttbr,
                        cntvoff,
                    )),
                    gic: UnsafeCell::new(GicCpuState::default()),
                })
            })
            .collect();
        let console_prefix = alloc::format!("(d{}) ", dom.id);
        Guest {
            gic,
            vgic: Mutex::new(Vgic::new(mpidrs.len(), nr_spis)),
            affinities: mpidrs.to_vec(),
            dom,
            p2m,
            vcpus,
            ram,
            cntvoff,
            loaded: Mutex::new((0, false)),
            power: Mutex::new(()),
            xen: None,
            ballooned: Mutex::new(Vec::new()),
            claimed: Mutex::new(Vec::new()),
            console_prefix,
            rx: XenConsoleRx::new(),
            zombie: AtomicBool::new(false),
        }
    }

    /// The same guest with the Xen ABI (and its console input queue).
    pub fn with_xen(mut self, xen: XenDomain, rx: Arc<XenConsoleRx>) -> Guest {
        self.xen = Some(Arc::new(xen));
        self.rx = rx;
        self
    }

    /// Whether `ipa` is inside one of the domain's RAM banks.
    pub fn is_ram_ipa(&self, ipa: u64) -> bool {
        self.ram.iter().any(|&(b, s)| ipa >= b && ipa - b < s)
    }

    /// The host page behind guest frame `gfn`, if it is RAM the domain
    /// owns (not a shared_info or grant frame, not a foreign page).
    pub fn gfn_to_page(&self, gfn: u64) -> Option<u64> {
        let ipa = gfn.checked_mul(4096)?;
        self.is_ram_ipa(ipa).then_some(())?;
        let pa = self.p2m.translate(ipa)?;
        self.owns_ram_page(pa).then_some(pa & !0xfff)
    }

    /// Whether host page `pa` is RAM the domain owns.
    pub fn owns_ram_page(&self, pa: u64) -> bool {
        tessera_core::mm::FRAMES
            .with_info(pa / 4096, |i| {
                i.owner() == tessera_core::mm::Owner::Domain(self.dom.id)
            })
            .unwrap_or(false)
    }

    /// Whether a hypercall may put a page at `ipa`: inside the IPA space,
    /// away from the emulated interrupt controller and devices.
    pub fn may_remap(&self, ipa: u64) -> bool {
        let gic = match self.gic {
            GicVersion::V3 => [
                (GUEST_GICV3_GICD_BASE, GICD_SIZE),
                (GUEST_GICV3_GICR0_BASE, GUEST_GICV3_GICR0_SIZE),
            ],
            GicVersion::V2 => [
                (GUEST_GICD_BASE, vg::v2::GICD_SIZE),
                (GUEST_GICC_BASE, GUEST_GICC_SIZE),
            ],
        };
        ipa < (1 << crate::layout::IPA_BITS)
            && !gic.iter().any(|&(b, s)| ipa >= b && ipa - b < s)
            && self.dom.device_at(ipa).is_none()
    }

    /// RAM pages the domain has mapped or claimed (Xen's `tot_pages`).
    pub fn tot_pages(&self) -> u64 {
        self.dom
            .ram_pages()
            .saturating_sub(self.ballooned.lock().len() as u64)
    }

    /// Bytes of console input for `CONSOLEIO_read`.
    pub fn console_rx(&self, buf: &mut [u8]) -> usize {
        let mut q = self.rx.0.lock();
        let n = buf.len().min(q.len());
        for b in buf.iter_mut().take(n) {
            *b = q.pop_front().unwrap_or(0);
        }
        n
    }

    /// vCPU `vcpu` has an event upcall pending: raise its event PPI (a
    /// level that follows `evtchn_upcall_pending`) and wake it.
    pub fn raise_upcall(&self, vcpu: usize) {
        let deliver = self
            .vgic
            .lock()
            .set_line(vcpu, super::xen::EVTCHN_PPI, true);
        if deliver.is_some() {
            kick_vcpu(self, vcpu);
        }
    }
}

/// Registers a built guest; [`start`] lets it run.
pub fn publish(g: Guest) {
    let g = Arc::new(g);
    if let Some(x) = &g.xen {
        tessera_core::xen::register(x.clone());
    }
    g.dom.set_running();
    GUESTS.lock().push(g);
    STARTED.store(true, Ordering::Release);
}

/// Makes vCPU 0 of the published domain `id` runnable.
pub fn start(id: u16) {
    let g = GUESTS.lock().iter().find(|g| g.dom.id == id).cloned();
    if let Some(g) = g {
        kick(sched::vcpu_wake(g.vcpus[0].unit, now()).unwrap_or(CpuMask::empty()));
    }
}

fn now() -> u64 {
    timer::ticks_to_ns(timer::counter())
}

/// Sends the reschedule SGI to every pCPU in `cpus` but this one.
fn kick(cpus: CpuMask) {
    let me = percpu::this_cpu_index();
    for cpu in 0..NR_CPUS {
        if cpu != me && cpus.contains(cpu) {
            gic::send_sgi(gic::sgi::RESCHEDULE, cpu);
        }
    }
}

/// vCPU `idx` of `g` has a new interrupt: wake it if it waits in WFI, or
/// make its pCPU look again if it runs elsewhere.
fn kick_vcpu(g: &Guest, idx: usize) {
    let Some(v) = g.vcpus.get(idx) else { return };
    if v.wait_until.swap(0, Ordering::AcqRel) != 0 {
        kick(sched::vcpu_wake(v.unit, now()).unwrap_or(CpuMask::empty()));
        return;
    }
    let me = percpu::this_cpu_index();
    for cpu in 0..NR_CPUS {
        if cpu == me {
            continue;
        }
        let running = CURRENT[cpu]
            .lock()
            .as_ref()
            .is_some_and(|(cg, cv)| cg.dom.id == g.dom.id && cv.index == idx);
        if running {
            let mut m = CpuMask::empty();
            m.set(cpu);
            kick(m);
        }
    }
}

fn kick_all(g: &Guest, idxs: Vec<usize>) {
    for i in idxs {
        kick_vcpu(g, i);
    }
}

/// A device interrupt line of domain `domid` wired to its vGIC.
pub struct GuestIrq {
    pub domid: u16,
    pub intid: u32,
}

impl tessera_core::vdev::IrqLine for GuestIrq {
    fn set(&self, level: bool) {
        let g = GUESTS
            .lock()
            .iter()
            .find(|g| g.dom.id == self.domid)
            .cloned();
        if let Some(g) = g {
            let target = g.vgic.lock().set_line(0, self.intid, level);
            if let Some(t) = target {
                kick_vcpu(&g, t);
            }
        }
    }
}

/// Loads the vCPU's interrupts into the list registers and enters it.
/// `g` and `v` are dropped first: entering never returns.
fn flush_and_enter(g: Arc<Guest>, v: Arc<Vcpu>, ctx: *mut VcpuContext) -> ! {
    {
        let mut vgic = g.vgic.lock();
        // The event PPI follows evtchn_upcall_pending, which the guest
        // clears itself.
        if let Some(x) = &g.xen {
            vgic.set_line(v.index, super::xen::EVTCHN_PPI, x.upcall_pending(v.index));
        }
        // SAFETY: this pCPU has the vCPU loaded; its GIC state is ours.
        super::vgic::flush(&mut vgic, v.index, unsafe { &mut *v.gic.get() });
    }
    arm_ptimer(&g, &v);
    drop(g);
    drop(v);
    vcpu::enter(ctx)
}

/// The deadline (physical counter) of an enabled, unmasked emulated
/// physical timer.
fn ptimer_deadline(v: &Vcpu) -> Option<u64> {
    let (ctl, cval) = *v.ptimer.lock();
    // Enabled, unmasked, and not yet delivered (private bit 3).
    (ctl & 0b1011 == 0b0001).then_some(cval)
}

/// While the guest runs, the hypervisor timer watches its physical timer.
fn arm_ptimer(g: &Guest, v: &Vcpu) {
    let cpu = percpu::this_cpu_index();
    let sched_deadline = sched::next_timer(cpu).map(ns_to_counter);
    let watchdog = g
        .xen
        .as_ref()
        .and_then(|x| x.watchdog_next())
        .map(ns_to_counter);
    match [ptimer_deadline(v), sched_deadline, watchdog]
        .into_iter()
        .flatten()
        .min()
    {
        Some(t) => timer::arm_at(t.max(timer::counter() + 1)),
        None => timer::disarm(),
    }
}

/// The scheduler's clock (ns since boot, `now()`) as a counter value.
fn ns_to_counter(ns: u64) -> u64 {
    timer::ns_to_ticks(ns)
}

/// Raises PPI 30 when the emulated physical timer is due.
fn check_ptimer(g: &Guest, v: &Vcpu) {
    if let Some(t) = ptimer_deadline(v) {
        if timer::counter() >= t {
            // Level-sensitive while the condition holds: latch it once per
            // expiry; the guest reprograms or masks the timer.
            let mut pt = v.ptimer.lock();
            pt.0 |= 0b100; // ISTATUS; cleared when it is reprogrammed
            drop(pt);
            if g.vgic.lock().inject(v.index, 30).is_some() {
                // Mask our view until the guest writes CTL/CVAL again.
                v.ptimer.lock().0 |= 0b1000;
            }
        }
    }
}

/// The vCPU loaded on `cpu` (domain id, vCPU index), if any.
pub fn loaded(cpu: usize) -> Option<(u16, usize)> {
    CURRENT
        .get(cpu)?
        .lock()
        .as_ref()
        .map(|(g, v)| (g.dom.id, v.index))
}

fn find(unit: UnitId) -> Option<(Arc<Guest>, Arc<Vcpu>)> {
    let guests = GUESTS.lock();
    let g = guests.iter().find(|g| g.dom.id == unit.domid)?;
    let v = g.vcpus.get(unit.vcpu as usize)?;
    Some((g.clone(), v.clone()))
}

/// Wakes vCPUs whose WFI deadline has passed; returns the earliest
/// deadline still pending.
fn wake_expired() -> Option<u64> {
    let counter = timer::counter();
    let mut next: Option<u64> = None;
    let mut woken = Vec::new();
    if let Some(t) = check_watchdogs() {
        next = Some(t);
    }
    for g in GUESTS.lock().iter() {
        for v in &g.vcpus {
            let t = v.wait_until.load(Ordering::Acquire);
            if t == 0 || t == u64::MAX {
                continue;
            }
            if t <= counter {
                if v.wait_until
                    .compare_exchange(t, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    woken.push(v.unit);
                }
            } else {
                next = Some(next.map_or(t, |n: u64| n.min(t)));
            }
        }
    }
    for unit in woken {
        kick(sched::vcpu_wake(unit, now()).unwrap_or(CpuMask::empty()));
    }
    next
}

/// Ends the domains whose `SCHEDOP_watchdog` expired; the counter value
/// of the next watchdog deadline, if any.
fn check_watchdogs() -> Option<u64> {
    let t = now();
    let mut expired = Vec::new();
    let mut next: Option<u64> = None;
    for g in GUESTS.lock().iter() {
        let Some(x) = &g.xen else { continue };
        if x.watchdog_expired(t) {
            expired.push(g.clone());
        } else if let Some(d) = x.watchdog_next() {
            let d = ns_to_counter(d);
            next = Some(next.map_or(d, |n| n.min(d)));
        }
    }
    for g in expired {
        end_domain(&g, ShutdownReason::Crash, "SCHEDOP_watchdog expired");
    }
    next
}

/// The host page behind guest frame `gfn` of domain `domid` (a grant of
/// that domain), if it is its RAM.
pub fn gfn_to_page_of(domid: u16, gfn: u64) -> Option<u64> {
    let g = GUESTS.lock().iter().find(|g| g.dom.id == domid).cloned()?;
    g.gfn_to_page(gfn)
}

/// Wakes vCPU `vcpu` of domain `domid` from a poll (a polled port was
/// raised, perhaps masked: no interrupt to take).
pub fn wake_vcpu_of(domid: u16, vcpu: usize) {
    let g = GUESTS.lock().iter().find(|g| g.dom.id == domid).cloned();
    if let Some(g) = g {
        kick_vcpu(&g, vcpu);
    }
}

/// Raises the event upcall of vCPU `vcpu` of domain `domid` (an event
/// from another domain).
pub fn raise_upcall_of(domid: u16, vcpu: usize) {
    let g = GUESTS.lock().iter().find(|g| g.dom.id == domid).cloned();
    if let Some(g) = g {
        g.raise_upcall(vcpu);
    }
}

/// The scheduling loop of one pCPU. Never returns.
pub fn run(cpu: usize) -> ! {
    loop {
        let next_deadline = wake_expired();
        // Slices that ended and the policy's own timers (credit's tick,
        // RTDS replenishments) before deciding.
        kick(sched::timer_interrupt(cpu, now()));
        let d = sched::schedule(cpu, now());
        // Pokes from inside the decision (credit2's balancing, a unit put
        // back on a queue) need the IPI too.
        kick(d.tickle);
        if reap() {
            continue; // look again: that may have been the last domain
        }
        if let Some(unit) = d.next {
            if let Some((g, v)) = find(unit) {
                if v.power.load(Ordering::Acquire) == ON
                    && v.wait_until.load(Ordering::Acquire) == 0
                {
                    let mut loaded = g.loaded.lock();
                    if !loaded.1 && g.dom.state() == tessera_core::domain::DomainState::Running {
                        loaded.0 += 1;
                        drop(loaded);
                        let ctx = v.ctx.get();
                        *CURRENT[cpu].lock() = Some((g.clone(), v.clone()));
                        // SAFETY: the scheduler gave this unit to this pCPU
                        // alone; its context is ours until we unload it.
                        unsafe { (*ctx).load() };
                        super::xen::runstate(&g, &v, Runstate::Running, now());
                        flush_and_enter(g, v, ctx);
                    }
                }
            }
            // Not runnable after all (its domain is ending, it is off or
            // waiting): take it off this pCPU, or the scheduler would count
            // it as running here while we sleep, and its domain could never
            // be destroyed.
            let _ = sched::vcpu_block(unit, now());
            continue;
        }
        // A domain waiting for another pCPU to let go of its units: look
        // again soon rather than sleep.
        let next_deadline = if PENDING_DESTROY.lock().is_empty() {
            next_deadline
        } else {
            let soon = timer::counter() + timer::ns_to_ticks(100_000);
            Some(next_deadline.map_or(soon, |t| t.min(soon)))
        };
        let sched_deadline = sched::next_timer(cpu).map(ns_to_counter);
        match [next_deadline, sched_deadline].into_iter().flatten().min() {
            Some(t) => timer::arm_at(t),
            None => timer::disarm(),
        }
        sysreg::wait_for_interrupt();
    }
}

/// What an exit leads to.
enum Next {
    /// Back into the same vCPU.
    Resume,
    /// Unload it and schedule (it blocked, stopped, or must yield).
    Reschedule,
}

/// Entry from the exit assembly, on a fresh stack.
#[no_mangle]
extern "C" fn tessera_guest_exit(ctx: *mut VcpuContext, kind: u64) -> ! {
    let cpu = percpu::this_cpu_index();
    let Some((g, v)) = CURRENT[cpu].lock().clone() else {
        tessera_core::error!("CPU{cpu}: guest exit with no vCPU loaded");
        super::hal::fail_stop();
    };
    // SAFETY: `ctx` is the loaded vCPU's context (the exit assembly passes
    // SP_EL2, which entry set to it); this pCPU owns it while loaded.
    let c = unsafe { &mut *ctx };
    {
        let mut vgic = g.vgic.lock();
        // SAFETY: this pCPU has the vCPU loaded; its GIC state is ours.
        super::vgic::sync(&mut vgic, v.index, unsafe { &mut *v.gic.get() });
    }
    let next = match kind {
        0 => handle_sync(&g, &v, c),
        1 => {
            match gic::handle_irq(super::regdump::Interrupted::Guest(c)) {
                IrqEvent::VirtualTimer => {
                    g.vgic.lock().inject(v.index, 27);
                }
                IrqEvent::HypTimer => {
                    check_ptimer(&g, &v);
                    check_watchdogs();
                    // A slice may have ended: the exit path below unloads
                    // this vCPU when the scheduler wants this pCPU back.
                    kick(sched::timer_interrupt(cpu, now()));
                }
                IrqEvent::Maintenance | IrqEvent::None => {}
            }
            Next::Resume
        }
        4 => crash(
            &g,
            &v,
            c,
            "an exception from AArch32 EL0 (AArch32 is not supported)",
        ),
        _ => crash(&g, &v, c, "an FIQ or SError from the guest"),
    };
    let running = g.dom.state() == tessera_core::domain::DomainState::Running;
    if matches!(next, Next::Resume)
        && running
        && v.power.load(Ordering::Acquire) == ON
        && v.wait_until.load(Ordering::Acquire) == 0
        && !sched::need_resched(cpu)
    {
        // Entering a guest never returns: references held in this frame
        // would never be dropped; flush_and_enter drops them (CURRENT
        // keeps both alive).
        flush_and_enter(g, v, ctx);
    }
    // Unload and schedule again.
    let state = if v.power.load(Ordering::Acquire) != ON {
        Runstate::Offline
    } else if v.wait_until.load(Ordering::Acquire) != 0 {
        Runstate::Blocked
    } else {
        Runstate::Runnable
    };
    super::xen::runstate(&g, &v, state, now());
    c.unload();
    *CURRENT[cpu].lock() = None;
    let teardown = {
        let mut l = g.loaded.lock();
        l.0 -= 1;
        let dying = !running;
        if dying && l.0 == 0 && !l.1 {
            l.1 = true;
            true
        } else {
            false
        }
    };
    drop(v);
    if teardown {
        stop(g);
    } else {
        drop(g);
    }
    run(cpu)
}

fn advance(c: &mut VcpuContext) {
    c.pc = c.pc.wrapping_add(4);
}

fn inject(v: &Vcpu, c: &mut VcpuContext, i: Injection, far: Option<u64>) {
    // The guest's EL1 registers are live on this CPU.
    // Sound: these are the loaded guest's own EL1 exception registers.
    msr!("elr_el1", i.elr_el1);
    msr!("spsr_el1", i.spsr_el1);
    msr!("esr_el1", i.esr_el1);
    if let Some(far) = far {
        msr!("far_el1", far);
    }
    c.pc = i.pc;
    c.pstate = i.pstate;
    v.faults.fetch_add(1, Ordering::Relaxed);
}

fn inject_undef(v: &Vcpu, c: &mut VcpuContext, pc: u64, il32: bool) {
    let i = inject::undefined(pc, c.pstate, mrs!("vbar_el1"), il32);
    inject(v, c, i, None);
}

fn handle_sync(g: &Arc<Guest>, v: &Arc<Vcpu>, c: &mut VcpuContext) -> Next {
    let esr = mrs!("esr_el2");
    let e = Esr(esr);
    let iss = e.iss();
    let il32 = e.il();
    let faults_before = v.faults.load(Ordering::Relaxed);
    let next = match e.ec() {
        // WFI / WFE
        0x01 => {
            advance(c);
            if iss & 1 == 1 {
                Next::Resume // WFE: nothing to wait for without events
            } else {
                wfi(g, v, None)
            }
        }
        // HVC from AArch64: ELR already points past it.
        0x16 => match iss & 0xffff {
            0 => smccc(g, v, c),
            0xea1 => match super::xen::hypercall(g, v, c) {
                XenAction::None => Next::Resume,
                XenAction::Yield => {
                    kick(sched::vcpu_yield(v.unit, now()).unwrap_or(CpuMask::empty()));
                    Next::Reschedule
                }
                XenAction::Block { .. } => {
                    // SCHEDOP_block turns event delivery on (PSTATE.I).
                    c.pstate &= !(1 << 7);
                    wfi(g, v, None)
                }
                // SCHEDOP_poll leaves PSTATE alone; a polled port wakes it
                // through the domain's wake hook, or its timeout does.
                XenAction::Poll { deadline } => {
                    // With the guest's interrupts masked, one already
                    // pending does not end the poll (Xen's
                    // local_events_need_delivery); a new injection, a
                    // polled port or the timeout does.
                    let masked = c.pstate & (1 << 7) != 0;
                    wfi_inner(g, v, deadline.map(ns_to_counter), masked)
                }
                XenAction::Shutdown(code) => {
                    let (why, what) = match code {
                        0 => (ShutdownReason::Poweroff, "SCHEDOP_shutdown poweroff"),
                        1 => (ShutdownReason::Reboot, "SCHEDOP_shutdown reboot"),
                        2 => (
                            ShutdownReason::Poweroff,
                            "SCHEDOP_shutdown suspend (no toolstack to resume it)",
                        ),
                        5 => (ShutdownReason::Reboot, "SCHEDOP_shutdown soft_reset"),
                        4 => (ShutdownReason::Crash, "SCHEDOP_shutdown watchdog"),
                        _ => (ShutdownReason::Crash, "SCHEDOP_shutdown crash"),
                    };
                    end_domain(g, why, what);
                    Next::Reschedule
                }
            },
            _ => {
                inject_undef(v, c, c.pc.wrapping_sub(4), il32);
                Next::Resume
            }
        },
        // SMC from AArch64 (trapped by HCR_EL2.TSC): resume after it.
        0x17 => {
            if iss & 0xffff == 0 {
                advance(c);
                smccc(g, v, c)
            } else {
                inject_undef(v, c, c.pc, il32);
                Next::Resume
            }
        }
        0x18 => {
            sysreg_access(g, v, c, iss, il32);
            Next::Resume
        }
        0x24 => data_abort(g, v, c, iss, il32),
        0x20 => {
            let far = mrs!("far_el2");
            if remapped(g, iss, mmio::fault_ipa(mrs!("hpfar_el2"), far)) {
                return Next::Resume;
            }
            let i = inject::abort(c.pc, c.pstate, mrs!("vbar_el1"), true, il32);
            inject(v, c, i, Some(far));
            Next::Resume
        }
        _ => {
            inject_undef(v, c, c.pc, il32);
            Next::Resume
        }
    };
    let faults = v.faults.load(Ordering::Relaxed);
    if faults == faults_before {
        v.faults.store(0, Ordering::Relaxed);
    } else if faults >= FAULT_STORM {
        return crash(
            g,
            v,
            c,
            "a storm of faults it cannot handle (no exception vector?)",
        );
    }
    next
}

/// Blocks the vCPU until an interrupt for it, its timers, or `until` (a
/// counter value: a poll's timeout).
fn wfi(g: &Guest, v: &Arc<Vcpu>, until: Option<u64>) -> Next {
    wfi_inner(g, v, until, false)
}

/// [`wfi`]; with `ignore_pending`, interrupts already pending do not end
/// the wait (only a new injection, which kicks the vCPU, does).
fn wfi_inner(g: &Guest, v: &Arc<Vcpu>, until: Option<u64>, ignore_pending: bool) -> Next {
    if !ignore_pending && g.vgic.lock().has_pending(v.index) {
        return Next::Resume;
    }
    if until.is_some_and(|t| t <= timer::counter()) {
        return Next::Resume;
    }
    let ctl = mrs!("cntv_ctl_el0");
    let mut deadline = until.unwrap_or(u64::MAX);
    // Virtual timer enabled and not masked: if it has fired (ISTATUS; its
    // interrupt waits at EL2 and is injected once we return), resume now;
    // otherwise it wakes us at its deadline.
    if ctl & 0b011 == 0b001 {
        let t = mrs!("cntv_cval_el0").wrapping_add(mrs!("cntvoff_el2"));
        if ctl & 0b100 != 0 || t <= timer::counter() {
            return Next::Resume;
        }
        deadline = t;
    }
    if let Some(t) = ptimer_deadline(v) {
        if t <= timer::counter() {
            return Next::Resume;
        }
        deadline = deadline.min(t);
    }
    // Sleep until the deadline or an interrupt (u64::MAX: interrupt only).
    // Order matters against kick_vcpu on another pCPU, which injects, then
    // clears wait_until and wakes: block first, then publish the deadline,
    // then look for an interrupt once more. Either the waker sees our
    // deadline and wakes the blocked unit, or we see its interrupt.
    let _ = sched::vcpu_block(v.unit, now());
    v.wait_until.store(deadline, Ordering::Release);
    if !ignore_pending && g.vgic.lock().has_pending(v.index) {
        if v.wait_until.swap(0, Ordering::AcqRel) != 0 {
            let _ = sched::vcpu_wake(v.unit, now());
        }
        return Next::Resume;
    }
    Next::Reschedule
}

struct Power<'a> {
    list: Vec<(u64, bool)>,
    _g: &'a Guest,
}

impl GuestPower for Power<'_> {
    fn vcpu_by_mpidr(&self, mpidr: u64) -> Option<usize> {
        self.list.iter().position(|v| v.0 == mpidr)
    }
    fn vcpus(&self) -> &[(u64, bool)] {
        &self.list
    }
}

fn smccc(g: &Arc<Guest>, v: &Arc<Vcpu>, c: &mut VcpuContext) -> Next {
    let fid = c.x[0] as u32;
    let _lock = g.power.lock();
    let power = Power {
        list: g
            .vcpus
            .iter()
            .map(|v| (v.mpidr, v.power.load(Ordering::Acquire) == ON))
            .collect(),
        _g: g,
    };
    match vpsci::call(fid, [c.x[1], c.x[2], c.x[3]], &power) {
        Outcome::Return(r) => {
            c.x[0] = r as u64;
            Next::Resume
        }
        Outcome::StartVcpu {
            vcpu: n,
            entry,
            context,
        } => {
            let target = &g.vcpus[n];
            // SAFETY: the target is off, so no pCPU has its context loaded,
            // and we hold the domain's power lock.
            unsafe {
                *target.ctx.get() = VcpuContext::new(
                    entry,
                    context,
                    target.mpidr | (1 << 31),
                    g.p2m.vttbr(),
                    g.cntvoff,
                );
            }
            target.power.store(ON, Ordering::Release);
            c.x[0] = vpsci::SUCCESS as u64;
            kick(sched::vcpu_wake(target.unit, now()).unwrap_or(CpuMask::empty()));
            Next::Resume
        }
        Outcome::VcpuOff => {
            v.power.store(OFF, Ordering::Release);
            let _ = sched::vcpu_block(v.unit, now());
            if g.vcpus
                .iter()
                .all(|v| v.power.load(Ordering::Acquire) == OFF)
            {
                // Every vCPU is off: nothing can ever run again.
                end_domain(g, ShutdownReason::Poweroff, "all vCPUs are off");
            }
            Next::Reschedule
        }
        Outcome::Standby => {
            c.x[0] = vpsci::SUCCESS as u64;
            drop(_lock);
            wfi(g, v, None)
        }
        Outcome::SystemOff => {
            end_domain(g, ShutdownReason::Poweroff, "PSCI SYSTEM_OFF");
            Next::Reschedule
        }
        Outcome::SystemReset => {
            end_domain(g, ShutdownReason::Reboot, "PSCI SYSTEM_RESET");
            Next::Reschedule
        }
    }
}

/// Reads an ID register of the host by its encoding (op0 3, op1 0, CRn 0).
fn read_id_register(crm: u8, op2: u8) -> u64 {
    macro_rules! id {
        ($($crm:literal $op2:literal),*) => {
            match (crm, op2) {
                $(($crm, $op2) => {
                    let v: u64;
                    // SAFETY: reading an ID register (op0 3, op1 0, CRn 0)
                    // has no side effect; unallocated encodings read as 0.
                    unsafe {
                        core::arch::asm!(concat!("mrs {}, S3_0_C0_C", $crm, "_", $op2), out(reg) v, options(nomem, nostack, preserves_flags))
                    };
                    v
                })*
                _ => 0,
            }
        };
    }
    id!(1 0, 1 1, 1 2, 1 3, 1 4, 1 5, 1 6, 1 7,
        2 0, 2 1, 2 2, 2 3, 2 4, 2 5, 2 6, 2 7,
        3 0, 3 1, 3 2, 3 3, 3 4, 3 5, 3 6, 3 7,
        4 0, 4 1, 4 2, 4 3, 4 4, 4 5, 4 6, 4 7,
        5 0, 5 1, 5 2, 5 3, 5 4, 5 5, 5 6, 5 7,
        6 0, 6 1, 6 2, 6 3, 6 4, 6 5, 6 6, 6 7,
        7 0, 7 1, 7 2, 7 3, 7 4, 7 5, 7 6, 7 7)
}

fn sysreg_access(g: &Arc<Guest>, v: &Vcpu, c: &mut VcpuContext, iss: u32, il32: bool) {
    let a = sysemu::Access::decode(iss);
    match sysemu::classify(&a) {
        Action::IdRegister { crm, op2 } => {
            if a.rt != 31 {
                c.x[a.rt as usize] = sysemu::sanitise_id(crm, op2, read_id_register(crm, op2));
            }
            advance(c);
        }
        Action::RazWi => {
            if a.read && a.rt != 31 {
                c.x[a.rt as usize] = 0;
            }
            advance(c);
        }
        Action::SetWay => {
            clean_guest_memory(g);
            advance(c);
        }
        Action::SendSgi if g.gic == GicVersion::V2 => {
            // No GICv3 CPU interface on a GICv2 system: as on hardware.
            inject_undef(v, c, c.pc, il32)
        }
        Action::SendSgi => {
            let value = if a.rt == 31 { 0 } else { c.x[a.rt as usize] };
            let (intid, targets) = vg::sgi_targets(value, v.index, &g.affinities);
            let kick = g.vgic.lock().send_sgi(v.index, intid, targets.into_iter());
            kick_all(g, kick);
            advance(c);
        }
        Action::PhysTimer { op2 } => {
            ptimer_access(v, c, op2, a.read, a.rt);
            advance(c);
        }
        Action::Undefined => inject_undef(v, c, c.pc, il32),
    }
}

/// CNTP_TVAL_EL0 (op2 0), CNTP_CTL_EL0 (1), CNTP_CVAL_EL0 (2), emulated
/// on the physical counter (EL1 reads CNTPCT directly).
fn ptimer_access(v: &Vcpu, c: &mut VcpuContext, op2: u8, read: bool, rt: u8) {
    let now = timer::counter();
    let mut pt = v.ptimer.lock();
    let (ctl, cval) = *pt;
    let istatus = (ctl & 1 != 0 && now >= cval) as u64;
    if read {
        let val = match op2 {
            0 => (cval.wrapping_sub(now) as u32) as u64,
            1 => (ctl & 0b11) | (istatus << 2),
            _ => cval,
        };
        if rt != 31 {
            c.x[rt as usize] = val;
        }
        return;
    }
    let val = if rt == 31 { 0 } else { c.x[rt as usize] };
    // Any write rearms the interrupt (our private bit 3 clears).
    match op2 {
        0 => {
            *pt = (
                ctl & 0b11,
                now.wrapping_add(val as u32 as i32 as i64 as u64),
            )
        }
        1 => *pt = (val & 0b11, cval),
        _ => *pt = (ctl & 0b11, val),
    }
}

/// Set/way maintenance cannot be virtualised: clean and invalidate the
/// whole of the guest's RAM by address instead (what the guest wanted).
fn clean_guest_memory(g: &Guest) {
    for &(ipa, size) in &g.ram {
        let mut off = 0;
        while off < size {
            if let Some(pa) = g.p2m.translate(ipa + off) {
                let va = crate::layout::DIRECTMAP_BASE + pa;
                // SAFETY: cache maintenance by VA on the direct map of the
                // guest's own RAM; no data changes.
                unsafe {
                    core::arch::asm!("dc civac, {}", in(reg) va, options(nostack, preserves_flags))
                };
            }
            off += 64;
        }
    }
    sysreg::dsb_sy();
}

/// The vGIC's emulated windows: GICv3 distributor and redistributors,
/// or the GICv2 distributor (its CPU interface is the hardware's GICV,
/// mapped by stage 2).
fn gic_mmio(g: &Guest, v: &Vcpu, c: &mut VcpuContext, ipa: u64, access: mmio::MmioAccess) -> bool {
    let nr = g.vcpus.len() as u64;
    let val = if access.rt == 31 {
        0
    } else {
        access.store_value(c.x[access.rt as usize])
    };
    let mut vgic = g.vgic.lock();
    let (read, kick) = if g.gic == GicVersion::V2 {
        if !(GUEST_GICD_BASE..GUEST_GICD_BASE + vg::v2::GICD_SIZE).contains(&ipa) {
            return false;
        }
        let off = ipa - GUEST_GICD_BASE;
        if access.write {
            (0, vgic.dist_write_v2(v.index, off, access.size, val))
        } else {
            (vgic.dist_read_v2(v.index, off, access.size), Vec::new())
        }
    } else if (GUEST_GICV3_GICD_BASE..GUEST_GICV3_GICD_BASE + GICD_SIZE).contains(&ipa) {
        let off = ipa - GUEST_GICV3_GICD_BASE;
        if access.write {
            (0, vgic.dist_write(off, access.size, val))
        } else {
            (vgic.dist_read(off, access.size), Vec::new())
        }
    } else if (GUEST_GICV3_GICR0_BASE..GUEST_GICV3_GICR0_BASE + GUEST_GICV3_GICR0_SIZE)
        .contains(&ipa)
    {
        let idx = (ipa - GUEST_GICV3_GICR0_BASE) / GICR_STRIDE;
        let off = (ipa - GUEST_GICV3_GICR0_BASE) % GICR_STRIDE;
        if idx >= nr {
            (0, Vec::new()) // frames past the last vCPU: RAZ/WI
        } else if access.write {
            (0, vgic.redist_write(idx as usize, off, access.size, val))
        } else {
            (vgic.redist_read(idx as usize, off, access.size), Vec::new())
        }
    } else {
        return false;
    };
    drop(vgic);
    if !access.write && access.rt != 31 {
        c.x[access.rt as usize] = access.load_value(read);
    }
    kick_all(g, kick);
    true
}

fn data_abort(g: &Arc<Guest>, v: &Vcpu, c: &mut VcpuContext, iss: u32, il32: bool) -> Next {
    let far = mrs!("far_el2");
    let ipa = mmio::fault_ipa(mrs!("hpfar_el2"), far);
    if let Some(access) = mmio::decode(iss) {
        if gic_mmio(g, v, c, ipa, access) {
            advance(c);
            return Next::Resume;
        }
    }
    if let (Some((win, offset)), Some(access)) = (g.dom.device_at(ipa), mmio::decode(iss)) {
        if access.write {
            let val = if access.rt == 31 {
                0
            } else {
                access.store_value(c.x[access.rt as usize])
            };
            win.device.write(offset, access.size, val);
        } else {
            let raw = win.device.read(offset, access.size);
            if access.rt != 31 {
                c.x[access.rt as usize] = access.load_value(raw);
            }
        }
        advance(c);
        return Next::Resume;
    }
    if remapped(g, iss, ipa) {
        return Next::Resume;
    }
    // Not RAM, not an emulated device (or a form with no syndrome): the
    // guest gets an abort, as on a bus error.
    let i = inject::abort(c.pc, c.pstate, mrs!("vbar_el1"), false, il32);
    inject(v, c, i, Some(far));
    Next::Resume
}

/// A stage-2 translation fault on a page that is mapped now: another pCPU
/// changed the mapping (break-before-make of a hypercall's remap) while
/// this vCPU touched it. The access is retried.
fn remapped(g: &Guest, iss: u32, ipa: u64) -> bool {
    let translation_fault = iss & 0x3c == 0x04;
    translation_fault && g.p2m.translate(ipa & !0xfff).is_some()
}

fn crash(g: &Arc<Guest>, v: &Vcpu, c: &VcpuContext, why: &str) -> Next {
    tessera_core::error!(
        "d{}v{}: {why}: pc {:#x}, {}, FAR {:#x}",
        g.dom.id,
        v.index,
        c.pc,
        Esr(mrs!("esr_el2")),
        mrs!("far_el2")
    );
    end_domain(g, ShutdownReason::Crash, why);
    Next::Reschedule
}

/// Starts the end of `g`: its vCPUs stop at their next exit.
fn end_domain(g: &Arc<Guest>, why: ShutdownReason, detail: &str) {
    if !g.dom.begin_shutdown(why) {
        return;
    }
    tessera_core::info!("d{} ({}) {why}: {detail}", g.dom.id, g.dom.name);
    // Console input goes elsewhere at once, not when the teardown is done.
    tessera_core::console::unregister_input(g.dom.id);
    // Kick the pCPUs that run its other vCPUs.
    let mut cpus = CpuMask::empty();
    for cpu in 0..NR_CPUS {
        if let Some((cg, _)) = CURRENT[cpu].lock().as_ref() {
            if cg.dom.id == g.dom.id {
                cpus.set(cpu);
            }
        }
    }
    kick(cpus);
    let teardown = {
        let mut l = g.loaded.lock();
        if l.0 == 0 && !l.1 {
            l.1 = true;
            true
        } else {
            false
        }
    };
    if teardown {
        stop(g.clone());
    }
}

/// No vCPU of `g` is loaded any more: take its units off the run queues
/// and queue it for destruction.
fn stop(g: Arc<Guest>) {
    for v in &g.vcpus {
        v.wait_until.store(0, Ordering::Release);
        let _ = sched::vcpu_block(v.unit, now());
    }
    PENDING_DESTROY.lock().push(g);
}

/// Destroys the queued domains the scheduler has let go of; true when it
/// destroyed one.
fn reap() -> bool {
    let queued = core::mem::take(&mut *PENDING_DESTROY.lock());
    let mut any = false;
    // Taken out first: destroy() may push a zombie back, and the lock
    // guard of a `for` head would live across the loop.
    let zombies = core::mem::take(&mut *ZOMBIES.lock());
    for g in zombies {
        destroy(g);
    }
    for g in queued {
        match sched::get().map(|core| core.remove_domain(g.dom.id)) {
            Some(Ok(cpus)) => {
                kick(cpus);
                destroy(g);
                any = true;
            }
            Some(Err(_)) => PENDING_DESTROY.lock().push(g), // a pCPU still holds a unit
            None => {
                destroy(g);
                any = true;
            }
        }
    }
    any
}

/// Frees a domain nobody runs any more. The CPU that destroys the last one
/// ends the run (after its pages are back, so the count is right).
fn destroy(g: Arc<Guest>) {
    // Two pCPUs may destroy the last two domains at once: the last one
    // whose memory is back (stage 2 included) runs the end-of-run check.
    DESTROYING.fetch_add(1, Ordering::AcqRel);
    let id = g.dom.id;
    let name: String = g.dom.name.clone();
    let pages = g.dom.ram_pages();
    // Peers in other domains see its channels close; its own grant
    // mappings go.
    tessera_core::xen::unregister(id);
    // Pages it granted that others still map must outlive it: it stays
    // dying until the last mapping goes (as in Xen).
    if let Some(x) = &g.xen {
        let n = tessera_core::xen::foreign_mappings(x);
        if n > 0 {
            if !g.zombie.swap(true, Ordering::AcqRel) {
                tessera_core::info!(
                    "d{id} ({name}) stays dying: {n} grant mappings of its pages remain"
                );
            }
            ZOMBIES.lock().push(g);
            DESTROYING.fetch_sub(1, Ordering::AcqRel);
            return;
        }
    }
    g.dom.release_memory();
    g.dom.finish();
    GUESTS.lock().retain(|x| x.dom.id != id);
    // The last reference drops the stage 2 (TLB flush, tables freed).
    match Arc::try_unwrap(g) {
        Ok(guest) => drop(guest),
        Err(_) => {
            tessera_core::warn!("d{id}: still referenced at teardown; its stage 2 is freed later")
        }
    }
    ENDED.fetch_add(1, Ordering::Relaxed);
    tessera_core::info!("d{id} ({name}) destroyed: {pages} pages scrubbed and returned");
    let others = DESTROYING.fetch_sub(1, Ordering::AcqRel) - 1;
    let last = others == 0 && GUESTS.lock().is_empty();
    if last && STARTED.load(Ordering::Acquire) {
        last_domain_ended();
    }
}

fn last_domain_ended() {
    static ONCE: AtomicBool = AtomicBool::new(false);
    if ONCE.swap(true, Ordering::AcqRel) {
        return;
    }
    tessera_core::boot::last_domain_ended();
}

#[linkme::distributed_slice(tessera_core::debugkeys::DEBUG_KEYS)]
static DUMP_DOMAINS: tessera_core::debugkeys::DebugKey = tessera_core::debugkeys::DebugKey {
    key: b'q',
    description: "domains, vCPUs and their interrupts",
    handler: dump,
};

fn dump() {
    tessera_core::info!("'q' pressed: domains");
    let guests: Vec<Arc<Guest>> = GUESTS.lock().clone();
    for g in guests {
        tessera_core::info!(
            "d{} ({}): {:?}, {} pages",
            g.dom.id,
            g.dom.name,
            g.dom.state(),
            g.dom.ram_pages()
        );
        let vgic = g.vgic.lock();
        for v in &g.vcpus {
            let on_cpu = (0..NR_CPUS).find(|&c| {
                CURRENT[c]
                    .lock()
                    .as_ref()
                    .is_some_and(|(cg, cv)| cg.dom.id == g.dom.id && cv.index == v.index)
            });
            let wait = v.wait_until.load(Ordering::Relaxed);
            let (lrs, _) = vgic.lrs_for(v.index, 16);
            // SAFETY: a snapshot for a debug dump; a vCPU that is not loaded
            // has its timer registers saved here and nobody writes them.
            let (ctl, cval, pc) = unsafe {
                let c = &*v.ctx.get();
                (c.el1.cntv_ctl, c.el1.cntv_cval, c.pc)
            };
            tessera_core::info!(
                "  v{}: pc {pc:#x}, vtimer ctl {ctl:#x} cval {cval:#x} (now {:#x})",
                v.index,
                timer::counter().wrapping_sub(g.cntvoff)
            );
            tessera_core::info!(
                "  v{}: {}, {}, wait {}, {} interrupts pending/active: {:?}",
                v.index,
                if v.power.load(Ordering::Relaxed) == ON {
                    "on"
                } else {
                    "off"
                },
                match on_cpu {
                    Some(c) => alloc::format!("running on CPU{c}"),
                    None => alloc::string::String::from("not loaded"),
                },
                match wait {
                    0 => alloc::string::String::from("none"),
                    u64::MAX => alloc::string::String::from("interrupt"),
                    t => alloc::format!("{t:#x}"),
                },
                lrs.len(),
                lrs.iter()
                    .map(|e| (e.intid, e.pending, e.active))
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[linkme::distributed_slice(tessera_core::debugkeys::DEBUG_KEYS)]
static DUMP_RUNQ: tessera_core::debugkeys::DebugKey = tessera_core::debugkeys::DebugKey {
    key: b'r',
    description: "scheduler: pools, pCPUs and units",
    handler: dump_runq,
};

fn dump_runq() {
    tessera_core::info!("'r' pressed: scheduler");
    if let Some(core) = sched::get() {
        let mut out = alloc::string::String::new();
        let _ = core.dump(&mut out);
        for line in out.lines() {
            tessera_core::info!("  {line}");
        }
    }
    let pending: Vec<u16> = PENDING_DESTROY.lock().iter().map(|g| g.dom.id).collect();
    tessera_core::info!("  domains waiting to be destroyed: {pending:?}");
    for cpu in 0..NR_CPUS {
        if let Some((g, v)) = CURRENT[cpu].lock().as_ref() {
            tessera_core::info!("  CPU{cpu} has d{}v{} loaded", g.dom.id, v.index);
        }
    }
}
