//! mode=attack: hostile things a guest can do. Each PASS means the guest got
//! back control with the expected result (and, by implication, the
//! hypervisor survived); mode=crash: an exception with no vectors.

use crate::arch::{self, now, us_from_ticks};
use crate::checks::{abort_ok, probe_read, probe_write, ram_end, read_pmcr, write_pmcr, UNKNOWN_FID};
use crate::exc::Fault;
use crate::out::{Buf, FaultText};
use crate::psci::{self, Conduit};
use crate::{fail, pass, probe, say, Env};
use core::fmt::Write;

pub fn run(env: &Env) {
    let end = ram_end(env);
    unmapped(end);
    ram_boundary(end);
    hvc_imm();
    for c in [Conduit::Hvc, Conduit::Smc] {
        smccc_garbage(c);
    }
    smccc_high_bits();
    psci_garbage();
    impdef_sysregs();
    ro_sysregs();
    actlr();
    debug_regs();
    pmu_regs();
    phys_timer();
    gic_sysregs();
    dc_setway();
    wfe();
    hvc_flood();
    smc_flood();
}

/// Text of the host UART write: a scenario forbids it on the console.
const LEAK: &[u8] = b"UARTLEAK\n";

/// IPAs outside the domain (QEMU virt host devices, holes, the far end of
/// the IPA space). `true`: also write there. The check is named after the
/// address, except the one that depends on the RAM size ("ram-end+2m").
fn targets(end: u64) -> [(u64, bool, &'static str); 14] {
    [
        (0x0, true, "host flash"),
        (0x0800_0000, true, "host GICD"),
        (0x0808_0000, false, "host GIC ITS"),
        (0x0900_0000, true, "host UART"),
        (0x0901_0000, false, "host RTC"),
        (0x0a00_0000, false, "host virtio-mmio"),
        (0x1000_0000, true, "PCIe window / vPCI ECAM"),
        (0x3000_0000, true, "hole"),
        (0x3eff_0000, false, "host PCIe PIO"),
        (end + (2 << 20), true, "ram-end+2m"),
        (0xbfff_f000, false, "top of RAM0 window"),
        (0x40_1000_0000, true, "host PCIe ECAM (high)"),
        (0xfff_ffff_f000, false, "top of a 44-bit IPA space"),
        (0xffff_ffff_f000, false, "top of a 48-bit IPA space"),
    ]
}

/// A write probe took the abort a read would: EC 0x25, FAR = addr.
fn write_aborts(a: u64, v: u32) -> Result<(), Buf> {
    let mut b = Buf::new();
    match probe_write(a, v) {
        None => {
            let _ = write!(b, "write to {:#x} did not abort", a);
            Err(b)
        }
        Some(f) if !f.is_sync() || f.ec() != 0x25 || f.far != a || !f.elr_at_insn() => {
            let _ = write!(b, "write: {}", FaultText(f));
            Err(b)
        }
        Some(_) => Ok(()),
    }
}

/// Reads (and some writes) at unmapped IPAs take data aborts in the guest.
fn unmapped(end: u64) {
    'next: for (addr, write, what) in targets(end) {
        let mut name = Buf::new();
        let _ = if what.starts_with("ram-end") {
            write!(name, "attack-unmapped-{}", what)
        } else {
            write!(name, "attack-unmapped-{:#x}", addr)
        };
        let n = name.as_str();
        let r = match abort_ok(probe_read(addr), addr) {
            Err(b) => {
                fail!(n, "read {}", b.as_str());
                continue;
            }
            Ok(f) => f,
        };
        if !write {
            pass!(n, "read aborts, fsc {:#x}", r.fsc());
            continue;
        }
        // At the host UART, write a recognisable line byte by byte: none of
        // it may reach the real console. At the host GICD, GICD_IGROUPR0.
        let (bytes, a): (&[u8], u64) = match addr {
            0x0900_0000 => (LEAK, addr),
            0x0800_0000 => (&[0], addr + 0x80),
            _ => (&[0], addr),
        };
        for &c in bytes {
            if let Err(b) = write_aborts(a, c as u32) {
                fail!(n, "{}", b.as_str());
                continue 'next;
            }
        }
        pass!(n, "read+write abort, fsc {:#x}", r.fsc());
    }
}

