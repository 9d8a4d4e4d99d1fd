//! Builder for EL2 stage-1 page tables (4 KiB granule, 4 levels, 48-bit
//! VA). Pure logic over a [`TableMemory`], so it is tested on the host with
//! fake memory. Mappings only ever go into invalid entries: replacing a
//! live entry would need break-before-make, and nothing needs that yet, so
//! it is refused.

use crate::layout::{DESC_TABLE_OR_PAGE, DESC_VALID, OUTPUT_ADDR_MASK, PAGE_SIZE};

/// Where table pages come from and how to reach them.
pub trait TableMemory {
    /// A zeroed page for a new table; its physical address.
    fn alloc_table(&mut self) -> Option<u64>;
    /// The table at physical address `pa`.
    fn table(&mut self, pa: u64) -> &mut [u64; 512];
}

/// Why a mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    NoMemory,
    Misaligned {
        va: u64,
        pa: u64,
        size: u64,
    },
    /// An entry in the way is already valid.
    AlreadyMapped {
        va: u64,
    },
}

const LEVEL_SHIFT: [u32; 4] = [39, 30, 21, 12];

fn index(va: u64, level: usize) -> usize {
    ((va >> LEVEL_SHIFT[level]) & 0x1ff) as usize
}

/// Maps `[va, va + size)` to `[pa, pa + size)` with `attrs` (AttrIndx, AP,
/// SH, AF, XN bits). With `blocks`, uses 1 GiB and 2 MiB blocks where both
/// addresses are aligned.
pub fn map(
    mem: &mut impl TableMemory,
    root: u64,
    va: u64,
    pa: u64,
    size: u64,
    attrs: u64,
    blocks: bool,
) -> Result<(), MapError> {
    map_from(mem, root, 0, 48, va, pa, size, attrs, blocks)
}

/// Like [`map`] for tables whose walk starts at `start_level` and whose
/// input addresses have `bits` bits (stage 2 starts at level 1 with 39).
#[allow(clippy::too_many_arguments)]
pub fn map_from(
    mem: &mut impl TableMemory,
    root: u64,
    start_level: usize,
    bits: u32,
    va: u64,
    pa: u64,
    size: u64,
    attrs: u64,
    blocks: bool,
) -> Result<(), MapError> {
    let mask = PAGE_SIZE - 1;
    if va & mask != 0
        || pa & mask != 0
        || size & mask != 0
        || va.checked_add(size).is_none_or(|e| e > 1 << bits)
    {
        return Err(MapError::Misaligned { va, pa, size });
    }
    let mut off = 0;
    while off < size {
        let (v, p, left) = (va + off, pa + off, size - off);
        let mut level = 3;
        if blocks {
            for l in [1usize, 2].into_iter().filter(|&l| l >= start_level.max(1)) {
                let bsize = 1u64 << LEVEL_SHIFT[l];
                if v % bsize == 0 && p % bsize == 0 && left >= bsize {
                    level = l;
                    break;
                }
            }
        }
        map_one(mem, root, start_level, v, p, level, attrs)?;
        off += 1u64 << LEVEL_SHIFT[level];
    }
    Ok(())
}

fn map_one(
    mem: &mut impl TableMemory,
    root: u64,
    start_level: usize,
    va: u64,
    pa: u64,
    leaf_level: usize,
    attrs: u64,
) -> Result<(), MapError> {
    let mut table = root;
    for level in start_level..leaf_level {
        let i = index(va, level);
        let entry = mem.table(table)[i];
        if entry & DESC_VALID == 0 {
            let new = mem.alloc_table().ok_or(MapError::NoMemory)?;
            mem.table(new).fill(0);
            mem.table(table)[i] = new | DESC_VALID | DESC_TABLE_OR_PAGE;
            table = new;
        } else if entry & DESC_TABLE_OR_PAGE == 0 {
            return Err(MapError::AlreadyMapped { va }); // a block covers it
        } else {
            table = entry & OUTPUT_ADDR_MASK;
        }
    }
    let i = index(va, leaf_level);
    let slot = &mut mem.table(table)[i];
    if *slot & DESC_VALID != 0 {
        return Err(MapError::AlreadyMapped { va });
    }
    let kind = if leaf_level == 3 {
        DESC_VALID | DESC_TABLE_OR_PAGE
    } else {
        DESC_VALID
    };
    *slot = (pa & OUTPUT_ADDR_MASK) | attrs | kind;
    Ok(())
}

