//! event_channel_op: port lifecycle, the 2-level ABI in shared_info, the
//! upcall (PPI 31), and the FIFO ABI.

use super::hc::*;
use super::mem::SHINFO;
use super::vcpu::{ncpus, VCPU_INFO_OK};
use super::{domid, other, EVTCHN_PPI};
use crate::arch::{deadline_ms, past};
use crate::{arch, ck, gic, say, Env};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

pub const BIND_INTERDOMAIN: u64 = 0;
const BIND_VIRQ: u64 = 1;
const BIND_PIRQ: u64 = 2;
pub const CLOSE: u64 = 3;
pub const SEND: u64 = 4;
pub const STATUS: u64 = 5;
pub const ALLOC_UNBOUND: u64 = 6;
pub const BIND_IPI: u64 = 7;
pub const BIND_VCPU: u64 = 8;
pub const UNMASK: u64 = 9;
pub const RESET: u64 = 10;
const INIT_CONTROL: u64 = 11;
const EXPAND_ARRAY: u64 = 12;
const SET_PRIORITY: u64 = 13;

/// EVTCHNSTAT_* (public/event_channel.h).
pub(super) const ST_CLOSED: u32 = 0;
pub(super) const ST_UNBOUND: u32 = 1;
pub(super) const ST_INTERDOMAIN: u32 = 2;
const ST_VIRQ: u32 = 4;
const ST_IPI: u32 = 5;

/// A port past max_evtchn_port (1023 for dom0less, arm/dom0less-build.c),
/// so never valid.
const BAD_PORT: u64 = 1024;

/// Upcall interrupts taken (gic::on_irq -> super::on_upcall).
pub static UPCALLS: AtomicU32 = AtomicU32::new(0);

fn eop(cmd: u64) -> R {
    hc(EVENT_CHANNEL_OP, cmd, arg(), 0)
}

/// close, send, unmask: struct { u32 port }.
pub(super) fn port_op(cmd: u64, port: u64) -> R {
    clr(8);
    w32(arg(), port as u32);
    eop(cmd)
}

/// Two u32 fields in, the result and the u32 at `out`.
pub(super) fn two(cmd: u64, a: u64, b: u64, out: u64) -> (R, u64) {
    clr(16);
    w32(arg(), a as u32);
    w32(arg() + 4, b as u32);
    let r = eop(cmd);
    (r, r32(arg() + out) as u64)
}

/// alloc_unbound { u16 dom; u16 remote_dom; u32 port @4 }.
pub(super) fn alloc_unbound(dom: u64, remote: u64) -> (R, u64) {
    clr(8);
    w16(arg(), dom as u16);
    w16(arg() + 2, remote as u16);
    let r = eop(ALLOC_UNBOUND);
    (r, r32(arg() + 4) as u64)
}

/// bind_interdomain { u16 remote_dom; u32 remote_port @4; u32 local_port @8 }.
pub(super) fn bind_interdomain(rdom: u64, rport: u64) -> (R, u64) {
    clr(16);
    w16(arg(), rdom as u16);
    w32(arg() + 4, rport as u32);
    let r = eop(BIND_INTERDOMAIN);
    (r, r32(arg() + 8) as u64)
}

/// bind_virq { u32 virq; u32 vcpu; u32 port @8 }.
fn bind_virq(virq: u64, vcpu: u64) -> (R, u64) {
    clr(16);
    w32(arg(), virq as u32);
    w32(arg() + 4, vcpu as u32);
    let r = eop(BIND_VIRQ);
    (r, r32(arg() + 8) as u64)
}

/// bind_ipi { u32 vcpu; u32 port @4 }.
fn bind_ipi(vcpu: u64) -> (R, u64) {
    two(BIND_IPI, vcpu, 0, 4)
}

