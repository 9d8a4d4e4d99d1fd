//! Image header, entry points and the EL1 exception vectors (assembly).
//!
//! Everything here runs with the MMU off and uses only PC-relative
//! addressing (`adr`/`adrp`) until the self-relocation loop has patched the
//! absolute pointers in data. The Image is linked at 0, so a relocation's
//! addend plus the runtime address of `_head` is the runtime pointer.
//! Requirement: the loader places the Image 4 KiB-aligned (the arm64 boot
//! protocol asks for 2 MiB alignment plus text_offset = 0).

core::arch::global_asm!(
    r#"
    .section .text.head, "ax"
    .global _head_entry
_head_entry:
    /* arm64 Image header (Documentation/arch/arm64/booting.rst) */
    b       start                   /* code0 */
    .long   0                       /* code1 */
    .quad   0                       /* text_offset */
    .quad   _image_size             /* image_size, BSS and stacks included */
    .quad   0xa                     /* flags: LE, 4K pages, anywhere in RAM */
    .quad   0                       /* res2 */
    .quad   0                       /* res3 */
    .quad   0                       /* res4 */
    .byte   0x41, 0x52, 0x4d, 0x64  /* magic "ARM\x64" at 0x38 */
    .long   0                       /* res5 */

start:
    /* x0 = physical address of the device tree; MMU off, EL1. The
       counters first: mode=bench reports when the guest began. */
    mrs     x21, cntpct_el0
    mrs     x22, cntvct_el0
    msr     daifset, #0xf
    mov     x19, x0
    adr     x20, _head              /* runtime base (the link base is 0) */

    /* zero BSS and the stacks: 16-byte aligned, whole lines */
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b

    /* apply R_AARCH64_RELATIVE entries: *(base + off) = base + addend */
2:  adrp    x1, __rela_start
    add     x1, x1, :lo12:__rela_start
    adrp    x2, __rela_end
    add     x2, x2, :lo12:__rela_end
3:  cmp     x1, x2
    b.hs    5f
    ldp     x3, x4, [x1], #16       /* r_offset, r_info */
    ldr     x5, [x1], #8            /* r_addend */
    cmp     x4, #0x403              /* R_AARCH64_RELATIVE, no symbol */
    b.ne    4f
    add     x5, x5, x20
    str     x5, [x20, x3]
    b       3b
4:  wfe                             /* a relocation we cannot apply: stop */
    b       4b

5:  adrp    x1, __stack0_top
    add     x1, x1, :lo12:__stack0_top
    mov     sp, x1
    adrp    x1, testguest_vectors
    add     x1, x1, :lo12:testguest_vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    mov     x3, x22
    bl      testguest_main
6:  wfe
    b       6b

    /* PSCI CPU_ON entry for the second vCPU: x0 = context id, MMU off */
    .global testguest_secondary_entry
testguest_secondary_entry:
    msr     daifset, #0xf
    adrp    x1, __stack1_top
    add     x1, x1, :lo12:__stack1_top
    mov     sp, x1
    adrp    x1, testguest_vectors
    add     x1, x1, :lo12:testguest_vectors
    msr     vbar_el1, x1
    isb
    bl      testguest_secondary
7:  wfe
    b       7b

    /*
     * EL1 vectors. Each entry saves x0/x1, puts its kind in x0 and joins
     * the common path, which saves the rest into a Frame (src/exc.rs),
     * calls testguest_exception(frame) and returns with the (possibly
     * changed) ELR_EL1/SPSR_EL1.
     */
    .macro  TG_VEC kind
    .balign 0x80
    sub     sp, sp, #288
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       testguest_exc_common
    .endm

    .section .text.vectors, "ax"
    .balign 2048
    .global testguest_vectors
testguest_vectors:
    TG_VEC  0       /* current EL, SP_EL0: sync */
    TG_VEC  1       /* irq */
    TG_VEC  2       /* fiq */
    TG_VEC  3       /* serror */
    TG_VEC  4       /* current EL, SP_ELx: sync */
    TG_VEC  5       /* irq */
    TG_VEC  6       /* fiq */
    TG_VEC  7       /* serror */
    TG_VEC  8       /* lower EL, AArch64: sync */
    TG_VEC  9
    TG_VEC  10
    TG_VEC  11
    TG_VEC  12      /* lower EL, AArch32 */
    TG_VEC  13
    TG_VEC  14
    TG_VEC  15

testguest_exc_common:
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
    mrs     x1, elr_el1
    stp     x30, x1, [sp, #240]
    mrs     x1, spsr_el1
    mrs     x2, esr_el1
    stp     x1, x2, [sp, #256]
    mrs     x1, far_el1
    stp     x1, x0, [sp, #272]
    mov     x0, sp
    bl      testguest_exception
    ldp     x30, x1, [sp, #240]
    msr     elr_el1, x1
    ldr     x1, [sp, #256]
    msr     spsr_el1, x1
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
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #288
    eret
"#
);

extern "C" {
    /// The PSCI CPU_ON entry point of the second vCPU (physical address,
    /// since the MMU is off).
    fn testguest_secondary_entry();
}

/// Runtime (= physical) address of the secondary entry point.
pub fn secondary_entry_pa() -> u64 {
    // Taking a function's address compiles to adrp/add: PC-relative.
    testguest_secondary_entry as *const () as usize as u64
}
