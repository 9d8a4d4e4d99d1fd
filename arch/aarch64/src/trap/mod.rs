//! Decoding and deciding what to do with a guest's traps, as pure logic
//! (tested on the host): system-register accesses and ID-register
//! sanitisation, emulated-MMIO data aborts, exception injection, and the
//! guest-facing PSCI/SMCCC interface.

pub mod inject;
pub mod mmio;
pub mod sysreg;
pub mod vpsci;

/// HCR_EL2 while a guest runs (Xen's default set): stage 2 on, physical
/// interrupts to EL2, and traps for WFI/WFE, SMC, ID group 3, auxiliary
/// control, set/way cache maintenance and implementation-defined
/// registers; EL1 is AArch64. API/APK stay clear (pointer authentication
/// traps), ATA clear (MTE tag access traps).
pub const HCR_GUEST: u64 = (1 << 0) // VM
    | (1 << 1) // SWIO
    | (1 << 2) // PTW
    | (1 << 3) // FMO
    | (1 << 4) // IMO
    | (1 << 5) // AMO
    | (1 << 9) // FB
    | (1 << 10) // BSU = inner shareable
    | (1 << 13) // TWI
    | (1 << 14) // TWE
    | (1 << 18) // TID3
    | (1 << 19) // TSC
    | (1 << 20) // TIDCP
    | (1 << 21) // TACR
    | (1 << 22) // TSW
    | (1 << 31); // RW

/// CPTR_EL2 (E2H = 0) while a guest runs: its RES1 bits, plus traps for
/// SVE (TZ), trace (TTA) and activity monitors (TAM). FP/SIMD is not
/// trapped: its registers are switched on every vCPU switch.
pub const CPTR_GUEST: u64 = 0x32ff | (1 << 8) | (1 << 20) | (1 << 30);

/// MDCR_EL2 while a guest runs: debug ROM, OS lock, debug registers
/// (TDRA, TDOSA, TDA), PMU (TPM, TPMCR) and statistical profiling (TPMS)
/// all trap; they read as zero and ignore writes (no vPMU in core).
pub const MDCR_GUEST: u64 = (1 << 11) | (1 << 10) | (1 << 9) | (1 << 6) | (1 << 5) | (1 << 14);
