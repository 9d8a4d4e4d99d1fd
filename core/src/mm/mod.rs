//! Hypervisor memory: the boot-time map of RAM and what is reserved in it,
//! and the global frame allocator built from it.

pub mod frame;
pub mod layout;

pub use frame::{FrameError, Owner, PageInfo, PageType, Zone};
pub use layout::{LayoutError, MemoryLayout, Region};

use spin::Mutex;

/// Most RAM banks the frame allocator manages.
pub const MAX_ZONES: usize = 8;

/// Zones in a fixed array: they are added before the heap exists.
struct ZoneList {
    zones: [Option<Zone<'static>>; MAX_ZONES],
}

impl ZoneList {
    fn iter(&self) -> impl Iterator<Item = &Zone<'static>> {
        self.zones.iter().flatten()
    }
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Zone<'static>> {
        self.zones.iter_mut().flatten()
    }
}

/// The frame allocator of the running hypervisor: one zone per RAM bank.
pub struct Frames {
    zones: Mutex<ZoneList>,
}

impl Frames {
    pub const fn new() -> Self {
        Frames {
            zones: Mutex::new(ZoneList {
                zones: [const { None }; MAX_ZONES],
            }),
        }
    }

    /// Adds a bank; false when all slots are used.
    pub fn add_zone(&self, zone: Zone<'static>) -> bool {
        match self.zones.lock().zones.iter_mut().find(|z| z.is_none()) {
            Some(slot) => {
                *slot = Some(zone);
                true
            }
            None => false,
        }
    }

    /// Allocates 2^order contiguous pages; returns the first frame number.
    pub fn alloc(&self, order: usize, owner: Owner, ty: PageType) -> Option<u64> {
        self.zones
            .lock()
            .iter_mut()
            .find_map(|z| z.alloc(order, owner, ty))
    }

    pub fn free(&self, pfn: u64, order: usize, owner: Owner) -> Result<(), FrameError> {
        let mut zones = self.zones.lock();
        let z = zones
            .iter_mut()
            .find(|z| z.contains(pfn))
            .ok_or(FrameError::OutOfRange(pfn))?;
        z.free(pfn, order, owner)
    }

    /// Free pages over all zones.
    pub fn free_pages(&self) -> u64 {
        self.zones.lock().iter().map(|z| z.free_pages()).sum()
    }

    /// Pages managed (free or not).
    pub fn total_pages(&self) -> u64 {
        self.zones
            .lock()
            .iter()
            .map(|z| z.end_pfn() - z.base_pfn())
            .sum()
    }

    /// Takes one more reference on an allocated page (a foreign mapping).
    pub fn get_ref(&self, pfn: u64) -> Result<u32, FrameError> {
        let mut zones = self.zones.lock();
        let z = zones
            .iter_mut()
            .find(|z| z.contains(pfn))
            .ok_or(FrameError::OutOfRange(pfn))?;
        z.get_ref(pfn)
    }

    /// Drops a reference taken with [`Self::get_ref`].
    pub fn put_ref(&self, pfn: u64) -> Result<u32, FrameError> {
        let mut zones = self.zones.lock();
        let z = zones
            .iter_mut()
            .find(|z| z.contains(pfn))
            .ok_or(FrameError::OutOfRange(pfn))?;
        z.put_ref(pfn)
    }

    /// One past the highest frame managed (Xen's `max_page`).
    pub fn max_pfn(&self) -> u64 {
        self.zones
            .lock()
            .iter()
            .map(|z| z.end_pfn())
            .max()
            .unwrap_or(0)
    }

    /// Calls `f` with the page's info.
    pub fn with_info<R>(&self, pfn: u64, f: impl FnOnce(&PageInfo) -> R) -> Option<R> {
        let zones = self.zones.lock();
        let r = zones.iter().find_map(|z| z.info(pfn)).map(f);
        r
    }

    /// Consistency check of every zone.
    pub fn check(&self) -> Result<(), &'static str> {
        self.zones.lock().iter().try_for_each(|z| z.check())
    }
}

impl Default for Frames {
    fn default() -> Self {
        Self::new()
    }
}

/// The hypervisor's frame allocator.
pub static FRAMES: Frames = Frames::new();
