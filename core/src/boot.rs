//! The boot flow, common to every architecture: the arch crate gets the
//! MMU on and calls [`primary_main`] with its [`Hal`]; this turns the device
//! tree into memory, a console, CPUs and plugins, then runs what there is to
//! run and powers off when nothing is left.
//!
//! Order (the blueprint's): early console -> device tree -> command line ->
//! direct map, frame table, heap -> console from the UART registry ->
//! interrupt controller, timer, firmware -> plugins (pre-SMP) -> secondary
//! CPUs -> plugins (SMP, late) -> banner -> domains -> power off.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use linkme::distributed_slice;
use spin::{Mutex, Once};

use crate::cmdline::{self, Param, ParamKind, PARAMS};
use crate::config;
use crate::console::{self, EarlyUart, Level, Timestamps};
use crate::cpu;
use crate::fdt::{self, Fdt, FdtError};
use crate::hal::{Hal, HalError, MmioRegion};
use crate::mm::{self, LayoutError, MemoryLayout, Owner, PageInfo, PageType, Zone, FRAMES};
use crate::platform::{self, PLATFORMS};
use crate::registry::{self, InitOutcome, InitStage, Status, PLUGINS};
use crate::uart::{self, UART_DRIVERS};

static HAL: Once<&'static dyn Hal> = Once::new();

/// The HAL of the running hypervisor.
pub fn hal() -> &'static dyn Hal {
    *HAL.get().expect("HAL used before boot")
}

fn clock() -> u64 {
    HAL.get().map(|h| h.now_ns()).unwrap_or(0)
}

/// A short text value of a command-line parameter.
pub struct ParamStr<const N: usize> {
    buf: Mutex<([u8; N], usize)>,
}

impl<const N: usize> ParamStr<N> {
    pub const fn new(default: &str) -> Self {
        let mut buf = [0u8; N];
        let b = default.as_bytes();
        let mut i = 0;
        while i < b.len() && i < N {
            buf[i] = b[i];
            i += 1;
        }
        ParamStr {
            buf: Mutex::new((buf, i)),
        }
    }
    pub fn set(&self, v: &str) -> Result<(), &'static str> {
        if v.len() > N {
            return Err("too long");
        }
        let mut g = self.buf.lock();
        g.0[..v.len()].copy_from_slice(v.as_bytes());
        g.1 = v.len();
        Ok(())
    }
    pub fn with<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let g = self.buf.lock();
        f(core::str::from_utf8(&g.0[..g.1]).unwrap_or(""))
    }
}

static CONSOLE_PARAM: ParamStr<64> = ParamStr::new("dtuart");
static DTUART_PARAM: ParamStr<128> = ParamStr::new("");
static SYNC_CONSOLE: AtomicBool = AtomicBool::new(false);

#[distributed_slice(PARAMS)]
static P_CONSOLE: Param = Param {
    name: "console",
    kind: ParamKind::Value(|v| {
        for dev in v.split(',') {
            if !matches!(dev, "dtuart" | "none") {
                return Err("devices on Arm are dtuart and none");
            }
        }
        CONSOLE_PARAM.set(v)
    }),
    help: "where console output goes: dtuart, none (comma-separated)",
};

#[distributed_slice(PARAMS)]
static P_DTUART: Param = Param {
    name: "dtuart",
    kind: ParamKind::Value(|v| DTUART_PARAM.set(v)),
    help: "device-tree path or alias of the console UART, optionally :options",
};

#[distributed_slice(PARAMS)]
static P_LOGLVL: Param = Param {
    name: "loglvl",
    kind: ParamKind::Value(|v| {
        let level = v.split('/').next().unwrap_or(v);
        console::set_threshold(
            Level::parse_threshold(level).ok_or("expected none|error|warning|info|debug|all")?,
        );
        Ok(())
    }),
    help: "hypervisor messages shown: none, error, warning, info, debug, all",
};

