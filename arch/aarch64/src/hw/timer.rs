//! The generic timer: the counter as the clock, and the per-CPU EL2
//! physical timer (CNTHP) that will multiplex the software timers.

/// INTID of the EL2 physical timer's PPI (found in the DT timer node;
/// this is the architected default, used to check it).
pub const HYP_TIMER_PPI_DEFAULT: u32 = 26;

pub fn frequency() -> u64 {
    mrs!("cntfrq_el0")
}

pub fn counter() -> u64 {
    super::sysreg::isb();
    mrs!("cntpct_el0")
}

/// Arms CNTHP to fire `ns` from now, interrupt unmasked.
pub fn arm(ns: u64) {
    let ticks = (ns as u128 * frequency() as u128 / 1_000_000_000) as u64;
    // Sound: CNTHP belongs to EL2 alone; the value is a relative deadline.
    msr!("cnthp_tval_el2", ticks.clamp(1, i32::MAX as u64));
    msr!("cnthp_ctl_el2", 1); // ENABLE, not IMASK
    super::sysreg::isb();
}

/// Disables CNTHP (its interrupt is level-sensitive: this deasserts it).
pub fn disarm() {
    // Sound: as above.
    msr!("cnthp_ctl_el2", 0);
    super::sysreg::isb();
}

/// Arms CNTHP to fire when the physical counter reaches `deadline`.
pub fn arm_at(deadline: u64) {
    // Sound: CNTHP belongs to EL2 alone.
    msr!("cnthp_cval_el2", deadline);
    msr!("cnthp_ctl_el2", 1);
    super::sysreg::isb();
}

/// Nanoseconds to counter ticks.
pub fn ns_to_ticks(ns: u64) -> u64 {
    (ns as u128 * frequency() as u128 / 1_000_000_000) as u64
}

/// Counter ticks to nanoseconds.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000 / frequency().max(1) as u128) as u64
}