/// Replaces the 4 KiB translation of `va` with `new` (`Some((pa, attrs))`)
/// or removes it (`None`), splitting a block that covers `va` into the
/// next level's entries first. Live entries change break-before-make: the
/// old entry is invalidated and `flush` is called (it must invalidate the
/// TLBs of everyone using these tables) before the new one is written.
/// Returns the 4 KiB leaf that was there (0: nothing mapped). On
/// `NoMemory` every address still translates as before (a block may have
/// been split into equivalent entries).
pub fn set_page(
    mem: &mut impl TableMemory,
    root: u64,
    start_level: usize,
    va: u64,
    new: Option<(u64, u64)>,
    flush: &mut impl FnMut(),
) -> Result<u64, MapError> {
    if va & (PAGE_SIZE - 1) != 0 {
        return Err(MapError::Misaligned {
            va,
            pa: 0,
            size: PAGE_SIZE,
        });
    }
    let mut table = root;
    for level in start_level..3 {
        let i = index(va, level);
        let entry = mem.table(table)[i];
        if entry & DESC_VALID == 0 {
            if new.is_none() {
                return Ok(0);
            }
            let t = mem.alloc_table().ok_or(MapError::NoMemory)?;
            mem.table(t).fill(0);
            mem.table(table)[i] = t | DESC_VALID | DESC_TABLE_OR_PAGE;
            table = t;
        } else if entry & DESC_TABLE_OR_PAGE != 0 {
            table = entry & OUTPUT_ADDR_MASK;
        } else {
            // A block: the same translation one level down, then swap.
            let t = mem.alloc_table().ok_or(MapError::NoMemory)?;
            let child = 1u64 << LEVEL_SHIFT[level + 1];
            let base = entry & OUTPUT_ADDR_MASK;
            let attrs = entry & !OUTPUT_ADDR_MASK & !(DESC_VALID | DESC_TABLE_OR_PAGE);
            let kind = if level + 1 == 3 {
                DESC_VALID | DESC_TABLE_OR_PAGE
            } else {
                DESC_VALID
            };
            for (j, e) in mem.table(t).iter_mut().enumerate() {
                *e = (base + j as u64 * child) | attrs | kind;
            }
            mem.table(table)[i] = 0;
            flush();
            mem.table(table)[i] = t | DESC_VALID | DESC_TABLE_OR_PAGE;
            table = t;
        }
    }
    let i = index(va, 3);
    let old = mem.table(table)[i];
    if old & DESC_VALID != 0 {
        mem.table(table)[i] = 0;
        flush();
    }
    if let Some((pa, attrs)) = new {
        mem.table(table)[i] = (pa & OUTPUT_ADDR_MASK) | attrs | DESC_VALID | DESC_TABLE_OR_PAGE;
    }
    Ok(if old & DESC_VALID != 0 { old } else { 0 })
}

/// Walks the tables for `va`: the leaf descriptor and its level.
pub fn lookup(mem: &mut impl TableMemory, root: u64, va: u64) -> Option<(u64, usize)> {
    lookup_from(mem, root, 0, va)
}

/// [`lookup`] for tables whose walk starts at `start_level`.
pub fn lookup_from(
    mem: &mut impl TableMemory,
    root: u64,
    start_level: usize,
    va: u64,
) -> Option<(u64, usize)> {
    let mut table = root;
    for level in start_level..4 {
        let entry = mem.table(table)[index(va, level)];
        if entry & DESC_VALID == 0 {
            return None;
        }
        if level == 3 || entry & DESC_TABLE_OR_PAGE == 0 {
            return Some((entry, level));
        }
        table = entry & OUTPUT_ADDR_MASK;
    }
    None
}

