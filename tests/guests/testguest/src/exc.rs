//! Exception handling: recording faults the checks provoke on purpose
//! ("probes"), and reporting anything else.
//!
//! A probe is one instruction run under `probe!`: before it, the address of
//! the instruction after it is stored in `RESUME`; if it faults, the handler
//! records ESR/FAR/ELR, clears `RESUME` and resumes there. So the handler
//! never has to guess how far to skip (a hypervisor that injects an
//! undefined-instruction exception for `hvc` may report ELR at the `hvc`
//! or after it; both resume at the same place).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// What the assembly in boot.rs saves; `elr` may be changed by the handler.
#[repr(C)]
pub struct Frame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    pub kind: u64,
}

/// Resume address of the armed probe, 0 when none is armed.
pub static RESUME: AtomicU64 = AtomicU64::new(0);
static HIT: AtomicU32 = AtomicU32::new(0);
static F_KIND: AtomicU64 = AtomicU64::new(0);
static F_ESR: AtomicU64 = AtomicU64::new(0);
static F_FAR: AtomicU64 = AtomicU64::new(0);
static F_ELR: AtomicU64 = AtomicU64::new(0);
static F_RESUME: AtomicU64 = AtomicU64::new(0);
static DEPTH: AtomicU32 = AtomicU32::new(0);
/// Exceptions nobody asked for that did not end the run (IRQ/FIQ/SError).
pub static STRAY: AtomicU32 = AtomicU32::new(0);

/// One exception taken during a probe.
#[derive(Clone, Copy)]
pub struct Fault {
    /// Vector index 0..15 (4 = synchronous, current EL with SP_ELx).
    pub kind: u64,
    pub esr: u64,
    pub far: u64,
    pub elr: u64,
    /// Where execution resumed (the address after the probed instruction).
    pub resume: u64,
}

impl Fault {
    pub fn ec(&self) -> u64 {
        (self.esr >> 26) & 0x3f
    }
    /// Data/instruction fault status code (ISS[5:0]).
    pub fn fsc(&self) -> u64 {
        self.esr & 0x3f
    }
    pub fn is_sync(&self) -> bool {
        self.kind & 3 == 0
    }
    /// ELR pointed at the probed instruction (its address is resume - 4).
    pub fn elr_at_insn(&self) -> bool {
        self.elr.wrapping_add(4) == self.resume
    }
    /// "insn" / "next" / "other": where ELR_EL1 pointed, for reports.
    pub fn elr_where(&self) -> &'static str {
        if self.elr_at_insn() {
            "insn"
        } else if self.elr == self.resume {
            "next"
        } else {
            "other"
        }
    }
}

/// Arms a probe (called by `probe!` before its assembly).
pub fn arm() {
    HIT.store(0, Relaxed);
}

/// Disarms the probe and returns the fault it took, if any.
pub fn take() -> Option<Fault> {
    RESUME.store(0, Relaxed);
    if HIT.load(Relaxed) == 0 {
        return None;
    }
    HIT.store(0, Relaxed);
    Some(Fault {
        kind: F_KIND.load(Relaxed),
        esr: F_ESR.load(Relaxed),
        far: F_FAR.load(Relaxed),
        elr: F_ELR.load(Relaxed),
        resume: F_RESUME.load(Relaxed),
    })
}

/// Runs one instruction (`asm!` template lines, then `;` and the operands)
/// as a probe and evaluates to `Option<Fault>`: `probe!("ldr {v}, [{a}]";
/// a = in(reg) addr, v = out(reg) val)`. Template lines after the first run
/// only if the first did not fault. Operands must not use `lateout` for
/// general registers other than explicit ones (the resume bookkeeping
/// happens before the instruction, so explicit `inout("x0")` etc. are fine).
#[macro_export]
macro_rules! probe {
    ($($insn:expr),+ $(; $($args:tt)*)?) => {{
        $crate::exc::arm();
        // SAFETY: the instruction is one the caller chose to provoke; if it
        // faults, the vector handler resumes at label 2 with all registers
        // restored (exc::testguest_exception). Stack and memory other than
        // RESUME are not touched by the template itself.
        unsafe {
            core::arch::asm!(
                "adr {__t}, 2f",
                "str {__t}, [{__r}]",
                $($insn,)+
                "2:",
                __t = out(reg) _,
                __r = in(reg) $crate::exc::RESUME.as_ptr(),
                $($($args)*)?
            );
        }
        $crate::exc::take()
    }};
}

const KIND_NAMES: [&str; 4] = ["sync", "irq", "fiq", "serror"];

/// Called by the vector assembly with the saved frame.
#[no_mangle]
extern "C" fn testguest_exception(f: &mut Frame) {
    // IRQs once the interrupt checks armed the GIC: their handler, on
    // either vCPU (before DEPTH, which is shared by both).
    if f.kind & 3 == 1 && crate::gic::armed() {
        return crate::gic::on_irq();
    }
    let depth = DEPTH.load(Relaxed);
    if depth > 0 {
        // A fault while handling a fault: say so as simply as possible.
        crate::psci::system_off_now();
    }
    DEPTH.store(1, Relaxed);
    let kind = f.kind & 3;
    let resume = RESUME.load(Relaxed);
    if resume != 0 && (kind == 0 || kind == 3) {
        // An armed probe: record and resume after the probed instruction.
        F_KIND.store(f.kind, Relaxed);
        F_ESR.store(f.esr, Relaxed);
        F_FAR.store(f.far, Relaxed);
        F_ELR.store(f.elr, Relaxed);
        F_RESUME.store(resume, Relaxed);
        HIT.store(1, Relaxed);
        RESUME.store(0, Relaxed);
        f.elr = resume;
        DEPTH.store(0, Relaxed);
        return;
    }
    crate::fail!(
        "exception",
        "{} vec {} esr {:#x} elr {:#x} far {:#x}",
        KIND_NAMES[kind as usize],
        f.kind,
        f.esr,
        f.elr,
        f.far
    );
    if kind == 0 {
        // An unexpected synchronous exception: the run cannot go on.
        crate::finish();
    }
    // Asynchronous: reported, then carry on. Leave IRQ/FIQ masked on return
    // so an unexpected level-triggered interrupt does not loop forever.
    STRAY.store(STRAY.load(Relaxed) + 1, Relaxed);
    if kind == 1 || kind == 2 {
        f.spsr |= 0xc0;
    }
    DEPTH.store(0, Relaxed);
}
