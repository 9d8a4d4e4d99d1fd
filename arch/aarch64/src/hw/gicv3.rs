//! The host GICv3: distributor, one redistributor per CPU, and the CPU
//! interface through the ICC system registers. Register offsets from the
//! GICv3 architecture specification (IHI 0069).

use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Once;
use tessera_core::fdt::Node;
use tessera_core::hal::{HalError, Mmio, MmioRegion};

use super::gic::{HostGic, Ppis};
use super::vgic::VirtInterface;
use super::{mmu, percpu};

// Distributor.
const GICD_CTLR: usize = 0x0000;
const GICD_TYPER: usize = 0x0004;
const GICD_IGROUPR: usize = 0x0080;
const GICD_ICENABLER: usize = 0x0180;
const CTLR_RWP: u32 = 1 << 31;
const CTLR_ARE: u32 = 1 << 4;
const CTLR_ENABLE_G1: u32 = 1 << 1;
const CTLR_ENABLE_G0: u32 = 1 << 0;

// Redistributor, RD_base frame.
const GICR_TYPER: usize = 0x0008;
const GICR_WAKER: usize = 0x0014;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const TYPER_LAST: u32 = 1 << 4;
const TYPER_VLPIS: u32 = 1 << 1;
// SGI_base frame (RD_base + 64 KiB).
const SGI_BASE: usize = 0x1_0000;
const GICR_IGROUPR0: usize = SGI_BASE + 0x0080;
const GICR_ISENABLER0: usize = SGI_BASE + 0x0100;
const GICR_ICENABLER0: usize = SGI_BASE + 0x0180;
const GICR_IPRIORITYR: usize = SGI_BASE + 0x0400;

struct GicV3 {
    dist: MmioRegion,
    redist: MmioRegion,
    spis: u32,
    ppis: Ppis,
}

static GIC: Once<GicV3> = Once::new();
/// Redistributor offset of each CPU (usize::MAX = not found).
static RDIST_OF: [AtomicUsize; tessera_core::config::NR_CPUS] =
    [const { AtomicUsize::new(usize::MAX) }; tessera_core::config::NR_CPUS];

fn wait_rwp(d: &MmioRegion) -> Result<(), HalError> {
    for _ in 0..1_000_000 {
        if d.read32(GICD_CTLR) & CTLR_RWP == 0 {
            return Ok(());
        }
    }
    Err(HalError::Timeout)
}

/// Brings up the GICv3 the device tree node describes: the distributor
/// and the boot CPU's redistributor and CPU interface.
pub fn probe(node: &Node, ppis: Ppis) -> Result<&'static dyn HostGic, HalError> {
    let reg = node
        .reg_checked()
        .map_err(|_| HalError::BadDeviceTree("gic-v3 reg malformed"))?;
    let reg = reg.as_slice();
    if reg.len() < 2 {
        return Err(HalError::BadDeviceTree(
            "gic-v3 needs distributor and redistributor regions",
        ));
    }
    let (dpa, dsize) = reg[0];
    let (rpa, rsize) = reg[1];
    if dsize < 0x1_0000 || rsize < 0x2_0000 {
        return Err(HalError::BadDeviceTree("gic-v3 regions too small"));
    }
    // Map redistributors for at most NR_CPUS CPUs (GICv4 frames are 256 KiB).
    let rmap = rsize.min(tessera_core::config::NR_CPUS as u64 * 0x4_0000);
    let dist_va = mmu::ioremap(dpa, 0x1_0000)?;
    let redist_va = mmu::ioremap(rpa, rmap)?;
    // SAFETY: both windows were just mapped as device memory for the GIC
    // and are used only through this module.
    let (dist, redist) = unsafe {
        (
            MmioRegion::new(dist_va as usize, 0x1_0000),
            MmioRegion::new(redist_va as usize, rmap as usize),
        )
    };

    let typer = dist.read32(GICD_TYPER);
    let spis = ((typer & 0x1f) + 1) * 32 - 32;

    dist.write32(GICD_CTLR, 0);
    wait_rwp(&dist)?;
    // Every SPI: group 1, disabled. Nothing owns one yet.
    for n in 1..(spis / 32 + 1) as usize {
        dist.write32(GICD_IGROUPR + 4 * n, !0);
        dist.write32(GICD_ICENABLER + 4 * n, !0);
    }
    wait_rwp(&dist)?;
    dist.write32(GICD_CTLR, CTLR_ARE);
    wait_rwp(&dist)?;
    dist.write32(GICD_CTLR, CTLR_ARE | CTLR_ENABLE_G1 | CTLR_ENABLE_G0);
    wait_rwp(&dist)?;

    let g: &'static GicV3 = GIC.call_once(|| GicV3 {
        dist,
        redist,
        spis,
        ppis,
    });
    g.cpu_init()?;
    Ok(g)
}

