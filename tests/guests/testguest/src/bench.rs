//! mode=bench: the guest-measured figures of `cargo xtask bench`
//! (docs/performance.md), through Xen 4.20's guest ABI only, so the same
//! Image measures Tessera and Xen.
//!
//! Every figure is a CNTVCT difference. Under QEMU's `-icount shift=0` with
//! a 1 GHz counter one tick is one instruction of any vCPU, or a nanosecond
//! that every CPU spent idle, so a figure is only valid while every other
//! pCPU sits in WFI: the vCPU that starts a cross-vCPU path (SGI, event
//! channel) does WFI right after it, with its own timer set to wake it
//! later, and vCPUs that wait do so in WFI. Each figure is the median of
//! `n=` samples (default 51) after `warm=` (default 10) left out.
//!
//! `bench=main` (2 vCPUs, each on its own pCPU): the counter-read cost,
//! then null hypercall, vpl011 MMIO read, virtual timer, SGI and event
//! channel. `bench=switch` (2 vCPUs on one pCPU): SCHEDOP_yield back and
//! forth. `bench=stamp`: only the entry line. Every mode starts with
//! `info bench entry cntpct P cntvct V freq F`, the counters at the Image's
//! first instruction (src/boot.rs), and reports each figure as
//! `PASS bench-NAME (median M min A max B n N)` or `FAIL bench-NAME: why`.

use crate::arch::{self, now};
use crate::xen::hc::{arg, flush, gfn, hc, page, r64, w16, w32, w64, w8, P_SHINFO_B, P_VCPU};
use crate::{fail, gic, mrs, msr, pass, psci, say, Env};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// CPU_ON context ids that send the second vCPU here (checks.rs).
pub const SECONDARY_CTX: u64 = 0x6e51_9e57_0000_0b01;
pub const SWITCH_CTX: u64 = 0x6e51_9e57_0000_0b02;

/// The SGI the second vCPU takes, and the upcall PPI.
const SGI: u32 = 7;
const PPI_TIMER: u32 = 27;
const PPI_EVTCHN: u32 = crate::xen::EVTCHN_PPI;

static PCT0: AtomicU64 = AtomicU64::new(0);
static VCT0: AtomicU64 = AtomicU64::new(0);
/// Whether `on_irq` records (mode=bench armed it).
static ACTIVE: AtomicU32 = AtomicU32::new(0);
/// Per interrupt the bench waits for: CNTVCT in the handler, and a count.
static T_TMR: AtomicU64 = AtomicU64::new(0);
static N_TMR: AtomicU32 = AtomicU32::new(0);
static T_SGI: AtomicU64 = AtomicU64::new(0);
static N_SGI: AtomicU32 = AtomicU32::new(0);
static T_EVT: AtomicU64 = AtomicU64::new(0);
static N_EVT: AtomicU32 = AtomicU32::new(0);
static PORT: AtomicU32 = AtomicU32::new(0);
/// The second vCPU: 1 ready, 2 set-up failed; told to stop.
static READY: AtomicU32 = AtomicU32::new(0);
static STOP: AtomicU32 = AtomicU32::new(0);
/// bench=switch: who wrote LAST_T last (0/1) before yielding, and when.
static LAST_WHO: AtomicU32 = AtomicU32::new(0);
static LAST_T: AtomicU64 = AtomicU64::new(0);

const NMAX: usize = 101;
static S: [AtomicU64; NMAX] = [const { AtomicU64::new(0) }; NMAX];

/// Called first by testguest_main with the counters boot.rs read.
pub fn entry(pct: u64, vct: u64) {
    PCT0.store(pct, Relaxed);
    VCT0.store(vct, Relaxed);
}

/// Counter ticks in `us` microseconds.
fn us(us: u64) -> u64 {
    arch::freq() / 1_000_000 * us
}

