//! The frame table and the buddy page allocator.
//!
//! Every page of RAM has a [`PageInfo`]: its owner (free, the hypervisor,
//! reserved, or a domain), a type, and a reference count. Free pages form
//! buddy blocks of 2^order pages, aligned to their size in the physical
//! address space, kept on doubly linked free lists threaded through the
//! frame table itself (no other memory needed).

use core::fmt;

/// Largest block: 2^18 pages = 1 GiB.
pub const MAX_ORDER: usize = 18;
const NONE: u32 = u32::MAX;
const TAIL: u8 = 0xff;

/// Who owns a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Free,
    /// Hypervisor memory: frame table, heap, page tables, stacks.
    Hypervisor,
    /// Not RAM we may use: the image, the DTB, boot modules, firmware.
    Reserved,
    /// Guest memory of domain `id`.
    Domain(u16),
}

impl Owner {
    const fn encode(self) -> u32 {
        match self {
            Owner::Free => 0,
            Owner::Hypervisor => 1,
            Owner::Reserved => 2,
            Owner::Domain(id) => 0x1_0000 | id as u32,
        }
    }
    const fn decode(v: u32) -> Owner {
        match v {
            0 => Owner::Free,
            1 => Owner::Hypervisor,
            2 => Owner::Reserved,
            v => Owner::Domain(v as u16),
        }
    }
}

/// What a page is used for (grows with grants and page tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageType {
    None = 0,
    PageTable = 1,
    Heap = 2,
    Stack = 3,
    FrameTable = 4,
    GuestRam = 5,
}

/// Per-page state.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct PageInfo {
    owner: u32,
    refcount: u32,
    next: u32,
    prev: u32,
    /// Order of a free block's head; `TAIL` elsewhere in a free block.
    order: u8,
    ty: u8,
}

impl PageInfo {
    pub const RESERVED: PageInfo = PageInfo {
        owner: 2,
        refcount: 0,
        next: NONE,
        prev: NONE,
        order: TAIL,
        ty: PageType::None as u8,
    };

    pub fn owner(&self) -> Owner {
        Owner::decode(self.owner)
    }
    pub fn refcount(&self) -> u32 {
        self.refcount
    }
}

/// Errors of the allocator, with the offending frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The frame is outside this zone.
    OutOfRange(u64),
    /// Freeing a page that is already free.
    DoubleFree(u64),
    /// Freeing a page still referenced.
    StillReferenced { pfn: u64, refcount: u32 },
    /// Freeing as one owner a page another owns.
    WrongOwner { pfn: u64, owner: Owner },
    /// Misaligned block for its order.
    Misaligned { pfn: u64, order: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::OutOfRange(p) => write!(f, "frame {p:#x} is not RAM of this zone"),
            FrameError::DoubleFree(p) => write!(f, "frame {p:#x} freed twice"),
            FrameError::StillReferenced { pfn, refcount } => {
                write!(f, "frame {pfn:#x} freed with {refcount} references left")
            }
            FrameError::WrongOwner { pfn, owner } => {
                write!(f, "frame {pfn:#x} belongs to {owner:?}")
            }
            FrameError::Misaligned { pfn, order } => {
                write!(f, "frame {pfn:#x} is not aligned for order {order}")
            }
        }
    }
}

/// One contiguous bank of RAM with its slice of the frame table.
pub struct Zone<'t> {
    base: u64,
    pages: &'t mut [PageInfo],
    heads: [u32; MAX_ORDER + 1],
    free: u64,
}

impl<'t> Zone<'t> {
    /// A zone for frames `[base_pfn, base_pfn + table.len())`, all reserved
    /// until [`Zone::release`] gives ranges to the allocator.
    pub fn new(base_pfn: u64, table: &'t mut [PageInfo]) -> Self {
        table.fill(PageInfo::RESERVED);
        Zone {
            base: base_pfn,
            pages: table,
            heads: [NONE; MAX_ORDER + 1],
            free: 0,
        }
    }

    pub fn base_pfn(&self) -> u64 {
        self.base
    }
    pub fn end_pfn(&self) -> u64 {
        self.base + self.pages.len() as u64
    }
    /// Free pages.
    pub fn free_pages(&self) -> u64 {
        self.free
    }
    pub fn contains(&self, pfn: u64) -> bool {
        pfn >= self.base && pfn < self.end_pfn()
    }

    pub fn info(&self, pfn: u64) -> Option<&PageInfo> {
        self.pages.get(pfn.checked_sub(self.base)? as usize)
    }

