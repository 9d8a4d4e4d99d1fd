//! Hypercalls with no state: dispatch, xen_version, console_io, multicall,
//! physdev_op, vm_assist, hvm_op params, sched_op.

use super::hc::*;
use super::{domid, other};
use crate::out::{BStr, FaultText};
use crate::{ck, probe, say, Env};

pub const SCHEDOP_YIELD: u64 = 0;
pub const SCHEDOP_SHUTDOWN: u64 = 2;
const SCHEDOP_POLL: u64 = 3;
const SCHEDOP_REMOTE_SHUTDOWN: u64 = 4;
const SCHEDOP_SHUTDOWN_CODE: u64 = 5;
const SCHEDOP_WATCHDOG: u64 = 6;
const SCHEDOP_PIN_OVERRIDE: u64 = 7;

/// XENVER_version for Xen 4.20: (XEN_VERSION << 16) | XEN_SUBVERSION
/// (common/kernel.c do_xen_version; xen/Makefile).
const VERSION_4_20: i64 = (4 << 16) | 20;

fn xv(cmd: u64, a: u64) -> R {
    hc(XEN_VERSION, cmd, a, 0)
}

fn xvb(cmd: u64, a: u64, len: u64) -> R {
    hcx(XEN_VERSION, cmd, a, 0, (a, len + 8))
}

/// `xen-regs`: x5..x15 and x17 survive a hypercall (Xen's entry code saves
/// and restores all guest registers; only x0, and in debug builds x1..x4
/// and x16, are written: traps.c do_trap_hypercall). x1/x16 are reported.
pub fn regs(_env: &Env) {
    let mut c = Ck::new("xen-regs");
    let seed = |i: u64| 0x5eed_0000_0000_0000u64 | i << 8 | i;
    let (mut x5, mut x6, mut x7, mut x8, mut x9, mut x10) = (seed(5), seed(6), seed(7), seed(8), seed(9), seed(10));
    let (mut x11, mut x12, mut x13, mut x14, mut x15, mut x17) = (seed(11), seed(12), seed(13), seed(14), seed(15), seed(17));
    let (r0, x1, x16): (u64, u64, u64);
    let f = probe!("hvc #0xea1";
        inout("x0") 0u64 => r0, inout("x1") seed(1) => x1, inout("x2") 0u64 => _,
        inout("x3") 0u64 => _, inout("x4") 0u64 => _, inout("x5") x5, inout("x6") x6,
        inout("x7") x7, inout("x8") x8, inout("x9") x9, inout("x10") x10,
        inout("x11") x11, inout("x12") x12, inout("x13") x13, inout("x14") x14,
        inout("x15") x15, inout("x16") XEN_VERSION => x16, inout("x17") x17);
    if let Some(f) = f {
        return crate::fail!("xen-regs", "xen_version raised {}", FaultText(f));
    }
    ck!(c, eq "xen_version result"; r0, VERSION_4_20);
    let got = [x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x17];
    let num = [5u64, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17];
    for (v, n) in got.iter().zip(num) {
        ck!(c, eq "x{}", n; *v, seed(n));
    }
    say!("info xen-regs after the call x1 {:#x} x16 {:#x} (0xdeadbeef: debug build)", x1, x16);
    c.done(format_args!("x5-x15, x17 preserved"))
}

/// `xen-unknown-hypercalls`: numbers Arm's table lacks return -ENOSYS
/// (xen/include/hypercall-defs.c "arm" column; traps.c do_trap_hypercall:
/// call_handlers_arm compares all 64 bits of x16, default -ENOSYS;
/// sched_op_compat 6, event_channel_op_compat 16 and physdev_op_compat 19
/// are "dep": traps.c do_deprecated_hypercall returns -ENOSYS).
pub fn unknown(_env: &Env) {
    let mut c = Ck::new("xen-unknown-hypercalls");
    const NRS: [u64; 38] = [
        0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 14, 15, 16, 19, 22, 23, 25, 26, 28, 30, 31,
        37, 38, 40, 43, 47, 48, 51, 55, 56, 63, 64, 0xffff, 0xffff_ffff,
        (1 << 32) | XEN_VERSION, 1 << 63, u64::MAX,
    ];
    for nr in NRS {
        ck!(c, rc "hypercall {:#x}", nr; hc(nr, 0, 0, 0), ENOSYS);
    }
    c.done(format_args!("{} numbers", NRS.len()))
}

