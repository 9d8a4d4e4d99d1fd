//! Tessera's core: the registries and traits every feature plugs into, and
//! the logic that needs no hardware: device-tree reading, the command line,
//! the console, the frame table and page allocator, the boot flow. It is
//! `no_std` + `alloc` and builds for the host, where its tests run against a
//! fake HAL. Core never names a plugin; plugins register from above through
//! `linkme` distributed slices (see [`registry`]).
//!
//! Unsafe code lives only in [`hal`].
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(test)]
extern crate std;

#[macro_use]
pub mod console;
pub mod addr;
pub mod boot;
pub mod cmdline;
pub mod config;
pub mod cpu;
pub mod debugkeys;
pub mod dom0less;
pub mod domain;
pub mod fdt;
pub mod fdt_write;
pub mod hal;
pub mod iommu;
pub mod irq;
pub mod mm;
pub mod platform;
pub mod registry;
pub mod sched;
mod support;
pub mod uart;
pub mod vdev;
pub mod vpmu;
pub mod xen;
pub mod xsm;

#[cfg(test)]
mod testing;

/// Tessera's version, shown in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
