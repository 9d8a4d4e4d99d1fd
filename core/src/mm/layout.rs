//! The boot-time memory layout: RAM banks from the device tree minus what
//! must not be touched (the image, the DTB, `/memreserve/` entries,
//! `/reserved-memory` nodes, every `/chosen` boot module). Pure logic over
//! a validated [`Fdt`], tested on the host.

use core::fmt;

use crate::addr::{align_down, align_up, PAGE_SIZE};
use crate::fdt::Fdt;

/// Most RAM banks and reserved regions handled.
pub const MAX_REGIONS: usize = 64;

/// A physical range [start, end) with what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub what: &'static str,
}

/// What is wrong with the memory description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    NoMemory,
    /// A memory or module node's `reg` cannot be decoded.
    BadReg {
        node: &'static str,
        why: &'static str,
    },
    /// A bank wraps around or is empty.
    BadBank {
        start: u64,
        size: u64,
    },
    /// Two RAM banks overlap.
    OverlappingBanks {
        a: u64,
        b: u64,
    },
    TooManyRegions,
    /// A boot module lies outside RAM.
    ModuleOutsideRam {
        start: u64,
        end: u64,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::NoMemory => write!(f, "no usable memory node (device_type = \"memory\")"),
            LayoutError::BadReg { node, why } => write!(f, "{node}: bad reg: {why}"),
            LayoutError::BadBank { start, size } => {
                write!(f, "memory bank {start:#x}+{size:#x} is empty or wraps")
            }
            LayoutError::OverlappingBanks { a, b } => {
                write!(f, "memory banks at {a:#x} and {b:#x} overlap")
            }
            LayoutError::TooManyRegions => write!(f, "more than {MAX_REGIONS} memory regions"),
            LayoutError::ModuleOutsideRam { start, end } => {
                write!(f, "boot module {start:#x}-{end:#x} is not inside RAM")
            }
        }
    }
}

/// Fixed-capacity region list (the layout is computed before the heap).
#[derive(Clone, Debug)]
pub struct Regions {
    items: [Region; MAX_REGIONS],
    len: usize,
}

impl Regions {
    pub const fn new() -> Self {
        Regions {
            items: [Region {
                start: 0,
                end: 0,
                what: "",
            }; MAX_REGIONS],
            len: 0,
        }
    }
    pub fn push(&mut self, r: Region) -> Result<(), LayoutError> {
        if self.len == MAX_REGIONS {
            return Err(LayoutError::TooManyRegions);
        }
        self.items[self.len] = r;
        self.len += 1;
        Ok(())
    }
    pub fn as_slice(&self) -> &[Region] {
        &self.items[..self.len]
    }
    fn sort(&mut self) {
        self.items[..self.len].sort_unstable_by_key(|r| r.start);
    }
}

impl Default for Regions {
    fn default() -> Self {
        Self::new()
    }
}

/// RAM and reserved regions, page-granular.
#[derive(Clone, Debug)]
pub struct MemoryLayout {
    pub ram: Regions,
    pub reserved: Regions,
}

