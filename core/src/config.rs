//! The build's configuration as typed values: the one place core reads the
//! generated `tessera-config` constants (Tock's `config.rs` pattern), so a
//! disabled path still type-checks.

use tessera_config as c;

/// Maximum number of physical CPUs this build handles.
pub const NR_CPUS: usize = c::NR_CPUS as usize;
/// Name of the UART driver used as the early console ("" = none).
pub const EARLY_UART_DRIVER: &str = c::EARLY_UART_DRIVER;
/// Physical base address of the early UART.
pub const EARLY_UART_BASE: u64 = c::EARLY_UART_BASE_ADDRESS;
/// A test build: panics and power-off end QEMU through semihosting so the
/// scenario runner sees an exit code. Never set on hardware.
pub const TESTING: bool = c::TESTING;
/// Builds with features below Supported.
pub const UNSUPPORTED: bool = c::UNSUPPORTED;
pub const DEBUG: bool = c::DEBUG;
pub const EXPERT: bool = c::EXPERT;
/// Size of the console ring buffer in bytes.
pub const CONSOLE_RING_SIZE: usize = c::CONSOLE_RING_SIZE as usize;
/// The resolved `.config` this image was built from.
pub const DOT_CONFIG: &str = c::DOT_CONFIG;
/// Short hash of [`DOT_CONFIG`] (printed in the banner).
pub const CONFIG_HASH: &str = c::CONFIG_HASH;
/// Name of the configuration (the defconfig it came from).
pub const CONFIG_NAME: &str = c::CONFIG_NAME;

/// The resolved `.config`, kept in the image (for hypfs `/buildinfo/config`
/// later, and for `strings` on an image today).
#[used]
pub static EMBEDDED_CONFIG: &str = DOT_CONFIG;