impl HostGic for GicV3 {
    fn name(&self) -> &'static str {
        "GICv3"
    }

    fn spis(&self) -> u32 {
        self.spis
    }

    /// Brings up this CPU's redistributor and CPU interface.
    fn cpu_init(&self) -> Result<(), HalError> {
        let me = percpu::this_cpu();
        let mpidr = me.mpidr.load(Ordering::Relaxed);
        let aff = (((mpidr >> 32) & 0xff) << 24) | (mpidr & 0xff_ffff);
        let r = &self.redist;
        let mut off = 0usize;
        let found = loop {
            if off + 0x2_0000 > r.len() {
                break None;
            }
            let typer_lo = r.read32(off + GICR_TYPER);
            let typer_hi = r.read32(off + GICR_TYPER + 4) as u64;
            if typer_hi == aff {
                break Some(off);
            }
            if typer_lo & TYPER_LAST != 0 {
                break None;
            }
            off += if typer_lo & TYPER_VLPIS != 0 {
                0x4_0000
            } else {
                0x2_0000
            };
        };
        let off = found.ok_or(HalError::BadDeviceTree("no redistributor for this CPU"))?;
        RDIST_OF[me.index()].store(off, Ordering::Relaxed);

        // Wake the redistributor.
        r.write32(
            off + GICR_WAKER,
            r.read32(off + GICR_WAKER) & !WAKER_PROCESSOR_SLEEP,
        );
        let mut spins = 0;
        while r.read32(off + GICR_WAKER) & WAKER_CHILDREN_ASLEEP != 0 {
            spins += 1;
            if spins > 1_000_000 {
                return Err(HalError::Timeout);
            }
        }
        // SGIs and PPIs: group 1, priority 0xa0, all disabled but ours.
        r.write32(off + GICR_ICENABLER0, !0);
        r.write32(off + GICR_IGROUPR0, !0);
        for i in 0..8 {
            r.write32(off + GICR_IPRIORITYR + 4 * i, 0xa0a0_a0a0);
        }
        r.write32(off + GICR_ISENABLER0, self.ppis.enable_mask());

        // CPU interface: system-register access, all priorities, group 1 on.
        // Sound: EL2 owns ICC_SRE_EL2; SRE | Enable (lets EL1 use the sysregs).
        msr!("S3_4_C12_C9_5", 0b1001); // ICC_SRE_EL2
        super::sysreg::isb();
        msr!("S3_0_C4_C6_0", 0xff); // ICC_PMR_EL1
        msr!("S3_0_C12_C12_3", 0); // ICC_BPR1_EL1
        msr!("S3_0_C12_C12_4", 0); // ICC_CTLR_EL1: EOImode 0 (EOI also deactivates)
        msr!("S3_0_C12_C12_7", 1); // ICC_IGRPEN1_EL1
        super::sysreg::isb();
        Ok(())
    }

    /// Routes SPI `intid` to the boot CPU (group 1, level as the device
    /// tree configured it) and enables it.
    fn enable_spi(&self, intid: u32) -> Result<(), HalError> {
        if intid < 32 || intid >= 32 + self.spis {
            return Err(HalError::BadDeviceTree(
                "interrupt is not an SPI of this GIC",
            ));
        }
        let d = &self.dist;
        let (word, bit) = ((intid / 32) as usize, intid % 32);
        d.write32(
            GICD_IGROUPR + 4 * word,
            d.read32(GICD_IGROUPR + 4 * word) | (1 << bit),
        );
        // IPRIORITYR: one byte per interrupt.
        let pr = 0x0400 + (intid as usize & !3);
        let shift = 8 * (intid % 4);
        d.write32(pr, (d.read32(pr) & !(0xff << shift)) | (0xa0 << shift));
        // IROUTER: the boot CPU's affinity.
        let mpidr = percpu::get(0)
            .map(|p| p.mpidr.load(Ordering::Relaxed))
            .unwrap_or(0);
        let aff = (mpidr & 0xff_ffff) | ((mpidr >> 32 & 0xff) << 32);
        let ir = 0x6000 + 8 * intid as usize;
        d.write32(ir, aff as u32);
        d.write32(ir + 4, (aff >> 32) as u32);
        d.write32(0x0100 + 4 * word, 1 << bit); // GICD_ISENABLER
        wait_rwp(d)
    }

    /// Sends SGI `id` to CPU `cpu` through ICC_SGI1R_EL1.
    fn send_sgi(&self, id: u32, cpu: usize) {
        let Some(p) = percpu::get(cpu) else { return };
        let mpidr = p.mpidr.load(Ordering::Relaxed);
        let aff3 = (mpidr >> 32) & 0xff;
        let aff2 = (mpidr >> 16) & 0xff;
        let aff1 = (mpidr >> 8) & 0xff;
        let aff0 = mpidr & 0xff;
        // Target list holds aff0 as a bit in a 16-CPU range (RS = aff0 / 16).
        let rs = aff0 / 16;
        let value = (aff3 << 48)
            | (aff2 << 32)
            | (rs << 44)
            | ((id as u64) << 24)
            | (aff1 << 16)
            | (1 << (aff0 % 16));
        super::sysreg::dsb_sy();
        // Sound: generating an SGI has no effect on memory.
        msr!("S3_0_C12_C11_5", value); // ICC_SGI1R_EL1
        super::sysreg::isb();
    }

    fn ack(&self) -> (u32, u64) {
        let iar = mrs!("S3_0_C12_C12_0"); // ICC_IAR1_EL1
        ((iar & 0xff_ffff) as u32, iar)
    }

    fn eoi(&self, raw: u64) {
        msr!("S3_0_C12_C12_1", raw); // ICC_EOIR1_EL1
    }

    fn virt(&self) -> &'static dyn VirtInterface {
        &super::vgic::ICH_V3
    }
}
