//! Interrupt checks through a GICv3 or a GICv2, whichever the device tree
//! describes. GICv3: the distributor and redistributors (MMIO, from the
//! arm,gic-v3 node) and the CPU interface (ICC_* system registers). GICv2
//! (arm,gic-400 or arm,cortex-a15-gic, as Xen gives a domU on a GICv2
//! host): the distributor, whose SGI/PPI registers are banked per CPU, and
//! the memory-mapped CPU interface (GICC, the hypervisor's GICV behind
//! it); SGIs through GICD_SGIR by CPU-interface bit. The checks are the
//! same on both. mode=irq, the end of mode=normal with irq=1, and
//! hostile-gic (mode=attack, mode=gic-attack).
//!
//! The boot vCPU reaches GIC registers through probes (`rd`/`wr`), so an
//! abort is counted and reported instead of ending the run. The IRQ
//! handler and the second vCPU use plain MMIO (mmio.rs). Counters the
//! handler keeps are per vCPU and written by that vCPU only (plain
//! loads/stores: no exclusives with the MMU off).

use crate::arch::{self, deadline_ms, now, past, ticks_from_ms, us_from_ticks};
use crate::checks::{probe_read, probe_write};
use crate::exc::Fault;
use crate::fdt::{read_cells, Walk};
use crate::out::{Buf, ByteText, FaultText};
use crate::{boot, fail, mmio, mrs, msr, pass, probe, psci, say, uart, Env};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

// Distributor (and, at the same offsets in the SGI_base frame, the
// redistributor's SGI/PPI registers).
const D_CTLR: u64 = 0x0;
const D_TYPER: u64 = 0x4;
const D_IIDR: u64 = 0x8;
const IGROUPR: u64 = 0x80;
const ISENABLER: u64 = 0x100;
const ICENABLER: u64 = 0x180;
const ISPENDR: u64 = 0x200;
const ICPENDR: u64 = 0x280;
const ISACTIVER: u64 = 0x300;
const ICACTIVER: u64 = 0x380;
const IPRIORITYR: u64 = 0x400;
const ICFGR: u64 = 0xc00;
const D_IROUTER: u64 = 0x6000;
const PIDR2: u64 = 0xffe8;
// GICv2 distributor registers that GICv3 does not have (or has elsewhere).
const V2_ITARGETSR: u64 = 0x800;
const V2_SGIR: u64 = 0xf00;
const V2_SPENDSGIR: u64 = 0xf20;
const V2_PIDR2: u64 = 0xfe8;
// GICv2 CPU interface.
const C_CTLR: u64 = 0x00;
const C_PMR: u64 = 0x04;
const C_BPR: u64 = 0x08;
const C_IAR: u64 = 0x0c;
const C_EOIR: u64 = 0x10;
const C_HPPIR: u64 = 0x18;
/// GICD_CTLR: EnableGrp0 (DS=1) / EnableGrp1NS, EnableGrp1A / EnableGrp1
/// (DS=1), ARE(_NS), RWP. Written as Linux does (bits 0, 1, 4).
const CTLR_EN: u32 = 0b11;
const CTLR_ARE: u32 = 1 << 4;
const CTLR_RWP: u32 = 1 << 31;
// Redistributor RD_base frame; the SGI_base frame follows at +64 KiB.
const R_CTLR: u64 = 0x0;
const R_TYPER: u64 = 0x8;
const R_WAKER: u64 = 0x14;
const SGI: u64 = 0x1_0000;
// PL011 / SBSA UART interrupt registers.
const UARTIMSC: u64 = 0x38;
const UARTMIS: u64 = 0x40;
const UARTICR: u64 = 0x44;
/// RXIM (4) | RTIM (6): receive and receive-timeout interrupts.
const UART_RX_INTS: u32 = 0x50;

/// CPU_ON context id that sends the second vCPU to `secondary`.
pub const SECONDARY_CTX: u64 = 0x6e51_9e57_0000_0001;

static GICD: AtomicU64 = AtomicU64::new(0);
/// GICv2: 1, and the CPU interface; each vCPU's interface bit (boot, second).
static V2: AtomicU32 = AtomicU32::new(0);
static GICC: AtomicU64 = AtomicU64::new(0);
static MASK: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
/// RD_base of the boot vCPU's (0) and the second vCPU's (1) redistributor.
static RD: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// MPIDR affinity of the boot vCPU (index 0 in the counters).
static PRIMARY: AtomicU64 = AtomicU64::new(u64::MAX);
/// Whether IRQs go to `on_irq` (else exc.rs reports them as stray).
static ARMED: AtomicU32 = AtomicU32::new(0);
/// Interrupts taken per vCPU and INTID (< 64); others in OTHER.
static TAKEN: [[AtomicU32; 64]; 2] = [const { [const { AtomicU32::new(0) }; 64] }; 2];
static OTHER: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
static SPURIOUS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
/// INTIDs the boot vCPU took, in order (first 16), and how many.
static ORDER: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
static NORDER: AtomicU32 = AtomicU32::new(0);
/// CNTVCT right after the boot vCPU's last acknowledge.
static T_IRQ: AtomicU64 = AtomicU64::new(0);
/// spi-pending's INTID (0: none) and what the handler saw after the
/// acknowledge: 0x100 | pending (bit 0) | active (bit 1).
static SPI_ID: AtomicU32 = AtomicU32::new(0);
static SPI_SEEN: AtomicU32 = AtomicU32::new(0);
/// uart-irq's INTID (0: none), first byte, bytes read, interrupts, UARTMIS.
static UART_ID: AtomicU32 = AtomicU32::new(0);
static UART_FIRST: AtomicU32 = AtomicU32::new(0);
static UART_N: AtomicU32 = AtomicU32::new(0);
static UART_HITS: AtomicU32 = AtomicU32::new(0);
static UART_MIS: AtomicU32 = AtomicU32::new(0);
/// The second vCPU's progress (S_*), set by both sides.
static S_STATE: AtomicU32 = AtomicU32::new(0);
const S_READY: u32 = 1;
const S_GO: u32 = 2;
const S_STOP: u32 = 3;
const S_FAILED: u32 = 0x100;
/// vtimer-irq passed: the virtual timer can pace uart-irq's WFI idle.
static VT_OK: AtomicU32 = AtomicU32::new(0);
/// GIC register accesses of the boot vCPU that aborted, and the last one.
static ABORTS: AtomicU32 = AtomicU32::new(0);
static ABORT_AT: AtomicU64 = AtomicU64::new(0);

/// What the device tree and GICD_TYPER say about the GIC.
pub struct Gic {
    d: u64,
    /// GICv2: the CPU interface (0 on a GICv3).
    c: u64,
    regions: [(u64, u64); 4],
    nreg: usize,
    /// redistributor-stride (0: by GICR_TYPER.VLPIS).
    stride: u64,
    typer: u32,
    /// Highest SPI INTID GICD_TYPER.ITLinesNumber allows (31: none).
    max_intid: u32,
    /// RD_base of the frame with GICR_TYPER.Last.
    last_rd: u64,
}

fn inc(a: &AtomicU32) {
    a.store(a.load(Relaxed).wrapping_add(1), Relaxed);
}

fn cpu() -> usize {
    (arch::mpidr() != PRIMARY.load(Relaxed)) as usize
}

fn taken(c: usize, id: u32) -> u32 {
    TAKEN[c][id as usize].load(Relaxed)
}

