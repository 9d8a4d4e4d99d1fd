//! Xilinx Zynq UltraScale+ MPSoC boards (the ZCU102, and QEMU's
//! `-M xlnx-zcu102,virtualization=on`): four Cortex-A53 (ARMv8.0, no VHE,
//! 40-bit physical addresses), a GIC-400 (GICv2 with the virtualization
//! extensions), two Cadence UARTs, RAM from physical address 0.
//!
//! Everything the hypervisor needs is in the board's device tree (Linux's
//! `xilinx/zynqmp-zcu102-rev1.0.dtb`): the GIC-400's four regions (each
//! 4 KiB page of its CPU interfaces repeated over 64 KiB, which the GICv2
//! driver detects), the timer PPIs, PSCI over SMC, the UART. This crate
//! only names the board; its defaults (early UART, CPU count) live in
//! `platforms/Kconfig` and `configs/zcu102_defconfig`.
#![no_std]
#![forbid(unsafe_code)]

use linkme::distributed_slice;
use tessera_core::platform::{Platform, PLATFORMS};

#[distributed_slice(PLATFORMS)]
static ZYNQMP: Platform = Platform {
    name: "Xilinx ZynqMP",
    // The ZCU102 tree lists "xlnx,zynqmp-zcu102-rev1.0",
    // "xlnx,zynqmp-zcu102", "xlnx,zynqmp"; every ZynqMP board ends in the
    // SoC's own compatible, which Xen's platform code matches too.
    compatible: &[
        "xlnx,zynqmp-zcu102-rev1.0",
        "xlnx,zynqmp-zcu102",
        "xlnx,zynqmp",
    ],
};
