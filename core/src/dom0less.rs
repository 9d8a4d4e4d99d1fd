//! Boot-time domains from Xen's dom0less device-tree bindings
//! (`docs/misc/arm/device-tree/booting.txt`, "Creating Multiple Domains
//! directly from Xen", Xen 4.20).
//!
//! [`parse_domains`] reads every `/chosen` child compatible with
//! `"xen,domain"` into a [`DomainSpec`]. The host device tree is hostile
//! input and a dom0less system has nobody to notice a silently dropped
//! setting, so the policy is strict: every property and sub-node of a
//! domain node must be understood. One that belongs to a feature Tessera
//! does not have yet (static memory, grant-table limits,
//! passthrough, static event channels, shared memory...) is refused with
//! [`Dom0lessError::Unsupported`], and one nobody knows with
//! [`Dom0lessError::UnknownProperty`] / [`Dom0lessError::UnknownSubnode`].
//!
//! What is left to the caller: the guest RAM limit of the architecture
//! (the arch crate's guest layout refuses a `memory` it cannot map), the
//! decision whether `xen,enhanced` is supported, and whether modules lie
//! inside host RAM — [`crate::mm::layout::MemoryLayout::from_fdt`] already
//! checks every `/chosen` `multiboot,module` at boot, and
//! [`check_modules_in_ram`] does the same for a parsed list.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::fdt::{Fdt, Node, Property};

/// Most vCPUs a guest may have: `GUEST_MAX_VCPUS` in Xen's
/// `xen/include/public/arch-arm.h`.
pub const MAX_VCPUS: u32 = 128;

/// Largest `nr_spis` Xen's vGIC accepts: `domain_vgic_init` rounds the
/// value up to a multiple of 32 and refuses more than `1020 - 32`, so 960
/// is the largest value that survives the rounding (xen/arch/arm/vgic.c).
pub const MAX_NR_SPIS: u32 = 960;

/// Guest page size: `memory` must be a whole number of these.
const PAGE_KIB: u64 = 4;

/// Properties of a domain node that are part of the device-tree format
/// itself, accepted and ignored.
const STANDARD_PROPERTIES: &[&str] = &["name", "phandle", "linux,phandle"];

/// Domain-node properties refused because the feature behind them is not
/// built, with that feature.
const REFUSED_PROPERTIES: &[(&str, &str)] = &[
    ("direct-map", "direct-mapped domains"),
    ("xen,static-mem", "static memory allocation"),
    ("llc-colors", "LLC cache colouring"),
    ("sve", "SVE for guests"),
    ("capabilities", "domain capabilities"),
    ("passthrough", "device passthrough"),
    ("max_grant_version", "grant tables"),
    ("max_grant_frames", "grant tables"),
    ("max_maptrack_frames", "grant tables"),
    ("xen,reg", "device passthrough"),
    ("xen,path", "device passthrough"),
    ("xen,force-assign-without-iommu", "device passthrough"),
    ("xen,uefi-binary", "UEFI boot"),
];

/// Sub-node (and `/chosen` child) compatibles refused, with the feature.
const REFUSED_NODES: &[(&str, &str)] = &[
    // Xen's code reads only "xen,evtchn-v1" (its prose says "xen,evtchn").
    (
        "xen,evtchn",
        "static event channels (the compatible is \"xen,evtchn-v1\")",
    ),
    ("xen,domain-shared-memory-v1", "static shared memory"),
];

/// `/chosen` children refused, with the feature: dom0's own static event
/// channels (there is no dom0).
const REFUSED_CHOSEN_NODES: &[(&str, &str)] = &[(
    "xen,evtchn-v1",
    "static event channels of dom0 (there is no dom0)",
)];

/// `/chosen` properties refused, with the feature.
const REFUSED_CHOSEN_PROPERTIES: &[(&str, &str)] = &[("xen,static-heap", "static heap")];

/// `xen,enhanced`: which Xen PV interfaces the domain gets. Parsed as
/// booting.txt describes; whether a value is supported is the caller's
/// decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enhanced {
    /// Property absent, or `"disabled"`.
    Disabled,
    /// `"enabled"` or the property with no value: grant table, event
    /// channels and xenstore.
    Enabled,
    /// `"no-xenstore"`: the PV interfaces without xenstore.
    NoXenstore,
}

/// A boot module given to a domain: where it is in host memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootModule {
    /// The sub-node's name (`module@4a000000`), for messages.
    pub node: String,
    /// Host physical address.
    pub addr: u64,
    /// Size in bytes (never 0; `addr + size` does not wrap).
    pub size: u64,
}

impl BootModule {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        // `parse_domains` refuses modules that wrap.
        self.addr.saturating_add(self.size)
    }
}

/// One boot-time domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    /// The `/chosen` child's node name (unit address included).
    pub name: String,
    /// `memory`, in KiB: non-zero and a whole number of 4 KiB pages.
    pub memory_kib: u64,
    /// `cpus`: 1..=[`MAX_VCPUS`].
    pub vcpus: u32,
    /// `vpl011` present: the domain gets an emulated SBSA UART.
    pub vpl011: bool,
    /// `nr_spis` if given (at most [`MAX_NR_SPIS`]); `None` lets the
    /// caller apply Xen's default (the host GIC's SPI count, at least
    /// enough for the vPL011 SPI).
    pub nr_spis: Option<u32>,
    /// `xen,enhanced`.
    pub enhanced: Enhanced,
    /// Size of the domain's P2M page pool in bytes: from
    /// `xen,domain-p2m-mem-mb`, or Xen's default ([`default_p2m_bytes`]).
    pub p2m_pool_bytes: u64,
    /// The `multiboot,kernel` sub-node.
    pub kernel: BootModule,
    /// The kernel sub-node's `bootargs`, if present and not empty.
    pub bootargs: Option<String>,
    /// The `multiboot,ramdisk` sub-node.
    pub ramdisk: Option<BootModule>,
    /// The `multiboot,device-tree` sub-node (a partial device tree for
    /// passthrough; parsing it is the caller's business).
    pub device_tree: Option<BootModule>,
    /// Pool and scheduling parameters.
    pub sched: DomainSched,
    /// `xen,evtchn-v1` sub-nodes: static event channels.
    pub static_evtchns: Vec<StaticEvtchn>,
}

/// A static event channel end (`xen,evtchn-v1` sub-node of a domain):
/// `xen,evtchn = <local-port &peer-node>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticEvtchn {
    /// The sub-node's name, for messages.
    pub node: String,
    /// Its own phandle (the peer names it).
    pub phandle: Option<u32>,
    /// Local port, 1..=1023.
    pub port: u32,
    /// Phandle of the other end's node.
    pub peer: u32,
}

/// Highest port a dom0less domain has (Xen's `max_evtchn_port` for them).
pub const MAX_EVTCHN_PORT: u32 = 1023;

/// A checked pair of static event channel ends: (domain index in the
/// specs, port) each.
pub type EvtchnPair = ((usize, u32), (usize, u32));

/// Pairs every static event channel end with its peer (Xen's
/// `alloc_static_evtchn`): each end must name a node that names it back,
/// in a domain with `xen,enhanced`, with a port used once per domain.
pub fn static_evtchn_pairs(specs: &[DomainSpec]) -> Result<Vec<EvtchnPair>, Dom0lessError> {
    let bad = |d: &DomainSpec, e: &StaticEvtchn, why: &'static str| Dom0lessError::BadValue {
        domain: d.name.clone(),
        property: alloc::format!("{}/xen,evtchn", e.node),
        why,
    };
    let mut pairs = Vec::new();
    for (i, d) in specs.iter().enumerate() {
        for e in &d.static_evtchns {
            if d.enhanced == Enhanced::Disabled {
                return Err(bad(d, e, "needs xen,enhanced on the domain"));
            }
            if d.static_evtchns.iter().filter(|o| o.port == e.port).count() > 1 {
                return Err(bad(
                    d,
                    e,
                    "uses a port another static channel of the domain uses",
                ));
            }
            let peer = specs.iter().enumerate().find_map(|(j, pd)| {
                pd.static_evtchns
                    .iter()
                    .find(|pe| pe.phandle == Some(e.peer))
                    .map(|pe| (j, pe))
            });
            let Some((j, pe)) = peer else {
                return Err(bad(d, e, "names no xen,evtchn-v1 node of a domain"));
            };
            if e.phandle.is_none() || Some(pe.peer) != e.phandle {
                return Err(bad(d, e, "its peer does not name it back"));
            }
            if j == i && pe.port == e.port {
                return Err(bad(d, e, "is its own peer"));
            }
            // Each pair once: from the end that comes first.
            if (i, e.port) < (j, pe.port) {
                pairs.push(((i, e.port), (j, pe.port)));
            }
        }
    }
    Ok(pairs)
}

