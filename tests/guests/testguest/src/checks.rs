//! mode=normal: the checks a well-behaved hypervisor must pass.

use crate::arch::{self, deadline_ms, freq, now, past, us_from_ticks};
use crate::exc::Fault;
use crate::fdt::{prop_str, Fdt, Walk};
use crate::out::{BStr, Buf, ByteText, FaultText};
use crate::psci::{self, Conduit};
use crate::{boot, fail, mrs, pass, probe, say, uart, Env};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Xen's GUEST_RAM0_BASE.
pub const RAM0_BASE: u64 = 0x4000_0000;
/// Xen's GUEST_PL011_BASE.
pub const VPL011_BASE: u64 = 0x2200_0000;
/// An SMCCC function id nobody implements (SiP range, fast, SMC32).
pub const UNKNOWN_FID: u64 = 0x8200_ff00;

pub fn run(env: &Env) {
    let checks: [(&str, fn(&Env)); 14] = [
        ("boot-state", boot_state),
        ("dt-memory", dt_memory),
        ("dt-cpus", dt_cpus),
        ("dt-uart", dt_uart),
        ("psci-version", psci_version),
        ("smccc-version", smccc_version),
        ("psci-features", psci_features),
        ("smccc-unknown", smccc_unknown),
        ("cpu-on", cpu_on),
        ("hidden-features", hidden_features),
        ("pmu-raz", pmu_raz),
        ("stage2-isolation", stage2_isolation),
        ("uart-rx", uart_rx),
        ("wfi", wfi),
    ];
    for (name, check) in checks {
        if env.skipped(name) {
            say!("SKIP {}", name);
        } else {
            check(env);
        }
    }
}

fn fdt(env: &Env) -> &Fdt<'static> {
    env.fdt.as_ref().expect("checks run only with a device tree")
}

/// Entered at EL1 with the MMU off, as the arm64 boot protocol requires.
fn boot_state(_env: &Env) {
    let el = arch::current_el();
    let sctlr = mrs!("sctlr_el1");
    if el != 1 {
        fail!("boot-state", "running at EL{}", el);
    } else if sctlr & 1 != 0 {
        fail!("boot-state", "entered with the MMU on (SCTLR_EL1 {:#x})", sctlr);
    } else {
        pass!("boot-state", "EL1, MMU off, SCTLR_EL1 {:#x}", sctlr);
    }
}

/// (base of the first bank, total size, number of memory nodes).
pub fn dt_ram(fdt: &Fdt<'static>) -> (Option<u64>, u64, usize) {
    let mut first = None;
    let mut total = 0u64;
    let mut nodes = 0;
    let _ = fdt.walk(|node, _| {
        if node.device_type() == Some(b"memory") && node.is_enabled() {
            nodes += 1;
            for i in 0..node.reg_count() {
                if let Some((a, s)) = node.reg(i) {
                    if first.is_none() {
                        first = Some(a);
                    }
                    total = total.wrapping_add(s);
                }
            }
        }
        Walk::Continue
    });
    (first, total, nodes)
}

/// One memory node at GUEST_RAM0_BASE whose size is bootargs' memory= KiB.
fn dt_memory(env: &Env) {
    let (first, total, nodes) = dt_ram(fdt(env));
    let want = env.arg_num("memory").map(|k| k.saturating_mul(1024));
    match (nodes, first, want) {
        (0, _, _) => fail!("dt-memory", "no memory node"),
        (n, _, _) if n > 1 => fail!("dt-memory", "{} memory nodes", n),
        (_, None, _) => fail!("dt-memory", "memory node without reg"),
        (_, Some(b), _) if b != RAM0_BASE => {
            fail!("dt-memory", "RAM starts at {:#x}, expected {:#x}", b, RAM0_BASE)
        }
        (_, _, None) => fail!("dt-memory", "bootargs carry no memory=<KiB>"),
        (_, Some(b), Some(w)) if w != total => {
            fail!("dt-memory", "size {:#x} at {:#x}, bootargs say {:#x}", total, b, w)
        }
        (_, Some(b), _) => pass!("dt-memory", "{:#x} bytes at {:#x}", total, b),
    }
}

