//! The host interrupt controller, whichever version the device tree
//! describes: a GICv3 (`gicv3.rs`) or a GICv2 with the virtualization
//! extensions (`gicv2.rs`, the GIC-400 of ZynqMP), behind one trait
//! ([`HostGic`]) chosen once at boot. What does not depend on the version
//! lives here: the reserved-SGI table, the timer and maintenance PPIs from
//! the device tree, and the IRQ entry (acknowledge, dispatch, end of
//! interrupt).

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use tessera_core::fdt::{Fdt, Node};
use tessera_core::hal::HalError;

use super::vgic::VirtInterface;
use super::{percpu, timer};

/// Software-generated interrupts reserved by the hypervisor, one owner each.
pub mod sgi {
    /// Ask a CPU to run its scheduler.
    pub const RESCHEDULE: u32 = 0;
    /// Ask a CPU to run a function (and acknowledge).
    pub const CALL_FUNCTION: u32 = 1;
    /// Rendezvous all CPUs (stop-machine, live patching).
    pub const STOP_MACHINE: u32 = 2;
    /// Who owns each reserved SGI.
    pub const TABLE: [(u32, &str); 3] = [
        (RESCHEDULE, "reschedule"),
        (CALL_FUNCTION, "call-function"),
        (STOP_MACHINE, "stop-machine"),
    ];
}

/// What an interrupt taken at EL2 means for the guest that was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqEvent {
    None,
    /// Its virtual timer fired (already masked): inject PPI 27.
    VirtualTimer,
    /// The hypervisor timer: a deadline passed (WFI, physical timer).
    HypTimer,
    /// The virtual interface asked for attention (list registers drained
    /// or a level interrupt was completed).
    Maintenance,
}

/// The GIC maintenance interrupt: PPI 9 on every GIC Arm describes
/// (GICv2 and GICv3); the controller's own `interrupts` property says so.
pub const MAINTENANCE_INTID_DEFAULT: u32 = 25;

/// The PPIs every CPU enables for the hypervisor.
#[derive(Clone, Copy, Debug)]
pub struct Ppis {
    /// EL2 physical timer (CNTHP).
    pub hyp_timer: u32,
    /// EL1 virtual timer, which guests use.
    pub virt_timer: u32,
    /// The virtual interface's maintenance interrupt.
    pub maintenance: u32,
}

impl Ppis {
    /// Bit mask (in a 32-bit banked enable register) of the private
    /// interrupts the hypervisor takes: its SGIs and PPIs.
    pub fn enable_mask(&self) -> u32 {
        let mut m = (1 << self.hyp_timer) | (1 << self.virt_timer) | (1 << self.maintenance);
        for (id, _) in sgi::TABLE {
            m |= 1 << id;
        }
        m
    }
}

/// One host interrupt controller. Implementations keep their registers
/// to themselves; callers name CPUs by index.
pub trait HostGic: Sync {
    /// "GICv2" or "GICv3".
    fn name(&self) -> &'static str;
    /// SPIs the distributor implements.
    fn spis(&self) -> u32;
    /// Brings up this CPU's interface (and GICv3 redistributor).
    fn cpu_init(&self) -> Result<(), HalError>;
    /// Routes SPI `intid` to the boot CPU and enables it.
    fn enable_spi(&self, intid: u32) -> Result<(), HalError>;
    /// Sends SGI `id` to CPU `cpu`.
    fn send_sgi(&self, id: u32, cpu: usize);
    /// Acknowledges the highest-priority pending interrupt: (INTID, the
    /// raw value to hand back to [`HostGic::eoi`]).
    fn ack(&self) -> (u32, u64);
    /// Ends the interrupt `ack` returned.
    fn eoi(&self, raw: u64);
    /// The list registers and the guest's view of this controller.
    fn virt(&self) -> &'static dyn VirtInterface;
}

static GIC: Once<&'static dyn HostGic> = Once::new();
static PPIS: Once<Ppis> = Once::new();
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

/// Finds the interrupt controller the device tree describes and brings up
/// the distributor and the boot CPU's interface.
pub fn init(fdt: &Fdt) -> Result<&'static dyn HostGic, HalError> {
    let (hyp_timer, virt_timer) = timer_intids(fdt)?;
    let v3 = fdt.compatible_nodes("arm,gic-v3").next();
    let v2 = || {
        super::gicv2::COMPATIBLE
            .iter()
            .find_map(|c| fdt.compatible_nodes(c).next())
    };
    let (node, is_v3) = match (v3, v2()) {
        (Some(n), _) => (n, true),
        (None, Some(n)) => (n, false),
        (None, None) => {
            return Err(HalError::BadDeviceTree(
                "no arm,gic-v3 or GICv2 (arm,gic-400, arm,cortex-a15-gic) interrupt controller",
            ))
        }
    };
    let maintenance = maintenance_intid(&node)?;
    let ppis = *PPIS.call_once(|| Ppis {
        hyp_timer,
        virt_timer,
        maintenance,
    });
    let g: &'static dyn HostGic = if is_v3 {
        super::gicv3::probe(&node, ppis)?
    } else {
        super::gicv2::probe(&node, ppis)?
    };
    Ok(*GIC.call_once(|| g))
}

