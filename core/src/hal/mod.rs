//! The hardware interface core needs, and the only place in core with
//! `unsafe` code. An arch crate implements [`Hal`]; host tests use a fake.

mod mmio;

pub use mmio::{Mmio, MmioRegion};

use crate::fdt::Fdt;

/// Why a HAL operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HalError {
    /// Out of page-table pages or virtual space.
    NoMemory,
    /// An address range that cannot be mapped (unaligned, overflowing,
    /// beyond what the layout covers).
    BadRange { addr: u64, size: u64 },
    /// Mapped already with other attributes.
    AlreadyMapped { addr: u64 },
    /// Something in the device tree the hardware code cannot use.
    BadDeviceTree(&'static str),
    /// A firmware call failed (PSCI, SMCCC) with this return value.
    Firmware(i64),
    /// A CPU did not come online in time.
    Timeout,
}

impl core::fmt::Display for HalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            HalError::NoMemory => write!(f, "out of page-table memory or address space"),
            HalError::BadRange { addr, size } => write!(f, "cannot map {addr:#x}+{size:#x}"),
            HalError::AlreadyMapped { addr } => write!(f, "{addr:#x} is already mapped"),
            HalError::BadDeviceTree(w) => write!(f, "device tree: {w}"),
            HalError::Firmware(r) => write!(f, "firmware call returned {r}"),
            HalError::Timeout => write!(f, "timed out"),
        }
    }
}

/// The hardware services the boot flow uses. One instance per image,
/// implemented by the arch crate.
pub trait Hal: Sync {
    /// Physical range [start, end) of the hypervisor image, BSS included.
    fn image_range(&self) -> (u64, u64);
    /// Maps `size` bytes at `pa` read-only and returns them (the DTB).
    fn map_boot_blob(&self, pa: u64, size: u64) -> Result<&'static [u8], HalError>;
    /// Maps RAM in the direct map, read-write, never executable.
    fn map_ram(&self, pa: u64, size: u64) -> Result<(), HalError>;
    /// A page of RAM through the direct map. The caller owns the page (the
    /// frame table says so), so handing out `&mut` is sound.
    fn ram_page(&self, pa: u64) -> Option<&'static mut [u8; 4096]>;
    /// Virtual address of RAM through the direct map (for the heap).
    fn ram_va(&self, pa: u64) -> Option<usize>;
    /// Maps device registers.
    fn ioremap(&self, pa: u64, size: u64) -> Result<MmioRegion, HalError>;
    /// Nanoseconds since boot.
    fn now_ns(&self) -> u64;
    /// Index of the running CPU (0 = the boot CPU).
    fn cpu_index(&self) -> usize;
    /// Brings up the interrupt controller, the timer and the firmware
    /// interface from the device tree (boot CPU).
    fn init_platform(&self, fdt: &Fdt) -> Result<PlatformInfo, HalError>;
    /// Starts CPU `index` with hardware id `hwid` (MPIDR on Arm); it calls
    /// [`crate::boot::secondary_main`] once running.
    fn start_cpu(&self, index: usize, hwid: u64) -> Result<(), HalError>;
    /// Arms this CPU's hypervisor timer `ns` from now and waits for its
    /// interrupt with interrupts unmasked: proves timer and interrupt
    /// controller work on this CPU. Returns the delay actually seen.
    fn timer_selftest(&self, ns: u64) -> Result<u64, HalError>;
    /// Sends the call-function SGI to `cpu` and waits for its handler to
    /// acknowledge it.
    fn ipi_selftest(&self, cpu: usize) -> Result<(), HalError>;
    /// Waits for an interrupt (idle).
    fn idle(&self);
    /// Builds a boot-time domain and adds its vCPUs to CPU pool `pool`;
    /// its id, or why it was refused.
    fn build_domain(
        &self,
        fdt: &Fdt,
        spec: &crate::dom0less::DomainSpec,
        pool: u32,
    ) -> Result<u16, alloc::string::String>;
    /// Lets a built domain run (its first vCPU becomes runnable). Boot
    /// builds every domain and binds their static event channels first,
    /// as Xen unpauses dom0less domains only at the end.
    fn start_domain(&self, id: u16);
    /// Enters this CPU's scheduling loop for good.
    fn run_cpu(&self) -> !;
    /// Routes device interrupt `intid` to the boot CPU and enables it (its
    /// owner is in [`crate::irq`]).
    fn enable_device_irq(&self, _intid: u32) -> Result<(), HalError> {
        Err(HalError::BadDeviceTree("no interrupt controller support"))
    }
    /// Test builds: output through the emulator when there is no UART.
    fn debug_console(&self) -> Option<fn(&[u8])> {
        None
    }
    /// Powers the machine off; `ok` is false after a failure (test builds
    /// then end QEMU with a non-zero status).
    fn power_off(&self, ok: bool) -> !;
}

