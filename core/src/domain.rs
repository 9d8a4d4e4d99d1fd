//! Domains as core sees them: identity, state, memory (owned through the
//! frame table, scrubbed and returned when the domain dies), emulated
//! devices, and the console prefix. The arch crate keeps its own part
//! (stage 2, vCPU register state) next to it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use spin::Mutex;

use crate::mm::{Owner, PageType, FRAMES};
use crate::vdev::MmioDevice;

/// Domain ids are 15 bits in Xen's ABI (DOMID_FIRST_RESERVED = 0x7ff0).
pub const DOMID_FIRST_RESERVED: u16 = 0x7ff0;

/// Why a domain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    /// PSCI SYSTEM_OFF.
    Poweroff,
    /// PSCI SYSTEM_RESET (dom0less domains are not restarted).
    Reboot,
    /// An exception the guest could not take, a fault storm, or a bug.
    Crash,
}

impl fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShutdownReason::Poweroff => "powered off",
            ShutdownReason::Reboot => "asked for a reset (not restarted)",
            ShutdownReason::Crash => "crashed",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainState {
    Building,
    Running,
    Dying(ShutdownReason),
    Dead(ShutdownReason),
}

/// An emulated device at a guest-physical window.
pub struct DeviceWindow {
    pub name: &'static str,
    pub base: u64,
    pub size: u64,
    pub device: Box<dyn MmioDevice>,
}

/// Errors while building or tearing down a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    OutOfMemory { wanted_pages: u64, free_pages: u64 },
    TooManyDomains,
    Frame(crate::mm::FrameError),
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::OutOfMemory {
                wanted_pages,
                free_pages,
            } => {
                write!(
                    f,
                    "not enough memory: {wanted_pages} pages wanted, {free_pages} free"
                )
            }
            DomainError::TooManyDomains => write!(f, "no free domain id"),
            DomainError::Frame(e) => write!(f, "frame table: {e}"),
        }
    }
}

/// A domain.
pub struct Domain {
    pub id: u16,
    pub name: String,
    pub nr_vcpus: usize,
    state: Mutex<DomainState>,
    /// RAM blocks owned by the domain: (first frame, order).
    memory: Mutex<Vec<(u64, usize)>>,
    pub devices: Vec<DeviceWindow>,
}

static DOMAINS: Mutex<Vec<Arc<Domain>>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<u16> = Mutex::new(1);

impl Domain {
    /// A new domain in the Building state, with the next free id (dom0less
    /// domains start at 1).
    pub fn new(name: &str, nr_vcpus: usize) -> Result<Domain, DomainError> {
        let mut next = NEXT_ID.lock();
        if *next >= DOMID_FIRST_RESERVED {
            return Err(DomainError::TooManyDomains);
        }
        let id = *next;
        *next += 1;
        Ok(Domain {
            id,
            name: String::from(name),
            nr_vcpus,
            state: Mutex::new(DomainState::Building),
            memory: Mutex::new(Vec::new()),
            devices: Vec::new(),
        })
    }

    /// Registers the finished domain.
    pub fn publish(self) -> Arc<Domain> {
        let d = Arc::new(self);
        DOMAINS.lock().push(d.clone());
        d
    }

    pub fn state(&self) -> DomainState {
        *self.state.lock()
    }

    pub fn set_running(&self) {
        *self.state.lock() = DomainState::Running;
    }

    /// Starts the end of the domain; true for the caller that did it
    /// (later callers see it already dying).
    pub fn begin_shutdown(&self, why: ShutdownReason) -> bool {
        let mut s = self.state.lock();
        match *s {
            DomainState::Building | DomainState::Running => {
                *s = DomainState::Dying(why);
                true
            }
            _ => false,
        }
    }

    /// Allocates `bytes` of RAM for the domain, in the largest aligned
    /// blocks available (2 MiB and up where possible, so stage 2 can use
    /// block mappings). Returns (physical address, size) runs.
    pub fn allocate_ram(&self, bytes: u64) -> Result<Vec<(u64, u64)>, DomainError> {
        let mut left = bytes.div_ceil(4096);
        let wanted = left;
        let mut runs = Vec::new();
        let mut mem = self.memory.lock();
        while left > 0 {
            let mut order = (63 - left.leading_zeros() as usize).min(18);
            let pfn = loop {
                if let Some(p) = FRAMES.alloc(order, Owner::Domain(self.id), PageType::GuestRam) {
                    break Some(p);
                }
                if order == 0 {
                    break None;
                }
                order -= 1;
            };
            let Some(pfn) = pfn else {
                drop(mem);
                self.release_memory();
                return Err(DomainError::OutOfMemory {
                    wanted_pages: wanted,
                    free_pages: FRAMES.free_pages(),
                });
            };
            mem.push((pfn, order));
            runs.push((pfn * 4096, 4096u64 << order));
            left -= 1 << order;
        }
        Ok(runs)
    }

    /// Pages of RAM the domain owns.
    pub fn ram_pages(&self) -> u64 {
        self.memory.lock().iter().map(|&(_, o)| 1u64 << o).sum()
    }

    /// Scrubs and frees all the domain's RAM.
    pub fn release_memory(&self) {
        let blocks = core::mem::take(&mut *self.memory.lock());
        let hal = crate::boot::hal();
        for (pfn, order) in blocks {
            for p in pfn..pfn + (1 << order) {
                if let Some(page) = hal.ram_page(p * 4096) {
                    page.fill(0);
                }
            }
            if let Err(e) = FRAMES.free(pfn, order, Owner::Domain(self.id)) {
                error!("d{}: cannot free frame {pfn:#x}: {e}", self.id);
            }
        }
    }

    /// The device whose window holds `ipa`, and the offset into it.
    pub fn device_at(&self, ipa: u64) -> Option<(&DeviceWindow, u64)> {
        self.devices
            .iter()
            .find(|d| ipa >= d.base && ipa - d.base < d.size)
            .map(|d| (d, ipa - d.base))
    }

    /// Marks the domain dead and forgets it; its memory must be released.
    pub fn finish(&self) {
        let mut s = self.state.lock();
        let why = match *s {
            DomainState::Dying(w) | DomainState::Dead(w) => w,
            _ => ShutdownReason::Crash,
        };
        *s = DomainState::Dead(why);
        drop(s);
        for d in &self.devices {
            d.device.flush();
        }
        crate::console::unregister_input(self.id);
        DOMAINS.lock().retain(|d| d.id != self.id);
    }
}

/// Domains that exist (building, running or dying).
pub fn count() -> usize {
    DOMAINS.lock().len()
}

/// The domain with this id.
pub fn by_id(id: u16) -> Option<Arc<Domain>> {
    DOMAINS.lock().iter().find(|d| d.id == id).cloned()
}
