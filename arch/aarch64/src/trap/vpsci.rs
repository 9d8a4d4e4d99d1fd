//! PSCI 1.1 and SMCCC as a guest sees them, over `HVC #0` or a trapped
//! `SMC #0` (function ids and return codes from the PSCI and SMCCC
//! specifications; behaviour as Xen's vpsci/vsmc). Pure logic over a
//! [`GuestPower`] view of the domain.

/// PSCI return codes.
pub const SUCCESS: i64 = 0;
pub const NOT_SUPPORTED: i64 = -1;
pub const INVALID_PARAMETERS: i64 = -2;
pub const DENIED: i64 = -3;
pub const ALREADY_ON: i64 = -4;
pub const INVALID_ADDRESS: i64 = -9;

pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
pub const CPU_SUSPEND_64: u32 = 0xc400_0001;
pub const CPU_OFF: u32 = 0x8400_0002;
pub const CPU_ON_32: u32 = 0x8400_0003;
pub const CPU_ON_64: u32 = 0xc400_0003;
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
pub const SYSTEM_OFF: u32 = 0x8400_0008;
pub const SYSTEM_RESET: u32 = 0x8400_0009;
pub const PSCI_FEATURES: u32 = 0x8400_000a;
pub const SMCCC_VERSION: u32 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;

/// PSCI 1.1, SMCCC 1.2: what Xen 4.20 reports.
pub const PSCI_VERSION_1_1: i64 = 0x1_0001;
pub const SMCCC_VERSION_1_2: i64 = 0x1_0002;

/// AFFINITY_INFO answers.
pub const AFFINITY_ON: i64 = 0;
pub const AFFINITY_OFF: i64 = 1;

/// The domain as PSCI needs to see it.
pub trait GuestPower {
    /// The vCPU with this MPIDR (affinity fields only).
    fn vcpu_by_mpidr(&self, mpidr: u64) -> Option<usize>;
    /// MPIDR affinity of every vCPU and whether it is on.
    fn vcpus(&self) -> &[(u64, bool)];
}

/// What the hypervisor must do after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Put `x0` in the caller's x0 and resume it.
    Return(i64),
    /// Start vCPU `vcpu` at `entry` with x0 = `context`, then return
    /// SUCCESS to the caller.
    StartVcpu {
        vcpu: usize,
        entry: u64,
        context: u64,
    },
    /// The caller powers off (CPU_OFF).
    VcpuOff,
    /// The caller waits for an interrupt, then gets SUCCESS (CPU_SUSPEND
    /// is treated as standby, as Xen does).
    Standby,
    /// The domain powers off / resets.
    SystemOff,
    SystemReset,
}