/// `xen-privileged-hypercalls`: control-domain-only hypercalls refuse a
/// domU. platform_op (arm/platform_hypercall.c), sysctl (common/sysctl.c)
/// and domctl (common/domctl.c) check interface_version first (-EACCES),
/// then XSM_PRIV (-EPERM, include/xsm/dummy.h); hypfs_op
/// (common/hypfs.c) is XSM_PRIV first; xsm_op is -ENOSYS under the dummy
/// and SILO modules (Arm's default XSM is SILO, common/Kconfig).
pub fn privileged(_env: &Env) {
    let mut c = Ck::new("xen-privileged-hypercalls");
    // struct xen_platform_op / xen_sysctl: cmd @0, interface_version @4,
    // union (128 bytes) @8; xen_domctl: cmd @0, interface_version @4,
    // domain @8, union @16.
    let cases: [(u64, &str, u32, u32); 3] = [
        (7, "platform_op settime64", 62, 0x0300_0001), // XENPF_INTERFACE_VERSION
        (35, "sysctl readconsole", 1, 0x15),           // XEN_SYSCTL_INTERFACE_VERSION
        (36, "domctl createdomain", 1, 0x17),          // XEN_DOMCTL_INTERFACE_VERSION
    ];
    for (nr, what, cmd, ver) in cases {
        clr(256);
        w32(arg(), cmd);
        w32(arg() + 4, ver.wrapping_add(1));
        ck!(c, rc "{} wrong version", what; hc(nr, arg(), 0, 0), EACCES);
        clr(256);
        w32(arg(), cmd);
        w32(arg() + 4, ver);
        ck!(c, rc "{}", what; hc(nr, arg(), 0, 0), EPERM);
        ck!(c, rc "{} bad pointer", what; hc(nr, BAD_VA, 0, 0), EFAULT);
    }
    // hypfs_op(XEN_HYPFS_OP_get_version, NULL, 0, NULL, 0).
    ck!(c, rc "hypfs_op get_version"; hc(42, 0, 0, 0), EPERM);
    ck!(c, rc "xsm_op"; hc(27, arg(), 0, 0), ENOSYS);
    c.done(format_args!("platform_op, sysctl, domctl, hypfs_op, xsm_op"))
}

/// `xen-version`: XENVER_* that return values (common/kernel.c
/// do_xen_version; cmd is an int, so x0's upper half is ignored).
pub fn version(_env: &Env) {
    let mut c = Ck::new("xen-version");
    ck!(c, rc "XENVER_version"; xv(0, 0), VERSION_4_20);
    ck!(c, rc "XENVER_version, x0 bit 32 set"; xv(1 << 32, 0), VERSION_4_20);
    // XENVER_platform_parameters: virt_start = 0 for a non-PV guest.
    clr(16);
    w64(arg(), u64::MAX);
    ck!(c, rc "XENVER_platform_parameters"; xv(5, arg()), 0);
    ck!(c, eq "platform_parameters.virt_start"; r64(arg()), 0);
    // XENVER_pagesize: PAGE_SIZE with a NULL argument, -EINVAL otherwise.
    ck!(c, rc "XENVER_pagesize"; xv(7, 0), 4096);
    ck!(c, rc "XENVER_pagesize, non-NULL arg"; xv(7, arg()), EINVAL);
    // Unknown sub-ops: -ENOSYS, even though XSM denies them first.
    for cmd in [15u64, 16, 0x7fff_ffff, 0xffff_ffff] {
        ck!(c, rc "sub-op {:#x}", cmd; xv(cmd, arg()), ENOSYS);
    }
    c.done(format_args!("version {:#x}, pagesize 4096", VERSION_4_20))
}

/// The NUL-terminated string in `len` bytes at `a`, if it is one followed
/// only by NULs (Xen memsets its buffer, then safe_strcpy).
fn padded_str(a: u64, len: u64) -> Option<u64> {
    let n = (0..len).position(|i| r8(a + i) == 0)? as u64;
    (n..len).all(|i| r8(a + i) == 0).then_some(n)
}

