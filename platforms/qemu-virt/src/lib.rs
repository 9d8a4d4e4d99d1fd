//! QEMU's `virt` board (aarch64). Everything about the board comes from the
//! device tree QEMU generates; this crate only names the board.
#![no_std]
#![forbid(unsafe_code)]

use linkme::distributed_slice;
use tessera_core::platform::{Platform, PLATFORMS};

#[distributed_slice(PLATFORMS)]
static QEMU_VIRT: Platform = Platform {
    name: "QEMU virt",
    compatible: &["linux,dummy-virt"],
};