#[distributed_slice(PARAMS)]
static P_GUEST_LOGLVL: Param = Param {
    name: "guest_loglvl",
    kind: ParamKind::Value(|v| {
        let level = v.split('/').next().unwrap_or(v);
        console::set_guest_threshold(
            Level::parse_threshold(level).ok_or("expected none|error|warning|info|debug|all")?,
        );
        Ok(())
    }),
    help: "guest messages shown: none, error, warning, info, debug, all",
};

#[distributed_slice(PARAMS)]
static P_TIMESTAMPS: Param = Param {
    name: "console_timestamps",
    kind: ParamKind::Value(|v| {
        console::set_timestamps(match v {
            "none" | "no" | "0" => Timestamps::None,
            "boot" | "yes" | "1" => Timestamps::Boot,
            "raw" => Timestamps::Raw,
            _ => return Err("expected none, boot or raw"),
        });
        Ok(())
    }),
    help: "prefix console lines with time since boot (boot: [ s.us ]) or raw ns",
};

#[distributed_slice(PARAMS)]
static P_SYNC: Param = Param {
    name: "sync_console",
    kind: ParamKind::Bool(|b| SYNC_CONSOLE.store(b, Ordering::Relaxed)),
    help: "synchronous console output, for debugging only",
};

/// Why boot stopped.
#[derive(Debug)]
pub enum BootError {
    DtbAddress(u64),
    DtbMap(HalError),
    Dtb {
        pa: u64,
        error: FdtError,
    },
    Memory(LayoutError),
    Map(HalError),
    FrameTable(&'static str),
    Platform(HalError),
    Plugin {
        name: &'static str,
        why: &'static str,
        rolled_back: usize,
    },
    Sched(crate::sched::SchedError),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::DtbAddress(pa) => {
                write!(f, "no usable device tree: address {pa:#x} (x0 at entry)")
            }
            BootError::DtbMap(e) => write!(f, "cannot map the device tree: {e}"),
            BootError::Dtb { pa, error } => write!(f, "malformed device tree at {pa:#x}: {error}"),
            BootError::Memory(e) => write!(f, "memory layout: {e}"),
            BootError::Map(e) => write!(f, "cannot map RAM: {e}"),
            BootError::FrameTable(w) => write!(f, "frame table: {w}"),
            BootError::Platform(e) => write!(f, "platform bring-up: {e}"),
            BootError::Plugin {
                name,
                why,
                rolled_back,
            } => {
                write!(f, "plugin {name} failed to start: {why} ({rolled_back} earlier plugins rolled back)")
            }
            BootError::Sched(e) => write!(f, "scheduler: {e}"),
        }
    }
}

static EARLY_REGS: Once<MmioRegion> = Once::new();

fn start_early_console(hal: &dyn Hal) {
    // Kconfig makes the early UART depend on its driver; a base address
    // of 0 (not set) leaves the early console off.
    let Some(drv) = uart::early_driver(
        &UART_DRIVERS,
        config::EARLY_UART_DRIVER,
        config::EARLY_UART_BASE,
    ) else {
        return;
    };
    if let Ok(regs) = hal.ioremap(config::EARLY_UART_BASE, drv.regs_size) {
        let regs: &'static MmioRegion = EARLY_REGS.call_once(|| regs);
        console::start_early(EarlyUart {
            putc: drv.early_putc,
            regs,
        });
    }
}

/// Entry from the arch crate on the boot CPU, MMU on, on a good stack.
pub fn primary_main(hal: &'static dyn Hal, dtb_pa: u64) -> ! {
    HAL.call_once(|| hal);
    console::set_clock(clock);
    start_early_console(hal);
    info!(
        "Tessera {} starting (config {}, {})",
        crate::VERSION,
        config::CONFIG_NAME,
        config::CONFIG_HASH
    );
    match boot(hal, dtb_pa) {
        Ok(()) => {
            info!("No domains left to run: powering off");
            hal.power_off(true)
        }
        Err(e) => {
            error!("BOOT FAILED: {e}");
            hal.power_off(false)
        }
    }
}