/// The handler's part (gic::on_irq, after the acknowledge; `t` is CNTVCT
/// right after it): records when the interrupt the bench waits for came.
pub fn on_irq(cpu: usize, id: u32, t: u64) {
    if ACTIVE.load(Relaxed) == 0 {
        return;
    }
    match (cpu, id) {
        (0, PPI_TIMER) => {
            T_TMR.store(t, Relaxed);
            N_TMR.store(N_TMR.load(Relaxed) + 1, Relaxed);
        }
        (1, SGI) => {
            T_SGI.store(t, Relaxed);
            N_SGI.store(N_SGI.load(Relaxed) + 1, Relaxed);
        }
        (1, PPI_EVTCHN) => {
            T_EVT.store(t, Relaxed);
            N_EVT.store(N_EVT.load(Relaxed) + 1, Relaxed);
            clear_upcall();
        }
        _ => {}
    }
}

/// As Linux's upcall handler does: clears upcall_pending and pending_sel
/// in vCPU 1's vcpu_info, and the port's pending bit, so that the next
/// send raises the upcall again.
fn clear_upcall() {
    let v = page(P_VCPU) + 64;
    flush(v, 64);
    w8(v, 0);
    w64(v + 8, 0);
    flush(v, 64);
    let p = PORT.load(Relaxed) as u64;
    let w = page(P_SHINFO_B) + 48 + 8 * (p / 64);
    flush(w, 8);
    w64(w, r64(w) & !(1 << (p % 64)));
    flush(w, 8);
}

/// Sorts the first `n` samples and reports their median, minimum and
/// maximum as `PASS bench-NAME`.
fn report(name: &str, n: usize, warm: usize) {
    for i in 1..n {
        let v = S[i].load(Relaxed);
        let mut j = i;
        while j > 0 && S[j - 1].load(Relaxed) > v {
            S[j].store(S[j - 1].load(Relaxed), Relaxed);
            j -= 1;
        }
        S[j].store(v, Relaxed);
    }
    let g = |i: usize| S[i].load(Relaxed);
    pass!(name, "median {} min {} max {} n {} warm {}", g(n / 2), g(0), g(n - 1), n, warm);
}

fn record(i: usize, warm: usize, v: u64) {
    if i >= warm {
        S[i - warm].store(v, Relaxed);
    }
}

/// Waits in WFI (IRQs masked around the check, taken after each wake-up)
/// until the virtual timer's interrupt has come.
fn wait_timer() {
    loop {
        arch::mask_irq();
        if N_TMR.load(Relaxed) != 0 {
            break;
        }
        arch::wfi();
        arch::unmask_irq();
    }
}

/// Arms the virtual timer at `cval` (its interrupt count cleared).
fn arm_timer(cval: u64) {
    N_TMR.store(0, Relaxed);
    msr!("cntv_cval_el0", cval);
    msr!("cntv_ctl_el0", 1);
}

/// Sleeps `t` ticks in WFI: consoles drain, other pCPUs go idle.
fn sleep(t: u64) {
    arm_timer(now() + t);
    wait_timer();
}

/// `xen_version(XENVER_version, NULL)`: the null hypercall.
fn xen_version() -> u64 {
    let r: u64;
    // SAFETY: a hypercall with no buffer; Xen's argument registers (x0-x4,
    // x16: a debug Xen overwrites them) are declared clobbered.
    unsafe {
        core::arch::asm!("hvc #0xea1", inout("x0") 0u64 => r, inout("x1") 0u64 => _,
            inout("x2") 0u64 => _, inout("x3") 0u64 => _, inout("x4") 0u64 => _,
            inout("x16") 17u64 => _, options(nostack));
    }
    r
}

/// A hypercall with two arguments, its buffers already in place.
fn hvc2(nr: u64, a0: u64, a1: u64) -> i64 {
    let r: u64;
    // SAFETY: as for xen_version; buffers are guest RAM the caller owns.
    unsafe {
        core::arch::asm!("hvc #0xea1", inout("x0") a0 => r, inout("x1") a1 => _,
            inout("x2") 0u64 => _, inout("x3") 0u64 => _, inout("x4") 0u64 => _,
            inout("x16") nr => _, options(nostack));
    }
    r as i64
}

const SCHED_OP: u64 = 29;
const EVENT_CHANNEL_OP: u64 = 32;

fn yield_now() -> i64 {
    hvc2(SCHED_OP, 0, 0) // SCHEDOP_yield
}