fn parse_static_evtchn(domain: &str, sub: &Node) -> Result<StaticEvtchn, Dom0lessError> {
    let node = sub.name().to_string();
    let mut phandle = None;
    let mut link = None;
    for p in sub.properties() {
        match p.name {
            "compatible" | "name" => {}
            "phandle" | "linux,phandle" => phandle = Some(u32_prop(domain, &p)?),
            "xen,evtchn" => {
                let c: Vec<u32> = p.cells().collect();
                if p.value.len() != 8 {
                    return Err(bad(domain, "xen,evtchn", "must be <local-port &peer-node>"));
                }
                link = Some((c[0], c[1]));
            }
            other => {
                return Err(Dom0lessError::UnknownProperty {
                    domain: domain.to_string(),
                    node,
                    property: other.to_string(),
                })
            }
        }
    }
    let (port, peer) = link.ok_or_else(|| Dom0lessError::MissingProperty {
        domain: domain.to_string(),
        property: "xen,evtchn",
    })?;
    if !(1..=MAX_EVTCHN_PORT).contains(&port) {
        return Err(bad(domain, "xen,evtchn", "local port must be 1..=1023"));
    }
    Ok(StaticEvtchn {
        node,
        phandle,
        port,
        peer,
    })
}

/// A domain's CPU pool (Xen's `domain-cpupool`) and scheduling parameters
/// (Tessera's `tessera,` properties, docs/bindings/scheduling.md; Xen sets
/// these only through its toolstack). `None`: the policy's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DomainSched {
    /// Phandle of the `xen,cpupool` node; `None`: Pool-0.
    pub cpupool: Option<u32>,
    /// `tessera,sched-weight`: 1..=65535 (credit, credit2).
    pub weight: Option<u16>,
    /// `tessera,sched-cap`: percent of one pCPU for the whole domain,
    /// 0 = none, at most 100 per vCPU (credit, credit2).
    pub cap: Option<u16>,
    /// `tessera,rtds-period-us` and `tessera,rtds-budget-us`, in ns.
    pub rtds: Option<(u64, u64)>,
    /// `tessera,rtds-extratime` (RTDS; Xen's default is on); only with
    /// `rtds`.
    pub rtds_extratime: Option<bool>,
    /// `tessera,arinc653-runtime-us`, in ns: the vCPU's window in the
    /// major frame.
    pub arinc653_runtime_ns: Option<u64>,
}

/// Xen's `RTDS_MIN_PERIOD` and `RTDS_MIN_BUDGET`, in microseconds.
pub const RTDS_MIN_US: u64 = 10;
/// Xen's `RTDS_MAX_PERIOD` (one year), in microseconds.
pub const RTDS_MAX_PERIOD_US: u64 = 31_536_000_000;

impl DomainSched {
    /// Whether any setting is meant for a policy other than `sched_id`'s
    /// (an `XEN_SCHEDULER_*` id): those are ignored, and the caller warns.
    pub fn ignored_by(&self, sched_id: u32) -> Option<&'static str> {
        use crate::sched::sched_id as id;
        let fair = matches!(sched_id, id::CREDIT | id::CREDIT2);
        if !fair && (self.weight.is_some() || self.cap.is_some()) {
            return Some("tessera,sched-weight/tessera,sched-cap (credit and credit2 only)");
        }
        if sched_id != id::RTDS && (self.rtds.is_some() || self.rtds_extratime.is_some()) {
            return Some("tessera,rtds-* (rtds only)");
        }
        if sched_id != id::ARINC653 && self.arinc653_runtime_ns.is_some() {
            return Some("tessera,arinc653-runtime-us (arinc653 only)");
        }
        None
    }

    /// vCPU `vcpu` of domain `domid` as the scheduler core takes it.
    pub fn unit_params(&self, domid: u16, vcpu: u16) -> crate::sched::UnitParams {
        use crate::sched::{PolicyParams, UnitParams};
        let mut u = UnitParams::new(domid, vcpu);
        if let Some(w) = self.weight {
            u = u.weighted(w);
        }
        if let Some(c) = self.cap {
            u = u.capped(c);
        }
        if let Some((period_ns, budget_ns)) = self.rtds {
            u = u.with_policy(PolicyParams::Rtds {
                period_ns,
                budget_ns,
                extratime: self.rtds_extratime.unwrap_or(true),
            });
        }
        if let Some(runtime_ns) = self.arinc653_runtime_ns {
            u = u.with_policy(PolicyParams::Arinc653 { runtime_ns });
        }
        u
    }
}

impl DomainSpec {
    /// `memory` in bytes.
    pub fn memory_bytes(&self) -> u64 {
        // `parse_domains` checked that this does not overflow.
        self.memory_kib.saturating_mul(1024)
    }

    /// The domain's boot modules: kernel, then ramdisk and device tree.
    pub fn modules(&self) -> impl Iterator<Item = &BootModule> {
        core::iter::once(&self.kernel)
            .chain(self.ramdisk.as_ref())
            .chain(self.device_tree.as_ref())
    }
}

/// Xen's default P2M pool size for a domU without
/// `xen,domain-p2m-mem-mb`: 1 MiB per vCPU, 4 KiB per MiB of RAM and
/// 512 KiB for extended regions, rounded up to whole MiB
/// (`domain_p2m_pages` in xen/arch/arm/dom0less-build.c). `None` only on
/// overflow.
pub fn default_p2m_bytes(memory_kib: u64, vcpus: u32) -> Option<u64> {
    // 4 KiB * (256 pages per vCPU + 1 page per MiB of RAM + 128 pages).
    let pages = 256u64
        .checked_mul(u64::from(vcpus))?
        .checked_add(memory_kib / 1024)?
        .checked_add(128)?;
    let kib = pages.checked_mul(4)?;
    kib.div_ceil(1024).checked_mul(1 << 20)
}

/// Why the dom0less description cannot be used. Every variant names the
/// domain (the `/chosen` child) and the property or sub-node at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dom0lessError {
    /// A `/chosen` property for a feature not built (`xen,static-heap`).
    UnsupportedHost {
        property: String,
        feature: &'static str,
    },
    /// A `/chosen` child for a feature not built (dom0's static event
    /// channels or shared memory, cpupool definitions).
    UnsupportedHostNode {
        node: String,
        compatible: &'static str,
        feature: &'static str,
    },
    /// Two domain nodes with the same name.
    DuplicateDomain { domain: String },
    /// A required property is missing.
    MissingProperty {
        domain: String,
        property: &'static str,
    },
    /// A property's value has the wrong size or form.
    BadValue {
        domain: String,
        property: String,
        why: &'static str,
    },
    /// `memory` is 0 KiB.
    ZeroMemory { domain: String },
    /// `memory` is not a whole number of 4 KiB pages.
    MemoryNotPageMultiple { domain: String, kib: u64 },
    /// `memory` in bytes does not fit in 64 bits.
    MemoryTooLarge { domain: String, kib: u64 },
    /// `cpus` outside 1..=[`MAX_VCPUS`].
    BadVcpus { domain: String, cpus: u32 },
    /// `nr_spis` above [`MAX_NR_SPIS`].
    TooManySpis { domain: String, nr_spis: u32 },
    /// `vpl011` with `nr_spis = <0>`: the vPL011 needs SPI 32.
    Vpl011WithoutSpis { domain: String },
    /// `xen,domain-p2m-mem-mb = <0>`.
    ZeroP2mPool { domain: String },
    /// `xen,enhanced` with a value booting.txt does not define.
    BadEnhanced { domain: String, value: String },
    /// `#address-cells` / `#size-cells` of the domain node not 1 or 2.
    BadCells {
        domain: String,
        address: u32,
        size: u32,
    },
    /// A property or setting of a feature Tessera does not have.
    Unsupported {
        domain: String,
        property: String,
        feature: &'static str,
    },
    /// A property nobody defined for domain (or module) nodes.
    UnknownProperty {
        domain: String,
        node: String,
        property: String,
    },
    /// A sub-node for a feature Tessera does not have.
    UnsupportedSubnode {
        domain: String,
        node: String,
        feature: &'static str,
    },
    /// A sub-node that is neither a boot module nor a known binding.
    UnknownSubnode { domain: String, node: String },
    /// A `multiboot,module` without `multiboot,kernel`, `multiboot,ramdisk`
    /// or `multiboot,device-tree` (the "first unnamed module is the
    /// kernel" rule of booting.txt is for dom0's modules only), or with
    /// more than one of them.
    ModuleKind { domain: String, node: String },
    /// A `multiboot,kernel` / `ramdisk` / `device-tree` node that lacks
    /// the generic `"multiboot,module"` compatible (Xen ignores it).
    NotAModule { domain: String, node: String },
    /// Two kernels, ramdisks or device trees.
    DuplicateModule {
        domain: String,
        kind: &'static str,
        node: String,
    },
    /// A module's `reg` is missing or not exactly one entry.
    BadModuleReg {
        domain: String,
        node: String,
        why: &'static str,
    },
    /// A module of size 0.
    ZeroSizeModule { domain: String, node: String },
    /// A module whose end wraps around the address space.
    ModuleWraps {
        domain: String,
        node: String,
        addr: u64,
        size: u64,
    },
    /// Two modules of one domain overlap.
    ModulesOverlap {
        domain: String,
        a: String,
        b: String,
    },
    /// A module outside host RAM (from [`check_modules_in_ram`]).
    ModuleOutsideRam {
        domain: String,
        node: String,
        addr: u64,
        size: u64,
    },
    /// No `multiboot,kernel` sub-node.
    MissingKernel { domain: String },
}

