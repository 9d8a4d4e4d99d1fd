//! PL011 / SBSA generic UART, polled: DR at +0, FR at +0x18.

use crate::mmio;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

const DR: u64 = 0x00;
const FR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_RXFE: u32 = 1 << 4;

/// The Xen guest layout's vpl011 (GUEST_PL011_BASE), used when the device
/// tree names no UART.
pub const XEN_VPL011: u64 = 0x2200_0000;

static BASE: AtomicU64 = AtomicU64::new(0);

pub fn set_base(b: u64) {
    BASE.store(b, Relaxed);
}

pub fn base() -> u64 {
    BASE.load(Relaxed)
}

pub fn putc(c: u8) {
    let b = base();
    if b == 0 {
        return;
    }
    // Bounded: a transmitter that never drains must not hang the run.
    let mut n = 0u32;
    while mmio::read32(b + FR) & FR_TXFF != 0 && n < 2_000_000 {
        n += 1;
        core::hint::spin_loop();
    }
    mmio::write32(b + DR, c as u32);
}

/// A received byte, if one is waiting.
pub fn getc() -> Option<u8> {
    let b = base();
    if b == 0 || mmio::read32(b + FR) & FR_RXFE != 0 {
        return None;
    }
    Some(mmio::read32(b + DR) as u8)
}