/// cpus= cpu nodes, all with enable-method "psci"; /psci method "hvc".
fn dt_cpus(env: &Env) {
    let f = fdt(env);
    let mut psci_cpus = 0;
    let _ = f.walk(|node, path| {
        if path.len() == 3
            && path[1] == b"cpus"
            && node.device_type() == Some(b"cpu")
            && node.is_enabled()
            && node.prop(b"enable-method").map(prop_str) == Some(b"psci")
        {
            psci_cpus += 1;
        }
        Walk::Continue
    });
    let psci = f
        .find_compatible(b"arm,psci-1.0")
        .or_else(|| f.find_compatible(b"arm,psci-0.2"))
        .or_else(|| f.find_compatible(b"arm,psci"));
    let method = psci.and_then(|p| p.prop(b"method")).map(prop_str);
    let me = arch::mpidr();
    let n = env.ncpus.min(crate::MAX_CPUS);
    let want = env.arg_num("cpus");
    if want.is_none() {
        fail!("dt-cpus", "bootargs carry no cpus=");
    } else if want != Some(env.ncpus as u64) {
        fail!("dt-cpus", "{} cpu nodes, bootargs say {}", env.ncpus, want.unwrap_or(0));
    } else if psci_cpus != env.ncpus {
        fail!("dt-cpus", "{} of {} cpus have enable-method psci", psci_cpus, env.ncpus);
    } else if psci.is_none() {
        fail!("dt-cpus", "no arm,psci node");
    } else if method != Some(b"hvc") {
        fail!("dt-cpus", "psci method \"{}\"", BStr(method.unwrap_or(b"(none)")));
    } else if !env.cpus[..n].contains(&me) {
        fail!("dt-cpus", "boot vCPU MPIDR {:#x} not among the cpu nodes", me);
    } else {
        pass!("dt-cpus", "{} cpus, psci over hvc, boot MPIDR {:#x}", env.ncpus, me);
    }
}

/// An arm,sbsa-uart at GUEST_PL011_BASE.
fn dt_uart(env: &Env) {
    let f = fdt(env);
    match f.find_compatible(b"arm,sbsa-uart") {
        None => fail!("dt-uart", "no arm,sbsa-uart node"),
        Some(n) => match n.reg(0) {
            Some((a, _)) if a == VPL011_BASE => {
                // interrupts = <0 0 4>: SPI 0 = INTID 32 (GUEST_VPL011_SPI).
                let irq = n.prop(b"interrupts").and_then(|v| {
                    Some((crate::fdt::read_cells(v, 0, 1)?, crate::fdt::read_cells(v, 1, 1)?))
                });
                match irq {
                    Some((0, spi)) => pass!("dt-uart", "at {:#x}, INTID {}", a, spi + 32),
                    _ => pass!("dt-uart", "at {:#x}", a),
                }
            }
            Some((a, _)) => fail!("dt-uart", "at {:#x}, expected {:#x}", a, VPL011_BASE),
            None => fail!("dt-uart", "node {} has no reg", BStr(n.name)),
        },
    }
}

fn psci_version(_env: &Env) {
    match psci::hvc(psci::PSCI_VERSION, 0, 0, 0) {
        Err(f) => fail!("psci-version", "hvc raised {}", FaultText(f)),
        Ok(v) => {
            let (maj, min) = ((v >> 16) & 0x7fff, v & 0xffff);
            if v >> 31 != 0 || maj < 1 {
                fail!("psci-version", "{}.{} ({:#x}), want >= 1.0", maj, min, v);
            } else {
                pass!("psci-version", "{}.{}, {:#x}", maj, min, v);
            }
        }
    }
}

/// SMCCC_VERSION >= 1.1 (needed for SMCCC_ARCH_FEATURES).
fn smccc_version(_env: &Env) {
    match psci::hvc(psci::SMCCC_VERSION, 0, 0, 0) {
        Err(f) => fail!("smccc-version", "hvc raised {}", FaultText(f)),
        Ok(v) if (v as i64) < 0x10001 || v >> 31 != 0 => {
            fail!("smccc-version", "returned {:#x}, want >= 1.1", v)
        }
        Ok(v) => pass!("smccc-version", "{}.{}", v >> 16, v & 0xffff),
    }
}

