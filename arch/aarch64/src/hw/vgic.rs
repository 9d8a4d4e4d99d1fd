//! Moving a vCPU's virtual interrupts in and out of the GICv3 list
//! registers (ICH_LR<n>_EL2), and its virtual CPU interface state
//! (ICH_VMCR_EL2, active priorities).

use crate::vgic::{LrEntry, Vgic};

/// What stays with a vCPU between its runs.
#[derive(Clone, Copy, Default)]
pub struct GicCpuState {
    pub vmcr: u64,
    pub ap0r0: u64,
    pub ap1r0: u64,
    /// List registers written at the last entry.
    pub used: usize,
}

/// List registers this CPU implements (ICH_VTR_EL2.ListRegs + 1).
pub fn nr_lrs() -> usize {
    ((mrs!("S3_4_C12_C11_1") & 0x1f) + 1) as usize
}

fn write_lr(n: usize, v: u64) {
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

fn read_lr(n: usize) -> u64 {
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

/// Before entering the guest: its most urgent interrupts into the list
/// registers, an underflow maintenance interrupt when some did not fit,
/// and its virtual CPU interface state.
pub fn flush(vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
    let n = nr_lrs().min(16);
    let (lrs, overflow) = vgic.load_lrs(vcpu, n);
    for (i, e) in lrs.iter().enumerate() {
        write_lr(i, e.encode());
    }
    for i in lrs.len()..st.used.max(lrs.len()) {
        write_lr(i, 0);
    }
    st.used = lrs.len();
    // Sound: this vCPU's virtual interface state; En turns it on,
    // UIE (bit 1) asks to come back when the list registers run dry.
    msr!("S3_4_C12_C11_7", st.vmcr); // ICH_VMCR_EL2
    msr!("S3_4_C12_C8_0", st.ap0r0); // ICH_AP0R0_EL2
    msr!("S3_4_C12_C9_0", st.ap1r0); // ICH_AP1R0_EL2
    msr!("S3_4_C12_C11_0", 1 | ((overflow as u64) << 1)); // ICH_HCR_EL2
    super::sysreg::isb();
}

/// After the guest ran: what it did with each list register goes back
/// into the state machine, and the interface is turned off.
pub fn sync(vgic: &mut Vgic, vcpu: usize, st: &mut GicCpuState) {
    for i in 0..st.used {
        let lr = read_lr(i);
        vgic.fold(vcpu, lr);
        write_lr(i, 0);
    }
    st.used = 0;
    st.vmcr = mrs!("S3_4_C12_C11_7");
    st.ap0r0 = mrs!("S3_4_C12_C8_0");
    st.ap1r0 = mrs!("S3_4_C12_C9_0");
    // Sound: no guest interface while EL2 runs (the maintenance
    // interrupt must not stay asserted).
    msr!("S3_4_C12_C11_0", 0);
    super::sysreg::isb();
    let _ = LrEntry::decode;
}
