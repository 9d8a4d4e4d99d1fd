//! Data aborts on emulated MMIO: decoding the access from the syndrome.
//! Only aborts with a valid instruction syndrome (ISV) can be emulated; a
//! guest that uses other load/store forms on device memory gets an abort.

/// One emulated load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// Bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Register transferred (31 = XZR for stores; for loads, discard).
    pub rt: u8,
    pub write: bool,
    /// Sign-extend a load to the register width.
    pub sign_extend: bool,
    /// 64-bit register (else 32-bit: upper half cleared).
    pub sf: bool,
}

/// Decodes a data-abort ISS (EC 0x24); None without ISV.
pub fn decode(iss: u32) -> Option<MmioAccess> {
    if iss & (1 << 24) == 0 {
        return None;
    }
    Some(MmioAccess {
        size: 1 << ((iss >> 22) & 3),
        sign_extend: iss & (1 << 21) != 0,
        rt: ((iss >> 16) & 0x1f) as u8,
        sf: iss & (1 << 15) != 0,
        write: iss & (1 << 6) != 0,
    })
}

impl MmioAccess {
    /// The value to put in the register after a load of `raw`.
    pub fn load_value(&self, raw: u64) -> u64 {
        let bits = self.size as u32 * 8;
        let mut v = if bits == 64 {
            raw
        } else {
            raw & ((1u64 << bits) - 1)
        };
        if self.sign_extend && bits < 64 && v & (1 << (bits - 1)) != 0 {
            v |= !((1u64 << bits) - 1);
        }
        if !self.sf {
            v &= 0xffff_ffff;
        }
        v
    }
    /// The bytes a store writes, from the register value.
    pub fn store_value(&self, reg: u64) -> u64 {
        let bits = self.size as u32 * 8;
        if bits == 64 {
            reg
        } else {
            reg & ((1u64 << bits) - 1)
        }
    }
}

/// The faulting IPA: HPFAR_EL2 gives bits 47:12, FAR_EL2 the page offset.
pub fn fault_ipa(hpfar: u64, far: u64) -> u64 {
    ((hpfar & 0x0000_0fff_ffff_fff0) << 8) | (far & 0xfff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_loads_and_stores() {
        // ldrb w2, [x0]: ISV, SAS=0, SRT=2, SF=0, WnR=0
        let ld = decode((1 << 24) | (2 << 16)).unwrap();
        assert_eq!(
            ld,
            MmioAccess {
                size: 1,
                rt: 2,
                write: false,
                sign_extend: false,
                sf: false
            }
        );
        assert_eq!(ld.load_value(0x1ff), 0xff);
        // ldrsh x5: SAS=1, SSE, SF
        let ldsh = decode((1 << 24) | (1 << 22) | (1 << 21) | (5 << 16) | (1 << 15)).unwrap();
        assert_eq!(ldsh.load_value(0x8001), 0xffff_ffff_ffff_8001);
        // str w1: SAS=2, WnR
        let st = decode((1 << 24) | (2 << 22) | (1 << 16) | (1 << 6)).unwrap();
        assert!(st.write);
        assert_eq!(st.store_value(0x1_2345_6789), 0x2345_6789);
        assert_eq!(decode(0x3f), None, "no ISV");
        // HPFAR_EL2 holds IPA[47:12] in bits 43:4.
        assert_eq!(
            fault_ipa((0x2200_0018u64 >> 12) << 4, 0x2200_0018),
            0x2200_0018
        );
    }
}
