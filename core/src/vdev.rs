//! Emulated devices a guest reaches through MMIO traps. Each kind is a
//! registry entry (a plugin, e.g. the vpl011) that a domain asks for by a
//! property of its dom0less node; the domain keeps one instance per device
//! at a fixed guest-physical window.

use alloc::boxed::Box;

use linkme::distributed_slice;

/// One emulated device instance.
pub trait MmioDevice: Send + Sync {
    /// A guest load of `size` bytes at `offset` into the window.
    fn read(&self, offset: u64, size: u8) -> u64;
    /// A guest store.
    fn write(&self, offset: u64, size: u8, value: u64);
    /// Lets the device make progress outside guest accesses (input).
    fn poll(&self) {}
    /// Output not yet flushed (shown when the domain ends).
    fn flush(&self) {}
}

/// A device's interrupt output, wired to the domain's virtual interrupt
/// controller.
pub trait IrqLine: Send + Sync {
    /// Drives the line (level-sensitive).
    fn set(&self, level: bool);
}

/// A line going nowhere (devices built without an interrupt controller).
pub struct NoIrq;

impl IrqLine for NoIrq {
    fn set(&self, _level: bool) {}
}

/// Builds one instance of a device for domain `domid` called `name`, its
/// interrupt wired to `irq`.
pub type DeviceCtor =
    fn(domid: u16, name: &str, irq: alloc::sync::Arc<dyn IrqLine>) -> Box<dyn MmioDevice>;

/// A kind of emulated device.
pub struct VirtDeviceKind {
    /// Short name ("vpl011").
    pub name: &'static str,
    /// The dom0less domain-node property that asks for it.
    pub dt_property: &'static str,
    /// Guest-physical window.
    pub base: u64,
    pub size: u64,
    /// Its interrupt (a GIC INTID), wired to the line given to `create`.
    pub intid: u32,
    /// A new instance for domain `domid` called `name`.
    pub create: DeviceCtor,
}

/// Every emulated device kind in this image.
#[distributed_slice]
pub static VIRT_DEVICES: [VirtDeviceKind];

/// The kind asked for by `property`.
pub fn kind_for_property(property: &str) -> Option<&'static VirtDeviceKind> {
    VIRT_DEVICES.iter().find(|k| k.dt_property == property)
}
