//! The parts that run EL2 instructions.

#[macro_use]
mod sysreg;
mod crashtest;
mod gicv3;
mod hal;
mod head;
mod mmu;
mod percpu;
mod psci;
mod semihosting;
mod smp;
mod timer;
mod vectors;

pub use hal::panic;