/// PSCI_FEATURES, MIGRATE_INFO_TYPE and SMCCC_ARCH_FEATURES answer sanely.
fn psci_features(_env: &Env) {
    let probes: [(&str, u64, u64, i64); 5] = [
        ("FEATURES(CPU_ON)", psci::PSCI_FEATURES, psci::CPU_ON, psci::SUCCESS),
        ("FEATURES(SMCCC_VERSION)", psci::PSCI_FEATURES, psci::SMCCC_VERSION, psci::SUCCESS),
        ("FEATURES(unknown)", psci::PSCI_FEATURES, UNKNOWN_FID, psci::NOT_SUPPORTED),
        ("MIGRATE_INFO_TYPE", psci::MIGRATE_INFO_TYPE, 0, 2),
        ("ARCH_FEATURES(unknown)", psci::SMCCC_ARCH_FEATURES, UNKNOWN_FID, psci::NOT_SUPPORTED),
    ];
    for (what, fid, arg, want) in probes {
        match psci::hvc(fid, arg, 0, 0) {
            Err(f) => return fail!("psci-features", "{} raised {}", what, FaultText(f)),
            Ok(v) if v as i64 != want => {
                return fail!("psci-features", "{} = {}, want {}", what, v as i64, want)
            }
            Ok(_) => {}
        }
    }
    pass!("psci-features", "CPU_ON, SMCCC_VERSION listed; no trusted OS")
}

/// An unknown SMCCC id returns NOT_SUPPORTED over HVC and SMC, and the
/// instruction after the call runs.
fn smccc_unknown(_env: &Env) {
    for c in [Conduit::Hvc, Conduit::Smc] {
        match psci::call_marked(c, UNKNOWN_FID) {
            Err(f) => return fail!("smccc-unknown", "{} raised {}", c.name(), FaultText(f)),
            Ok((v, _)) if v != u64::MAX => {
                return fail!("smccc-unknown", "{} returned {:#x}, want -1", c.name(), v)
            }
            Ok((_, false)) => {
                return fail!("smccc-unknown", "{}: the next instruction was skipped", c.name())
            }
            Ok(_) => {}
        }
    }
    pass!("smccc-unknown", "-1 over hvc and smc")
}

// Written by the second vCPU (plain stores, MMU off on both sides).
static SEC_FLAG: AtomicU64 = AtomicU64::new(0);
static SEC_MPIDR: AtomicU64 = AtomicU64::new(0);
static SEC_SCTLR: AtomicU64 = AtomicU64::new(0);
static SEC_EL: AtomicU64 = AtomicU64::new(0);
static SEC_OFF_RET: AtomicU64 = AtomicU64::new(0);

/// The second vCPU's Rust entry (from boot.rs): report, then CPU_OFF.
#[no_mangle]
extern "C" fn testguest_secondary(ctx: u64) -> ! {
    if ctx == crate::gic::SECONDARY_CTX {
        crate::gic::secondary();
    }
    if ctx == crate::bench::SECONDARY_CTX {
        crate::bench::secondary();
    }
    if ctx == crate::bench::SWITCH_CTX {
        crate::bench::switch_secondary();
    }
    SEC_MPIDR.store(arch::mpidr(), Relaxed);
    SEC_SCTLR.store(mrs!("sctlr_el1"), Relaxed);
    SEC_EL.store(arch::current_el(), Relaxed);
    arch::dsb_sy();
    SEC_FLAG.store(ctx, Relaxed);
    arch::dsb_sy();
    arch::sev();
    let r = psci::raw_hvc(psci::CPU_OFF, 0, 0, 0);
    // CPU_OFF returned: that is an error; tell the primary.
    SEC_OFF_RET.store(r | (1 << 63), Relaxed);
    arch::dsb_sy();
    loop {
        arch::wfe();
    }
}