fn map_dtb(hal: &dyn Hal, dtb_pa: u64) -> Result<Fdt<'static>, BootError> {
    if dtb_pa == 0 || !dtb_pa.is_multiple_of(8) {
        return Err(BootError::DtbAddress(dtb_pa));
    }
    let header = hal.map_boot_blob(dtb_pa, 64).map_err(BootError::DtbMap)?;
    let size =
        fdt::header_total_size(header).map_err(|error| BootError::Dtb { pa: dtb_pa, error })?;
    let blob = hal
        .map_boot_blob(dtb_pa, size as u64)
        .map_err(BootError::DtbMap)?;
    Fdt::new(blob).map_err(|error| BootError::Dtb { pa: dtb_pa, error })
}

fn boot(hal: &'static dyn Hal, dtb_pa: u64) -> Result<(), BootError> {
    let fdt = map_dtb(hal, dtb_pa)?;
    info!("Device tree at {dtb_pa:#x}, {} bytes", fdt.total_size());

    // The command line decides the console, so it comes first.
    let chosen = fdt.find_node("/chosen");
    let bootargs = chosen
        .and_then(|c| {
            c.property("xen,xen-bootargs")
                .or_else(|| c.property("bootargs"))
        })
        .map(|p| {
            p.as_str().unwrap_or_else(|| {
                warn!("command line: /chosen bootargs is not a NUL-terminated string; ignored");
                ""
            })
        })
        .unwrap_or("");
    info!("Command line: {bootargs}");
    cmdline::parse_registered(bootargs);
    console::set_sync(SYNC_CONSOLE.load(Ordering::Relaxed));

    let layout =
        MemoryLayout::from_fdt(&fdt, dtb_pa, hal.image_range()).map_err(BootError::Memory)?;
    setup_memory(hal, &layout)?;

    start_console(hal, &fdt);
    if config::TESTING {
        if let Some(f) = hal.debug_console() {
            if console::start_fallback(f) {
                info!("Console: no UART in this image; test build prints through semihosting");
            }
        }
    }
    if console::is_sync() {
        warn!("sync_console: every message is written out before the hypervisor goes on.");
        warn!(
            "sync_console: this slows the hypervisor and is meant for debugging, not production."
        );
    }
    for r in layout.ram.as_slice() {
        info!("RAM {:#x}-{:#x}", r.start, r.end);
    }
    for r in layout.reserved.as_slice() {
        info!("Reserved {:#x}-{:#x}: {}", r.start, r.end, r.what);
    }

    match platform::detect(&PLATFORMS, &fdt) {
        Some(p) => info!("Platform: {}", p.name),
        None => {
            warn!("Platform: no platform crate matches the root compatible; using generic code")
        }
    }
    let pinfo = hal.init_platform(&fdt).map_err(BootError::Platform)?;
    match console::enable_interrupts(|intid| hal.enable_device_irq(intid)) {
        Ok(Some(intid)) if console::is_sync() => {
            info!("Console: interrupt {intid} for input; output synchronous (sync_console)")
        }
        Ok(Some(intid)) => info!("Console: interrupt {intid} for input and output"),
        Ok(None) => {}
        Err((intid, e)) => warn!("console interrupt {intid}: {e}; input and output stay polled"),
    }
    info!(
        "Interrupts: {}; firmware: {}; timer {} Hz",
        pinfo.interrupt_controller, pinfo.firmware, pinfo.timer_hz
    );

    let mut done = Vec::new();
    run_inits(InitStage::PreSmp, &mut done)?;
    start_secondaries(hal, &fdt);
    run_inits(InitStage::Smp, &mut done)?;
    run_inits(InitStage::Late, &mut done)?;

    // Interrupts and timer work on this CPU, and every secondary answers
    // an IPI.
    let seen = hal.timer_selftest(1_000_000).map_err(BootError::Platform)?;
    info!("Timer interrupt on CPU0 after {} us", seen / 1000);
    for i in 1..config::NR_CPUS {
        if cpu::is_online(i) {
            match hal.ipi_selftest(i) {
                Ok(()) => {}
                Err(e) => warn!("CPU{i} did not answer the call-function IPI: {e}"),
            }
        }
    }

    banner();
    if let Err(e) = FRAMES.check() {
        error!("frame table inconsistent: {e}");
    }
    start_domains(hal, &fdt)
}

