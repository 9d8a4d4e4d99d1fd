//! A vCPU's register state and the switch between EL2 and a guest.
//!
//! The EL1 state switched per vCPU is listed once, in [`el1_state!`].
//! While a guest runs, SP_EL2 points at its [`VcpuContext`]: an exit
//! stores the general registers there, then moves to the top of the
//! pCPU's stack and calls [`super::guest::tessera_guest_exit`], which never
//! returns — nothing of the hypervisor lives on a stack across a guest
//! entry.

use core::arch::global_asm;

use super::sysreg::isb;

/// FP/SIMD registers.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct FpState {
    pub q: [u128; 32],
    pub fpcr: u64,
    pub fpsr: u64,
}

macro_rules! el1_state {
    ($($field:ident : $reg:literal),* $(,)?) => {
        /// The EL1 (and EL0) system registers switched per vCPU.
        #[repr(C)]
        #[derive(Clone, Copy, Default, Debug)]
        pub struct El1State {
            $(pub $field: u64,)*
        }
        impl El1State {
            /// Reads them from the hardware.
            pub fn save(&mut self) {
                $(self.$field = mrs!($reg);)*
            }
            /// Writes them to the hardware.
            pub fn restore(&self) {
                // Sound: these are the guest's own EL1 registers, which EL2
                // does not use while the guest's context is loaded.
                $(msr!($reg, self.$field);)*
            }
        }
    };
}

el1_state! {
    sctlr: "sctlr_el1",
    cpacr: "cpacr_el1",
    ttbr0: "ttbr0_el1",
    ttbr1: "ttbr1_el1",
    tcr: "tcr_el1",
    esr: "esr_el1",
    afsr0: "afsr0_el1",
    afsr1: "afsr1_el1",
    far: "far_el1",
    mair: "mair_el1",
    amair: "amair_el1",
    vbar: "vbar_el1",
    contextidr: "contextidr_el1",
    tpidr_el1: "tpidr_el1",
    tpidr_el0: "tpidr_el0",
    tpidrro_el0: "tpidrro_el0",
    sp_el0: "sp_el0",
    sp_el1: "sp_el1",
    elr_el1: "elr_el1",
    spsr_el1: "spsr_el1",
    par: "par_el1",
    csselr: "csselr_el1",
    cntkctl: "cntkctl_el1",
    cntv_ctl: "cntv_ctl_el0",
    cntv_cval: "cntv_cval_el0",
}

/// SCTLR_EL1 of a new vCPU: Xen's `SCTLR_GUEST_INIT` (public/arch-arm.h),
/// part of the ABI a Xen guest may rely on: MMU and caches off, stack
/// alignment checks on, EL0 WFI/WFE not trapped, RES1 bits 22 and 23.
/// (The conformance run against Xen 4.20 found we started from the
/// architectural reset value instead.)
pub const SCTLR_EL1_RESET: u64 = 0x00c5_0078;
/// PSTATE of a vCPU entering its kernel: Xen's `PSR_GUEST64_INIT`, EL1h
/// with A, I and F masked.
pub const PSTATE_EL1H_MASKED: u64 = 0x1c5;

/// Everything about a vCPU that leaves the CPU when it does.
#[repr(C, align(16))]
pub struct VcpuContext {
    /// x0..x30, stored and loaded by the exit/entry assembly (offset 0).
    pub x: [u64; 31],
    /// ELR_EL2 (offset 248) and SPSR_EL2 (offset 256).
    pub pc: u64,
    pub pstate: u64,
    _pad: u64,
    pub el1: El1State,
    pub fp: FpState,
    /// VMPIDR_EL2 (what MPIDR_EL1 reads in the guest).
    pub vmpidr: u64,
    pub vttbr: u64,
    pub cntvoff: u64,
}

const _: () = assert!(core::mem::offset_of!(VcpuContext, pc) == 248);
const _: () = assert!(core::mem::offset_of!(VcpuContext, pstate) == 256);

impl VcpuContext {
    /// A vCPU about to run its kernel at `entry` with `x0` (the DTB address
    /// for the first vCPU, the PSCI context id for the others).
    pub fn new(entry: u64, x0: u64, vmpidr: u64, vttbr: u64, cntvoff: u64) -> Self {
        let mut c = VcpuContext {
            x: [0; 31],
            pc: entry,
            pstate: PSTATE_EL1H_MASKED,
            _pad: 0,
            el1: El1State {
                sctlr: SCTLR_EL1_RESET,
                ..Default::default()
            },
            fp: FpState {
                q: [0; 32],
                fpcr: 0,
                fpsr: 0,
            },
            vmpidr,
            vttbr,
            cntvoff,
        };
        c.x[0] = x0;
        c
    }

    /// Puts this vCPU's state on the CPU (before [`enter`]).
    pub fn load(&self) {
        // Sound: EL2 configuration for this guest: its stage 2, its view of
        // MPIDR, its virtual counter offset, and the guest trap set.
        msr!("vttbr_el2", self.vttbr);
        msr!("vmpidr_el2", self.vmpidr);
        msr!("vpidr_el2", mrs!("midr_el1"));
        msr!("cntvoff_el2", self.cntvoff);
        msr!("hcr_el2", crate::trap::HCR_GUEST);
        msr!("cptr_el2", crate::trap::CPTR_GUEST);
        msr!("mdcr_el2", crate::trap::MDCR_GUEST);
        // EL1 may read the physical counter; the physical timer traps.
        msr!("cnthctl_el2", 0b01);
        self.el1.restore();
        fp_restore(&self.fp);
        isb();
    }