/// Calls `f` with every table page below `root` (not `root` itself),
/// children before parents, so a caller can free them all.
pub fn for_each_table(
    mem: &mut impl TableMemory,
    root: u64,
    start_level: usize,
    f: &mut impl FnMut(u64),
) {
    fn walk(mem: &mut impl TableMemory, table: u64, level: usize, f: &mut impl FnMut(u64)) {
        if level >= 3 {
            return;
        }
        let entries = *mem.table(table);
        for e in entries {
            if e & DESC_VALID != 0 && e & DESC_TABLE_OR_PAGE != 0 {
                let child = e & OUTPUT_ADDR_MASK;
                walk(mem, child, level + 1, f);
                f(child);
            }
        }
    }
    walk(mem, root, start_level, f);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::layout::*;
    use std::boxed::Box;
    use std::collections::BTreeMap;

    struct Fake {
        pages: BTreeMap<u64, Box<[u64; 512]>>,
        next: u64,
        limit: usize,
    }
    impl TableMemory for Fake {
        fn alloc_table(&mut self) -> Option<u64> {
            if self.pages.len() >= self.limit {
                return None;
            }
            let pa = self.next;
            self.next += 4096;
            self.pages.insert(pa, Box::new([0xdead; 512]));
            Some(pa)
        }
        fn table(&mut self, pa: u64) -> &mut [u64; 512] {
            self.pages.get_mut(&pa).expect("table exists")
        }
    }

    fn fake(limit: usize) -> (Fake, u64) {
        let mut f = Fake {
            pages: BTreeMap::new(),
            next: 0x1000_0000,
            limit,
        };
        let root = f.alloc_table().unwrap();
        f.table(root).fill(0);
        (f, root)
    }

    #[test]
    fn set_page_splits_blocks_and_breaks_before_make() {
        let (mut m, root) = fake(16);
        // A 1 GiB block and a 2 MiB block of a stage 2 (walk from level 1).
        map_from(
            &mut m,
            root,
            1,
            39,
            0x4000_0000,
            0x8000_0000,
            0x4020_0000,
            ATTR_RW_NX,
            true,
        )
        .unwrap();
        let mut flushes = 0;
        // Inside the 1 GiB block: split to 2 MiB blocks, then to pages.
        let old = set_page(
            &mut m,
            root,
            1,
            0x4000_5000,
            Some((0x9999_0000, ATTR_RW_NX)),
            &mut || flushes += 1,
        )
        .unwrap();
        assert_eq!(old & OUTPUT_ADDR_MASK, 0x8000_5000);
        assert_eq!(flushes, 3, "two splits and one replacement");
        let pa = |m: &mut Fake, va: u64| {
            let (leaf, level) = lookup_from(m, root, 1, va).unwrap();
            let span = 1u64 << LEVEL_SHIFT[level];
            (leaf & OUTPUT_ADDR_MASK & !(span - 1)) | (va & (span - 1))
        };
        assert_eq!(pa(&mut m, 0x4000_5000), 0x9999_0000);
        assert_eq!(pa(&mut m, 0x4000_4abc), 0x8000_4abc);
        assert_eq!(pa(&mut m, 0x4000_6000), 0x8000_6000);
        assert_eq!(pa(&mut m, 0x4123_4000), 0x8123_4000);
        assert_eq!(pa(&mut m, 0x8010_0000), 0xc010_0000);
        assert_eq!(lookup_from(&mut m, root, 1, 0x4123_4000).unwrap().1, 2);
        // Removing: the old leaf comes back, the hole stays a hole.
        let mut flushes = 0;
        let old = set_page(&mut m, root, 1, 0x4000_5000, None, &mut || flushes += 1).unwrap();
        assert_eq!((old & OUTPUT_ADDR_MASK, flushes), (0x9999_0000, 1));
        assert!(lookup_from(&mut m, root, 1, 0x4000_5000).is_none());
        assert_eq!(
            set_page(&mut m, root, 1, 0x4000_5000, None, &mut || flushes += 1),
            Ok(0)
        );
        assert_eq!(
            set_page(&mut m, root, 1, 0x7000_0000_0000, None, &mut || {}),
            Ok(0)
        );
        // Mapping where nothing was: no flush needed.
        let mut flushes = 0;
        set_page(
            &mut m,
            root,
            1,
            0x3800_0000,
            Some((0x1234_5000, ATTR_RW_NX)),
            &mut || flushes += 1,
        )
        .unwrap();
        assert_eq!((pa(&mut m, 0x3800_0010), flushes), (0x1234_5010, 0));
        assert!(matches!(
            set_page(&mut m, root, 1, 0x3800_0800, None, &mut || {}),
            Err(MapError::Misaligned { .. })
        ));
    }

    #[test]
    fn blocks_where_aligned_pages_elsewhere() {
        let (mut m, root) = fake(16);
        // 1 GiB + 2 MiB + 4 KiB, starting 1 GiB aligned.
        let va = DIRECTMAP_BASE + 0x4000_0000;
        map(&mut m, root, va, 0x4000_0000, 0x4020_1000, ATTR_RW_NX, true).unwrap();
        assert_eq!(lookup(&mut m, root, va).unwrap().1, 1);
        assert_eq!(lookup(&mut m, root, va + 0x4000_0000).unwrap().1, 2);
        let (leaf, level) = lookup(&mut m, root, va + 0x4020_0000).unwrap();
        assert_eq!(level, 3);
        assert_eq!(leaf & OUTPUT_ADDR_MASK, 0x8020_0000);
        assert_eq!(leaf & XN, XN);
        assert!(lookup(&mut m, root, va + 0x4020_1000).is_none());
        // root, L1, L2, L3
        assert_eq!(m.pages.len(), 4);
    }

    #[test]
    fn refuses_overlaps_misalignment_and_exhaustion() {
        let (mut m, root) = fake(4);
        map(
            &mut m,
            root,
            VMAP_BASE,
            0x4000_0000,
            0x2000,
            ATTR_RW_NX,
            false,
        )
        .unwrap();
        assert_eq!(
            map(
                &mut m,
                root,
                VMAP_BASE + 0x1000,
                0x5000_0000,
                0x1000,
                ATTR_RW_NX,
                false
            ),
            Err(MapError::AlreadyMapped {
                va: VMAP_BASE + 0x1000
            })
        );
        assert!(matches!(
            map(&mut m, root, VMAP_BASE + 1, 0, 0x1000, 0, false),
            Err(MapError::Misaligned { .. })
        ));
        // A far-away VA needs three new tables; only 0 are left.
        assert_eq!(
            map(
                &mut m,
                root,
                IOREMAP_BASE,
                0x900_0000,
                0x1000,
                ATTR_DEVICE,
                false
            ),
            Err(MapError::NoMemory)
        );
    }

    #[test]
    fn stage2_walk_starts_at_level_1_and_every_table_is_found_for_freeing() {
        let (mut m, root) = fake(16);
        // 39-bit IPA space: a 1 GiB block at 0x4000_0000 sits in the root (level 1).
        map_from(
            &mut m,
            root,
            1,
            39,
            0x4000_0000,
            0x8000_0000,
            0x4000_0000,
            ATTR_RW_NX,
            true,
        )
        .unwrap();
        assert_eq!(lookup_from(&mut m, root, 1, 0x4000_1000).unwrap().1, 1);
        map_from(
            &mut m,
            root,
            1,
            39,
            0x2200_0000,
            0x9000_0000,
            0x1000,
            ATTR_RW_NX,
            true,
        )
        .unwrap();
        assert_eq!(lookup_from(&mut m, root, 1, 0x2200_0000).unwrap().1, 3);
        assert!(
            map_from(&mut m, root, 1, 39, 1 << 39, 0, 0x1000, 0, false).is_err(),
            "beyond the IPA size"
        );
        let mut tables = std::vec::Vec::new();
        for_each_table(&mut m, root, 1, &mut |t| tables.push(t));
        assert_eq!(tables.len(), 2, "one L2 and one L3 for the 4 KiB page");
    }
}
