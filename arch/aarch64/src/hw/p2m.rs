//! Stage-2 translation of one domain: its tables, from a pool bounded like
//! Xen's `xen,domain-p2m-mem-mb`, its VMID, and the TLB maintenance when
//! it goes away.

use alloc::vec::Vec;

use spin::Mutex;
use tessera_core::mm::{Owner, PageType, FRAMES};

use crate::layout::{DIRECTMAP_BASE, IPA_BITS, S2_DEVICE, S2_RAM};
use crate::pagetable::{self, MapError, TableMemory};

/// 8-bit VMIDs; 0 is never given to a guest.
const VMIDS: usize = 256;
static VMID_USED: Mutex<[bool; VMIDS]> = Mutex::new([false; VMIDS]);

fn alloc_vmid() -> Option<u16> {
    let mut used = VMID_USED.lock();
    let i = (1..VMIDS).find(|&i| !used[i])?;
    used[i] = true;
    Some(i as u16)
}

/// Why a stage-2 operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P2mError {
    NoVmid,
    /// The domain's page-table pool (`xen,domain-p2m-mem-mb`) is used up.
    PoolExhausted {
        limit_pages: usize,
    },
    Map(MapError),
}

impl core::fmt::Display for P2mError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            P2mError::NoVmid => write!(f, "no free VMID"),
            P2mError::PoolExhausted { limit_pages } => {
                write!(f, "stage-2 page-table pool of {limit_pages} pages exhausted (xen,domain-p2m-mem-mb)")
            }
            P2mError::Map(e) => write!(f, "stage-2 mapping: {e:?}"),
        }
    }
}

struct Pool {
    limit: usize,
    tables: Vec<u64>,
    exhausted: bool,
}

impl TableMemory for Pool {
    fn alloc_table(&mut self) -> Option<u64> {
        if self.tables.len() >= self.limit {
            self.exhausted = true;
            return None;
        }
        let pa = FRAMES.alloc(0, Owner::Hypervisor, PageType::PageTable)? * 4096;
        self.table(pa).fill(0);
        self.tables.push(pa);
        Some(pa)
    }
    fn table(&mut self, pa: u64) -> &mut [u64; 512] {
        // SAFETY: `pa` is a page this pool allocated from the frame
        // allocator (or the root), reachable read-write through the direct
        // map, and only touched under the owning P2m's lock.
        unsafe { &mut *((DIRECTMAP_BASE + pa) as *mut [u64; 512]) }
    }
}

/// A domain's stage 2.
pub struct P2m {
    pub vmid: u16,
    root: u64,
    pool: Mutex<Pool>,
}

impl P2m {
    /// Empty tables with room for `limit_pages` table pages (root included).
    pub fn new(limit_pages: usize) -> Result<P2m, P2mError> {
        let vmid = alloc_vmid().ok_or(P2mError::NoVmid)?;
        let mut pool = Pool {
            limit: limit_pages.max(1),
            tables: Vec::new(),
            exhausted: false,
        };
        let root = match pool.alloc_table() {
            Some(r) => r,
            None => {
                VMID_USED.lock()[vmid as usize] = false;
                return Err(P2mError::PoolExhausted { limit_pages });
            }
        };
        Ok(P2m {
            vmid,
            root,
            pool: Mutex::new(pool),
        })
    }

    /// VTTBR_EL2 for this domain.
    pub fn vttbr(&self) -> u64 {
        ((self.vmid as u64) << 48) | self.root
    }

    /// Maps guest RAM `[ipa, ipa + size)` to `[pa, pa + size)`, with 1 GiB
    /// and 2 MiB blocks where aligned.
    pub fn map_ram(&self, ipa: u64, pa: u64, size: u64) -> Result<(), P2mError> {
        let mut pool = self.pool.lock();
        let root = self.root;
        let r = pagetable::map_from(&mut *pool, root, 1, IPA_BITS, ipa, pa, size, S2_RAM, true);
        super::sysreg::dsb_ishst();
        match r {
            Ok(()) => Ok(()),
            Err(MapError::NoMemory) if pool.exhausted => Err(P2mError::PoolExhausted {
                limit_pages: pool.limit,
            }),
            Err(e) => Err(P2mError::Map(e)),
        }
    }

