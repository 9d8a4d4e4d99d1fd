// Host builds without a resolved .config (cargo test, editors).
pub const NR_CPUS: i64 = 8;
pub const EARLY_UART_DRIVER: &str = "";
pub const EARLY_UART_BASE_ADDRESS: u64 = 0x0;
pub const TESTING: bool = false;
pub const UNSUPPORTED: bool = true;
pub const DEBUG: bool = false;
pub const EXPERT: bool = false;
pub const CONSOLE_RING_SIZE: i64 = 16384;
pub const DOT_CONFIG: &str = "";
pub const CONFIG_HASH: &str = "host";
pub const CONFIG_NAME: &str = "host-test";
pub const SCHED_DEFAULT: &str = "null";
