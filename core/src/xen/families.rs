//! The small hypercall families: xen_version, console_io, sched_op,
//! vcpu_op, vm_assist, hvm_op, physdev_op. Expected values follow Xen 4.20
//! for a dom0less domU under the dummy XSM policy (xen/common/kernel.c,
//! drivers/char/console.c, common/sched/core.c, arch/arm/domain.c,
//! common/domain.c, arch/arm/hvm.c, arch/arm/physdev.c).

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use linkme::distributed_slice;

use super::abi::{le32, le64, nr, put32, VCPU_INFO_SIZE, VERSION_MAJOR, VERSION_MINOR};
use super::errno::*;
use super::{Action, Call, Hypercall, HYPERCALLS};

// ---------------------------------------------------------------- version

/// `XENVER_extraversion`: what follows "4.20".
const EXTRAVERSION: &str = ".0-tessera";
/// `XENVER_capabilities`: AArch64 guests only (no AArch32 EL1).
const CAPABILITIES: &str = "xen-3.0-aarch64 ";
/// What Xen built from a release tarball reports (no git changeset).
const CHANGESET: &str = "";
/// XENFEAT bits of a normal (not direct-mapped) Arm domU:
/// writable_page_tables, auto_translated_physmap,
/// memory_op_vnode_supported, ARM_SMCCC_supported, not_direct_mapped,
/// runstate_phys_area.
pub const DOMU_FEATURES: u32 = (1 << 0) | (1 << 2) | (1 << 13) | (1 << 14) | (1 << 16) | (1 << 18);

/// `buf` zero-padded (and truncated to leave a NUL) to `n` bytes.
fn padded<const N: usize>(s: &str) -> [u8; N] {
    let mut b = [0u8; N];
    let n = s.len().min(N - 1);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    b
}

/// The `xen_varbuf` sub-ops: `{u32 len; u8 buf[]}`; NULL asks the size.
fn varbuf(c: &mut Call, arg: u64, s: &str) -> Result<i64, i64> {
    if arg == 0 {
        return Ok(s.len() as i64);
    }
    let len = le32(&c.read::<4>(arg)?, 0);
    if (len as usize) < s.len() {
        return Err(-ENOBUFS);
    }
    c.write(arg.wrapping_add(4), s.as_bytes())?;
    Ok(s.len() as i64)
}