/// The last word of RAM is readable, the first word after it is not.
fn ram_boundary(end: u64) {
    if let Err(f) = probe_read(end - 4) {
        return fail!("attack-ram-boundary", "{:#x} (own RAM) faults: {}", end - 4, FaultText(f));
    }
    match abort_ok(probe_read(end), end) {
        Err(b) => fail!("attack-ram-boundary", "{:#x} {}", end, b.as_str()),
        Ok(_) => pass!("attack-ram-boundary", "{:#x} readable, {:#x} aborts", end - 4, end),
    }
}

/// Checks a probe raised an undefined-instruction exception (EC 0).
fn undef(f: Option<Fault>) -> Result<Fault, Buf> {
    let mut b = Buf::new();
    match f {
        None => {
            let _ = write!(b, "no exception");
            Err(b)
        }
        Some(f) if !f.is_sync() || f.ec() != 0 => {
            let _ = write!(b, "{}", FaultText(f));
            Err(b)
        }
        Some(f) => Ok(f),
    }
}

/// `hvc #imm` as a probe, with SMCCC's registers declared clobbered (a
/// hypervisor that ignores the immediate treats it as a call).
macro_rules! hvc_imm_probe {
    ($imm:literal) => {
        probe!(concat!("hvc #", $imm);
            inout("x0") psci::PSCI_VERSION => _, out("x1") _, out("x2") _,
            out("x3") _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
            out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _)
    };
}

/// HVC with an immediate other than 0 is undefined for the guest.
fn hvc_imm() {
    let tries: [(&str, Option<Fault>); 3] = [
        ("#0x1234", hvc_imm_probe!("0x1234")),
        ("#0x1", hvc_imm_probe!("0x1")),
        ("#0x8000", hvc_imm_probe!("0x8000")),
    ];
    let mut elr = "";
    for (imm, f) in tries {
        match undef(f) {
            Err(b) => return fail!("attack-hvc-imm", "hvc {}: {}", imm, b.as_str()),
            Ok(f) => elr = f.elr_where(),
        }
    }
    pass!("attack-hvc-imm", "hvc #0x1234/#0x1/#0x8000 undefined (EC 0), elr {}", elr)
}

/// Function ids nobody implements; each must return -1.
const GARBAGE_FIDS: [u64; 14] = [
    UNKNOWN_FID,
    0xc200_ff00, // SiP, SMC64
    0x8300_1234, // OEM
    0x8600_1234, // vendor hypervisor, unknown function
    0x8000_1234, // Arm architecture, unknown
    0x8400_0fff, // PSCI range, unknown
    0xc400_0fff,
    0xb200_1234, // trusted OS
    0xbf00_ff00,
    0x0000_0000, // yielding calls
    0x0100_0000,
    0x7fff_ffff,
    0xffff_ffff,
    0xf000_0000,
];

fn smccc_garbage(c: Conduit) {
    let name = if c == Conduit::Hvc { "attack-smccc-hvc" } else { "attack-smccc-smc" };
    for fid in GARBAGE_FIDS {
        match psci::call(c, fid, u64::MAX, 0x5555_5555_5555_5555, 0xdead_beef) {
            Err(f) => return fail!(name, "{:#x} raised {}", fid, FaultText(f)),
            Ok(v) if v != u64::MAX => return fail!(name, "{:#x} returned {:#x}", fid, v),
            Ok(_) => {}
        }
    }
    pass!(name, "{} unknown ids -> -1", GARBAGE_FIDS.len())
}