static FREE_BEFORE_DOMAINS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static ON_LAST_DOMAIN_IDLE: AtomicBool = AtomicBool::new(false);

#[distributed_slice(PARAMS)]
static P_ON_LAST_DOMAIN: Param = Param {
    name: "tessera.on_last_domain",
    kind: ParamKind::Value(|v| {
        match v {
            "poweroff" => ON_LAST_DOMAIN_IDLE.store(false, Ordering::Relaxed),
            "idle" => ON_LAST_DOMAIN_IDLE.store(true, Ordering::Relaxed),
            _ => return Err("expected poweroff or idle"),
        }
        Ok(())
    }),
    help: "what to do when the last domain has ended: poweroff (default) or idle",
};

/// Scheduler, then the dom0less domains; runs them (never returns) when at
/// least one started.
fn start_domains(hal: &'static dyn Hal, fdt: &Fdt) -> Result<(), BootError> {
    let specs = match crate::dom0less::parse_domains(fdt) {
        Ok(s) => s,
        Err(e) => {
            error!("dom0less: {e}; no domain is started");
            alloc::vec::Vec::new()
        }
    };
    if specs.is_empty() {
        info!("No domains to run");
        return Ok(());
    }
    let mut online = crate::sched::CpuMask::empty();
    for i in 0..config::NR_CPUS {
        if cpu::is_online(i) {
            online.set(i);
        }
    }
    let layout = match crate::sched::parse_boot_pools(
        fdt,
        &crate::sched::SCHEDULERS,
        config::NR_CPUS,
        &cpu::hwid,
        online,
    ) {
        Ok(l) => l,
        Err(e) => {
            // Domains meant for a pool must not run on pCPUs nobody gave
            // them: refuse them all, as for a bad dom0less description.
            error!("cpupools: {e}; no domain is started");
            return Ok(());
        }
    };
    let sched = crate::sched::init(config::NR_CPUS, &layout).map_err(BootError::Sched)?;
    FREE_BEFORE_DOMAINS.store(FRAMES.free_pages(), Ordering::Relaxed);
    // Static event channels must pair up before anything is built.
    let evtchn_pairs = match crate::dom0less::static_evtchn_pairs(&specs) {
        Ok(p) => p,
        Err(e) => {
            error!("dom0less: {e}; no domain is started");
            return Ok(());
        }
    };
    let mut started = 0;
    let mut ids: alloc::vec::Vec<Option<u16>> = alloc::vec![None; specs.len()];
    for (i, spec) in specs.iter().enumerate() {
        let pool = match spec.sched.cpupool {
            None => 0,
            Some(ph) => match layout.pool_of_phandle(fdt, ph) {
                Ok(id) => id,
                Err(e) => {
                    error!("domain {} refused: {e}", spec.name);
                    continue;
                }
            },
        };
        if let Some(info) = sched.pool_info(pool) {
            if let Some(what) = spec.sched.ignored_by(info.sched.sched_id()) {
                warn!(
                    "domain {}: {what} ignored: Pool-{pool} runs {}",
                    spec.name,
                    info.sched.opt_name()
                );
            }
        }
        match hal.build_domain(fdt, spec, pool) {
            Ok(id) => {
                started += 1;
                ids[i] = Some(id);
                info!(
                    "d{id} ({}): {} vCPUs, {} MiB{}, Pool-{pool}",
                    spec.name,
                    spec.vcpus,
                    spec.memory_kib / 1024,
                    if spec.vpl011 { ", vpl011" } else { "" }
                );
            }
            Err(why) => error!("domain {} refused: {why}", spec.name),
        }
    }
    if started == 0 {
        info!("No domains to run");
        return Ok(());
    }
    for ((a, pa), (b, pb)) in evtchn_pairs {
        let (na, nb) = (&specs[a].name, &specs[b].name);
        let r = match (ids[a], ids[b]) {
            (Some(da), Some(db)) => crate::xen::bind_static(da, pa, db, pb)
                .map(|()| info!("static event channel: d{da} port {pa} <-> d{db} port {pb}")),
            _ => Err("a domain of the pair was not started"),
        };
        if let Err(e) = r {
            error!("static event channel {na} port {pa} <-> {nb} port {pb}: {e}");
        }
    }
    for id in ids.into_iter().flatten() {
        hal.start_domain(id);
    }
    DOMAINS_RUNNING.store(true, Ordering::Release);
    hal.run_cpu()
}