/// status { u16 dom; u32 port @4; u32 status @8; u32 vcpu @12; union @16 }:
/// (result, status, vcpu, u32 @16, u32 @20).
pub(super) fn status(dom: u64, port: u64) -> (R, u32, u32, u32, u32) {
    clr(24);
    w16(arg(), dom as u16);
    w32(arg() + 4, port as u32);
    w32(arg() + 8, 0x5555);
    let r = eop(STATUS);
    (r, r32(arg() + 8), r32(arg() + 12), r32(arg() + 16), r32(arg() + 20))
}

pub(super) fn reset(dom: u64) -> R {
    clr(8);
    w16(arg(), dom as u16);
    eop(RESET)
}

/// Bit `port` of shared_info's evtchn_pending (@48) or evtchn_mask (@560).
pub(super) fn sh_bit(sh: u64, base: u64, port: u64) -> bool {
    let w = sh + base + 8 * (port / 64);
    flush(w, 8);
    r64(w) >> (port % 64) & 1 != 0
}

pub(super) fn sh_set(sh: u64, base: u64, port: u64, on: bool) {
    let w = sh + base + 8 * (port / 64);
    flush(w, 8);
    let v = r64(w);
    w64(w, if on { v | 1 << (port % 64) } else { v & !(1 << (port % 64)) });
    flush(w, 8);
}

pub(super) const PENDING: u64 = 48;
pub(super) const MASK: u64 = 560;

