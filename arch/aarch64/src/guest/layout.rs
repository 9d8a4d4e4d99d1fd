//! Xen's guest physical memory map and interrupt numbers for Arm domUs,
//! from `xen/include/public/arch-arm.h` (Xen 4.20), plus the two rules
//! built on them: how a domU's RAM is split over the two RAM banks
//! (`allocate_memory` in xen/arch/arm/domain_build.c) and which MPIDR each
//! vCPU gets (`vcpuid_to_vaffinity` in xen/arch/arm/include/asm/domain.h).
//!
//! Guests are told these through the device tree they are given; the
//! numbers are fixed so that Tessera's guests see what Xen's would.

use core::fmt;

/// `GUEST_GICV3_GICD_BASE`: the vGICv3 distributor.
pub const GUEST_GICV3_GICD_BASE: u64 = 0x0300_1000;
/// `GUEST_GICV3_GICD_SIZE`.
pub const GUEST_GICV3_GICD_SIZE: u64 = 0x0001_0000;
/// `GUEST_GICV3_RDIST_REGIONS`: one redistributor region for all vCPUs.
pub const GUEST_GICV3_RDIST_REGIONS: u32 = 1;
/// `GUEST_GICV3_GICR0_BASE`: redistributors of vCPU 0..127.
pub const GUEST_GICV3_GICR0_BASE: u64 = 0x0302_0000;
/// `GUEST_GICV3_GICR0_SIZE`: the whole region is always exposed to a
/// domU, whatever its vCPU count (`vgic_v3_domain_init`, xen/arch/arm/vgic-v3.c).
pub const GUEST_GICV3_GICR0_SIZE: u64 = 0x0100_0000;
/// One vCPU's redistributor frames (RD + SGI, 2 x 64 KiB):
/// `GICV3_GICR_SIZE` in xen/arch/arm/include/asm/gic_v3_defs.h.
pub const GICV3_GICR_STRIDE: u64 = 0x2_0000;

/// `GUEST_GICD_BASE` (vGICv2; overlaps the v3 map, only one is used).
pub const GUEST_GICD_BASE: u64 = 0x0300_1000;
/// `GUEST_GICD_SIZE`.
pub const GUEST_GICD_SIZE: u64 = 0x0000_1000;
/// `GUEST_GICC_BASE`.
pub const GUEST_GICC_BASE: u64 = 0x0300_2000;
/// `GUEST_GICC_SIZE`.
pub const GUEST_GICC_SIZE: u64 = 0x0000_2000;

/// `GUEST_PL011_BASE`: the emulated SBSA UART (vpl011).
pub const GUEST_PL011_BASE: u64 = 0x2200_0000;
/// `GUEST_PL011_SIZE`.
pub const GUEST_PL011_SIZE: u64 = 0x0000_1000;

/// `GUEST_GNTTAB_BASE`: where the guest maps its grant table (16 MiB).
pub const GUEST_GNTTAB_BASE: u64 = 0x3800_0000;
/// `GUEST_GNTTAB_SIZE`.
pub const GUEST_GNTTAB_SIZE: u64 = 0x0100_0000;
/// `GUEST_MAGIC_BASE`: the "magic" pages (xenstore, console...).
pub const GUEST_MAGIC_BASE: u64 = 0x3900_0000;
/// `GUEST_MAGIC_SIZE`.
pub const GUEST_MAGIC_SIZE: u64 = 0x0100_0000;

/// `GUEST_RAM_BANKS`.
pub const GUEST_RAM_BANKS: usize = 2;
/// `GUEST_RAM0_BASE`: 3 GiB of low RAM at 1 GiB.
pub const GUEST_RAM0_BASE: u64 = 0x4000_0000;
/// `GUEST_RAM0_SIZE`.
pub const GUEST_RAM0_SIZE: u64 = 0xc000_0000;
/// `GUEST_RAM1_BASE`: 1016 GiB of RAM at 8 GiB.
pub const GUEST_RAM1_BASE: u64 = 0x02_0000_0000;
/// `GUEST_RAM1_SIZE`.
pub const GUEST_RAM1_SIZE: u64 = 0xfe_0000_0000;
/// `GUEST_RAM_MAX`: the most RAM a guest can have.
pub const GUEST_RAM_MAX: u64 = GUEST_RAM0_SIZE + GUEST_RAM1_SIZE;

/// `GUEST_MAX_VCPUS`.
pub const GUEST_MAX_VCPUS: u32 = 128;