/// Waits up to `ms` for AFFINITY_INFO(target) to return `want`.
pub fn wait_affinity(target: u64, want: u64, ms: u64) -> Result<(), i64> {
    let end = deadline_ms(ms);
    let mut last = -99i64;
    while !past(end) {
        match psci::hvc(psci::AFFINITY_INFO, target, 0, 0) {
            Ok(v) if v == want => return Ok(()),
            Ok(v) => last = v as i64,
            Err(_) => return Err(-100),
        }
    }
    Err(last)
}

/// One CPU_ON / report / CPU_OFF round with the second vCPU.
fn cpu_on_round(target: u64, ctx: u64) -> Result<(), Buf> {
    let mut b = Buf::new();
    SEC_FLAG.store(0, Relaxed);
    SEC_MPIDR.store(0, Relaxed);
    SEC_SCTLR.store(0, Relaxed);
    SEC_EL.store(0, Relaxed);
    SEC_OFF_RET.store(0, Relaxed);
    arch::dsb_sy();
    match psci::hvc(psci::CPU_ON, target, boot::secondary_entry_pa(), ctx) {
        Err(f) => {
            let _ = write!(b, "CPU_ON raised {}", FaultText(f));
            return Err(b);
        }
        Ok(0) => {}
        Ok(v) => {
            let _ = write!(b, "CPU_ON({:#x}) returned {}", target, v as i64);
            return Err(b);
        }
    }
    let end = deadline_ms(1000);
    while SEC_FLAG.load(Relaxed) != ctx {
        if past(end) {
            let _ = write!(b, "vCPU {:#x} never ran (flag {:#x})", target, SEC_FLAG.load(Relaxed));
            return Err(b);
        }
        core::hint::spin_loop();
    }
    let (m, s, el) = (SEC_MPIDR.load(Relaxed), SEC_SCTLR.load(Relaxed), SEC_EL.load(Relaxed));
    if m != target {
        let _ = write!(b, "vCPU started with MPIDR {:#x}, asked for {:#x}", m, target);
        return Err(b);
    }
    if el != 1 || s & 1 != 0 {
        let _ = write!(b, "vCPU started at EL{} SCTLR {:#x} (want EL1, MMU off)", el, s);
        return Err(b);
    }
    if let Err(last) = wait_affinity(target, 1, 1000) {
        let off = SEC_OFF_RET.load(Relaxed);
        if off != 0 {
            let _ = write!(b, "CPU_OFF returned {}", (off & !(1 << 63)) as i64);
        } else {
            let _ = write!(b, "AFFINITY_INFO never OFF (last {})", last);
        }
        return Err(b);
    }
    Ok(())
}

fn cpu_on(env: &Env) {
    let me = arch::mpidr();
    let n = env.ncpus.min(crate::MAX_CPUS);
    let cpus = &env.cpus[..n];
    let entry = boot::secondary_entry_pa();
    // The running vCPU is ON, so CPU_ON for it must say ALREADY_ON.
    match psci::hvc(psci::AFFINITY_INFO, me, 0, 0) {
        Ok(0) => {}
        Ok(v) => return fail!("cpu-on", "AFFINITY_INFO(self) = {}, want 0 (ON)", v as i64),
        Err(f) => return fail!("cpu-on", "AFFINITY_INFO raised {}", FaultText(f)),
    }
    match psci::hvc(psci::CPU_ON, me, entry, 0) {
        Ok(v) if v as i64 == psci::ALREADY_ON => {}
        Ok(v) => return fail!("cpu-on", "CPU_ON(self) = {}, want -4 ALREADY_ON", v as i64),
        Err(f) => return fail!("cpu-on", "CPU_ON raised {}", FaultText(f)),
    }
    // An MPIDR no cpu node has.
    let bogus = (0xffu64..).step_by(0x100).find(|m| !cpus.contains(m)).unwrap_or(0xff);
    match psci::hvc(psci::CPU_ON, bogus, entry, 0) {
        Ok(v) if v as i64 == psci::INVALID_PARAMETERS => {}
        Ok(v) => {
            return fail!("cpu-on", "CPU_ON({:#x}) = {}, want -2 INVALID_PARAMETERS", bogus, v as i64)
        }
        Err(f) => return fail!("cpu-on", "CPU_ON raised {}", FaultText(f)),
    }
    let Some(&target) = cpus.iter().find(|&&m| m != me) else {
        return pass!("cpu-on", "1 cpu: ALREADY_ON and INVALID_PARAMETERS only");
    };
    for round in 1..=2u64 {
        if let Err(b) = cpu_on_round(target, 0x7e57_0000 + round) {
            return fail!("cpu-on", "round {}: {}", round, b.as_str());
        }
    }
    pass!("cpu-on", "vCPU {:#x} on/off twice, ALREADY_ON, INVALID_PARAMETERS", target)
}