fn xen_version(c: &mut Call) -> i64 {
    let cmd = c.args[0] as u32;
    let arg = c.args[1];
    let r: Result<i64, i64> = (|| match cmd {
        0 => Ok(((VERSION_MAJOR << 16) | VERSION_MINOR) as i64),
        1 => c.write(arg, &padded::<16>(EXTRAVERSION)).map(|()| 0),
        2 => {
            // compiler[64], compile_by[16], compile_domain[32], compile_date[32]
            let mut b = [0u8; 144];
            b[..64].copy_from_slice(&padded::<64>("rustc"));
            b[64..80].copy_from_slice(&padded::<16>("tessera"));
            c.write(arg, &b).map(|()| 0)
        }
        3 => c.write(arg, &padded::<1024>(CAPABILITIES)).map(|()| 0),
        4 => c.write(arg, &padded::<64>(CHANGESET)).map(|()| 0),
        // platform_parameters: virt_start is 0 on Arm.
        5 => c.write(arg, &[0u8; 8]).map(|()| 0),
        6 => {
            let mut b = c.read::<8>(arg)?;
            if le32(&b, 0) != 0 {
                return Err(-EINVAL);
            }
            put32(&mut b, 4, DOMU_FEATURES);
            c.write(arg, &b).map(|()| 0)
        }
        7 => {
            if arg != 0 {
                return Err(-EINVAL);
            }
            Ok(4096)
        }
        // guest_handle: dom0less domains have an all-zero handle.
        8 => c.write(arg, &[0u8; 16]).map(|()| 0),
        // commandline: XSM_PRIV; a domU gets the word "<denied>".
        9 => c.write(arg, b"<denied>\0").map(|()| 0),
        10 | 14 => Err(crate::xsm::privileged(c.guest.domid())
            .err()
            .unwrap_or(-EPERM)),
        11 => varbuf(c, arg, EXTRAVERSION),
        12 => varbuf(c, arg, CAPABILITIES),
        13 => varbuf(c, arg, CHANGESET),
        _ => Err(-ENOSYS),
    })();
    r.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------- console

/// Longest line a domain's console output is buffered to (Xen's
/// `DOMAIN_PBUF_SIZE`).
const LINE_MAX: usize = 200;

fn console_io(c: &mut Call) -> i64 {
    let cmd = c.args[0] as u32;
    let count = c.args[1] as u32;
    let buf = c.args[2];
    match cmd {
        // CONSOLEIO_write: printable characters, tabs and newlines.
        0 => {
            let mut done = 0u32;
            let mut chunk = [0u8; 127];
            while done < count {
                let n = (count - done).min(127) as usize;
                if c.guest
                    .copy_from(buf.wrapping_add(u64::from(done)), &mut chunk[..n])
                    .is_err()
                {
                    return -EFAULT;
                }
                let mut line = c.xen.console_line.lock();
                for &b in &chunk[..n] {
                    if b == b'\n' || line.len() >= LINE_MAX {
                        let l = core::mem::take(&mut *line);
                        c.guest.console_write(&l);
                        if b == b'\n' {
                            continue;
                        }
                    }
                    if b == b'\t' || (0x20..0x7f).contains(&b) {
                        line.push(b);
                    }
                }
                done += n as u32;
            }
            0
        }
        // CONSOLEIO_read: what the console sends the domain.
        1 => {
            if count > i32::MAX as u32 {
                return -E2BIG;
            }
            let mut got = 0u32;
            let mut chunk = [0u8; 64];
            while got < count {
                let want = (count - got).min(64) as usize;
                let n = c.guest.console_read(&mut chunk[..want]);
                if n == 0 {
                    break;
                }
                if c.write(buf.wrapping_add(u64::from(got)), &chunk[..n])
                    .is_err()
                {
                    return -EFAULT;
                }
                got += n as u32;
            }
            i64::from(got)
        }
        _ => -ENOSYS,
    }
}

// ---------------------------------------------------------------- sched_op

fn record_shutdown_code(c: &Call, reason: u32) {
    let _ = c.xen.shutdown_code.compare_exchange(
        u32::MAX,
        reason & 0xff,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

fn sched_op(c: &mut Call) -> i64 {
    let cmd = c.args[0] as u32;
    let arg = c.args[1];
    let r: Result<i64, i64> = (|| match cmd {
        0 => {
            c.action = Action::Yield;
            Ok(0)
        }
        1 => {
            c.action = Action::Block { deadline: None };
            Ok(0)
        }
        // shutdown {reason}: not validated, the first code recorded wins.
        2 => {
            let reason = le32(&c.read::<4>(arg)?, 0);
            record_shutdown_code(c, reason);
            let code = c.xen.shutdown_code.load(Ordering::Acquire);
            c.action = Action::Shutdown(code);
            Ok(0)
        }
        // poll {ports, nr_ports, timeout}
        3 => {
            let b = c.read::<24>(arg)?;
            let (ports, nr_ports, timeout) = (le64(&b, 0), le32(&b, 8), le64(&b, 16));
            if nr_ports > 128 {
                return Err(-EINVAL);
            }
            let mut any_pending = false;
            for i in 0..u64::from(nr_ports) {
                let port = le32(&c.read::<4>(ports.wrapping_add(4 * i))?, 0);
                match c.xen.port_pending(port) {
                    None => return Err(-EINVAL),
                    Some(p) => any_pending |= p,
                }
            }
            if !any_pending && !c.xen.upcall_pending(c.guest.vcpu()) {
                let me = c.guest.vcpu();
                let mut ports_v = Vec::new();
                for i in 0..u64::from(nr_ports) {
                    ports_v.push(le32(&c.read::<4>(ports.wrapping_add(4 * i))?, 0));
                }
                let mut p = c.xen.pollers.lock();
                p.retain(|(v, _)| *v != me);
                p.push((me, ports_v));
                drop(p);
                c.action = Action::Poll {
                    deadline: (timeout != 0).then_some(timeout),
                };
            }
            Ok(0)
        }
        // remote_shutdown {domain_id, reason}: XSM_DM_PRIV.
        4 => {
            let b = c.read::<8>(arg)?;
            let dom = super::abi::le16(&b, 0);
            if dom == super::abi::DOMID_SELF || crate::domain::by_id(dom).is_none() {
                return Err(-ESRCH);
            }
            Err(-EPERM)
        }
        5 => {
            let reason = le32(&c.read::<4>(arg)?, 0);
            record_shutdown_code(c, reason);
            Ok(0)
        }
        // watchdog {id, timeout (s)}: id 0 arms a free timer and returns
        // its id (1-based); an id in use is re-armed, or freed with
        // timeout 0 (Xen's domain_watchdog).
        6 => {
            let b = c.read::<8>(arg)?;
            let (id, timeout) = (le32(&b, 0) as usize, u64::from(le32(&b, 4)));
            let deadline = c
                .guest
                .now_ns()
                .saturating_add(timeout.saturating_mul(1_000_000_000))
                .max(1);
            let mut w = c.xen.watchdogs.lock();
            let mut new = *w;
            let r = if id == 0 {
                let slot = new.iter().position(|&d| d == 0).ok_or(-ENOSPC)?;
                new[slot] = deadline;
                slot as i64 + 1
            } else {
                if id > new.len() || new[id - 1] == 0 {
                    return Err(-EINVAL);
                }
                new[id - 1] = if timeout == 0 { 0 } else { deadline };
                0
            };
            c.xen.set_watchdogs(&mut w, new);
            Ok(r)
        }
        // pin_override: hardware domain only.
        7 => Err(-EPERM),
        _ => Err(-ENOSYS),
    })();
    r.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------- vcpu_op

fn vcpu_op(c: &mut Call) -> i64 {
    let cmd = c.args[0] as u32;
    let vcpu = c.args[1] as u32 as usize;
    let arg = c.args[2];
    if vcpu >= c.xen.nr_vcpus {
        return -ENOENT;
    }
    let r: Result<i64, i64> = (|| match cmd {
        // register_runstate_memory_area {u64 addr (a guest VA)}
        5 => {
            let gva = le64(&c.read::<8>(arg)?, 0);
            let v = &c.xen.vcpus[vcpu];
            v.runstate_gva.store(gva, Ordering::Release);
            if gva != 0 && vcpu == c.guest.vcpu() {
                let r = *v.runstate.lock();
                // Write failures are ignored, as Xen does.
                let _ = c.write(gva, &super::XenDomain::runstate_bytes(&r));
            }
            Ok(0)
        }
        // register_vcpu_info {u64 mfn (a gfn on Arm), u32 offset, u32 rsvd}
        10 => {
            let b = c.read::<16>(arg)?;
            let (gfn, offset) = (le64(&b, 0), u64::from(le32(&b, 8)));
            let gaddr = gfn.wrapping_shl(12).wrapping_add(offset);
            if gaddr == u64::MAX || gaddr >> 12 != gfn || gfn >> 52 != 0 {
                return Err(-EINVAL);
            }
            let xen = c.xen;
            let v = &xen.vcpus[vcpu];
            let mut registered = v.registered.lock();
            if *registered {
                return Err(-EBUSY);
            }
            if offset + VCPU_INFO_SIZE > 4096 || offset % 8 != 0 {
                return Err(-ENXIO);
            }
            let page = c.guest.gfn_to_page(gfn).ok_or(-EINVAL)?;
            let new = xen.pages.words(page).ok_or(-EINVAL)?;
            let w = (offset / 8) as usize;
            // Carry over the shared-info slot's contents; else start clear.
            let old: [u64; 6] = match *v.vcpu_info.lock() {
                Some((pa, ow)) => match xen.pages.words(pa) {
                    Some(o) => core::array::from_fn(|i| o[ow + i].load(Ordering::Acquire)),
                    None => [0; 6],
                },
                None => [0; 6],
            };
            for (i, val) in old.iter().enumerate() {
                new[w + i].store(*val, Ordering::Release);
            }
            *v.vcpu_info.lock() = Some((page, w));
            *registered = true;
            drop(registered);
            // Xen then marks every selector and raises a (spurious) upcall.
            new[w + 1].store(u64::MAX, Ordering::Release);
            if xen.mark_events_pending(vcpu) {
                c.guest.kick_upcall(vcpu);
            }
            Ok(0)
        }
        // Everything else is -EINVAL on Arm (CPU_ON brings vCPUs up).
        _ => Err(-EINVAL),
    })();
    r.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------- vm_assist

/// `VMASST_TYPE_runstate_update_flag`, the only type Arm allows.
pub const VMASST_RUNSTATE_UPDATE_FLAG: u32 = 5;

fn vm_assist(c: &mut Call) -> i64 {
    let cmd = c.args[0] as u32;
    let ty = c.args[1] as u32;
    if ty >= 64 || ty != VMASST_RUNSTATE_UPDATE_FLAG {
        return -EINVAL;
    }
    match cmd {
        0 => {
            c.xen.assists.fetch_or(1 << ty, Ordering::AcqRel);
            0
        }
        1 => {
            c.xen.assists.fetch_and(!(1 << ty), Ordering::AcqRel);
            0
        }
        _ => -ENOSYS,
    }
}

// ---------------------------------------------------------------- hvm_op

/// HVM params a domain may read about itself (CALLBACK_IRQ, STORE_PFN,
/// STORE_EVTCHN, CONSOLE_PFN, CONSOLE_EVTCHN) and the one it may not.
const HVM_PARAM_READABLE: [u32; 5] = [0, 1, 2, 17, 18];
const HVM_PARAM_MONITOR_RING_PFN: u32 = 28;

fn hvm_op(c: &mut Call) -> i64 {
    let op = c.args[0];
    let arg = c.args[1];
    let r: Result<i64, i64> = (|| match op {
        0 | 1 => {
            let mut b = c.read::<16>(arg)?;
            let (dom, index) = (super::abi::le16(&b, 0), le32(&b, 4));
            if !c.is_self(dom) {
                return Err(c.other_domain(dom));
            }
            if !HVM_PARAM_READABLE.contains(&index) && index != HVM_PARAM_MONITOR_RING_PFN {
                return Err(-EINVAL);
            }
            if op == 0 || index == HVM_PARAM_MONITOR_RING_PFN {
                return Err(-EPERM);
            }
            // no-xenstore: no store, no PV console, no callback IRQ.
            b[8..16].fill(0);
            c.write(arg, &b)?;
            Ok(0)
        }
        // guest_request_vm_event: NULL only; no monitor is ever attached.
        24 => {
            if arg != 0 {
                return Err(-EINVAL);
            }
            Ok(0)
        }
        _ => Err(-ENOSYS),
    })();
    r.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------- control

/// Interface versions of Xen 4.20's control hypercalls.
const XENPF_INTERFACE_VERSION: u32 = 0x0300_0001;
const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x15;
const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x17;

/// platform_op, sysctl, domctl: the struct is copied in, its interface
/// version checked (`-EACCES`), then XSM_PRIV (`-EPERM` for a domU). The
/// operations themselves come with the control interface.
fn control(c: &mut Call, size: usize, version: u32) -> i64 {
    let mut b = [0u8; 144];
    if c.guest.copy_from(c.args[0], &mut b[..size]).is_err() {
        return -EFAULT;
    }
    if le32(&b, 4) != version {
        return -EACCES;
    }
    match crate::xsm::privileged(c.guest.domid()) {
        Err(e) => e,
        Ok(()) => -ENOSYS,
    }
}

fn platform_op(c: &mut Call) -> i64 {
    control(c, 136, XENPF_INTERFACE_VERSION)
}

fn sysctl(c: &mut Call) -> i64 {
    control(c, 136, XEN_SYSCTL_INTERFACE_VERSION)
}

fn domctl(c: &mut Call) -> i64 {
    control(c, 144, XEN_DOMCTL_INTERFACE_VERSION)
}

/// hypfs_op: XSM_PRIV before anything else.
fn hypfs_op(c: &mut Call) -> i64 {
    match crate::xsm::privileged(c.guest.domid()) {
        Err(e) => e,
        Ok(()) => -ENOSYS,
    }
}

// ---------------------------------------------------------------- multicall

/// multicall {entries, nr_calls}: each 64-byte entry {op, result,
/// args[6]} runs in turn and gets its result; the call returns 0, or
/// `-EFAULT` on an entry it cannot read or write. A nested multicall is
/// `-EINVAL` in its entry. A sub-call that wants the vCPU to yield, block
/// or end stops the batch there (the rest is not run), as Xen's
/// preemption would.
fn multicall(c: &mut Call) -> i64 {
    let list = c.args[0];
    let n = c.args[1] as u32;
    for i in 0..u64::from(n) {
        let at = list.wrapping_add(64 * i);
        let e = match c.read::<64>(at) {
            Ok(e) => e,
            Err(_) => return -EFAULT,
        };
        let op = le64(&e, 0);
        let mut args = [0u64; 5];
        for (k, a) in args.iter_mut().enumerate() {
            *a = le64(&e, 16 + 8 * k);
        }
        let result = if op == nr::MULTICALL {
            -EINVAL
        } else {
            let (r, action) = super::dispatch(c.guest, Some(c.xen), op, args);
            if action != Action::None {
                c.action = action;
            }
            r
        };
        if c.write(at.wrapping_add(8), &result.to_le_bytes()).is_err() {
            return -EFAULT;
        }
        if c.action != Action::None {
            break;
        }
    }
    0
}

// ---------------------------------------------------------------- physdev_op

/// Arm 4.20 builds no PCI physdev ops: everything is `-ENOSYS`.
fn physdev_op(_c: &mut Call) -> i64 {
    -ENOSYS
}

#[distributed_slice(HYPERCALLS)]
static XEN_VERSION: Hypercall = Hypercall {
    nr: nr::XEN_VERSION,
    name: "xen_version",
    handler: xen_version,
};
#[distributed_slice(HYPERCALLS)]
static CONSOLE_IO: Hypercall = Hypercall {
    nr: nr::CONSOLE_IO,
    name: "console_io",
    handler: console_io,
};
#[distributed_slice(HYPERCALLS)]
static SCHED_OP: Hypercall = Hypercall {
    nr: nr::SCHED_OP,
    name: "sched_op",
    handler: sched_op,
};
#[distributed_slice(HYPERCALLS)]
static VCPU_OP: Hypercall = Hypercall {
    nr: nr::VCPU_OP,
    name: "vcpu_op",
    handler: vcpu_op,
};
#[distributed_slice(HYPERCALLS)]
static VM_ASSIST: Hypercall = Hypercall {
    nr: nr::VM_ASSIST,
    name: "vm_assist",
    handler: vm_assist,
};
#[distributed_slice(HYPERCALLS)]
static HVM_OP: Hypercall = Hypercall {
    nr: nr::HVM_OP,
    name: "hvm_op",
    handler: hvm_op,
};
#[distributed_slice(HYPERCALLS)]
static PLATFORM_OP: Hypercall = Hypercall {
    nr: nr::PLATFORM_OP,
    name: "platform_op",
    handler: platform_op,
};
#[distributed_slice(HYPERCALLS)]
static SYSCTL: Hypercall = Hypercall {
    nr: nr::SYSCTL,
    name: "sysctl",
    handler: sysctl,
};
#[distributed_slice(HYPERCALLS)]
static DOMCTL: Hypercall = Hypercall {
    nr: nr::DOMCTL,
    name: "domctl",
    handler: domctl,
};
#[distributed_slice(HYPERCALLS)]
static HYPFS_OP: Hypercall = Hypercall {
    nr: nr::HYPFS_OP,
    name: "hypfs_op",
    handler: hypfs_op,
};
#[distributed_slice(HYPERCALLS)]
static MULTICALL: Hypercall = Hypercall {
    nr: nr::MULTICALL,
    name: "multicall",
    handler: multicall,
};
#[distributed_slice(HYPERCALLS)]
static PHYSDEV_OP: Hypercall = Hypercall {
    nr: nr::PHYSDEV_OP,
    name: "physdev_op",
    handler: physdev_op,
};
