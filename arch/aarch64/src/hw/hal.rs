//! [`Hal`] for aarch64 at EL2, the boot CPU's Rust entry, and the panic and
//! failure paths.

use core::sync::atomic::{AtomicBool, Ordering};

use tessera_core::config;
use tessera_core::fdt::Fdt;
use tessera_core::hal::{Hal, HalError, MmioRegion, PlatformInfo};

use super::{gic, mmu, percpu, psci, semihosting, smp, sysreg, timer};
use crate::layout::DIRECTMAP_BASE;

pub struct Aarch64;

static HAL: Aarch64 = Aarch64;
static BOOT_COUNTER: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

extern "C" {
    static _build_id_note: u8;
    static _build_id_note_end: u8;
}

/// The build-id: the descriptor of the GNU build-id note the linker wrote.
fn build_id() -> &'static [u8] {
    // SAFETY: the linker script brackets .note.gnu.build-id with these
    // symbols; the note lies in rodata, mapped read-only for ever.
    let note = unsafe {
        let start = &_build_id_note as *const u8;
        let end = &_build_id_note_end as *const u8;
        core::slice::from_raw_parts(start, end as usize - start as usize)
    };
    if note.len() < 16 {
        return &[];
    }
    let namesz = u32::from_le_bytes([note[0], note[1], note[2], note[3]]) as usize;
    let descsz = u32::from_le_bytes([note[4], note[5], note[6], note[7]]) as usize;
    let desc = 12 + namesz.div_ceil(4) * 4;
    note.get(desc..desc + descsz).unwrap_or(&[])
}

#[no_mangle]
extern "C" fn tessera_primary_main(dtb_pa: u64, load_pa: u64) -> ! {
    BOOT_COUNTER.store(timer::counter(), Ordering::Relaxed);
    route_interrupts_to_el2();
    percpu::install(0);
    mmu::init(load_pa);
    super::vcpu::init_cpu();
    tessera_core::cpu::set_present(0, percpu::this_cpu().mpidr.load(Ordering::Relaxed));
    tessera_core::cpu::mark_online(0);
    tessera_core::boot::set_build_id(build_id());
    tessera_core::boot::primary_main(&HAL, dtb_pa)
}

impl Hal for Aarch64 {
    fn image_range(&self) -> (u64, u64) {
        mmu::image_range()
    }