fn bytes(a: u64, n: u64) -> &'static [u8] {
    // SAFETY: `a..a+n` lies in PAGES (static, never freed); read-only view
    // for printing, byte accesses need no alignment.
    unsafe { core::slice::from_raw_parts(a as usize as *const u8, n as usize) }
}

/// `xen-version-strings`: the buffer-filling sub-ops (common/kernel.c
/// do_xen_version, xenver_varbuf_op; XSM: include/xsm/dummy.h
/// xsm_xen_version, XSM_HOOK for these, XSM_PRIV for commandline and
/// build_id). Each buffer is pre-filled with 0xaa to see exactly how many
/// bytes Xen writes. Strings that differ between Xen builds are `info`.
pub fn version_strings(_env: &Env) {
    let mut c = Ck::new("xen-version-strings");
    let buf = page(P_BUF);
    // XENVER_extraversion: char[16], memset + safe_strcpy, 16 bytes copied.
    fill(buf, 32, 0xaa);
    ck!(c, rc "extraversion"; xvb(1, buf, 32), 0);
    let ev = padded_str(buf, 16);
    ck!(c, t "extraversion NUL-padded"; ev.is_some(), "{:x?}", bytes(buf, 16));
    ck!(c, eq "extraversion byte 16 untouched"; r8(buf + 16), 0xaa);
    let evn = ev.unwrap_or(0);
    ck!(c, t "extraversion starts with '.'"; r8(buf) == b'.', "\"{}\"", BStr(bytes(buf, evn)));
    say!("info xen-version-strings extraversion \"{}\"", BStr(bytes(buf, evn)));
    // XENVER_extraversion2 with a NULL handle: the length.
    ck!(c, rc "extraversion2 length"; xv(11, 0), evn as i64);
    // XENVER_compile_info: compiler[64] compile_by[16] compile_domain[32]
    // compile_date[32], 144 bytes.
    fill(buf, 160, 0xaa);
    ck!(c, rc "compile_info"; xvb(2, buf, 160), 0);
    for (off, len) in [(0u64, 64u64), (64, 16), (80, 32), (112, 32)] {
        ck!(c, t "compile_info field @{}", off; padded_str(buf + off, len).is_some(), "not a padded string");
    }
    ck!(c, eq "compile_info byte 144 untouched"; r8(buf + 144), 0xaa);
    say!("info xen-version-strings compiler \"{}\"", BStr(bytes(buf, padded_str(buf, 64).unwrap_or(0))));
    // XENVER_capabilities: char[1024], here straddling a page boundary.
    // arm/setup.c init_xen_cap_info: "xen-3.0-aarch64 " plus
    // "xen-3.0-armv7l " if the CPU runs AArch32 at EL1.
    let cap = buf + PAGE - 512;
    fill(cap, 1032, 0xaa);
    ck!(c, rc "capabilities (across a page boundary)"; xvb(3, cap, 1032), 0);
    const CAPS: [&[u8]; 2] = [b"xen-3.0-aarch64 ", b"xen-3.0-aarch64 xen-3.0-armv7l "];
    let n = padded_str(cap, 1024).unwrap_or(0);
    let caps = CAPS.iter().find(|&&k| k == bytes(cap, n)).copied();
    ck!(c, t "capabilities"; caps.is_some(), "\"{}\"", BStr(bytes(cap, n)));
    ck!(c, eq "capabilities byte 1024 untouched"; r8(cap + 1024), 0xaa);
    let s = caps.unwrap_or(b"?");
    // XENVER_capabilities2 (varbuf {u32 len; buf[]}): strlen bytes, no
    // NUL, returns the length; -ENOBUFS if len is smaller.
    fill(cap, 1032, 0xaa);
    w32(cap, 1000);
    ck!(c, rc "capabilities2"; xvb(12, cap, 1032), n as i64);
    ck!(c, t "capabilities2 text"; bytes(cap + 4, n) == s && r8(cap + 4 + n) == 0xaa,
        "\"{}\"", BStr(bytes(cap + 4, n)));
    w32(cap, 4);
    ck!(c, rc "capabilities2, len 4"; xvb(12, cap, 8), ENOBUFS);
    // XENVER_changeset: char[64].
    fill(buf, 72, 0xaa);
    ck!(c, rc "changeset"; xvb(4, buf, 72), 0);
    let cs = padded_str(buf, 64);
    ck!(c, t "changeset NUL-padded"; cs.is_some(), "not a padded string");
    ck!(c, eq "changeset byte 64 untouched"; r8(buf + 64), 0xaa);
    say!("info xen-version-strings changeset \"{}\"", BStr(bytes(buf, cs.unwrap_or(0))));
    ck!(c, rc "changeset2 length"; xv(13, 0), cs.unwrap_or(0) as i64);
    // XENVER_guest_handle: the domain handle, all zeros for dom0less.
    fill(buf, 24, 0xaa);
    ck!(c, rc "guest_handle"; xvb(8, buf, 24), 0);
    ck!(c, t "guest_handle zero"; (0..16).all(|i| r8(buf + i) == 0), "{:x?}", bytes(buf, 16));
    ck!(c, eq "guest_handle byte 16 untouched"; r8(buf + 16), 0xaa);
    // XENVER_commandline: denied, so only "<denied>\0" (9 bytes) copied.
    fill(buf, 16, 0xaa);
    ck!(c, rc "commandline"; xvb(9, buf, 16), 0);
    ck!(c, t "commandline"; bytes(buf, 10) == b"<denied>\0\xaa", "{:x?}", bytes(buf, 10));
    // Denied varbuf sub-ops: -EPERM.
    ck!(c, rc "build_id"; xv(10, buf), EPERM);
    ck!(c, rc "commandline2"; xv(14, buf), EPERM);
    c.done(format_args!("capabilities \"{}\"", BStr(s)))
}