impl fmt::Display for Dom0lessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Dom0lessError as E;
        match self {
            E::UnsupportedHost { property, feature } => write!(
                f,
                "/chosen: property {property:?} needs {feature}, which Tessera does not support"
            ),
            E::UnsupportedHostNode {
                node,
                compatible,
                feature,
            } => write!(
                f,
                "/chosen/{node}: {compatible:?} needs {feature}, which Tessera does not support"
            ),
            E::DuplicateDomain { domain } => {
                write!(f, "domain {domain}: more than one /chosen node with this name")
            }
            E::MissingProperty { domain, property } => {
                write!(f, "domain {domain}: required property {property:?} is missing")
            }
            E::BadValue {
                domain,
                property,
                why,
            } => write!(f, "domain {domain}: property {property:?}: {why}"),
            E::ZeroMemory { domain } => write!(f, "domain {domain}: property \"memory\" is 0"),
            E::MemoryNotPageMultiple { domain, kib } => write!(
                f,
                "domain {domain}: property \"memory\" = {kib} KiB is not a multiple of 4 KiB"
            ),
            E::MemoryTooLarge { domain, kib } => {
                write!(f, "domain {domain}: property \"memory\" = {kib} KiB is too large")
            }
            E::BadVcpus { domain, cpus } => write!(
                f,
                "domain {domain}: property \"cpus\" = {cpus} is outside 1..={MAX_VCPUS}"
            ),
            E::TooManySpis { domain, nr_spis } => write!(
                f,
                "domain {domain}: property \"nr_spis\" = {nr_spis} exceeds {MAX_NR_SPIS}"
            ),
            E::Vpl011WithoutSpis { domain } => write!(
                f,
                "domain {domain}: property \"vpl011\" needs SPI 32 but \"nr_spis\" is 0"
            ),
            E::ZeroP2mPool { domain } => write!(
                f,
                "domain {domain}: property \"xen,domain-p2m-mem-mb\" is 0"
            ),
            E::BadEnhanced { domain, value } => write!(
                f,
                "domain {domain}: property \"xen,enhanced\" = {value:?} is not \"enabled\", \"disabled\" or \"no-xenstore\""
            ),
            E::BadCells {
                domain,
                address,
                size,
            } => write!(
                f,
                "domain {domain}: properties \"#address-cells\" = {address} / \"#size-cells\" = {size} must each be 1 or 2"
            ),
            E::Unsupported {
                domain,
                property,
                feature,
            } => write!(
                f,
                "domain {domain}: property {property:?} needs {feature}, which Tessera does not support"
            ),
            E::UnknownProperty {
                domain,
                node,
                property,
            } => {
                if node == domain {
                    write!(f, "domain {domain}: unknown property {property:?}")
                } else {
                    write!(f, "domain {domain}: node {node}: unknown property {property:?}")
                }
            }
            E::UnsupportedSubnode {
                domain,
                node,
                feature,
            } => write!(
                f,
                "domain {domain}: sub-node {node} needs {feature}, which Tessera does not support"
            ),
            E::UnknownSubnode { domain, node } => write!(
                f,
                "domain {domain}: sub-node {node} is not a multiboot,module nor a known binding"
            ),
            E::ModuleKind { domain, node } => write!(
                f,
                "domain {domain}: module {node}: \"compatible\" must name exactly one of multiboot,kernel, multiboot,ramdisk, multiboot,device-tree"
            ),
            E::NotAModule { domain, node } => write!(
                f,
                "domain {domain}: module {node}: \"compatible\" lacks \"multiboot,module\""
            ),
            E::DuplicateModule { domain, kind, node } => {
                write!(f, "domain {domain}: second {kind} module {node}")
            }
            E::BadModuleReg { domain, node, why } => {
                write!(f, "domain {domain}: module {node}: property \"reg\": {why}")
            }
            E::ZeroSizeModule { domain, node } => {
                write!(f, "domain {domain}: module {node}: property \"reg\" has size 0")
            }
            E::ModuleWraps {
                domain,
                node,
                addr,
                size,
            } => write!(
                f,
                "domain {domain}: module {node}: property \"reg\" {addr:#x}+{size:#x} wraps"
            ),
            E::ModulesOverlap { domain, a, b } => {
                write!(f, "domain {domain}: modules {a} and {b} overlap")
            }
            E::ModuleOutsideRam {
                domain,
                node,
                addr,
                size,
            } => write!(
                f,
                "domain {domain}: module {node}: property \"reg\" {addr:#x}+{size:#x} is not inside RAM"
            ),
            E::MissingKernel { domain } => {
                write!(f, "domain {domain}: no multiboot,kernel sub-node")
            }
        }
    }
}

/// Reads every boot-time domain from `/chosen`, in device-tree order. No
/// `/chosen` or no `xen,domain` child gives an empty list.
pub fn parse_domains(fdt: &Fdt) -> Result<Vec<DomainSpec>, Dom0lessError> {
    let Some(chosen) = fdt.find_node("/chosen") else {
        return Ok(Vec::new());
    };
    for p in chosen.properties() {
        if let Some(&(_, feature)) = REFUSED_CHOSEN_PROPERTIES.iter().find(|(n, _)| *n == p.name) {
            return Err(Dom0lessError::UnsupportedHost {
                property: p.name.to_string(),
                feature,
            });
        }
    }
    let mut domains: Vec<DomainSpec> = Vec::new();
    for child in chosen.children() {
        if let Some(&(compatible, feature)) = REFUSED_NODES
            .iter()
            .chain(REFUSED_CHOSEN_NODES)
            .find(|(c, _)| child.is_compatible(c))
        {
            return Err(Dom0lessError::UnsupportedHostNode {
                node: child.name().to_string(),
                compatible,
                feature,
            });
        }
        if !child.is_compatible("xen,domain") {
            continue;
        }
        let spec = parse_domain(&child)?;
        if domains.iter().any(|d| d.name == spec.name) {
            return Err(Dom0lessError::DuplicateDomain { domain: spec.name });
        }
        domains.push(spec);
    }
    Ok(domains)
}

/// Checks that every module of every domain lies inside one of the host
/// RAM ranges `(start, size)`.
pub fn check_modules_in_ram(
    domains: &[DomainSpec],
    ram: &[(u64, u64)],
) -> Result<(), Dom0lessError> {
    for d in domains {
        for m in d.modules() {
            let inside = ram.iter().any(|&(start, size)| {
                start
                    .checked_add(size)
                    .is_some_and(|end| start <= m.addr && m.end() <= end)
            });
            if !inside {
                return Err(Dom0lessError::ModuleOutsideRam {
                    domain: d.name.clone(),
                    node: m.node.clone(),
                    addr: m.addr,
                    size: m.size,
                });
            }
        }
    }
    Ok(())
}

fn be32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_be_bytes(w)
}

fn bad(domain: &str, property: &str, why: &'static str) -> Dom0lessError {
    Dom0lessError::BadValue {
        domain: domain.to_string(),
        property: property.to_string(),
        why,
    }
}

/// A property that must be exactly one 32-bit cell.
fn u32_prop(domain: &str, p: &Property) -> Result<u32, Dom0lessError> {
    p.as_u32()
        .ok_or_else(|| bad(domain, p.name, "must be one 32-bit cell"))
}

/// A property of one 32-bit or one 64-bit value.
fn u64_or_u32_prop(domain: &str, p: &Property) -> Result<u64, Dom0lessError> {
    match p.value.len() {
        4 => p.as_u32().map(u64::from),
        8 => p.as_u64(),
        _ => None,
    }
    .ok_or_else(|| bad(domain, p.name, "must be one or two 32-bit cells"))
}