/// `xen-evtchn`: common/event_channel.c. Ports are allocated lowest-free
/// from 1 (port 0 is reserved: evtchn_init); alloc_unbound to DOMID_SELF
/// records the caller's id; bind_interdomain to it makes both ends
/// interdomain and marks the new local port pending; close returns the
/// peer to unbound; send on an unbound port is dropped (0); a per-vCPU VIRQ
/// (TIMER) or an IPI cannot be moved (bind_vcpu -EINVAL); bind_pirq is
/// -EOPNOTSUPP without CONFIG_HAS_PIRQ (Arm); set_priority is -ENOSYS and
/// expand_array -EOPNOTSUPP in 2-level mode; reset closes everything.
pub fn evtchn(env: &Env) {
    let mut c = Ck::new("xen-evtchn");
    let me = domid().unwrap_or(u64::MAX);
    let sh = SHINFO.load(Relaxed);
    let (r, p1) = alloc_unbound(DOMID_SELF, DOMID_SELF);
    ck!(c, rc "alloc_unbound"; r, 0);
    ck!(c, eq "first port"; p1, 1);
    let (r, st, v, dom, _) = status(DOMID_SELF, p1);
    ck!(c, rc "status p1"; r, 0);
    ck!(c, eq "p1 status"; st, ST_UNBOUND);
    ck!(c, eq "p1 vcpu"; v, 0);
    ck!(c, eq "p1 remote domid"; dom & 0xffff, me & 0xffff);
    let (r, p2) = bind_interdomain(DOMID_SELF, p1);
    ck!(c, rc "bind_interdomain to p1"; r, 0);
    ck!(c, eq "local port"; p2, 2);
    let (_, st, _, dom, port) = status(DOMID_SELF, p1);
    ck!(c, eq "p1 status after bind"; st, ST_INTERDOMAIN);
    ck!(c, eq "p1 peer"; (dom as u64 & 0xffff) << 32 | port as u64, (me & 0xffff) << 32 | p2);
    let (_, st, _, _, port) = status(DOMID_SELF, p2);
    ck!(c, eq "p2 status"; st, ST_INTERDOMAIN);
    ck!(c, eq "p2 peer port"; port, p1);
    if sh != 0 {
        ck!(c, t "p2 pending after bind"; sh_bit(sh, PENDING, p2), "clear");
        ck!(c, t "p1 not pending"; !sh_bit(sh, PENDING, p1), "set");
        sh_set(sh, PENDING, p2, false);
    }
    ck!(c, rc "send p1"; port_op(SEND, p1), 0);
    ck!(c, rc "send p2"; port_op(SEND, p2), 0);
    if sh != 0 {
        ck!(c, t "p2 pending after send p1"; sh_bit(sh, PENDING, p2), "clear");
        ck!(c, t "p1 pending after send p2"; sh_bit(sh, PENDING, p1), "clear");
    }
    ck!(c, rc "close p2"; port_op(CLOSE, p2), 0);
    if sh != 0 {
        ck!(c, t "p2 not pending after close"; !sh_bit(sh, PENDING, p2), "set");
    }
    let (_, st, _, dom, _) = status(DOMID_SELF, p1);
    ck!(c, eq "p1 status after close p2"; st, ST_UNBOUND);
    ck!(c, eq "p1 remote domid after close p2"; dom & 0xffff, me & 0xffff);
    ck!(c, eq "p2 status after close"; status(DOMID_SELF, p2).1, ST_CLOSED);
    ck!(c, rc "send p1 (unbound)"; port_op(SEND, p1), 0);
    ck!(c, rc "close p1"; port_op(CLOSE, p1), 0);
    ck!(c, rc "close p1 again"; port_op(CLOSE, p1), EINVAL);
    ck!(c, rc "close port 0"; port_op(CLOSE, 0), EINVAL);
    ck!(c, rc "close port {}", BAD_PORT; port_op(CLOSE, BAD_PORT), EINVAL);
    ck!(c, rc "send port 0"; port_op(SEND, 0), EINVAL);
    ck!(c, rc "send port {}", BAD_PORT; port_op(SEND, BAD_PORT), EINVAL);
    ck!(c, rc "unmask port {}", BAD_PORT; port_op(UNMASK, BAD_PORT), EINVAL);
    ck!(c, rc "unmask closed p1"; port_op(UNMASK, p1), 0);
    let (r, st, _, _, _) = status(DOMID_SELF, p1);
    ck!(c, rc "status closed p1"; r, 0);
    ck!(c, eq "p1 status after close"; st, ST_CLOSED);
    ck!(c, rc "status port {}", BAD_PORT; status(DOMID_SELF, BAD_PORT).0, EINVAL);
    ck!(c, rc "status {:#x}", DOMID_NONE; status(DOMID_NONE, 1).0, ESRCH);
    if let Some(o) = other(env) {
        ck!(c, rc "status other domid {}", o; status(o, 1).0, EPERM);
        ck!(c, rc "alloc_unbound in other domid {}", o; alloc_unbound(o, DOMID_SELF).0, EPERM);
    }
    ck!(c, rc "status bad pointer"; hc(EVENT_CHANNEL_OP, STATUS, BAD_VA, 0), EFAULT);

    // VIRQs: event_channel.c evtchn_bind_virq, virq_is_global (TIMER,
    // DEBUG, XENOPROF, XENPMU per vCPU; ARCH_* global on Arm).
    let n = ncpus(env);
    let (r, p) = bind_virq(0, 0);
    ck!(c, rc "bind_virq TIMER"; r, 0);
    ck!(c, eq "VIRQ port"; p, 1);
    let (_, st, v, virq, _) = status(DOMID_SELF, p);
    ck!(c, eq "VIRQ status"; st, ST_VIRQ);
    ck!(c, eq "VIRQ vcpu, virq"; (v as u64) << 32 | virq as u64, 0);
    ck!(c, rc "bind_virq TIMER again"; bind_virq(0, 0).0, EEXIST);
    ck!(c, rc "bind_vcpu per-vCPU VIRQ"; two(BIND_VCPU, p, 0, 0).0, EINVAL);
    ck!(c, rc "send VIRQ port"; port_op(SEND, p), EINVAL);
    ck!(c, rc "close VIRQ port"; port_op(CLOSE, p), 0);
    ck!(c, rc "bind_virq 24 (NR_VIRQS)"; bind_virq(24, 0).0, EINVAL);
    ck!(c, rc "bind_virq 0xffffffff"; bind_virq(0xffff_ffff, 0).0, EINVAL);
    ck!(c, rc "bind_virq CONSOLE (global) on vcpu 1"; bind_virq(2, 1).0, EINVAL);
    ck!(c, rc "bind_virq TIMER on vcpu {}", n; bind_virq(0, n).0, ENOENT);
    let (r, p) = bind_virq(16, 0);
    ck!(c, rc "bind_virq ARCH_0"; r, 0);
    ck!(c, rc "bind_vcpu global VIRQ to vcpu 0"; two(BIND_VCPU, p, 0, 0).0, 0);
    ck!(c, rc "bind_vcpu to vcpu {}", n; two(BIND_VCPU, p, n, 0).0, ENOENT);
    ck!(c, rc "close ARCH_0 port"; port_op(CLOSE, p), 0);

    // IPIs: evtchn_bind_ipi.
    let (r, p) = bind_ipi(0);
    ck!(c, rc "bind_ipi"; r, 0);
    let (_, st, v, _, _) = status(DOMID_SELF, p);
    ck!(c, eq "IPI status"; st, ST_IPI);
    ck!(c, eq "IPI vcpu"; v, 0);
    ck!(c, rc "bind_vcpu IPI"; two(BIND_VCPU, p, 0, 0).0, EINVAL);
    ck!(c, rc "bind_ipi vcpu {}", n; bind_ipi(n).0, ENOENT);
    clr(16);
    ck!(c, rc "bind_pirq"; eop(BIND_PIRQ), EOPNOTSUPP);
    ck!(c, rc "set_priority (2-level)"; two(SET_PRIORITY, p, 7, 0).0, ENOSYS);
    ck!(c, rc "set_priority port {}", BAD_PORT; two(SET_PRIORITY, BAD_PORT, 7, 0).0, EINVAL);
    clr(8);
    w64(arg(), gfn(P_FIFO_ARRAY));
    ck!(c, rc "expand_array (2-level)"; eop(EXPAND_ARRAY), EOPNOTSUPP);
    for cmd in [15u64, 0xffff_ffff] {
        ck!(c, rc "cmd {:#x}", cmd; eop(cmd), ENOSYS);
    }
    // EVTCHNOP_reset (xsm TARGET; self needs no pause): closes the IPI.
    ck!(c, rc "reset"; reset(DOMID_SELF), 0);
    ck!(c, eq "IPI status after reset"; status(DOMID_SELF, p).1, ST_CLOSED);
    ck!(c, rc "reset {:#x}", DOMID_NONE; reset(DOMID_NONE), ESRCH);
    if sh == 0 {
        c.no(format_args!("shared_info"), format_args!("not mapped: pending bits not checked"));
    }
    c.done(format_args!("ports 1, 2; unbound, interdomain, virq, ipi"))
}

