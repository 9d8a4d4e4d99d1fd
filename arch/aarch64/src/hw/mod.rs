//! The parts that run EL2 instructions.

#[macro_use]
mod sysreg;
mod build;
mod crashtest;
mod gic;
mod gicv2;
mod gicv3;
mod guest;
mod hal;
mod head;
mod mmu;
mod p2m;
mod percpu;
mod psci;
mod regdump;
mod semihosting;
mod smp;
mod timer;
mod vcpu;
mod vectors;
mod vgic;
mod xen;

pub use hal::panic;