pub fn run(env: &Env) {
    say!("info bench entry cntpct {} cntvct {} freq {}", PCT0.load(Relaxed), VCT0.load(Relaxed),
         arch::freq());
    let n = (env.arg_num("n").unwrap_or(51) as usize).clamp(1, NMAX);
    let warm = env.arg_num("warm").unwrap_or(10) as usize;
    match env.arg("bench").unwrap_or(b"main") {
        b"stamp" => {}
        b"main" => main(env, n, warm),
        b"switch" => switch(env, n, warm),
        b"linux" => linux(env),
        b => fail!("bench", "unknown bench=\"{}\"", crate::out::BStr(b)),
    }
}

/// The cost of reading the counter (`now()` twice), taken off the
/// figures that read it at both ends on the same vCPU.
fn overhead(n: usize) -> u64 {
    for i in 0..n {
        let a = now();
        let b = now();
        S[i].store(b - a, Relaxed);
    }
    let mut m = u64::MAX;
    for i in 0..n {
        m = m.min(S[i].load(Relaxed));
    }
    m
}

fn main(env: &Env, n: usize, warm: usize) {
    if let Err(b) = gic::bench_init(env, &[PPI_TIMER]) {
        return fail!("bench", "GIC set-up: {}", b.as_str());
    }
    ACTIVE.store(1, Relaxed);
    let gap = us(200);
    sleep(gap);
    let ovh = overhead(n);
    say!("info bench clock-overhead {}", ovh);

    // Null hypercall.
    sleep(gap);
    let mut bad = 0u32;
    for i in 0..warm + n {
        let t0 = now();
        let r = xen_version();
        let t1 = now();
        bad += ((r as i64) < 0 || r >> 32 != 0) as u32;
        record(i, warm, t1 - t0 - ovh);
    }
    if bad != 0 {
        fail!("bench-hypercall", "xen_version failed {} times", bad);
    } else {
        report("bench-hypercall", n, warm);
    }

    // Emulated MMIO: the vpl011's flag register.
    sleep(gap);
    let fr = crate::uart::base() + 0x18;
    for i in 0..warm + n {
        let t0 = now();
        let _ = crate::mmio::read32(fr);
        let t1 = now();
        record(i, warm, t1 - t0 - ovh);
    }
    report("bench-mmio", n, warm);

    // Virtual timer: from its deadline to the handler, the vCPU in WFI.
    sleep(gap);
    let mut early = 0;
    for i in 0..warm + n {
        let cval = now() + us(100);
        arm_timer(cval);
        wait_timer();
        early += (T_TMR.load(Relaxed) < cval) as u32;
        record(i, warm, T_TMR.load(Relaxed).wrapping_sub(cval));
    }
    if early != 0 {
        fail!("bench-timer", "{} interrupts before the deadline", early);
    } else {
        report("bench-timer", n, warm);
    }

    let Some(target) = gic::other_vcpu(env) else {
        fail!("bench-sgi", "needs 2 vCPUs");
        return fail!("bench-evtchn", "needs 2 vCPUs");
    };
    let evt = evtchn_setup();
    if !gic::bench_secondary_rd(env, target) {
        fail!("bench-sgi", "no redistributor for vCPU {:#x}", target);
        return fail!("bench-evtchn", "no second vCPU");
    }
    STOP.store(0, Relaxed);
    READY.store(0, Relaxed);
    let on = psci::hvc(psci::CPU_ON, target, crate::boot::secondary_entry_pa(), SECONDARY_CTX);
    if !matches!(on, Ok(0)) {
        fail!("bench-sgi", "CPU_ON({:#x}) failed", target);
        return fail!("bench-evtchn", "no second vCPU");
    }
    let end = arch::deadline_ms(1000);
    while READY.load(Relaxed) == 0 && !arch::past(end) {}
    if READY.load(Relaxed) != 1 {
        fail!("bench-sgi", "vCPU {:#x} did not come up", target);
        return fail!("bench-evtchn", "no second vCPU");
    }

    // SGI to the other vCPU, which waits in WFI; this one does WFI right
    // after sending, until its timer.
    sleep(gap);
    let mut lost = 0;
    for i in 0..warm + n {
        N_SGI.store(0, Relaxed);
        arm_timer(now() + gap);
        let t0 = now();
        gic::send_sgi(SGI, target);
        wait_timer();
        lost += (N_SGI.load(Relaxed) != 1) as u32;
        record(i, warm, T_SGI.load(Relaxed).wrapping_sub(t0 + ovh));
    }
    if lost != 0 {
        fail!("bench-sgi", "{} of {} SGIs not taken once within {} ticks", lost, warm + n, gap);
    } else {
        report("bench-sgi", n, warm);
    }

    // Event channel: EVTCHNOP_send on an IPI port bound to vCPU 1, to its
    // upcall (PPI 31), the same way.
    match evt {
        Err(why) => fail!("bench-evtchn", "{}", why),
        Ok(port) => {
            // Registering vCPU 1's vcpu_info marked events pending there
            // (upcall_pending, pending_sel ~0) while it was off. Under Xen
            // no PPI 31 is taken for that once CPU_ON has started it, so
            // nothing would clear them and no send would raise an upcall:
            // clear them as the handler does.
            clear_upcall();
            sleep(gap);
            let (mut lost, mut last) = (0, (0i64, 0u32));
            for i in 0..warm + n {
                N_EVT.store(0, Relaxed);
                w32(arg(), port);
                flush(arg(), 64);
                arm_timer(now() + gap);
                let t0 = now();
                let r = hvc2(EVENT_CHANNEL_OP, 4, arg()); // EVTCHNOP_send
                wait_timer();
                if r != 0 || N_EVT.load(Relaxed) != 1 {
                    lost += 1;
                    last = (r, N_EVT.load(Relaxed));
                }
                record(i, warm, T_EVT.load(Relaxed).wrapping_sub(t0 + ovh));
            }
            if lost != 0 {
                fail!("bench-evtchn", "{} of {} sends without exactly one upcall (last: send {}, {} upcalls)",
                      lost, warm + n, last.0, last.1);
            } else {
                report("bench-evtchn", n, warm);
            }
        }
    }

    STOP.store(1, Relaxed);
    gic::send_sgi(SGI, target);
    if crate::checks::wait_affinity(target, 1, 1000).is_err() {
        fail!("bench", "vCPU {:#x} did not power off", target);
    }
    msr!("cntv_ctl_el0", 0);
    ACTIVE.store(0, Relaxed);
}