/// Features a hypervisor without support for them must hide.
fn hidden_features(_env: &Env) {
    let pfr0 = mrs!("id_aa64pfr0_el1");
    let pfr1 = mrs!("id_aa64pfr1_el1");
    let isar1 = mrs!("id_aa64isar1_el1");
    let dfr0 = mrs!("id_aa64dfr0_el1");
    let fields: [(&str, u64, u32); 10] = [
        ("PFR0.SVE", pfr0, 32),
        ("PFR0.AMU", pfr0, 44),
        ("PFR0.RAS", pfr0, 28),
        ("PFR1.MTE", pfr1, 8),
        ("PFR1.SME", pfr1, 24),
        ("ISAR1.APA", isar1, 4),
        ("ISAR1.API", isar1, 8),
        ("ISAR1.GPA", isar1, 24),
        ("ISAR1.GPI", isar1, 28),
        ("DFR0.PMSVer", dfr0, 32),
    ];
    let mut b = Buf::new();
    for (name, reg, shift) in fields {
        let v = (reg >> shift) & 0xf;
        if v != 0 {
            let _ = write!(b, "{}={} ", name, v);
        }
    }
    if b.is_empty() {
        pass!("hidden-features", "no SVE/SME/MTE/PAuth/AMU/RAS/SPE")
    } else {
        fail!("hidden-features", "{}", b.as_str())
    }
}

/// Reads PMCR_EL0 through a probe.
pub fn read_pmcr() -> Result<u64, Fault> {
    let v: u64;
    match probe!("mrs {v}, pmcr_el0"; v = out(reg) v) {
        Some(f) => Err(f),
        None => Ok(v),
    }
}

/// Writes PMCR_EL0 through a probe.
pub fn write_pmcr(v: u64) -> Option<Fault> {
    probe!("msr pmcr_el0, {v}", "isb"; v = in(reg) v)
}

/// No vPMU: PMCR_EL0 reads as zero and ignores writes.
fn pmu_raz(_env: &Env) {
    let before = match read_pmcr() {
        Err(f) => return fail!("pmu-raz", "read raised {}", FaultText(f)),
        Ok(v) => v,
    };
    // E (bit 0): enable the counters; harmless if it ever lands.
    if let Some(f) = write_pmcr(before | 1) {
        return fail!("pmu-raz", "write raised {}", FaultText(f));
    }
    let after = read_pmcr().unwrap_or(u64::MAX);
    let _ = write_pmcr(before);
    if before != 0 {
        fail!("pmu-raz", "PMCR_EL0 reads {:#x}", before)
    } else if after != 0 {
        fail!("pmu-raz", "write of 1 read back as {:#x}", after)
    } else {
        pass!("pmu-raz")
    }
}

/// Reads a 32-bit word at `addr` as a probe: Ok(value) or Err(fault).
pub fn probe_read(addr: u64) -> Result<u32, Fault> {
    let v: u32;
    match probe!("ldr {v:w}, [{a}]"; a = in(reg) addr, v = out(reg) v) {
        Some(f) => Err(f),
        None => Ok(v),
    }
}

/// Writes a 32-bit word at `addr` as a probe.
pub fn probe_write(addr: u64, v: u32) -> Option<Fault> {
    probe!("str {v:w}, [{a}]"; a = in(reg) addr, v = in(reg) v)
}