/// Interrupts vCPU `c` took since `reset`, spurious ones not counted.
fn total(c: usize) -> u32 {
    TAKEN[c].iter().map(|a| a.load(Relaxed)).sum::<u32>() + OTHER[c].load(Relaxed)
}

fn reset(c: usize) {
    TAKEN[c].iter().for_each(|a| a.store(0, Relaxed));
    OTHER[c].store(0, Relaxed);
    SPURIOUS[c].store(0, Relaxed);
    if c == 0 {
        NORDER.store(0, Relaxed);
    }
}

/// Affinity as GICR_TYPER[63:32] holds it: Aff3.Aff2.Aff1.Aff0.
fn aff32(mpidr: u64) -> u32 {
    (mpidr & 0xff_ffff) as u32 | (((mpidr >> 32) & 0xff) as u32) << 24
}

/// ICC_SGI1R_EL1 value sending SGI `id` to the vCPU with affinity `mpidr`.
fn sgi1r(id: u32, mpidr: u64) -> u64 {
    let aff0 = mpidr & 0xff;
    (1 << (aff0 & 0xf))
        | ((mpidr >> 8) & 0xff) << 16
        | ((id & 0xf) as u64) << 24
        | ((mpidr >> 16) & 0xff) << 32
        | (aff0 >> 4) << 44
        | ((mpidr >> 32) & 0xff) << 48
}

fn note_abort(a: u64) {
    inc(&ABORTS);
    ABORT_AT.store(a, Relaxed);
}

/// A GIC register read on the boot vCPU; an abort reads as all ones.
fn rd(a: u64) -> u32 {
    probe_read(a).unwrap_or_else(|_| {
        note_abort(a);
        u32::MAX
    })
}

fn wr(a: u64, v: u32) {
    if probe_write(a, v).is_some() {
        note_abort(a);
    }
}

/// Spins until `f()` holds (true) or `ms` pass (false).
fn until(ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = deadline_ms(ms);
    loop {
        if f() {
            return true;
        }
        if past(end) {
            return false;
        }
        core::hint::spin_loop();
    }
}

fn settle(ms: u64) {
    until(ms, || false);
}

/// Compatibles of a GICv2 (Xen gives a domU arm,gic-400; QEMU's virt
/// board says arm,cortex-a15-gic).
const V2_COMPAT: [&[u8]; 2] = [b"arm,gic-400", b"arm,cortex-a15-gic"];

fn is_v2() -> bool {
    V2.load(Relaxed) != 0
}

/// Whether the device tree has an arm,gic-v3 or a GICv2 node.
pub fn present(env: &Env) -> bool {
    env.fdt.as_ref().is_some_and(|f| {
        f.find_compatible(b"arm,gic-v3").is_some()
            || V2_COMPAT.iter().any(|c| f.find_compatible(c).is_some())
    })
}

fn from_dt(env: &Env) -> Option<Gic> {
    let f = env.fdt.as_ref()?;
    let Some(n) = f.find_compatible(b"arm,gic-v3") else {
        let n = V2_COMPAT.iter().find_map(|c| f.find_compatible(c))?;
        V2.store(1, Relaxed);
        let (d, c) = (n.reg(0)?.0, n.reg(1)?.0);
        return Some(Gic { d, c, regions: [(0, 0); 4], nreg: 0, stride: 0, typer: 0,
                          max_intid: 31, last_rd: 0 });
    };
    V2.store(0, Relaxed);
    let nreg = n
        .prop(b"#redistributor-regions")
        .and_then(|v| read_cells(v, 0, 1))
        .unwrap_or(1)
        .clamp(1, 4) as usize;
    let mut regions = [(0, 0); 4];
    for (i, r) in regions.iter_mut().enumerate().take(nreg) {
        *r = n.reg(1 + i)?;
    }
    let stride = n
        .prop(b"redistributor-stride")
        .and_then(|v| read_cells(v, 0, if v.len() == 8 { 2 } else { 1 }))
        .unwrap_or(0);
    Some(Gic { d: n.reg(0)?.0, c: 0, regions, nreg, stride, typer: 0, max_intid: 31, last_rd: 0 })
}

/// Walks the redistributor frames (until GICR_TYPER.Last or the end of
/// each region) for the one whose affinity is `aff`; records the last.
fn find_rdist(g: &mut Gic, aff: u32) -> Option<u64> {
    let mut found = None;
    for &(base, size) in &g.regions[..g.nreg] {
        let mut a = base;
        for _ in 0..1024 {
            if a.wrapping_sub(base) >= size || !matches!((rd(a + PIDR2) >> 4) & 0xf, 3 | 4) {
                break;
            }
            let lo = rd(a + R_TYPER);
            if rd(a + R_TYPER + 4) == aff && found.is_none() {
                found = Some(a);
            }
            if lo & 0x10 != 0 {
                g.last_rd = a;
                break;
            }
            a += match g.stride {
                0 if lo & 2 != 0 => 0x4_0000, // VLPIS: VLPI and reserved frames too
                0 => 0x2_0000,
                s => s,
            };
        }
    }
    found
}

/// Waits (<= 100 ms) for a register's RWP-style bit to clear.
fn wait_clear(r: fn(u64) -> u32, a: u64, bit: u32) -> bool {
    until(100, || r(a) & bit == 0)
}

/// Wakes a redistributor and puts its SGIs/PPIs in a known state: group
/// 1, disabled, not pending or active, priority 0xa0. `r`/`w` are the
/// probe accessors on the boot vCPU, plain MMIO on the second.
fn rdist_setup(rdb: u64, r: fn(u64) -> u32, w: fn(u64, u32)) -> Result<(), &'static str> {
    w(rdb + R_WAKER, r(rdb + R_WAKER) & !2); // ProcessorSleep
    if !wait_clear(r, rdb + R_WAKER, 4) {
        return Err("GICR_WAKER.ChildrenAsleep stays set");
    }
    w(rdb + SGI + IGROUPR, !0);
    private_setup(rdb + SGI, w);
    if !wait_clear(r, rdb + R_CTLR, 1 << 3) {
        return Err("GICR_CTLR.RWP stays set");
    }
    Ok(())
}

/// SGIs and PPIs of this vCPU (GICv3 SGI_base frame, GICv2 distributor:
/// the same offsets) disabled, not pending or active, priority 0xa0.
fn private_setup(frame: u64, w: fn(u64, u32)) {
    w(frame + ICENABLER, !0);
    w(frame + ICPENDR, !0);
    w(frame + ICACTIVER, !0);
    for i in 0..8 {
        w(frame + IPRIORITYR + 4 * i, 0xa0a0_a0a0);
    }
}

/// GICv2: this vCPU's SGIs and PPIs and its CPU interface (all
/// priorities, EnableGrp0: everything is group 0); records its interface
/// bit from GICD_ITARGETSR0 in MASK[c]. Returns GICC_CTLR as read back.
fn v2_cpu_setup(c: usize, r: fn(u64) -> u32, w: fn(u64, u32)) -> Result<u32, &'static str> {
    let (d, cc) = (GICD.load(Relaxed), GICC.load(Relaxed));
    let mask = r(d + V2_ITARGETSR) & 0xff;
    if mask == 0 {
        return Err("GICD_ITARGETSR0 reads 0 (no CPU interface bit)");
    }
    MASK[c].store(mask, Relaxed);
    private_setup(d, w);
    w(cc + C_PMR, 0xff);
    w(cc + C_BPR, 0);
    w(cc + C_CTLR, 1);
    Ok(r(cc + C_CTLR))
}

