//! mode=xen: a conformance suite for Xen 4.20's guest hypercall ABI on Arm,
//! as a dom0less domU with `xen,enhanced = "no-xenstore"` sees it.
//!
//! Every expected value comes from reading Xen's source at tag
//! RELEASE-4.20.0 (checked unchanged for these paths up to RELEASE-4.20.4);
//! each check names the file and function it follows. The suite is meant to
//! run unchanged under Xen 4.20 and under Tessera, and the two outputs to be
//! diffed: details in PASS lines are deterministic where Xen's are.
//!
//! Without a `/hypervisor` node compatible with "xen,xen" (Linux's test,
//! arch/arm/xen/enlighten.c) it prints `SKIP xen (no hypervisor node)` and
//! does nothing else.

mod basic;
mod evt;
mod fuzz;
pub(crate) mod hc;
mod mem;
mod pair;
mod vcpu;

use crate::fdt::{Node, Walk};
use crate::{ck, say, Env};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use hc::*;

/// GUEST_EVTCHN_PPI (xen/include/public/arch-arm.h): the upcall PPI.
pub const EVTCHN_PPI: u32 = 31;

/// This domain's id as Xen reports it (learnt from EVTCHNOP_status of an
/// unbound port allocated with remote_dom = DOMID_SELF); u32::MAX if unknown.
static DOMID: AtomicU32 = AtomicU32::new(u32::MAX);
/// Finish with SCHEDOP_shutdown(poweroff) instead of PSCI SYSTEM_OFF.
static SCHED_SHUTDOWN: AtomicBool = AtomicBool::new(false);

pub fn domid() -> Option<u64> {
    match DOMID.load(Relaxed) {
        u32::MAX => None,
        d => Some(d as u64),
    }
}

/// Another existing domain, from bootargs `xen_other=<domid>` (optional):
/// enables the checks that a foreign domain id is refused with -EPERM.
fn other(env: &Env) -> Option<u64> {
    env.arg_num("xen_other")
}

/// The `/hypervisor` node Linux would accept: at depth 1, named exactly
/// "hypervisor", compatible with "xen,xen" (linux arch/arm/xen/enlighten.c
/// fdt_find_hyper_node).
fn hyp_node(env: &Env) -> Option<Node<'static>> {
    let fdt = env.fdt.as_ref()?;
    let mut found = None;
    let _ = fdt.walk(|n, path| {
        if path.len() == 2 && n.name == b"hypervisor" && n.is_compatible(b"xen,xen") {
            found = Some(*n);
            return Walk::Stop;
        }
        Walk::Continue
    });
    found
}

pub fn run(env: &Env) {
    let Some(node) = hyp_node(env) else {
        say!("SKIP xen (no hypervisor node)");
        return;
    };
    SCHED_SHUTDOWN.store(env.arg("xen_shutdown") == Some(b"1"), Relaxed);
    hc::init();
    learn_domid();
    if env.skipped("xen-dt") {
        say!("SKIP xen-dt");
    } else {
        dt(env, &node);
    }
    let checks: [(&str, fn(&Env)); 24] = [
        ("xen-regs", basic::regs),
        ("xen-unknown-hypercalls", basic::unknown),
        ("xen-privileged-hypercalls", basic::privileged),
        ("xen-version", basic::version),
        ("xen-version-strings", basic::version_strings),
        ("xen-features", basic::features),
        ("xen-version-efault", basic::version_efault),
        ("xen-console-io", basic::console_io),
        ("xen-multicall", basic::multicall),
        ("xen-physdev-op", basic::physdev),
        ("xen-vm-assist", basic::vm_assist),
        ("xen-hvm-param", basic::hvm_param),
        ("xen-sched-op", basic::sched_op),
        ("xen-memory-reservation", mem::reservation),
        ("xen-memory-ops", mem::ops),
        ("xen-physmap-shared-info", mem::shared_info),
        ("xen-grant-table", mem::grant_table),
        ("xen-physmap-grant-table", mem::grant_physmap),
        ("xen-vcpu-op", vcpu::vcpu_op),
        ("xen-vcpu-info", vcpu::vcpu_info),
        ("xen-runstate", vcpu::runstate),
        ("xen-evtchn", evt::evtchn),
        ("xen-evtchn-upcall", evt::upcall),
        ("xen-evtchn-fifo", evt::fifo),
    ];
    for (name, check) in checks {
        if env.skipped(name) {
            say!("SKIP {}", name);
        } else {
            check(env);
        }
    }
}