/// Garbage in x0[63:32]: SMCCC takes the id from w0, so this is either
/// PSCI_VERSION or refused with -1; anything else is wrong.
fn smccc_high_bits() {
    let version = psci::hvc(psci::PSCI_VERSION, 0, 0, 0).unwrap_or(0);
    match psci::hvc(0xdead_beef_0000_0000 | psci::PSCI_VERSION, 0, 0, 0) {
        Err(f) => fail!("attack-smccc-x0-high", "raised {}", FaultText(f)),
        Ok(v) if v == version => pass!("attack-smccc-x0-high", "id taken from w0"),
        Ok(v) if v == u64::MAX => pass!("attack-smccc-x0-high", "refused with -1"),
        Ok(v) => fail!("attack-smccc-x0-high", "returned {:#x}", v),
    }
}

/// PSCI calls with nonsense arguments return errors. AFFINITY_INFO for an
/// affinity no vCPU has may also say OFF (1): that is what Xen does.
fn psci_garbage() {
    let me = arch::mpidr();
    let entry = crate::boot::secondary_entry_pa();
    let calls: [(&str, u64, u64, u64, bool); 8] = [
        ("CPU_ON(~0)", psci::CPU_ON, u64::MAX, entry, false),
        ("CPU_ON(aff3=0xff)", psci::CPU_ON, 0xff_0000_0000, entry, false),
        ("CPU_ON(aff2=0xff)", psci::CPU_ON, 0xff_0000, entry, false),
        ("AFFINITY_INFO(~0)", psci::AFFINITY_INFO, u64::MAX, 0, true),
        ("AFFINITY_INFO(self, lvl 9)", psci::AFFINITY_INFO, me, 9, false),
        ("PSCI_FEATURES(~0)", psci::PSCI_FEATURES, u64::MAX, 0, false),
        ("ARCH_FEATURES(~0)", psci::SMCCC_ARCH_FEATURES, u64::MAX, 0, false),
        ("MIGRATE(~0)", 0xc400_0005, u64::MAX, 0, false),
    ];
    for (what, fid, a1, a2, off_ok) in calls {
        match psci::hvc(fid, a1, a2, 0) {
            Err(f) => return fail!("attack-psci-garbage", "{} raised {}", what, FaultText(f)),
            Ok(1) if off_ok => {}
            Ok(v) if (v as i64) >= 0 => {
                return fail!("attack-psci-garbage", "{} = {} (not an error)", what, v as i64)
            }
            Ok(_) => {}
        }
    }
    pass!("attack-psci-garbage", "{} bad calls refused", calls.len())
}

/// IMPLEMENTATION DEFINED system registers are undefined for the guest.
fn impdef_sysregs() {
    let tries: [(&str, Option<Fault>); 4] = [
        ("msr s3_3_c15_c0_0", probe!("msr s3_3_c15_c0_0, {v}"; v = in(reg) 0u64)),
        ("mrs s3_0_c15_c0_0", probe!("mrs {v}, s3_0_c15_c0_0"; v = out(reg) _)),
        // Cortex-A57/A72 CPUACTLR_EL1 and L2CTLR_EL1: only read.
        ("mrs s3_1_c15_c2_0", probe!("mrs {v}, s3_1_c15_c2_0"; v = out(reg) _)),
        ("mrs s3_1_c11_c0_2", probe!("mrs {v}, s3_1_c11_c0_2"; v = out(reg) _)),
    ];
    for (what, f) in tries {
        if let Err(b) = undef(f) {
            return fail!("attack-impdef-sysreg", "{}: {}", what, b.as_str());
        }
    }
    pass!("attack-impdef-sysreg", "4 accesses undefined (EC 0)")
}

/// Writes to read-only ID registers are undefined.
fn ro_sysregs() {
    let tries: [(&str, Option<Fault>); 2] = [
        ("msr MIDR_EL1", probe!("msr s3_0_c0_c0_0, {v}"; v = in(reg) 0u64)),
        ("msr ID_AA64PFR0_EL1", probe!("msr s3_0_c0_c4_0, {v}"; v = in(reg) u64::MAX)),
    ];
    for (what, f) in tries {
        if let Err(b) = undef(f) {
            return fail!("attack-ro-sysreg", "{}: {}", what, b.as_str());
        }
    }
    pass!("attack-ro-sysreg", "writes to ID registers undefined")
}