    /// Marks `[start, end)` with an owner (no allocator involved): for
    /// memory set aside before the allocator runs.
    pub fn set_owner(
        &mut self,
        start: u64,
        end: u64,
        owner: Owner,
        ty: PageType,
    ) -> Result<(), FrameError> {
        for pfn in start..end {
            let i = self.index(pfn)?;
            if self.pages[i].owner == Owner::Free.encode() {
                return Err(FrameError::WrongOwner {
                    pfn,
                    owner: Owner::Free,
                });
            }
            self.pages[i].owner = owner.encode();
            self.pages[i].ty = ty as u8;
        }
        Ok(())
    }

    fn index(&self, pfn: u64) -> Result<usize, FrameError> {
        if self.contains(pfn) {
            Ok((pfn - self.base) as usize)
        } else {
            Err(FrameError::OutOfRange(pfn))
        }
    }

    fn push(&mut self, pfn: u64, order: usize) {
        let i = (pfn - self.base) as usize;
        let head = self.heads[order];
        self.pages[i].next = head;
        self.pages[i].prev = NONE;
        if head != NONE {
            self.pages[head as usize].prev = i as u32;
        }
        self.heads[order] = i as u32;
        self.pages[i].order = order as u8;
        for tail in &mut self.pages[i + 1..i + (1usize << order)] {
            tail.order = TAIL;
            tail.owner = Owner::Free.encode();
        }
        self.pages[i].owner = Owner::Free.encode();
        self.pages[i].ty = PageType::None as u8;
    }

    fn unlink(&mut self, i: usize, order: usize) {
        let (next, prev) = (self.pages[i].next, self.pages[i].prev);
        if prev == NONE {
            self.heads[order] = next;
        } else {
            self.pages[prev as usize].next = next;
        }
        if next != NONE {
            self.pages[next as usize].prev = prev;
        }
        self.pages[i].next = NONE;
        self.pages[i].prev = NONE;
    }

    /// Gives `[start, end)` (reserved until now) to the allocator.
    pub fn release(&mut self, start: u64, end: u64) -> Result<(), FrameError> {
        self.index(start)?;
        if end > self.end_pfn() {
            return Err(FrameError::OutOfRange(end - 1));
        }
        let mut pfn = start;
        while pfn < end {
            let mut order = MAX_ORDER;
            while order > 0 && (!pfn.is_multiple_of(1 << order) || pfn + (1 << order) > end) {
                order -= 1;
            }
            self.free_block(pfn, order, None)?;
            pfn += 1 << order;
        }
        Ok(())
    }

    /// Allocates 2^order pages for `owner`; refcount starts at 1.
    pub fn alloc(&mut self, order: usize, owner: Owner, ty: PageType) -> Option<u64> {
        if order > MAX_ORDER {
            return None;
        }
        let from = (order..=MAX_ORDER).find(|&o| self.heads[o] != NONE)?;
        let i = self.heads[from] as usize;
        self.unlink(i, from);
        let pfn = self.base + i as u64;
        // Split down, returning upper halves.
        let mut o = from;
        while o > order {
            o -= 1;
            self.push(pfn + (1 << o), o);
        }
        for p in &mut self.pages[i..i + (1usize << order)] {
            p.owner = owner.encode();
            p.ty = ty as u8;
            p.order = TAIL;
            p.refcount = 1;
        }
        self.free -= 1 << order;
        Some(pfn)
    }

    /// Frees 2^order pages at `pfn` owned by `owner`.
    pub fn free(&mut self, pfn: u64, order: usize, owner: Owner) -> Result<(), FrameError> {
        self.free_block(pfn, order, Some(owner))
    }

    fn free_block(
        &mut self,
        pfn: u64,
        order: usize,
        owner: Option<Owner>,
    ) -> Result<(), FrameError> {
        if order > MAX_ORDER || !pfn.is_multiple_of(1 << order) {
            return Err(FrameError::Misaligned { pfn, order });
        }
        let first = self.index(pfn)?;
        self.index(pfn + (1 << order) - 1)?;
        for (k, p) in self.pages[first..first + (1usize << order)]
            .iter()
            .enumerate()
        {
            let this = pfn + k as u64;
            let o = Owner::decode(p.owner);
            match owner {
                _ if o == Owner::Free => return Err(FrameError::DoubleFree(this)),
                Some(want) if o != want => {
                    return Err(FrameError::WrongOwner {
                        pfn: this,
                        owner: o,
                    })
                }
                Some(_) if p.refcount > 1 => {
                    return Err(FrameError::StillReferenced {
                        pfn: this,
                        refcount: p.refcount,
                    });
                }
                None if o != Owner::Reserved => {
                    return Err(FrameError::WrongOwner {
                        pfn: this,
                        owner: o,
                    })
                }
                _ => {}
            }
        }
        for p in &mut self.pages[first..first + (1usize << order)] {
            p.refcount = 0;
        }
        self.free += 1 << order;
        // Coalesce with free buddies.
        let mut pfn = pfn;
        let mut order = order;
        while order < MAX_ORDER {
            let buddy = pfn ^ (1 << order);
            let Ok(bi) = self.index(buddy) else { break };
            if self.index(buddy + (1 << order) - 1).is_err() {
                break;
            }
            let b = &self.pages[bi];
            if b.owner != Owner::Free.encode() || b.order != order as u8 {
                break;
            }
            self.unlink(bi, order);
            pfn = pfn.min(buddy);
            order += 1;
        }
        self.push(pfn, order);
        Ok(())
    }