    /// Takes this vCPU's state off the CPU.
    pub fn unload(&mut self) {
        self.el1.save();
        fp_save(&mut self.fp);
        // The guest's timer must not fire into another context.
        msr!("cntv_ctl_el0", 0);
        msr!("hcr_el2", crate::layout::HCR_EL2_HOST);
        isb();
    }
}

fn fp_save(fp: &mut FpState) {
    // SAFETY: stores 32 Q registers and FPCR/FPSR into `fp`, which is
    // 16-byte aligned and 528 bytes long; CPTR_EL2.TFP is clear.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{p}, #0]", "stp q2, q3, [{p}, #32]", "stp q4, q5, [{p}, #64]", "stp q6, q7, [{p}, #96]",
            "stp q8, q9, [{p}, #128]", "stp q10, q11, [{p}, #160]", "stp q12, q13, [{p}, #192]", "stp q14, q15, [{p}, #224]",
            "stp q16, q17, [{p}, #256]", "stp q18, q19, [{p}, #288]", "stp q20, q21, [{p}, #320]", "stp q22, q23, [{p}, #352]",
            "stp q24, q25, [{p}, #384]", "stp q26, q27, [{p}, #416]", "stp q28, q29, [{p}, #448]", "stp q30, q31, [{p}, #480]",
            "mrs {t}, fpcr", "str {t}, [{p}, #512]", "mrs {t}, fpsr", "str {t}, [{p}, #520]",
            p = in(reg) fp as *mut FpState, t = out(reg) _, options(nostack),
        )
    }
}

fn fp_restore(fp: &FpState) {
    // SAFETY: loads what fp_save stored; CPTR_EL2.TFP is clear and EL2
    // code (softfloat target) never uses these registers itself.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{p}, #0]", "ldp q2, q3, [{p}, #32]", "ldp q4, q5, [{p}, #64]", "ldp q6, q7, [{p}, #96]",
            "ldp q8, q9, [{p}, #128]", "ldp q10, q11, [{p}, #160]", "ldp q12, q13, [{p}, #192]", "ldp q14, q15, [{p}, #224]",
            "ldp q16, q17, [{p}, #256]", "ldp q18, q19, [{p}, #288]", "ldp q20, q21, [{p}, #320]", "ldp q22, q23, [{p}, #352]",
            "ldp q24, q25, [{p}, #384]", "ldp q26, q27, [{p}, #416]", "ldp q28, q29, [{p}, #448]", "ldp q30, q31, [{p}, #480]",
            "ldr {t}, [{p}, #512]", "msr fpcr, {t}", "ldr {t}, [{p}, #520]", "msr fpsr, {t}",
            p = in(reg) fp as *const FpState, t = out(reg) _, options(nostack),
        )
    }
}

global_asm!(
    r#"
    .section .text.guest, "ax"
    // x0 = VcpuContext: restore and enter the guest; SP_EL2 keeps the
    // context address for the next exit.
    .global tessera_guest_enter
tessera_guest_enter:
    ldp     x2, x3, [x0, #248]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    mov     sp, x0
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp]
    eret
    dsb     nsh
    isb

    // Exits from a guest (lower-EL vectors branch here with x0/x1 saved
    // and x1 = kind): store the rest, switch to this pCPU's stack top.
    .global tessera_guest_exit_common
tessera_guest_exit_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #248]
    mov     x0, sp
    mrs     x2, tpidr_el2
    ldr     x3, [x2]                // PerCpu.stack_top (offset 0)
    mov     sp, x3
    mov     x29, xzr
    bl      tessera_guest_exit
1:  wfe
    b       1b
"#
);

extern "C" {
    fn tessera_guest_enter(ctx: *mut VcpuContext) -> !;
}

/// Enters the guest whose context is loaded. `ctx` must stay valid until
/// the next exit (it lives in a heap-allocated vCPU that is only freed
/// once no pCPU runs it).
pub fn enter(ctx: *mut VcpuContext) -> ! {
    // SAFETY: `ctx` is this pCPU's current vCPU context, loaded by `load`;
    // the assembly restores x0..x30, ELR and SPSR from it and erets. The
    // next exit comes back through tessera_guest_exit_common.
    unsafe { tessera_guest_enter(ctx) }
}

/// Programs VTCR_EL2 on this pCPU (stage-2 walk format for every guest).
pub fn init_cpu() {
    let parange = mrs!("id_aa64mmfr0_el1") & 0xf;
    let ps = parange.min(5);
    // Sound: only defines the stage-2 walk; no guest runs yet on this CPU.
    msr!("vtcr_el2", crate::layout::VTCR_EL2_BASE | (ps << 16));
    msr!("vttbr_el2", 0);
    isb();
}

/// Invalidates every stage-1+2 TLB entry of the VMID in `vttbr`, on all
/// CPUs (inner shareable), then restores VTTBR_EL2.
pub fn flush_vmid(vttbr: u64) {
    let old = mrs!("vttbr_el2");
    // Sound: TLB maintenance for a VMID no pCPU runs any more; VTTBR is
    // put back before returning.
    msr!("vttbr_el2", vttbr);
    isb();
    // SAFETY: TLB invalidation only.
    unsafe { core::arch::asm!("tlbi vmalls12e1is", "dsb ish", "isb", options(nostack)) };
    msr!("vttbr_el2", old);
    isb();
}
