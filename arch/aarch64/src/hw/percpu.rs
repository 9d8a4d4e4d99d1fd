//! Per-CPU data, reached through TPIDR_EL2.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tessera_core::config::NR_CPUS;

#[repr(C, align(64))]
pub struct PerCpu {
    /// Top of this CPU's hypervisor stack: every guest exit restarts
    /// there (read by the exit assembly at offset 0).
    pub stack_top: AtomicU64,
    /// MPIDR_EL1 affinity of this CPU.
    pub mpidr: AtomicU64,
    /// Set by the timer interrupt handler.
    pub timer_fired: AtomicBool,
    /// Call-function IPIs handled.
    pub ipis: AtomicU64,
    /// While this CPU handles an interrupt: the address of the registers
    /// it interrupted (see `regdump::Interrupted`), 0 otherwise.
    pub irq_regs: AtomicUsize,
    /// ... and whether they are a guest's `VcpuContext` (else an EL2
    /// `TrapFrame`).
    pub irq_from_guest: AtomicBool,
}

// All-zero initial values: the array lives in BSS, not in the image file.
static PERCPU: [PerCpu; NR_CPUS] = [const {
    PerCpu {
        stack_top: AtomicU64::new(0),
        mpidr: AtomicU64::new(0),
        timer_fired: AtomicBool::new(false),
        ipis: AtomicU64::new(0),
        irq_regs: AtomicUsize::new(0),
        irq_from_guest: AtomicBool::new(false),
    }
}; NR_CPUS];

impl PerCpu {
    /// This area's CPU index (its position in the array).
    pub fn index(&self) -> usize {
        (self as *const PerCpu as usize - PERCPU.as_ptr() as usize) / core::mem::size_of::<PerCpu>()
    }
}

pub fn get(index: usize) -> Option<&'static PerCpu> {
    PERCPU.get(index)
}

/// This CPU's area. The boot CPU runs with TPIDR_EL2 = 0 until
/// [`install`] and is index 0 meanwhile.
pub fn this_cpu() -> &'static PerCpu {
    let p = mrs!("tpidr_el2") as *const PerCpu;
    if p.is_null() {
        return &PERCPU[0];
    }
    // SAFETY: TPIDR_EL2 is only ever set (by `install` or the secondary
    // entry) to the address of an element of PERCPU, which is 'static.
    unsafe { &*p }
}

pub fn this_cpu_index() -> usize {
    this_cpu().index()
}

const _: () = assert!(core::mem::offset_of!(PerCpu, stack_top) == 0);

extern "C" {
    static boot_stack_top: u8;
}

/// Points TPIDR_EL2 at CPU `index`'s area (boot CPU).
pub fn install(index: usize) {
    let p = &PERCPU[index];
    // SAFETY: only the symbol's address is taken.
    p.stack_top.store(
        unsafe { &boot_stack_top as *const u8 as u64 },
        Ordering::Relaxed,
    );
    p.mpidr
        .store(mrs!("mpidr_el1") & 0xff_00ff_ffff, Ordering::Relaxed);
    // Sound: the value is the address of a 'static PerCpu, as this_cpu needs.
    msr!("tpidr_el2", p as *const PerCpu as u64);
}

/// Address to load into TPIDR_EL2 on CPU `index` (secondaries).
pub fn address_of(index: usize) -> u64 {
    &PERCPU[index] as *const PerCpu as u64
}