static DOMAINS_RUNNING: AtomicBool = AtomicBool::new(false);

/// Called by the arch code when the last domain has been destroyed: checks
/// that every page came back, then powers off (or idles, with
/// `tessera.on_last_domain=idle`).
pub fn last_domain_ended() {
    let before = FREE_BEFORE_DOMAINS.load(Ordering::Relaxed);
    let after = FRAMES.free_pages();
    if before == after {
        info!("All domains have ended; free pages: {before} before the domains, {after} after");
    } else {
        error!("LEAK: free pages {before} before the domains, {after} after");
    }
    if let Err(e) = FRAMES.check() {
        error!("frame table inconsistent: {e}");
    }
    if ON_LAST_DOMAIN_IDLE.load(Ordering::Relaxed) {
        info!("tessera.on_last_domain=idle: staying up with nothing to run");
        return;
    }
    info!("No domains left to run: powering off");
    hal().power_off(before == after)
}

fn run_inits(stage: InitStage, done: &mut Vec<&'static str>) -> Result<(), BootError> {
    match registry::run_inits(&PLUGINS, stage, done) {
        InitOutcome::Ok { .. } => Ok(()),
        InitOutcome::Failed {
            failed,
            error,
            rolled_back,
        } => Err(BootError::Plugin {
            name: failed,
            why: error.0,
            rolled_back,
        }),
    }
}

