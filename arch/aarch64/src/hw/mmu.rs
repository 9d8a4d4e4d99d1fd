//! The live EL2 page tables, after the boot code turned the MMU on: the
//! direct map, device mappings, the boot map, and stacks. Table pages come
//! from a pool in BSS (enough for boot) and then from the frame allocator.

use spin::Mutex;

use tessera_core::hal::HalError;
use tessera_core::mm::{Owner, PageType, FRAMES};

use crate::layout::*;
use crate::pagetable::{self, MapError, TableMemory};

extern "C" {
    static _image_start: u8;
    static _image_end: u8;
    static boot_pgt: u8;
}

const POOL_PAGES: usize = 32;

#[repr(C, align(4096))]
struct Pool([[u64; 512]; POOL_PAGES]);

static mut POOL: Pool = Pool([[0; 512]; POOL_PAGES]);

struct Tables {
    load_pa: u64,
    image_size: u64,
    root_pa: u64,
    pool_used: usize,
    direct_map_ready: bool,
    next_vmap: u64,
    next_ioremap: u64,
    next_bootmap: u64,
}

static TABLES: Mutex<Option<Tables>> = Mutex::new(None);

fn image_va(sym: *const u8) -> u64 {
    sym as u64
}

impl Tables {
    fn image_pa_of(&self, va: u64) -> u64 {
        self.load_pa + (va - IMAGE_BASE)
    }
    fn va_of(&self, pa: u64) -> Option<u64> {
        if pa >= self.load_pa && pa < self.load_pa + self.image_size {
            Some(IMAGE_BASE + (pa - self.load_pa))
        } else if self.direct_map_ready && pa < DIRECTMAP_MAX_PA {
            Some(DIRECTMAP_BASE + pa)
        } else {
            None
        }
    }
}

impl TableMemory for Tables {
    fn alloc_table(&mut self) -> Option<u64> {
        if self.pool_used < POOL_PAGES {
            // SAFETY: taking the address of the static pool, no reference.
            let va = unsafe { core::ptr::addr_of_mut!(POOL.0[self.pool_used]) } as u64;
            self.pool_used += 1;
            return Some(self.image_pa_of(va));
        }
        if !self.direct_map_ready {
            return None;
        }
        let pfn = FRAMES.alloc(0, Owner::Hypervisor, PageType::PageTable)?;
        Some(pfn * 4096)
    }

    fn table(&mut self, pa: u64) -> &mut [u64; 512] {
        let va = self
            .va_of(pa)
            .expect("page-table page outside the image and the direct map");
        // SAFETY: `pa` is a table page this module allocated (boot tables,
        // the BSS pool or a frame it owns), mapped read-write at `va`, and
        // only touched under the TABLES lock.
        unsafe { &mut *(va as *mut [u64; 512]) }
    }
}

/// Takes over the boot tables. Called once, on the boot CPU.
pub fn init(load_pa: u64) {
    // SAFETY: linker symbols; only their addresses are used.
    let (start, end, pgt) = unsafe {
        (
            image_va(&_image_start),
            image_va(&_image_end),
            image_va(&boot_pgt),
        )
    };
    let image_size = end - start;
    let root_pa = load_pa + (pgt - IMAGE_BASE);
    *TABLES.lock() = Some(Tables {
        load_pa,
        image_size,
        root_pa,
        pool_used: 0,
        direct_map_ready: false,
        next_vmap: VMAP_BASE,
        next_ioremap: IOREMAP_BASE,
        next_bootmap: BOOTMAP_BASE,
    });
}

fn with<R>(f: impl FnOnce(&mut Tables) -> R) -> R {
    let mut g = TABLES.lock();
    f(g.as_mut().expect("mmu::init not called"))
}

fn map_err(e: MapError) -> HalError {
    match e {
        MapError::NoMemory => HalError::NoMemory,
        MapError::Misaligned { va, size, .. } => HalError::BadRange { addr: va, size },
        MapError::AlreadyMapped { va } => HalError::AlreadyMapped { addr: va },
    }
}

