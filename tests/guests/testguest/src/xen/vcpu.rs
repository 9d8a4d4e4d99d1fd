//! vcpu_op: Arm's wrapper, VCPUOP_register_vcpu_info and
//! VCPUOP_register_runstate_memory_area.

use super::basic::SCHEDOP_YIELD;
use super::hc::*;
use crate::{ck, Env};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// vcpu_info of vCPU 0 is registered at page(P_VCPU) + 0.
pub static VCPU_INFO_OK: AtomicBool = AtomicBool::new(false);

const REGISTER_RUNSTATE: u64 = 5;
const REGISTER_VCPU_INFO: u64 = 10;

/// The number of vCPUs the domain has: bootargs cpus=, else the DT.
pub fn ncpus(env: &Env) -> u64 {
    env.arg_num("cpus").unwrap_or(env.ncpus as u64)
}

/// `xen-vcpu-op`: arm/domain.c do_vcpu_op: a vcpuid that is not a vCPU of
/// the domain is -ENOENT (checked first), and every cmd but
/// register_runstate_memory_area (5) and register_vcpu_info (10) is
/// -EINVAL on Arm (secondary vCPUs start with PSCI CPU_ON).
pub fn vcpu_op(env: &Env) {
    let mut c = Ck::new("xen-vcpu-op");
    let n = ncpus(env);
    for v in [n, 128, 0xffff_ffff] {
        ck!(c, rc "register_vcpu_info vcpu {:#x}", v; hc(VCPU_OP, REGISTER_VCPU_INFO, v, arg()), ENOENT);
        ck!(c, rc "cmd 99 vcpu {:#x}", v; hc(VCPU_OP, 99, v, arg()), ENOENT);
    }
    clr(64);
    for cmd in [0u64, 1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 0xffff_ffff] {
        ck!(c, rc "cmd {:#x} vcpu 0", cmd; hc(VCPU_OP, cmd, 0, arg()), EINVAL);
    }
    c.done(format_args!("{} vCPUs", n))
}

/// struct vcpu_register_vcpu_info { u64 mfn (a gfn on Arm); u32 offset;
/// u32 rsvd (ignored) }.
pub(super) fn reg_info(vcpu: u64, mfn: u64, offset: u32) -> R {
    clr(16);
    w64(arg(), mfn);
    w32(arg() + 8, offset);
    w32(arg() + 12, 0xffff_ffff);
    hc(VCPU_OP, REGISTER_VCPU_INFO, vcpu, arg())
}

/// Checks a freshly registered vcpu_info (48 bytes on Arm:
/// evtchn_upcall_pending @0, pad0 @1, evtchn_pending_sel @8, time @16).
fn fresh_info(c: &mut Ck, v: u64, a: u64) {
    flush(a, 64);
    // common/domain.c map_guest_area: evtchn_pending_sel = ~0 and
    // vcpu_mark_events_pending (upcall_pending = 1, PPI 31 injected).
    ck!(c, eq "vcpu {} evtchn_upcall_pending", v; r8(a), 1);
    ck!(c, eq "vcpu {} evtchn_pending_sel", v; r64(a + 8), u64::MAX);
    // vcpu_info_populate: a copy of the shared_info slot (vCPU 0) or
    // zeros; vcpu_time_info is never written on Arm (arm/time.c).
    let z = (2..8).all(|i| r8(a + i) == 0) && (2..6).all(|i| r64(a + 8 * i) == 0);
    ck!(c, t "vcpu {} other fields zero", v; z, "not zero");
}

/// `xen-vcpu-info`: VCPUOP_register_vcpu_info (common/domain.c
/// common_vcpu_op, map_guest_area), in the order Xen checks: offset past
/// the page -EINVAL, already registered -EBUSY, crossing the page or not
/// 8-aligned -ENXIO, gfn not RAM -EINVAL. The error cases run before the
/// registration (afterwards everything is -EBUSY).
pub fn vcpu_info(env: &Env) {
    let mut c = Ck::new("xen-vcpu-info");
    let g = gfn(P_VCPU);
    ck!(c, rc "offset 4096"; reg_info(0, g, 4096), EINVAL);
    ck!(c, rc "gfn ~0 (address overflow)"; reg_info(0, u64::MAX, 0), EINVAL);
    ck!(c, rc "offset 4056 (crosses the page)"; reg_info(0, g, 4056), ENXIO);
    ck!(c, rc "offset 4 (misaligned)"; reg_info(0, g, 4), ENXIO);
    ck!(c, rc "gfn 0x10000 (not RAM)"; reg_info(0, 0x10000, 0), EINVAL);
    ck!(c, rc "bad pointer"; hc(VCPU_OP, REGISTER_VCPU_INFO, 0, BAD_VA), EFAULT);
    let a = page(P_VCPU);
    fill(a, 128, 0xaa);
    if ck!(c, rc "vcpu 0 at offset 0"; reg_info(0, g, 0), 0) == Some(0) {
        VCPU_INFO_OK.store(true, Relaxed);
        fresh_info(&mut c, 0, a);
    }
    ck!(c, rc "vcpu 0 again"; reg_info(0, g, 0), EBUSY);
    ck!(c, rc "vcpu 0 again, offset 128"; reg_info(0, g, 128), EBUSY);
    ck!(c, rc "vcpu 0 again, offset 4096"; reg_info(0, g, 4096), EINVAL);
    let n = ncpus(env);
    if n >= 2 {
        // vCPU 1 (never started): from the dummy vcpu_info, so zeroed.
        if ck!(c, rc "vcpu 1 at offset 64"; reg_info(1, g, 64), 0) == Some(0) {
            fresh_info(&mut c, 1, a + 64);
        }
        ck!(c, rc "vcpu 1 again"; reg_info(1, g, 64), EBUSY);
    }
    ck!(c, rc "vcpu {}", n; reg_info(n, g, 256), ENOENT);
    c.done(format_args!("pending 1, sel ~0"))
}