/// A fault is the stage-2 abort the hypervisor must inject for `addr`:
/// synchronous, EC 0x25 (data abort, same EL), FAR = addr, ELR at the load
/// or store. Returns a short reason (without the address) when it is not.
pub fn abort_ok(r: Result<u32, Fault>, addr: u64) -> Result<Fault, Buf> {
    let mut b = Buf::new();
    match r {
        Ok(v) => {
            let _ = write!(b, "readable ({:#x})", v);
            Err(b)
        }
        Err(f) if !f.is_sync() || f.ec() != 0x25 || f.far != addr || !f.elr_at_insn() => {
            let _ = write!(b, "{}", FaultText(f));
            Err(b)
        }
        Err(f) => Ok(f),
    }
}

/// Where the domain's RAM ends (first bank), from the DT or bootargs.
pub fn ram_end(env: &Env) -> u64 {
    let (first, total, _) = dt_ram(fdt(env));
    match (first, env.arg_num("memory")) {
        (Some(b), _) if total != 0 => b.wrapping_add(total),
        (_, Some(k)) => RAM0_BASE.wrapping_add(k.saturating_mul(1024)),
        _ => RAM0_BASE + (64 << 20),
    }
}

/// Reads outside the domain's RAM take a data abort in the guest.
fn stage2_isolation(env: &Env) {
    let addrs = [0x1000_0000u64, ram_end(env) + (2 << 20)];
    let mut last = None;
    for a in addrs {
        match abort_ok(probe_read(a), a) {
            Err(b) => return fail!("stage2-isolation", "{:#x} {}", a, b.as_str()),
            Ok(f) => last = Some(f),
        }
    }
    let fsc = last.map_or(0, |f| f.fsc());
    pass!("stage2-isolation", "{:#x} and {:#x} abort, EC 0x25, fsc {:#x}", addrs[0], addrs[1], fsc)
}

/// A byte typed on the console reaches the guest's UART RX.
fn uart_rx(env: &Env) {
    let ms = env.arg_num("rxwait").unwrap_or(2000);
    say!("type something");
    let end = deadline_ms(ms);
    let t0 = now();
    loop {
        if let Some(c) = uart::getc() {
            let waited = us_from_ticks(now() - t0) / 1000;
            // Swallow the rest of the typed line for a moment.
            let quiet = deadline_ms(50);
            let mut more = 0;
            while !past(quiet) {
                if uart::getc().is_some() {
                    more += 1;
                }
            }
            return pass!("uart-rx", "got {} after {} ms, +{} more", ByteText(c), waited, more);
        }
        if past(end) {
            return fail!("uart-rx", "nothing received in {} ms", ms);
        }
    }
}

/// WFI returns when the virtual timer fires, with IRQs masked at PSTATE and
/// the GIC untouched. `wfi=poll` (development on plain QEMU, where WFI
/// sleeps forever) runs the same timer sequence without the WFI.
fn wfi(env: &Env) {
    let poll = env.arg("wfi") == Some(b"poll");
    arch::mask_irq();
    let f = freq();
    let t0 = now();
    let limit = t0 + f / 2; // give up after 500 ms of spurious wake-ups
    crate::msr!("cntv_ctl_el0", 0);
    crate::msr!("cntv_cval_el0", t0 + f / 1000);
    crate::msr!("cntv_ctl_el0", 1); // ENABLE, IMASK clear
    let mut n = 0u64;
    let fired = loop {
        if mrs!("cntv_ctl_el0") & 4 != 0 {
            break true; // ISTATUS
        }
        if now() > limit {
            break false;
        }
        if !poll {
            arch::wfi();
            n += 1;
        }
    };
    let t1 = now();
    crate::msr!("cntv_ctl_el0", 0);
    let us = us_from_ticks(t1 - t0);
    if arch::daif() & (1 << 7) == 0 {
        fail!("wfi", "IRQs got unmasked")
    } else if !fired {
        fail!("wfi", "timer never fired in {} us ({} wfi)", us, n)
    } else if t1 - t0 < f / 1000 {
        fail!("wfi", "woke after {} us, before the 1 ms deadline", us)
    } else {
        pass!("wfi", "woke after {} us, {} wfi{}", us, n, if poll { " (wfi=poll)" } else { "" })
    }
}