/// Maps shared_info, registers vCPU 1's vcpu_info and binds an IPI port
/// to vCPU 1 (xen-physmap-shared-info, xen-vcpu-info and xen-evtchn check
/// these calls); returns the port.
fn evtchn_setup() -> Result<u32, &'static str> {
    crate::xen::hc::init();
    // XENMEM_add_to_physmap { domid SELF, size 0, space shared_info, idx 0, gpfn }.
    crate::xen::hc::clr(24);
    w16(arg(), 0x7ff0);
    w64(arg() + 16, gfn(P_SHINFO_B));
    if !matches!(hc(12, 7, arg(), 0), Ok(0)) {
        return Err("XENMEM_add_to_physmap(shared_info) failed");
    }
    // VCPUOP_register_vcpu_info(1, { gfn, offset 64 }).
    crate::xen::hc::clr(16);
    w64(arg(), gfn(P_VCPU));
    w32(arg() + 8, 64);
    if !matches!(hc(24, 10, 1, arg()), Ok(0)) {
        return Err("VCPUOP_register_vcpu_info(vcpu 1) failed");
    }
    // EVTCHNOP_bind_ipi { vcpu 1, port @4 }.
    crate::xen::hc::clr(8);
    w32(arg(), 1);
    if !matches!(hc(EVENT_CHANNEL_OP, 7, arg(), 0), Ok(0)) {
        return Err("EVTCHNOP_bind_ipi(vcpu 1) failed");
    }
    let port = crate::xen::hc::r32(arg() + 4);
    PORT.store(port, Relaxed);
    Ok(port)
}

/// The second vCPU of bench=main: takes SGI 7 and the upcall in WFI until
/// told to stop, then CPU_OFF.
pub fn secondary() -> ! {
    let ok = gic::bench_secondary_setup(1 << SGI | 1 << PPI_EVTCHN);
    READY.store(if ok { 1 } else { 2 }, Relaxed);
    arch::dsb_sy();
    if ok {
        loop {
            arch::mask_irq();
            if STOP.load(Relaxed) != 0 {
                break;
            }
            arch::wfi();
            arch::unmask_irq();
        }
        gic::bench_secondary_off();
    }
    arch::dsb_sy();
    psci::raw_hvc(psci::CPU_OFF, 0, 0, 0);
    loop {
        arch::wfe();
    }
}