/// gic-init's work: distributor, this vCPU's redistributor, CPU interface.
fn init(env: &Env) -> Result<Gic, Buf> {
    let mut e = Buf::new();
    let Some(mut g) = from_dt(env) else {
        let _ = write!(e, "no usable arm,gic-v3 or GICv2 node");
        return Err(e);
    };
    if is_v2() {
        return init_v2(g);
    }
    let d = g.d;
    let before = ABORTS.load(Relaxed);
    if let Some(f) = probe!("mrs {v}, icc_sre_el1"; v = out(reg) _) {
        let _ = write!(e, "ICC_SRE_EL1 raised {}", FaultText(f));
        return Err(e);
    }
    let pidr = rd(d + PIDR2);
    if (pidr >> 4) & 0xf != 3 {
        let _ = write!(e, "GICD_PIDR2 {:#x} at {:#x}: ArchRev not 3", pidr, d + PIDR2);
        return Err(e);
    }
    wr(d + D_CTLR, 0);
    let mut ok = wait_clear(rd, d + D_CTLR, CTLR_RWP);
    wr(d + D_CTLR, CTLR_ARE);
    ok &= wait_clear(rd, d + D_CTLR, CTLR_RWP);
    g.typer = rd(d + D_TYPER);
    let lines = g.typer & 0x1f;
    g.max_intid = (32 * (lines + 1) - 1).min(1019);
    for i in 1..=lines as u64 {
        wr(d + IGROUPR + 4 * i, !0);
        wr(d + ICENABLER + 4 * i, !0);
    }
    ok &= wait_clear(rd, d + D_CTLR, CTLR_RWP);
    wr(d + D_CTLR, CTLR_ARE | CTLR_EN);
    ok &= wait_clear(rd, d + D_CTLR, CTLR_RWP);
    let ctlr = rd(d + D_CTLR);
    if !ok || ctlr & CTLR_ARE == 0 || ctlr & CTLR_EN == 0 {
        let _ = write!(e, "GICD_CTLR reads {:#x} (want ARE, EnableGrp1; RWP clear)", ctlr);
        return Err(e);
    }
    let me = arch::mpidr();
    PRIMARY.store(me, Relaxed);
    GICD.store(d, Relaxed);
    let Some(rdb) = find_rdist(&mut g, aff32(me)) else {
        let _ = write!(e, "no redistributor with affinity {:#x}", aff32(me));
        return Err(e);
    };
    RD[0].store(rdb, Relaxed);
    let rpidr = rd(rdb + PIDR2);
    if (rpidr >> 4) & 0xf != 3 {
        let _ = write!(e, "GICR_PIDR2 {:#x} at {:#x}: ArchRev not 3", rpidr, rdb + PIDR2);
        return Err(e);
    }
    if let Err(m) = rdist_setup(rdb, rd, wr) {
        let _ = write!(e, "{}", m);
        return Err(e);
    }
    let sre = arch::icc_init();
    if sre & 1 == 0 {
        let _ = write!(e, "ICC_SRE_EL1 reads {:#x}: SRE stays 0", sre);
        return Err(e);
    }
    let n = ABORTS.load(Relaxed) - before;
    if n != 0 {
        let _ = write!(e, "{} register accesses aborted, last at {:#x}", n, ABORT_AT.load(Relaxed));
        return Err(e);
    }
    reset(0);
    ARMED.store(1, Relaxed);
    Ok(g)
}

/// gic-init on a GICv2: distributor (ArchRev 2, SPIs disabled, enabled),
/// this vCPU's banked SGIs/PPIs and its CPU interface.
fn init_v2(mut g: Gic) -> Result<Gic, Buf> {
    let mut e = Buf::new();
    let d = g.d;
    let before = ABORTS.load(Relaxed);
    let pidr = rd(d + V2_PIDR2);
    if (pidr >> 4) & 0xf != 2 {
        let _ = write!(e, "GICD_PIDR2 {:#x} at {:#x}: ArchRev not 2", pidr, d + V2_PIDR2);
        return Err(e);
    }
    wr(d + D_CTLR, 0);
    g.typer = rd(d + D_TYPER);
    let lines = g.typer & 0x1f;
    g.max_intid = (32 * (lines + 1) - 1).min(1019);
    for i in 1..=lines as u64 {
        wr(d + ICENABLER + 4 * i, !0);
    }
    wr(d + D_CTLR, 1);
    let ctlr = rd(d + D_CTLR);
    if ctlr & 1 == 0 {
        let _ = write!(e, "GICD_CTLR reads {:#x} (want Enable)", ctlr);
        return Err(e);
    }
    PRIMARY.store(arch::mpidr(), Relaxed);
    GICD.store(d, Relaxed);
    GICC.store(g.c, Relaxed);
    match v2_cpu_setup(0, rd, wr) {
        Ok(c) if c & 1 != 0 => {}
        Ok(c) => {
            let _ = write!(e, "GICC_CTLR reads {:#x}: EnableGrp0 stays 0", c);
            return Err(e);
        }
        Err(m) => {
            let _ = write!(e, "{}", m);
            return Err(e);
        }
    }
    let n = ABORTS.load(Relaxed) - before;
    if n != 0 {
        let _ = write!(e, "{} register accesses aborted, last at {:#x}", n, ABORT_AT.load(Relaxed));
        return Err(e);
    }
    reset(0);
    ARMED.store(1, Relaxed);
    Ok(g)
}

/// Acknowledges an interrupt: (INTID, the value to end it with).
fn ack() -> (u32, u64) {
    if is_v2() {
        let iar = mmio::read32(GICC.load(Relaxed) + C_IAR);
        (iar & 0x3ff, iar as u64)
    } else {
        let iar = arch::icc_iar1();
        ((iar & 0xff_ffff) as u32, iar)
    }
}

fn eoi(raw: u64) {
    if is_v2() {
        mmio::write32(GICC.load(Relaxed) + C_EOIR, raw as u32);
    } else {
        arch::icc_eoir1(raw);
    }
}

/// The highest-priority pending interrupt's INTID (ICC_HPPIR1_EL1 or
/// GICC_HPPIR).
fn hppir() -> u32 {
    if is_v2() {
        rd(GICC.load(Relaxed) + C_HPPIR) & 0x3ff
    } else {
        (arch::icc_hppir1() & 0xff_ffff) as u32
    }
}

/// Sends SGI `id` to the vCPU with affinity `mpidr` (this one or the
/// other one the checks use).
fn sgi(id: u32, mpidr: u64) {
    if is_v2() {
        let c = (mpidr != PRIMARY.load(Relaxed)) as usize;
        arch::dsb_sy();
        mmio::write32(GICD.load(Relaxed) + V2_SGIR, MASK[c].load(Relaxed) << 16 | (id & 0xf));
    } else {
        arch::icc_sgi1r(sgi1r(id, mpidr));
    }
}

/// Whether IRQs are handled by `on_irq`.
pub fn armed() -> bool {
    ARMED.load(Relaxed) != 0
}