/// `GUEST_TIMER_VIRT_PPI` (INTID).
pub const GUEST_TIMER_VIRT_PPI: u32 = 27;
/// `GUEST_TIMER_PHYS_S_PPI` (INTID).
pub const GUEST_TIMER_PHYS_S_PPI: u32 = 29;
/// `GUEST_TIMER_PHYS_NS_PPI` (INTID).
pub const GUEST_TIMER_PHYS_NS_PPI: u32 = 30;
/// `GUEST_EVTCHN_PPI` (INTID): event-channel upcalls.
pub const GUEST_EVTCHN_PPI: u32 = 31;
/// `GUEST_VPL011_SPI` (INTID; SPI number 0 in a device tree).
pub const GUEST_VPL011_SPI: u32 = 32;

/// `GUEST_PHANDLE_GIC` (xen/include/public/device_tree_defs.h).
pub const GUEST_PHANDLE_GIC: u32 = 65000;
/// `GUEST_ROOT_ADDRESS_CELLS` (device_tree_defs.h).
pub const GUEST_ROOT_ADDRESS_CELLS: u32 = 2;
/// `GUEST_ROOT_SIZE_CELLS` (device_tree_defs.h).
pub const GUEST_ROOT_SIZE_CELLS: u32 = 2;

/// MPIDR_EL1 bit 31, RES1 on AArch64 (`MPIDR_SMP` in Xen's processor.h);
/// Xen sets it in every vCPU's VMPIDR.
pub const MPIDR_RES1: u64 = 1 << 31;

const PAGE_SIZE: u64 = 4096;

/// Why a guest layout cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLayoutError {
    /// Zero bytes of RAM.
    NoMemory,
    /// RAM that is not a whole number of 4 KiB pages.
    NotPageMultiple { bytes: u64 },
    /// More RAM than the two banks hold ([`GUEST_RAM_MAX`]).
    TooMuchMemory { bytes: u64 },
}

impl fmt::Display for GuestLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GuestLayoutError::NoMemory => write!(f, "guest memory is 0 bytes"),
            GuestLayoutError::NotPageMultiple { bytes } => {
                write!(f, "guest memory {bytes:#x} is not a multiple of 4 KiB")
            }
            GuestLayoutError::TooMuchMemory { bytes } => write!(
                f,
                "guest memory {bytes:#x} exceeds the {GUEST_RAM_MAX:#x} bytes of the guest RAM banks"
            ),
        }
    }
}

/// A domU's RAM: one or two `(base, size)` banks, none empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamBanks {
    banks: [(u64, u64); GUEST_RAM_BANKS],
    len: usize,
}

impl RamBanks {
    /// The banks in address order.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.banks[..self.len]
    }

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(|b| b.1).sum()
    }
}

/// Splits `memory_bytes` of domU RAM the way Xen's `allocate_memory`
/// does: fill RAM0 (at most 3 GiB at 1 GiB), the rest at RAM1 (8 GiB); an
/// empty second bank is not created.
pub fn ram_banks(memory_bytes: u64) -> Result<RamBanks, GuestLayoutError> {
    if memory_bytes == 0 {
        return Err(GuestLayoutError::NoMemory);
    }
    if !memory_bytes.is_multiple_of(PAGE_SIZE) {
        return Err(GuestLayoutError::NotPageMultiple {
            bytes: memory_bytes,
        });
    }
    if memory_bytes > GUEST_RAM_MAX {
        return Err(GuestLayoutError::TooMuchMemory {
            bytes: memory_bytes,
        });
    }
    let low = memory_bytes.min(GUEST_RAM0_SIZE);
    let high = memory_bytes - low;
    let mut banks = RamBanks {
        banks: [(GUEST_RAM0_BASE, low), (GUEST_RAM1_BASE, high)],
        len: 1,
    };
    if high > 0 {
        banks.len = 2;
    }
    Ok(banks)
}

/// The affinity Xen gives vCPU `vcpu`: AFF0 = bits 3:0 of the id (GICv3
/// targets 16 CPUs per AFF0 group), AFF1 = the rest. This is also the
/// `reg` (and unit address) of the vCPU's `cpu@` node. `None` beyond
/// [`GUEST_MAX_VCPUS`].
pub fn vcpu_affinity(vcpu: u32) -> Option<u64> {
    if vcpu >= GUEST_MAX_VCPUS {
        return None;
    }
    let vcpu = u64::from(vcpu);
    Some((vcpu & 0xf) | (((vcpu >> 4) & 0xff) << 8))
}