fn map(
    t: &mut Tables,
    va: u64,
    pa: u64,
    size: u64,
    attrs: u64,
    blocks: bool,
) -> Result<(), HalError> {
    let root = t.root_pa;
    let r = pagetable::map(t, root, va, pa, size, attrs, blocks).map_err(map_err);
    // New entries only (invalid -> valid): no TLB maintenance needed, but
    // the table writes must be visible to the walker before use.
    super::sysreg::dsb_ishst();
    super::sysreg::isb();
    r
}

pub fn image_range() -> (u64, u64) {
    with(|t| (t.load_pa, t.load_pa + t.image_size))
}

/// Physical address of an image symbol.
pub fn image_pa(va: u64) -> u64 {
    with(|t| t.image_pa_of(va))
}

pub fn root_pa() -> u64 {
    with(|t| t.root_pa)
}

fn page_span(pa: u64, size: u64) -> Result<(u64, u64, u64), HalError> {
    let end = pa
        .checked_add(size)
        .filter(|_| size > 0)
        .ok_or(HalError::BadRange { addr: pa, size })?;
    let start = pa & !(PAGE_SIZE - 1);
    let end = end
        .checked_add(PAGE_SIZE - 1)
        .ok_or(HalError::BadRange { addr: pa, size })?
        & !(PAGE_SIZE - 1);
    Ok((start, end - start, pa - start))
}

fn bump(cursor: &mut u64, limit: u64, size: u64) -> Result<u64, HalError> {
    let va = *cursor;
    let next = va
        .checked_add(size)
        .filter(|&n| n <= limit)
        .ok_or(HalError::NoMemory)?;
    *cursor = next;
    Ok(va)
}

/// Device registers at `pa`: returns the VA of `pa` itself.
pub fn ioremap(pa: u64, size: u64) -> Result<u64, HalError> {
    let (start, len, off) = page_span(pa, size)?;
    with(|t| {
        let va = bump(&mut t.next_ioremap, IOREMAP_BASE + IOREMAP_SIZE, len)?;
        map(t, va, start, len, ATTR_DEVICE, false)?;
        Ok(va + off)
    })
}

/// Read-only boot data (the DTB).
pub fn bootmap(pa: u64, size: u64) -> Result<u64, HalError> {
    let (start, len, off) = page_span(pa, size)?;
    with(|t| {
        let va = bump(&mut t.next_bootmap, BOOTMAP_BASE + BOOTMAP_SIZE, len)?;
        map(t, va, start, len, ATTR_RO_NX, false)?;
        Ok(va + off)
    })
}

/// RAM in the direct map.
pub fn map_ram(pa: u64, size: u64) -> Result<(), HalError> {
    if pa % PAGE_SIZE != 0
        || size % PAGE_SIZE != 0
        || pa.checked_add(size).is_none_or(|e| e > DIRECTMAP_MAX_PA)
    {
        return Err(HalError::BadRange { addr: pa, size });
    }
    with(|t| {
        map(t, DIRECTMAP_BASE + pa, pa, size, ATTR_RW_NX, true)?;
        t.direct_map_ready = true;
        Ok(())
    })
}

pub fn ram_va(pa: u64) -> Option<u64> {
    (pa < DIRECTMAP_MAX_PA).then_some(DIRECTMAP_BASE + pa)
}

/// A stack of 2^order pages from the frame allocator, mapped in the vmap
/// area above an unmapped guard page. Returns the stack's top VA.
pub fn alloc_stack(order: usize) -> Result<u64, HalError> {
    let pfn = FRAMES
        .alloc(order, Owner::Hypervisor, PageType::Stack)
        .ok_or(HalError::NoMemory)?;
    let size = PAGE_SIZE << order;
    with(|t| {
        let base = bump(&mut t.next_vmap, VMAP_BASE + VMAP_SIZE, size + PAGE_SIZE)?;
        let va = base + PAGE_SIZE; // [base, base + 4K) stays unmapped: the guard
        map(t, va, pfn * PAGE_SIZE, size, ATTR_RW_NX, false)?;
        Ok(va + size)
    })
}