/// The IRQ handler, on either vCPU (called from exc.rs with IRQs masked):
/// acknowledge, act on the INTID, count, end of interrupt.
pub fn on_irq() {
    let c = cpu();
    let (id, iar) = ack();
    let t = now();
    if id >= 1020 {
        return inc(&SPURIOUS[c]);
    }
    crate::bench::on_irq(c, id, t);
    if id == 27 {
        msr!("cntv_ctl_el0", 0); // stop the virtual timer: its line drops
    }
    if id >= 32 && id == SPI_ID.load(Relaxed) {
        let (w, b) = (4 * (id / 32) as u64, 1u32 << (id % 32));
        let d = GICD.load(Relaxed);
        let p = mmio::read32(d + ISPENDR + w) & b != 0;
        let a = mmio::read32(d + ISACTIVER + w) & b != 0;
        SPI_SEEN.store(0x100 | p as u32 | (a as u32) << 1, Relaxed);
    }
    if id >= 32 && id == UART_ID.load(Relaxed) {
        let b = uart::base();
        if UART_HITS.load(Relaxed) == 0 {
            UART_MIS.store(mmio::read32(b + UARTMIS), Relaxed);
        }
        inc(&UART_HITS);
        for _ in 0..64 {
            let Some(ch) = uart::getc() else { break };
            if UART_N.load(Relaxed) == 0 {
                UART_FIRST.store(ch as u32, Relaxed);
            }
            inc(&UART_N);
        }
        mmio::write32(b + UARTICR, 0x7d0); // RX, RT and error interrupts
    }
    if id == crate::xen::EVTCHN_PPI && c == 0 {
        crate::xen::on_upcall();
    }
    if id == 5 && c == 1 {
        sgi(6, PRIMARY.load(Relaxed)); // sgi-cross reply
    }
    if c == 0 {
        T_IRQ.store(t, Relaxed);
        let n = NORDER.load(Relaxed);
        if let Some(o) = ORDER.get(n as usize) {
            o.store(id, Relaxed);
        }
        NORDER.store(n + 1, Relaxed);
    }
    match TAKEN[c].get(id as usize) {
        Some(a) => inc(a),
        None => inc(&OTHER[c]),
    }
    eoi(iar);
}

/// mode=xen: brings the GIC up as gic-init does (without its PASS line)
/// and enables PPI `id` on the boot vCPU (priority 0x80). IRQs stay masked.
pub fn xen_ppi_enable(env: &Env, id: u32) -> Result<(), Buf> {
    if !armed() {
        init(env)?;
    }
    private_enable(id, 0x80);
    Ok(())
}

/// mode=xen: disables PPI `id` on the boot vCPU again.
pub fn xen_ppi_disable(id: u32) {
    private_disable(1 << id);
}

/// mode=bench: brings the GIC up (as gic-init, without its PASS line) and
/// enables the SGIs/PPIs `ids` on the boot vCPU (priority 0x80). IRQs stay
/// masked.
pub fn bench_init(env: &Env, ids: &[u32]) -> Result<(), Buf> {
    if !armed() {
        init(env)?;
    }
    for &id in ids {
        private_enable(id, 0x80);
    }
    Ok(())
}

/// mode=bench, on the boot vCPU before CPU_ON: finds the redistributor of
/// the vCPU `target` for [`bench_secondary_setup`].
pub fn bench_secondary_rd(env: &Env, target: u64) -> bool {
    let Some(mut g) = from_dt(env) else { return false };
    let Some(rdb) = find_rdist(&mut g, aff32(target)) else { return false };
    RD[1].store(rdb, Relaxed);
    reset(1);
    true
}

/// mode=bench, on the second vCPU: wakes its redistributor, sets up its
/// CPU interface and enables the SGIs/PPIs in `mask` (priority 0xa0).
pub fn bench_secondary_setup(mask: u32) -> bool {
    let rdb = RD[1].load(Relaxed);
    let ok = rdist_setup(rdb, mmio::read32, mmio::write32).is_ok() && arch::icc_init() & 1 != 0;
    if ok {
        mmio::write32(rdb + SGI + ISENABLER, mask);
    }
    ok
}

/// mode=bench, on the second vCPU: disables its SGIs and PPIs again.
pub fn bench_secondary_off() {
    mmio::write32(RD[1].load(Relaxed) + SGI + ICENABLER, !0);
}

/// Sends SGI `id` to the vCPU with affinity `mpidr`.
pub fn send_sgi(id: u32, mpidr: u64) {
    arch::icc_sgi1r(sgi1r(id, mpidr));
}

/// MPIDR of a vCPU other than this one (from the device tree).
pub fn other_vcpu(env: &Env) -> Option<u64> {
    other_cpu(env)
}

/// The boot vCPU's SGI/PPI registers: its redistributor's SGI_base
/// frame, or the (banked) GICv2 distributor.
fn sgi_frame() -> u64 {
    if is_v2() {
        GICD.load(Relaxed)
    } else {
        RD[0].load(Relaxed) + SGI
    }
}

/// Read-modify-writes the priority byte of `id` in a frame (GICD or SGI).
fn set_prio(frame: u64, id: u32, prio: u8) {
    let a = frame + IPRIORITYR + (id & !3) as u64;
    let sh = 8 * (id & 3);
    wr(a, (rd(a) & !(0xff << sh)) | (prio as u32) << sh);
}

/// Enables SGI/PPI `id` on the boot vCPU with priority `prio`.
fn private_enable(id: u32, prio: u8) {
    set_prio(sgi_frame(), id, prio);
    wr(sgi_frame() + ISENABLER, 1 << id);
}

fn private_disable(mask: u32) {
    wr(sgi_frame() + ICENABLER, mask);
    if !is_v2() {
        wait_clear(rd, RD[0].load(Relaxed) + R_CTLR, 1 << 3);
    }
}

fn spi_bit(g: &Gic, reg: u64, id: u32) -> u64 {
    g.d + reg + 4 * (id / 32) as u64
}

/// Routes SPI `id` to the boot vCPU (group 1, `prio`, edge or level),
/// clears its pending and active state and enables it.
fn spi_setup(g: &Gic, id: u32, prio: u8, edge: bool) {
    let b = 1u32 << (id % 32);
    wr(spi_bit(g, ICENABLER, id), b);
    if !is_v2() {
        let grp = spi_bit(g, IGROUPR, id);
        wr(grp, rd(grp) | b);
    }
    set_prio(g.d, id, prio);
    let cfg = g.d + ICFGR + 4 * (id / 16) as u64;
    let e = 2u32 << (2 * (id % 16));
    wr(cfg, if edge { rd(cfg) | e } else { rd(cfg) & !e });
    if is_v2() {
        // GICD_ITARGETSR: a byte per interrupt, this vCPU's interface bit.
        let a = g.d + V2_ITARGETSR + (id & !3) as u64;
        let sh = 8 * (id & 3);
        wr(a, (rd(a) & !(0xff << sh)) | MASK[0].load(Relaxed) << sh);
    } else {
        let me = arch::mpidr();
        let r = g.d + D_IROUTER + 8 * id as u64;
        wr(r, (me & 0xff_ffff) as u32); // Aff2.Aff1.Aff0, IRM = 0
        wr(r + 4, ((me >> 32) & 0xff) as u32); // Aff3
    }
    wr(spi_bit(g, ICPENDR, id), b);
    wr(spi_bit(g, ICACTIVER, id), b);
    wr(spi_bit(g, ISENABLER, id), b);
}

fn spi_disable(g: &Gic, id: u32) {
    wr(spi_bit(g, ICENABLER, id), 1 << (id % 32));
    wait_clear(rd, g.d + D_CTLR, CTLR_RWP);
}

