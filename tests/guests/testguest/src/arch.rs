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
        // (vector base, virtual timer, GIC CPU interface configuration).
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

/// Masks IRQs at PSTATE (DAIF.I). Not `nomem`: the IRQ handler writes
/// memory, so accesses must not move across the mask/unmask points.
pub fn mask_irq() {
    // SAFETY: only changes PSTATE.I.
    unsafe { core::arch::asm!("msr daifset, #2", "isb", options(nostack)) }
}

/// Unmasks IRQs at PSTATE (DAIF.I): pending interrupts are taken here.
pub fn unmask_irq() {
    // SAFETY: only changes PSTATE.I; the vectors are installed and the
    // IRQ path (exc.rs -> gic::on_irq) saves and restores all registers.
    unsafe { core::arch::asm!("msr daifclr, #2", "isb", options(nostack)) }
}

/// Configures this vCPU's GICv3 CPU interface: ICC_SRE_EL1.SRE = 1,
/// ICC_PMR_EL1 = 0xff (nothing masked by priority), ICC_BPR1_EL1 = 0,
/// ICC_CTLR_EL1.EOImode = 0 (EOIR drops priority and deactivates),
/// ICC_IGRPEN1_EL1 = 1. Returns ICC_SRE_EL1 as read back.
pub fn icc_init() -> u64 {
    let sre: u64;
    // SAFETY: only this vCPU's interrupt delivery changes, which the
    // interrupt checks own; no memory is touched.
    unsafe {
        core::arch::asm!(
            "mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb",
            "mov {u}, #0xff", "msr icc_pmr_el1, {u}", "msr icc_bpr1_el1, xzr",
            "mrs {u}, icc_ctlr_el1", "bic {u}, {u}, #2", "msr icc_ctlr_el1, {u}",
            "mov {u}, #1", "msr icc_igrpen1_el1, {u}", "isb", "mrs {t}, icc_sre_el1",
            t = out(reg) sre, u = out(reg) _, options(nomem, nostack, preserves_flags));
    }
    sre
}

/// ICC_IAR1_EL1: acknowledges the highest-priority pending group-1
/// interrupt (INTID in [23:0], 1023 when none).
pub fn icc_iar1() -> u64 {
    let v: u64;
    // SAFETY: acknowledging changes GIC state only, which the IRQ handler
    // owns; ordered against memory (no `nomem`).
    unsafe { core::arch::asm!("mrs {}, icc_iar1_el1", out(reg) v, options(nostack)) }
    v
}

/// ICC_EOIR1_EL1: ends the interrupt `iar` (priority drop + deactivate).
pub fn icc_eoir1(iar: u64) {
    // SAFETY: as for icc_iar1.
    unsafe { core::arch::asm!("msr icc_eoir1_el1, {}", "isb", in(reg) iar, options(nostack)) }
}

/// ICC_HPPIR1_EL1: the highest-priority pending group-1 INTID (no effect).
pub fn icc_hppir1() -> u64 {
    let v: u64;
    // SAFETY: a read without side effects.
    unsafe { core::arch::asm!("mrs {}, icc_hppir1_el1", out(reg) v, options(nostack)) }
    v
}

/// ICC_SGI1R_EL1: sends a group-1 SGI. The DSB makes earlier stores
/// visible to the target first (it may read them in its handler).
pub fn icc_sgi1r(v: u64) {
    // SAFETY: raises an interrupt at vCPUs of this domain only (the target
    // fields come from the domain's own MPIDRs); no memory is touched.
    unsafe { core::arch::asm!("dsb ish", "msr icc_sgi1r_el1, {}", "isb", in(reg) v, options(nostack)) }
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