/// The header of the bench=linux ramdisk (`cargo xtask bench` writes it):
/// "TSRB", then u32 0, then (u64 offset, u64 length) of the arm64 Image
/// and of the initramfs inside the ramdisk.
const BUNDLE_MAGIC: u32 = u32::from_le_bytes(*b"TSRB");

fn rd64(a: u64) -> u64 {
    // SAFETY: `a` is 8-aligned guest RAM inside the ramdisk the loader
    // placed (checked against its bounds by the caller).
    unsafe { core::ptr::read_volatile(a as usize as *const u64) }
}

/// `bench=linux`: a shim in front of Linux, so that a Linux guest's
/// userspace can be timed from QEMU's start. The ramdisk is a bundle of
/// an arm64 Image and an initramfs: the Image is copied to a 2 MiB
/// boundary (clear of the bundle and the device tree), /chosen's
/// linux,initrd-start/end are pointed at the initramfs, and Linux is
/// entered as the boot protocol says (x0 = device tree, MMU off, all
/// exceptions masked). The entry line gives this domain's counter offset
/// (CNTPCT - CNTVCT); `info bench linux-jump cntpct` when Linux starts, so
/// that the shim's own time can be taken off.
fn linux(env: &Env) {
    let why = linux_jump(env);
    fail!("bench-linux", "{}", why);
}

fn linux_jump(env: &Env) -> &'static str {
    let Some(fdt) = env.fdt.as_ref() else { return "no device tree" };
    let Some(chosen) = fdt.find_path(b"/chosen") else { return "no /chosen" };
    let cell = |v: &[u8]| crate::fdt::read_cells(v, 0, (v.len() / 4) as u32);
    let (Some(ps), Some(pe)) = (chosen.prop(b"linux,initrd-start"), chosen.prop(b"linux,initrd-end"))
    else {
        return "no linux,initrd-start/end (the bundle is the ramdisk)";
    };
    let (Some(start), Some(end)) = (cell(ps), cell(pe)) else { return "bad initrd properties" };
    if start % 8 != 0 || end < start + 4096 || crate::xen::hc::r32(start) != BUNDLE_MAGIC {
        return "the ramdisk is not a bench bundle";
    }
    let (io, il, co, cl) = (rd64(start + 8), rd64(start + 16), rd64(start + 24), rd64(start + 32));
    if io % 8 != 0 || io + il > end - start || co + cl > end - start || il < 64 {
        return "bundle offsets out of range";
    }
    let img = start + io;
    if crate::xen::hc::r32(img + 0x38) != u32::from_le_bytes(*b"ARM\x64") {
        return "no arm64 Image in the bundle";
    }
    let (text_offset, image_size) = (rd64(img + 8), rd64(img + 16).max(il));
    let Some(mem) = ram_bank(env) else { return "no memory node" };
    let dtb_end = env.dtb + crate::mmio::be32_at(env.dtb + 4) as u64;
    let shim_end = env.base + rd64(env.base + 16);
    let over = |a: u64, b: u64, c: u64, d: u64| a < d && c < b;
    let mut dest = 0;
    let mut base = (shim_end + 0x1f_ffff) & !0x1f_ffff;
    while base + text_offset + image_size <= mem.0 + mem.1 {
        let (a, b) = (base + text_offset, base + text_offset + image_size);
        if !over(a, b, start, end) && !over(a, b, env.dtb, dtb_end) {
            dest = a;
            break;
        }
        base += 0x20_0000;
    }
    if dest == 0 {
        return "no room for the Image";
    }
    let mut o = 0;
    while o < il {
        crate::xen::hc::w64(dest + o, rd64(img + o));
        o += 8;
    }
    // The device tree's initrd properties, rewritten in place (same
    // width) to the initramfs. Nothing reads the tree after this.
    let put = |v: &[u8], x: u64| {
        let a = v.as_ptr() as u64;
        if v.len() == 8 {
            crate::xen::hc::w32(a, ((x >> 32) as u32).to_be());
            crate::xen::hc::w32(a + 4, (x as u32).to_be());
        } else {
            crate::xen::hc::w32(a, (x as u32).to_be());
        }
    };
    put(ps, start + co);
    put(pe, start + co + cl);
    arch::dsb_sy();
    let t = mrs!("cntpct_el0");
    say!("info bench linux-jump cntpct {} image {:#x} initrd {:#x}+{:#x}", t, dest, start + co, cl);
    // SAFETY: enters Linux as Documentation/arch/arm64/booting.rst asks:
    // EL1, MMU and caches off (they always were), DAIF masked, x0 = the
    // device tree, x1-x3 = 0, the Image at a 2 MiB boundary plus
    // text_offset. Nothing of this program runs again.
    unsafe {
        core::arch::asm!("msr daifset, #0xf", "isb", "br {e}", e = in(reg) dest,
            in("x0") env.dtb, in("x1") 0u64, in("x2") 0u64, in("x3") 0u64,
            options(noreturn));
    }
}