/// Clears the registered vcpu_info's upcall_pending and pending_sel.
pub(super) fn clear_upcall() {
    let a = page(P_VCPU);
    flush(a, 64);
    w8(a, 0);
    w64(a + 8, 0);
    flush(a, 64);
}

pub(super) fn upcall_state() -> (u8, u64) {
    let a = page(P_VCPU);
    flush(a, 64);
    (r8(a), r64(a + 8))
}

/// Unmasks IRQs for up to `ms` or until `n` upcall interrupts were taken.
pub(super) fn take_upcalls(n: u32, ms: u64) {
    let end = deadline_ms(ms);
    arch::unmask_irq();
    while UPCALLS.load(Relaxed) < n && !past(end) {
        core::hint::spin_loop();
    }
    arch::mask_irq();
}

/// `xen-evtchn-upcall`: 2-level delivery (common/event_2l.c): send on a
/// masked port only sets its pending bit; unmask then sets the selector
/// bit and evtchn_upcall_pending (vcpu_mark_events_pending, arm/domain.c),
/// which injects PPI 31 on its 0 -> 1 edge; SCHEDOP_poll on a pending port
/// returns at once (sched/core.c do_poll). With a GICv3 the interrupt
/// itself is checked: exactly one PPI 31 per 0 -> 1 edge.
pub fn upcall(env: &Env) {
    let mut c = Ck::new("xen-evtchn-upcall");
    let sh = SHINFO.load(Relaxed);
    if sh == 0 || !VCPU_INFO_OK.load(Relaxed) {
        return crate::fail!("xen-evtchn-upcall", "needs shared_info and vcpu_info (earlier checks)");
    }
    let (r, p) = bind_ipi(0);
    if ck!(c, rc "bind_ipi"; r, 0) != Some(0) {
        return c.done(format_args!(""));
    }
    let w = p / 64;
    clear_upcall();
    sh_set(sh, PENDING, p, false);
    sh_set(sh, MASK, p, true);
    ck!(c, rc "send (masked)"; port_op(SEND, p), 0);
    ck!(c, t "pending after send"; sh_bit(sh, PENDING, p), "clear");
    let (up, sel) = upcall_state();
    ck!(c, eq "masked: upcall_pending, pending_sel"; (up as u64) << 32 | sel, 0);
    ck!(c, rc "unmask"; port_op(UNMASK, p), 0);
    ck!(c, t "mask bit cleared by unmask"; !sh_bit(sh, MASK, p), "set");
    let (up, sel) = upcall_state();
    ck!(c, eq "unmask: upcall_pending"; up, 1);
    ck!(c, eq "unmask: pending_sel"; sel, 1u64 << w);
    // SCHEDOP_poll { ports @0; nr_ports @8; timeout @16 } on a pending
    // port: returns 0 without blocking. (timeout 1 ns after Xen's boot is
    // long past: a poll that did block would end at once.)
    w32(arg() + 512, p as u32);
    clr(24);
    w64(arg(), arg() + 512);
    w32(arg() + 8, 1);
    w64(arg() + 16, 1);
    ck!(c, rc "poll pending port"; hc(SCHED_OP, 3, arg(), 0), 0);
    clear_upcall();
    sh_set(sh, PENDING, p, false);
    ck!(c, rc "send (unmasked)"; port_op(SEND, p), 0);
    ck!(c, t "pending after send"; sh_bit(sh, PENDING, p), "clear");
    let (up, sel) = upcall_state();
    ck!(c, eq "send: upcall_pending"; up, 1);
    ck!(c, eq "send: pending_sel"; sel, 1u64 << w);
    let mut irq = "no GICv3: interrupt not checked";
    if gic::present(env) {
        match gic::xen_ppi_enable(env, EVTCHN_PPI) {
            Err(b) => {
                say!("info xen-evtchn-upcall GIC: {}", b.as_str());
                irq = "GIC setup failed: interrupt not checked";
            }
            Ok(()) => {
                // Whatever was injected while the PPI was disabled
                // (registration, unmask, send): Xen's vGIC keeps one
                // pending edge.
                UPCALLS.store(0, Relaxed);
                take_upcalls(u32::MAX, 20);
                say!("info xen-evtchn-upcall {} upcall(s) pending at enable", UPCALLS.load(Relaxed));
                clear_upcall();
                sh_set(sh, PENDING, p, false);
                UPCALLS.store(0, Relaxed);
                ck!(c, rc "send (IRQ)"; port_op(SEND, p), 0);
                take_upcalls(1, 100);
                take_upcalls(u32::MAX, 10);
                ck!(c, eq "PPI 31 interrupts for one send"; UPCALLS.load(Relaxed), 1);
                ck!(c, eq "upcall_pending after the handler"; upcall_state().0, 0);
                gic::xen_ppi_disable(EVTCHN_PPI);
                irq = "one PPI 31 per send";
            }
        }
    }
    ck!(c, rc "close"; port_op(CLOSE, p), 0);
    c.done(format_args!("{}", irq))
}

