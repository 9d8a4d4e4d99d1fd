//! aarch64 at EL2 (non-VHE): boot, exception vectors, EL2 page tables,
//! the GICv3 or GICv2 (whichever the device tree describes), the
//! hypervisor timer, PSCI, and the [`Hal`] core boots with.
//!
//! The pure parts (layout constants, page-table builder, ESR decoding)
//! build and are tested on any host; the parts that execute EL2
//! instructions are in `hw` and build only for aarch64.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod esr;
pub mod guest;
pub mod layout;
pub mod pagetable;
mod support;
pub mod trap;
pub mod vgic;

#[cfg(target_arch = "aarch64")]
mod hw;

#[cfg(target_arch = "aarch64")]
pub use hw::panic;