/// `xen-features`: XENVER_get_features (common/kernel.c): submap 0 for a
/// non-direct-mapped Arm domU has bits 0 writable_page_tables, 2
/// auto_translated_physmap (paging_mode_translate), 13
/// memory_op_vnode_supported, 14 ARM_SMCCC_supported, 16
/// not_direct_mapped, 18 runstate_phys_area = 0x56005
/// (public/features.h); other submaps -EINVAL. The submap input is ignored.
pub fn features(_env: &Env) {
    let mut c = Ck::new("xen-features");
    clr(16);
    w32(arg() + 4, 0xdead_beef);
    ck!(c, rc "get_features(0)"; xv(6, arg()), 0);
    ck!(c, eq "submap_idx"; r32(arg()), 0);
    let sub = r32(arg() + 4);
    ck!(c, eq "submap 0"; sub, 0x0005_6005);
    for idx in [1u32, 2, 0xffff_ffff] {
        clr(16);
        w32(arg(), idx);
        ck!(c, rc "get_features({:#x})", idx; xv(6, arg()), EINVAL);
    }
    c.done(format_args!("submap 0 {:#x}", sub))
}

/// `xen-version-efault`: buffers Xen cannot translate give -EFAULT
/// (arm/guestcopy.c copy_guest: a page that is not the domain's RAM), also
/// when only the second half of the buffer is outside RAM.
pub fn version_efault(env: &Env) {
    let mut c = Ck::new("xen-version-efault");
    for a in [BAD_VA, 0x1000_0000, 0xffff_ffff_f000u64] {
        ck!(c, rc "extraversion at {:#x}", a; xv(1, a), EFAULT);
        ck!(c, rc "get_features at {:#x}", a; xv(6, a), EFAULT);
        ck!(c, rc "capabilities at {:#x}", a; xv(3, a), EFAULT);
    }
    // guest_handle (16 bytes) at the last 8 bytes of RAM, if nothing of
    // ours (image, DTB) is there.
    let end = crate::checks::ram_end(env);
    let dtb_end = env.dtb + crate::mmio::dtb_slice(env.dtb).map_or(0, |b| b.len() as u64);
    let a = end - 8;
    if env.dtb < end && dtb_end > a - PAGE {
        say!("info xen-version-efault DTB near the end of RAM: straddle case skipped");
    } else {
        ck!(c, rc "guest_handle at end of RAM - 8"; xv(8, a), EFAULT);
    }
    c.done(format_args!("-EFAULT"))
}

