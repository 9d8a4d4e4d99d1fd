//! The EL2 exception vector table and the Rust side of each entry.
//!
//! - Synchronous exceptions and SErrors taken at EL2 are hypervisor bugs:
//!   they switch to the CPU's emergency stack (SP_EL0), so a stack overflow
//!   into a guard page still produces a register dump, and never return.
//! - IRQs at EL2 (only in waits, see `sysreg::wait_for_interrupt`) save
//!   every register on the current stack, run the handler and return.
//! - Exceptions from lower ELs are guest exits (`vcpu.rs`, `guest.rs`).

use core::arch::global_asm;
use core::fmt;

use crate::esr::Esr;

/// Registers saved on exception entry.
#[repr(C)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub sp: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 36 * 8);

global_asm!(
    r#"
.macro SAVE_GPRS
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
.endm

// Fatal entry (fits a 32-instruction vector slot): moves to the emergency
// stack, saves x0, x1 and the interrupted SP, and passes the kind in x1.
.macro FATAL kind
    msr     tpidrro_el0, x0
    mov     x0, sp
    msr     spsel, #0
    sub     sp, sp, #288
    str     x0, [sp, #248]          // the interrupted SP
    str     x1, [sp, #8]
    mov     x1, #\kind
    b       fatal_common
.endm

    .section .text.vectors, "ax"
    .balign 2048
    .global tessera_vectors
tessera_vectors:
    // Current EL with SP_EL0: only the fatal path runs on SP_EL0, so an
    // exception here is a fault inside the fatal path.
    .balign 0x80
    b       tessera_recursive_fault
    .balign 0x80
    b       tessera_recursive_fault
    .balign 0x80
    b       tessera_recursive_fault
    .balign 0x80
    b       tessera_recursive_fault
    // Current EL with SP_ELx.
    .balign 0x80
    FATAL   0
    .balign 0x80
    b       el2_irq
    .balign 0x80
    FATAL   1
    .balign 0x80
    FATAL   2
    // Lower EL, AArch64: a guest exits. SP_EL2 points at its context.
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #0
    b       tessera_guest_exit_common
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #1
    b       tessera_guest_exit_common
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #2
    b       tessera_guest_exit_common
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #3
    b       tessera_guest_exit_common
    // Lower EL, AArch32 (a guest's EL0): not supported, the domain ends.
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #4
    b       tessera_guest_exit_common
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #1
    b       tessera_guest_exit_common
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #2
    b       tessera_guest_exit_common
    .balign 0x80
    stp     x0, x1, [sp]
    mov     x1, #3
    b       tessera_guest_exit_common

fatal_common:
    mrs     x0, tpidrro_el0
    str     x0, [sp]
    SAVE_GPRS
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #256]
    mrs     x2, esr_el2
    mrs     x3, far_el2
    stp     x2, x3, [sp, #272]
    mov     x0, sp
    bl      tessera_el2_fatal
1:  wfe
    b       1b

el2_irq:
    sub     sp, sp, #288
    stp     x0, x1, [sp]
    SAVE_GPRS
    mrs     x0, elr_el2
    mrs     x1, spsr_el2
    stp     x0, x1, [sp, #256]
    mov     x0, sp
    bl      tessera_el2_irq
    ldp     x0, x1, [sp, #256]
    msr     elr_el2, x0
    msr     spsr_el2, x1
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
    add     sp, sp, #288
    eret
"#
);

const KINDS: [&str; 3] = [
    "synchronous exception at EL2",
    "FIQ at EL2",
    "SError at EL2",
];

struct Dump<'a>(&'a TrapFrame);

impl fmt::Display for Dump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        writeln!(f, "  {}", Esr(t.esr))?;
        writeln!(
            f,
            "  ELR {:#018x}  FAR {:#018x}  SPSR {:#010x}  SP {:#018x}",
            t.elr, t.far, t.spsr, t.sp
        )?;
        for row in 0..8 {
            for col in 0..4 {
                let i = row * 4 + col;
                if i < 31 {
                    write!(f, "  x{:<2} {:#018x}", i, t.x[i])?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[no_mangle]
extern "C" fn tessera_el2_fatal(frame: &TrapFrame, kind: u64) -> ! {
    let cpu = super::percpu::this_cpu_index();
    let what = KINDS
        .get(kind as usize)
        .copied()
        .unwrap_or("unknown exception");
    tessera_core::console::print_emergency(format_args!(
        "FATAL on CPU{cpu}: {what}\n{}",
        Dump(frame)
    ));
    super::hal::fail_stop()
}

#[no_mangle]
extern "C" fn tessera_recursive_fault() -> ! {
    // Faulted while handling a fault: try one line, then stop.
    super::hal::fail_stop()
}

#[no_mangle]
extern "C" fn tessera_el2_irq(frame: &mut TrapFrame) {
    // Interrupts taken at EL2 (in waits) concern no loaded guest.
    let _ = super::gic::handle_irq(super::regdump::Interrupted::El2(frame));
}