/// ACTLR_EL1 (trapped by HCR_EL2.TACR): write back what it reads.
fn actlr() {
    let v: u64;
    let r = probe!("mrs {v}, actlr_el1"; v = out(reg) v);
    if let Some(f) = r {
        return pass!("attack-actlr", "read undefined (ec {:#x})", f.ec());
    }
    let w = probe!("msr actlr_el1, {v}", "isb"; v = in(reg) v);
    let v2: u64;
    let r2 = probe!("mrs {v}, actlr_el1"; v = out(reg) v2);
    match (w, r2) {
        (Some(f), _) => pass!("attack-actlr", "reads {:#x}, write raised ec {:#x}", v, f.ec()),
        (None, Some(f)) => fail!("attack-actlr", "re-read raised {}", FaultText(f)),
        (None, None) if v2 != v => fail!("attack-actlr", "wrote {:#x}, reads {:#x}", v, v2),
        (None, None) => pass!("attack-actlr", "reads {:#x}, write-back kept", v),
    }
}

/// Counts faults among probes and keeps the last one.
#[derive(Default)]
struct Tally {
    faults: u32,
    ec: u64,
}

impl Tally {
    fn add(&mut self, f: Option<Fault>) {
        if let Some(f) = f {
            self.faults += 1;
            self.ec = f.ec();
        }
    }
}

/// Debug registers (trapped by MDCR_EL2.TDA/TDOSA): program a breakpoint
/// and a watchpoint on addresses never used, the OS lock, MDSCR; restore.
/// Debug exceptions stay masked (PSTATE.D). The point is survival.
fn debug_regs() {
    let mut t = Tally::default();
    let mdscr0: u64;
    t.add(probe!("mrs {v}, mdscr_el1"; v = out(reg) mdscr0));
    // KDE (13) | MDE (15)
    t.add(probe!("msr mdscr_el1, {v}", "isb"; v = in(reg) (1u64 << 13) | (1 << 15)));
    let mdscr1: u64;
    t.add(probe!("mrs {v}, mdscr_el1"; v = out(reg) mdscr1));
    t.add(probe!("msr dbgbvr0_el1, {v}"; v = in(reg) 0xffff_0000_0000_0000u64));
    t.add(probe!("msr dbgbcr0_el1, {v}"; v = in(reg) 0x1e7u64)); // enabled, any EL
    t.add(probe!("msr dbgwvr0_el1, {v}"; v = in(reg) 0xffff_0000_0000_0000u64));
    t.add(probe!("msr dbgwcr0_el1, {v}"; v = in(reg) 0x1ff7u64));
    t.add(probe!("msr oslar_el1, {v}", "isb"; v = in(reg) 1u64));
    let oslsr: u64;
    t.add(probe!("mrs {v}, oslsr_el1"; v = out(reg) oslsr));
    t.add(probe!("msr oslar_el1, {v}", "isb"; v = in(reg) 0u64));
    t.add(probe!("msr osdlr_el1, {v}", "isb"; v = in(reg) 1u64));
    t.add(probe!("msr osdlr_el1, {v}", "isb"; v = in(reg) 0u64));
    let mdccsr: u64;
    t.add(probe!("mrs {v}, mdccsr_el0"; v = out(reg) mdccsr));
    t.add(probe!("msr dbgbcr0_el1, {v}"; v = in(reg) 0u64));
    t.add(probe!("msr dbgwcr0_el1, {v}"; v = in(reg) 0u64));
    t.add(probe!("msr mdscr_el1, {v}", "isb"; v = in(reg) 0u64));
    let _ = mdccsr;
    pass!("attack-debug-regs", "mdscr {:#x}->{:#x}, oslsr {:#x}, {} undef", mdscr0, mdscr1,
          oslsr, t.faults)
}

