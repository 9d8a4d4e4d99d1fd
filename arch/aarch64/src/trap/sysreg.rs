//! Trapped MSR/MRS (ESR EC 0x18): decoding, and what each register does for
//! a guest. ID registers are sanitised: features Tessera does not give
//! guests (SVE, SME, pointer authentication, MTE, AMU, RAS, SPE, PMU,
//! trace, nested virtualisation) read as absent.

/// A decoded system-register access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub op0: u8,
    pub op1: u8,
    pub crn: u8,
    pub crm: u8,
    pub op2: u8,
    /// The general-purpose register (31 = XZR).
    pub rt: u8,
    /// MRS (true) or MSR (false).
    pub read: bool,
}

impl Access {
    /// Decodes the ISS of an EC 0x18 syndrome.
    pub fn decode(iss: u32) -> Access {
        Access {
            op0: ((iss >> 20) & 3) as u8,
            op2: ((iss >> 17) & 7) as u8,
            op1: ((iss >> 14) & 7) as u8,
            crn: ((iss >> 10) & 0xf) as u8,
            rt: ((iss >> 5) & 0x1f) as u8,
            crm: ((iss >> 1) & 0xf) as u8,
            read: iss & 1 == 1,
        }
    }
}

/// What to do with an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// An ID register (op0 3, op1 0, CRn 0, CRm 1..7): read the host value
    /// and sanitise it; writes are undefined.
    IdRegister { crm: u8, op2: u8 },
    /// Read as zero, write ignored (debug, PMU, AMU, trace, set/way is not
    /// here).
    RazWi,
    /// Set/way cache maintenance (DC ISW/CSW/CISW): the hypervisor cleans
    /// and invalidates the guest's memory instead.
    SetWay,
    /// A GICv3 SGI generation register (ICC_SGI1R_EL1, ICC_ASGI1R_EL1,
    /// ICC_SGI0R_EL1), trapped with HCR_EL2.IMO: the vGIC sends it.
    SendSgi,
    /// The EL1 physical timer (CNTP_TVAL, CNTP_CTL, CNTP_CVAL = op2 0/1/2),
    /// trapped by CNTHCTL_EL2 and emulated.
    PhysTimer { op2: u8 },
    /// Undefined instruction for the guest.
    Undefined,
}

/// Classifies an access.
pub fn classify(a: &Access) -> Action {
    match (a.op0, a.op1, a.crn, a.crm, a.op2) {
        (3, 0, 0, 1..=7, _) => {
            if a.read {
                Action::IdRegister {
                    crm: a.crm,
                    op2: a.op2,
                }
            } else {
                Action::Undefined
            }
        }
        (3, 0, 12, 11, 5..=7) if !a.read => Action::SendSgi,
        (3, 3, 14, 2, 0..=2) => Action::PhysTimer { op2: a.op2 },
        // DC ISW / CSW / CISW (op0 1, op1 0, CRn 7, CRm 6/10/14, op2 2).
        (1, 0, 7, 6 | 10 | 14, 2) => Action::SetWay,
        // The debug and trace register space (op0 2): MDSCR_EL1, OSLAR,
        // OSLSR, DBGB*/DBGW*, ... (MDCR_EL2.TDA/TDOSA/TDRA).
        (2, _, _, _, _) => Action::RazWi,
        // PMU: PMCR_EL0..PMCCNTR_EL0 and friends (op1 3, CRn 9, CRm 12-14),
        // PMEVCNTR/PMEVTYPER (CRn 14, CRm 8-15), PMINTEN/PMOVS at EL1
        // (op1 0, CRn 9, CRm 14), PMMIR (op1 0, CRn 9, CRm 14, op2 6).
        (3, 3, 9, 12..=14, _) | (3, 3, 14, 8..=15, _) | (3, 0, 9, 14, _) => Action::RazWi,
        // Statistical profiling (op1 0, CRn 9, CRm 9/10): PMS*.
        (3, 0, 9, 9 | 10, _) => Action::RazWi,
        // ACTLR_EL1 (HCR_EL2.TACR).
        (3, 0, 1, 0, 1) => Action::RazWi,
        // Everything else that traps (implementation defined CRn 11/15,
        // AMU, MTE, SVE, pointer authentication keys...) is undefined.
        _ => Action::Undefined,
    }
}

const fn field_clear(v: u64, lsb: u32) -> u64 {
    v & !(0xf << lsb)
}

