//! The EL2 virtual address layout and the register values that define it.
//!
//! Non-VHE EL2 has one translation range (TTBR0_EL2). With 4 KiB pages and
//! T0SZ = 16 it spans 256 TiB, split by L0 slot (512 GiB each):
//!
//! | L0 slots  | virtual base            | what                                   |
//! |-----------|-------------------------|----------------------------------------|
//! | 0..128    | 0x0000_0000_0000_0000   | identity map of the boot trampoline    |
//! | 128..256  | 0x0000_4000_0000_0000   | direct map: VA = base + PA (64 TiB)    |
//! | 256       | 0x0000_8000_0000_0000   | the image (text RX, rodata R, data RW) |
//! | 288       | 0x0000_9000_0000_0000   | vmap: per-CPU stacks with guard pages  |
//! | 320       | 0x0000_a000_0000_0000   | ioremap: device registers              |
//! | 352       | 0x0000_b000_0000_0000   | boot map: the DTB, read-only           |

/// Link address of the image (must match `TESSERA_VIRT_BASE` in link.ld).
pub const IMAGE_BASE: u64 = 0x0000_8000_0000_0000;
/// Direct map of RAM: VA = DIRECTMAP_BASE + PA.
pub const DIRECTMAP_BASE: u64 = 0x0000_4000_0000_0000;
/// Highest physical address the direct map can cover.
pub const DIRECTMAP_MAX_PA: u64 = 1 << 46;
/// Stacks and other virtually contiguous allocations.
pub const VMAP_BASE: u64 = 0x0000_9000_0000_0000;
pub const VMAP_SIZE: u64 = 1 << 39;
/// Device registers.
pub const IOREMAP_BASE: u64 = 0x0000_a000_0000_0000;
pub const IOREMAP_SIZE: u64 = 1 << 39;
/// Boot-time read-only mappings (the DTB).
pub const BOOTMAP_BASE: u64 = 0x0000_b000_0000_0000;
pub const BOOTMAP_SIZE: u64 = 1 << 39;

pub const PAGE_SIZE: u64 = 4096;

// Stage-1 descriptor fields for the EL2 regime without VHE (D8.3 of the
// Arm ARM): AP[1] is RES1 there, and bit 54 is the single XN bit.
pub const DESC_VALID: u64 = 1 << 0;
pub const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
pub const ATTR_IDX_DEVICE: u64 = 0 << 2;
pub const ATTR_IDX_NORMAL: u64 = 1 << 2;
pub const AP_RW: u64 = 0b01 << 6;
pub const AP_RO: u64 = 0b11 << 6;
pub const SH_INNER: u64 = 0b11 << 8;
pub const AF: u64 = 1 << 10;
pub const XN: u64 = 1 << 54;
pub const OUTPUT_ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Text: read-only, executable.
pub const ATTR_RX: u64 = ATTR_IDX_NORMAL | SH_INNER | AF | AP_RO;
/// Read-only data.
pub const ATTR_RO_NX: u64 = ATTR_IDX_NORMAL | SH_INNER | AF | AP_RO | XN;
/// Data, stacks, the direct map.
pub const ATTR_RW_NX: u64 = ATTR_IDX_NORMAL | SH_INNER | AF | AP_RW | XN;
/// Device registers (Device-nGnRE).
pub const ATTR_DEVICE: u64 = ATTR_IDX_DEVICE | AF | AP_RW | XN;

/// MAIR_EL2: index 0 Device-nGnRE, 1 Normal write-back, 2 Normal non-cacheable.
pub const MAIR_EL2_VALUE: u64 = 0x04 | (0xff << 8) | (0x44 << 16);

/// TCR_EL2 without PS: T0SZ = 16, WBWA inner-shareable walks, 4 KiB granule,
/// and the two RES1 bits (23, 31).
pub const TCR_EL2_BASE: u64 = 16 | (1 << 8) | (1 << 10) | (0b11 << 12) | (1 << 23) | (1 << 31);

/// SCTLR_EL2 RES1 bits when HCR_EL2.E2H = 0.
pub const SCTLR_EL2_RES1: u64 = (1 << 4)
    | (1 << 5)
    | (1 << 11)
    | (1 << 16)
    | (1 << 18)
    | (1 << 22)
    | (1 << 23)
    | (1 << 28)
    | (1 << 29);
/// MMU on, data and instruction caches on, stack alignment checks, and WXN
/// so that the hardware itself refuses to execute anything writable.
pub const SCTLR_EL2_MMU_ON: u64 = SCTLR_EL2_RES1 | 1 | (1 << 2) | (1 << 3) | (1 << 12) | (1 << 19);

/// HCR_EL2 while no guest runs: EL1 is AArch64, and physical IRQs, FIQs
/// and SErrors are routed to EL2 (without IMO an IRQ targets EL1 and is
/// never taken while EL2 runs).
pub const HCR_EL2_HOST: u64 = (1 << 31) | (1 << 5) | (1 << 4) | (1 << 3);

/// Stage 2: 39-bit IPA space (T0SZ 25) walked from level 1, 4 KiB granule,
/// inner-shareable write-back walks; PS is added at boot from PARange;
/// bit 31 is RES1. Covers Xen's RAM0 bank and the first 504 GiB of RAM1.
pub const VTCR_EL2_BASE: u64 = 25 | (1 << 6) | (1 << 8) | (1 << 10) | (0b11 << 12) | (1 << 31);
pub const IPA_BITS: u32 = 39;
/// Stage-2 leaf attributes for guest RAM: Normal write-back (MemAttr
/// 0b1111), read-write (S2AP 0b11), inner shareable, access flag.
pub const S2_RAM: u64 = (0b1111 << 2) | (0b11 << 6) | SH_INNER | AF;
/// Stage-2 leaf attributes for device registers given to a guest (the
/// GICv2 virtual CPU interface): Device-nGnRE (MemAttr 0b0001),
/// read-write, never executable (XN[1], bit 54), access flag.
pub const S2_DEVICE: u64 = (0b0001 << 2) | (0b11 << 6) | AF | XN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_values_match_the_architecture() {
        assert_eq!(SCTLR_EL2_RES1, 0x30c5_0830);
        assert_eq!(SCTLR_EL2_MMU_ON, 0x30cd_183d);
        assert_eq!(TCR_EL2_BASE, 0x8080_3510);
        assert_eq!(MAIR_EL2_VALUE, 0x44ff04);
        // W^X: nothing writable is executable.
        for attr in [ATTR_RW_NX, ATTR_DEVICE] {
            assert_eq!(attr & XN, XN);
        }
        assert_eq!(ATTR_RX & XN, 0);
        assert_eq!(ATTR_RX & (1 << 7), 1 << 7, "text must be read-only");
    }

    #[test]
    fn regions_do_not_overlap() {
        let regions = [
            (DIRECTMAP_BASE, DIRECTMAP_MAX_PA),
            (IMAGE_BASE, 1 << 39),
            (VMAP_BASE, VMAP_SIZE),
            (IOREMAP_BASE, IOREMAP_SIZE),
            (BOOTMAP_BASE, BOOTMAP_SIZE),
        ];
        for (i, a) in regions.iter().enumerate() {
            for b in regions.iter().skip(i + 1) {
                assert!(
                    a.0 + a.1 <= b.0 || b.0 + b.1 <= a.0,
                    "{a:x?} overlaps {b:x?}"
                );
            }
            assert!(a.0 + a.1 <= 1 << 48);
        }
    }
}
