//! Device register access. Drivers see the safe [`Mmio`] trait; the real
//! implementation, [`MmioRegion`], is a bounds-checked window onto memory
//! mapped by the HAL's `ioremap`. Host tests implement [`Mmio`] with a model
//! of the device.

/// 32-, 16- and 8-bit register access at byte offsets. A driver uses the
/// width its device's manual gives each register.
pub trait Mmio: Send + Sync {
    fn read32(&self, offset: usize) -> u32;
    fn write32(&self, offset: usize, value: u32);
    /// 16-bit access. Register models of devices without 16-bit registers
    /// need not offer it: the default panics, naming the offset.
    fn read16(&self, offset: usize) -> u16 {
        panic!("no 16-bit registers here (read at {offset:#x})")
    }
    fn write16(&self, offset: usize, value: u16) {
        panic!("no 16-bit registers here (write of {value:#x} at {offset:#x})")
    }
    fn read8(&self, offset: usize) -> u8;
    fn write8(&self, offset: usize, value: u8);
    /// Size of the window in bytes.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A window of device registers mapped Device-nGnRE.
#[derive(Clone, Copy, Debug)]
pub struct MmioRegion {
    va: usize,
    len: usize,
}

impl MmioRegion {
    /// # Safety
    /// `[va, va + len)` must be mapped as device memory for the life of the
    /// hypervisor and belong to one device that this region's users drive.
    pub const unsafe fn new(va: usize, len: usize) -> Self {
        MmioRegion { va, len }
    }

    pub fn va(&self) -> usize {
        self.va
    }

    fn check(&self, offset: usize, size: usize) -> usize {
        // A driver bug, never guest input: driver offsets are constants.
        assert!(
            offset.is_multiple_of(size) && offset.checked_add(size).is_some_and(|e| e <= self.len),
            "MMIO access at {offset:#x} outside a {:#x}-byte window",
            self.len
        );
        self.va + offset
    }
}

impl Mmio for MmioRegion {
    fn read32(&self, offset: usize) -> u32 {
        let p = self.check(offset, 4) as *const u32;
        // SAFETY: `new`'s contract: mapped device memory; `check` keeps the
        // naturally aligned access inside the window.
        unsafe { core::ptr::read_volatile(p) }
    }
    fn write32(&self, offset: usize, value: u32) {
        let p = self.check(offset, 4) as *mut u32;
        // SAFETY: as in read32.
        unsafe { core::ptr::write_volatile(p, value) }
    }
    fn read16(&self, offset: usize) -> u16 {
        let p = self.check(offset, 2) as *const u16;
        // SAFETY: as in read32.
        unsafe { core::ptr::read_volatile(p) }
    }
    fn write16(&self, offset: usize, value: u16) {
        let p = self.check(offset, 2) as *mut u16;
        // SAFETY: as in read32.
        unsafe { core::ptr::write_volatile(p, value) }
    }
    fn read8(&self, offset: usize) -> u8 {
        let p = self.check(offset, 1) as *const u8;
        // SAFETY: as in read32.
        unsafe { core::ptr::read_volatile(p) }
    }
    fn write8(&self, offset: usize, value: u8) {
        let p = self.check(offset, 1) as *mut u8;
        // SAFETY: as in read32.
        unsafe { core::ptr::write_volatile(p, value) }
    }
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_width_reaches_its_bytes_and_stays_in_the_window() {
        let mut mem = [0u32; 4];
        // SAFETY: `mem` is plain host memory standing in for registers; it
        // outlives `r`, which only this test uses, and the window is its
        // size.
        let r = unsafe { MmioRegion::new(mem.as_mut_ptr() as usize, 16) };
        r.write32(0, 0x1122_3344);
        r.write16(6, 0xbeef);
        r.write8(9, 0x5a);
        assert_eq!(r.read16(0), 0x3344, "little-endian low half");
        assert_eq!(r.read8(3), 0x11);
        assert_eq!(r.read32(4), 0xbeef_0000);
        assert_eq!(r.read16(8), 0x5a00);
        let misaligned = std::panic::catch_unwind(|| r.read16(1));
        assert!(misaligned.is_err());
        let outside = std::panic::catch_unwind(|| r.write16(16, 0));
        assert!(outside.is_err());
        assert_eq!(mem[1], 0xbeef_0000);
    }
}
