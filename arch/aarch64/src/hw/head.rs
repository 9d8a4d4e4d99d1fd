//! EL2 entry: the arm64 Image header, the boot page tables built with the
//! MMU off, the identity-mapped trampoline that turns the MMU on, and the
//! secondary-CPU entry used by PSCI CPU_ON.
//!
//! Boot page tables (7 pages in BSS, `boot_pgt`):
//! 0 = L0 root, 1..=3 = L1/L2/L3 for the identity map of the one trampoline
//! page (read-only, executable), 4..=6 = L1/L2/L3 for the image at its link
//! address, 4 KiB pages with W^X attributes taken from the linker script:
//! text RX, rodata R, data/BSS RW (never executable).

use core::arch::global_asm;

use crate::layout::{
    ATTR_RO_NX, ATTR_RW_NX, ATTR_RX, MAIR_EL2_VALUE, SCTLR_EL2_MMU_ON, TCR_EL2_BASE,
};

global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       1f                      // code0
    .long   0                       // code1
    .quad   0                       // text_offset
    .quad   _image_size             // image_size: text, data and BSS
    .quad   0xa                     // flags: little-endian, 4 KiB pages, anywhere in RAM
    .quad   0, 0, 0                 // res2, res3, res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5
1:
    mov     x19, x0                 // DTB physical address (Linux boot protocol)
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.ne    99f                     // not EL2: nothing we can do safely
    bl      el2_sane_sctlr

    adr     x20, _start             // physical load address
    tst     x20, #0xfff
    b.ne    99f
    lsr     x1, x20, #47            // the identity map must not collide with the image VA
    cbnz    x1, 99f

    // Zero BSS (it holds the boot page tables and stacks). MMU off: data
    // accesses are Device-nGnRnE, so stay 16-byte aligned.
    adrp    x0, _bss_start
    add     x0, x0, :lo12:_bss_start
    adrp    x1, _bss_end
    add     x1, x1, :lo12:_bss_end
2:  cmp     x0, x1
    b.hs    3f
    stp     xzr, xzr, [x0], #16
    b       2b