fn spi_state(g: &Gic, reg: u64, id: u32) -> bool {
    rd(spi_bit(g, reg, id)) & (1 << (id % 32)) != 0
}

/// Checks of mode=irq (and mode=normal with irq=1), in this order.
pub fn run(env: &Env) {
    let mut g = if env.skipped("gic-init") {
        say!("SKIP gic-init");
        None
    } else {
        match init(env) {
            Ok(g) => {
                let t = g.typer;
                let (what, at) = if is_v2() {
                    ("GICv2, GICC", g.c)
                } else {
                    ("GICv3, GICR", RD[0].load(Relaxed))
                };
                pass!("gic-init", "{} {:#x}, TYPER {:#x} ITLines {} CPUNumber {}, IIDR {:#x}", what,
                      at, t, t & 0x1f, (t >> 5) & 7, rd(g.d + D_IIDR));
                Some(g)
            }
            Err(b) => {
                fail!("gic-init", "{}", b.as_str());
                None
            }
        }
    };
    let checks: [(&str, fn(&Env, &mut Gic)); 6] = [
        ("vtimer-irq", vtimer_irq),
        ("sgi-self", sgi_self),
        ("sgi-cross", sgi_cross),
        ("many-pending", many_pending),
        ("spi-pending", spi_pending),
        ("uart-irq", uart_irq),
    ];
    for (name, check) in checks {
        if env.skipped(name) {
            say!("SKIP {}", name);
        } else if let Some(g) = g.as_mut() {
            let before = ABORTS.load(Relaxed);
            check(env, g);
            let n = ABORTS.load(Relaxed) - before;
            if n != 0 {
                fail!(name, "{} GIC register accesses aborted, last at {:#x}", n,
                      ABORT_AT.load(Relaxed));
            }
        } else {
            fail!(name, "no GIC (gic-init did not pass)");
        }
    }
    arch::mask_irq();
}

/// The virtual timer's PPI (27) arrives through the GIC, not before its
/// deadline and not much after it; the handler stops the timer.
fn vtimer_irq(env: &Env, _g: &mut Gic) {
    const N: u32 = 5;
    let poll = env.arg("wfi") == Some(b"poll");
    let ticks = ticks_from_ms(2);
    private_enable(27, 0x80);
    let (mut lo, mut hi, mut wfis) = (u64::MAX, 0u64, 0u32);
    for round in 1..=N {
        reset(0);
        arch::mask_irq();
        msr!("cntv_ctl_el0", 0);
        let t0 = now();
        msr!("cntv_tval_el0", ticks);
        msr!("cntv_ctl_el0", 1); // ENABLE, IMASK clear
        let cval = mrs!("cntv_cval_el0");
        let end = t0 + ticks_from_ms(100);
        // WFI with IRQs masked wakes on the pending interrupt; it is taken
        // at the unmask. (No race: the check happens while masked.)
        while taken(0, 27) == 0 && !past(end) {
            if !poll {
                arch::wfi();
                wfis += 1;
            }
            arch::unmask_irq();
            arch::mask_irq();
        }
        let ctl = mrs!("cntv_ctl_el0");
        msr!("cntv_ctl_el0", 0);
        let t = T_IRQ.load(Relaxed);
        if taken(0, 27) == 0 {
            return fail!("vtimer-irq", "round {}: no IRQ 27 in 100 ms (CNTV_CTL {:#x}, {} wfi)",
                         round, ctl, wfis);
        }
        if total(0) != 1 {
            return fail!("vtimer-irq", "round {}: {} interrupts taken, want 1", round, total(0));
        }
        if t < cval {
            return fail!("vtimer-irq", "round {}: IRQ {} us before CNTV_CVAL", round,
                         us_from_ticks(cval - t));
        }
        let dt = t - t0;
        if dt >= ticks_from_ms(100) {
            return fail!("vtimer-irq", "round {}: IRQ after {} us", round, us_from_ticks(dt));
        }
        lo = lo.min(dt);
        hi = hi.max(dt);
    }
    private_disable(1 << 27);
    VT_OK.store(!poll as u32, Relaxed);
    pass!("vtimer-irq", "{} x 2000 us: taken after {}..{} us, {} wfi", N, us_from_ticks(lo),
          us_from_ticks(hi), wfis)
}

/// SGI 3 to this vCPU through ICC_SGI1R_EL1 is taken once.
fn sgi_self(_env: &Env, _g: &mut Gic) {
    private_enable(3, 0x80);
    reset(0);
    let t0 = now();
    sgi(3, arch::mpidr());
    arch::unmask_irq();
    let got = until(100, || taken(0, 3) != 0);
    settle(5);
    arch::mask_irq();
    private_disable(1 << 3);
    let n = total(0);
    if !got {
        fail!("sgi-self", "SGI 3 not taken in 100 ms ({} others)", n)
    } else if taken(0, 3) != 1 || n != 1 {
        fail!("sgi-self", "SGI 3 taken {} times, {} interrupts in all", taken(0, 3), n)
    } else {
        pass!("sgi-self", "SGI 3 taken once, {} us after sending",
              us_from_ticks(T_IRQ.load(Relaxed) - t0))
    }
}

/// MPIDR of a vCPU other than this one.
fn other_cpu(env: &Env) -> Option<u64> {
    let me = arch::mpidr();
    env.cpus[..env.ncpus.min(crate::MAX_CPUS)].iter().copied().find(|&m| m != me)
}

/// Starts the second vCPU in `secondary` (redistributor woken, SGIs 2 and
/// 5 enabled, IRQs still masked) and waits for it to say so.
fn start_secondary(g: &mut Gic, target: u64) -> Result<(), Buf> {
    let mut b = Buf::new();
    if !is_v2() {
        let Some(rdb) = find_rdist(g, aff32(target)) else {
            let _ = write!(b, "no redistributor with affinity {:#x}", aff32(target));
            return Err(b);
        };
        RD[1].store(rdb, Relaxed);
    }
    reset(1);
    S_STATE.store(0, Relaxed);
    match psci::hvc(psci::CPU_ON, target, boot::secondary_entry_pa(), SECONDARY_CTX) {
        Ok(0) => {}
        Ok(v) => {
            let _ = write!(b, "CPU_ON({:#x}) = {}", target, v as i64);
            return Err(b);
        }
        Err(f) => {
            let _ = write!(b, "CPU_ON raised {}", FaultText(f));
            return Err(b);
        }
    }
    if !until(1000, || S_STATE.load(Relaxed) != 0) || S_STATE.load(Relaxed) != S_READY {
        let _ = write!(b, "vCPU {:#x} not ready (state {:#x})", target, S_STATE.load(Relaxed));
        return Err(b);
    }
    Ok(())
}

/// Tells the second vCPU to stop, wakes it (SGI 2) and waits for
/// AFFINITY_INFO = OFF.
fn stop_secondary(target: u64) -> bool {
    S_STATE.store(S_STOP, Relaxed);
    sgi(2, target);
    crate::checks::wait_affinity(target, 1, 1000).is_ok()
}

