//! System registers, barriers and the time base.
//!
//! `mrs!`/`msr!` are for registers that are architecturally accessible at
//! EL1 and have no side effects beyond the register itself; registers a
//! hypervisor may refuse go through `probe!` instead.

/// Reads a system register by name.
#[macro_export]
macro_rules! mrs {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: reading an EL1-accessible system register has no memory
        // effects.
        unsafe {
            core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) v,
                             options(nomem, nostack, preserves_flags));
        }
        v
    }};
}

/// Writes a system register by name (followed by an ISB).
#[macro_export]
macro_rules! msr {
    ($reg:literal, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: only used for EL1 registers whose effects the caller owns
        // (vector base, virtual timer).
        unsafe {
            core::arch::asm!(concat!("msr ", $reg, ", {}"), "isb", in(reg) v,
                             options(nostack, preserves_flags));
        }
    }};
}

pub fn isb() {
    // SAFETY: a barrier has no operands.
    unsafe { core::arch::asm!("isb", options(nostack, preserves_flags)) }
}

pub fn dsb_sy() {
    // SAFETY: a barrier has no operands.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) }
}

pub fn sev() {
    // SAFETY: sends an event; no memory effects.
    unsafe { core::arch::asm!("sev", options(nomem, nostack, preserves_flags)) }
}

pub fn wfe() {
    // SAFETY: waits for an event; no memory effects.
    unsafe { core::arch::asm!("wfe", options(nomem, nostack, preserves_flags)) }
}

pub fn wfi() {
    // SAFETY: waits for an interrupt; no memory effects.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) }
}

/// Unmasks SError (PSTATE.A) so injected virtual SErrors are reported.
pub fn unmask_serror() {
    // SAFETY: the vectors are installed before this is called.
    unsafe { core::arch::asm!("msr daifclr, #4", "isb", options(nomem, nostack)) }
}

/// Masks IRQs at PSTATE (DAIF.I).
pub fn mask_irq() {
    // SAFETY: only changes PSTATE.I.
    unsafe { core::arch::asm!("msr daifset, #2", "isb", options(nomem, nostack)) }
}

pub fn daif() -> u64 {
    mrs!("daif")
}

pub fn current_el() -> u64 {
    (mrs!("CurrentEL") >> 2) & 3
}

/// Affinity fields of MPIDR_EL1 (Aff3..Aff0).
pub fn mpidr() -> u64 {
    mrs!("mpidr_el1") & 0xff_00ff_ffff
}

/// The virtual counter, ordered after earlier instructions.
pub fn now() -> u64 {
    isb();
    mrs!("cntvct_el0")
}

/// Counter frequency; 62.5 MHz when CNTFRQ_EL0 was left 0 by firmware.
pub fn freq() -> u64 {
    match mrs!("cntfrq_el0") & 0xffff_ffff {
        0 => 62_500_000,
        f => f,
    }
}

pub fn ticks_from_ms(ms: u64) -> u64 {
    freq() / 1000 * ms
}

pub fn us_from_ticks(t: u64) -> u64 {
    t.saturating_mul(1_000_000) / freq()
}

/// A point `ms` milliseconds from now.
pub fn deadline_ms(ms: u64) -> u64 {
    now().wrapping_add(ticks_from_ms(ms))
}

pub fn past(deadline: u64) -> bool {
    (now().wrapping_sub(deadline) as i64) >= 0
}
