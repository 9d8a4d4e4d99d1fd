//! The device tree each domU boots with, as Xen 4.20's `prepare_dtb_domU`
//! (xen/arch/arm/dom0less-build.c) and the helpers it calls in
//! xen/arch/arm/domain_build.c build it, node for node:
//!
//! ```text
//! / { #address-cells = <2>; #size-cells = <2>;
//!     chosen { bootargs; linux,initrd-start; linux,initrd-end; };
//!     psci { compatible = "arm,psci-1.0", "arm,psci-0.2", "arm,psci";
//!            method = "hvc"; cpu_off = <1>; cpu_on = <2>; };
//!     cpus { #address-cells = <1>; #size-cells = <0>;
//!            cpu@<affinity> { compatible; device_type = "cpu"; reg;
//!                             [clock-frequency;] enable-method = "psci"; }; };
//!     memory@<bank0> { device_type = "memory"; reg = <all banks>; };
//!     interrupt-controller@3001000 { GICv3 or GICv2 (the host's), phandle 65000 };
//!     timer { compatible = "arm,armv8-timer"; interrupts; interrupt-parent; };
//!     sbsa-uart@22000000 { ... };            (vpl011 only)
//! };
//! ```
//!
//! Like Xen's dom0less (and unlike libxl), the root has no `compatible`
//! and no `interrupt-parent`: each node with interrupts names the GIC
//! itself. Not generated yet: the `hypervisor` node (`xen,enhanced`),
//! `reserved-memory` (static shared memory) and passthrough fragments.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::vgic::GicVersion;
use tessera_core::fdt::Fdt;
use tessera_core::fdt_write::{FdtWriteError, FdtWriter};

use super::layout::{
    vcpu_affinity, GUEST_GICC_BASE, GUEST_GICC_SIZE, GUEST_GICD_BASE, GUEST_GICD_SIZE,
    GUEST_GICV3_GICD_BASE, GUEST_GICV3_GICD_SIZE, GUEST_GICV3_GICR0_BASE, GUEST_GICV3_GICR0_SIZE,
    GUEST_GICV3_RDIST_REGIONS, GUEST_MAX_VCPUS, GUEST_PHANDLE_GIC, GUEST_PL011_BASE,
    GUEST_PL011_SIZE, GUEST_RAM_BANKS, GUEST_ROOT_ADDRESS_CELLS, GUEST_ROOT_SIZE_CELLS,
    GUEST_TIMER_PHYS_NS_PPI, GUEST_TIMER_PHYS_S_PPI, GUEST_TIMER_VIRT_PPI, GUEST_VPL011_SPI,
};

/// The CPU `compatible` to use when the host's is not passed on. Xen
/// copies the first host `/cpus` node's `compatible` into every vCPU node.
pub const DEFAULT_CPU_COMPATIBLE: &[&str] = &["arm,armv8"];

/// Largest tree this module produces; a guest DTB stays far below Linux's
/// 2 MiB limit (Xen budgets 4 KiB, `DOMU_DTB_SIZE`, which 128 vCPU nodes
/// would not fit).
pub const MAX_GUEST_DTB_SIZE: usize = 64 * 1024;

/// PSCI function ids in the `psci` node (`PSCI_cpu_off`, `PSCI_cpu_on`
/// in arch-arm.h), for PSCI 0.1 guests.
const PSCI_CPU_OFF: u32 = 1;
const PSCI_CPU_ON: u32 = 2;
/// `DT_IRQ_TYPE_LEVEL_HIGH` / `DT_IRQ_TYPE_LEVEL_LOW`
/// (xen/include/public/device_tree_defs.h).
const IRQ_TYPE_LEVEL_HIGH: u32 = 4;
const IRQ_TYPE_LEVEL_LOW: u32 = 8;
/// The CPU mask Xen puts in the third interrupt cell (`set_interrupt`).
const IRQ_CPU_MASK: u32 = 0xf;
/// `current-speed` of the vpl011 node: Xen's default 115200 baud.
const VPL011_BAUD: u32 = 115_200;

