//! Moving a vCPU's virtual interrupts in and out of the list registers
//! and saving its virtual CPU interface state, for both hardware
//! interfaces: the GICv3 ICH_* system registers ([`ICH_V3`]) and the
//! GICv2 GICH memory-mapped frame ([`GichV2`]). The host GIC driver hands
//! out the one it has ([`super::gic::HostGic::virt`]).

use tessera_core::hal::{Mmio, MmioRegion};

use crate::vgic::{v2, GicVersion, LrEntry, Vgic};

/// What stays with a vCPU between its runs.
#[derive(Clone, Copy, Default)]
pub struct GicCpuState {
    /// ICH_VMCR_EL2 or GICH_VMCR.
    pub vmcr: u64,
    /// Active priorities: ICH_AP0R0_EL2 and ICH_AP1R0_EL2, or GICH_APR in
    /// the first.
    pub apr: [u64; 2],
    /// List registers written at the last entry.
    pub used: usize,
}

/// A hardware virtual CPU interface.
pub trait VirtInterface: Sync {
    /// The GIC version guests of this host see.
    fn guest_version(&self) -> GicVersion;
    /// GICv2: the host pages of the virtual CPU interface (GICV) that
    /// stage 2 maps at the guest's GICC window, in order.
    fn gicv_pages(&self) -> Option<[u64; 2]>;
    /// Before entering the guest: its most urgent interrupts into the list
    /// registers, an underflow maintenance interrupt when some did not
    /// fit, and its virtual CPU interface state.
    fn flush(&self, vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState);
    /// After the guest ran: what it did with each list register goes back
    /// into the state machine, and the interface is turned off.
    fn sync(&self, vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState);
}

/// The GICv3 virtual interface (ICH_*_EL2 system registers).
pub struct IchV3;

/// The one GICv3 interface (the registers are per CPU, the code is not).
pub static ICH_V3: IchV3 = IchV3;

/// List registers this CPU implements (ICH_VTR_EL2.ListRegs + 1).
fn ich_nr_lrs() -> usize {
    ((mrs!("S3_4_C12_C11_1") & 0x1f) + 1) as usize
}

fn ich_write_lr(n: usize, v: u64) {
    macro_rules! lr {
        ($($n:literal => $reg:literal),*) => {
            match n {
                // Sound: list registers belong to EL2's virtual interface.
                $($n => msr!($reg, v),)*
                _ => {}
            }
        };
    }
    lr!(0 => "S3_4_C12_C12_0", 1 => "S3_4_C12_C12_1", 2 => "S3_4_C12_C12_2", 3 => "S3_4_C12_C12_3",
        4 => "S3_4_C12_C12_4", 5 => "S3_4_C12_C12_5", 6 => "S3_4_C12_C12_6", 7 => "S3_4_C12_C12_7",
        8 => "S3_4_C12_C13_0", 9 => "S3_4_C12_C13_1", 10 => "S3_4_C12_C13_2", 11 => "S3_4_C12_C13_3",
        12 => "S3_4_C12_C13_4", 13 => "S3_4_C12_C13_5", 14 => "S3_4_C12_C13_6", 15 => "S3_4_C12_C13_7")
}

fn ich_read_lr(n: usize) -> u64 {
    macro_rules! lr {
        ($($n:literal => $reg:literal),*) => {
            match n {
                $($n => mrs!($reg),)*
                _ => 0,
            }
        };
    }
    lr!(0 => "S3_4_C12_C12_0", 1 => "S3_4_C12_C12_1", 2 => "S3_4_C12_C12_2", 3 => "S3_4_C12_C12_3",
        4 => "S3_4_C12_C12_4", 5 => "S3_4_C12_C12_5", 6 => "S3_4_C12_C12_6", 7 => "S3_4_C12_C12_7",
        8 => "S3_4_C12_C13_0", 9 => "S3_4_C12_C13_1", 10 => "S3_4_C12_C13_2", 11 => "S3_4_C12_C13_3",
        12 => "S3_4_C12_C13_4", 13 => "S3_4_C12_C13_5", 14 => "S3_4_C12_C13_6", 15 => "S3_4_C12_C13_7")
}

impl VirtInterface for IchV3 {
    fn guest_version(&self) -> GicVersion {
        GicVersion::V3
    }

    fn gicv_pages(&self) -> Option<[u64; 2]> {
        None
    }

