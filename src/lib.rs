//! The Tessera image as a library: it links the platform, the arch crate
//! and every plugin enabled by a cargo feature (one feature per Kconfig
//! symbol). A plugin crate nothing names is not linked at all, so each one
//! is named here, behind its feature: this file and the feature list in
//! Cargo.toml are the whole composition of an image.
#![no_std]

pub extern crate tessera_arch_aarch64 as arch;
pub extern crate tessera_core as core_;
extern crate tessera_platform_qemu_virt as _;

#[cfg(feature = "sched-null")]
extern crate tessera_sched_null as _;
#[cfg(feature = "uart-pl011")]
extern crate tessera_uart_pl011 as _;
#[cfg(feature = "vuart-vpl011")]
extern crate tessera_vuart_vpl011 as _;