/// Handles one SMCCC call with function id `fid` and arguments x1..x3.
/// Unknown ids return NOT_SUPPORTED, as SMCCC requires.
pub fn call(fid: u32, args: [u64; 3], dom: &dyn GuestPower) -> Outcome {
    let smc64 = fid & 0x4000_0000 != 0;
    // SMC32 calls ignore the upper halves of their arguments.
    let arg = |i: usize| {
        if smc64 {
            args[i]
        } else {
            args[i] & 0xffff_ffff
        }
    };
    match fid {
        PSCI_VERSION => Outcome::Return(PSCI_VERSION_1_1),
        CPU_SUSPEND_32 | CPU_SUSPEND_64 => Outcome::Standby,
        CPU_OFF => Outcome::VcpuOff,
        CPU_ON_32 | CPU_ON_64 => {
            let (target, entry, context) = (arg(0), arg(1), arg(2));
            let Some(vcpu) = dom.vcpu_by_mpidr(target & 0xff_00ff_ffff) else {
                return Outcome::Return(INVALID_PARAMETERS);
            };
            if entry & 1 != 0 {
                return Outcome::Return(INVALID_ADDRESS); // Thumb: not for AArch64 guests
            }
            if dom.vcpus().get(vcpu).is_some_and(|v| v.1) {
                return Outcome::Return(ALREADY_ON);
            }
            Outcome::StartVcpu {
                vcpu,
                entry,
                context,
            }
        }
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => {
            let (target, level) = (arg(0), arg(1));
            if level > 3 {
                return Outcome::Return(INVALID_PARAMETERS);
            }
            // Levels above 0 ignore the lower affinity fields.
            let mask: u64 = match level {
                0 => 0xff_00ff_ffff,
                1 => 0xff_00ff_ff00,
                2 => 0xff_00ff_0000,
                _ => 0xff_0000_0000,
            };
            let mut found = false;
            for &(mpidr, on) in dom.vcpus() {
                if mpidr & mask == target & mask {
                    found = true;
                    if on {
                        return Outcome::Return(AFFINITY_ON);
                    }
                }
            }
            Outcome::Return(if found {
                AFFINITY_OFF
            } else {
                INVALID_PARAMETERS
            })
        }
        MIGRATE_INFO_TYPE => Outcome::Return(2), // no Trusted OS to migrate
        SYSTEM_OFF => Outcome::SystemOff,
        SYSTEM_RESET => Outcome::SystemReset,
        PSCI_FEATURES => Outcome::Return(match arg(0) as u32 {
            PSCI_VERSION | CPU_SUSPEND_32 | CPU_SUSPEND_64 | CPU_OFF | CPU_ON_32 | CPU_ON_64
            | AFFINITY_INFO_32 | AFFINITY_INFO_64 | MIGRATE_INFO_TYPE | SYSTEM_OFF
            | SYSTEM_RESET | PSCI_FEATURES | SMCCC_VERSION => SUCCESS,
            _ => NOT_SUPPORTED,
        }),
        SMCCC_VERSION => Outcome::Return(SMCCC_VERSION_1_2),
        // No CPU workaround is offered to guests (ARCH_WORKAROUND_1/2/3).
        SMCCC_ARCH_FEATURES => Outcome::Return(match arg(0) as u32 {
            SMCCC_VERSION | SMCCC_ARCH_FEATURES => SUCCESS,
            _ => NOT_SUPPORTED,
        }),
        _ => Outcome::Return(NOT_SUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dom(std::vec::Vec<(u64, bool)>);
    impl GuestPower for Dom {
        fn vcpu_by_mpidr(&self, mpidr: u64) -> Option<usize> {
            self.0.iter().position(|v| v.0 == mpidr)
        }
        fn vcpus(&self) -> &[(u64, bool)] {
            &self.0
        }
    }
    extern crate std;

    #[test]
    fn psci_answers_as_xen_does() {
        let d = Dom(std::vec![(0, true), (1, false)]);
        assert_eq!(call(PSCI_VERSION, [0; 3], &d), Outcome::Return(0x10001));
        assert_eq!(
            call(CPU_ON_64, [1, 0x4008_0000, 7], &d),
            Outcome::StartVcpu {
                vcpu: 1,
                entry: 0x4008_0000,
                context: 7
            }
        );
        assert_eq!(
            call(CPU_ON_64, [0, 0x4008_0000, 0], &d),
            Outcome::Return(ALREADY_ON)
        );
        assert_eq!(
            call(CPU_ON_64, [5, 0x4008_0000, 0], &d),
            Outcome::Return(INVALID_PARAMETERS)
        );
        assert_eq!(
            call(CPU_ON_64, [1, 0x4008_0001, 0], &d),
            Outcome::Return(INVALID_ADDRESS)
        );
        // CPU_ON (32-bit) drops the upper halves.
        assert_eq!(
            call(CPU_ON_32, [1 | 1 << 40, 0x1_4008_0000, 0], &d),
            Outcome::StartVcpu {
                vcpu: 1,
                entry: 0x4008_0000,
                context: 0
            }
        );
        assert_eq!(
            call(AFFINITY_INFO_64, [1, 0, 0], &d),
            Outcome::Return(AFFINITY_OFF)
        );
        assert_eq!(
            call(AFFINITY_INFO_64, [0, 0, 0], &d),
            Outcome::Return(AFFINITY_ON)
        );
        assert_eq!(
            call(AFFINITY_INFO_64, [1, 1, 0], &d),
            Outcome::Return(AFFINITY_ON),
            "level 1 covers vCPU0"
        );
        assert_eq!(
            call(AFFINITY_INFO_64, [9, 4, 0], &d),
            Outcome::Return(INVALID_PARAMETERS)
        );
        assert_eq!(
            call(PSCI_FEATURES, [CPU_ON_64 as u64, 0, 0], &d),
            Outcome::Return(SUCCESS)
        );
        assert_eq!(
            call(PSCI_FEATURES, [0x8400_0010, 0, 0], &d),
            Outcome::Return(NOT_SUPPORTED)
        );
        // SMCCC 1.1+ is discovered through PSCI_FEATURES(SMCCC_VERSION).
        assert_eq!(
            call(PSCI_FEATURES, [SMCCC_VERSION as u64, 0, 0], &d),
            Outcome::Return(SUCCESS)
        );
        assert_eq!(
            call(SMCCC_ARCH_FEATURES, [0x8000_8000, 0, 0], &d),
            Outcome::Return(NOT_SUPPORTED)
        );
        assert_eq!(
            call(0x8200_ff00, [0; 3], &d),
            Outcome::Return(NOT_SUPPORTED)
        );
        assert_eq!(call(SYSTEM_OFF, [0; 3], &d), Outcome::SystemOff);
        assert_eq!(call(CPU_OFF, [0; 3], &d), Outcome::VcpuOff);
    }
}