/// What the guest's tree says.
#[derive(Debug, Clone, Copy)]
pub struct GuestDtSpec<'a> {
    /// Number of vCPUs, 1..=[`GUEST_MAX_VCPUS`].
    pub vcpus: u32,
    /// Guest RAM banks `(base, size)` in ascending order (from
    /// [`super::layout::ram_banks`]), at most [`GUEST_RAM_BANKS`].
    pub ram: &'a [(u64, u64)],
    /// The kernel command line; absent or empty gives no `bootargs`.
    pub bootargs: Option<&'a str>,
    /// The ramdisk's guest `(address, size)`. The tree's length does not
    /// depend on these values, so a caller can build once with a
    /// placeholder to learn the size, place the blobs, and build again.
    pub initrd: Option<(u64, u64)>,
    /// Add the `sbsa-uart` node of the emulated PL011.
    pub vpl011: bool,
    /// `compatible` of every `cpu@` node (the host CPU's, as Xen does, or
    /// [`DEFAULT_CPU_COMPATIBLE`]).
    pub cpu_compatible: &'a [&'a str],
    /// The host CPU node's `clock-frequency`, copied when present.
    pub cpu_clock_frequency: Option<u32>,
    /// The host timer node's `clock-frequency`, copied when present.
    pub timer_clock_frequency: Option<u32>,
    /// The domain's partial device tree (`multiboot,device-tree`), already
    /// accepted by [`check_partial`]: its `/aliases` and `/passthrough`
    /// nodes are copied in, as Xen does.
    pub partial: Option<Fdt<'a>>,
    /// `xen,enhanced`: add the `hypervisor` node (Xen's
    /// `make_hypervisor_node`).
    pub xen: bool,
    /// The interrupt controller node: GICv3 (`make_gicv3_domU_node`) or
    /// GICv2 (`make_gicv2_domU_node`).
    pub gic: GicVersion,
}

/// Xen's smallest extended region (`EXT_REGION_MIN_SIZE`: 64 MiB).
const EXT_REGION_MIN: u64 = 64 << 20;

/// The `hypervisor` node's `reg`: the grant-table window, then the unused
/// parts of the guest RAM windows of at least 64 MiB (Xen's "extended
/// regions", where a guest may map foreign pages).
fn hypervisor_regions(ram: &[(u64, u64)]) -> Vec<(u64, u64)> {
    use super::layout::{GUEST_RAM0_BASE, GUEST_RAM0_SIZE, GUEST_RAM1_BASE, GUEST_RAM1_SIZE};
    let mut out = alloc::vec![(
        tessera_core::xen::abi::GUEST_GNTTAB_BASE,
        tessera_core::xen::abi::GUEST_GNTTAB_SIZE
    )];
    for (wb, ws) in [
        (GUEST_RAM0_BASE, GUEST_RAM0_SIZE),
        (GUEST_RAM1_BASE, GUEST_RAM1_SIZE),
    ] {
        let used_end = ram
            .iter()
            .filter(|&&(b, _)| b >= wb && b < wb + ws)
            .map(|&(b, s)| b + s)
            .max()
            .unwrap_or(wb);
        // 2 MiB aligned, as Xen's regions are.
        let start = (used_end + 0x1f_ffff) & !0x1f_ffff;
        let end = wb + ws;
        if end > start && end - start >= EXT_REGION_MIN {
            out.push((start, end - start));
        }
    }
    out
}

/// Why a partial device tree is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartialError {
    /// A property that asks for device assignment, which needs an IOMMU
    /// plugin this image does not have.
    NeedsAssignment {
        node: String,
        property: &'static str,
    },
    /// `/gic` gives a phandle other than the one the guest GIC has.
    GicPhandle { phandle: u32 },
}

impl fmt::Display for PartialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartialError::NeedsAssignment { node, property } => write!(
                f,
                "partial device tree: {node} has {property}, which needs device assignment (no IOMMU in this image)"
            ),
            PartialError::GicPhandle { phandle } => write!(
                f,
                "partial device tree: /gic phandle {phandle:#x} differs from the guest GIC's {GUEST_PHANDLE_GIC:#x}"
            ),
        }
    }
}

