//! Virtual PMU. Core's always-present default is "no vPMU": guests read
//! the PMU registers as zero and their writes are ignored.

/// A virtual PMU (a plugin can give guests real counters).
pub trait Vpmu: Sync {
    fn name(&self) -> &'static str;
    /// A trapped PMU register read by a guest.
    fn read(&self, reg: u32) -> u64;
    /// A trapped PMU register write by a guest.
    fn write(&self, reg: u32, value: u64);
}

/// No vPMU: read-as-zero, write-ignored.
pub struct NoVpmu;

impl Vpmu for NoVpmu {
    fn name(&self) -> &'static str {
        "none"
    }
    fn read(&self, _reg: u32) -> u64 {
        0
    }
    fn write(&self, _reg: u32, _value: u64) {}
}
