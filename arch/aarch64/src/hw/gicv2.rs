//! The host GICv2 with the virtualization extensions (a GIC-400, as on
//! Xilinx ZynqMP): distributor, the memory-mapped CPU interface, and the
//! virtual interface control frame (GICH) for the list registers. Register
//! offsets from the GICv2 architecture specification (IHI 0048B).
//!
//! The device tree gives four regions: GICD, GICC, GICH and GICV. Some
//! GIC-400 integrations (ZynqMP's, and QEMU's model of it) repeat each
//! 4 KiB page of GICC and GICV over 64 KiB, so the second page of those
//! 8 KiB interfaces starts 64 KiB after the first; like Xen, the driver
//! detects it from a 128 KiB region whose first page reappears at
//! +0xf000. All interrupts are group 0 and signalled as IRQs (no
//! security extensions are used), EOImode 0.

use core::sync::atomic::{AtomicU8, Ordering};

use spin::Once;
use tessera_core::config::NR_CPUS;
use tessera_core::fdt::Node;
use tessera_core::hal::{HalError, Mmio, MmioRegion};

use super::gic::{HostGic, Ppis};
use super::vgic::{GichV2, VirtInterface};
use super::{mmu, percpu};
use crate::vgic::v2::{aliased, pages};

/// Compatibles of GICv2 implementations with the virtualization
/// extensions (Xen's gic-v2 driver matches the same).
pub const COMPATIBLE: [&str; 3] = ["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a7-gic"];

// Distributor.
const GICD_CTLR: usize = 0x000;
const GICD_TYPER: usize = 0x004;
const GICD_ISENABLER: usize = 0x100;
const GICD_ICENABLER: usize = 0x180;
const GICD_ICPENDR: usize = 0x280;
const GICD_ICACTIVER: usize = 0x380;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_ICFGR: usize = 0xc00;
const GICD_SGIR: usize = 0xf00;
const GICD_PIDR2: usize = 0xfe8;
// CPU interface.
const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_BPR: usize = 0x08;
const GICC_IAR: usize = 0x0c;
const GICC_EOIR: usize = 0x10;
const GICC_IIDR: usize = 0xfc;

/// Where an aliased interface's first page shows up again (Xen's
/// `gicv2_is_aliased`): 4 KiB below its second page, 64 KiB in.
const ALIAS_PROBE: usize = crate::vgic::v2::ALIAS_PROBE as usize;

struct GicV2 {
    dist: MmioRegion,
    cpu: MmioRegion,
    virt: GichV2,
    spis: u32,
    ppis: Ppis,
}

static GIC: Once<GicV2> = Once::new();
/// Each CPU's interface number, as a GICD_ITARGETSR / GICD_SGIR target
/// bit (0 = not known yet).
static CPU_MASK: [AtomicU8; NR_CPUS] = [const { AtomicU8::new(0) }; NR_CPUS];

fn map(pa: u64, size: u64) -> Result<MmioRegion, HalError> {
    let va = mmu::ioremap(pa, size)?;
    // SAFETY: the window was just mapped as device memory for this GIC
    // region and is used only through this module.
    Ok(unsafe { MmioRegion::new(va as usize, size as usize) })
}

/// Brings up the GICv2 the device tree node describes: distributor, the
/// boot CPU's interface, the virtual interface.
pub fn probe(node: &Node, ppis: Ppis) -> Result<&'static dyn HostGic, HalError> {
    let reg = node
        .reg_checked()
        .map_err(|_| HalError::BadDeviceTree("GICv2 reg malformed"))?;
    let reg = reg.as_slice();
    if reg.len() < 4 {
        return Err(HalError::BadDeviceTree(
            "GICv2 without the virtualization regions (GICH, GICV): guests need them",
        ));
    }
    let [(dpa, dsize), (cpa, csize), (hpa, hsize), (vpa, vsize)] = [reg[0], reg[1], reg[2], reg[3]];
    if dsize < 0x1000 || csize < 0x2000 || hsize < 0x1000 || vsize < 0x2000 {
        return Err(HalError::BadDeviceTree("GICv2 regions too small"));
    }
    if [cpa, vpa, dpa, hpa].iter().any(|a| a % 0x1000 != 0) {
        return Err(HalError::BadDeviceTree("GICv2 regions not page aligned"));
    }
    let dist = map(dpa, 0x1000)?;
    // The CPU interface: one page is all the hypervisor uses (no GICC_DIR
    // with EOImode 0); 64 KiB when the region may be aliased, to look.
    let cpu = map(cpa, if csize >= 0x2_0000 { 0x1_0000 } else { 0x1000 })?;
    let hyp = map(hpa, 0x1000)?;
    let (iidr, iidr_alias) = if csize >= 0x2_0000 {
        (cpu.read32(GICC_IIDR), cpu.read32(ALIAS_PROBE + GICC_IIDR))
    } else {
        (cpu.read32(GICC_IIDR), 0)
    };
    // GICC and GICV come from the same integration: aliased alike.
    let is_aliased = aliased(csize, iidr, iidr_alias) && vsize >= 0x2_0000;
    let gicv = pages(vpa, is_aliased);
    if (dist.read32(GICD_PIDR2) >> 4) & 0xf != 2 {
        tessera_core::warn!(
            "GICv2: GICD_PIDR2 {:#x} does not say ArchRev 2",
            dist.read32(GICD_PIDR2)
        );
    }

    let typer = dist.read32(GICD_TYPER);
    let lines = ((typer & 0x1f) + 1) * 32;
    let spis = lines.min(1020) - 32;

    dist.write32(GICD_CTLR, 0);
    // Every SPI: disabled, not pending or active, priority 0xa0, no
    // target, level-triggered. Nothing owns one yet.
    for n in 1..(lines / 32) as usize {
        dist.write32(GICD_ICENABLER + 4 * n, !0);
        dist.write32(GICD_ICPENDR + 4 * n, !0);
        dist.write32(GICD_ICACTIVER + 4 * n, !0);
    }
    for n in 8..(lines / 4) as usize {
        dist.write32(GICD_IPRIORITYR + 4 * n, 0xa0a0_a0a0);
        dist.write32(GICD_ITARGETSR + 4 * n, 0);
    }
    for n in 2..(lines / 16) as usize {
        dist.write32(GICD_ICFGR + 4 * n, 0);
    }
    dist.write32(GICD_CTLR, 1);

    let g: &'static GicV2 = GIC.call_once(|| GicV2 {
        dist,
        cpu,
        virt: GichV2 { hyp, gicv },
        spis,
        ppis,
    });
    g.cpu_init()?;
    tessera_core::info!(
        "GICv2: distributor {dpa:#x}, CPU interface {cpa:#x}, GICH {hpa:#x}, GICV {vpa:#x}{}, {} list registers",
        if is_aliased { " (pages 64 KiB apart)" } else { "" },
        g.virt.nr_lrs()
    );
    Ok(g)
}

