//! Planning where a domU's kernel, device tree and initrd go in its RAM.
//! Nothing is copied here: [`plan`] turns a kernel image into a list of
//! copies and zero-fills plus an entry point, and [`place_blobs`] picks the
//! DTB and initrd addresses; the caller does the copying into the guest.
//!
//! Two kernel formats:
//!
//! - the arm64 Linux `Image` (Linux `Documentation/arch/arm64/booting.rst`,
//!   which Xen's `docs/misc/arm/booting.txt` follows): a 64-byte
//!   little-endian header with `text_offset` at 8, `image_size` at 16,
//!   `flags` at 24 and the magic `"ARM\x64"` at 0x38. It is placed the way
//!   Xen's `kernel_zimage_place` places a 64-bit Image: at the start of
//!   the first RAM bank (2 MiB aligned, as booting.rst requires) plus
//!   `text_offset`;
//! - ELF64 AArch64 executables (`ET_EXEC`), for small test kernels: each
//!   `PT_LOAD` segment at its physical address, the entry translated from
//!   its virtual address. Xen itself loads ELF only through the toolstack.
//!
//! The image is hostile input: every header field is bounds-checked and
//! every address computation is checked for overflow.

use alloc::vec::Vec;
use core::fmt;

const MIB: u64 = 1 << 20;
/// booting.rst: the Image sits `text_offset` bytes above a 2 MiB aligned
/// base; Xen's `place_modules` also rounds the DTB and initrd to 2 MiB.
const ALIGN_2M: u64 = 2 * MIB;
/// Linux's arm64 limit on the DTB (`MAX_FDT_SIZE`, asm/boot.h) and its
/// required alignment (`MIN_FDT_ALIGN`).
pub const MAX_DTB_SIZE: u64 = 2 * MIB;
const DTB_ALIGN: u64 = 8;

const IMAGE_HEADER_LEN: usize = 64;
/// `"ARM\x64"` read little-endian.
const IMAGE_MAGIC: u32 = 0x644d_5241;
const IMAGE_MAGIC_OFFSET: usize = 0x38;
/// booting.rst: with `image_size` 0 (kernels before 3.17) `text_offset`
/// is 0x80000 whatever the header says.
const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
const IMAGE_FLAG_BE: u64 = 1 << 0;

const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
const EM_AARCH64: u16 = 183;
const ELF_HEADER_LEN: usize = 64;
const PHDR_LEN: usize = 56;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
/// Most program headers read (real kernels have a handful).
pub const MAX_PHDRS: usize = 64;
/// Most loadable segments.
pub const MAX_LOAD_SEGMENTS: usize = 16;

/// Which format [`plan`] recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFormat {
    /// arm64 Linux `Image`.
    Arm64Image,
    /// ELF64 AArch64 executable.
    Elf,
}

/// Copy `len` bytes from `image[src_offset..]` to guest physical
/// `guest_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    /// Offset in the image.
    pub src_offset: usize,
    /// Bytes to copy.
    pub len: usize,
    /// Guest physical destination.
    pub guest_addr: u64,
}

/// Where the kernel goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPlan {
    /// The format found.
    pub format: KernelFormat,
    /// What to copy from the image.
    pub copies: Vec<Copy>,
    /// Guest ranges `(addr, len)` to zero (ELF `.bss`; the Image's tail up
    /// to `image_size`, which Linux does not require but costs little and
    /// keeps the guest's memory deterministic).
    pub zero: Vec<(u64, u64)>,
    /// Guest physical address the vCPU starts at.
    pub entry: u64,
    /// `[start, end)` of guest memory the kernel owns (for an Image,
    /// `image_size` bytes from the load address).
    pub kernel_range: (u64, u64),
}