/// struct vcpu_register_runstate_memory_area { u64 addr (a guest VA) }.
fn reg_rs(vcpu: u64, va: u64) -> R {
    clr(8);
    w64(arg(), va);
    hc(VCPU_OP, REGISTER_RUNSTATE, vcpu, arg())
}

/// struct vcpu_runstate_info { int state @0; u64 state_entry_time @8;
/// u64 time[4] @16 } (48 bytes).
struct Rs {
    state: u32,
    entry: u64,
    time: [u64; 4],
}

fn read_rs(a: u64) -> Rs {
    flush(a, 64);
    Rs {
        state: r32(a),
        entry: r64(a + 8),
        time: [r64(a + 16), r64(a + 24), r64(a + 32), r64(a + 40)],
    }
}

/// The invariants of a runstate copy: the state wanted, no
/// XEN_RUNSTATE_UPDATE (bit 63) while the guest runs, and, for the calling
/// vCPU's own copy of v->runstate, state_entry_time >= the sum of time[]
/// (time[] accumulates the differences of state_entry_time since the
/// vCPU's creation: common/sched/core.c vcpu_runstate_change).
fn rs_ok(c: &mut Ck, v: u64, r: &Rs, state: u32) {
    ck!(c, eq "vcpu {} state", v; r.state, state);
    ck!(c, eq "vcpu {} XEN_RUNSTATE_UPDATE", v; r.entry >> 63, 0);
    if v == 0 {
        let sum = r.time.iter().fold(0u64, |s, t| s.wrapping_add(*t));
        ck!(c, t "vcpu {} state_entry_time >= sum(time)", v; r.entry >= sum,
            "{:#x} < {:#x}", r.entry, sum);
    }
}

/// `xen-runstate`: VCPUOP_register_runstate_memory_area (common/domain.c
/// common_vcpu_op) stores the VA and writes the runstate through it at
/// once (vcpu_runstate_get for another vCPU); it returns 0 even if that
/// write fails (only reading the argument can fail, -EFAULT).
pub fn runstate(env: &Env) {
    let mut c = Ck::new("xen-runstate");
    let a = page(P_VCPU) + 512;
    fill(a, 128, 0xaa);
    flush(a, 128);
    if ck!(c, rc "vcpu 0"; reg_rs(0, a), 0) == Some(0) {
        let r0 = read_rs(a);
        rs_ok(&mut c, 0, &r0, 0); // RUNSTATE_running
        ck!(c, rc "yield"; hc(SCHED_OP, SCHEDOP_YIELD, 0, 0), 0);
        let r1 = read_rs(a);
        rs_ok(&mut c, 0, &r1, 0);
        ck!(c, t "state_entry_time monotonic"; r1.entry >= r0.entry, "{:#x} -> {:#x}", r0.entry, r1.entry);
        let mono = (0..4).all(|i| r1.time[i] >= r0.time[i]);
        ck!(c, t "time[] monotonic"; mono, "{:x?} -> {:x?}", r0.time, r1.time);
    }
    if ncpus(env) >= 2 {
        let b = a + 64;
        fill(b, 64, 0xaa);
        flush(b, 64);
        if ck!(c, rc "vcpu 1"; reg_rs(1, b), 0) == Some(0) {
            // vCPU 1 was never brought up: RUNSTATE_offline (3) since
            // its creation (common/domain.c vcpu_create), the time since
            // then in time[offline] (sched/core.c vcpu_runstate_get).
            let r = read_rs(b);
            rs_ok(&mut c, 1, &r, 3);
            ck!(c, t "vcpu 1 time[] only offline"; r.time[..3] == [0, 0, 0] && r.time[3] > 0,
                "{:x?}", r.time);
        }
    }
    ck!(c, rc "bad pointer"; hc(VCPU_OP, REGISTER_RUNSTATE, 0, BAD_VA), EFAULT);
    ck!(c, rc "area at an unmapped VA"; reg_rs(0, BAD_VA), 0);
    ck!(c, rc "NULL area"; reg_rs(0, 0), 0);
    ck!(c, rc "vcpu {}", ncpus(env); reg_rs(ncpus(env), a), ENOENT);
    if ck!(c, rc "vcpu 0 again"; reg_rs(0, a), 0) == Some(0) {
        rs_ok(&mut c, 0, &read_rs(a), 0);
    }
    let other = if ncpus(env) >= 2 { ", vcpu 1 offline" } else { "" };
    c.done(format_args!("vcpu 0 running{}", other))
}