/// The VMPIDR_EL2 value of vCPU `vcpu`: its affinity with the RES1 bit 31
/// set (`v->arch.vmpidr = MPIDR_SMP | vcpuid_to_vaffinity(id)` in
/// xen/arch/arm/domain.c). `None` beyond [`GUEST_MAX_VCPUS`].
pub fn vcpu_mpidr(vcpu: u32) -> Option<u64> {
    vcpu_affinity(vcpu).map(|a| a | MPIDR_RES1)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn constants_match_arch_arm_h() {
        assert_eq!(GUEST_RAM0_BASE + GUEST_RAM0_SIZE, 0x1_0000_0000);
        assert_eq!(GUEST_RAM1_BASE + GUEST_RAM1_SIZE, 0x100_0000_0000);
        assert_eq!(GUEST_RAM_MAX, 0xfe_c000_0000);
        // The redistributor region fits every vCPU (Xen's BUILD_BUG_ON).
        const { assert!(GUEST_GICV3_GICR0_SIZE / GICV3_GICR_STRIDE >= GUEST_MAX_VCPUS as u64) };
        // The distributor ends before the redistributors.
        const { assert!(GUEST_GICV3_GICD_BASE + GUEST_GICV3_GICD_SIZE <= GUEST_GICV3_GICR0_BASE) };
        // Nothing fixed overlaps RAM0.
        for (base, size) in [
            (GUEST_GICV3_GICR0_BASE, GUEST_GICV3_GICR0_SIZE),
            (GUEST_PL011_BASE, GUEST_PL011_SIZE),
            (GUEST_GNTTAB_BASE, GUEST_GNTTAB_SIZE),
            (GUEST_MAGIC_BASE, GUEST_MAGIC_SIZE),
        ] {
            assert!(base + size <= GUEST_RAM0_BASE);
        }
        assert_eq!(
            [
                GUEST_TIMER_VIRT_PPI,
                GUEST_TIMER_PHYS_S_PPI,
                GUEST_TIMER_PHYS_NS_PPI,
                GUEST_EVTCHN_PPI,
                GUEST_VPL011_SPI
            ],
            [27, 29, 30, 31, 32]
        );
        assert_eq!(GUEST_MAX_VCPUS, tessera_core::dom0less::MAX_VCPUS);
    }

    #[test]
    fn small_guests_use_ram0_only() {
        let b = ram_banks(128 << 20).unwrap();
        assert_eq!(b.as_slice(), [(0x4000_0000, 128 << 20)]);
        assert_eq!(b.total(), 128 << 20);
        let b = ram_banks(GUEST_RAM0_SIZE).unwrap();
        assert_eq!(b.as_slice(), [(0x4000_0000, 0xc000_0000)]);
        assert_eq!(ram_banks(4096).unwrap().as_slice(), [(0x4000_0000, 4096)]);
    }

    #[test]
    fn large_guests_spill_into_ram1() {
        let b = ram_banks(4 << 30).unwrap();
        assert_eq!(
            b.as_slice(),
            [(0x4000_0000, 0xc000_0000), (0x2_0000_0000, 1 << 30)]
        );
        assert_eq!(b.total(), 4 << 30);
        let b = ram_banks(GUEST_RAM_MAX).unwrap();
        assert_eq!(
            b.as_slice(),
            [
                (GUEST_RAM0_BASE, GUEST_RAM0_SIZE),
                (GUEST_RAM1_BASE, GUEST_RAM1_SIZE)
            ]
        );
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert_eq!(ram_banks(0), Err(GuestLayoutError::NoMemory));
        assert_eq!(
            ram_banks(4097),
            Err(GuestLayoutError::NotPageMultiple { bytes: 4097 })
        );
        assert_eq!(
            ram_banks(GUEST_RAM_MAX + 4096),
            Err(GuestLayoutError::TooMuchMemory {
                bytes: GUEST_RAM_MAX + 4096
            })
        );
        assert!(ram_banks(!0xfffu64).is_err());
    }

    #[test]
    fn vcpu_affinities_follow_xen() {
        assert_eq!(vcpu_affinity(0), Some(0));
        assert_eq!(vcpu_affinity(15), Some(0xf));
        assert_eq!(vcpu_affinity(16), Some(0x100));
        assert_eq!(vcpu_affinity(17), Some(0x101));
        assert_eq!(vcpu_affinity(127), Some(0x70f));
        assert_eq!(vcpu_affinity(128), None);
        assert_eq!(vcpu_mpidr(0), Some(0x8000_0000));
        assert_eq!(vcpu_mpidr(33), Some(0x8000_0201));
        assert_eq!(vcpu_mpidr(u32::MAX), None);
        // Distinct and within AFF0/AFF1.
        let mut seen = std::collections::BTreeSet::new();
        for v in 0..GUEST_MAX_VCPUS {
            let a = vcpu_affinity(v).unwrap();
            assert_eq!(a & !0xff0f, 0);
            assert!(seen.insert(a));
        }
    }
}