/// Why a kernel cannot be loaded or the blobs placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// Neither an ELF nor an arm64 Image (the magic at 0x38 is shown).
    UnknownFormat { magic: u32 },
    /// The image ends before the header or table it announces.
    Truncated {
        what: &'static str,
        need: u64,
        have: u64,
    },
    /// A big-endian Image (flags bit 0).
    BigEndianImage,
    /// `text_offset` not a multiple of 4 KiB.
    BadTextOffset { text_offset: u64 },
    /// No RAM bank given.
    NoRam,
    /// A RAM bank that is empty or wraps.
    BadRam { base: u64, size: u64 },
    /// The kernel does not fit in the first RAM bank.
    KernelOutsideRam { start: u64, end: u64 },
    /// An ELF identification byte or header field this loader refuses.
    BadElf { field: &'static str, value: u64 },
    /// A program header that is inconsistent (`filesz > memsz`, file range
    /// outside the image, address range wrapping).
    BadSegment { index: usize, why: &'static str },
    /// A segment not inside one RAM bank.
    SegmentOutsideRam { index: usize, start: u64, end: u64 },
    /// Two segments overlap in guest memory.
    SegmentsOverlap { a: usize, b: usize },
    /// More program headers or loadable segments than allowed.
    TooManySegments { count: usize },
    /// No `PT_LOAD` segment with memory.
    NoLoadableSegment,
    /// `e_entry` is in no loadable segment.
    EntryOutsideSegments { entry: u64 },
    /// `e_entry` is in a segment that is not executable.
    EntryNotExecutable { entry: u64 },
    /// `e_entry` is not 4-byte aligned.
    EntryMisaligned { entry: u64 },
    /// A DTB or initrd length that is 0 or, for the DTB, above 2 MiB.
    BadBlobSize { what: &'static str, size: u64 },
    /// The kernel is not in the first RAM bank, where the blobs go.
    KernelNotInFirstBank { start: u64, end: u64 },
    /// Kernel, DTB and initrd do not fit in the first RAM bank.
    NoRoomForBlobs { needed: u64, bank_size: u64 },
    /// The DTB would land at an address that is not 8-byte aligned.
    MisalignedDtb { addr: u64 },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LoadError as E;
        match *self {
            E::UnknownFormat { magic } => write!(
                f,
                "kernel: neither ELF nor an arm64 Image (magic {magic:#010x} at 0x38)"
            ),
            E::Truncated { what, need, have } => write!(
                f,
                "kernel: {what} needs {need:#x} bytes, the image has {have:#x}"
            ),
            E::BigEndianImage => write!(f, "kernel: big-endian Image not supported"),
            E::BadTextOffset { text_offset } => write!(
                f,
                "kernel: Image text_offset {text_offset:#x} is not 4 KiB aligned"
            ),
            E::NoRam => write!(f, "kernel: the guest has no RAM"),
            E::BadRam { base, size } => {
                write!(f, "kernel: RAM bank {base:#x}+{size:#x} is empty or wraps")
            }
            E::KernelOutsideRam { start, end } => write!(
                f,
                "kernel: {start:#x}-{end:#x} does not fit in the first RAM bank"
            ),
            E::BadElf { field, value } => {
                write!(f, "kernel: ELF {field} = {value:#x} not supported")
            }
            E::BadSegment { index, why } => {
                write!(f, "kernel: ELF program header {index}: {why}")
            }
            E::SegmentOutsideRam { index, start, end } => write!(
                f,
                "kernel: ELF segment {index} at {start:#x}-{end:#x} is not inside one RAM bank"
            ),
            E::SegmentsOverlap { a, b } => {
                write!(f, "kernel: ELF segments {a} and {b} overlap")
            }
            E::TooManySegments { count } => write!(
                f,
                "kernel: {count} ELF segments (at most {MAX_PHDRS} headers, {MAX_LOAD_SEGMENTS} loadable)"
            ),
            E::NoLoadableSegment => write!(f, "kernel: ELF has no loadable segment"),
            E::EntryOutsideSegments { entry } => {
                write!(f, "kernel: ELF entry {entry:#x} is in no loadable segment")
            }
            E::EntryNotExecutable { entry } => write!(
                f,
                "kernel: ELF entry {entry:#x} is in a non-executable segment"
            ),
            E::EntryMisaligned { entry } => {
                write!(f, "kernel: entry {entry:#x} is not 4-byte aligned")
            }
            E::BadBlobSize { what, size } => write!(f, "{what}: bad size {size:#x}"),
            E::KernelNotInFirstBank { start, end } => write!(
                f,
                "kernel at {start:#x}-{end:#x} is not in the first RAM bank, where the DTB and initrd go"
            ),
            E::NoRoomForBlobs { needed, bank_size } => write!(
                f,
                "kernel, DTB and initrd need {needed:#x} bytes, the first RAM bank has {bank_size:#x}"
            ),
            E::MisalignedDtb { addr } => {
                write!(f, "DTB address {addr:#x} is not 8-byte aligned")
            }
        }
    }
}

fn le16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(s);
    Some(u64::from_le_bytes(w))
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    Some(x.checked_add(a - 1)? & !(a - 1))
}

/// Checks the RAM banks and returns them with their ends.
fn check_ram(ram: &[(u64, u64)]) -> Result<(), LoadError> {
    if ram.is_empty() {
        return Err(LoadError::NoRam);
    }
    for &(base, size) in ram {
        if size == 0 || base.checked_add(size).is_none() {
            return Err(LoadError::BadRam { base, size });
        }
    }
    Ok(())
}

/// Plans loading `image` into a guest whose RAM is `ram` (`(base, size)`
/// banks, the first being where an Image goes).
pub fn plan(image: &[u8], ram: &[(u64, u64)]) -> Result<KernelPlan, LoadError> {
    check_ram(ram)?;
    if image.starts_with(&ELF_MAGIC) {
        return plan_elf(image, ram);
    }
    match le32(image, IMAGE_MAGIC_OFFSET) {
        Some(IMAGE_MAGIC) => plan_image(image, ram),
        Some(magic) => Err(LoadError::UnknownFormat { magic }),
        None => Err(LoadError::Truncated {
            what: "arm64 Image header",
            need: IMAGE_HEADER_LEN as u64,
            have: image.len() as u64,
        }),
    }
}