    /// Maps device registers `[pa, pa + size)` at `[ipa, ipa + size)`
    /// (Device-nGnRE, never executable, 4 KiB pages): the GICv2 virtual
    /// CPU interface. Only table pages are freed with the domain.
    pub fn map_device(&self, ipa: u64, pa: u64, size: u64) -> Result<(), P2mError> {
        let mut pool = self.pool.lock();
        let root = self.root;
        let r = pagetable::map_from(
            &mut *pool, root, 1, IPA_BITS, ipa, pa, size, S2_DEVICE, false,
        );
        super::sysreg::dsb_ishst();
        match r {
            Ok(()) => Ok(()),
            Err(MapError::NoMemory) if pool.exhausted => Err(P2mError::PoolExhausted {
                limit_pages: pool.limit,
            }),
            Err(e) => Err(P2mError::Map(e)),
        }
    }

    /// Maps the 4 KiB page at `ipa` to host page `pa` as RAM (`Some`), or
    /// unmaps it (`None`), replacing whatever translation it had (a block
    /// is split). Returns the host page that was mapped there, if any.
    /// vCPUs of the domain that touch the page meanwhile take a stage-2
    /// fault, which the abort path retries once the update is done.
    pub fn set_page(&self, ipa: u64, pa: Option<u64>) -> Result<Option<u64>, P2mError> {
        self.set_page_attrs(ipa, pa, false)
    }

    /// [`Self::set_page`], read-only for the guest when `readonly` (a
    /// read-only grant mapping).
    pub fn set_page_attrs(
        &self,
        ipa: u64,
        pa: Option<u64>,
        readonly: bool,
    ) -> Result<Option<u64>, P2mError> {
        // S2AP: 0b11 read-write, 0b01 read-only.
        let attrs = if readonly { S2_RAM & !(1 << 7) } else { S2_RAM };
        if ipa % 4096 != 0 || ipa >= 1 << IPA_BITS {
            return Err(P2mError::Map(MapError::Misaligned {
                va: ipa,
                pa: pa.unwrap_or(0),
                size: 4096,
            }));
        }
        let vttbr = self.vttbr();
        let mut pool = self.pool.lock();
        let root = self.root;
        let r = pagetable::set_page(
            &mut *pool,
            root,
            1,
            ipa,
            pa.map(|p| (p, attrs)),
            &mut || {
                super::sysreg::dsb_ishst();
                super::vcpu::flush_vmid(vttbr);
            },
        );
        super::sysreg::dsb_ishst();
        match r {
            Ok(0) => Ok(None),
            Ok(old) => Ok(Some(old & crate::layout::OUTPUT_ADDR_MASK)),
            Err(MapError::NoMemory) if pool.exhausted => Err(P2mError::PoolExhausted {
                limit_pages: pool.limit,
            }),
            Err(e) => Err(P2mError::Map(e)),
        }
    }

    /// The host physical address behind `ipa`, if mapped.
    pub fn translate(&self, ipa: u64) -> Option<u64> {
        let mut pool = self.pool.lock();
        let (leaf, level) = pagetable::lookup_from(&mut *pool, self.root, 1, ipa)?;
        let span = 1u64 << [39, 30, 21, 12][level];
        Some((leaf & crate::layout::OUTPUT_ADDR_MASK & !(span - 1)) | (ipa & (span - 1)))
    }

    /// Table pages in use.
    pub fn pages(&self) -> usize {
        self.pool.lock().tables.len()
    }
}

impl Drop for P2m {
    fn drop(&mut self) {
        // No CPU runs this VMID any more: drop its TLB entries everywhere,
        // then give the tables back.
        super::vcpu::flush_vmid(self.vttbr());
        let pool = self.pool.get_mut();
        for &pa in &pool.tables {
            if let Err(e) = FRAMES.free(pa / 4096, 0, Owner::Hypervisor) {
                tessera_core::error!("stage 2: cannot free table {pa:#x}: {e}");
            }
        }
        pool.tables.clear();
        VMID_USED.lock()[self.vmid as usize] = false;
    }
}