/// The value a guest sees for an ID register, given the host's.
pub fn sanitise_id(crm: u8, op2: u8, host: u64) -> u64 {
    let mut v = host;
    match (crm, op2) {
        // ID_AA64PFR0_EL1: EL2 (11:8) and EL3 (15:12) hidden (no nested
        // virtualisation; firmware is reached through the hypervisor),
        // RAS (31:28), SVE (35:32), SEL2 (39:36), MPAM (43:40), AMU (47:44).
        (4, 0) => {
            for lsb in [8, 12, 28, 32, 36, 40, 44] {
                v = field_clear(v, lsb);
            }
        }
        // ID_AA64PFR1_EL1: MTE (11:8), RAS_frac (15:12), MPAM_frac (19:16),
        // SME (27:24), NMI (39:36), MTE_frac (43:40), GCS (47:44), THE (51:48).
        (4, 1) => {
            for lsb in [8, 12, 16, 24, 36, 40, 44, 48] {
                v = field_clear(v, lsb);
            }
        }
        // ID_AA64ZFR0_EL1, ID_AA64SMFR0_EL1: no SVE, no SME.
        (4, 4) | (4, 5) => v = 0,
        // ID_AA64DFR0_EL1: TraceVer (7:4), PMUVer (11:8), PMSVer (35:32),
        // TraceFilt (43:40), TraceBuffer (47:44), BRBE (55:52).
        (5, 0) => {
            for lsb in [4, 8, 32, 40, 44, 52] {
                v = field_clear(v, lsb);
            }
        }
        // ID_AA64ISAR1_EL1: APA (7:4), API (11:8), GPA (27:24), GPI (31:28).
        (6, 1) => {
            for lsb in [4, 8, 24, 28] {
                v = field_clear(v, lsb);
            }
        }
        // ID_AA64ISAR2_EL1: GPA3 (11:8), APA3 (15:12), PAC_frac (27:24).
        (6, 2) => {
            for lsb in [8, 12, 24] {
                v = field_clear(v, lsb);
            }
        }
        // ID_AA64MMFR1_EL1: VH (11:8) — no VHE inside a guest.
        (7, 1) => v = field_clear(v, 8),
        // ID_AA64MMFR2_EL1: NV (27:24).
        (7, 2) => v = field_clear(v, 24),
        // ID_DFR0_EL1 (AArch32 view of debug): PerfMon (27:24), trace
        // (MMapTrc 19:16, CopTrc 15:12).
        (1, 2) => {
            for lsb in [12, 16, 24] {
                v = field_clear(v, lsb);
            }
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iss(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32, rt: u32, read: bool) -> u32 {
        (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | read as u32
    }

    #[test]
    fn decodes_and_classifies() {
        // mrs x3, id_aa64pfr0_el1
        let a = Access::decode(iss(3, 0, 0, 4, 0, 3, true));
        assert_eq!(
            a,
            Access {
                op0: 3,
                op1: 0,
                crn: 0,
                crm: 4,
                op2: 0,
                rt: 3,
                read: true
            }
        );
        assert_eq!(classify(&a), Action::IdRegister { crm: 4, op2: 0 });
        // msr id_aa64pfr0_el1 is undefined
        assert_eq!(
            classify(&Access::decode(iss(3, 0, 0, 4, 0, 3, false))),
            Action::Undefined
        );
        // mrs x0, pmcr_el0 / msr mdscr_el1 / dc isw
        assert_eq!(
            classify(&Access::decode(iss(3, 3, 9, 12, 0, 0, true))),
            Action::RazWi
        );
        assert_eq!(
            classify(&Access::decode(iss(2, 0, 0, 2, 2, 0, false))),
            Action::RazWi
        );
        assert_eq!(
            classify(&Access::decode(iss(1, 0, 7, 6, 2, 0, false))),
            Action::SetWay
        );
        // msr icc_sgi1r_el1, x1 / mrs x0, cntp_ctl_el0
        assert_eq!(
            classify(&Access::decode(iss(3, 0, 12, 11, 5, 1, false))),
            Action::SendSgi
        );
        assert_eq!(
            classify(&Access::decode(iss(3, 3, 14, 2, 1, 0, true))),
            Action::PhysTimer { op2: 1 }
        );
        // implementation defined s3_3_c15_c0_0
        assert_eq!(
            classify(&Access::decode(iss(3, 3, 15, 0, 0, 0, false))),
            Action::Undefined
        );
    }

    #[test]
    fn hides_what_guests_do_not_get() {
        // -cpu max values seen on QEMU 10: SVE, AMU, RAS, SEL2, EL2/EL3 present.
        let pfr0 = 0x1201_1111_1112_2222u64;
        let g = sanitise_id(4, 0, pfr0);
        assert_eq!((g >> 32) & 0xf, 0, "SVE");
        assert_eq!((g >> 44) & 0xf, 0, "AMU");
        assert_eq!((g >> 28) & 0xf, 0, "RAS");
        assert_eq!((g >> 8) & 0xf, 0, "EL2");
        assert_eq!(g & 0xff, pfr0 & 0xff, "EL0/EL1 kept");
        assert_eq!(sanitise_id(4, 4, u64::MAX), 0, "ZFR0");
        let isar1 = 0x0011_2120_1021_1111u64;
        let g = sanitise_id(6, 1, isar1);
        for lsb in [4, 8, 24, 28] {
            assert_eq!((g >> lsb) & 0xf, 0);
        }
        assert_eq!(g & 0xf, 1, "DPB kept");
        assert_eq!(
            (sanitise_id(4, 1, 0x0000_0000_0100_0321) >> 8) & 0xf,
            0,
            "MTE"
        );
        assert_eq!(
            (sanitise_id(5, 0, 0x0000_0001_1030_5611) >> 8) & 0xf,
            0,
            "PMUVer"
        );
        assert_eq!(sanitise_id(0, 0, 42), 42, "others pass through");
    }
}