fn plan_image(image: &[u8], ram: &[(u64, u64)]) -> Result<KernelPlan, LoadError> {
    let truncated = LoadError::Truncated {
        what: "arm64 Image header",
        need: IMAGE_HEADER_LEN as u64,
        have: image.len() as u64,
    };
    if image.len() < IMAGE_HEADER_LEN {
        return Err(truncated);
    }
    let header_text_offset = le64(image, 8).ok_or(truncated)?;
    let image_size = le64(image, 16).ok_or(truncated)?;
    let flags = le64(image, 24).ok_or(truncated)?;
    let file_len = image.len() as u64;
    let (text_offset, size) = if image_size == 0 {
        // Before Linux 3.17: fixed text_offset, size unknown beyond the file.
        (LEGACY_TEXT_OFFSET, file_len)
    } else {
        if flags & IMAGE_FLAG_BE != 0 {
            return Err(LoadError::BigEndianImage);
        }
        (header_text_offset, image_size.max(file_len))
    };
    if !text_offset.is_multiple_of(4096) {
        return Err(LoadError::BadTextOffset { text_offset });
    }
    // Flags bit 3 ("may be placed anywhere") only widens the choice; like
    // Xen, use the start of the first bank either way, which also
    // satisfies "as close as possible to the base of DRAM".
    let (bank_base, bank_size) = ram[0];
    let bank_end = bank_base.saturating_add(bank_size);
    let outside = |start: u64| LoadError::KernelOutsideRam {
        start,
        end: start.saturating_add(size),
    };
    let base = align_up(bank_base, ALIGN_2M).ok_or(outside(bank_base))?;
    let load = base.checked_add(text_offset).ok_or(outside(base))?;
    let end = load.checked_add(size).ok_or(outside(load))?;
    if end > bank_end {
        return Err(outside(load));
    }
    let mut zero = Vec::new();
    if size > file_len {
        zero.push((load + file_len, size - file_len));
    }
    Ok(KernelPlan {
        format: KernelFormat::Arm64Image,
        copies: alloc::vec![Copy {
            src_offset: 0,
            len: image.len(),
            guest_addr: load,
        }],
        zero,
        entry: load,
        kernel_range: (load, end),
    })
}

/// One `PT_LOAD` segment with memory.
struct Segment {
    index: usize,
    flags: u32,
    offset: usize,
    filesz: usize,
    vaddr: u64,
    paddr: u64,
    memsz: u64,
}

fn plan_elf(image: &[u8], ram: &[(u64, u64)]) -> Result<KernelPlan, LoadError> {
    let have = image.len() as u64;
    if image.len() < ELF_HEADER_LEN {
        return Err(LoadError::Truncated {
            what: "ELF header",
            need: ELF_HEADER_LEN as u64,
            have,
        });
    }
    let bad = |field, value: u64| LoadError::BadElf { field, value };
    let ident = |i: usize| image[i];
    if ident(4) != ELFCLASS64 {
        return Err(bad("EI_CLASS", ident(4).into()));
    }
    if ident(5) != ELFDATA2LSB {
        return Err(bad("EI_DATA", ident(5).into()));
    }
    if ident(6) != EV_CURRENT {
        return Err(bad("EI_VERSION", ident(6).into()));
    }
    // The header is 64 bytes long, so these reads cannot fail.
    let h16 = |off| le16(image, off).unwrap_or(0);
    let e_type = h16(16);
    if e_type != ET_EXEC {
        return Err(bad("e_type", e_type.into()));
    }
    let e_machine = h16(18);
    if e_machine != EM_AARCH64 {
        return Err(bad("e_machine", e_machine.into()));
    }
    let e_version = le32(image, 20).unwrap_or(0);
    if e_version != u32::from(EV_CURRENT) {
        return Err(bad("e_version", e_version.into()));
    }
    let e_entry = le64(image, 24).unwrap_or(0);
    let e_phoff = le64(image, 32).unwrap_or(0);
    let e_phentsize = h16(54);
    let e_phnum = usize::from(h16(56));
    if usize::from(e_phentsize) != PHDR_LEN {
        return Err(bad("e_phentsize", e_phentsize.into()));
    }
    if e_phnum > MAX_PHDRS {
        return Err(LoadError::TooManySegments { count: e_phnum });
    }
    let table_len = (e_phnum * PHDR_LEN) as u64;
    let table_end = e_phoff.checked_add(table_len).filter(|&e| e <= have);
    let Some(_) = table_end else {
        return Err(LoadError::Truncated {
            what: "ELF program headers",
            need: e_phoff.saturating_add(table_len),
            have,
        });
    };
    // e_phoff + table_len <= image.len(), so it fits in usize.
    let phoff = e_phoff as usize;

    let mut segs: Vec<Segment> = Vec::new();
    for index in 0..e_phnum {
        let ph = &image[phoff + index * PHDR_LEN..phoff + (index + 1) * PHDR_LEN];
        let p32 = |off| le32(ph, off).unwrap_or(0);
        let p64 = |off| le64(ph, off).unwrap_or(0);
        if p32(0) != PT_LOAD {
            continue;
        }
        let (flags, offset, vaddr, paddr, filesz, memsz) =
            (p32(4), p64(8), p64(16), p64(24), p64(32), p64(40));
        let seg_err = |why| LoadError::BadSegment { index, why };
        if filesz > memsz {
            return Err(seg_err("p_filesz is larger than p_memsz"));
        }
        if memsz == 0 {
            continue;
        }
        if offset.checked_add(filesz).is_none_or(|end| end > have) {
            return Err(seg_err("file range lies outside the image"));
        }
        if paddr.checked_add(memsz).is_none() || vaddr.checked_add(memsz).is_none() {
            return Err(seg_err("address range wraps"));
        }
        if segs.len() == MAX_LOAD_SEGMENTS {
            return Err(LoadError::TooManySegments {
                count: MAX_LOAD_SEGMENTS + 1,
            });
        }
        segs.push(Segment {
            index,
            flags,
            // Both bounded by image.len() just above.
            offset: offset as usize,
            filesz: filesz as usize,
            vaddr,
            paddr,
            memsz,
        });
    }
    if segs.is_empty() {
        return Err(LoadError::NoLoadableSegment);
    }
    for s in &segs {
        let end = s.paddr + s.memsz;
        let inside = ram
            .iter()
            .any(|&(b, size)| b <= s.paddr && end <= b.saturating_add(size));
        if !inside {
            return Err(LoadError::SegmentOutsideRam {
                index: s.index,
                start: s.paddr,
                end,
            });
        }
    }
    let mut order: Vec<&Segment> = segs.iter().collect();
    order.sort_by_key(|s| s.paddr);
    for w in order.windows(2) {
        if w[0].paddr + w[0].memsz > w[1].paddr {
            let (a, b) = (w[0].index.min(w[1].index), w[0].index.max(w[1].index));
            return Err(LoadError::SegmentsOverlap { a, b });
        }
    }
    let seg = segs
        .iter()
        .find(|s| s.vaddr <= e_entry && e_entry - s.vaddr < s.memsz)
        .ok_or(LoadError::EntryOutsideSegments { entry: e_entry })?;
    if seg.flags & PF_X == 0 {
        return Err(LoadError::EntryNotExecutable { entry: e_entry });
    }
    let entry = seg.paddr + (e_entry - seg.vaddr);
    if !entry.is_multiple_of(4) {
        return Err(LoadError::EntryMisaligned { entry });
    }

    let mut copies = Vec::new();
    let mut zero = Vec::new();
    for s in &segs {
        if s.filesz > 0 {
            copies.push(Copy {
                src_offset: s.offset,
                len: s.filesz,
                guest_addr: s.paddr,
            });
        }
        let filesz = s.filesz as u64;
        if s.memsz > filesz {
            zero.push((s.paddr + filesz, s.memsz - filesz));
        }
    }
    let start = order[0].paddr;
    let end = order
        .iter()
        .map(|s| s.paddr + s.memsz)
        .max()
        .unwrap_or(start);
    Ok(KernelPlan {
        format: KernelFormat::Elf,
        copies,
        zero,
        entry,
        kernel_range: (start, end),
    })
}

