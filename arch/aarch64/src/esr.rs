//! Decoding ESR_EL2 for register dumps: the exception class by name and
//! the fields that matter for aborts.

use core::fmt;

/// A decoded exception syndrome.
pub struct Esr(pub u64);

impl Esr {
    pub fn ec(&self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }
    pub fn iss(&self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }
    pub fn il(&self) -> bool {
        self.0 & (1 << 25) != 0
    }

    /// The exception class's name (Arm ARM, ESR_ELx.EC).
    pub fn class(&self) -> &'static str {
        match self.ec() {
            0x00 => "unknown reason",
            0x01 => "WFI/WFE",
            0x07 => "SVE/SIMD/FP access",
            0x0e => "illegal execution state",
            0x11 => "SVC (AArch32)",
            0x12 => "HVC (AArch32)",
            0x13 => "SMC (AArch32)",
            0x15 => "SVC",
            0x16 => "HVC",
            0x17 => "SMC",
            0x18 => "MSR/MRS/system instruction",
            0x19 => "SVE access",
            0x1c => "pointer authentication failure",
            0x20 => "instruction abort from a lower EL",
            0x21 => "instruction abort at the same EL",
            0x22 => "PC alignment fault",
            0x24 => "data abort from a lower EL",
            0x25 => "data abort at the same EL",
            0x26 => "SP alignment fault",
            0x2c => "floating-point exception",
            0x2f => "SError",
            0x30 | 0x31 => "breakpoint",
            0x32 | 0x33 => "software step",
            0x34 | 0x35 => "watchpoint",
            0x3c => "BRK instruction",
            _ => "reserved or unhandled class",
        }
    }

    fn is_abort(&self) -> bool {
        matches!(self.ec(), 0x20 | 0x21 | 0x24 | 0x25)
    }

    /// Fault status code of an abort.
    pub fn fault(&self) -> &'static str {
        let fsc = self.iss() & 0x3f;
        match fsc {
            0x00..=0x03 => "address size fault",
            0x04..=0x07 => "translation fault",
            0x09..=0x0b => "access flag fault",
            0x0d..=0x0f => "permission fault",
            0x10 => "synchronous external abort",
            0x21 => "alignment fault",
            0x30 => "TLB conflict",
            _ => "other fault",
        }
    }
}

impl fmt::Display for Esr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ESR {:#010x}: EC {:#04x} ({})",
            self.0,
            self.ec(),
            self.class()
        )?;
        if self.is_abort() {
            let iss = self.iss();
            let level = iss & 3;
            write!(f, ", {} level {}", self.fault(), level)?;
            if self.ec() >= 0x24 {
                write!(
                    f,
                    ", {}",
                    if iss & (1 << 6) != 0 { "write" } else { "read" }
                )?;
            }
        } else {
            write!(f, ", ISS {:#x}", self.iss())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn decodes_common_syndromes() {
        // Data abort at EL2, write, permission fault level 3.
        let e = Esr((0x25 << 26) | (1 << 25) | (1 << 6) | 0x0f);
        assert_eq!(
            format!("{e}"),
            "ESR 0x9600004f: EC 0x25 (data abort at the same EL), permission fault level 3, write"
        );
        assert_eq!(Esr(0x5a00_0ea1).class(), "HVC");
        assert_eq!(
            format!("{}", Esr(0x5a00_0ea1)),
            "ESR 0x5a000ea1: EC 0x16 (HVC), ISS 0xea1"
        );
        assert_eq!(Esr(0xf200_0000).class(), "BRK instruction");
    }
}