/// The second vCPU (CPU_ON with SECONDARY_CTX, from checks.rs): wakes
/// its redistributor, enables SGIs 2 (hostile-gic's flood) and 5
/// (sgi-cross), waits for S_GO with IRQs masked, then idles in WFI taking
/// interrupts (the handler answers SGI 5 with SGI 6) until S_STOP (or
/// 10 s), then CPU_OFF. WFI runs with IRQs masked and they are unmasked
/// after it: an SGI that arrives before the WFI still ends it.
pub fn secondary() -> ! {
    let frame = if is_v2() { GICD.load(Relaxed) } else { RD[1].load(Relaxed) + SGI };
    let ok = if is_v2() {
        v2_cpu_setup(1, mmio::read32, mmio::write32).is_ok_and(|c| c & 1 != 0)
    } else {
        rdist_setup(frame - SGI, mmio::read32, mmio::write32).is_ok() && arch::icc_init() & 1 != 0
    };
    if ok {
        mmio::write32(frame + ISENABLER, (1 << 2) | (1 << 5));
        S_STATE.store(S_READY, Relaxed);
        arch::dsb_sy();
        if until(5000, || S_STATE.load(Relaxed) >= S_GO) {
            let end = deadline_ms(10_000);
            loop {
                arch::mask_irq();
                if S_STATE.load(Relaxed) == S_STOP || past(end) {
                    break;
                }
                arch::wfi();
                arch::unmask_irq();
            }
        }
        mmio::write32(frame + ICENABLER, !0);
    } else {
        S_STATE.store(S_FAILED, Relaxed);
    }
    arch::dsb_sy();
    psci::raw_hvc(psci::CPU_OFF, 0, 0, 0);
    loop {
        arch::wfe();
    }
}

/// 100 SGI round trips: SGI 5 to the second vCPU, whose handler answers
/// with SGI 6 to this one.
fn sgi_cross(env: &Env, g: &mut Gic) {
    const N: u32 = 100;
    let Some(target) = other_cpu(env) else {
        return say!("SKIP sgi-cross (1 vCPU)");
    };
    if let Err(b) = start_secondary(g, target) {
        return fail!("sgi-cross", "{}", b.as_str());
    }
    private_enable(6, 0x80);
    reset(0);
    S_STATE.store(S_GO, Relaxed);
    arch::unmask_irq();
    let t0 = now();
    let mut done = 0;
    while done < N {
        sgi(5, target);
        if !until(100, || taken(0, 6) > done) {
            break;
        }
        done += 1;
    }
    let us = us_from_ticks(now() - t0);
    settle(2);
    arch::mask_irq();
    private_disable(1 << 6);
    let (got5, got6, all1) = (taken(1, 5), taken(0, 6), total(1));
    let off = stop_secondary(target);
    if done < N {
        fail!("sgi-cross", "round trip {} timed out ({} SGI 5 taken by {:#x}, {} SGI 6)",
              done + 1, got5, target, got6)
    } else if got5 != N || got6 != N || total(0) != N || all1 != N {
        fail!("sgi-cross", "SGI 5 taken {} x, SGI 6 {} x, {}/{} interrupts in all", got5, got6,
              all1, total(0))
    } else if !off {
        fail!("sgi-cross", "vCPU {:#x} did not power off", target)
    } else {
        pass!("sgi-cross", "{} round trips with vCPU {:#x} in {} us ({} us each)", N, target,
              us, us / N as u64)
    }
}

/// SGIs 8..15 and their priorities; the order they must be taken in.
const MP_PRIO: [u32; 2] = [0x4070_2060, 0x0030_5010]; // 8:60 9:20 10:70 11:40 12:10 13:50 14:30 15:00
const MP_ORDER: [u32; 8] = [15, 12, 9, 14, 11, 13, 8, 10];

/// Eight SGIs pending at once (more than QEMU's 4 list registers) are
/// all taken, once each, highest priority first; set pending through
/// ICC_SGI1R_EL1 (GICD_SGIR), then through GICR_ISPENDR0 (GICv2, whose
/// ISPENDR0 cannot set SGIs: GICD_SPENDSGIR).
fn many_pending(_env: &Env, _g: &mut Gic) {
    let s = sgi_frame();
    wr(s + IPRIORITYR + 8, MP_PRIO[0]);
    wr(s + IPRIORITYR + 12, MP_PRIO[1]);
    wr(s + ISENABLER, 0xff00);
    let mut info = Buf::new();
    let how2 = if is_v2() { "SPENDSGIR" } else { "ISPENDR0" };
    for how in [if is_v2() { "SGIR" } else { "SGI1R" }, how2] {
        reset(0);
        arch::mask_irq();
        if how != how2 {
            for id in 8..16 {
                sgi(id, arch::mpidr());
            }
        } else if is_v2() {
            // A byte per SGI, a bit per source: from this vCPU.
            let from = MASK[0].load(Relaxed) * 0x0101_0101;
            wr(s + V2_SPENDSGIR + 8, from);
            wr(s + V2_SPENDSGIR + 12, from);
        } else {
            wr(s + ISPENDR, 0xff00);
        }
        settle(1);
        let pend = rd(s + ISPENDR) & 0xff00;
        let hppir = hppir();
        arch::unmask_irq();
        until(100, || NORDER.load(Relaxed) >= 8);
        settle(5);
        arch::mask_irq();
        let _ = write!(info, " {:#x}/{}", pend, hppir);
        let n = NORDER.load(Relaxed);
        let order = |i: usize| ORDER[i].load(Relaxed);
        if n != 8 || total(0) != 8 || (0..8).any(|i| order(i) != MP_ORDER[i]) {
            let mut b = Buf::new();
            for i in 0..(n as usize).min(ORDER.len()) {
                let _ = write!(b, "{}{}", if i == 0 { "" } else { "," }, order(i));
            }
            private_disable(0xff00);
            return fail!("many-pending", "via {}: {} taken, order {} (want 15,12,9,14,11,13,8,10)",
                         how, n, b.as_str());
        }
    }
    private_disable(0xff00);
    say!("info many-pending ISPENDR0/HPPIR before unmask:{}", info.as_str());
    pass!("many-pending", "8 SGIs via SGI register and {}: each once, by priority", how2)
}

/// An SPI set pending through GICD_ISPENDR: GICD_ICPENDR clears it
/// untaken; set again, it is taken once, pending clear and active set
/// after the acknowledge, active clear after the EOI.
fn spi_pending(env: &Env, g: &mut Gic) {
    let id = if uart_intid(env) == Some(40) { 41 } else { 40 };
    if g.max_intid < id {
        return fail!("spi-pending", "GICD_TYPER {:#x}: no INTID {}", g.typer, id);
    }
    spi_setup(g, id, 0x80, true);
    let bit = 1u32 << (id % 32);
    reset(0);
    SPI_SEEN.store(0, Relaxed);
    SPI_ID.store(id, Relaxed);
    arch::mask_irq();
    wr(spi_bit(g, ISPENDR, id), bit);
    let p1 = spi_state(g, ISPENDR, id);
    wr(spi_bit(g, ICPENDR, id), bit);
    let p2 = spi_state(g, ISPENDR, id);
    arch::unmask_irq();
    settle(10);
    arch::mask_irq();
    let early = total(0);
    wr(spi_bit(g, ISPENDR, id), bit);
    arch::unmask_irq();
    let got = until(100, || taken(0, id) != 0);
    settle(5);
    arch::mask_irq();
    let seen = SPI_SEEN.load(Relaxed);
    let (p3, a3) = (spi_state(g, ISPENDR, id), spi_state(g, ISACTIVER, id));
    SPI_ID.store(0, Relaxed);
    spi_disable(g, id);
    let r = if !p1 {
        "GICD_ISPENDR does not show it pending"
    } else if p2 {
        "still pending after GICD_ICPENDR"
    } else if early != 0 {
        "taken although GICD_ICPENDR cleared it"
    } else if !got {
        "not taken in 100 ms"
    } else if taken(0, id) != 1 || total(0) != 1 {
        "taken more than once"
    } else if seen & 1 != 0 {
        "still pending after the acknowledge"
    } else if seen & 2 == 0 {
        "not active after the acknowledge (GICD_ISACTIVER)"
    } else if a3 || p3 {
        "active or pending after the EOI"
    } else {
        return pass!("spi-pending", "INTID {}: ISPENDR/ICPENDR, taken once, active until EOI", id);
    };
    fail!("spi-pending", "INTID {}: {}", id, r)
}

