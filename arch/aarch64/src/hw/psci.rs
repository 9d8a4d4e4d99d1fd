//! PSCI as a client (host firmware): CPU_ON, SYSTEM_OFF, SYSTEM_RESET. The
//! conduit comes from the device tree's `psci` node; from EL2 only SMC can
//! reach firmware.

use core::sync::atomic::{AtomicU8, Ordering};

use tessera_core::fdt::Fdt;
use tessera_core::hal::HalError;

pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const CPU_ON_64: u32 = 0xc400_0003;
pub const SYSTEM_OFF: u32 = 0x8400_0008;
pub const SYSTEM_RESET: u32 = 0x8400_0009;

const NONE: u8 = 0;
const SMC: u8 = 1;
static CONDUIT: AtomicU8 = AtomicU8::new(NONE);

/// Reads the conduit from the device tree; returns the PSCI version.
pub fn init(fdt: &Fdt) -> Result<(u32, u32), HalError> {
    let node = fdt
        .compatible_nodes("arm,psci-1.0")
        .chain(fdt.compatible_nodes("arm,psci-0.2"))
        .next()
        .ok_or(HalError::BadDeviceTree(
            "no psci node compatible with arm,psci-0.2 or later",
        ))?;
    match node.property("method").and_then(|p| p.as_str()) {
        Some("smc") => CONDUIT.store(SMC, Ordering::Relaxed),
        Some("hvc") => {
            return Err(HalError::BadDeviceTree(
                "psci method \"hvc\" cannot reach firmware from EL2",
            ))
        }
        _ => return Err(HalError::BadDeviceTree("psci node has no method")),
    }
    let v = call(PSCI_VERSION, 0, 0, 0) as u32;
    Ok((v >> 16, v & 0xffff))
}

/// An SMCCC call through the conduit.
pub fn call(fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    if CONDUIT.load(Ordering::Relaxed) != SMC {
        return -1; // NOT_SUPPORTED
    }
    let mut x0 = fid as u64;
    // SAFETY: an SMCCC call to the firmware; per SMCCC 1.1 it preserves
    // x4-x17 and the callee-saved registers; x0-x3 are declared clobbered.
    unsafe {
        core::arch::asm!("smc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _, options(nostack));
    }
    x0 as i64
}

pub fn cpu_on(mpidr: u64, entry_pa: u64, context: u64) -> Result<(), HalError> {
    match call(CPU_ON_64, mpidr, entry_pa, context) {
        0 => Ok(()),
        e => Err(HalError::Firmware(e)),
    }
}

pub fn system_off() {
    call(SYSTEM_OFF, 0, 0, 0);
}

pub fn system_reset() {
    call(SYSTEM_RESET, 0, 0, 0);
}

/// Firmware conduit known?
pub fn ready() -> bool {
    CONDUIT.load(Ordering::Relaxed) == SMC
}
