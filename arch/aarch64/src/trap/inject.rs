//! Delivering a synchronous exception to a guest's EL1, as the hardware
//! would: where it lands and what EL1 state it leaves.

/// SPSR/PSTATE mode field values.
pub const MODE_EL0T: u64 = 0b0000;
pub const MODE_EL1T: u64 = 0b0100;
pub const MODE_EL1H: u64 = 0b0101;
/// PSTATE D, A, I, F masks.
pub const DAIF: u64 = 0b1111 << 6;

/// ESR classes the hypervisor injects.
pub const EC_UNKNOWN: u64 = 0x00;
pub const EC_IABT_LOWER: u64 = 0x20;
pub const EC_IABT_CURRENT: u64 = 0x21;
pub const EC_DABT_LOWER: u64 = 0x24;
pub const EC_DABT_CURRENT: u64 = 0x25;

/// The guest state after injecting a synchronous exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    pub pc: u64,
    pub pstate: u64,
    pub elr_el1: u64,
    pub spsr_el1: u64,
    pub esr_el1: u64,
}

/// Where a synchronous exception taken from `pstate` enters EL1 (Arm ARM
/// D1.10.2): VBAR + 0x000 (EL1t), 0x200 (EL1h), 0x400 (from EL0, AArch64).
pub fn vector_offset(pstate: u64) -> u64 {
    match pstate & 0xf {
        MODE_EL1T => 0x000,
        MODE_EL1H => 0x200,
        _ => 0x400,
    }
}

/// Whether the guest was at EL0.
pub fn from_el0(pstate: u64) -> bool {
    pstate & 0xf == MODE_EL0T
}

/// An undefined-instruction exception for the instruction at `pc`
/// (`il32`: a 32-bit instruction).
pub fn undefined(pc: u64, pstate: u64, vbar: u64, il32: bool) -> Injection {
    sync(pc, pstate, vbar, (EC_UNKNOWN << 26) | ((il32 as u64) << 25))
}

/// An abort (data or prefetch) at `pc`, ISS 0 as Xen injects it.
pub fn abort(pc: u64, pstate: u64, vbar: u64, prefetch: bool, il32: bool) -> Injection {
    let ec = match (prefetch, from_el0(pstate)) {
        (true, true) => EC_IABT_LOWER,
        (true, false) => EC_IABT_CURRENT,
        (false, true) => EC_DABT_LOWER,
        (false, false) => EC_DABT_CURRENT,
    };
    sync(pc, pstate, vbar, (ec << 26) | ((il32 as u64) << 25))
}

fn sync(pc: u64, pstate: u64, vbar: u64, esr: u64) -> Injection {
    Injection {
        pc: (vbar & !0x7ff) + vector_offset(pstate),
        pstate: MODE_EL1H | DAIF,
        elr_el1: pc,
        spsr_el1: pstate,
        esr_el1: esr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lands_where_the_architecture_says() {
        let i = abort(0x4008_0000, MODE_EL1H, 0x4000_0800, false, true);
        assert_eq!(i.pc, 0x4000_0a00);
        assert_eq!(i.esr_el1, (EC_DABT_CURRENT << 26) | (1 << 25));
        assert_eq!(i.elr_el1, 0x4008_0000);
        assert_eq!(i.spsr_el1, MODE_EL1H);
        assert_eq!(i.pstate, MODE_EL1H | DAIF);
        let u = undefined(0x1000, MODE_EL0T, 0x4000_0800, true);
        assert_eq!(u.pc, 0x4000_0c00);
        assert_eq!(u.esr_el1 >> 26, EC_UNKNOWN);
        assert_eq!(
            abort(0, MODE_EL0T, 0, true, true).esr_el1 >> 26,
            EC_IABT_LOWER
        );
    }
}