    /// Takes one more reference on an allocated page.
    pub fn get_ref(&mut self, pfn: u64) -> Result<u32, FrameError> {
        let i = self.index(pfn)?;
        let p = &mut self.pages[i];
        if p.owner == Owner::Free.encode() {
            return Err(FrameError::WrongOwner {
                pfn,
                owner: Owner::Free,
            });
        }
        p.refcount = p.refcount.saturating_add(1);
        Ok(p.refcount)
    }

    /// Drops a reference (never below 1: the owner's reference goes with free).
    pub fn put_ref(&mut self, pfn: u64) -> Result<u32, FrameError> {
        let i = self.index(pfn)?;
        let p = &mut self.pages[i];
        if p.refcount <= 1 {
            return Err(FrameError::StillReferenced {
                pfn,
                refcount: p.refcount,
            });
        }
        p.refcount -= 1;
        Ok(p.refcount)
    }

    /// Checks the free lists against the table (tests and debug builds).
    pub fn check(&self) -> Result<(), &'static str> {
        let mut counted = 0u64;
        for order in 0..=MAX_ORDER {
            let mut i = self.heads[order];
            let mut prev = NONE;
            while i != NONE {
                let p = &self.pages[i as usize];
                if p.owner != Owner::Free.encode() || p.order != order as u8 || p.prev != prev {
                    return Err("free list entry disagrees with the frame table");
                }
                if !(self.base + i as u64).is_multiple_of(1 << order) {
                    return Err("misaligned free block");
                }
                counted += 1 << order;
                prev = i;
                i = p.next;
            }
        }
        if counted != self.free {
            return Err("free count disagrees with the free lists");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn alloc_split_free_coalesce() {
        let mut table = vec![PageInfo::RESERVED; 1024];
        let mut z = Zone::new(0x40000, &mut table);
        z.release(0x40000 + 3, 0x40000 + 1024).unwrap();
        assert_eq!(z.free_pages(), 1021);
        z.check().unwrap();
        let a = z.alloc(4, Owner::Hypervisor, PageType::Heap).unwrap();
        assert_eq!(a % 16, 0);
        let b = z.alloc(0, Owner::Domain(1), PageType::GuestRam).unwrap();
        assert_eq!(z.free_pages(), 1021 - 17);
        z.check().unwrap();
        assert_eq!(
            z.free(b, 0, Owner::Hypervisor),
            Err(FrameError::WrongOwner {
                pfn: b,
                owner: Owner::Domain(1)
            })
        );
        z.get_ref(b).unwrap();
        assert!(matches!(
            z.free(b, 0, Owner::Domain(1)),
            Err(FrameError::StillReferenced { .. })
        ));
        z.put_ref(b).unwrap();
        z.free(b, 0, Owner::Domain(1)).unwrap();
        assert_eq!(
            z.free(b, 0, Owner::Domain(1)),
            Err(FrameError::DoubleFree(b))
        );
        z.free(a, 4, Owner::Hypervisor).unwrap();
        assert_eq!(z.free_pages(), 1021);
        z.check().unwrap();
        // Everything coalesced back: a 512-page block exists again.
        assert!(z.alloc(9, Owner::Hypervisor, PageType::None).is_some());
    }

    #[test]
    fn refuses_bad_input() {
        let mut table = vec![PageInfo::RESERVED; 64];
        let mut z = Zone::new(0x100, &mut table);
        assert_eq!(z.release(0x50, 0x60), Err(FrameError::OutOfRange(0x50)));
        z.release(0x100, 0x140).unwrap();
        assert_eq!(
            z.free(0x101, 1, Owner::Hypervisor),
            Err(FrameError::Misaligned {
                pfn: 0x101,
                order: 1
            })
        );
        assert_eq!(
            z.alloc(MAX_ORDER + 1, Owner::Hypervisor, PageType::None),
            None
        );
        assert_eq!(
            z.alloc(7, Owner::Hypervisor, PageType::None),
            None,
            "only 64 pages"
        );
        let mut got = 0;
        while z.alloc(0, Owner::Hypervisor, PageType::None).is_some() {
            got += 1;
        }
        assert_eq!(got, 64);
        z.check().unwrap();
    }
}