/// Places the DTB and the initrd (if any) in the first RAM bank, with the
/// rule of Xen's `place_modules` (xen/arch/arm/kernel.c), which
/// `construct_domU` uses through `kernel_load`:
///
/// both are rounded up to 2 MiB and kept together, DTB first, initrd right
/// after it; they go at RAM start + 128 MiB if the kernel ends below that
/// and they fit, else at the top of the bank if that is above the
/// kernel's end (rounded to 2 MiB), else right below the kernel.
///
/// One departure: Xen takes the kernel's end as load address + file size;
/// this uses [`KernelPlan::kernel_range`], which for an Image covers
/// `image_size` (the kernel's BSS), so the blobs never land in it.
pub fn place_blobs(
    plan: &KernelPlan,
    ram: &[(u64, u64)],
    dtb_len: u64,
    initrd_len: Option<u64>,
) -> Result<(u64, Option<u64>), LoadError> {
    check_ram(ram)?;
    if dtb_len == 0 || dtb_len > MAX_DTB_SIZE {
        return Err(LoadError::BadBlobSize {
            what: "DTB",
            size: dtb_len,
        });
    }
    if initrd_len == Some(0) {
        return Err(LoadError::BadBlobSize {
            what: "initrd",
            size: 0,
        });
    }
    let (rambase, ramsize) = ram[0];
    let ramend = rambase + ramsize; // check_ram: no wrap
    let (kernbase, kernend) = plan.kernel_range;
    if kernbase < rambase || kernend > ramend || kernbase > kernend {
        return Err(LoadError::KernelNotInFirstBank {
            start: kernbase,
            end: kernend,
        });
    }
    let too_big = |needed| LoadError::NoRoomForBlobs {
        needed,
        bank_size: ramsize,
    };
    let dtb_r = align_up(dtb_len, ALIGN_2M).ok_or(too_big(u64::MAX))?;
    let initrd_r = match initrd_len {
        Some(len) => align_up(len, ALIGN_2M).ok_or(too_big(u64::MAX))?,
        None => 0,
    };
    let modsize = dtb_r.checked_add(initrd_r).ok_or(too_big(u64::MAX))?;
    let kernend_r = align_up(kernend, ALIGN_2M).ok_or(too_big(u64::MAX))?;
    let kernsize = kernend_r - kernbase;
    let needed = modsize.checked_add(kernsize).ok_or(too_big(u64::MAX))?;
    if needed > ramsize {
        return Err(too_big(needed));
    }
    let ram128mb = rambase.checked_add(128 * MIB);
    let modbase = match ram128mb {
        Some(m) if m.checked_add(modsize).is_some_and(|e| ramend >= e) && kernend < m => m,
        _ if ramend - modsize > kernend_r => ramend - modsize,
        _ if kernbase - rambase > modsize => kernbase - modsize,
        _ => return Err(too_big(needed)),
    };
    if !modbase.is_multiple_of(DTB_ALIGN) {
        return Err(LoadError::MisalignedDtb { addr: modbase });
    }
    Ok((modbase, initrd_len.map(|_| modbase + dtb_r)))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::guest::layout::{ram_banks, GUEST_RAM0_BASE, GUEST_RAM1_BASE};
    use std::vec;

    /// An arm64 Image header shaped like a Debian (bookworm, 6.1) kernel:
    /// EFI stub ("MZ" in code0), text_offset 0, flags 0xa (LE, 4 KiB
    /// pages, place anywhere), PE header at 0x40.
    fn debian_image(file_len: usize, image_size: u64) -> Vec<u8> {
        let mut v = vec![0u8; file_len];
        v[0..4].copy_from_slice(&0x9100_5a4du32.to_le_bytes()); // "MZ" + add x13, x18, #0x16
        v[4..8].copy_from_slice(&0x1440_0000u32.to_le_bytes()); // b primary_entry
        v[8..16].copy_from_slice(&0u64.to_le_bytes());
        v[16..24].copy_from_slice(&image_size.to_le_bytes());
        v[24..32].copy_from_slice(&0xau64.to_le_bytes());
        v[0x38..0x3c].copy_from_slice(b"ARM\x64");
        v[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        v
    }

    fn ram(mib: u64) -> Vec<(u64, u64)> {
        ram_banks(mib * MIB).unwrap().as_slice().to_vec()
    }

    #[test]
    fn debian_image_goes_at_the_start_of_ram0() {
        let image = debian_image(0x1_0000, 0x2a1_0000);
        let p = plan(&image, &ram(256)).unwrap();
        assert_eq!(p.format, KernelFormat::Arm64Image);
        assert_eq!(p.entry, GUEST_RAM0_BASE);
        assert_eq!(
            p.copies,
            [Copy {
                src_offset: 0,
                len: 0x1_0000,
                guest_addr: GUEST_RAM0_BASE
            }]
        );
        assert_eq!(
            p.zero,
            [(GUEST_RAM0_BASE + 0x1_0000, 0x2a1_0000 - 0x1_0000)]
        );
        assert_eq!(
            p.kernel_range,
            (GUEST_RAM0_BASE, GUEST_RAM0_BASE + 0x2a1_0000)
        );
    }

    #[test]
    fn text_offset_and_legacy_images() {
        let mut image = debian_image(0x2000, 0x10_0000);
        image[8..16].copy_from_slice(&0x8_0000u64.to_le_bytes());
        let p = plan(&image, &ram(64)).unwrap();
        assert_eq!(p.entry, GUEST_RAM0_BASE + 0x8_0000);
        assert_eq!(p.kernel_range.1, GUEST_RAM0_BASE + 0x18_0000);
        // image_size 0: text_offset is 0x80000 whatever the field says,
        // and the size is the file's.
        let mut old = debian_image(0x3000, 0);
        old[8..16].copy_from_slice(&0x1234u64.to_le_bytes());
        old[24..32].copy_from_slice(&1u64.to_le_bytes()); // flags meaningless
        let p = plan(&old, &ram(64)).unwrap();
        assert_eq!(p.entry, GUEST_RAM0_BASE + 0x8_0000);
        assert_eq!(p.kernel_range, (p.entry, p.entry + 0x3000));
        assert_eq!(p.zero, []);
        // A file longer than image_size is copied whole.
        let p = plan(&debian_image(0x3000, 0x1000), &ram(64)).unwrap();
        assert_eq!(p.kernel_range.1 - p.kernel_range.0, 0x3000);
        // A bank that is not 2 MiB aligned: the base is rounded up.
        let p = plan(&debian_image(0x1000, 0x1000), &[(0x4010_0000, 64 * MIB)]).unwrap();
        assert_eq!(p.entry, 0x4020_0000);
    }

    #[test]
    fn image_errors() {
        let r = ram(64);
        assert_eq!(
            plan(&[0u8; 10], &r),
            Err(LoadError::Truncated {
                what: "arm64 Image header",
                need: 64,
                have: 10
            })
        );
        assert_eq!(
            plan(&[0u8; 64], &r),
            Err(LoadError::UnknownFormat { magic: 0 })
        );
        let mut be = debian_image(0x1000, 0x1000);
        be[24] |= 1;
        assert_eq!(plan(&be, &r), Err(LoadError::BigEndianImage));
        let mut odd = debian_image(0x1000, 0x1000);
        odd[8] = 0x10;
        assert_eq!(
            plan(&odd, &r),
            Err(LoadError::BadTextOffset { text_offset: 0x10 })
        );
        // Too big for the bank, and overflowing sizes.
        assert_eq!(
            plan(&debian_image(0x1000, 65 * MIB), &r),
            Err(LoadError::KernelOutsideRam {
                start: GUEST_RAM0_BASE,
                end: GUEST_RAM0_BASE + 65 * MIB
            })
        );
        assert!(matches!(
            plan(&debian_image(0x1000, u64::MAX), &r),
            Err(LoadError::KernelOutsideRam { .. })
        ));
        let mut far = debian_image(0x1000, 0x1000);
        far[8..16].copy_from_slice(&(!0xfffu64).to_le_bytes());
        assert!(matches!(
            plan(&far, &r),
            Err(LoadError::KernelOutsideRam { .. })
        ));
        // Rounding the bank base up to 2 MiB overflows.
        assert_eq!(
            plan(
                &debian_image(0x1000, 0x1000),
                &[(0xffff_ffff_fff0_0000, 0x1000)]
            ),
            Err(LoadError::KernelOutsideRam {
                start: 0xffff_ffff_fff0_0000,
                end: 0xffff_ffff_fff0_1000
            })
        );
        assert_eq!(
            plan(&debian_image(0x1000, 0x1000), &[(u64::MAX - 0xfff, 0x1000)]),
            Err(LoadError::BadRam {
                base: u64::MAX - 0xfff,
                size: 0x1000
            })
        );
        assert_eq!(
            plan(&debian_image(0x1000, 0x1000), &[]),
            Err(LoadError::NoRam)
        );
        assert_eq!(
            plan(&debian_image(0x1000, 0x1000), &[(0x4000_0000, 0)]),
            Err(LoadError::BadRam {
                base: 0x4000_0000,
                size: 0
            })
        );
        assert_eq!(
            plan(&debian_image(0x1000, 0x1000), &[(u64::MAX, 2)]),
            Err(LoadError::BadRam {
                base: u64::MAX,
                size: 2
            })
        );
    }

    /// A program header: (type, flags, offset, vaddr, paddr, filesz, memsz).
    type Ph = (u32, u32, u64, u64, u64, u64, u64);

    /// An ELF64 AArch64 executable with `phdrs` at 64 and `file_len`
    /// bytes in all.
    fn elf(entry: u64, phdrs: &[Ph], file_len: usize) -> Vec<u8> {
        let mut v = vec![0u8; file_len.max(64 + phdrs.len() * 56)];
        v[0..4].copy_from_slice(&ELF_MAGIC);
        v[4] = 2;
        v[5] = 1;
        v[6] = 1;
        v[16..18].copy_from_slice(&2u16.to_le_bytes());
        v[18..20].copy_from_slice(&183u16.to_le_bytes());
        v[20..24].copy_from_slice(&1u32.to_le_bytes());
        v[24..32].copy_from_slice(&entry.to_le_bytes());
        v[32..40].copy_from_slice(&64u64.to_le_bytes());
        v[52..54].copy_from_slice(&64u16.to_le_bytes());
        v[54..56].copy_from_slice(&56u16.to_le_bytes());
        v[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, &(t, f, off, va, pa, fs, ms)) in phdrs.iter().enumerate() {
            let o = 64 + i * 56;
            v[o..o + 4].copy_from_slice(&t.to_le_bytes());
            v[o + 4..o + 8].copy_from_slice(&f.to_le_bytes());
            for (j, x) in [off, va, pa, fs, ms, 0x1000].iter().enumerate() {
                v[o + 8 + j * 8..o + 16 + j * 8].copy_from_slice(&x.to_le_bytes());
            }
        }
        v
    }

    const RX: u32 = 5;
    const RW: u32 = 6;
    const K: u64 = 0x4008_0000;

    fn test_kernel() -> Vec<u8> {
        elf(
            K + 0x40,
            &[
                (PT_LOAD, RX, 0x1000, K, K, 0x800, 0x800),
                (6, 4, 64, 0, 0, 112, 112), // PT_PHDR, ignored
                (PT_LOAD, RW, 0x2000, K + 0x1000, K + 0x1000, 0x100, 0x3000),
                (PT_LOAD, RW, 0, K + 0x8000, K + 0x8000, 0, 0), // empty
            ],
            0x2100,
        )
    }

    #[test]
    fn elf_test_kernel() {
        let p = plan(&test_kernel(), &ram(64)).unwrap();
        assert_eq!(p.format, KernelFormat::Elf);
        assert_eq!(p.entry, K + 0x40);
        assert_eq!(
            p.copies,
            [
                Copy {
                    src_offset: 0x1000,
                    len: 0x800,
                    guest_addr: K
                },
                Copy {
                    src_offset: 0x2000,
                    len: 0x100,
                    guest_addr: K + 0x1000
                }
            ]
        );
        assert_eq!(p.zero, [(K + 0x1100, 0x2f00)]);
        assert_eq!(p.kernel_range, (K, K + 0x4000));
    }

    #[test]
    fn elf_entry_is_translated_from_virtual() {
        let va = 0xffff_0000_0000_0000u64;
        let image = elf(va + 8, &[(PT_LOAD, RX, 0, va, K, 0x100, 0x100)], 0x100);
        assert_eq!(plan(&image, &ram(64)).unwrap().entry, K + 8);
    }

    #[test]
    fn elf_header_errors() {
        let r = ram(64);
        let good = test_kernel();
        assert_eq!(
            plan(&good[..40], &r),
            Err(LoadError::Truncated {
                what: "ELF header",
                need: 64,
                have: 40
            })
        );
        for (off, val, field) in [
            (4usize, 1u8, "EI_CLASS"),
            (5, 2, "EI_DATA"),
            (6, 0, "EI_VERSION"),
            (16, 3, "e_type"),
            (18, 62, "e_machine"),
            (20, 2, "e_version"),
            (54, 32, "e_phentsize"),
        ] {
            let mut bad = good.clone();
            bad[off] = val;
            assert_eq!(
                plan(&bad, &r),
                Err(LoadError::BadElf {
                    field,
                    value: val.into()
                }),
                "{field}"
            );
        }
        // Program headers past the end of the file.
        let mut bad = good.clone();
        bad[32..40].copy_from_slice(&(0x2100u64 - 56).to_le_bytes());
        assert!(matches!(
            plan(&bad, &r),
            Err(LoadError::Truncated {
                what: "ELF program headers",
                ..
            })
        ));
        let mut bad = good.clone();
        bad[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(plan(&bad, &r), Err(LoadError::Truncated { .. })));
        let mut bad = good.clone();
        bad[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(
            plan(&bad, &r),
            Err(LoadError::TooManySegments { count: 0xffff })
        );
        // Every truncation of a good kernel fails cleanly.
        for len in 0..good.len() {
            assert!(plan(&good[..len], &r).is_err(), "{len}");
        }
    }

    #[test]
    fn elf_segment_errors() {
        let r = ram(64);
        let one = |ph: Ph, entry: u64| plan(&elf(entry, &[ph], 0x2000), &r);
        assert_eq!(
            one((PT_LOAD, RX, 0, K, K, 0x200, 0x100), K),
            Err(LoadError::BadSegment {
                index: 0,
                why: "p_filesz is larger than p_memsz"
            })
        );
        assert_eq!(
            one((PT_LOAD, RX, 0x1f00, K, K, 0x200, 0x200), K),
            Err(LoadError::BadSegment {
                index: 0,
                why: "file range lies outside the image"
            })
        );
        assert_eq!(
            one((PT_LOAD, RX, u64::MAX, K, K, 2, 2), K),
            Err(LoadError::BadSegment {
                index: 0,
                why: "file range lies outside the image"
            })
        );
        assert_eq!(
            one((PT_LOAD, RX, 0, K, u64::MAX, 0, 2), K),
            Err(LoadError::BadSegment {
                index: 0,
                why: "address range wraps"
            })
        );
        assert_eq!(
            one((PT_LOAD, RX, 0, 0x1000, 0x1000, 0x100, 0x100), 0x1000),
            Err(LoadError::SegmentOutsideRam {
                index: 0,
                start: 0x1000,
                end: 0x1100
            })
        );
        // Straddling the end of RAM.
        let end = GUEST_RAM0_BASE + 64 * MIB;
        assert_eq!(
            one(
                (PT_LOAD, RX, 0, end - 0x100, end - 0x100, 0x100, 0x200),
                end - 0x100
            ),
            Err(LoadError::SegmentOutsideRam {
                index: 0,
                start: end - 0x100,
                end: end + 0x100
            })
        );
        assert_eq!(
            one((PT_LOAD, RX, 0, K, K, 0, 0), K),
            Err(LoadError::NoLoadableSegment)
        );
        assert_eq!(
            plan(&elf(K, &[(6, 4, 0, 0, 0, 0, 0)], 0x200), &r),
            Err(LoadError::NoLoadableSegment)
        );
        assert_eq!(
            plan(
                &elf(
                    K,
                    &[
                        (PT_LOAD, RX, 0, K, K, 0x100, 0x1000),
                        (PT_LOAD, RW, 0, K + 0x800, K + 0x800, 0x100, 0x100)
                    ],
                    0x200
                ),
                &r
            ),
            Err(LoadError::SegmentsOverlap { a: 0, b: 1 })
        );
        let many: Vec<Ph> = (0..17)
            .map(|i| (PT_LOAD, RX, 0, K + i * 0x1000, K + i * 0x1000, 0x10, 0x10))
            .collect();
        assert_eq!(
            plan(&elf(K, &many, 0x2000), &r),
            Err(LoadError::TooManySegments { count: 17 })
        );
    }

    #[test]
    fn elf_entry_errors() {
        let r = ram(64);
        let one = |flags: u32, entry: u64| {
            plan(
                &elf(entry, &[(PT_LOAD, flags, 0, K, K, 0x100, 0x200)], 0x200),
                &r,
            )
        };
        assert_eq!(
            one(RX, K + 0x200),
            Err(LoadError::EntryOutsideSegments { entry: K + 0x200 })
        );
        assert_eq!(
            one(RX, K - 4),
            Err(LoadError::EntryOutsideSegments { entry: K - 4 })
        );
        assert_eq!(one(RW, K), Err(LoadError::EntryNotExecutable { entry: K }));
        assert_eq!(
            one(RX, K + 2),
            Err(LoadError::EntryMisaligned { entry: K + 2 })
        );
        // The entry may be in the zero-filled part of an executable segment.
        assert_eq!(one(RX, K + 0x1fc).unwrap().entry, K + 0x1fc);
    }

    #[test]
    fn blobs_at_128_mib_when_the_kernel_is_below() {
        // Xen: modbase = rambase + 128 MiB.
        let r = ram(512);
        let p = plan(&debian_image(0x1_0000, 0x2a1_0000), &r).unwrap();
        let (dtb, initrd) = place_blobs(&p, &r, 0x1234, Some(0x30_0001)).unwrap();
        assert_eq!(dtb, GUEST_RAM0_BASE + 128 * MIB);
        assert_eq!(initrd, Some(dtb + 2 * MIB));
        assert_eq!(place_blobs(&p, &r, 0x1234, None).unwrap(), (dtb, None));
        // Exactly filling the bank above 128 MiB is fine.
        let r = ram(132);
        assert_eq!(
            place_blobs(&p, &r, 0x1234, Some(2 * MIB)).unwrap(),
            (
                GUEST_RAM0_BASE + 128 * MIB,
                Some(GUEST_RAM0_BASE + 130 * MIB)
            )
        );
    }

    #[test]
    fn blobs_at_the_top_of_small_banks() {
        // Less than 128 MiB + blobs: at the top of the bank.
        let r = ram(64);
        let p = plan(&debian_image(0x1_0000, 20 * MIB), &r).unwrap();
        let (dtb, initrd) = place_blobs(&p, &r, 0x1000, Some(5 * MIB)).unwrap();
        assert_eq!(dtb, GUEST_RAM0_BASE + 64 * MIB - 8 * MIB);
        assert_eq!(initrd, Some(dtb + 2 * MIB));
        assert!(dtb >= p.kernel_range.1);
    }

    #[test]
    fn blobs_below_the_kernel_as_a_last_resort() {
        // An ELF kernel at the top of a 64 MiB bank.
        let r = ram(64);
        let top = GUEST_RAM0_BASE + 60 * MIB;
        let image = elf(top, &[(PT_LOAD, RX, 0, top, top, 0x100, 4 * MIB)], 0x200);
        let p = plan(&image, &r).unwrap();
        let (dtb, initrd) = place_blobs(&p, &r, 0x1000, Some(MIB)).unwrap();
        assert_eq!(dtb, top - 4 * MIB);
        assert_eq!(initrd, Some(top - 2 * MIB));
    }

    #[test]
    fn blob_errors() {
        let r = ram(64);
        let p = plan(&debian_image(0x1_0000, 20 * MIB), &r).unwrap();
        for len in [0, MAX_DTB_SIZE + 1] {
            assert_eq!(
                place_blobs(&p, &r, len, None),
                Err(LoadError::BadBlobSize {
                    what: "DTB",
                    size: len
                })
            );
        }
        assert_eq!(
            place_blobs(&p, &r, 0x1000, Some(0)),
            Err(LoadError::BadBlobSize {
                what: "initrd",
                size: 0
            })
        );
        // 20 MiB kernel + 2 MiB DTB + 44 MiB initrd > 64 MiB.
        assert_eq!(
            place_blobs(&p, &r, 0x1000, Some(44 * MIB)),
            Err(LoadError::NoRoomForBlobs {
                needed: 66 * MIB,
                bank_size: 64 * MIB
            })
        );
        assert!(matches!(
            place_blobs(&p, &r, 0x1000, Some(u64::MAX)),
            Err(LoadError::NoRoomForBlobs { .. })
        ));
        // Fits in size but in no single place: kernel in the middle.
        let mid = GUEST_RAM0_BASE + 30 * MIB;
        let image = elf(mid, &[(PT_LOAD, RX, 0, mid, mid, 0x100, 4 * MIB)], 0x200);
        let pm = plan(&image, &r).unwrap();
        assert_eq!(
            place_blobs(&pm, &r, 0x1000, Some(40 * MIB)),
            Err(LoadError::NoRoomForBlobs {
                needed: 46 * MIB,
                bank_size: 64 * MIB
            })
        );
        // A kernel outside the first bank.
        let big = ram(4 * 1024);
        let image = elf(
            GUEST_RAM1_BASE,
            &[(
                PT_LOAD,
                RX,
                0,
                GUEST_RAM1_BASE,
                GUEST_RAM1_BASE,
                0x100,
                0x100,
            )],
            0x200,
        );
        let p1 = plan(&image, &big).unwrap();
        assert_eq!(
            place_blobs(&p1, &big, 0x1000, None),
            Err(LoadError::KernelNotInFirstBank {
                start: GUEST_RAM1_BASE,
                end: GUEST_RAM1_BASE + 0x100
            })
        );
        assert_eq!(place_blobs(&p, &[], 0x1000, None), Err(LoadError::NoRam));
        // A DTB slot that is not 8-byte aligned (kernel at an odd page
        // offset in a tiny bank).
        let r = [(0x4000_0000, 12 * MIB)];
        let at = 0x4000_0000 + 6 * MIB + 4;
        let image = elf(at, &[(PT_LOAD, RX, 0, at, at, 0x100, 5 * MIB)], 0x200);
        let p = plan(&image, &r).unwrap();
        assert_eq!(
            place_blobs(&p, &r, 0x1000, None),
            Err(LoadError::MisalignedDtb { addr: at - 2 * MIB })
        );
    }

    #[test]
    fn display_names_the_value() {
        let s = std::format!("{}", LoadError::EntryMisaligned { entry: 0x4000_0002 });
        assert!(s.contains("0x40000002"), "{s}");
    }
}