impl MemoryLayout {
    /// Reads the layout from the device tree, adding `image` and the DTB
    /// itself (at `dtb_pa`) as reserved.
    pub fn from_fdt(fdt: &Fdt, dtb_pa: u64, image: (u64, u64)) -> Result<Self, LayoutError> {
        let mut ram = Regions::new();
        for node in fdt.root().children() {
            let is_memory = node.property("device_type").and_then(|p| p.as_str()) == Some("memory");
            if !is_memory || !node.is_enabled() {
                continue;
            }
            let reg = node.reg_checked().map_err(|_| LayoutError::BadReg {
                node: "memory",
                why: "malformed",
            })?;
            for &(start, size) in reg.as_slice() {
                let end = start
                    .checked_add(size)
                    .filter(|_| size > 0)
                    .ok_or(LayoutError::BadBank { start, size })?;
                // Whole pages only.
                let (s, e) = (
                    align_up(start, PAGE_SIZE).unwrap_or(u64::MAX),
                    align_down(end, PAGE_SIZE),
                );
                if s < e {
                    ram.push(Region {
                        start: s,
                        end: e,
                        what: "RAM",
                    })?;
                }
            }
        }
        if ram.len == 0 {
            return Err(LayoutError::NoMemory);
        }
        ram.sort();
        for w in ram.as_slice().windows(2) {
            if w[0].end > w[1].start {
                return Err(LayoutError::OverlappingBanks {
                    a: w[0].start,
                    b: w[1].start,
                });
            }
        }

        let mut reserved = Regions::new();
        let mut reserve = |start: u64, size: u64, what: &'static str| -> Result<(), LayoutError> {
            let end = start.saturating_add(size);
            let (s, e) = (
                align_down(start, PAGE_SIZE),
                align_up(end, PAGE_SIZE).unwrap_or(u64::MAX),
            );
            if s < e {
                reserved.push(Region {
                    start: s,
                    end: e,
                    what,
                })?;
            }
            Ok(())
        };
        reserve(image.0, image.1 - image.0, "Tessera image")?;
        reserve(dtb_pa, fdt.total_size() as u64, "device tree")?;
        for (addr, size) in fdt.reservations() {
            reserve(addr, size, "/memreserve/")?;
        }
        if let Some(rm) = fdt.find_node("/reserved-memory") {
            for child in rm.children() {
                for (addr, size) in child.reg() {
                    reserve(addr, size, "/reserved-memory")?;
                }
            }
        }
        if let Some(chosen) = fdt.find_node("/chosen") {
            for node in chosen.descendants().skip(1) {
                if !node.is_compatible("multiboot,module") {
                    continue;
                }
                let reg = node.reg_checked().map_err(|_| LayoutError::BadReg {
                    node: "boot module",
                    why: "malformed",
                })?;
                for &(addr, size) in reg.as_slice() {
                    let end = addr
                        .checked_add(size)
                        .ok_or(LayoutError::ModuleOutsideRam {
                            start: addr,
                            end: u64::MAX,
                        })?;
                    if !ram
                        .as_slice()
                        .iter()
                        .any(|r| r.start <= addr && end <= r.end)
                    {
                        return Err(LayoutError::ModuleOutsideRam { start: addr, end });
                    }
                    reserve(addr, size, "boot module")?;
                }
            }
        }
        reserved.sort();
        Ok(MemoryLayout { ram, reserved })
    }

    /// Calls `f` for every free page range: RAM minus reserved.
    pub fn for_each_free(&self, mut f: impl FnMut(u64, u64)) {
        for bank in self.ram.as_slice() {
            let mut cur = bank.start;
            for r in self.reserved.as_slice() {
                if r.end <= cur || r.start >= bank.end {
                    continue;
                }
                if r.start > cur {
                    f(cur, r.start.min(bank.end));
                }
                cur = cur.max(r.end);
            }
            if cur < bank.end {
                f(cur, bank.end);
            }
        }
    }

    /// Total bytes of RAM.
    pub fn ram_bytes(&self) -> u64 {
        self.ram.as_slice().iter().map(|r| r.end - r.start).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::DtBuilder;
    use std::vec::Vec;

    fn tree(extra_chosen: impl FnOnce(&mut DtBuilder)) -> Vec<u8> {
        let mut b = DtBuilder::new();
        b.begin("");
        b.prop_u32("#address-cells", 2);
        b.prop_u32("#size-cells", 2);
        b.begin("memory@40000000");
        b.prop_str("device_type", "memory");
        b.prop_cells("reg", &[0, 0x4000_0000, 0, 0x4000_0000]);
        b.end();
        b.begin("chosen");
        b.prop_u32("#address-cells", 2);
        b.prop_u32("#size-cells", 2);
        extra_chosen(&mut b);
        b.end();
        b.end();
        b.finish(&[(0x4800_0000, 0x1000)])
    }

    #[test]
    fn free_ranges_skip_everything_reserved() {
        let blob = tree(|b| {
            b.begin("module@44000000");
            b.prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
            b.prop_cells("reg", &[0, 0x4400_0000, 0, 0x1800]);
            b.end();
        });
        let fdt = Fdt::new(&blob).unwrap();
        let l = MemoryLayout::from_fdt(&fdt, 0x4000_0000, (0x4020_0000, 0x4030_0000)).unwrap();
        let mut free = Vec::new();
        l.for_each_free(|s, e| free.push((s, e)));
        assert_eq!(
            free,
            [
                (0x4000_1000, 0x4020_0000),
                (0x4030_0000, 0x4400_0000),
                (0x4400_2000, 0x4800_0000),
                (0x4800_1000, 0x8000_0000)
            ]
        );
        assert_eq!(l.ram_bytes(), 0x4000_0000);
    }

    #[test]
    fn modules_outside_ram_are_refused() {
        let blob = tree(|b| {
            b.begin("module@1000");
            b.prop_strs("compatible", &["multiboot,module"]);
            b.prop_cells("reg", &[0, 0x1000, 0, 0x1000]);
            b.end();
        });
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(
            MemoryLayout::from_fdt(&fdt, 0x4000_0000, (0x4020_0000, 0x4030_0000)).unwrap_err(),
            LayoutError::ModuleOutsideRam {
                start: 0x1000,
                end: 0x2000
            }
        );
    }
}
