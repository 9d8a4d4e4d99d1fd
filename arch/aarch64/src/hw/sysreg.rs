//! System register access and barriers.

/// Reads a system register by name.
macro_rules! mrs {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: reading a system register that exists at EL2 has no side
        // effect on memory; callers only name registers that do.
        unsafe { core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) v, options(nomem, nostack, preserves_flags)) };
        v
    }};
}

/// Writes a system register by name. Call sites say why the write is sound.
macro_rules! msr {
    ($reg:literal, $val:expr) => {{
        let v: u64 = $val;
        // SAFETY: EL2 owns these registers; each call site documents why
        // the value written keeps the hypervisor's invariants.
        unsafe { core::arch::asm!(concat!("msr ", $reg, ", {}"), in(reg) v, options(nostack, preserves_flags)) };
    }};
}

#[inline(always)]
pub fn isb() {
    // SAFETY: a barrier; no memory or register effects beyond ordering.
    unsafe { core::arch::asm!("isb", options(nostack, preserves_flags)) };
}

#[inline(always)]
pub fn dsb_sy() {
    // SAFETY: a barrier.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

#[inline(always)]
pub fn dsb_ishst() {
    // SAFETY: a barrier.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
}

/// Cleans `[va, va + len)` to the point of coherency, for data another CPU
/// reads with its MMU and caches off.
pub fn clean_dcache(va: usize, len: usize) {
    let mut line = va & !63;
    while line < va + len {
        // SAFETY: cache maintenance by VA on mapped memory; no data change.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) line, options(nostack, preserves_flags)) };
        line += 64;
    }
    dsb_sy();
}

/// Waits for an interrupt and lets it be taken. EL2 otherwise runs with
/// IRQs masked: WFI wakes on a pending interrupt even while masked, so the
/// caller checks its condition masked and there is no lost wake-up.
pub fn wait_for_interrupt() {
    // SAFETY: the IRQ handler runs on this stack between daifclr and
    // daifset and returns here; callers hold no lock across this call.
    unsafe {
        core::arch::asm!(
            "wfi",
            "msr daifclr, #2",
            "isb",
            "msr daifset, #2",
            options(nostack)
        )
    };
}
