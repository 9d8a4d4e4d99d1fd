//! Secondary CPUs: their stacks, per-CPU areas and the boot block they read
//! with the MMU off, started through PSCI CPU_ON; and cross-calls, which
//! run a function on another CPU through the call-function SGI.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use tessera_core::config::NR_CPUS;
use tessera_core::hal::HalError;

use super::{gic, mmu, percpu, psci, sysreg, timer};

/// Read by `tessera_secondary_entry` with the MMU and caches off: the
/// layout is shared with head.rs (offsets 0..48).
#[repr(C, align(64))]
struct SecondaryBoot {
    ttbr0: u64,
    tcr: u64,
    stack_top: u64,
    percpu: u64,
    emergency_top: u64,
    index: u64,
}

static mut BOOT_BLOCKS: [SecondaryBoot; NR_CPUS] = [const {
    SecondaryBoot {
        ttbr0: 0,
        tcr: 0,
        stack_top: 0,
        percpu: 0,
        emergency_top: 0,
        index: 0,
    }
}; NR_CPUS];

extern "C" {
    fn tessera_secondary_entry();
}

/// Stack: 2^3 pages (32 KiB); emergency stack: 2^1 pages.
const STACK_ORDER: usize = 3;
const EMERGENCY_ORDER: usize = 1;

pub fn start(index: usize, mpidr: u64) -> Result<(), HalError> {
    if index == 0 || index >= NR_CPUS {
        return Err(HalError::BadDeviceTree("CPU index out of range"));
    }
    let stack_top = mmu::alloc_stack(STACK_ORDER)?;
    let emergency_top = mmu::alloc_stack(EMERGENCY_ORDER)?;
    let cpu = percpu::get(index).ok_or(HalError::BadDeviceTree("CPU index out of range"))?;
    cpu.mpidr.store(mpidr, Ordering::Relaxed);
    cpu.stack_top.store(stack_top, Ordering::Relaxed);
    let tcr = mrs!("tcr_el2");
    // SAFETY: each CPU's block is written only here, by the boot CPU,
    // before that CPU is started; no reference to it outlives this block.
    let block_va = unsafe {
        let b = &mut *core::ptr::addr_of_mut!(BOOT_BLOCKS[index]);
        b.ttbr0 = mmu::root_pa();
        b.tcr = tcr;
        b.stack_top = stack_top;
        b.percpu = percpu::address_of(index);
        b.emergency_top = emergency_top;
        b.index = index as u64;
        b as *const SecondaryBoot as usize
    };
    // The new CPU reads the block with its caches off.
    sysreg::clean_dcache(block_va, core::mem::size_of::<SecondaryBoot>());
    let entry_pa = mmu::image_pa(tessera_secondary_entry as *const () as u64);
    psci::cpu_on(mpidr, entry_pa, mmu::image_pa(block_va as u64))
}

#[no_mangle]
extern "C" fn tessera_secondary_main(index: u64) -> ! {
    super::hal::route_interrupts_to_el2();
    super::vcpu::init_cpu();
    if let Err(e) = gic::cpu_init() {
        tessera_core::error!("CPU{index}: interrupt controller: {e}; CPU parked");
        loop {
            sysreg::wait_for_interrupt();
        }
    }
    tessera_core::boot::secondary_main(index as usize)
}

/// One CPU's pending cross-call and how many it has completed.
struct CallSlot {
    func: Mutex<Option<fn()>>,
    done: AtomicU64,
}

static CALLS: [CallSlot; NR_CPUS] = [const {
    CallSlot {
        func: Mutex::new(None),
        done: AtomicU64::new(0),
    }
}; NR_CPUS];

/// One cross-call at a time. A CPU waiting here (interrupts masked)
/// cannot answer one aimed at it; the caller it blocks gives up at its
/// timeout, so two CPUs calling each other delay but never deadlock.
static CALL_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` on CPU `cpu` in its interrupt context (the call-function SGI,
/// taken when that CPU next has interrupts unmasked: at once in a guest
/// or idle) and waits until it has returned, at most `timeout_ns`. A
/// call that timed out before the target started it is withdrawn.
/// Callers hold no lock that `f` takes (`f` typically prints). Not for
/// this CPU: its interrupt would wait for this call to end.
pub fn call_on(cpu: usize, f: fn(), timeout_ns: u64) -> Result<(), HalError> {
    if cpu == percpu::this_cpu_index() || !tessera_core::cpu::is_online(cpu) {
        return Err(HalError::BadDeviceTree("no such other CPU online"));
    }
    let target = percpu::get(cpu).ok_or(HalError::BadDeviceTree("no such CPU"))?;
    let slot = &CALLS[cpu];
    let _one = CALL_LOCK.lock();
    let before = slot.done.load(Ordering::Acquire);
    *slot.func.lock() = Some(f);
    let _ = target;
    gic::send_sgi(gic::sgi::CALL_FUNCTION, cpu);
    let wait = |ns: u64| {
        let deadline = timer::counter() + timer::ns_to_ticks(ns);
        while slot.done.load(Ordering::Acquire) == before {
            if timer::counter() > deadline {
                return false;
            }
            core::hint::spin_loop();
        }
        true
    };
    if wait(timeout_ns) {
        return Ok(());
    }
    if slot.func.lock().take().is_some() {
        return Err(HalError::Timeout); // never started: withdrawn
    }
    // Started meanwhile: it is running now; let it finish.
    if wait(timeout_ns) {
        Ok(())
    } else {
        Err(HalError::Timeout)
    }
}

/// The call-function SGI's handler: runs this CPU's pending cross-call.
pub fn handle_call() {
    let slot = &CALLS[percpu::this_cpu_index()];
    let f = slot.func.lock().take();
    if let Some(f) = f {
        f();
        slot.done.fetch_add(1, Ordering::Release);
    }
}