/// `xen-console-io`: CONSOLEIO_write / read (drivers/char/console.c
/// do_console_io). Dom0less domUs are consoles (arm/dom0less-build.c
/// create_domUs: d->is_console = true), so XSM lets both through
/// (dummy.h xsm_console_io). Output appears as "(dN) ..." on Xen's console
/// only with guest_loglvl=all or a debug build (G_DEBUG level).
pub fn console_io(_env: &Env) {
    let mut c = Ck::new("xen-console-io");
    let msg = b"testguest: console_io hello\n";
    let buf = page(P_BUF);
    for (i, &b) in msg.iter().enumerate() {
        w8(buf + i as u64, b);
    }
    let n = msg.len() as u64;
    ck!(c, rc "write"; hcx(CONSOLE_IO, 0, n, buf, (buf, n)), 0);
    ck!(c, rc "write count 0, NULL"; hc(CONSOLE_IO, 0, 0, 0), 0);
    ck!(c, rc "write bad pointer"; hc(CONSOLE_IO, 0, 8, BAD_VA), EFAULT);
    ck!(c, rc "read count 0"; hc(CONSOLE_IO, 1, 0, buf), 0);
    c.within(format_args!("read count 16"), hcx(CONSOLE_IO, 1, 16, buf, (buf, 16)), 0, 16);
    ck!(c, rc "read count 0x80000000"; hc(CONSOLE_IO, 1, 0x8000_0000, buf), E2BIG);
    for cmd in [2u64, 3, 0xffff_ffff] {
        ck!(c, rc "cmd {:#x}", cmd; hc(CONSOLE_IO, cmd, 0, buf), ENOSYS);
    }
    c.done(format_args!("write 0, read 0..16"))
}

/// `xen-multicall`: common/multicall.c do_multicall with arm/traps.c
/// arch_do_multicall_call: each entry's result in its `result`; an op past
/// the table is -ENOSYS, a nested multicall -EINVAL; the call returns 0.
pub fn multicall(_env: &Env) {
    let mut c = Ck::new("xen-multicall");
    let m = page(P_BUF);
    // struct multicall_entry { u64 op, result, args[6]; } (64 bytes).
    let ent = [
        (XEN_VERSION, [0u64, 0]),  // XENVER_version
        (64, [0, 0]),              // beyond hypercall_args[]
        (MULTICALL, [m, 1]),       // nested
        (XEN_VERSION, [7, 0]),     // XENVER_pagesize
        (40, [0, 0]),              // xenpmu_op: not on Arm
    ];
    let want = [VERSION_4_20, ENOSYS, EINVAL, 4096, ENOSYS];
    fill(m, 64 * ent.len() as u64, 0);
    for (i, (op, a)) in ent.iter().enumerate() {
        let e = m + 64 * i as u64;
        w64(e, *op);
        w64(e + 8, 0x5555);
        w64(e + 16, a[0]);
        w64(e + 24, a[1]);
    }
    let len = 64 * ent.len() as u64;
    ck!(c, rc "multicall of {}", ent.len(); hcx(MULTICALL, m, ent.len() as u64, 0, (m, len)), 0);
    for (i, w) in want.iter().enumerate() {
        ck!(c, eq "entry {} result", i; r64(m + 64 * i as u64 + 8), *w);
    }
    ck!(c, rc "multicall of 0"; hc(MULTICALL, m, 0, 0), 0);
    ck!(c, rc "multicall bad pointer"; hc(MULTICALL, BAD_VA, 1, 0), EFAULT);
    c.done(format_args!("5 entries"))
}

/// `xen-physdev-op`: arm/physdev.c do_arm_physdev_op is -ENOSYS for every
/// cmd without CONFIG_HAS_PCI, which no Arm config selects in 4.20.
pub fn physdev(_env: &Env) {
    let mut c = Ck::new("xen-physdev-op");
    for cmd in (0u64..32).chain([0xffff_ffff]) {
        ck!(c, rc "cmd {}", cmd; hc(PHYSDEV_OP, cmd, 0, 0), ENOSYS);
    }
    c.done(format_args!("33 cmds"))
}

