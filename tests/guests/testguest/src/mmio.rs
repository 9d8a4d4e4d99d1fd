//! The raw memory accesses: MMIO registers and the device tree blob.

/// Reads a 32-bit device register.
pub fn read32(addr: u64) -> u32 {
    let v: u32;
    // SAFETY: only called with the base of the UART or of the GIC
    // distributor / a redistributor frame the device tree (or the Xen guest
    // layout) names plus a register offset; 4-byte aligned. If the address
    // is not mapped, the access faults into our own vectors. A plain `ldr`
    // with no writeback: read_volatile may compile to a pre-indexed form,
    // which gives the hypervisor no syndrome to emulate it from.
    unsafe { core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack, readonly)) };
    v
}

/// Writes a 32-bit device register.
pub fn write32(addr: u64, v: u32) {
    // SAFETY: as for read32 (a plain `str`, no writeback).
    unsafe { core::arch::asm!("str {v:w}, [{a}]", a = in(reg) addr, v = in(reg) v, options(nostack)) };
}

/// Largest device tree we accept (the arm64 boot protocol's limit).
const DTB_MAX: usize = 2 << 20;

pub fn be32_at(p: u64) -> u32 {
    let mut b = [0u8; 4];
    for (i, x) in b.iter_mut().enumerate() {
        // SAFETY: p..p+8 is inside guest RAM (checked by the caller to be
        // 8-aligned and non-zero); byte reads need no alignment.
        *x = unsafe { core::ptr::read_volatile((p as usize + i) as *const u8) };
    }
    u32::from_be_bytes(b)
}

/// The device tree blob at `pa`, if its header looks sane.
pub fn dtb_slice(pa: u64) -> Option<&'static [u8]> {
    if pa == 0 || pa % 8 != 0 {
        return None;
    }
    if be32_at(pa) != 0xd00d_feed {
        return None;
    }
    let size = be32_at(pa + 4) as usize;
    if !(40..=DTB_MAX).contains(&size) {
        return None;
    }
    // SAFETY: the loader hands us the blob at `pa` (boot protocol, x0);
    // its header says it is `size` bytes, bounded above. We only read it,
    // nothing writes it, and it lives for the whole run.
    Some(unsafe { core::slice::from_raw_parts(pa as usize as *const u8, size) })
}