fn setup_memory(hal: &dyn Hal, layout: &MemoryLayout) -> Result<(), BootError> {
    let (img_start, img_end) = hal.image_range();
    // Direct map: all RAM but the image (its text must have no writable alias).
    for bank in layout.ram.as_slice() {
        let map = |s: u64, e: u64| if s < e { hal.map_ram(s, e - s) } else { Ok(()) };
        if img_start < bank.end && img_end > bank.start {
            map(bank.start, img_start.max(bank.start)).map_err(BootError::Map)?;
            map(img_end.min(bank.end), bank.end).map_err(BootError::Map)?;
        } else {
            map(bank.start, bank.end).map_err(BootError::Map)?;
        }
    }

    // Frame table: one zone per bank, its table placed in free RAM.
    let mut free_fixed = [(0u64, 0u64); mm::layout::MAX_REGIONS];
    let mut n = 0;
    layout.for_each_free(|s, e| {
        if n < free_fixed.len() {
            free_fixed[n] = (s, e);
            n += 1;
        }
    });
    for bank in layout.ram.as_slice() {
        let pages = (bank.end - bank.start) / 4096;
        let bytes = pages * core::mem::size_of::<PageInfo>() as u64;
        let table_pages = bytes.div_ceil(4096);
        let slot = free_fixed[..n]
            .iter_mut()
            .find(|(s, e)| *s >= bank.start && *e <= bank.end && (e - s) / 4096 >= table_pages)
            .ok_or(BootError::FrameTable(
                "no free RAM in the bank for its frame table",
            ))?;
        let table_pa = slot.0;
        slot.0 += table_pages * 4096;
        let va = hal
            .ram_va(table_pa)
            .ok_or(BootError::FrameTable("table not in the direct map"))?;
        // SAFETY: [table_pa, +table_pages) is free RAM, now taken out of the
        // free ranges, mapped read-write in the direct map, and used for
        // nothing else for the life of the hypervisor.
        let table = unsafe { crate::hal::frame_table_slice(va, pages as usize) };
        let mut zone = Zone::new(bank.start / 4096, table);
        for &(s, e) in free_fixed[..n]
            .iter()
            .filter(|(s, e)| s < e && *s >= bank.start && *e <= bank.end)
        {
            zone.release(s / 4096, e / 4096)
                .map_err(|_| BootError::FrameTable("cannot release free RAM"))?;
        }
        zone.set_owner(
            table_pa / 4096,
            table_pa / 4096 + table_pages,
            Owner::Hypervisor,
            PageType::FrameTable,
        )
        .map_err(|_| BootError::FrameTable("cannot mark the table's pages"))?;
        if !FRAMES.add_zone(zone) {
            return Err(BootError::FrameTable(
                "more RAM banks than the frame allocator handles",
            ));
        }
    }

    // Heap: 1/64 of RAM, between 1 and 32 MiB, in one block.
    let want = (layout.ram_bytes() / 64).clamp(1 << 20, 32 << 20);
    let order = (want / 4096).next_power_of_two().trailing_zeros() as usize;
    let mut got = None;
    for o in (8..=order).rev() {
        if let Some(pfn) = FRAMES.alloc(o, Owner::Hypervisor, PageType::Heap) {
            got = Some((pfn, o));
            break;
        }
    }
    let (pfn, o) = got.ok_or(BootError::FrameTable("no memory for the heap"))?;
    let va = hal
        .ram_va(pfn * 4096)
        .ok_or(BootError::FrameTable("heap not in the direct map"))?;
    // SAFETY: the pages were just allocated for the heap, are mapped
    // read-write in the direct map and are never freed.
    unsafe { crate::hal::HEAP.init(va, 4096 << o) };
    Ok(())
}

fn start_console(hal: &dyn Hal, fdt: &Fdt) {
    let wanted = CONSOLE_PARAM.with(|c| {
        (
            c.split(',').any(|d| d == "dtuart"),
            c.split(',').all(|d| d == "none"),
        )
    });
    if wanted.1 {
        info!("console=none: output stays in the console ring");
        console::stop();
        return;
    }
    if !wanted.0 {
        return;
    }
    let mut spec = [0u8; 192];
    let spec_len = DTUART_PARAM.with(|d| {
        let s = if d.is_empty() {
            fdt.find_node("/chosen")
                .and_then(|c| c.property("stdout-path"))
                .and_then(|p| p.as_str())
                .unwrap_or("")
        } else {
            d
        };
        let n = s.len().min(spec.len());
        spec[..n].copy_from_slice(&s.as_bytes()[..n]);
        n
    });
    let spec = core::str::from_utf8(&spec[..spec_len]).unwrap_or("");
    if spec.is_empty() {
        warn!("console: no dtuart= and no /chosen/stdout-path; staying on the early console");
        return;
    }
    let (path, options) = spec.split_once(':').unwrap_or((spec, ""));
    let Some(node) = fdt.find_node(path) else {
        warn!("console: {path} is not in the device tree; staying on the early console");
        return;
    };
    let Some(drv) = uart::driver_for(&UART_DRIVERS, &node) else {
        let c = node.compatible().next().unwrap_or("(no compatible)");
        warn!("console: no driver in this image for {path} ({c}); staying on the early console");
        return;
    };
    let Some((base, _)) = node.reg().next() else {
        warn!("console: {path} has no reg; staying on the early console");
        return;
    };
    let regs = match hal.ioremap(base, drv.regs_size) {
        Ok(r) => r,
        Err(e) => {
            warn!("console: cannot map {path}: {e}");
            return;
        }
    };
    match (drv.probe)(&node, regs, base, options) {
        Ok(u) => {
            let u: &'static dyn uart::Uart = Box::leak(u);
            let same = EARLY_REGS.get().is_some() && base == config::EARLY_UART_BASE;
            console::start(u, same);
            info!("Console: {} at {base:#x} ({path})", drv.name);
        }
        Err(e) => warn!("console: {} driver refused {path}: {e}", drv.name),
    }
}

