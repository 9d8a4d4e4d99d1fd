//! Arm semihosting SYS_EXIT, for test builds under QEMU only: on hardware
//! `HLT #0xF000` is an undefined instruction.

/// Ends the emulator with `status`.
pub fn exit(status: u32) -> ! {
    let block: [u64; 2] = [0x20026, status as u64]; // ADP_Stopped_ApplicationExit
                                                    // SAFETY: SYS_EXIT (0x18) reads the two-word block at x1; only test
                                                    // builds (Kconfig TESTING) call this, and they run under QEMU with
                                                    // semihosting enabled.
    unsafe {
        core::arch::asm!("hlt #0xf000", in("w0") 0x18u32, in("x1") block.as_ptr(), options(nostack));
    }
    loop {
        // SAFETY: parks the CPU if the exit did not happen.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
    }
}

/// Writes bytes to the emulator's console (SYS_WRITEC, one byte at a time).
pub fn write(bytes: &[u8]) {
    if !tessera_core::config::TESTING {
        return;
    }
    for b in bytes {
        // SAFETY: SYS_WRITEC (0x03) reads one byte at x1; test builds only.
        unsafe {
            core::arch::asm!("hlt #0xf000", inout("x0") 0x03u64 => _, in("x1") b as *const u8, options(nostack));
        }
    }
}
