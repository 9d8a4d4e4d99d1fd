//! Device register access. Drivers see the safe [`Mmio`] trait; the real
//! implementation, [`MmioRegion`], is a bounds-checked window onto memory
//! mapped by the HAL's `ioremap`. Host tests implement [`Mmio`] with a model
//! of the device.

/// 32-bit and 8-bit register access at byte offsets.
pub trait Mmio: Send + Sync {
    fn read32(&self, offset: usize) -> u32;
    fn write32(&self, offset: usize, value: u32);
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