fn parse_domain(node: &Node) -> Result<DomainSpec, Dom0lessError> {
    let domain = node.name();
    let name = domain.to_string();

    let mut memory = None;
    let mut cpus = None;
    let mut vpl011 = false;
    let mut nr_spis = None;
    let mut enhanced = Enhanced::Disabled;
    let mut p2m_mb = None;
    let mut address_cells = None;
    let mut size_cells = None;
    let mut sched = DomainSched::default();
    let mut rtds_period = None;
    let mut rtds_budget = None;

    let mut seen: Vec<&str> = Vec::new();
    for p in node.properties() {
        if seen.contains(&p.name) {
            return Err(bad(domain, p.name, "given twice"));
        }
        seen.push(p.name);
        match p.name {
            "compatible" => {}
            "status" => {
                match p.as_str() {
                    Some("okay") | Some("ok") => {}
                    _ => return Err(bad(
                        domain,
                        "status",
                        "must be \"okay\": Xen builds every xen,domain node whatever its status",
                    )),
                }
            }
            "memory" => {
                // booting.txt: "A 64-bit integer"; Xen's dt_property_read_u64
                // refuses anything shorter.
                if p.value.len() != 8 {
                    return Err(bad(domain, "memory", "must be a 64-bit value (two cells)"));
                }
                memory = p.as_u64();
            }
            "cpus" => cpus = Some(u32_prop(domain, &p)?),
            "vpl011" => {
                if !p.value.is_empty() {
                    return Err(bad(domain, "vpl011", "must be an empty property"));
                }
                vpl011 = true;
            }
            "nr_spis" => nr_spis = Some(u32_prop(domain, &p)?),
            "xen,enhanced" => {
                enhanced = if p.value.is_empty() {
                    Enhanced::Enabled
                } else {
                    match p.as_str() {
                        Some("enabled") => Enhanced::Enabled,
                        Some("disabled") => Enhanced::Disabled,
                        Some("no-xenstore") => Enhanced::NoXenstore,
                        Some(other) => {
                            return Err(Dom0lessError::BadEnhanced {
                                domain: name,
                                value: other.to_string(),
                            })
                        }
                        None => return Err(bad(domain, "xen,enhanced", "must be one string")),
                    }
                }
            }
            "xen,domain-p2m-mem-mb" => p2m_mb = Some(u32_prop(domain, &p)?),
            "#address-cells" => address_cells = Some(u32_prop(domain, &p)?),
            "#size-cells" => size_cells = Some(u32_prop(domain, &p)?),
            "domain-cpupool" => sched.cpupool = Some(u32_prop(domain, &p)?),
            "tessera,sched-weight" => {
                let w = u32_prop(domain, &p)?;
                if !(1..=0xffff).contains(&w) {
                    return Err(bad(domain, p.name, "must be 1..=65535"));
                }
                sched.weight = Some(w as u16);
            }
            "tessera,sched-cap" => {
                let c = u32_prop(domain, &p)?;
                if c > 0xffff {
                    return Err(bad(domain, p.name, "must be at most 65535"));
                }
                sched.cap = Some(c as u16);
            }
            "tessera,rtds-period-us" => rtds_period = Some(u64_or_u32_prop(domain, &p)?),
            "tessera,rtds-budget-us" => rtds_budget = Some(u64_or_u32_prop(domain, &p)?),
            "tessera,rtds-extratime" => {
                sched.rtds_extratime = Some(match u32_prop(domain, &p)? {
                    0 => false,
                    1 => true,
                    _ => return Err(bad(domain, p.name, "must be 0 or 1")),
                })
            }
            "tessera,arinc653-runtime-us" => {
                let us = u64_or_u32_prop(domain, &p)?;
                if us == 0 || us > u64::MAX / 1000 {
                    return Err(bad(
                        domain,
                        p.name,
                        "must be a non-zero number of microseconds",
                    ));
                }
                sched.arinc653_runtime_ns = Some(us * 1000);
            }
            other if STANDARD_PROPERTIES.contains(&other) => {}
            other => {
                if let Some(&(_, feature)) = REFUSED_PROPERTIES.iter().find(|(n, _)| *n == other) {
                    return Err(Dom0lessError::Unsupported {
                        domain: name,
                        property: other.to_string(),
                        feature,
                    });
                }
                return Err(Dom0lessError::UnknownProperty {
                    domain: name.clone(),
                    node: name,
                    property: other.to_string(),
                });
            }
        }
    }

    let missing = |property| Dom0lessError::MissingProperty {
        domain: name.clone(),
        property,
    };
    let memory_kib = memory.ok_or_else(|| missing("memory"))?;
    if memory_kib == 0 {
        return Err(Dom0lessError::ZeroMemory { domain: name });
    }
    if memory_kib % PAGE_KIB != 0 {
        return Err(Dom0lessError::MemoryNotPageMultiple {
            domain: name,
            kib: memory_kib,
        });
    }
    if memory_kib.checked_mul(1024).is_none() {
        return Err(Dom0lessError::MemoryTooLarge {
            domain: name,
            kib: memory_kib,
        });
    }
    let vcpus = cpus.ok_or_else(|| missing("cpus"))?;
    if !(1..=MAX_VCPUS).contains(&vcpus) {
        return Err(Dom0lessError::BadVcpus {
            domain: name,
            cpus: vcpus,
        });
    }
    if let Some(n) = nr_spis {
        if n > MAX_NR_SPIS {
            return Err(Dom0lessError::TooManySpis {
                domain: name,
                nr_spis: n,
            });
        }
        if n == 0 && vpl011 {
            return Err(Dom0lessError::Vpl011WithoutSpis { domain: name });
        }
    }
    if let Some(cap) = sched.cap {
        if u64::from(cap) > 100 * u64::from(vcpus) {
            return Err(bad(
                domain,
                "tessera,sched-cap",
                "is more than 100 per vCPU of the domain",
            ));
        }
    }
    match (rtds_period, rtds_budget) {
        (None, None) => {
            if sched.rtds_extratime.is_some() {
                return Err(missing("tessera,rtds-period-us"));
            }
        }
        (Some(period), Some(budget)) => {
            if !(RTDS_MIN_US..=RTDS_MAX_PERIOD_US).contains(&period) {
                return Err(bad(
                    domain,
                    "tessera,rtds-period-us",
                    "must be 10..=31536000000 (10 us to a year)",
                ));
            }
            if !(RTDS_MIN_US..=period).contains(&budget) {
                return Err(bad(
                    domain,
                    "tessera,rtds-budget-us",
                    "must be at least 10 and at most the period",
                ));
            }
            sched.rtds = Some((period * 1000, budget * 1000));
        }
        (Some(_), None) => return Err(missing("tessera,rtds-budget-us")),
        (None, Some(_)) => return Err(missing("tessera,rtds-period-us")),
    }
    let p2m_pool_bytes = match p2m_mb {
        Some(0) => return Err(Dom0lessError::ZeroP2mPool { domain: name }),
        Some(mb) => u64::from(mb) << 20,
        None => default_p2m_bytes(memory_kib, vcpus).ok_or(Dom0lessError::MemoryTooLarge {
            domain: name.clone(),
            kib: memory_kib,
        })?,
    };
    // booting.txt: "Both #address-cells and #size-cells need to be
    // specified because both sub-nodes ... have reg properties."
    let address = address_cells.ok_or_else(|| missing("#address-cells"))?;
    let size = size_cells.ok_or_else(|| missing("#size-cells"))?;
    if !(1..=2).contains(&address) || !(1..=2).contains(&size) {
        return Err(Dom0lessError::BadCells {
            domain: name,
            address,
            size,
        });
    }

    let mut kernel: Option<BootModule> = None;
    let mut bootargs = None;
    let mut ramdisk: Option<BootModule> = None;
    let mut device_tree: Option<BootModule> = None;
    let mut static_evtchns = Vec::new();
    for sub in node.children() {
        let sub_name = sub.name();
        if sub.is_compatible("xen,evtchn-v1") {
            static_evtchns.push(parse_static_evtchn(domain, &sub)?);
            continue;
        }
        let kind = module_kind(domain, &sub)?;
        let module = parse_module(domain, &sub, kind, (address, size))?;
        let slot = match kind {
            ModuleKind::Kernel => &mut kernel,
            ModuleKind::Ramdisk => &mut ramdisk,
            ModuleKind::DeviceTree => &mut device_tree,
        };
        if slot.is_some() {
            return Err(Dom0lessError::DuplicateModule {
                domain: name,
                kind: kind.name(),
                node: sub_name.to_string(),
            });
        }
        *slot = Some(module.0);
        if kind == ModuleKind::Kernel {
            bootargs = module.1;
        }
    }
    let kernel = kernel.ok_or_else(|| Dom0lessError::MissingKernel {
        domain: name.clone(),
    })?;

    let spec = DomainSpec {
        name,
        memory_kib,
        vcpus,
        vpl011,
        nr_spis,
        enhanced,
        p2m_pool_bytes,
        kernel,
        bootargs,
        ramdisk,
        device_tree,
        sched,
        static_evtchns,
    };
    let mods: Vec<&BootModule> = spec.modules().collect();
    for (i, a) in mods.iter().enumerate() {
        for b in &mods[i + 1..] {
            if a.addr < b.end() && b.addr < a.end() {
                return Err(Dom0lessError::ModulesOverlap {
                    domain: spec.name.clone(),
                    a: a.node.clone(),
                    b: b.node.clone(),
                });
            }
        }
    }
    Ok(spec)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ModuleKind {
    Kernel,
    Ramdisk,
    DeviceTree,
}

impl ModuleKind {
    fn name(self) -> &'static str {
        match self {
            ModuleKind::Kernel => "multiboot,kernel",
            ModuleKind::Ramdisk => "multiboot,ramdisk",
            ModuleKind::DeviceTree => "multiboot,device-tree",
        }
    }
}

/// What a domain sub-node is; refuses everything but one boot module.
fn module_kind(domain: &str, sub: &Node) -> Result<ModuleKind, Dom0lessError> {
    let node = sub.name().to_string();
    if let Some(&(_, feature)) = REFUSED_NODES.iter().find(|(c, _)| sub.is_compatible(c)) {
        return Err(Dom0lessError::UnsupportedSubnode {
            domain: domain.to_string(),
            node,
            feature,
        });
    }
    let kinds: Vec<ModuleKind> = [
        ModuleKind::Kernel,
        ModuleKind::Ramdisk,
        ModuleKind::DeviceTree,
    ]
    .into_iter()
    .filter(|k| sub.is_compatible(k.name()))
    .collect();
    let generic = sub.is_compatible("multiboot,module");
    match (generic, kinds.as_slice()) {
        (true, [k]) => Ok(*k),
        (true, _) => Err(Dom0lessError::ModuleKind {
            domain: domain.to_string(),
            node,
        }),
        (false, []) => Err(Dom0lessError::UnknownSubnode {
            domain: domain.to_string(),
            node,
        }),
        (false, _) => Err(Dom0lessError::NotAModule {
            domain: domain.to_string(),
            node,
        }),
    }
}

fn read_cells(b: &[u8], cells: u32) -> u64 {
    match cells {
        1 => u64::from(be32(b)),
        _ => (u64::from(be32(b)) << 32) | u64::from(be32(&b[4..])),
    }
}