/// INTID of the console UART's interrupt, from its DT node.
fn uart_intid(env: &Env) -> Option<u32> {
    let f = env.fdt.as_ref()?;
    let base = uart::base();
    let mut irq = None;
    let _ = f.walk(|n, _| {
        if (n.is_compatible(b"arm,sbsa-uart") || n.is_compatible(b"arm,pl011"))
            && n.reg(0).map(|r| r.0) == Some(base)
        {
            irq = n.prop(b"interrupts");
            return Walk::Stop;
        }
        Walk::Continue
    });
    let v = irq?;
    let num = read_cells(v, 1, 1)? as u32;
    match read_cells(v, 0, 1)? {
        0 => Some(num + 32),
        1 => Some(num + 16),
        _ => None,
    }
}

/// A byte typed on the console raises the UART's RX interrupt (its SPI
/// from the DT), read and cleared in the handler.
fn uart_irq(env: &Env, g: &mut Gic) {
    let Some(id) = uart_intid(env) else {
        return say!("SKIP uart-irq (console UART has no interrupts property)");
    };
    if !(32..=g.max_intid).contains(&id) {
        return fail!("uart-irq", "INTID {} is not an SPI the GIC has", id);
    }
    let ms = env.arg_num("irqrxwait").unwrap_or(3000);
    let b = uart::base();
    for _ in 0..4096 {
        if uart::getc().is_none() {
            break;
        }
    }
    UART_N.store(0, Relaxed);
    UART_HITS.store(0, Relaxed);
    UART_ID.store(id, Relaxed);
    reset(0);
    spi_setup(g, id, 0x80, false);
    let imsc = rd(b + UARTIMSC);
    wr(b + UARTICR, 0x7d0);
    wr(b + UARTIMSC, imsc | UART_RX_INTS);
    // Idle like an OS: WFI, woken by the UART's interrupt or a 10 ms
    // virtual timer tick (only once vtimer-irq showed the timer works;
    // else spin). The UART is not touched outside the handler.
    let tick = VT_OK.load(Relaxed) != 0;
    if tick {
        private_enable(27, 0x80);
    }
    say!("type something (irq)");
    let t0 = now();
    let end = deadline_ms(ms);
    let mut got = false;
    loop {
        arch::mask_irq();
        got = got || UART_N.load(Relaxed) != 0;
        if got || past(end) {
            break;
        }
        if tick {
            if mrs!("cntv_ctl_el0") & 1 == 0 {
                msr!("cntv_tval_el0", ticks_from_ms(10));
                msr!("cntv_ctl_el0", 1);
            }
            arch::wfi();
        }
        arch::unmask_irq();
    }
    let waited = us_from_ticks(now() - t0) / 1000;
    if got {
        arch::unmask_irq();
        settle(50); // the rest of the line arrives through the handler too
        arch::mask_irq();
    }
    msr!("cntv_ctl_el0", 0);
    private_disable(1 << 27);
    wr(b + UARTIMSC, imsc);
    spi_disable(g, id);
    UART_ID.store(0, Relaxed);
    let (n, hits) = (UART_N.load(Relaxed), UART_HITS.load(Relaxed));
    if !got {
        fail!("uart-irq", "no RX interrupt (INTID {}) in {} ms ({}), {} taken", id, ms,
              if tick { "WFI idle" } else { "spinning" }, hits)
    } else {
        pass!("uart-irq", "got {} on INTID {} after {} ms, MIS {:#x}, {} bytes/{} irq",
              ByteText(UART_FIRST.load(Relaxed) as u8), id, waited, UART_MIS.load(Relaxed), n, hits)
    }
}

/// mode=gic-attack: hostile-gic alone.
pub fn attack_alone(env: &Env) {
    hostile(env);
}

#[derive(Clone, Copy)]
enum Op {
    R8,
    W8(u8),
    R32,
    W32(u32),
    R64,
    W64(u64),
}

/// One access of any size as a probe: Ok(value read, 0 for writes).
fn access(a: u64, op: Op) -> Result<u64, Fault> {
    let v: u64;
    let f = match op {
        Op::R8 => probe!("ldrb {v:w}, [{a}]"; a = in(reg) a, v = out(reg) v),
        Op::R64 => probe!("ldr {v}, [{a}]"; a = in(reg) a, v = out(reg) v),
        Op::R32 => return probe_read(a).map(u64::from),
        Op::W8(x) => {
            v = 0;
            probe!("strb {x:w}, [{a}]"; a = in(reg) a, x = in(reg) x as u32)
        }
        Op::W32(x) => {
            v = 0;
            probe_write(a, x)
        }
        Op::W64(x) => {
            v = 0;
            probe!("str {x}, [{a}]"; a = in(reg) a, x = in(reg) x)
        }
    };
    match f {
        Some(f) => Err(f),
        None => Ok(v),
    }
}