/// PMU registers with no vPMU: survive, report what sticks.
fn pmu_regs() {
    let mut t = Tally::default();
    t.add(write_pmcr(0x7)); // E, P, C
    t.add(probe!("msr pmcntenset_el0, {v}"; v = in(reg) 0x8000_00ffu64));
    t.add(probe!("msr pmintenset_el1, {v}"; v = in(reg) 0x8000_00ffu64));
    t.add(probe!("msr pmuserenr_el0, {v}"; v = in(reg) 0xfu64));
    t.add(probe!("msr pmselr_el0, {v}"; v = in(reg) 0x1fu64));
    t.add(probe!("msr pmxevtyper_el0, {v}"; v = in(reg) 0x11u64));
    t.add(probe!("msr pmccfiltr_el0, {v}"; v = in(reg) 0u64));
    t.add(probe!("msr pmovsset_el0, {v}"; v = in(reg) 0xffff_ffffu64));
    let cnten: u64;
    t.add(probe!("mrs {v}, pmcntenset_el0"; v = out(reg) cnten));
    let pmcr = read_pmcr().unwrap_or(0);
    // Undo: counters off, overflow and interrupts cleared.
    t.add(probe!("msr pmcntenclr_el0, {v}"; v = in(reg) u64::MAX));
    t.add(probe!("msr pmintenclr_el1, {v}"; v = in(reg) u64::MAX));
    t.add(probe!("msr pmovsclr_el0, {v}"; v = in(reg) u64::MAX));
    t.add(probe!("msr pmuserenr_el0, {v}"; v = in(reg) 0u64));
    t.add(write_pmcr(0));
    pass!("attack-pmu-regs", "pmcr {:#x} cntenset {:#x}, {} undef", pmcr, cnten, t.faults)
}

/// The EL1 physical timer: program it far away, then off.
fn phys_timer() {
    let mut t = Tally::default();
    let pct: u64;
    t.add(probe!("isb", "mrs {v}, cntpct_el0"; v = out(reg) pct));
    t.add(probe!("msr cntp_cval_el0, {v}"; v = in(reg) u64::MAX));
    t.add(probe!("msr cntp_ctl_el0, {v}"; v = in(reg) 3u64)); // enabled, masked
    let ctl: u64;
    t.add(probe!("mrs {v}, cntp_ctl_el0"; v = out(reg) ctl));
    t.add(probe!("msr cntp_ctl_el0, {v}"; v = in(reg) 0u64));
    let _ = pct;
    pass!("attack-phys-timer", "cntp_ctl read {:#x}, {} undef", ctl, t.faults)
}

/// GICv3 CPU interface registers with no vGIC: a group-1 SGI to every
/// vCPU, an acknowledge, the SRE bits. The host must see none of it.
fn gic_sysregs() {
    let mut t = Tally::default();
    let sre: u64;
    t.add(probe!("mrs {v}, icc_sre_el1"; v = out(reg) sre));
    // ICC_SGI1R_EL1: INTID 0, IRM=0, Aff1..3 = 0, target list 0xffff
    t.add(probe!("msr icc_sgi1r_el1, {v}", "isb"; v = in(reg) 0xffffu64));
    let iar: u64;
    let iar_fault = probe!("mrs {v}, icc_iar1_el1"; v = out(reg) iar);
    let iar_read = iar_fault.is_none();
    t.add(iar_fault);
    t.add(probe!("msr icc_pmr_el1, {v}"; v = in(reg) 0xffu64));
    let _ = sre;
    if iar_read {
        pass!("attack-gic-sysregs", "iar1 reads {:#x}, {} undef", iar & 0xff_ffff, t.faults)
    } else {
        pass!("attack-gic-sysregs", "{} of 4 accesses undef", t.faults)
    }
}