/// mode=xen-pair (pair.rs) and mode=fuzz (fuzz.rs): both need the
/// `/hypervisor` node, as mode=xen does.
pub fn run_other(env: &Env, fuzz: bool) {
    let Some(node) = hyp_node(env) else {
        return say!("SKIP xen (no hypervisor node)");
    };
    hc::init();
    if fuzz {
        fuzz::run(env)
    } else {
        pair::run(env, &node)
    }
}

/// `hold_domid=<id>` (with `hold_ms=`, any mode): after the tally, waits
/// until domain `id` is gone or the hold ends. EVTCHNOP_status on another
/// domain is -EPERM while it exists (XSM_TARGET) and -ESRCH once it does
/// not (rcu_lock_domain_by_any_id): a bystander can outlive a fuzzer.
pub fn hold_for(domid: u64, end: u64) {
    hc::init();
    let t0 = crate::arch::now();
    while !crate::arch::past(end) {
        if matches!(evt::status(domid, 1).0, Ok(ESRCH)) {
            let ms = crate::arch::us_from_ticks(crate::arch::now() - t0) / 1000;
            return say!("info held {} ms, until d{} was gone", ms, domid);
        }
        let _ = hc(SCHED_OP, basic::SCHEDOP_YIELD, 0, 0);
    }
    say!("info held until hold_ms, d{} still there", domid);
}

/// Learns this domain's id: EVTCHNOP_alloc_unbound {dom SELF, remote SELF}
/// stores the caller's id as remote (common/event_channel.c
/// evtchn_alloc_unbound), EVTCHNOP_status reports it in u.unbound.dom.
fn learn_domid() {
    clr(24);
    w16(arg(), DOMID_SELF as u16);
    w16(arg() + 2, DOMID_SELF as u16);
    if !matches!(hc(EVENT_CHANNEL_OP, evt::ALLOC_UNBOUND, arg(), 0), Ok(0)) {
        return say!("info xen domid unknown: EVTCHNOP_alloc_unbound failed");
    }
    let port = r32(arg() + 4);
    clr(24);
    w16(arg(), DOMID_SELF as u16);
    w32(arg() + 4, port);
    let ok = matches!(hc(EVENT_CHANNEL_OP, evt::STATUS, arg(), 0), Ok(0)) && r32(arg() + 8) == 1;
    let id = r16(arg() + 16) as u32;
    clr(8);
    w32(arg(), port);
    let _ = hc(EVENT_CHANNEL_OP, evt::CLOSE, arg(), 0);
    if ok && id < DOMID_SELF as u32 {
        DOMID.store(id, Relaxed);
        say!("info xen domid {}", id);
    } else {
        say!("info xen domid unknown: EVTCHNOP_status did not report it");
    }
}

/// Called by `crate::finish` before PSCI SYSTEM_OFF: with `xen_shutdown=1`,
/// powers off with SCHEDOP_shutdown{SHUTDOWN_poweroff} (common/sched/core.c
/// do_sched_op -> domain_shutdown), which does not return.
pub fn maybe_shutdown() {
    if !SCHED_SHUTDOWN.load(Relaxed) {
        return;
    }
    clr(8);
    w32(arg(), 0); // SHUTDOWN_poweroff
    let r = hc(SCHED_OP, basic::SCHEDOP_SHUTDOWN, arg(), 0);
    match r {
        Ok(v) => say!("SCHEDOP_shutdown returned {}", V(v)),
        Err(f) => say!("SCHEDOP_shutdown raised {}", crate::out::FaultText(f)),
    }
}

/// The upcall's IRQ handler part (from gic::on_irq, before the EOI): clears
/// the registered vcpu_info's evtchn_upcall_pending, as Linux does, so a
/// level-sensitive implementation does not re-raise it forever.
pub fn on_upcall() {
    evt::UPCALLS.store(evt::UPCALLS.load(Relaxed) + 1, Relaxed);
    if vcpu::VCPU_INFO_OK.load(Relaxed) {
        let a = page(P_VCPU);
        flush(a, 64);
        w8(a, 0);
        flush(a, 64);
    }
}