/// hostile-gic: reserved, out-of-range, read-only and wrongly sized GIC
/// accesses, then 10,000 SGIs to itself and to the other vCPU with IRQs
/// masked; the GIC must still work afterwards. Reserved locations must
/// read as zero after a write of ones, or abort (either is accepted and
/// reported); read-only registers must keep their value.
pub fn hostile(env: &Env) {
    const NAME: &str = "hostile-gic";
    if env.skipped(NAME) {
        return say!("SKIP {}", NAME);
    }
    if !present(env) {
        return say!("SKIP {} (no arm,gic-v3 or GICv2 node)", NAME);
    }
    let mut g = match init(env) {
        Ok(g) => g,
        Err(b) => return fail!(NAME, "GIC setup: {}", b.as_str()),
    };
    let d = g.d;
    let rd0 = RD[0].load(Relaxed);
    let stride = if g.stride != 0 { g.stride } else { 0x2_0000 };
    // Past the last redistributor frame (or, if no frame said Last, past
    // the first redistributor region).
    let beyond = match g.last_rd {
        0 => g.regions[0].0 + g.regions[0].1,
        l => l + stride,
    };
    let ctlr0 = rd(d + D_CTLR);
    let en0 = rd(sgi_frame() + ISENABLER);
    let v2 = is_v2();
    let beyond_id = (g.max_intid + 1) as u64;
    let mut n = 0u32;
    let mut aborts = 0u32;
    let mut first: Option<Fault> = None;
    let mut bad = Buf::new();
    let mut run = |a: u64, op: Op| -> Option<u64> {
        n += 1;
        match access(a, op) {
            Ok(v) => Some(v),
            Err(f) => {
                aborts += 1;
                first.get_or_insert(f);
                None
            }
        }
    };
    // Read-only registers: a write of ones (zero for PIDR2) changes nothing.
    // GICv2: its ID registers, the banked ITARGETSR0 and the SGIs' ICFGR0.
    let ro = if v2 {
        [d + D_TYPER, d + D_IIDR, d + V2_PIDR2, d + 0xff0, d + V2_ITARGETSR, d + ICFGR]
    } else {
        [d + D_TYPER, d + D_IIDR, d + PIDR2, d + 0xfff0, rd0 + R_TYPER, rd0 + PIDR2]
    };
    for a in ro {
        let before = run(a, Op::R32);
        let pidr2 = a == d + PIDR2 || a == rd0 + PIDR2 || (v2 && a == d + V2_PIDR2);
        run(a, Op::W32(if pidr2 { 0 } else { !0 }));
        let after = run(a, Op::R32);
        if before != after && bad.is_empty() {
            let _ = write!(bad, "RO {:#x}: {:#x} -> {:#x}", a, before.unwrap_or(0), after.unwrap_or(0));
        }
    }
    // Reserved / out of range: RAZ/WI or abort.
    let reserved_v2: [(u64, Op, Op); 10] = [
        (d + 0x00c, Op::W32(!0), Op::R32),
        (d + 0x040, Op::W32(!0), Op::R32),
        (d + 0xd00, Op::W32(!0), Op::R32),
        (d + 0xf04, Op::W32(!0), Op::R32),
        (d + 0xf30, Op::W32(!0), Op::R32),
        (d + 0xf34, Op::W8(0xff), Op::R8),
        (d + IPRIORITYR + 1020, Op::W32(!0), Op::R32), // INTIDs 1020..1023
        (d + IPRIORITYR + 1023, Op::W8(0xff), Op::R8),
        (d + V2_ITARGETSR + 1020, Op::W32(!0), Op::R32),
        (d + V2_ITARGETSR + 1023, Op::W8(0xff), Op::R8),
    ];
    let reserved_v3: [(u64, Op, Op); 10] = [
        (d + 0x8000, Op::W32(!0), Op::R32),
        (d + 0xa000, Op::W32(!0), Op::R32),
        (d + 0xc000, Op::W32(!0), Op::R32),
        (d + IPRIORITYR + 1020, Op::W32(!0), Op::R32), // INTIDs 1020..1023
        (d + IPRIORITYR + 1023, Op::W8(0xff), Op::R8),
        (d + D_IROUTER + 8 * beyond_id, Op::W64(!0), Op::R64),
        (d + D_IROUTER + 8 * 1019, Op::W64(!0), Op::R64),
        (beyond + R_TYPER, Op::W32(!0), Op::R32),
        (beyond + R_WAKER, Op::W32(0), Op::R32),
        (beyond + SGI + ISENABLER, Op::W32(!0), Op::R32),
    ];
    for (a, w, r) in if v2 { reserved_v2 } else { reserved_v3 } {
        if matches!(w, Op::W64(_)) && g.max_intid >= 1019 {
            continue; // ITLinesNumber 31: every IROUTER is a real one
        }
        run(a, w);
        match run(a, r) {
            Some(v) if v != 0 && bad.is_empty() => {
                let _ = write!(bad, "reserved {:#x} reads {:#x} after a write", a, v);
            }
            _ => {}
        }
    }
    if g.max_intid < 991 {
        let a = d + ISENABLER + 4 * ((g.max_intid as u64 + 1) / 32);
        run(a, Op::W32(!0));
        if let Some(v @ 1..) = run(a, Op::R32) {
            if bad.is_empty() {
                let _ = write!(bad, "GICD_ISENABLER beyond ITLines ({:#x}) reads {:#x}", a, v);
            }
        }
    }
    // Wrong sizes on 32-bit-only registers: survive; the values written are
    // the current ones (or harmless), in case they are taken as 32-bit.
    run(d + D_CTLR, Op::R8);
    run(d + D_CTLR, Op::W8(ctlr0 as u8));
    run(d + ISENABLER, Op::R64);
    run(d + IGROUPR, Op::W64(!0));
    if v2 {
        run(d + V2_ITARGETSR, Op::R64);
        run(d + V2_SGIR, Op::W8(1));
    } else {
        run(rd0 + R_WAKER, Op::W8(0));
    }
    run(sgi_frame() + ISENABLER, Op::R64);
    run(sgi_frame() + IPRIORITYR, Op::W64(0xa0a0_a0a0_a0a0_a0a0));
    let typer = rd(d + D_TYPER);
    let ctlr1 = rd(d + D_CTLR);
    let en1 = rd(sgi_frame() + ISENABLER);
    if bad.is_empty() && typer != g.typer {
        let _ = write!(bad, "GICD_TYPER {:#x} -> {:#x}", g.typer, typer);
    }
    if bad.is_empty() && (ctlr1 & (CTLR_ARE | CTLR_EN) != ctlr0 & (CTLR_ARE | CTLR_EN) || en1 != en0) {
        let _ = write!(bad, "GICD_CTLR {:#x} -> {:#x}, ISENABLER0 {:#x} -> {:#x}", ctlr0, ctlr1,
                       en0, en1);
    }
    let how = match first {
        None => Buf::new(),
        Some(f) => {
            let mut b = Buf::new();
            let _ = write!(b, ", first: {}", FaultText(f));
            b
        }
    };
    say!("info {} {} accesses, {} aborted{}", NAME, n, aborts, how.as_str());
    if !bad.is_empty() {
        return fail!(NAME, "{}", bad.as_str());
    }
    // The flood: SGI 1 to itself, SGI 2 to the other vCPU (which waits
    // with IRQs masked), 10,000 each, all with IRQs masked.
    const FLOOD: u32 = 10_000;
    let other = other_cpu(env);
    if let Some(t) = other {
        if let Err(b) = start_secondary(&mut g, t) {
            return fail!(NAME, "second vCPU: {}", b.as_str());
        }
    }
    private_enable(1, 0x80);
    reset(0);
    arch::mask_irq();
    let me = arch::mpidr();
    let t0 = now();
    for _ in 0..FLOOD {
        sgi(1, me);
        if let Some(t) = other {
            sgi(2, t);
        }
    }
    let us = us_from_ticks(now() - t0);
    arch::unmask_irq();
    until(100, || taken(0, 1) != 0);
    settle(10);
    let self1 = taken(0, 1);
    // Still working: one more SGI, taken once more.
    sgi(1, me);
    until(100, || taken(0, 1) > self1);
    settle(5);
    arch::mask_irq();
    private_disable(1 << 1);
    let self2 = taken(0, 1);
    let (mut other1, mut all1, mut off) = (1, 1, true);
    if let Some(t) = other {
        S_STATE.store(S_GO, Relaxed);
        until(100, || taken(1, 2) != 0);
        settle(10);
        (other1, all1) = (taken(1, 2), total(1));
        off = stop_secondary(t);
    }
    let typer2 = rd(d + D_TYPER);
    let r = if self1 != 1 || self2 != 2 || total(0) != 2 {
        "SGI 1 to self not taken once"
    } else if other1 != 1 || all1 != 1 {
        "SGI 2 to the other vCPU not taken once"
    } else if !off {
        "other vCPU did not power off"
    } else if typer2 != g.typer {
        "GICD_TYPER changed"
    } else {
        return pass!(NAME, "{} accesses, {} aborted; {}x{} masked SGIs in {} us, taken once",
                     n, aborts, if other.is_some() { 2 } else { 1 }, FLOOD, us);
    };
    fail!(NAME, "{}: self {} (then {}), other {}, {} irqs", r, self1, self2, other1, total(0))
}