/// Accepts a partial device tree whose `/passthrough` nodes need no device
/// assignment (no `xen,reg`, `xen,path`, `xen,force-assign-without-iommu`).
pub fn check_partial(partial: &Fdt) -> Result<(), PartialError> {
    for child in partial.root().children() {
        match child.name() {
            "gic" => {
                if let Some(ph) = child.property("phandle").and_then(|p| p.as_u32()) {
                    if ph != GUEST_PHANDLE_GIC {
                        return Err(PartialError::GicPhandle { phandle: ph });
                    }
                }
            }
            "passthrough" => {
                for n in child.descendants() {
                    for property in ["xen,reg", "xen,path", "xen,force-assign-without-iommu"] {
                        if n.property(property).is_some() {
                            return Err(PartialError::NeedsAssignment {
                                node: format!("/passthrough/{}", n.name()),
                                property,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Copies `node` and everything below it.
fn copy_subtree(w: &mut FdtWriter, node: &tessera_core::fdt::Node) {
    w.begin_node(node.name());
    for p in node.properties() {
        w.prop(p.name, p.value);
    }
    for c in node.children() {
        copy_subtree(w, &c);
    }
    w.end_node();
}

/// Why a guest tree cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtGenError {
    /// `vcpus` is 0 or above [`GUEST_MAX_VCPUS`].
    BadVcpus { vcpus: u32 },
    /// No RAM bank.
    NoRam,
    /// More banks than the guest layout has.
    TooManyBanks { count: usize },
    /// A bank that is empty, wraps, or is out of order / overlapping.
    BadBank { base: u64, size: u64 },
    /// An initrd that is empty, wraps, or is not inside one RAM bank.
    BadInitrd { addr: u64, size: u64 },
    /// An empty `cpu_compatible`.
    NoCpuCompatible,
    /// The writer refused something (a bad string, for instance).
    Write(FdtWriteError),
    /// The tree came out larger than [`MAX_GUEST_DTB_SIZE`].
    TooLarge { size: usize },
}

impl fmt::Display for DtGenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtGenError::BadVcpus { vcpus } => write!(
                f,
                "guest device tree: {vcpus} vCPUs is outside 1..={GUEST_MAX_VCPUS}"
            ),
            DtGenError::NoRam => write!(f, "guest device tree: no RAM bank"),
            DtGenError::TooManyBanks { count } => write!(
                f,
                "guest device tree: {count} RAM banks, at most {GUEST_RAM_BANKS}"
            ),
            DtGenError::BadBank { base, size } => write!(
                f,
                "guest device tree: RAM bank {base:#x}+{size:#x} is empty, wraps or is out of order"
            ),
            DtGenError::BadInitrd { addr, size } => write!(
                f,
                "guest device tree: initrd {addr:#x}+{size:#x} is empty or not inside RAM"
            ),
            DtGenError::NoCpuCompatible => {
                write!(f, "guest device tree: empty CPU compatible list")
            }
            DtGenError::Write(e) => write!(f, "guest device tree: {e}"),
            DtGenError::TooLarge { size } => write!(
                f,
                "guest device tree: {size:#x} bytes exceeds {MAX_GUEST_DTB_SIZE:#x}"
            ),
        }
    }
}

impl From<FdtWriteError> for DtGenError {
    fn from(e: FdtWriteError) -> Self {
        DtGenError::Write(e)
    }
}

/// One GIC interrupt specifier as Xen's `set_interrupt` writes it: PPI
/// flag, number within its class, CPU mask and trigger.
fn interrupt(intid: u32, trigger: u32) -> [u32; 3] {
    let (ppi, num) = if intid < 32 {
        (1, intid - 16)
    } else {
        (0, intid - 32)
    };
    [ppi, num, (IRQ_CPU_MASK << 8) | trigger]
}

/// A `reg` entry in the root's 2 + 2 cells.
fn range(base: u64, size: u64) -> [u32; 4] {
    [
        (base >> 32) as u32,
        base as u32,
        (size >> 32) as u32,
        size as u32,
    ]
}

fn check(spec: &GuestDtSpec) -> Result<(), DtGenError> {
    if !(1..=GUEST_MAX_VCPUS).contains(&spec.vcpus) {
        return Err(DtGenError::BadVcpus { vcpus: spec.vcpus });
    }
    if spec.ram.is_empty() {
        return Err(DtGenError::NoRam);
    }
    if spec.ram.len() > GUEST_RAM_BANKS {
        return Err(DtGenError::TooManyBanks {
            count: spec.ram.len(),
        });
    }
    let mut prev_end = 0u64;
    for &(base, size) in spec.ram {
        let end = base.checked_add(size);
        match end {
            Some(end) if size > 0 && base >= prev_end => prev_end = end,
            _ => return Err(DtGenError::BadBank { base, size }),
        }
    }
    if let Some((addr, size)) = spec.initrd {
        let inside = addr.checked_add(size).is_some_and(|end| {
            size > 0
                && spec
                    .ram
                    .iter()
                    .any(|&(b, s)| b <= addr && end <= b.saturating_add(s))
        });
        if !inside {
            return Err(DtGenError::BadInitrd { addr, size });
        }
    }
    if spec.cpu_compatible.is_empty() {
        return Err(DtGenError::NoCpuCompatible);
    }
    Ok(())
}

/// Builds the guest's DTB.
pub fn build(spec: &GuestDtSpec) -> Result<Vec<u8>, DtGenError> {
    check(spec)?;
    let mut w = FdtWriter::new();
    w.begin_node("")
        .prop_u32("#address-cells", GUEST_ROOT_ADDRESS_CELLS)
        .prop_u32("#size-cells", GUEST_ROOT_SIZE_CELLS);

    // make_chosen_node
    w.begin_node("chosen");
    if let Some(args) = spec.bootargs.filter(|a| !a.is_empty()) {
        w.prop_str("bootargs", args);
    }
    if let Some((addr, size)) = spec.initrd {
        // Xen writes 64-bit placeholders and fills them in later.
        w.prop_u64("linux,initrd-start", addr)
            .prop_u64("linux,initrd-end", addr.saturating_add(size));
    }
    w.end_node();

    // make_psci_node
    w.begin_node("psci")
        .prop_strs("compatible", &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        .prop_str("method", "hvc")
        .prop_u32("cpu_off", PSCI_CPU_OFF)
        .prop_u32("cpu_on", PSCI_CPU_ON)
        .end_node();

    // make_cpus_node
    w.begin_node("cpus")
        .prop_u32("#address-cells", 1)
        .prop_u32("#size-cells", 0);
    for vcpu in 0..spec.vcpus {
        let aff = vcpu_affinity(vcpu).ok_or(DtGenError::BadVcpus { vcpus: spec.vcpus })?;
        w.begin_node(&format!("cpu@{aff:x}"))
            .prop_strs("compatible", spec.cpu_compatible)
            .prop_str("device_type", "cpu")
            // Affinity fits AFF0/AFF1 (bits 15:0).
            .prop_u32("reg", aff as u32);
        if let Some(hz) = spec.cpu_clock_frequency {
            w.prop_u32("clock-frequency", hz);
        }
        w.prop_str("enable-method", "psci").end_node();
    }
    w.end_node();

    // make_memory_node: one node, every bank in its reg.
    let reg: Vec<u32> = spec.ram.iter().flat_map(|&(b, s)| range(b, s)).collect();
    w.begin_node(&format!("memory@{:x}", spec.ram[0].0))
        .prop_str("device_type", "memory")
        .prop_cells("reg", &reg)
        .end_node();

    let mut gic_reg = Vec::new();
    match spec.gic {
        GicVersion::V3 => {
            // make_gicv3_domU_node
            gic_reg.extend(range(GUEST_GICV3_GICD_BASE, GUEST_GICV3_GICD_SIZE));
            gic_reg.extend(range(GUEST_GICV3_GICR0_BASE, GUEST_GICV3_GICR0_SIZE));
            w.begin_node(&format!("interrupt-controller@{GUEST_GICV3_GICD_BASE:x}"))
                .prop_u32("#address-cells", 0)
                .prop_u32("#interrupt-cells", 3)
                .prop_empty("interrupt-controller")
                .prop_str("compatible", "arm,gic-v3")
                .prop_u32("#redistributor-regions", GUEST_GICV3_RDIST_REGIONS)
                .prop_cells("reg", &gic_reg);
        }
        GicVersion::V2 => {
            // make_gicv2_domU_node: distributor and CPU interface.
            gic_reg.extend(range(GUEST_GICD_BASE, GUEST_GICD_SIZE));
            gic_reg.extend(range(GUEST_GICC_BASE, GUEST_GICC_SIZE));
            w.begin_node(&format!("interrupt-controller@{GUEST_GICD_BASE:x}"))
                .prop_u32("#address-cells", 0)
                .prop_u32("#interrupt-cells", 3)
                .prop_empty("interrupt-controller")
                .prop_str("compatible", "arm,gic-400")
                .prop_cells("reg", &gic_reg);
        }
    }
    w.prop_u32("linux,phandle", GUEST_PHANDLE_GIC)
        .prop_u32("phandle", GUEST_PHANDLE_GIC)
        .end_node();

    // make_timer_node: secure, non-secure, virtual; active-low level.
    let mut timer_irqs = Vec::new();
    for ppi in [
        GUEST_TIMER_PHYS_S_PPI,
        GUEST_TIMER_PHYS_NS_PPI,
        GUEST_TIMER_VIRT_PPI,
    ] {
        timer_irqs.extend(interrupt(ppi, IRQ_TYPE_LEVEL_LOW));
    }
    w.begin_node("timer")
        .prop_str("compatible", "arm,armv8-timer")
        .prop_cells("interrupts", &timer_irqs)
        .prop_u32("interrupt-parent", GUEST_PHANDLE_GIC);
    if let Some(hz) = spec.timer_clock_frequency {
        w.prop_u32("clock-frequency", hz);
    }
    w.end_node();

    // make_vpl011_uart_node
    if spec.vpl011 {
        w.begin_node(&format!("sbsa-uart@{GUEST_PL011_BASE:x}"))
            .prop_str("compatible", "arm,sbsa-uart")
            .prop_cells("reg", &range(GUEST_PL011_BASE, GUEST_PL011_SIZE))
            .prop_cells(
                "interrupts",
                &interrupt(GUEST_VPL011_SPI, IRQ_TYPE_LEVEL_HIGH),
            )
            .prop_u32("interrupt-parent", GUEST_PHANDLE_GIC)
            .prop_u32("current-speed", VPL011_BAUD)
            .end_node();
    }

    // make_hypervisor_node: Xen's version, the grant-table window and the
    // extended regions, and the event-channel PPI (level, active low).
    if spec.xen {
        let mut reg = Vec::new();
        for (b, sz) in hypervisor_regions(spec.ram) {
            reg.extend(range(b, sz));
        }
        w.begin_node("hypervisor")
            .prop_strs("compatible", &["xen,xen-4.20", "xen,xen"])
            .prop_cells("reg", &reg)
            .prop_cells(
                "interrupts",
                &interrupt(tessera_core::xen::abi::GUEST_EVTCHN_PPI, IRQ_TYPE_LEVEL_LOW),
            )
            .prop_u32("interrupt-parent", GUEST_PHANDLE_GIC)
            .end_node();
    }

    // The partial device tree's /aliases and /passthrough (Xen's
    // domain_handle_dtb_bootmodule copies exactly these).
    if let Some(partial) = spec.partial {
        for name in ["aliases", "passthrough"] {
            if let Some(n) = partial.root().children().find(|c| c.name() == name) {
                copy_subtree(&mut w, &n);
            }
        }
    }

    w.end_node();
    let blob = w.finish()?;
    if blob.len() > MAX_GUEST_DTB_SIZE {
        return Err(DtGenError::TooLarge { size: blob.len() });
    }
    Ok(blob)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::guest::layout::{ram_banks, GUEST_RAM0_BASE, GUEST_RAM1_BASE};
    use std::string::String;
    use tessera_core::fdt::{Fdt, Node};

    fn spec(ram: &[(u64, u64)]) -> GuestDtSpec<'_> {
        GuestDtSpec {
            vcpus: 2,
            ram,
            bootargs: Some("console=ttyAMA0 init=/bin/sh"),
            initrd: Some((0x4200_0000, 0x12_3456)),
            vpl011: true,
            cpu_compatible: DEFAULT_CPU_COMPATIBLE,
            cpu_clock_frequency: None,
            timer_clock_frequency: None,
            partial: None,
            xen: false,
            gic: GicVersion::V3,
        }
    }

    fn cells(n: &Node, p: &str) -> Vec<u32> {
        n.property(p).unwrap().cells().collect()
    }

    fn strs<'a>(n: &Node<'a>, p: &str) -> Vec<&'a str> {
        n.property(p).unwrap().strings().collect()
    }

    fn u32p(n: &Node, p: &str) -> u32 {
        n.property(p).unwrap().as_u32().unwrap()
    }

    fn names<'a>(n: &Node<'a>) -> Vec<&'a str> {
        n.children().map(|c| c.name()).collect()
    }

    fn props<'a>(n: &Node<'a>) -> Vec<&'a str> {
        n.properties().map(|p| p.name).collect()
    }

    #[test]
    fn xen_enhanced_domains_get_xens_hypervisor_node() {
        let banks = ram_banks(256 << 20).unwrap();
        let mut sp = spec(banks.as_slice());
        let blob = build(&sp).unwrap();
        assert!(Fdt::new(&blob).unwrap().find_node("/hypervisor").is_none());
        sp.xen = true;
        let blob = build(&sp).unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let h = fdt.find_node("/hypervisor").unwrap();
        assert_eq!(strs(&h, "compatible"), ["xen,xen-4.20", "xen,xen"]);
        assert_eq!(cells(&h, "interrupts"), [1, 15, 0xf08]);
        assert_eq!(cells(&h, "interrupt-parent"), [GUEST_PHANDLE_GIC]);
        // The grant-table window, then what RAM leaves of both windows.
        assert_eq!(
            cells(&h, "reg"),
            [
                0,
                0x3800_0000,
                0,
                0x0100_0000, // grant table
                0,
                0x5000_0000,
                0,
                0xb000_0000, // RAM0 above 256 MiB
                0x2,
                0,
                0xfe,
                0, // all of RAM1
            ]
        );
    }

    #[test]
    fn every_node_as_xen_builds_it() {
        let banks = ram_banks(128 << 20).unwrap();
        let blob = build(&spec(banks.as_slice())).unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let root = fdt.root();
        assert_eq!(props(&root), ["#address-cells", "#size-cells"]);
        assert_eq!(root.cells(), (2, 2));
        assert_eq!(
            names(&root),
            [
                "chosen",
                "psci",
                "cpus",
                "memory@40000000",
                "interrupt-controller@3001000",
                "timer",
                "sbsa-uart@22000000"
            ]
        );
        assert_eq!(fdt.reservations().count(), 0);

        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(
            chosen.property("bootargs").unwrap().as_str(),
            Some("console=ttyAMA0 init=/bin/sh")
        );
        let start = chosen.property("linux,initrd-start").unwrap();
        let end = chosen.property("linux,initrd-end").unwrap();
        assert_eq!((start.value.len(), end.value.len()), (8, 8));
        assert_eq!(start.as_u64(), Some(0x4200_0000));
        assert_eq!(end.as_u64(), Some(0x4212_3456));

        let psci = fdt.find_node("/psci").unwrap();
        assert_eq!(
            strs(&psci, "compatible"),
            ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]
        );
        assert_eq!(psci.property("method").unwrap().as_str(), Some("hvc"));
        assert_eq!((u32p(&psci, "cpu_off"), u32p(&psci, "cpu_on")), (1, 2));

        let cpus = fdt.find_node("/cpus").unwrap();
        assert_eq!(cpus.cells(), (1, 0));
        assert_eq!(names(&cpus), ["cpu@0", "cpu@1"]);
        for (i, cpu) in cpus.children().enumerate() {
            assert_eq!(strs(&cpu, "compatible"), ["arm,armv8"]);
            assert_eq!(cpu.property("device_type").unwrap().as_str(), Some("cpu"));
            assert_eq!(u32p(&cpu, "reg"), i as u32);
            assert_eq!(
                cpu.property("enable-method").unwrap().as_str(),
                Some("psci")
            );
            assert!(cpu.property("clock-frequency").is_none());
        }

        let mem = fdt.find_node("/memory").unwrap();
        assert_eq!(
            mem.property("device_type").unwrap().as_str(),
            Some("memory")
        );
        assert_eq!(
            mem.reg().collect::<Vec<_>>(),
            [(GUEST_RAM0_BASE, 128 << 20)]
        );

        let gic = fdt.node_by_phandle(GUEST_PHANDLE_GIC).unwrap();
        assert_eq!(gic.name(), "interrupt-controller@3001000");
        assert_eq!(strs(&gic, "compatible"), ["arm,gic-v3"]);
        assert_eq!(u32p(&gic, "#address-cells"), 0);
        assert_eq!(u32p(&gic, "#interrupt-cells"), 3);
        assert_eq!(gic.property("interrupt-controller").unwrap().value, b"");
        assert_eq!(u32p(&gic, "#redistributor-regions"), 1);
        assert_eq!(u32p(&gic, "linux,phandle"), GUEST_PHANDLE_GIC);
        assert_eq!(
            gic.reg().collect::<Vec<_>>(),
            [(0x0300_1000, 0x1_0000), (0x0302_0000, 0x100_0000)]
        );

        let timer = fdt.find_node("/timer").unwrap();
        assert_eq!(strs(&timer, "compatible"), ["arm,armv8-timer"]);
        assert_eq!(
            cells(&timer, "interrupts"),
            [1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08]
        );
        assert_eq!(u32p(&timer, "interrupt-parent"), GUEST_PHANDLE_GIC);
        assert!(timer.property("clock-frequency").is_none());

        let uart = fdt.find_node("/sbsa-uart@22000000").unwrap();
        assert_eq!(strs(&uart, "compatible"), ["arm,sbsa-uart"]);
        assert_eq!(uart.reg().collect::<Vec<_>>(), [(0x2200_0000, 0x1000)]);
        assert_eq!(cells(&uart, "interrupts"), [0, 0, 0xf04]);
        assert_eq!(u32p(&uart, "interrupt-parent"), GUEST_PHANDLE_GIC);
        assert_eq!(u32p(&uart, "current-speed"), 115_200);
    }

    #[test]
    fn minimal_guest() {
        let ram = [(GUEST_RAM0_BASE, 64 << 20)];
        let blob = build(&GuestDtSpec {
            bootargs: Some(""),
            initrd: None,
            vpl011: false,
            vcpus: 1,
            ..spec(&ram)
        })
        .unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(chosen.properties().count(), 0);
        assert!(fdt.find_node("/sbsa-uart").is_none());
        assert_eq!(names(&fdt.find_node("/cpus").unwrap()), ["cpu@0"]);
        assert!(
            blob.len() < 4096,
            "{} bytes: Xen's DOMU_DTB_SIZE",
            blob.len()
        );
    }

    /// A GICv2 host gives guests Xen's `make_gicv2_domU_node`: a GIC-400
    /// with the distributor and the CPU interface at GUEST_GICD_BASE and
    /// GUEST_GICC_BASE, the same phandle, no redistributors.
    #[test]
    fn gicv2_hosts_give_a_gic_400_node() {
        let ram = [(GUEST_RAM0_BASE, 64 << 20)];
        let blob = build(&GuestDtSpec {
            gic: GicVersion::V2,
            ..spec(&ram)
        })
        .unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let gic = fdt.node_by_phandle(GUEST_PHANDLE_GIC).unwrap();
        assert_eq!(gic.name(), "interrupt-controller@3001000");
        assert_eq!(strs(&gic, "compatible"), ["arm,gic-400"]);
        assert_eq!(u32p(&gic, "#interrupt-cells"), 3);
        assert_eq!(u32p(&gic, "#address-cells"), 0);
        assert!(gic.property("#redistributor-regions").is_none());
        assert_eq!(
            gic.reg().collect::<Vec<_>>(),
            [(0x0300_1000, 0x1000), (0x0300_2000, 0x2000)]
        );
        let timer = fdt.find_node("/timer").unwrap();
        assert_eq!(u32p(&timer, "interrupt-parent"), GUEST_PHANDLE_GIC);
    }

    #[test]
    fn host_values_are_copied() {
        let ram = [(GUEST_RAM0_BASE, 64 << 20)];
        let blob = build(&GuestDtSpec {
            cpu_compatible: &["arm,cortex-a57", "arm,armv8"],
            cpu_clock_frequency: Some(1_000_000_000),
            timer_clock_frequency: Some(62_500_000),
            ..spec(&ram)
        })
        .unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let cpu = fdt.find_node("/cpus/cpu@1").unwrap();
        assert_eq!(strs(&cpu, "compatible"), ["arm,cortex-a57", "arm,armv8"]);
        assert_eq!(u32p(&cpu, "clock-frequency"), 1_000_000_000);
        let timer = fdt.find_node("/timer").unwrap();
        assert_eq!(u32p(&timer, "clock-frequency"), 62_500_000);
    }

    #[test]
    fn two_banks_in_one_memory_node() {
        let banks = ram_banks(5 << 30).unwrap();
        let blob = build(&GuestDtSpec {
            initrd: Some((GUEST_RAM1_BASE, 0x1000)),
            ..spec(banks.as_slice())
        })
        .unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let mems: Vec<_> = fdt
            .root()
            .children()
            .filter(|n| n.name().starts_with("memory"))
            .collect();
        assert_eq!(mems.len(), 1);
        assert_eq!(mems[0].name(), "memory@40000000");
        assert_eq!(
            mems[0].reg().collect::<Vec<_>>(),
            [(GUEST_RAM0_BASE, 3 << 30), (GUEST_RAM1_BASE, 2 << 30)]
        );
    }

    #[test]
    fn all_vcpus_and_size_bound() {
        let ram = [(GUEST_RAM0_BASE, 64 << 20)];
        let long_args: String = "x".repeat(2048);
        let blob = build(&GuestDtSpec {
            vcpus: GUEST_MAX_VCPUS,
            bootargs: Some(&long_args),
            cpu_compatible: &["arm,cortex-a72", "arm,armv8"],
            cpu_clock_frequency: Some(1),
            ..spec(&ram)
        })
        .unwrap();
        assert!(blob.len() < MAX_GUEST_DTB_SIZE, "{} bytes", blob.len());
        let fdt = Fdt::new(&blob).unwrap();
        let cpus = fdt.find_node("/cpus").unwrap();
        let regs: Vec<u32> = cpus.children().map(|c| u32p(&c, "reg")).collect();
        assert_eq!(regs.len(), 128);
        assert_eq!(regs[15], 0xf);
        assert_eq!(regs[16], 0x100);
        assert_eq!(regs[127], 0x70f);
        let names = names(&cpus);
        assert_eq!(names[16], "cpu@100");
        assert_eq!(names[127], "cpu@70f");
    }

    #[test]
    fn initrd_values_do_not_change_the_size() {
        let ram = [(GUEST_RAM0_BASE, 256 << 20)];
        let a = build(&GuestDtSpec {
            initrd: Some((GUEST_RAM0_BASE, 1)),
            ..spec(&ram)
        })
        .unwrap();
        let b = build(&GuestDtSpec {
            initrd: Some((0x4f00_0000, 0xff_ffff)),
            ..spec(&ram)
        })
        .unwrap();
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn bad_specs_are_refused() {
        let ram = [(GUEST_RAM0_BASE, 64 << 20)];
        for vcpus in [0, GUEST_MAX_VCPUS + 1] {
            assert_eq!(
                build(&GuestDtSpec {
                    vcpus,
                    ..spec(&ram)
                }),
                Err(DtGenError::BadVcpus { vcpus })
            );
        }
        assert_eq!(build(&spec(&[])), Err(DtGenError::NoRam));
        assert_eq!(
            build(&spec(&[(0x4000_0000, 0x1000); 3])),
            Err(DtGenError::TooManyBanks { count: 3 })
        );
        for bad in [
            [(0x4000_0000, 0), (0x2_0000_0000, 0x1000)],
            [(0x4000_0000, 0x1000), (u64::MAX, 2)],
            [(0x2_0000_0000, 0x1000), (0x4000_0000, 0x1000)],
            [(0x4000_0000, 0x2000), (0x4000_1000, 0x1000)],
        ] {
            assert!(
                matches!(build(&spec(&bad)), Err(DtGenError::BadBank { .. })),
                "{bad:x?}"
            );
        }
        for initrd in [
            (0x4200_0000, 0),
            (0x3000_0000, 0x1000),
            (0x43ff_f000, 0x2000),
            (u64::MAX, 2),
        ] {
            assert_eq!(
                build(&GuestDtSpec {
                    initrd: Some(initrd),
                    ..spec(&ram)
                }),
                Err(DtGenError::BadInitrd {
                    addr: initrd.0,
                    size: initrd.1
                })
            );
        }
        // The whole of RAM is a valid initrd range.
        build(&GuestDtSpec {
            initrd: Some(ram[0]),
            ..spec(&ram)
        })
        .unwrap();
        assert_eq!(
            build(&GuestDtSpec {
                cpu_compatible: &[],
                ..spec(&ram)
            }),
            Err(DtGenError::NoCpuCompatible)
        );
        let e = build(&GuestDtSpec {
            bootargs: Some("a\0b"),
            ..spec(&ram)
        })
        .unwrap_err();
        assert!(matches!(
            e,
            DtGenError::Write(FdtWriteError::NulInString { .. })
        ));
        let s = std::format!("{e}");
        assert!(s.contains("bootargs") && s.contains("chosen"), "{s}");
        let huge = "y".repeat(MAX_GUEST_DTB_SIZE);
        assert!(matches!(
            build(&GuestDtSpec {
                bootargs: Some(&huge),
                ..spec(&ram)
            }),
            Err(DtGenError::TooLarge { .. })
        ));
    }

    #[test]
    fn partial_trees_without_assignment_are_copied_and_assignment_is_refused() {
        let mut pw = FdtWriter::new();
        pw.begin_node("");
        pw.begin_node("aliases")
            .prop_str("clk", "/passthrough/clk")
            .end_node();
        pw.begin_node("passthrough")
            .prop_u32("#address-cells", 2)
            .prop_u32("#size-cells", 2)
            .prop_empty("ranges");
        pw.begin_node("clk")
            .prop_str("compatible", "fixed-clock")
            .prop_u32("clock-frequency", 24_000_000)
            .end_node();
        pw.end_node();
        pw.begin_node("ignored").end_node();
        pw.end_node();
        let blob = pw.finish().unwrap();
        let partial = Fdt::new(&blob).unwrap();
        check_partial(&partial).unwrap();
        let ram = [(GUEST_RAM0_BASE, 0x400_0000)];
        let mut s = spec(&ram);
        s.partial = Some(partial);
        let dtb = build(&s).unwrap();
        let fdt = Fdt::new(&dtb).unwrap();
        let clk = fdt.find_node("/passthrough/clk").unwrap();
        assert_eq!(
            clk.property("clock-frequency").unwrap().as_u32(),
            Some(24_000_000)
        );
        assert!(fdt.find_node("/aliases").is_some());
        assert!(
            fdt.find_node("/ignored").is_none(),
            "only /aliases and /passthrough are copied"
        );

        let mut pw = FdtWriter::new();
        pw.begin_node("");
        pw.begin_node("passthrough");
        pw.begin_node("uart@9000000")
            .prop_cells("xen,reg", &[0, 0x900_0000, 0, 0x1000, 0, 0x900_0000])
            .end_node();
        pw.end_node();
        pw.end_node();
        let blob = pw.finish().unwrap();
        let err = check_partial(&Fdt::new(&blob).unwrap()).unwrap_err();
        assert_eq!(
            err,
            PartialError::NeedsAssignment {
                node: "/passthrough/uart@9000000".into(),
                property: "xen,reg"
            }
        );
    }
}