3:
    adrp    x21, boot_pgt           // physical address of the 7 boot tables

    // Identity map of the trampoline page.
    ldr     x0, =_trampoline_offset
    add     x22, x20, x0            // trampoline PA
    mov     x0, x21                 // L0
    add     x1, x21, #0x1000        // -> L1 id
    lsr     x2, x22, #39
    and     x2, x2, #0x1ff
    orr     x3, x1, #3
    str     x3, [x0, x2, lsl #3]
    mov     x0, x1                  // L1 id
    add     x1, x21, #0x2000        // -> L2 id
    lsr     x2, x22, #30
    and     x2, x2, #0x1ff
    orr     x3, x1, #3
    str     x3, [x0, x2, lsl #3]
    mov     x0, x1                  // L2 id
    add     x1, x21, #0x3000        // -> L3 id
    lsr     x2, x22, #21
    and     x2, x2, #0x1ff
    orr     x3, x1, #3
    str     x3, [x0, x2, lsl #3]
    mov     x0, x1                  // L3 id
    lsr     x2, x22, #12
    and     x2, x2, #0x1ff
    ldr     x3, ={attr_rx}
    orr     x3, x3, x22
    orr     x3, x3, #3
    str     x3, [x0, x2, lsl #3]

    // The image at its link address: L0[256] -> L1[0] -> L2[0] -> L3[i].
    add     x1, x21, #0x4000
    orr     x3, x1, #3
    str     x3, [x21, #(256 * 8)]
    add     x2, x21, #0x5000
    orr     x3, x2, #3
    str     x3, [x1]
    add     x1, x21, #0x6000
    orr     x3, x1, #3
    str     x3, [x2]
    // x1 = L3 image table; walk the image page by page.
    ldr     x4, =_text_size
    ldr     x5, =_rodata_size_end
    ldr     x6, =_image_size
    ldr     x7, ={attr_rx}
    ldr     x8, ={attr_ro}
    ldr     x9, ={attr_rw}
    ldr     x13, =_boot_stack_guard_offset
    mov     x10, #0                 // offset into the image
4:  cmp     x10, x6
    b.hs    6f
    cmp     x10, x13                // the boot stack's guard page stays unmapped
    b.eq    5f
    mov     x3, x9
    cmp     x10, x5
    csel    x3, x8, x3, lo
    cmp     x10, x4
    csel    x3, x7, x3, lo
    add     x11, x20, x10
    orr     x3, x3, x11
    orr     x3, x3, #3
    lsr     x12, x10, #12
    str     x3, [x1, x12, lsl #3]
5:  add     x10, x10, #0x1000
    b       4b
6:
    // The tables were written with the caches off: drop any stale lines.
    mov     x0, x21
    add     x1, x21, #0x7000
7:  dc      ivac, x0
    add     x0, x0, #64
    cmp     x0, x1
    b.lo    7b
    dsb     sy

    mov     x0, x21
    bl      el2_tcr_value           // x2 = TCR_EL2
    ldr     x1, =8f
    b       tessera_enable_mmu      // continues at 8f, at the link address

8:  // Running at the link address now.
    adrp    x0, boot_stack_top
    add     x0, x0, :lo12:boot_stack_top
    mov     sp, x0
    adrp    x0, boot_emergency_stack_top
    add     x0, x0, :lo12:boot_emergency_stack_top
    msr     sp_el0, x0
    adrp    x0, tessera_vectors
    add     x0, x0, :lo12:tessera_vectors
    msr     vbar_el2, x0
    msr     tpidr_el2, xzr
    isb
    mov     x0, x19
    mov     x1, x20
    bl      tessera_primary_main
99: wfe
    b       99b

    // Secondary CPUs arrive here from PSCI CPU_ON, MMU off, x0 = physical
    // address of their SecondaryBoot block (cleaned to PoC by the boot CPU).
    .global tessera_secondary_entry
tessera_secondary_entry:
    mov     x19, x0
    bl      el2_sane_sctlr
    ldr     x20, [x19, #16]         // stack top (VA)
    ldr     x21, [x19, #24]         // per-CPU area (VA)
    ldr     x22, [x19, #32]         // emergency stack top (VA)
    ldr     x23, [x19, #40]         // CPU index
    ldr     x0, [x19, #0]           // TTBR0_EL2
    ldr     x2, [x19, #8]           // TCR_EL2
    ldr     x1, =9f
    b       tessera_enable_mmu
9:  mov     sp, x20
    msr     tpidr_el2, x21
    msr     sp_el0, x22
    adrp    x0, tessera_vectors
    add     x0, x0, :lo12:tessera_vectors
    msr     vbar_el2, x0
    isb
    mov     x0, x23
    bl      tessera_secondary_main
    b       99b

    // SCTLR_EL2 with the MMU and caches off, little-endian.
el2_sane_sctlr:
    ldr     x0, ={sctlr_off}
    msr     sctlr_el2, x0
    isb
    ret

    // x2 = TCR_EL2: 4 KiB granule, 48-bit VA, WBWA inner-shareable walks,
    // PS from ID_AA64MMFR0_EL1.PARange capped at 48 bits.
el2_tcr_value:
    mrs     x3, id_aa64mmfr0_el1
    and     x3, x3, #0xf
    cmp     x3, #5
    mov     x4, #5
    csel    x3, x4, x3, hi
    ldr     x2, ={tcr_base}
    orr     x2, x2, x3, lsl #16
    ret
    .ltorg

    // The one identity-mapped page. x0 = TTBR0_EL2 (PA), x1 = where to go
    // (VA), x2 = TCR_EL2.
    .section .text.trampoline, "ax"
    .global tessera_enable_mmu
tessera_enable_mmu:
    ldr     x3, ={mair}
    msr     mair_el2, x3
    msr     tcr_el2, x2
    msr     ttbr0_el2, x0
    isb
    tlbi    alle2
    dsb     nsh
    isb
    ldr     x3, ={sctlr_on}
    msr     sctlr_el2, x3
    isb
    br      x1
    .ltorg

    .section .bss.boot_pgt, "aw", %nobits
    .balign 4096
    .global boot_pgt
boot_pgt:
    .space  7 * 4096

    // The boot CPU's stack, with an unmapped guard page below it, then its
    // emergency stack (used by the fatal-exception path).
    .section .bss.boot_stack, "aw", %nobits
    .balign 4096
    .global boot_stack_guard
boot_stack_guard:
    .space  4096
    .space  32 * 1024
    .global boot_stack_top
boot_stack_top:
    .space  8 * 1024
    .global boot_emergency_stack_top
boot_emergency_stack_top:
"#,
    attr_rx = const ATTR_RX,
    attr_ro = const ATTR_RO_NX,
    attr_rw = const ATTR_RW_NX,
    mair = const MAIR_EL2_VALUE,
    tcr_base = const TCR_EL2_BASE,
    sctlr_on = const SCTLR_EL2_MMU_ON,
    sctlr_off = const crate::layout::SCTLR_EL2_RES1,
);
