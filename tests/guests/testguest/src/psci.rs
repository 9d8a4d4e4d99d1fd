//! SMCCC / PSCI calls over `hvc #0` and `smc #0`.

use crate::exc::Fault;
use crate::probe;

pub const PSCI_VERSION: u64 = 0x8400_0000;
pub const CPU_OFF: u64 = 0x8400_0002;
pub const CPU_ON: u64 = 0xc400_0003;
pub const AFFINITY_INFO: u64 = 0xc400_0004;
pub const MIGRATE_INFO_TYPE: u64 = 0x8400_0006;
pub const SYSTEM_OFF: u64 = 0x8400_0008;
pub const SYSTEM_RESET: u64 = 0x8400_0009;
pub const PSCI_FEATURES: u64 = 0x8400_000a;
pub const SMCCC_VERSION: u64 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u64 = 0x8000_0001;

pub const SUCCESS: i64 = 0;
pub const NOT_SUPPORTED: i64 = -1;
pub const INVALID_PARAMETERS: i64 = -2;
pub const ALREADY_ON: i64 = -4;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    Hvc,
    Smc,
}

impl Conduit {
    pub fn name(self) -> &'static str {
        match self {
            Conduit::Hvc => "hvc",
            Conduit::Smc => "smc",
        }
    }
}

/// One SMCCC call; `Err` if it raised an exception in the guest instead.
/// x4..x17 are treated as clobbered (SMCCC v1.0 allows it).
pub fn call(c: Conduit, fid: u64, a1: u64, a2: u64, a3: u64) -> Result<u64, Fault> {
    let r0: u64;
    let fault = match c {
        Conduit::Hvc => probe!("hvc #0";
            inout("x0") fid => r0, inout("x1") a1 => _, inout("x2") a2 => _,
            inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _),
        Conduit::Smc => probe!("smc #0";
            inout("x0") fid => r0, inout("x1") a1 => _, inout("x2") a2 => _,
            inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _),
    };
    match fault {
        Some(f) => Err(f),
        None => Ok(r0),
    }
}

pub fn hvc(fid: u64, a1: u64, a2: u64, a3: u64) -> Result<u64, Fault> {
    call(Conduit::Hvc, fid, a1, a2, a3)
}

/// PSCI SYSTEM_RESET over HVC (mode=reset). A dom0less domain is not
/// restarted, so for the hypervisor this ends the domain.
pub fn system_reset_now() -> ! {
    // SAFETY: as for SYSTEM_OFF below: does not return on success.
    unsafe {
        core::arch::asm!("hvc #0", inout("x0") SYSTEM_RESET => _,
            out("x1") _, out("x2") _, out("x3") _, options(nostack));
    }
    loop {
        crate::arch::wfi();
    }
}

/// PSCI SYSTEM_OFF over HVC, without the probe machinery (usable from the
/// exception handler). Never returns: if the call does, spin in WFI.
pub fn system_off_now() -> ! {
    // SAFETY: SYSTEM_OFF does not return on success; on failure it returns
    // an error in x0, which we ignore (all argument registers clobbered).
    unsafe {
        core::arch::asm!("hvc #0", inout("x0") SYSTEM_OFF => _,
            out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x5") _,
            out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _,
            out("x11") _, out("x12") _, out("x13") _, out("x14") _,
            out("x15") _, out("x16") _, out("x17") _, options(nostack));
    }
    loop {
        crate::arch::wfi();
    }
}

/// An HVC call outside the probe machinery, for the second vCPU (which
/// must not touch the primary's probe state).
pub fn raw_hvc(fid: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let r0: u64;
    // SAFETY: an SMCCC call over HVC; the argument/result registers and
    // x4..x17 are declared clobbered. A fault here would be reported by the
    // vector handler as unexpected.
    unsafe {
        core::arch::asm!("hvc #0", inout("x0") fid => r0, inout("x1") a1 => _,
            inout("x2") a2 => _, inout("x3") a3 => _, out("x4") _, out("x5") _,
            out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _,
            out("x11") _, out("x12") _, out("x13") _, out("x14") _,
            out("x15") _, out("x16") _, out("x17") _, options(nostack));
    }
    r0
}

/// Like `call`, but also reports whether the instruction right after the
/// HVC/SMC ran (a hypervisor that resumes one instruction too far skips it).
pub fn call_marked(c: Conduit, fid: u64) -> Result<(u64, bool), Fault> {
    let r0: u64;
    let mut marker: u64 = 0;
    let fault = match c {
        Conduit::Hvc => probe!("hvc #0", "mov {m}, #1"; m = inout(reg) marker,
            inout("x0") fid => r0, out("x1") _, out("x2") _, out("x3") _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
            out("x9") _, out("x10") _, out("x11") _, out("x12") _,
            out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _),
        Conduit::Smc => probe!("smc #0", "mov {m}, #1"; m = inout(reg) marker,
            inout("x0") fid => r0, out("x1") _, out("x2") _, out("x3") _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
            out("x9") _, out("x10") _, out("x11") _, out("x12") _,
            out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _),
    };
    match fault {
        Some(f) => Err(f),
        None => Ok((r0, marker == 1)),
    }
}
