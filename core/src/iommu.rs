//! IOMMUs. Core's always-present default is "no IOMMU": nothing can be
//! passed through, and asking for it is refused, never silently allowed.

/// Xen's errno for "no such device".
pub const ENODEV: i32 = 19;

/// An IOMMU driver (SMMUv3, IPMMU... come as plugins).
pub trait Iommu: Sync {
    fn name(&self) -> &'static str;
    /// Puts the device with this stream id behind `domain`'s stage 2.
    fn assign_device(&self, domain: u16, stream_id: u32) -> Result<(), i32>;
}

/// No IOMMU: device assignment is impossible.
pub struct NoIommu;

impl Iommu for NoIommu {
    fn name(&self) -> &'static str {
        "none"
    }
    fn assign_device(&self, _domain: u16, _stream_id: u32) -> Result<(), i32> {
        Err(-ENODEV)
    }
}