/// `xen-vm-assist`: common/domain.c do_vm_assist with Arm's valid mask
/// 1 << VMASST_TYPE_runstate_update_flag (arm/include/asm/domain.h): the
/// type is checked first (-EINVAL), then the cmd (-ENOSYS).
pub fn vm_assist(_env: &Env) {
    let mut c = Ck::new("xen-vm-assist");
    ck!(c, rc "enable runstate_update_flag"; hc(VM_ASSIST, 0, 5, 0), 0);
    ck!(c, rc "disable runstate_update_flag"; hc(VM_ASSIST, 1, 5, 0), 0);
    ck!(c, rc "cmd 2, type 5"; hc(VM_ASSIST, 2, 5, 0), ENOSYS);
    ck!(c, rc "cmd 2, type 0"; hc(VM_ASSIST, 2, 0, 0), EINVAL);
    for t in [0u64, 1, 2, 3, 4, 6, 31, 32, 63, 64, 0xffff_ffff] {
        ck!(c, rc "enable type {}", t; hc(VM_ASSIST, 0, t, 0), EINVAL);
    }
    c.done(format_args!("valid types: 5"))
}

/// struct xen_hvm_param { u16 domid; u16 pad; u32 index; u64 value; }.
fn param(op: u64, dom: u64, index: u64, value: u64) -> (R, u64) {
    clr(16);
    w16(arg(), dom as u16);
    w16(arg() + 2, 0xffff); // pad: ignored
    w32(arg() + 4, index as u32);
    w64(arg() + 8, value);
    let r = hc(HVM_OP, op, arg(), 0);
    (r, r64(arg() + 8))
}

/// `xen-hvm-param`: arm/hvm.c do_hvm_op. A dom0less domU may read
/// CALLBACK_IRQ, STORE_PFN, STORE_EVTCHN, CONSOLE_PFN, CONSOLE_EVTCHN (all
/// 0 for no-xenstore: dom0less-build.c sets STORE_* only with xenstore,
/// domain_build.c evtchn_allocate sets CALLBACK_IRQ for the hardware domain
/// only), may set none of them (-EPERM); MONITOR_RING_PFN is -EPERM both
/// ways; anything else, including >= HVM_NR_PARAMS (39), -EINVAL. Unknown
/// ops -ENOSYS; HVMOP_guest_request_vm_event (24) is 0 with a NULL arg.
pub fn hvm_param(env: &Env) {
    let mut c = Ck::new("xen-hvm-param");
    for idx in [0u64, 1, 2, 17, 18] {
        let (r, v) = param(1, DOMID_SELF, idx, 0x1234);
        if ck!(c, rc "get param {}", idx; r, 0).is_some() {
            ck!(c, eq "param {} value", idx; v, 0);
        }
        ck!(c, rc "set param {}", idx; param(0, DOMID_SELF, idx, 0).0, EPERM);
    }
    ck!(c, rc "get param 28"; param(1, DOMID_SELF, 28, 0).0, EPERM);
    ck!(c, rc "set param 28"; param(0, DOMID_SELF, 28, 0).0, EPERM);
    for idx in [3u64, 16, 38, 39, 0xffff_ffff] {
        ck!(c, rc "get param {:#x}", idx; param(1, DOMID_SELF, idx, 0).0, EINVAL);
        ck!(c, rc "set param {:#x}", idx; param(0, DOMID_SELF, idx, 0).0, EINVAL);
    }
    if let Some(d) = domid() {
        ck!(c, rc "get param 1, own domid {}", d; param(1, d, 1, 0).0, 0);
    }
    ck!(c, rc "get param 1, domid {:#x}", DOMID_NONE; param(1, DOMID_NONE, 1, 0).0, ESRCH);
    if let Some(o) = other(env) {
        ck!(c, rc "get param 1, other domid {}", o; param(1, o, 1, 0).0, EPERM);
    }
    ck!(c, rc "get bad pointer"; hc(HVM_OP, 1, BAD_VA, 0), EFAULT);
    ck!(c, rc "guest_request_vm_event NULL"; hc(HVM_OP, 24, 0, 0), 0);
    ck!(c, rc "guest_request_vm_event non-NULL"; hc(HVM_OP, 24, arg(), 0), EINVAL);
    for op in [2u64, 5, 10, 23, 25, 0x1_0000_0001] {
        ck!(c, rc "op {:#x}", op; hc(HVM_OP, op, arg(), 0), ENOSYS);
    }
    c.done(format_args!("params 0 1 2 17 18 read 0"))
}

