//! Host serial consoles: the [`Uart`] trait every UART plugin implements and
//! the [`UART_DRIVERS`] registry, matched by device-tree `compatible`.

use alloc::boxed::Box;
use core::fmt;

use linkme::distributed_slice;

use crate::fdt::Node;
use crate::hal::{Mmio, MmioRegion};

/// A UART the console writes to.
pub trait Uart: Send + Sync {
    /// Writes one byte, waiting for room (polled).
    fn putc(&self, byte: u8);
    /// Reads a byte if one is waiting.
    fn getc(&self) -> Option<u8>;
    /// Waits until everything written has left the transmitter.
    fn flush(&self) {}
    /// Writes bytes, turning `\n` into `\r\n`.
    fn write(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.putc(b'\r');
            }
            self.putc(b);
        }
    }
    /// Physical base address of the registers (to tell devices apart).
    fn base(&self) -> u64;
}

/// Why a UART could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UartError {
    /// A device-tree property is missing or malformed.
    BadNode(&'static str),
    /// The `dtuart=` / `console=` options could not be used.
    BadOptions(&'static str),
}

impl fmt::Display for UartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UartError::BadNode(w) => write!(f, "bad device-tree node: {w}"),
            UartError::BadOptions(w) => write!(f, "bad options: {w}"),
        }
    }
}

/// Sets up the device behind a node, registers already mapped; `base` is
/// their physical address and `options` what followed `:` in `dtuart=`.
pub type UartProbe =
    fn(node: &Node, regs: MmioRegion, base: u64, options: &str) -> Result<Box<dyn Uart>, UartError>;

/// A UART driver.
pub struct UartDriver {
    /// Short name, as used by the Kconfig early-UART choice (`pl011`).
    pub name: &'static str,
    /// Device-tree `compatible` strings it drives.
    pub compatible: &'static [&'static str],
    /// Size of the register window to map.
    pub regs_size: u64,
    /// Sets up the device behind `node`, registers already mapped.
    /// `options` is what followed `:` in `dtuart=` (e.g. a baud rate).
    pub probe: UartProbe,
    /// Polled output for the early console: no state, no heap.
    pub early_putc: fn(regs: &dyn Mmio, byte: u8),
}

/// Every UART driver linked into this image.
#[distributed_slice]
pub static UART_DRIVERS: [UartDriver];

/// The driver for a node, by `compatible` (first match in the node's list).
pub fn driver_for<'a>(drivers: &'a [UartDriver], node: &Node) -> Option<&'a UartDriver> {
    node.compatible()
        .find_map(|c| drivers.iter().find(|d| d.compatible.contains(&c)))
}

/// The driver with this name.
pub fn driver_named<'a>(drivers: &'a [UartDriver], name: &str) -> Option<&'a UartDriver> {
    drivers.iter().find(|d| d.name == name)
}
