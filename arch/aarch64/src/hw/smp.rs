//! Secondary CPUs: their stacks, per-CPU areas and the boot block they read
//! with the MMU off, started through PSCI CPU_ON.

use core::sync::atomic::Ordering;

use tessera_core::config::NR_CPUS;
use tessera_core::hal::HalError;

use super::{gicv3, mmu, percpu, psci, sysreg};

/// Read by `tessera_secondary_entry` with the MMU and caches off: the
/// layout is shared with head.rs (offsets 0..48).
#[repr(C, align(64))]
struct SecondaryBoot {
    ttbr0: u64,
    tcr: u64,
    stack_top: u64,
    percpu: u64,
    emergency_top: u64,
    index: u64,
}

static mut BOOT_BLOCKS: [SecondaryBoot; NR_CPUS] = [const {
    SecondaryBoot {
        ttbr0: 0,
        tcr: 0,
        stack_top: 0,
        percpu: 0,
        emergency_top: 0,
        index: 0,
    }
}; NR_CPUS];

extern "C" {
    fn tessera_secondary_entry();
}

/// Stack: 2^3 pages (32 KiB); emergency stack: 2^1 pages.
const STACK_ORDER: usize = 3;
const EMERGENCY_ORDER: usize = 1;

pub fn start(index: usize, mpidr: u64) -> Result<(), HalError> {
    if index == 0 || index >= NR_CPUS {
        return Err(HalError::BadDeviceTree("CPU index out of range"));
    }
    let stack_top = mmu::alloc_stack(STACK_ORDER)?;
    let emergency_top = mmu::alloc_stack(EMERGENCY_ORDER)?;
    let cpu = percpu::get(index).ok_or(HalError::BadDeviceTree("CPU index out of range"))?;
    cpu.mpidr.store(mpidr, Ordering::Relaxed);
    cpu.stack_top.store(stack_top, Ordering::Relaxed);
    let tcr = mrs!("tcr_el2");
    // SAFETY: each CPU's block is written only here, by the boot CPU,
    // before that CPU is started; no reference to it outlives this block.
    let block_va = unsafe {
        let b = &mut *core::ptr::addr_of_mut!(BOOT_BLOCKS[index]);
        b.ttbr0 = mmu::root_pa();
        b.tcr = tcr;
        b.stack_top = stack_top;
        b.percpu = percpu::address_of(index);
        b.emergency_top = emergency_top;
        b.index = index as u64;
        b as *const SecondaryBoot as usize
    };
    // The new CPU reads the block with its caches off.
    sysreg::clean_dcache(block_va, core::mem::size_of::<SecondaryBoot>());
    let entry_pa = mmu::image_pa(tessera_secondary_entry as *const () as u64);
    psci::cpu_on(mpidr, entry_pa, mmu::image_pa(block_va as u64))
}

#[no_mangle]
extern "C" fn tessera_secondary_main(index: u64) -> ! {
    super::hal::route_interrupts_to_el2();
    super::vcpu::init_cpu();
    if let Err(e) = gicv3::cpu_init() {
        tessera_core::error!("CPU{index}: interrupt controller: {e}; CPU parked");
        loop {
            sysreg::wait_for_interrupt();
        }
    }
    tessera_core::boot::secondary_main(index as usize)
}