/// init_control { u64 control_gfn; u32 offset; u32 vcpu; u8 link_bits @16 }.
fn init_control(g: u64, offset: u32, vcpu: u64) -> (R, u8) {
    clr(24);
    w64(arg(), g);
    w32(arg() + 8, offset);
    w32(arg() + 12, vcpu as u32);
    let r = eop(INIT_CONTROL);
    (r, r8(arg() + 16))
}

fn expand(g: u64) -> R {
    clr(8);
    w64(arg(), g);
    eop(EXPAND_ARRAY)
}

/// `xen-evtchn-fifo`: common/event_fifo.c. init_control: vCPU -ENOENT,
/// offset > 4096 - 72 or not 8-aligned -EINVAL, gfn not RAM -EINVAL; the
/// first success switches the domain to FIFO, link_bits = 17; a second
/// control block for the vCPU -EINVAL. expand_array adds an event-array
/// page. set_priority: > 15 -EINVAL, reserved port -EACCES
/// (event_channel.h). A send on an unmasked port sets P and L in its event
/// word, links it at the head of its priority's queue and sets that ready
/// bit. EVTCHNOP_reset goes back to 2-level (event_channel.c evtchn_reset).
pub fn fifo(env: &Env) {
    let mut c = Ck::new("xen-evtchn-fifo");
    let n = ncpus(env);
    let (ctl, arr) = (page(P_FIFO_CTRL), page(P_FIFO_ARRAY));
    ck!(c, rc "reset first"; reset(DOMID_SELF), 0);
    let g = gfn(P_FIFO_CTRL);
    ck!(c, rc "init_control vcpu {}", n; init_control(g, 0, n).0, ENOENT);
    ck!(c, rc "init_control offset 4032"; init_control(g, 4032, 0).0, EINVAL);
    ck!(c, rc "init_control offset 4"; init_control(g, 4, 0).0, EINVAL);
    ck!(c, rc "init_control gfn 0x10000 (not RAM)"; init_control(0x10000, 0, 0).0, EINVAL);
    ck!(c, rc "init_control bad pointer"; hc(EVENT_CHANNEL_OP, INIT_CONTROL, BAD_VA, 0), EFAULT);
    fill(ctl, PAGE, 0);
    fill(arr, PAGE, 0);
    flush(ctl, PAGE);
    flush(arr, PAGE);
    let (r, bits) = init_control(g, 0, 0);
    if ck!(c, rc "init_control vcpu 0"; r, 0) != Some(0) {
        return c.done(format_args!(""));
    }
    ck!(c, eq "link_bits"; bits, 17);
    ck!(c, rc "init_control vcpu 0 again"; init_control(g, 0, 0).0, EINVAL);
    if n >= 2 {
        ck!(c, rc "init_control vcpu 1"; init_control(g, 2048, 1).0, 0);
    }
    ck!(c, rc "expand_array"; expand(gfn(P_FIFO_ARRAY)), 0);
    ck!(c, rc "expand_array gfn 0x10000"; expand(0x10000), EINVAL);
    let (r, p) = bind_ipi(0);
    ck!(c, rc "bind_ipi"; r, 0);
    ck!(c, rc "set_priority 16"; two(SET_PRIORITY, p, 16, 0).0, EINVAL);
    ck!(c, rc "set_priority 3"; two(SET_PRIORITY, p, 3, 0).0, 0);
    ck!(c, rc "set_priority port 0"; two(SET_PRIORITY, 0, 3, 0).0, EACCES);
    ck!(c, rc "set_priority port {}", BAD_PORT; two(SET_PRIORITY, BAD_PORT, 3, 0).0, EINVAL);
    ck!(c, rc "send"; port_op(SEND, p), 0);
    flush(arr, PAGE);
    flush(ctl, 128);
    // Event word: P (31) | L (29), LINK 0 (public/event_channel.h);
    // control block { u32 ready @0; u32 rsvd; u32 head[16] @8 }.
    ck!(c, eq "event word"; r32(arr + 4 * p), 0xa000_0000u32);
    ck!(c, eq "ready"; r32(ctl), 1 << 3);
    ck!(c, eq "head[3]"; r32(ctl + 8 + 4 * 3), p);
    ck!(c, rc "reset"; reset(DOMID_SELF), 0);
    ck!(c, rc "set_priority after reset (2-level)"; two(SET_PRIORITY, 0, 3, 0).0, ENOSYS);
    ck!(c, rc "expand_array after reset"; expand(gfn(P_FIFO_ARRAY)), EOPNOTSUPP);
    c.done(format_args!("link_bits 17, port {} queued at priority 3", p))
}