    fn map_boot_blob(&self, pa: u64, size: u64) -> Result<&'static [u8], HalError> {
        let va = mmu::bootmap(pa, size)?;
        // SAFETY: just mapped read-only for `size` bytes, never unmapped.
        Ok(unsafe { core::slice::from_raw_parts(va as *const u8, size as usize) })
    }

    fn map_ram(&self, pa: u64, size: u64) -> Result<(), HalError> {
        mmu::map_ram(pa, size)
    }

    fn ram_page(&self, pa: u64) -> Option<&'static mut [u8; 4096]> {
        if pa % 4096 != 0 {
            return None;
        }
        let va = mmu::ram_va(pa)?;
        // SAFETY: the trait's contract: the caller owns the page per the
        // frame table, and the direct map covers all RAM but the image.
        Some(unsafe { &mut *(va as *mut [u8; 4096]) })
    }

    fn ram_va(&self, pa: u64) -> Option<usize> {
        mmu::ram_va(pa).map(|v| v as usize)
    }

    fn ioremap(&self, pa: u64, size: u64) -> Result<MmioRegion, HalError> {
        let va = mmu::ioremap(pa, size)?;
        // SAFETY: mapped as device memory just now for this caller.
        Ok(unsafe { MmioRegion::new(va as usize, size as usize) })
    }

    fn now_ns(&self) -> u64 {
        let f = timer::frequency().max(1);
        let ticks = timer::counter().saturating_sub(BOOT_COUNTER.load(Ordering::Relaxed));
        ((ticks as u128 * 1_000_000_000) / f as u128) as u64
    }

    fn cpu_index(&self) -> usize {
        percpu::this_cpu_index()
    }

    fn init_platform(&self, fdt: &Fdt) -> Result<PlatformInfo, HalError> {
        let (major, minor) = psci::init(fdt)?;
        let gic = gic::init(fdt)?;
        let _ = DIRECTMAP_BASE;
        let firmware: &'static str = match (major, minor) {
            (1, 1) => "PSCI 1.1 over SMC",
            (1, 0) => "PSCI 1.0 over SMC",
            (0, 2) => "PSCI 0.2 over SMC",
            _ => "PSCI over SMC",
        };
        tessera_core::info!(
            "{}: {} SPIs; reserved SGIs: 0 reschedule, 1 call-function, 2 stop-machine",
            gic.name(),
            gic.spis()
        );
        Ok(PlatformInfo {
            interrupt_controller: gic.name(),
            firmware,
            timer_hz: timer::frequency(),
        })
    }

    fn start_cpu(&self, index: usize, hwid: u64) -> Result<(), HalError> {
        smp::start(index, hwid)
    }

    fn timer_selftest(&self, ns: u64) -> Result<u64, HalError> {
        let me = percpu::this_cpu();
        me.timer_fired.store(false, Ordering::Relaxed);
        let start = self.now_ns();
        timer::arm(ns);
        let deadline = start + ns + 1_000_000_000;
        while !me.timer_fired.load(Ordering::Acquire) {
            if self.now_ns() > deadline {
                timer::disarm();
                return Err(HalError::Timeout);
            }
            sysreg::wait_for_interrupt();
        }
        Ok(self.now_ns() - start)
    }

    fn ipi_selftest(&self, cpu: usize) -> Result<(), HalError> {
        // An empty cross-call: the SGI arrives and the handler answers.
        smp::call_on(cpu, || {}, 1_000_000_000)
    }

    fn idle(&self) {
        sysreg::wait_for_interrupt();
    }

    fn build_domain(
        &self,
        fdt: &Fdt,
        spec: &tessera_core::dom0less::DomainSpec,
        pool: u32,
    ) -> Result<u16, alloc::string::String> {
        super::build::build_domain(fdt, spec, pool)
    }

    fn start_domain(&self, id: u16) {
        super::guest::start(id)
    }

    fn run_cpu(&self) -> ! {
        super::guest::run(percpu::this_cpu_index())
    }

    fn enable_device_irq(&self, intid: u32) -> Result<(), HalError> {
        gic::enable_spi(intid)
    }

    fn debug_console(&self) -> Option<fn(&[u8])> {
        config::TESTING.then_some(semihosting::write as fn(&[u8]))
    }

    fn power_off(&self, ok: bool) -> ! {
        if !ok {
            fail_stop();
        }
        // Queued console output leaves before the machine does.
        tessera_core::console::flush();
        if config::TESTING {
            semihosting::exit(0);
        }
        psci::system_off();
        park()
    }
}

/// Physical interrupts go to EL2 (see HCR_EL2_HOST).
pub fn route_interrupts_to_el2() {
    // Sound: no guest runs yet; the value only routes exceptions to EL2.
    msr!("hcr_el2", crate::layout::HCR_EL2_HOST);
    sysreg::isb();
}

fn park() -> ! {
    loop {
        sysreg::wait_for_interrupt();
    }
}

/// Stops after a failure: test builds end QEMU with status 1 through
/// semihosting; other builds reset the machine through PSCI, as Xen does
/// after a panic.
pub fn fail_stop() -> ! {
    // Queued console output (the failure's own report) leaves first.
    tessera_core::console::flush();
    if config::TESTING {
        semihosting::exit(1);
    }
    if psci::ready() {
        tessera_core::console::print_emergency(format_args!("Resetting the machine\n"));
        psci::system_reset();
    }
    park()
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// The image's panic handler.
pub fn panic(info: &core::panic::PanicInfo) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        fail_stop();
    }
    let cpu = percpu::this_cpu_index();
    match info.location() {
        Some(l) => tessera_core::console::print_emergency(format_args!(
            "PANIC on CPU{cpu}: {} at {}:{}\n",
            info.message(),
            l.file(),
            l.line()
        )),
        None => tessera_core::console::print_emergency(format_args!(
            "PANIC on CPU{cpu}: {}\n",
            info.message()
        )),
    }
    fail_stop()
}