/// The controller `init` found.
pub fn get() -> Option<&'static dyn HostGic> {
    GIC.get().copied()
}

/// Brings up this CPU's interface (secondary CPUs).
pub fn cpu_init() -> Result<(), HalError> {
    get()
        .ok_or(HalError::BadDeviceTree("GIC not initialised"))?
        .cpu_init()
}

/// Routes SPI `intid` to the boot CPU and enables it.
pub fn enable_spi(intid: u32) -> Result<(), HalError> {
    get()
        .ok_or(HalError::BadDeviceTree("GIC not initialised"))?
        .enable_spi(intid)
}

/// Sends SGI `id` to CPU `cpu` (an index).
pub fn send_sgi(id: u32, cpu: usize) {
    if let Some(g) = get() {
        g.send_sgi(id, cpu);
    }
}

/// INTIDs of the EL2 physical timer (4th interrupt of the timer node) and
/// of the EL1 virtual timer (3rd), which guests use.
fn timer_intids(fdt: &Fdt) -> Result<(u32, u32), HalError> {
    let node = fdt
        .compatible_nodes("arm,armv8-timer")
        .next()
        .ok_or(HalError::BadDeviceTree("no arm,armv8-timer node"))?;
    let cells: Cells = node
        .property("interrupts")
        .map(|p| p.cells().collect())
        .unwrap_or_default();
    let c = cells.as_slice();
    if c.len() < 12 || c[9] != 1 {
        return Err(HalError::BadDeviceTree(
            "timer node lacks the EL2 physical timer PPI",
        ));
    }
    let (hyp, virt) = (c[10] + 16, c[7] + 16);
    if hyp >= 32 || virt >= 32 || c[6] != 1 {
        return Err(HalError::BadDeviceTree("timer PPI number out of range"));
    }
    Ok((hyp, virt))
}

/// The maintenance interrupt from the controller node's `interrupts` (a
/// PPI); PPI 9 when the node has none.
fn maintenance_intid(node: &Node) -> Result<u32, HalError> {
    let cells: Cells = node
        .property("interrupts")
        .map(|p| p.cells().collect())
        .unwrap_or_default();
    match cells.as_slice() {
        [] => Ok(MAINTENANCE_INTID_DEFAULT),
        [1, ppi, ..] if *ppi < 16 => Ok(ppi + 16),
        _ => Err(HalError::BadDeviceTree(
            "interrupt controller: maintenance interrupt is not a PPI",
        )),
    }
}

#[derive(Default)]
struct Cells {
    v: [u32; 16],
    n: usize,
}

impl FromIterator<u32> for Cells {
    fn from_iter<I: IntoIterator<Item = u32>>(it: I) -> Self {
        let mut c = Cells::default();
        for x in it.into_iter().take(16) {
            c.v[c.n] = x;
            c.n += 1;
        }
        c
    }
}

impl Cells {
    fn as_slice(&self) -> &[u32] {
        &self.v[..self.n]
    }
}

/// The IRQ entry: acknowledge, dispatch, end of interrupt. `from` is
/// what the interrupt interrupted (for register dumps, see `regdump`).
pub fn handle_irq(from: super::regdump::Interrupted) -> IrqEvent {
    let Some(g) = get() else {
        return IrqEvent::None;
    };
    let (intid, raw) = g.ack();
    if (1020..=1023).contains(&intid) {
        SPURIOUS.fetch_add(1, Ordering::Relaxed);
        return IrqEvent::None;
    }
    let _recorded = super::regdump::record(from);
    let mut event = IrqEvent::None;
    let ppis = PPIS.get().copied().unwrap_or(Ppis {
        hyp_timer: timer::HYP_TIMER_PPI_DEFAULT,
        virt_timer: 27,
        maintenance: MAINTENANCE_INTID_DEFAULT,
    });
    let me = percpu::this_cpu();
    match intid {
        sgi::RESCHEDULE => {}
        sgi::CALL_FUNCTION => {
            me.ipis.fetch_add(1, Ordering::Release);
            super::smp::handle_call();
        }
        sgi::STOP_MACHINE => {}
        i if i == ppis.hyp_timer => {
            timer::disarm();
            me.timer_fired.store(true, Ordering::Release);
            event = IrqEvent::HypTimer;
        }
        i if i == ppis.maintenance => event = IrqEvent::Maintenance,
        i if i == ppis.virt_timer => {
            // A guest's virtual timer fired while its context is loaded:
            // mask it (as Xen does) so it does not fire again, and let the
            // guest layer inject virtual PPI 27; the guest unmasks it when
            // it programs the next deadline.
            let ctl = mrs!("cntv_ctl_el0");
            // Sound: only the IMASK bit of the loaded guest's timer changes.
            msr!("cntv_ctl_el0", ctl | 2);
            event = IrqEvent::VirtualTimer;
        }
        other => {
            if let tessera_core::irq::Owner::Free = tessera_core::irq::dispatch(other) {
                tessera_core::warn!("CPU{}: unexpected interrupt {other}", me.index());
            }
        }
    }
    g.eoi(raw);
    event
}
