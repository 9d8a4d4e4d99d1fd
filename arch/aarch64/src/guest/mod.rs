//! What a guest sees on Arm, as pure logic (host-tested): Xen's guest
//! memory map, the device tree generated for each domain, and kernel
//! loading.

pub mod dtgen;
pub mod layout;
pub mod loader;