fn start_secondaries(hal: &dyn Hal, fdt: &Fdt) {
    let Some(cpus) = fdt.find_node("/cpus") else {
        warn!("no /cpus node: running on the boot CPU only");
        return;
    };
    let boot_hwid = cpu::hwid(0);
    let mut index = 1;
    for node in cpus.children() {
        if node.property("device_type").and_then(|p| p.as_str()) != Some("cpu")
            || !node.is_enabled()
        {
            continue;
        }
        let Some((hwid, _)) = node.reg().next() else {
            warn!("{}: no reg; CPU ignored", node.name());
            continue;
        };
        if Some(hwid) == boot_hwid {
            continue;
        }
        if index >= config::NR_CPUS {
            warn!(
                "{}: more CPUs than NR_CPUS={}; ignored",
                node.name(),
                config::NR_CPUS
            );
            continue;
        }
        match node.property("enable-method").and_then(|p| p.as_str()) {
            Some("psci") => {}
            other => {
                warn!(
                    "{}: enable-method {:?} not supported; CPU ignored",
                    node.name(),
                    other
                );
                continue;
            }
        }
        cpu::set_present(index, hwid);
        if let Err(e) = hal.start_cpu(index, hwid) {
            warn!("CPU{index} (hwid {hwid:#x}) did not start: {e}");
            continue;
        }
        let deadline = hal.now_ns() + 1_000_000_000;
        while !cpu::is_online(index) && hal.now_ns() < deadline {
            core::hint::spin_loop();
        }
        if !cpu::is_online(index) {
            warn!("CPU{index} (hwid {hwid:#x}) started but did not come online");
        }
        index += 1;
    }
}

/// Entry of a secondary CPU, MMU on, on its own stack.
pub fn secondary_main(index: usize) -> ! {
    let hal = hal();
    match hal.timer_selftest(100_000) {
        Ok(_) => cpu::mark_online(index),
        Err(e) => {
            error!("CPU{index}: timer self-test failed: {e}; CPU stays offline");
            loop {
                hal.idle();
            }
        }
    }
    // Idle in the scheduling loop: the scheduler hands this CPU work once
    // domains exist.
    hal.run_cpu()
}

fn banner() {
    let mut below_supported = false;
    info!("================================================================");
    info!(
        "Tessera {} - config {} (hash {})",
        crate::VERSION,
        config::CONFIG_NAME,
        config::CONFIG_HASH
    );
    info!("build-id {}", BuildId(hal_build_id()));
    if PLUGINS.is_empty() {
        info!("Plugins: none");
    }
    let mut sorted: Vec<_> = PLUGINS.iter().collect();
    sorted.sort_by_key(|p| p.name);
    for p in sorted {
        info!("Plugin {} [{}]: {}", p.name, p.status, p.summary);
        below_supported |= p.status < Status::SupportedNotSecuritySupported;
    }
    if below_supported {
        warn!("This image contains features below Supported: it is NOT security supported.");
    }
    let (used, total) = crate::hal::HEAP.usage();
    info!(
        "Memory: {} MiB RAM, {} MiB free, heap {} KiB of {} KiB used",
        FRAMES.total_pages() / 256,
        FRAMES.free_pages() / 256,
        used / 1024,
        total / 1024
    );
    info!("{} CPUs online", cpu::online_count());
    info!("================================================================");
}

static BUILD_ID: Once<&'static [u8]> = Once::new();

/// Records the image's build-id (the arch crate reads the ELF note).
pub fn set_build_id(id: &'static [u8]) {
    BUILD_ID.call_once(|| id);
}

fn hal_build_id() -> &'static [u8] {
    BUILD_ID.get().copied().unwrap_or(&[])
}

struct BuildId(&'static [u8]);
impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(none)");
        }
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