/// `xen-sched-op`: common/sched/core.c do_sched_op, do_poll,
/// domain_watchdog. Nothing here blocks or shuts the domain down.
pub fn sched_op(env: &Env) {
    let mut c = Ck::new("xen-sched-op");
    ck!(c, rc "yield"; hc(SCHED_OP, SCHEDOP_YIELD, 0, 0), 0);
    // shutdown_code {u32 reason}: records poweroff (0) for a later
    // shutdown; the domain keeps running.
    clr(8);
    ck!(c, rc "shutdown_code poweroff"; hc(SCHED_OP, SCHEDOP_SHUTDOWN_CODE, arg(), 0), 0);
    ck!(c, rc "shutdown_code bad pointer"; hc(SCHED_OP, SCHEDOP_SHUTDOWN_CODE, BAD_VA, 0), EFAULT);
    ck!(c, rc "shutdown bad pointer"; hc(SCHED_OP, SCHEDOP_SHUTDOWN, BAD_VA, 0), EFAULT);
    // poll {handle ports @0; u32 nr_ports @8; u64 timeout @16}: more than
    // 128 ports -EINVAL; with IRQs masked (no event delivery) the ports are
    // read: a bad list -EFAULT, a reserved (0) or invalid port -EINVAL.
    let list = arg() + 512;
    let poll = |ports: u64, nr: u32| {
        clr(24);
        w64(arg(), ports);
        w32(arg() + 8, nr);
        hc(SCHED_OP, SCHEDOP_POLL, arg(), 0)
    };
    ck!(c, rc "poll 129 ports"; poll(list, 129), EINVAL);
    ck!(c, rc "poll bad port list"; poll(BAD_VA, 1), EFAULT);
    for port in [0u32, 1024, 0xffff_ffff] {
        w32(list, port);
        ck!(c, rc "poll port {:#x}", port; poll(list, 1), EINVAL);
    }
    ck!(c, rc "poll bad pointer"; hc(SCHED_OP, SCHEDOP_POLL, BAD_VA, 0), EFAULT);
    // remote_shutdown {u16 domain_id @0; u32 reason @4}: DOMID_SELF is not
    // looked up (rcu_lock_domain_by_id): -ESRCH; the own id by number is
    // XSM_DM_PRIV: -EPERM.
    let remote = |dom: u64| {
        clr(8);
        w16(arg(), dom as u16);
        hc(SCHED_OP, SCHEDOP_REMOTE_SHUTDOWN, arg(), 0)
    };
    ck!(c, rc "remote_shutdown DOMID_SELF"; remote(DOMID_SELF), ESRCH);
    ck!(c, rc "remote_shutdown {:#x}", DOMID_NONE; remote(DOMID_NONE), ESRCH);
    if let Some(d) = domid() {
        ck!(c, rc "remote_shutdown own domid {}", d; remote(d), EPERM);
    }
    if let Some(o) = other(env) {
        ck!(c, rc "remote_shutdown other domid {}", o; remote(o), EPERM);
    }
    // watchdog {u32 id; u32 timeout}: id 0 creates (returns 1, the first of
    // NR_DOMAIN_WATCHDOG_TIMERS = 2), timeout 0 deletes; ids not in use or
    // > 2: -EINVAL.
    let wd = |id: u32, t: u32| {
        clr(8);
        w32(arg(), id);
        w32(arg() + 4, t);
        hc(SCHED_OP, SCHEDOP_WATCHDOG, arg(), 0)
    };
    ck!(c, rc "watchdog create (1 h)"; wd(0, 3600), 1);
    ck!(c, rc "watchdog 1 delete"; wd(1, 0), 0);
    ck!(c, rc "watchdog 1 again"; wd(1, 0), EINVAL);
    ck!(c, rc "watchdog 2 unused"; wd(2, 10), EINVAL);
    ck!(c, rc "watchdog 3"; wd(3, 10), EINVAL);
    clr(8);
    ck!(c, rc "pin_override"; hc(SCHED_OP, SCHEDOP_PIN_OVERRIDE, arg(), 0), EPERM);
    for cmd in [8u64, 0xffff_ffff] {
        ck!(c, rc "cmd {:#x}", cmd; hc(SCHED_OP, cmd, arg(), 0), ENOSYS);
    }
    c.done(format_args!("yield, poll, watchdog, remote_shutdown"))
}