/// A module sub-node's `reg` (one entry in the domain's cells) and, for a
/// kernel, its `bootargs`.
fn parse_module(
    domain: &str,
    sub: &Node,
    kind: ModuleKind,
    (address, size): (u32, u32),
) -> Result<(BootModule, Option<String>), Dom0lessError> {
    let node = sub.name();
    let unknown = |property: &str| Dom0lessError::UnknownProperty {
        domain: domain.to_string(),
        node: node.to_string(),
        property: property.to_string(),
    };
    let bad_reg = |why| Dom0lessError::BadModuleReg {
        domain: domain.to_string(),
        node: node.to_string(),
        why,
    };
    let mut reg = None;
    let mut bootargs = None;
    let mut seen: Vec<&str> = Vec::new();
    for p in sub.properties() {
        if seen.contains(&p.name) {
            return Err(bad(domain, p.name, "given twice"));
        }
        seen.push(p.name);
        match p.name {
            "compatible" => {}
            "reg" => reg = Some(p.value),
            "bootargs" if kind == ModuleKind::Kernel => {
                let s = p.as_str().ok_or_else(|| {
                    bad(
                        domain,
                        "bootargs",
                        "must be one NUL-terminated UTF-8 string",
                    )
                })?;
                bootargs = (!s.is_empty()).then(|| s.to_string());
            }
            other if STANDARD_PROPERTIES.contains(&other) => {}
            other => {
                if let Some(&(_, feature)) = REFUSED_PROPERTIES.iter().find(|(n, _)| *n == other) {
                    return Err(Dom0lessError::Unsupported {
                        domain: domain.to_string(),
                        property: other.to_string(),
                        feature,
                    });
                }
                return Err(unknown(other));
            }
        }
    }
    let reg = reg.ok_or(bad_reg("missing"))?;
    let entry = ((address + size) * 4) as usize;
    if reg.len() != entry {
        return Err(bad_reg("must be exactly one (address, size) entry"));
    }
    let addr = read_cells(reg, address);
    let len = read_cells(&reg[address as usize * 4..], size);
    if len == 0 {
        return Err(Dom0lessError::ZeroSizeModule {
            domain: domain.to_string(),
            node: node.to_string(),
        });
    }
    if addr.checked_add(len).is_none() {
        return Err(Dom0lessError::ModuleWraps {
            domain: domain.to_string(),
            node: node.to_string(),
            addr,
            size: len,
        });
    }
    Ok((
        BootModule {
            node: node.to_string(),
            addr,
            size: len,
        },
        bootargs,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::DtBuilder;
    use std::format;
    use std::vec;
    use std::vec::Vec;

    fn cells(c: &[u32]) -> Option<Vec<u8>> {
        Some(c.iter().flat_map(|c| c.to_be_bytes()).collect())
    }

    fn st(s: &str) -> Option<Vec<u8>> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        Some(v)
    }

    fn empty() -> Option<Vec<u8>> {
        Some(Vec::new())
    }

    /// A host tree whose `/chosen` holds what `chosen` writes.
    fn host(chosen: impl FnOnce(&mut DtBuilder)) -> Vec<u8> {
        let mut b = DtBuilder::new();
        b.begin("");
        b.prop_u32("#address-cells", 2);
        b.prop_u32("#size-cells", 2);
        b.begin("memory@40000000");
        b.prop_str("device_type", "memory");
        b.prop_cells("reg", &[0, 0x4000_0000, 0, 0x8000_0000]);
        b.end();
        b.begin("chosen");
        b.prop_u32("#address-cells", 2);
        b.prop_u32("#size-cells", 2);
        b.prop_str("xen,xen-bootargs", "console=dtuart");
        chosen(&mut b);
        b.end();
        b.end();
        b.finish(&[])
    }

    /// A module sub-node with `reg` in 2 address cells and 1 size cell.
    fn module(b: &mut DtBuilder, name: &str, compat: &[&str], addr: u64, size: u32) {
        b.begin(name);
        b.prop_strs("compatible", compat);
        b.prop_cells("reg", &[(addr >> 32) as u32, addr as u32, size]);
        b.end();
    }

    fn kernel(b: &mut DtBuilder) {
        b.begin("module@4a000000");
        b.prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
        b.prop_cells("reg", &[0, 0x4a00_0000, 0xff_ffff]);
        b.prop_str("bootargs", "console=ttyAMA0 init=/bin/sh");
        b.end();
    }

    /// booting.txt's domU1 (#address-cells 2, #size-cells 1, 128 MiB, two
    /// vCPUs) with its properties changed by `changes` (None removes one;
    /// a new name is appended), then the kernel and `subs`.
    fn domain(
        b: &mut DtBuilder,
        name: &str,
        changes: &[(&str, Option<Vec<u8>>)],
        subs: impl FnOnce(&mut DtBuilder),
    ) {
        let mut props: Vec<(&str, Option<Vec<u8>>)> = vec![
            ("compatible", st("xen,domain")),
            ("#address-cells", cells(&[2])),
            ("#size-cells", cells(&[1])),
            ("memory", cells(&[0, 131072])),
            ("cpus", cells(&[2])),
        ];
        for (n, v) in changes {
            match props.iter_mut().find(|(p, _)| p == n) {
                Some(slot) => slot.1 = v.clone(),
                None => props.push((n, v.clone())),
            }
        }
        b.begin(name);
        for (n, v) in props {
            if let Some(v) = v {
                b.prop_bytes(n, &v);
            }
        }
        subs(b);
        b.end();
    }

    fn parse(blob: &[u8]) -> Result<Vec<DomainSpec>, Dom0lessError> {
        parse_domains(&Fdt::new(blob).unwrap())
    }

    fn one_with(
        changes: &[(&str, Option<Vec<u8>>)],
        subs: impl FnOnce(&mut DtBuilder),
    ) -> Result<DomainSpec, Dom0lessError> {
        parse(&host(|b| domain(b, "domU1", changes, subs))).map(|mut v| v.remove(0))
    }

    fn one(changes: &[(&str, Option<Vec<u8>>)]) -> Result<DomainSpec, Dom0lessError> {
        one_with(changes, kernel)
    }

    fn refused(changes: &[(&str, Option<Vec<u8>>)]) -> Dom0lessError {
        one(changes).unwrap_err()
    }

    fn subs_refused(subs: impl FnOnce(&mut DtBuilder)) -> Dom0lessError {
        one_with(&[], subs).unwrap_err()
    }

    fn d1() -> String {
        "domU1".into()
    }

    #[test]
    fn booting_txt_example() {
        let blob = host(|b| {
            domain(b, "domU1", &[("vpl011", empty())], |b| {
                kernel(b);
                module(
                    b,
                    "module@4b000000",
                    &["multiboot,ramdisk", "multiboot,module"],
                    0x4b00_0000,
                    0xff_ffff,
                );
            });
            domain(
                b,
                "domU2",
                &[("memory", cells(&[0, 65536])), ("cpus", cells(&[1]))],
                |b| {
                    module(
                        b,
                        "module@4c000000",
                        &["multiboot,kernel", "multiboot,module"],
                        0x4c00_0000,
                        0xff_ffff,
                    );
                    module(
                        b,
                        "module@4d000000",
                        &["multiboot,ramdisk", "multiboot,module"],
                        0x4d00_0000,
                        0xff_ffff,
                    );
                },
            );
        });
        let d = parse(&blob).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0],
            DomainSpec {
                name: d1(),
                memory_kib: 131072,
                vcpus: 2,
                vpl011: true,
                nr_spis: None,
                enhanced: Enhanced::Disabled,
                p2m_pool_bytes: 3 << 20,
                kernel: BootModule {
                    node: "module@4a000000".into(),
                    addr: 0x4a00_0000,
                    size: 0xff_ffff
                },
                bootargs: Some("console=ttyAMA0 init=/bin/sh".into()),
                ramdisk: Some(BootModule {
                    node: "module@4b000000".into(),
                    addr: 0x4b00_0000,
                    size: 0xff_ffff
                }),
                device_tree: None,
                sched: DomainSched::default(),
                static_evtchns: Vec::new(),
            }
        );
        assert_eq!(d[0].memory_bytes(), 128 << 20);
        assert_eq!(d[0].modules().count(), 2);
        assert_eq!(d[1].name, "domU2");
        assert_eq!(d[1].memory_kib, 65536);
        assert_eq!(d[1].vcpus, 1);
        assert!(!d[1].vpl011);
        assert_eq!(d[1].bootargs, None);
        assert_eq!(d[1].ramdisk.as_ref().unwrap().addr, 0x4d00_0000);
        check_modules_in_ram(&d, &[(0x4000_0000, 0x8000_0000)]).unwrap();
    }

    #[test]
    fn no_chosen_or_no_domains_is_empty() {
        let mut b = DtBuilder::new();
        b.begin("");
        b.end();
        assert_eq!(parse(&b.finish(&[])).unwrap(), []);
        let blob = host(|b| {
            // dom0's own modules and other /chosen children are not domUs.
            module(
                b,
                "module@48000000",
                &["multiboot,kernel", "multiboot,module"],
                0x4800_0000,
                0x1000,
            );
            b.begin("other");
            b.prop_str("compatible", "vendor,thing");
            b.end();
        });
        assert_eq!(parse(&blob).unwrap(), []);
    }

    #[test]
    fn optional_properties_are_read() {
        let d = one(&[
            ("nr_spis", cells(&[MAX_NR_SPIS])),
            ("vpl011", empty()),
            ("phandle", cells(&[7])),
            ("status", st("okay")),
            ("#address-cells", cells(&[1])),
            ("#size-cells", cells(&[1])),
        ]);
        // With one address cell the default kernel's reg is too long.
        assert!(
            matches!(d, Err(Dom0lessError::BadModuleReg { .. })),
            "{d:?}"
        );
        let d = one_with(
            &[
                ("nr_spis", cells(&[MAX_NR_SPIS])),
                ("vpl011", empty()),
                ("phandle", cells(&[7])),
                ("status", st("okay")),
                ("#address-cells", cells(&[1])),
                ("#size-cells", cells(&[2])),
                ("memory", cells(&[1, 0])),
            ],
            |b| {
                b.begin("k");
                b.prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
                b.prop_cells("reg", &[0x4a00_0000, 1, 0]);
                b.prop_bytes("bootargs", b"\0");
                b.end();
            },
        )
        .unwrap();
        assert_eq!(d.nr_spis, Some(960));
        assert!(d.vpl011);
        assert_eq!(d.memory_kib, 1 << 32);
        assert_eq!(d.memory_bytes(), 1 << 42);
        assert_eq!(d.kernel.addr, 0x4a00_0000);
        assert_eq!(d.kernel.size, 1 << 32);
        assert_eq!(d.bootargs, None, "empty bootargs are none");
    }

    #[test]
    fn p2m_default_follows_xen() {
        // domain_p2m_pages: 4 KiB * (256 * vcpus + MiB of RAM + 128),
        // rounded up to whole MiB.
        assert_eq!(default_p2m_bytes(131072, 2), Some(3 << 20)); // 2560 KiB
        assert_eq!(default_p2m_bytes(4, 1), Some(2 << 20)); // 1536 KiB
        assert_eq!(default_p2m_bytes(1 << 20, 1), Some(6 << 20)); // 5632 KiB
        assert_eq!(default_p2m_bytes(256 << 10, 128), Some(130 << 20));
        assert_eq!(default_p2m_bytes(u64::MAX, u32::MAX), None);
        assert_eq!(one(&[]).unwrap().p2m_pool_bytes, 3 << 20);
        let d = one(&[("xen,domain-p2m-mem-mb", cells(&[7]))]).unwrap();
        assert_eq!(d.p2m_pool_bytes, 7 << 20);
        assert_eq!(
            refused(&[("xen,domain-p2m-mem-mb", cells(&[0]))]),
            Dom0lessError::ZeroP2mPool { domain: d1() }
        );
        assert!(matches!(
            refused(&[("xen,domain-p2m-mem-mb", cells(&[0, 7]))]),
            Dom0lessError::BadValue { .. }
        ));
    }

    #[test]
    fn enhanced_values() {
        assert_eq!(one(&[]).unwrap().enhanced, Enhanced::Disabled);
        for (v, want) in [
            (empty(), Enhanced::Enabled),
            (st("enabled"), Enhanced::Enabled),
            (st("disabled"), Enhanced::Disabled),
            (st("no-xenstore"), Enhanced::NoXenstore),
        ] {
            assert_eq!(one(&[("xen,enhanced", v)]).unwrap().enhanced, want);
        }
        assert_eq!(
            refused(&[("xen,enhanced", st("yes"))]),
            Dom0lessError::BadEnhanced {
                domain: d1(),
                value: "yes".into()
            }
        );
        assert_eq!(
            refused(&[("xen,enhanced", Some(b"enabled".to_vec()))]),
            Dom0lessError::BadValue {
                domain: d1(),
                property: "xen,enhanced".into(),
                why: "must be one string"
            }
        );
    }

    #[test]
    fn memory_rules() {
        assert_eq!(
            refused(&[("memory", None)]),
            Dom0lessError::MissingProperty {
                domain: d1(),
                property: "memory"
            }
        );
        assert_eq!(
            refused(&[("memory", cells(&[0, 0]))]),
            Dom0lessError::ZeroMemory { domain: d1() }
        );
        assert_eq!(
            refused(&[("memory", cells(&[0, 131071]))]),
            Dom0lessError::MemoryNotPageMultiple {
                domain: d1(),
                kib: 131071
            }
        );
        assert_eq!(
            refused(&[("memory", cells(&[0xffff_ffff, 0xffff_fffc]))]),
            Dom0lessError::MemoryTooLarge {
                domain: d1(),
                kib: 0xffff_ffff_ffff_fffc
            }
        );
        // booting.txt: "A 64-bit integer"; Xen refuses a single cell.
        for v in [cells(&[131072]), cells(&[0, 0, 131072]), empty()] {
            assert_eq!(
                refused(&[("memory", v)]),
                Dom0lessError::BadValue {
                    domain: d1(),
                    property: "memory".into(),
                    why: "must be a 64-bit value (two cells)"
                }
            );
        }
        assert_eq!(one(&[("memory", cells(&[0, 4]))]).unwrap().memory_kib, 4);
    }

    #[test]
    fn cpus_rules() {
        assert_eq!(
            refused(&[("cpus", None)]),
            Dom0lessError::MissingProperty {
                domain: d1(),
                property: "cpus"
            }
        );
        for n in [0, MAX_VCPUS + 1, u32::MAX] {
            assert_eq!(
                refused(&[("cpus", cells(&[n]))]),
                Dom0lessError::BadVcpus {
                    domain: d1(),
                    cpus: n
                }
            );
        }
        assert_eq!(one(&[("cpus", cells(&[128]))]).unwrap().vcpus, 128);
        assert!(matches!(
            refused(&[("cpus", cells(&[0, 1]))]),
            Dom0lessError::BadValue { .. }
        ));
    }

    #[test]
    fn vpl011_and_nr_spis() {
        assert!(!one(&[]).unwrap().vpl011);
        assert_eq!(
            refused(&[("vpl011", cells(&[1]))]),
            Dom0lessError::BadValue {
                domain: d1(),
                property: "vpl011".into(),
                why: "must be an empty property"
            }
        );
        assert_eq!(
            refused(&[("nr_spis", cells(&[MAX_NR_SPIS + 1]))]),
            Dom0lessError::TooManySpis {
                domain: d1(),
                nr_spis: 961
            }
        );
        assert_eq!(
            refused(&[("nr_spis", cells(&[0])), ("vpl011", empty())]),
            Dom0lessError::Vpl011WithoutSpis { domain: d1() }
        );
        assert_eq!(one(&[("nr_spis", cells(&[0]))]).unwrap().nr_spis, Some(0));
        assert_eq!(
            one(&[("nr_spis", cells(&[1])), ("vpl011", empty())])
                .unwrap()
                .nr_spis,
            Some(1)
        );
    }

    #[test]
    fn cells_are_required_and_bounded() {
        for p in ["#address-cells", "#size-cells"] {
            assert_eq!(
                refused(&[(p, None)]),
                Dom0lessError::MissingProperty {
                    domain: d1(),
                    property: p
                }
            );
        }
        assert_eq!(
            refused(&[("#address-cells", cells(&[3]))]),
            Dom0lessError::BadCells {
                domain: d1(),
                address: 3,
                size: 1
            }
        );
        assert_eq!(
            refused(&[("#size-cells", cells(&[0]))]),
            Dom0lessError::BadCells {
                domain: d1(),
                address: 2,
                size: 0
            }
        );
    }

    #[test]
    fn unbuilt_features_are_refused() {
        for &(property, feature) in REFUSED_PROPERTIES {
            let e = refused(&[(property, empty())]);
            assert_eq!(
                e,
                Dom0lessError::Unsupported {
                    domain: d1(),
                    property: property.into(),
                    feature
                }
            );
            let msg = format!("{e}");
            assert!(msg.contains("domU1") && msg.contains(property), "{msg}");
        }
        // With values, as booting.txt writes them.
        for (p, v) in [
            ("xen,static-mem", cells(&[0x3000_0000, 0x2000_0000])),
            ("passthrough", st("enabled")),
            ("passthrough", st("disabled")),
            ("max_grant_frames", cells(&[64])),
            ("sve", cells(&[128])),
            ("llc-colors", st("0-3")),
        ] {
            assert!(
                matches!(refused(&[(p, v)]), Dom0lessError::Unsupported { .. }),
                "{p}"
            );
        }
    }

    #[test]
    fn scheduling_properties_are_read_and_checked() {
        use crate::sched::{sched_id, PolicyParams, UnitId};
        let d = one_with(
            &[
                ("domain-cpupool", cells(&[0x21])),
                ("tessera,sched-weight", cells(&[512])),
                ("tessera,sched-cap", cells(&[150])),
            ],
            kernel,
        )
        .unwrap();
        assert_eq!(d.sched.cpupool, Some(0x21));
        let u = d.sched.unit_params(3, 1);
        assert_eq!((u.unit, u.weight, u.cap), (UnitId::new(3, 1), 512, 150));
        assert_eq!(d.sched.ignored_by(sched_id::CREDIT2), None);
        assert!(d
            .sched
            .ignored_by(sched_id::RTDS)
            .unwrap()
            .contains("sched-weight"));

        // RTDS: one or two cells, microseconds in, nanoseconds out.
        let d = one_with(
            &[
                ("tessera,rtds-period-us", cells(&[0, 20_000])),
                ("tessera,rtds-budget-us", cells(&[5_000])),
                ("tessera,rtds-extratime", cells(&[0])),
            ],
            kernel,
        )
        .unwrap();
        assert_eq!(
            d.sched.unit_params(1, 0).policy,
            PolicyParams::Rtds {
                period_ns: 20_000_000,
                budget_ns: 5_000_000,
                extratime: false
            }
        );
        assert!(d
            .sched
            .ignored_by(sched_id::CREDIT)
            .unwrap()
            .contains("rtds"));
        let d = one_with(
            &[
                ("cpus", cells(&[1])),
                ("tessera,arinc653-runtime-us", cells(&[7_500])),
            ],
            kernel,
        )
        .unwrap();
        assert_eq!(
            d.sched.unit_params(1, 0).policy,
            PolicyParams::Arinc653 {
                runtime_ns: 7_500_000
            }
        );
        // Absent: the policy's defaults.
        let d = one_with(&[], kernel).unwrap();
        assert_eq!(d.sched, DomainSched::default());
        assert_eq!(
            d.sched.unit_params(1, 0),
            crate::sched::UnitParams::new(1, 0)
        );

        // Out of range, malformed, half given: refused by name.
        type Changes<'a> = &'a [(&'a str, Option<Vec<u8>>)];
        let cases: &[(Changes, &str)] = &[
            (
                &[("tessera,sched-weight", cells(&[0]))],
                "tessera,sched-weight",
            ),
            (
                &[("tessera,sched-weight", cells(&[65536]))],
                "tessera,sched-weight",
            ),
            (
                &[("tessera,sched-weight", cells(&[1, 2]))],
                "tessera,sched-weight",
            ),
            // Two vCPUs: at most 200.
            (&[("tessera,sched-cap", cells(&[201]))], "tessera,sched-cap"),
            (&[("domain-cpupool", empty())], "domain-cpupool"),
            (
                &[
                    ("tessera,rtds-period-us", cells(&[9])),
                    ("tessera,rtds-budget-us", cells(&[9])),
                ],
                "tessera,rtds-period-us",
            ),
            (
                &[
                    ("tessera,rtds-period-us", cells(&[100])),
                    ("tessera,rtds-budget-us", cells(&[101])),
                ],
                "tessera,rtds-budget-us",
            ),
            (
                &[
                    ("tessera,rtds-period-us", cells(&[100])),
                    ("tessera,rtds-budget-us", cells(&[5])),
                ],
                "tessera,rtds-budget-us",
            ),
            (
                &[
                    ("tessera,rtds-period-us", cells(&[8, 0])),
                    ("tessera,rtds-budget-us", cells(&[100])),
                ],
                "tessera,rtds-period-us",
            ),
            (
                &[("tessera,rtds-period-us", cells(&[100]))],
                "tessera,rtds-budget-us",
            ),
            (
                &[("tessera,rtds-budget-us", cells(&[100]))],
                "tessera,rtds-period-us",
            ),
            (
                &[("tessera,rtds-extratime", cells(&[1]))],
                "tessera,rtds-period-us",
            ),
            (
                &[("tessera,rtds-extratime", cells(&[2]))],
                "tessera,rtds-extratime",
            ),
            (
                &[("tessera,arinc653-runtime-us", cells(&[0]))],
                "tessera,arinc653-runtime-us",
            ),
            (
                &[("tessera,arinc653-runtime-us", empty())],
                "tessera,arinc653-runtime-us",
            ),
        ];
        for (changes, property) in cases {
            let e = one_with(changes, kernel).unwrap_err();
            let msg = format!("{e}");
            assert!(
                msg.contains("domU1") && msg.contains(property),
                "{changes:?}: {msg}"
            );
        }
    }

    #[test]
    fn unknown_and_repeated_properties_are_refused() {
        let e = refused(&[("xen,frobnicate", empty())]);
        assert_eq!(
            e,
            Dom0lessError::UnknownProperty {
                domain: d1(),
                node: d1(),
                property: "xen,frobnicate".into()
            }
        );
        assert_eq!(
            format!("{e}"),
            "domain domU1: unknown property \"xen,frobnicate\""
        );
        assert_eq!(
            refused(&[("bootargs", st("x"))]),
            Dom0lessError::UnknownProperty {
                domain: d1(),
                node: d1(),
                property: "bootargs".into()
            }
        );
        assert!(matches!(
            refused(&[("status", st("disabled"))]),
            Dom0lessError::BadValue { .. }
        ));
        let blob = host(|b| {
            b.begin("domU1");
            b.prop_str("compatible", "xen,domain");
            b.prop_u32("cpus", 1);
            b.prop_u32("cpus", 2);
            b.end();
        });
        assert_eq!(
            parse(&blob).unwrap_err(),
            Dom0lessError::BadValue {
                domain: d1(),
                property: "cpus".into(),
                why: "given twice"
            }
        );
    }

    #[test]
    fn host_level_features_are_refused() {
        let blob = host(|b| b.prop_cells("xen,static-heap", &[0, 0x3000_0000, 0, 0x4000_0000]));
        assert_eq!(
            parse(&blob).unwrap_err(),
            Dom0lessError::UnsupportedHost {
                property: "xen,static-heap".into(),
                feature: "static heap"
            }
        );
        for (compat, feature) in [
            (
                "xen,evtchn-v1",
                "static event channels of dom0 (there is no dom0)",
            ),
            ("xen,domain-shared-memory-v1", "static shared memory"),
        ] {
            let blob = host(|b| {
                b.begin("thing@1");
                b.prop_str("compatible", compat);
                b.end();
            });
            assert_eq!(
                parse(&blob).unwrap_err(),
                Dom0lessError::UnsupportedHostNode {
                    node: "thing@1".into(),
                    compatible: compat,
                    feature
                }
            );
        }
    }

    /// A domain node with `xen,enhanced` and the given static channel
    /// ends: (node name, phandle, port, peer phandle).
    fn evtchn_domain(b: &mut DtBuilder, name: &str, ends: &[(&str, u32, u32, u32)]) {
        domain(b, name, &[("xen,enhanced", st("no-xenstore"))], |b| {
            kernel(b);
            for &(node, ph, port, peer) in ends {
                b.begin(node);
                b.prop_str("compatible", "xen,evtchn-v1");
                b.prop_cells("xen,evtchn", &[port, peer]);
                b.prop_u32("phandle", ph);
                b.end();
            }
        });
    }

    #[test]
    fn static_event_channels_pair_up_across_domains() {
        // booting.txt's example: domU1 port 0xa <-> domU2 port 0xb, and a
        // loopback pair inside domU1.
        let blob = host(|b| {
            evtchn_domain(
                b,
                "domU1",
                &[("ec1", 1, 0xa, 2), ("ec3", 3, 0xc, 4), ("ec4", 4, 0xd, 3)],
            );
            evtchn_domain(b, "domU2", &[("ec2", 2, 0xb, 1)]);
        });
        let specs = parse(&blob).unwrap();
        assert_eq!(specs[0].static_evtchns.len(), 3);
        assert_eq!(
            static_evtchn_pairs(&specs).unwrap(),
            vec![((0, 0xa), (1, 0xb)), ((0, 0xc), (0, 0xd))]
        );
        // Broken pairs are refused, naming the node.
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                host(|b| {
                    evtchn_domain(b, "domU1", &[("ec1", 1, 0xa, 2)]);
                    evtchn_domain(b, "domU2", &[("ec2", 2, 0xb, 9)]);
                }),
                "does not name it back",
            ),
            (
                host(|b| evtchn_domain(b, "domU1", &[("ec1", 1, 0xa, 7)])),
                "names no xen,evtchn-v1 node",
            ),
            (
                host(|b| {
                    evtchn_domain(b, "domU1", &[("ec1", 1, 0xa, 2), ("ec5", 5, 0xa, 6)]);
                    evtchn_domain(b, "domU2", &[("ec2", 2, 0xb, 1), ("ec6", 6, 0xc, 5)]);
                }),
                "another static channel",
            ),
            (
                host(|b| {
                    evtchn_domain(b, "domU1", &[("ec1", 1, 0xa, 2)]);
                    domain(b, "domU2", &[], |b| {
                        kernel(b);
                        b.begin("ec2");
                        b.prop_str("compatible", "xen,evtchn-v1");
                        b.prop_cells("xen,evtchn", &[0xb, 1]);
                        b.prop_u32("phandle", 2);
                        b.end();
                    });
                }),
                "needs xen,enhanced",
            ),
        ];
        for (blob, want) in cases {
            let specs = parse(&blob).unwrap();
            let e = format!("{}", static_evtchn_pairs(&specs).unwrap_err());
            assert!(e.contains(want) && e.contains("xen,evtchn"), "{e}");
        }
        // Malformed ends are refused when the domain is read.
        for (cells, want) in [
            (&[0u32, 2][..], "1..=1023"),
            (&[1024, 2], "1..=1023"),
            (&[5], "<local-port"),
        ] {
            let blob = host(|b| {
                domain(b, "domU1", &[("xen,enhanced", st("no-xenstore"))], |b| {
                    kernel(b);
                    b.begin("ec1");
                    b.prop_str("compatible", "xen,evtchn-v1");
                    b.prop_cells("xen,evtchn", cells);
                    b.end();
                });
            });
            let e = format!("{}", parse(&blob).unwrap_err());
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn unbuilt_subnodes_are_refused() {
        for (compat, feature) in [
            (
                "xen,evtchn",
                "static event channels (the compatible is \"xen,evtchn-v1\")",
            ),
            ("xen,domain-shared-memory-v1", "static shared memory"),
        ] {
            let e = subs_refused(|b| {
                kernel(b);
                b.begin("ec@2");
                b.prop_str("compatible", compat);
                b.prop_cells("xen,evtchn", &[0xa, 1]);
                b.end();
            });
            assert_eq!(
                e,
                Dom0lessError::UnsupportedSubnode {
                    domain: d1(),
                    node: "ec@2".into(),
                    feature
                }
            );
        }
        let e = subs_refused(|b| {
            kernel(b);
            b.begin("mystery");
            b.end();
        });
        assert_eq!(
            e,
            Dom0lessError::UnknownSubnode {
                domain: d1(),
                node: "mystery".into()
            }
        );
        // Xen 4.4's legacy names are for dom0's modules.
        let e = subs_refused(|b| {
            kernel(b);
            module(
                b,
                "m",
                &["xen,linux-initrd", "xen,multiboot-module"],
                0x4c00_0000,
                1,
            );
        });
        assert!(matches!(e, Dom0lessError::UnknownSubnode { .. }), "{e:?}");
    }

    #[test]
    fn module_kinds() {
        // booting.txt's "first unnamed module is the kernel" rule is for
        // dom0's modules; a domU sub-node must say what it is.
        let e = subs_refused(|b| module(b, "m", &["multiboot,module"], 0x4a00_0000, 1));
        assert_eq!(
            e,
            Dom0lessError::ModuleKind {
                domain: d1(),
                node: "m".into()
            }
        );
        let e = subs_refused(|b| {
            module(
                b,
                "m",
                &["multiboot,kernel", "multiboot,ramdisk", "multiboot,module"],
                0x4a00_0000,
                1,
            )
        });
        assert!(matches!(e, Dom0lessError::ModuleKind { .. }), "{e:?}");
        let e = subs_refused(|b| module(b, "m", &["multiboot,kernel"], 0x4a00_0000, 1));
        assert_eq!(
            e,
            Dom0lessError::NotAModule {
                domain: d1(),
                node: "m".into()
            }
        );
        assert_eq!(
            subs_refused(|_| {}),
            Dom0lessError::MissingKernel { domain: d1() }
        );
        assert_eq!(
            subs_refused(|b| module(
                b,
                "r",
                &["multiboot,ramdisk", "multiboot,module"],
                0x4b00_0000,
                1
            )),
            Dom0lessError::MissingKernel { domain: d1() }
        );
        let e = subs_refused(|b| {
            kernel(b);
            module(
                b,
                "k2",
                &["multiboot,kernel", "multiboot,module"],
                0x4c00_0000,
                1,
            );
        });
        assert_eq!(
            e,
            Dom0lessError::DuplicateModule {
                domain: d1(),
                kind: "multiboot,kernel",
                node: "k2".into()
            }
        );
        let d = one_with(&[], |b| {
            kernel(b);
            module(
                b,
                "module@c000000",
                &["multiboot,device-tree", "multiboot,module"],
                0xc00_0000,
                0xff_ffff,
            );
        })
        .unwrap();
        assert_eq!(
            d.device_tree,
            Some(BootModule {
                node: "module@c000000".into(),
                addr: 0xc00_0000,
                size: 0xff_ffff
            })
        );
    }

    #[test]
    fn module_reg_rules() {
        let reg = |r: &[u32]| {
            let r = r.to_vec();
            move |b: &mut DtBuilder| {
                b.begin("k");
                b.prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
                b.prop_cells("reg", &r);
                b.end();
            }
        };
        let why = |e| match e {
            Dom0lessError::BadModuleReg { why, .. } => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            why(subs_refused(reg(&[0, 0x4a00_0000]))),
            "must be exactly one (address, size) entry"
        );
        assert_eq!(
            why(subs_refused(reg(&[0, 0x4a00_0000, 1, 0, 0x4b00_0000, 1]))),
            "must be exactly one (address, size) entry"
        );
        assert_eq!(
            why(subs_refused(|b| {
                b.begin("k");
                b.prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
                b.end();
            })),
            "missing"
        );
        assert_eq!(
            subs_refused(reg(&[0, 0x4a00_0000, 0])),
            Dom0lessError::ZeroSizeModule {
                domain: d1(),
                node: "k".into()
            }
        );
        assert_eq!(
            subs_refused(reg(&[0xffff_ffff, 0xffff_f000, 0x1001])),
            Dom0lessError::ModuleWraps {
                domain: d1(),
                node: "k".into(),
                addr: 0xffff_ffff_ffff_f000,
                size: 0x1001
            }
        );
        // Ending one byte below 2^64 is fine.
        let d = one_with(&[], reg(&[0xffff_ffff, 0xffff_f000, 0xfff])).unwrap();
        assert_eq!(d.kernel.end(), u64::MAX);
    }

    #[test]
    fn module_properties() {
        let e = subs_refused(|b| {
            b.begin("k");
            b.prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
            b.prop_cells("reg", &[0, 0x4a00_0000, 1]);
            b.prop_str("xen,uefi-binary", "Image");
            b.end();
        });
        assert_eq!(
            e,
            Dom0lessError::Unsupported {
                domain: d1(),
                property: "xen,uefi-binary".into(),
                feature: "UEFI boot"
            }
        );
        let e = subs_refused(|b| {
            kernel(b);
            b.begin("r");
            b.prop_strs("compatible", &["multiboot,ramdisk", "multiboot,module"]);
            b.prop_cells("reg", &[0, 0x4b00_0000, 1]);
            b.prop_str("bootargs", "quiet");
            b.end();
        });
        assert_eq!(
            e,
            Dom0lessError::UnknownProperty {
                domain: d1(),
                node: "r".into(),
                property: "bootargs".into()
            }
        );
        assert_eq!(
            format!("{e}"),
            "domain domU1: node r: unknown property \"bootargs\""
        );
        let e = subs_refused(|b| {
            b.begin("k");
            b.prop_strs("compatible", &["multiboot,kernel", "multiboot,module"]);
            b.prop_cells("reg", &[0, 0x4a00_0000, 1]);
            b.prop_bytes("bootargs", b"no nul");
            b.end();
        });
        assert!(matches!(e, Dom0lessError::BadValue { .. }), "{e:?}");
    }

    #[test]
    fn overlapping_modules_are_refused() {
        let e = subs_refused(|b| {
            kernel(b);
            module(
                b,
                "r",
                &["multiboot,ramdisk", "multiboot,module"],
                0x4aff_fffe,
                0x10,
            );
        });
        assert_eq!(
            e,
            Dom0lessError::ModulesOverlap {
                domain: d1(),
                a: "module@4a000000".into(),
                b: "r".into()
            }
        );
        // Touching is fine.
        one_with(&[], |b| {
            kernel(b);
            module(
                b,
                "r",
                &["multiboot,ramdisk", "multiboot,module"],
                0x4aff_ffff,
                0x10,
            );
        })
        .unwrap();
    }

    #[test]
    fn duplicate_domain_names_are_refused() {
        let blob = host(|b| {
            domain(b, "domU1", &[], kernel);
            domain(b, "domU1", &[], kernel);
        });
        assert_eq!(
            parse(&blob).unwrap_err(),
            Dom0lessError::DuplicateDomain { domain: d1() }
        );
    }

    #[test]
    fn modules_outside_ram_are_found() {
        let d = vec![one(&[]).unwrap()];
        check_modules_in_ram(&d, &[(0x4000_0000, 0x1000_0000)]).unwrap();
        assert_eq!(
            check_modules_in_ram(&d, &[(0x4000_0000, 0xa00_0000), (0x4b00_0000, 0x1000)]),
            Err(Dom0lessError::ModuleOutsideRam {
                domain: d1(),
                node: "module@4a000000".into(),
                addr: 0x4a00_0000,
                size: 0xff_ffff
            })
        );
        assert!(check_modules_in_ram(&d, &[(u64::MAX, 2)]).is_err());
        assert!(check_modules_in_ram(&d, &[]).is_err());
    }

    #[test]
    fn hostile_trees_do_not_panic() {
        // Every truncation of a valid host tree either fails to validate
        // or parses without panicking; same for single-byte flips.
        let blob = host(|b| {
            domain(
                b,
                "domU1",
                &[("vpl011", empty()), ("nr_spis", cells(&[4]))],
                |b| {
                    kernel(b);
                    module(
                        b,
                        "module@4b000000",
                        &["multiboot,ramdisk", "multiboot,module"],
                        0x4b00_0000,
                        0xff_ffff,
                    );
                },
            )
        });
        for len in 0..blob.len() {
            if let Ok(fdt) = Fdt::new(&blob[..len]) {
                let _ = parse_domains(&fdt);
            }
        }
        for i in 0..blob.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = blob.clone();
                b[i] ^= flip;
                if let Ok(fdt) = Fdt::new(&b) {
                    let _ = parse_domains(&fdt);
                }
            }
        }
    }
}