/// `xen-dt`: the /hypervisor node as xen/arch/arm/domain_build.c
/// make_hypervisor_node writes it for a dom0less domU
/// (dom0less-build.c prepare_dtb_domU: gnttab_start/size, phandle_gic).
fn dt(env: &Env, node: &Node<'static>) {
    let mut c = Ck::new("xen-dt");
    // compatible = "xen,xen-" XEN_VERSION_STRING "\0" "xen,xen" (one
    // fdt_property with sizeof(compat): the final NUL included).
    let compat = node.prop(b"compatible").unwrap_or(b"");
    ck!(c, t "compatible"; compat == b"xen,xen-4.20\0xen,xen\0",
        "\"{}\"", crate::out::BStr(compat));
    // Root #address-cells/#size-cells = 2/2 (GUEST_ROOT_ADDRESS_CELLS).
    ck!(c, eq "cells"; (node.addr_cells as u64) << 8 | node.size_cells as u64, 0x202);
    let nreg = node.reg_count();
    // reg[0] = GUEST_GNTTAB_BASE, GUEST_GNTTAB_SIZE (public/arch-arm.h).
    let r0 = node.reg(0).unwrap_or((0, 0));
    ck!(c, eq "reg[0] base"; r0.0, 0x3800_0000u64);
    ck!(c, eq "reg[0] size"; r0.1, 0x0100_0000u64);
    // reg[1..]: extended regions, domain_build.c find_domU_holes: per RAM
    // bank (GUEST_RAM0 0x40000000+3G, GUEST_RAM1 0x200000000+1016G) the
    // part above the allocated RAM (rounded up to 2 MiB) up to the bank's
    // end or the IPA limit, if at least 64 MiB.
    let mut next = 1;
    if let Some(kib) = env.arg_num("memory") {
        let mem = kib * 1024;
        let b0 = mem.min(0xc000_0000);
        let start0 = (0x4000_0000 + b0 + 0x1f_ffff) & !0x1f_ffff;
        if 0x1_0000_0000 - start0 >= 64 << 20 {
            let r = node.reg(next).unwrap_or((0, 0));
            ck!(c, eq "reg[{}] (bank 0 hole) base", next; r.0, start0);
            ck!(c, eq "reg[{}] (bank 0 hole) size", next; r.1, 0x1_0000_0000 - start0);
            next += 1;
        }
        let start1 = (0x2_0000_0000 + (mem - b0) + 0x1f_ffff) & !0x1f_ffff;
        let r = node.reg(next).unwrap_or((0, 0));
        // The end depends on the host's IPA size (p2m_ipa_bits): 2^bits or
        // the bank's end, 0x10000000000.
        let end = r.0.wrapping_add(r.1);
        ck!(c, eq "reg[{}] (bank 1 hole) base", next; r.0, start1);
        ck!(c, t "reg[{}] (bank 1 hole) end", next;
            end == 0x100_0000_0000 || (end.is_power_of_two() && end < 0x100_0000_0000 && end > start1),
            "{:#x}", end);
        next += 1;
        ck!(c, eq "reg entries"; nreg, next);
    } else {
        say!("info xen-dt no memory= bootarg: extended regions not checked");
    }
    for i in 1..nreg {
        let r = node.reg(i).unwrap_or((0, 0));
        say!("info xen-dt reg[{}] {:#x} size {:#x}", i, r.0, r.1);
    }
    // interrupts = <1 15 0xf08>: PPI, 31 - 16, CPU mask 0xf << 8 |
    // DT_IRQ_TYPE_LEVEL_LOW (domain_build.c set_interrupt, evtchn_irq =
    // GUEST_EVTCHN_PPI for non-hardware domains, arm/domain.c).
    let irq = node.prop(b"interrupts").unwrap_or(b"");
    let cell = |i| crate::fdt::read_cells(irq, i, 1).unwrap_or(u64::MAX);
    ck!(c, eq "interrupts length"; irq.len(), 12);
    ck!(c, eq "interrupts[0] (PPI)"; cell(0), 1);
    ck!(c, eq "interrupts[1] (31 - 16)"; cell(1), (EVTCHN_PPI - 16) as u64);
    ck!(c, eq "interrupts[2] (flags)"; cell(2), 0xf08);
    // interrupt-parent = GUEST_PHANDLE_GIC (65000, device_tree_defs.h),
    // the phandle of the GIC node dom0less-build.c makes.
    let parent = node.prop(b"interrupt-parent").and_then(|v| crate::fdt::read_cells(v, 0, 1));
    ck!(c, eq "interrupt-parent"; parent.unwrap_or(0), 65000);
    let mut gic_ok = false;
    let _ = env.fdt.as_ref().map(|f| {
        f.walk(|n, _| {
            let ph = n.prop(b"phandle").and_then(|v| crate::fdt::read_cells(v, 0, 1));
            if ph.is_some() && ph == parent && n.prop(b"interrupt-controller").is_some() {
                gic_ok = true;
                return Walk::Stop;
            }
            Walk::Continue
        })
    });
    ck!(c, t "interrupt-parent target"; gic_ok, "no interrupt-controller with that phandle");
    c.done(format_args!("\"{}\", {} reg entries, PPI {}",
        crate::out::BStr(crate::fdt::prop_str(compat)), nreg, cell(1) + 16));
}