/// Cache maintenance by set/way (trapped by HCR_EL2.TSW), including
/// out-of-range levels/sets/ways: completes without an exception.
fn dc_setway() {
    const VALS: [u64; 8] = [0, 2, 0x40, 0x8000_0040, 0xc000_0fc2, 0xe, 0xffff_fffe, u64::MAX];
    for v in VALS {
        for (op, f) in [
            ("dc isw", probe!("dc isw, {v}"; v = in(reg) v)),
            ("dc csw", probe!("dc csw, {v}"; v = in(reg) v)),
            ("dc cisw", probe!("dc cisw, {v}"; v = in(reg) v)),
        ] {
            if let Some(f) = f {
                return fail!("attack-dc-setway", "{} {:#x}: {}", op, v, FaultText(f));
            }
        }
    }
    arch::dsb_sy();
    pass!("attack-dc-setway", "{} set/way ops done", VALS.len() * 3)
}

/// WFE (trapped by HCR_EL2.TWE) with the event register set, many times.
fn wfe() {
    let t0 = now();
    for _ in 0..1000 {
        // SAFETY: SEVL sets the local event register so WFE returns at once.
        unsafe { core::arch::asm!("sevl", "wfe", options(nomem, nostack, preserves_flags)) }
    }
    pass!("attack-wfe", "1000 sevl+wfe in {} us", us_from_ticks(now() - t0))
}

/// 10,000 HVC calls, PSCI_VERSION and an unknown id alternating.
fn hvc_flood() {
    let version = match psci::hvc(psci::PSCI_VERSION, 0, 0, 0) {
        Ok(v) => v,
        Err(f) => return fail!("attack-hvc-flood", "PSCI_VERSION raised {}", FaultText(f)),
    };
    let t0 = now();
    for i in 0..10_000u32 {
        let (fid, want) = if i % 2 == 0 {
            (psci::PSCI_VERSION, version)
        } else {
            (UNKNOWN_FID, u64::MAX)
        };
        match psci::hvc(fid, i as u64, 0, 0) {
            Ok(v) if v == want => {}
            Ok(v) => return fail!("attack-hvc-flood", "call {} returned {:#x}", i, v),
            Err(f) => return fail!("attack-hvc-flood", "call {} raised {}", i, FaultText(f)),
        }
    }
    let us = us_from_ticks(now() - t0);
    pass!("attack-hvc-flood", "10000 calls in {} us ({} ns each)", us, us / 10)
}

/// 1,000 SMC calls with an unknown id.
fn smc_flood() {
    let t0 = now();
    for i in 0..1000u32 {
        match psci::call(Conduit::Smc, UNKNOWN_FID, 0, 0, 0) {
            Ok(v) if v == u64::MAX => {}
            Ok(v) => return fail!("attack-smc-flood", "call {} returned {:#x}", i, v),
            Err(f) => return fail!("attack-smc-flood", "call {} raised {}", i, FaultText(f)),
        }
    }
    pass!("attack-smc-flood", "1000 calls in {} us", us_from_ticks(now() - t0))
}

/// mode=crash: drop the vectors and take an exception. The hypervisor is
/// expected to end the domain (the vector at VBAR_EL1 0 + 0x200 is not
/// guest RAM). `crash=abort` takes a data abort 2 MiB past the end of RAM
/// instead of executing UDF; `crash=vectored` keeps the vectors (the guest
/// itself reports the unexpected exception and powers off: a self-test).
pub fn crash(env: &Env) {
    let how = env.arg("crash").unwrap_or(b"udf");
    say!("crashing now");
    if how != b"vectored" {
        crate::msr!("vbar_el1", 0);
    }
    if how == b"abort" {
        let a = ram_end(env) + (2 << 20);
        // SAFETY: deliberately faults; nothing after it is expected to run.
        unsafe { core::arch::asm!("ldr {v:w}, [{a}]", a = in(reg) a, v = out(reg) _) }
    } else {
        // SAFETY: as above; UDF is permanently undefined.
        unsafe { core::arch::asm!("udf #0") }
    }
    fail!("crash", "still running after the exception");
}