    fn flush(&self, vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
        let n = ich_nr_lrs().min(16);
        let (lrs, overflow) = vgic.load_lrs(vcpu, n);
        for (i, e) in lrs.iter().enumerate() {
            ich_write_lr(i, e.encode());
        }
        for i in lrs.len()..st.used.max(lrs.len()) {
            ich_write_lr(i, 0);
        }
        st.used = lrs.len();
        // Sound: this vCPU's virtual interface state; En turns it on,
        // UIE (bit 1) asks to come back when the list registers run dry.
        msr!("S3_4_C12_C11_7", st.vmcr); // ICH_VMCR_EL2
        msr!("S3_4_C12_C8_0", st.apr[0]); // ICH_AP0R0_EL2
        msr!("S3_4_C12_C9_0", st.apr[1]); // ICH_AP1R0_EL2
        msr!("S3_4_C12_C11_0", 1 | ((overflow as u64) << 1)); // ICH_HCR_EL2
        super::sysreg::isb();
    }

    fn sync(&self, vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
        for i in 0..st.used {
            let (intid, pending, active) = LrEntry::decode(ich_read_lr(i));
            vgic.fold(vcpu, intid, pending, active);
            ich_write_lr(i, 0);
        }
        st.used = 0;
        st.vmcr = mrs!("S3_4_C12_C11_7");
        st.apr = [mrs!("S3_4_C12_C8_0"), mrs!("S3_4_C12_C9_0")];
        // Sound: no guest interface while EL2 runs (the maintenance
        // interrupt must not stay asserted).
        msr!("S3_4_C12_C11_0", 0);
        super::sysreg::isb();
    }
}

// GICH, the GICv2 virtual interface control frame (IHI 0048B, 5.3). Each
// CPU sees its own interface at the same address.
const GICH_HCR: usize = 0x000;
const GICH_VTR: usize = 0x004;
const GICH_VMCR: usize = 0x008;
const GICH_APR: usize = 0x0f0;
const GICH_LR0: usize = 0x100;

/// The GICv2 virtual interface: the GICH frame mapped at EL2, and where
/// the GICV frame's two pages are for stage 2.
pub struct GichV2 {
    pub hyp: MmioRegion,
    pub gicv: [u64; 2],
}

impl GichV2 {
    /// List registers (GICH_VTR.ListRegs + 1, at most 64).
    pub fn nr_lrs(&self) -> usize {
        ((self.hyp.read32(GICH_VTR) & 0x3f) + 1) as usize
    }

    /// Turns the interface off (boot and each CPU's bring-up).
    pub fn reset(&self) {
        self.hyp.write32(GICH_HCR, 0);
        for i in 0..self.nr_lrs() {
            self.hyp.write32(GICH_LR0 + 4 * i, 0);
        }
    }
}

impl VirtInterface for GichV2 {
    fn guest_version(&self) -> GicVersion {
        GicVersion::V2
    }

    fn gicv_pages(&self) -> Option<[u64; 2]> {
        Some(self.gicv)
    }

    fn flush(&self, vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
        let h = &self.hyp;
        let (lrs, overflow) = vgic.load_lrs(vcpu, self.nr_lrs());
        for (i, e) in lrs.iter().enumerate() {
            h.write32(GICH_LR0 + 4 * i, v2::encode_lr(e));
        }
        for i in lrs.len()..st.used.max(lrs.len()) {
            h.write32(GICH_LR0 + 4 * i, 0);
        }
        st.used = lrs.len();
        h.write32(GICH_VMCR, st.vmcr as u32);
        h.write32(GICH_APR, st.apr[0] as u32);
        // En, and UIE when some did not fit.
        h.write32(GICH_HCR, 1 | ((overflow as u32) << 1));
    }

    fn sync(&self, vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
        let h = &self.hyp;
        for i in 0..st.used {
            vgic.fold_v2(vcpu, h.read32(GICH_LR0 + 4 * i));
            h.write32(GICH_LR0 + 4 * i, 0);
        }
        st.used = 0;
        st.vmcr = h.read32(GICH_VMCR) as u64;
        st.apr[0] = h.read32(GICH_APR) as u64;
        h.write32(GICH_HCR, 0);
    }
}

/// The interface of the host's GIC.
pub fn interface() -> &'static dyn VirtInterface {
    match super::gic::get() {
        Some(g) => g.virt(),
        None => &ICH_V3,
    }
}

/// Loads `vcpu`'s interrupts before it runs.
pub fn flush(vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
    interface().flush(vgic, vcpu, st)
}

/// Takes `vcpu`'s interrupts back after it ran.
pub fn sync(vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
    interface().sync(vgic, vcpu, st)
}
