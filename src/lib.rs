//! The Tessera image as a library: it links the chosen platform, the arch crate
//! and every plugin enabled by a cargo feature (one feature per Kconfig
//! symbol). A plugin crate nothing names is not linked at all, so each one
//! is named here, behind its feature: this file and the feature list in
//! Cargo.toml are the whole composition of an image.
#![no_std]

pub extern crate tessera_arch_aarch64 as arch;
pub extern crate tessera_core as core_;

#[cfg(feature = "platform-qemu-virt")]
extern crate tessera_platform_qemu_virt as _;
#[cfg(feature = "platform-zynqmp")]
extern crate tessera_platform_zynqmp as _;

#[cfg(feature = "sched-arinc653")]
extern crate tessera_sched_arinc653 as _;
#[cfg(feature = "sched-credit")]
extern crate tessera_sched_credit as _;
#[cfg(feature = "sched-credit2")]
extern crate tessera_sched_credit2 as _;
#[cfg(feature = "sched-null")]
extern crate tessera_sched_null as _;
#[cfg(feature = "sched-rtds")]
extern crate tessera_sched_rtds as _;
#[cfg(feature = "uart-cadence")]
extern crate tessera_uart_cadence as _;
#[cfg(feature = "uart-exynos4210")]
extern crate tessera_uart_exynos4210 as _;
#[cfg(feature = "uart-ns16550")]
extern crate tessera_uart_ns16550 as _;
#[cfg(feature = "uart-omap")]
extern crate tessera_uart_omap as _;
#[cfg(feature = "uart-pl011")]
extern crate tessera_uart_pl011 as _;
#[cfg(feature = "uart-scif")]
extern crate tessera_uart_scif as _;
#[cfg(feature = "vuart-vpl011")]
extern crate tessera_vuart_vpl011 as _;