impl HostGic for GicV2 {
    fn name(&self) -> &'static str {
        "GICv2"
    }

    fn spis(&self) -> u32 {
        self.spis
    }

    /// This CPU's banked SGIs and PPIs (disabled but the hypervisor's,
    /// priority 0xa0), its CPU interface, its virtual interface (off).
    fn cpu_init(&self) -> Result<(), HalError> {
        let d = &self.dist;
        let me = percpu::this_cpu_index();
        // GICD_ITARGETSR0..7 read as this CPU's own interface bit.
        let mask = (d.read32(GICD_ITARGETSR) & 0xff) as u8;
        if mask == 0 {
            return Err(HalError::BadDeviceTree(
                "GICv2: GICD_ITARGETSR0 reads 0 on this CPU",
            ));
        }
        CPU_MASK[me].store(mask, Ordering::Relaxed);
        d.write32(GICD_ICENABLER, !0);
        d.write32(GICD_ICPENDR, !0);
        d.write32(GICD_ICACTIVER, !0);
        for i in 0..8 {
            d.write32(GICD_IPRIORITYR + 4 * i, 0xa0a0_a0a0);
        }
        d.write32(GICD_ISENABLER, self.ppis.enable_mask());
        let c = &self.cpu;
        c.write32(GICC_PMR, 0xff);
        c.write32(GICC_BPR, 0);
        // EnableGrp0 only: everything is group 0, signalled as IRQ
        // (FIQEn 0); EOImode 0, so an EOI also deactivates.
        c.write32(GICC_CTLR, 1);
        self.virt.reset();
        Ok(())
    }

    /// Routes SPI `intid` to the boot CPU (priority 0xa0, the trigger the
    /// distributor set up: level) and enables it.
    fn enable_spi(&self, intid: u32) -> Result<(), HalError> {
        if intid < 32 || intid >= 32 + self.spis {
            return Err(HalError::BadDeviceTree(
                "interrupt is not an SPI of this GIC",
            ));
        }
        let cpu0 = CPU_MASK[0].load(Ordering::Relaxed);
        if cpu0 == 0 {
            return Err(HalError::BadDeviceTree("GICv2: boot CPU interface unknown"));
        }
        let d = &self.dist;
        let byte = |base: usize, v: u8| {
            let a = base + (intid as usize & !3);
            let sh = 8 * (intid % 4);
            d.write32(a, (d.read32(a) & !(0xff << sh)) | ((v as u32) << sh));
        };
        byte(GICD_IPRIORITYR, 0xa0);
        byte(GICD_ITARGETSR, cpu0);
        d.write32(
            GICD_ISENABLER + 4 * (intid / 32) as usize,
            1 << (intid % 32),
        );
        Ok(())
    }

    /// Sends SGI `id` to CPU `cpu` through GICD_SGIR (target list).
    fn send_sgi(&self, id: u32, cpu: usize) {
        let Some(mask) = CPU_MASK.get(cpu).map(|m| m.load(Ordering::Relaxed)) else {
            return;
        };
        if mask == 0 {
            return;
        }
        // The SGI must see every store made before it.
        super::sysreg::dsb_sy();
        self.dist
            .write32(GICD_SGIR, ((mask as u32) << 16) | (id & 0xf));
    }

    fn ack(&self) -> (u32, u64) {
        let iar = self.cpu.read32(GICC_IAR);
        (iar & 0x3ff, iar as u64)
    }

    fn eoi(&self, raw: u64) {
        self.cpu.write32(GICC_EOIR, raw as u32);
    }

    fn virt(&self) -> &'static dyn VirtInterface {
        match GIC.get() {
            Some(g) => &g.virt,
            None => &super::vgic::ICH_V3,
        }
    }
}