/// What the platform bring-up found, for the banner.
#[derive(Debug, Clone, Default)]
pub struct PlatformInfo {
    pub interrupt_controller: &'static str,
    pub firmware: &'static str,
    pub timer_hz: u64,
}

/// Forces a spin lock open. Only the panic path calls this, when the
/// console lock is held by a CPU that will never release it.
pub(crate) fn force_unlock<T>(m: &spin::Mutex<T>) {
    // SAFETY: only called on the panic path: the holder is either this CPU,
    // which has abandoned its critical section, or another CPU that is about
    // to be stopped; at worst output interleaves. No memory is freed or
    // reused under the holder.
    unsafe { m.force_unlock() }
}

/// The global heap's backing allocator. The image crate installs it as
/// `#[global_allocator]`; [`init_heap`] hands it memory at boot.
pub struct Heap {
    inner: spin::Mutex<linked_list_allocator::Heap>,
}

impl Heap {
    pub const fn new() -> Self {
        Heap {
            inner: spin::Mutex::new(linked_list_allocator::Heap::empty()),
        }
    }
    /// Gives the heap `[va, va + size)`.
    ///
    /// # Safety
    /// The range must be mapped read-write, unused by anything else, and
    /// stay so for the life of the hypervisor.
    pub unsafe fn init(&self, va: usize, size: usize) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.inner.lock().init(va as *mut u8, size) }
    }
    /// Bytes in use and bytes in total.
    pub fn usage(&self) -> (usize, usize) {
        let h = self.inner.lock();
        (h.used(), h.size())
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: allocation and release go through linked_list_allocator's
// first-fit heap under a spin lock, which returns aligned, disjoint blocks
// from the range given to `init`, or null when it is exhausted.
unsafe impl core::alloc::GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        match self.inner.lock().allocate_first_fit(layout) {
            Ok(p) => p.as_ptr(),
            Err(()) => core::ptr::null_mut(),
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        if let Some(p) = core::ptr::NonNull::new(ptr) {
            // SAFETY: the caller guarantees `ptr` came from `alloc` with `layout`.
            unsafe { self.inner.lock().deallocate(p, layout) }
        }
    }
}

/// The hypervisor heap (installed by the image crate through [`GlobalHeap`]).
pub static HEAP: Heap = Heap::new();

/// `#[global_allocator]` adapter for [`HEAP`].
pub struct GlobalHeap;

// SAFETY: forwards to HEAP, whose GlobalAlloc impl upholds the contract.
unsafe impl core::alloc::GlobalAlloc for GlobalHeap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        // SAFETY: same contract.
        unsafe { core::alloc::GlobalAlloc::alloc(&HEAP, layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: same contract.
        unsafe { core::alloc::GlobalAlloc::dealloc(&HEAP, ptr, layout) }
    }
}

/// The frame table of one bank, in RAM the caller set aside.
///
/// # Safety
/// `[va, va + pages * size_of::<PageInfo>())` must be mapped read-write,
/// suitably aligned (page-aligned is), and used for nothing else, ever.
pub unsafe fn frame_table_slice(va: usize, pages: usize) -> &'static mut [crate::mm::PageInfo] {
    let ptr = va as *mut crate::mm::PageInfo;
    // SAFETY: the caller's contract; PageInfo is plain old data, and
    // Zone::new initialises every entry before anything reads one.
    unsafe {
        for i in 0..pages {
            ptr.add(i).write(crate::mm::PageInfo::RESERVED);
        }
        core::slice::from_raw_parts_mut(ptr, pages)
    }
}