/// The first RAM bank of the device tree's memory node.
fn ram_bank(env: &Env) -> Option<(u64, u64)> {
    let mut r = None;
    let _ = env.fdt.as_ref()?.walk(|n, _| {
        if n.device_type() == Some(b"memory") {
            r = n.reg(0);
            return crate::fdt::Walk::Stop;
        }
        crate::fdt::Walk::Continue
    });
    r
}

/// bench=switch: vCPUs 0 and 1 share one pCPU and yield to each other.
/// Before each yield a vCPU writes who it is and CNTVCT; when vCPU 0's
/// yield returns after vCPU 1 wrote, the difference is one switch (vCPU
/// 1's yield to vCPU 0 running again). Yields that return without the
/// other vCPU running are counted apart.
fn switch(env: &Env, n: usize, warm: usize) {
    let ovh = overhead(n);
    say!("info bench clock-overhead {}", ovh);
    let Some(target) = gic::other_vcpu(env) else {
        return fail!("bench-switch", "needs 2 vCPUs");
    };
    STOP.store(0, Relaxed);
    READY.store(0, Relaxed);
    let on = psci::hvc(psci::CPU_ON, target, crate::boot::secondary_entry_pa(), SWITCH_CTX);
    if !matches!(on, Ok(0)) {
        return fail!("bench-switch", "CPU_ON({:#x}) failed", target);
    }
    let end = arch::deadline_ms(1000);
    while READY.load(Relaxed) == 0 && !arch::past(end) {
        yield_now();
    }
    if READY.load(Relaxed) == 0 {
        return fail!("bench-switch", "vCPU {:#x} did not come up", target);
    }
    let (mut k, mut same, mut tries) = (0usize, 0u32, 0usize);
    while k < warm + n && tries < 20 * (warm + n) {
        tries += 1;
        LAST_T.store(now(), Relaxed);
        LAST_WHO.store(0, Relaxed);
        yield_now();
        let t1 = now();
        if LAST_WHO.load(Relaxed) == 1 {
            record(k, warm, t1.wrapping_sub(LAST_T.load(Relaxed) + ovh));
            k += 1;
        } else {
            same += 1;
        }
    }
    STOP.store(1, Relaxed);
    let end = arch::deadline_ms(1000);
    while !matches!(psci::hvc(psci::AFFINITY_INFO, target, 0, 0), Ok(1)) && !arch::past(end) {
        yield_now();
    }
    say!("info bench switch {} switches, {} yields returned without one", k, same);
    if k < warm + n {
        fail!("bench-switch", "{} switches in {} yields", k, tries);
    } else {
        report("bench-switch", n, warm);
    }
}

/// The second vCPU of bench=switch: yields until told to stop.
pub fn switch_secondary() -> ! {
    READY.store(1, Relaxed);
    while STOP.load(Relaxed) == 0 {
        LAST_T.store(now(), Relaxed);
        LAST_WHO.store(1, Relaxed);
        yield_now();
    }
    psci::raw_hvc(psci::CPU_OFF, 0, 0, 0);
    loop {
        arch::wfe();
    }
}
