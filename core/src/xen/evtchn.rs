//! Event channels (xen/common/event_channel.c) and the 2-level ABI
//! (event_2l.c); the FIFO ABI (event_fifo.c) is in [`super::fifo`], which
//! a domain switches to with `EVTCHNOP_init_control` and leaves with
//! `EVTCHNOP_reset`. Raising, unmasking, clearing and polling a port go
//! to whichever ABI the domain has.
//!
//! Ports: 0 is reserved; dom0less domains may use 1..=1023 (Xen's
//! `max_evtchn_port` for them). Ports become "valid" in buckets of 64 as
//! they are first allocated, as in Xen, which tests can observe: a never
//! used port inside a valid bucket is closed, one beyond is `-EINVAL`.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use linkme::distributed_slice;

use super::abi::{le16, le32, le64, nr, put32};
use super::errno::*;
use super::{fifo, Call, GuestAccess, Hypercall, XenDomain, HYPERCALLS};

/// Highest port of a dom0less domain.
pub const MAX_PORT: u32 = 1023;
/// Ports per bucket (Xen's `EVTCHNS_PER_BUCKET`).
const BUCKET: usize = 64;
/// `NR_VIRQS`.
pub const NR_VIRQS: u32 = 24;

/// Per-vCPU VIRQs (`virq_is_global` false): TIMER, DEBUG, XENOPROF,
/// XENPMU.
fn virq_is_global(virq: u32) -> bool {
    !matches!(virq, 0 | 1 | 7 | 13)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chan {
    Free,
    Reserved,
    Unbound {
        remote: u16,
    },
    /// Bound to `port` of domain `remote` (only the domain itself here:
    /// channels between domains come with part 2).
    Interdomain {
        remote: u16,
        port: u32,
    },
    Virq(u32),
    Ipi,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Port {
    chan: Chan,
    notify: u32,
    /// FIFO priority (`evtchn->priority`): the default again whenever the
    /// port is freed, which is what Xen's bind-time `evtchn_port_init`
    /// comes to.
    prio: u8,
}

/// A free port.
const FREE: Port = Port {
    chan: Chan::Free,
    notify: 0,
    prio: fifo::PRIORITY_DEFAULT,
};

/// A domain's ports.
pub(super) struct Ports {
    ports: Vec<Port>,
}

impl Ports {
    pub fn new() -> Self {
        let mut ports = alloc::vec![FREE; BUCKET];
        ports[0].chan = Chan::Reserved;
        Ports { ports }
    }

    /// A valid port that is neither free nor reserved.
    pub fn usable(&self, port: u32) -> bool {
        self.get(port)
            .is_ok_and(|p| !matches!(p.chan, Chan::Free | Chan::Reserved))
    }

    fn get(&self, port: u32) -> Result<Port, i64> {
        self.ports.get(port as usize).copied().ok_or(-EINVAL)
    }

    fn alloc(&mut self) -> Result<u32, i64> {
        if let Some(i) = self.ports.iter().position(|p| p.chan == Chan::Free) {
            return Ok(i as u32);
        }
        let next = self.ports.len();
        if next as u32 > MAX_PORT {
            return Err(-ENOSPC);
        }
        let grow = BUCKET.min(MAX_PORT as usize + 1 - next);
        self.ports.extend(core::iter::repeat_n(FREE, grow));
        Ok(next as u32)
    }

    /// Makes `port` valid (its bucket allocated); false beyond the limit.
    fn ensure(&mut self, port: u32) -> bool {
        if port > MAX_PORT {
            return false;
        }
        while self.ports.len() <= port as usize {
            let grow = BUCKET.min(MAX_PORT as usize + 1 - self.ports.len());
            self.ports.extend(core::iter::repeat_n(FREE, grow));
        }
        true
    }

    fn set(&mut self, port: u32, chan: Chan, notify: u32) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            let prio = if chan == Chan::Free {
                fifo::PRIORITY_DEFAULT
            } else {
                p.prio
            };
            *p = Port { chan, notify, prio };
        }
    }

    /// How many ports are valid.
    pub fn len(&self) -> usize {
        self.ports.len()
    }
}

/// The FIFO priority of `port` (the default if it is not valid).
fn prio(xen: &XenDomain, port: u32) -> u8 {
    xen.ports
        .lock()
        .get(port)
        .map_or(fifo::PRIORITY_DEFAULT, |p| p.prio)
}

/// Raises `port` for vCPU `vcpu` in the domain's ABI: the vCPU whose
/// upcall must be injected, if any. Not called with the port table locked.
fn set_pending(xen: &XenDomain, port: u32, vcpu: u32) -> Option<usize> {
    let k = fifo::set_pending(xen, port, vcpu, prio(xen, port))
        .unwrap_or_else(|()| set_pending_2l(xen, port, vcpu));
    xen.check_pollers(port);
    k
}

/// EVTCHNOP_unmask in the domain's ABI. FIFO only unmasks a port in use
/// (`evtchn_port_unmask`); the 2-level path is as it always was.
fn unmask(xen: &XenDomain, port: u32, vcpu: u32) -> Option<usize> {
    if fifo::active(xen) {
        if !xen.ports.lock().usable(port) {
            return None;
        }
        if let Ok(k) = fifo::unmask(xen, port, vcpu, prio(xen, port)) {
            return k;
        }
    }
    unmask_2l(xen, port, vcpu)
}

fn clear_pending(xen: &XenDomain, port: u32) {
    if fifo::clear_pending(xen, port).is_err() {
        clear_pending_2l(xen, port);
    }
}

/// Raises `port` (Xen's `evtchn_2l_set_pending`): returns the vCPU whose
/// upcall must be injected, if any.
fn set_pending_2l(xen: &XenDomain, port: u32, vcpu: u32) -> Option<usize> {
    let (word, bit) = ((port / 64) as usize, port % 64);
    let pending = xen.evtchn_word(false, word)?;
    if pending.fetch_or(1 << bit, Ordering::AcqRel) & (1 << bit) != 0 {
        return None;
    }
    let masked = xen.evtchn_word(true, word)?.load(Ordering::Acquire) & (1 << bit) != 0;
    let v = vcpu as usize;
    if !masked && xen.set_pending_sel(v, word as u32) && xen.mark_events_pending(v) {
        return Some(v);
    }
    None
}

/// Unmasks `port` (Xen's `evtchn_2l_unmask`).
fn unmask_2l(xen: &XenDomain, port: u32, vcpu: u32) -> Option<usize> {
    let (word, bit) = ((port / 64) as usize, port % 64);
    let was = xen
        .evtchn_word(true, word)?
        .fetch_and(!(1 << bit), Ordering::AcqRel);
    let pending = xen.evtchn_word(false, word)?.load(Ordering::Acquire) & (1 << bit) != 0;
    let v = vcpu as usize;
    if was & (1 << bit) != 0
        && pending
        && xen.set_pending_sel(v, word as u32)
        && xen.mark_events_pending(v)
    {
        return Some(v);
    }
    None
}

fn clear_pending_2l(xen: &XenDomain, port: u32) {
    if let Some(w) = xen.evtchn_word(false, (port / 64) as usize) {
        w.fetch_and(!(1 << (port % 64)), Ordering::AcqRel);
    }
}

fn kick(guest: &mut dyn GuestAccess, v: Option<usize>) {
    if let Some(v) = v {
        guest.kick_upcall(v);
    }
}

fn free_port(x: &XenDomain, port: u32) {
    x.ports.lock().set(port, Chan::Free, 0);
    clear_pending(x, port);
}

/// Raises `port` of domain `remote` (the far end of an interdomain
/// channel); dropped if that domain is gone or the port no longer points
/// back at `me`.
fn send_remote(me: u16, remote: u16, port: u32) {
    let Some(rx) = super::lookup(remote) else {
        return;
    };
    let notify = match rx.ports.lock().get(port) {
        Ok(Port {
            chan: Chan::Interdomain { remote: back, .. },
            notify,
            ..
        }) if back == me => notify,
        _ => return,
    };
    if let Some(v) = set_pending(&rx, port, notify) {
        (rx.raise)(remote, v);
    }
}

/// `peer` in `rx` goes back to waiting for `me` if it was bound to our
/// `port`.
fn unbind_peer(rx: &XenDomain, peer: u32, me: u16, port: u32) {
    let mut p = rx.ports.lock();
    if let Ok(Port {
        chan: Chan::Interdomain { remote, port: back },
        notify,
        ..
    }) = p.get(peer)
    {
        if remote == me && back == port {
            p.set(peer, Chan::Unbound { remote: me }, notify);
        }
    }
}

/// bind_interdomain to `rport` of another domain `rdom`: that port must be
/// unbound and waiting for us. Both tables are locked in domid order.
fn bind_remote(x: &XenDomain, rdom: u16, rport: u32) -> Result<u32, i64> {
    let Some(rx) = super::lookup(rdom) else {
        // A domain without the Xen ABI has no port that waits for us.
        return Err(if crate::domain::by_id(rdom).is_some() {
            -EINVAL
        } else {
            -ESRCH
        });
    };
    let (mut mine, mut theirs) = if x.domid < rdom {
        let a = x.ports.lock();
        (a, rx.ports.lock())
    } else {
        let b = rx.ports.lock();
        (x.ports.lock(), b)
    };
    let local = mine.alloc()?;
    let r = theirs.get(rport)?;
    match r.chan {
        Chan::Unbound { remote } if remote == x.domid => {}
        _ => return Err(-EINVAL),
    }
    theirs.set(
        rport,
        Chan::Interdomain {
            remote: x.domid,
            port: local,
        },
        r.notify,
    );
    mine.set(
        local,
        Chan::Interdomain {
            remote: rdom,
            port: rport,
        },
        0,
    );
    Ok(local)
}

/// Closes every port of the domain but the reserved one (EVTCHNOP_reset,
/// and the domain's end): peers in other domains wait unbound again.
pub(super) fn close_all(x: &XenDomain) {
    let remote: Vec<(u16, u32, u32)> = {
        let p = x.ports.lock();
        p.ports
            .iter()
            .enumerate()
            .filter_map(|(i, port)| match port.chan {
                Chan::Interdomain { remote, port: peer } if remote != x.domid => {
                    Some((remote, peer, i as u32))
                }
                _ => None,
            })
            .collect()
    };
    for (remote, peer, port) in remote {
        if let Some(rx) = super::lookup(remote) {
            unbind_peer(&rx, peer, x.domid, port);
        }
    }
    let mut p = x.ports.lock();
    for port in 1..p.ports.len() as u32 {
        if !matches!(p.get(port).map(|q| q.chan), Ok(Chan::Free | Chan::Reserved)) {
            p.set(port, Chan::Free, 0);
            clear_pending(x, port);
        }
    }
}

/// Binds a static event channel (`xen,evtchn-v1` pair) between port `pa`
/// of domain `a` and port `pb` of domain `b` (possibly the same domain),
/// before either runs, as Xen's `alloc_static_evtchn` does.
pub fn bind_static(a: u16, pa: u32, b: u16, pb: u32) -> Result<(), &'static str> {
    let xa = super::lookup(a).ok_or("the domain has no Xen ABI or did not start")?;
    let xb = super::lookup(b).ok_or("the peer domain has no Xen ABI or did not start")?;
    let take = |p: &mut Ports, port: u32| -> Result<(), &'static str> {
        if port == 0 || !p.ensure(port) {
            return Err("port out of range");
        }
        match p.get(port).map(|x| x.chan) {
            Ok(Chan::Free) => Ok(()),
            _ => Err("port already in use"),
        }
    };
    if a == b {
        let mut p = xa.ports.lock();
        take(&mut p, pa)?;
        take(&mut p, pb)?;
        p.set(
            pa,
            Chan::Interdomain {
                remote: a,
                port: pb,
            },
            0,
        );
        p.set(
            pb,
            Chan::Interdomain {
                remote: a,
                port: pa,
            },
            0,
        );
        drop(p);
        set_pending(&xa, pb, 0);
        return Ok(());
    }
    let (mut ma, mut mb) = if a < b {
        let l = xa.ports.lock();
        (l, xb.ports.lock())
    } else {
        let l = xb.ports.lock();
        (xa.ports.lock(), l)
    };
    take(&mut ma, pa)?;
    take(&mut mb, pb)?;
    ma.set(
        pa,
        Chan::Interdomain {
            remote: b,
            port: pb,
        },
        0,
    );
    mb.set(
        pb,
        Chan::Interdomain {
            remote: a,
            port: pa,
        },
        0,
    );
    drop((ma, mb));
    // Xen binds the second end with evtchn_bind_interdomain, which raises
    // it: the domain later in the tree starts with its port pending.
    set_pending(&xb, pb, 0);
    Ok(())
}

pub const EVTCHNSTAT_CLOSED: u32 = 0;
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
pub const EVTCHNSTAT_VIRQ: u32 = 4;
pub const EVTCHNSTAT_IPI: u32 = 5;

fn event_channel_op(c: &mut Call) -> i64 {
    let cmd = c.args[0] as u32;
    let arg = c.args[1];
    let me = c.guest.domid();
    let nr_vcpus = c.xen.nr_vcpus as u32;
    let r: Result<i64, i64> = (|| match cmd {
        // bind_virq {virq, vcpu, OUT port}
        1 => {
            let mut b = c.read::<12>(arg)?;
            let (virq, vcpu) = (le32(&b, 0), le32(&b, 4));
            if virq >= NR_VIRQS || (virq_is_global(virq) && vcpu != 0) {
                return Err(-EINVAL);
            }
            if vcpu >= nr_vcpus {
                return Err(-ENOENT);
            }
            let port = {
                let mut p = c.xen.ports.lock();
                let bound = p
                    .ports
                    .iter()
                    .any(|x| x.chan == Chan::Virq(virq) && x.notify == vcpu);
                if bound {
                    return Err(-EEXIST);
                }
                let port = p.alloc()?;
                p.set(port, Chan::Virq(virq), vcpu);
                port
            };
            put32(&mut b, 8, port);
            c.write(arg, &b)?;
            Ok(0)
        }
        // bind_pirq: Arm has no PIRQs.
        2 => Err(-EOPNOTSUPP),
        // close {port}
        3 => {
            let port = le32(&c.read::<4>(arg)?, 0);
            let chan = c.xen.ports.lock().get(port)?.chan;
            match chan {
                Chan::Free | Chan::Reserved => Err(-EINVAL),
                Chan::Interdomain { remote, port: peer } if remote != me => {
                    // The peer in the other domain waits again.
                    if let Some(rx) = super::lookup(remote) {
                        unbind_peer(&rx, peer, me, port);
                    }
                    free_port(c.xen, port);
                    Ok(0)
                }
                chan => {
                    let mut p = c.xen.ports.lock();
                    if let Chan::Interdomain { port: peer, .. } = chan {
                        if peer != port {
                            let n = p.get(peer)?.notify;
                            p.set(peer, Chan::Unbound { remote: me }, n);
                        }
                    }
                    p.set(port, Chan::Free, 0);
                    drop(p);
                    clear_pending(c.xen, port);
                    Ok(0)
                }
            }
        }
        // send {port}
        4 => {
            let port = le32(&c.read::<4>(arg)?, 0);
            let x = c.xen.ports.lock().get(port)?;
            match x.chan {
                Chan::Ipi => {
                    let k = set_pending(c.xen, port, x.notify);
                    kick(c.guest, k);
                }
                Chan::Interdomain { remote, port: peer } if remote == me => {
                    let n = c.xen.ports.lock().get(peer)?.notify;
                    let k = set_pending(c.xen, peer, n);
                    kick(c.guest, k);
                }
                Chan::Interdomain { remote, port: peer } => send_remote(me, remote, peer),
                Chan::Unbound { .. } => {}
                _ => return Err(-EINVAL),
            }
            Ok(0)
        }
        // status {dom, port, OUT status, vcpu, u}
        5 => {
            let mut b = c.read::<24>(arg)?;
            let dom = le16(&b, 0);
            if !c.is_self(dom) {
                // Xen looks the port up before asking XSM.
                let port = le32(&b, 4);
                let valid = match super::lookup(dom) {
                    Some(rx) => rx.ports.lock().get(port).is_ok(),
                    None => (port as usize) < BUCKET,
                };
                if crate::domain::by_id(dom).is_some() && !valid {
                    return Err(-EINVAL);
                }
                return Err(c.other_domain(dom));
            }
            let x = c.xen.ports.lock().get(le32(&b, 4))?;
            let (status, u, peer) = match x.chan {
                Chan::Free | Chan::Reserved => (EVTCHNSTAT_CLOSED, 0, 0),
                Chan::Unbound { remote } => (EVTCHNSTAT_UNBOUND, u32::from(remote), 0),
                Chan::Interdomain { remote, port } => {
                    (EVTCHNSTAT_INTERDOMAIN, u32::from(remote), port)
                }
                Chan::Virq(v) => (EVTCHNSTAT_VIRQ, v, 0),
                Chan::Ipi => (EVTCHNSTAT_IPI, 0, 0),
            };
            put32(&mut b, 8, status);
            put32(&mut b, 12, x.notify);
            b[16..24].fill(0);
            put32(&mut b, 16, u);
            put32(&mut b, 20, peer);
            c.write(arg, &b)?;
            Ok(0)
        }
        // alloc_unbound {dom, remote_dom, OUT port}
        6 => {
            let mut b = c.read::<8>(arg)?;
            let (dom, remote) = (le16(&b, 0), le16(&b, 2));
            if !c.is_self(dom) {
                return Err(c.other_domain(dom));
            }
            let remote = if remote == super::abi::DOMID_SELF {
                me
            } else {
                remote
            };
            let port = {
                let mut p = c.xen.ports.lock();
                let port = p.alloc()?;
                p.set(port, Chan::Unbound { remote }, 0);
                port
            };
            put32(&mut b, 4, port);
            c.write(arg, &b)?;
            Ok(0)
        }
        // bind_ipi {vcpu, OUT port}
        7 => {
            let mut b = c.read::<8>(arg)?;
            let vcpu = le32(&b, 0);
            if vcpu >= nr_vcpus {
                return Err(-ENOENT);
            }
            let port = {
                let mut p = c.xen.ports.lock();
                let port = p.alloc()?;
                p.set(port, Chan::Ipi, vcpu);
                port
            };
            put32(&mut b, 4, port);
            c.write(arg, &b)?;
            Ok(0)
        }
        // bind_vcpu {port, vcpu}
        8 => {
            let b = c.read::<8>(arg)?;
            let (port, vcpu) = (le32(&b, 0), le32(&b, 4));
            if vcpu >= nr_vcpus {
                return Err(-ENOENT);
            }
            let mut p = c.xen.ports.lock();
            let x = p.get(port)?;
            match x.chan {
                Chan::Unbound { .. } | Chan::Interdomain { .. } => {}
                Chan::Virq(v) if virq_is_global(v) => {}
                _ => return Err(-EINVAL),
            }
            p.set(port, x.chan, vcpu);
            Ok(0)
        }
        // unmask {port}
        9 => {
            let port = le32(&c.read::<4>(arg)?, 0);
            let x = c.xen.ports.lock().get(port)?;
            // Xen's evtchn_port_unmask acts on usable ports only: a free
            // port's mask bit stays as the guest left it.
            if x.chan == Chan::Free {
                return Ok(0);
            }
            let k = unmask(c.xen, port, x.notify);
            kick(c.guest, k);
            Ok(0)
        }
        // bind_interdomain {remote_dom, remote_port, OUT local_port}
        0 => {
            let mut b = c.read::<12>(arg)?;
            let (rdom, rport) = (le16(&b, 0), le32(&b, 4));
            if !c.is_self(rdom) {
                let local = bind_remote(c.xen, rdom, rport)?;
                let k = set_pending(c.xen, local, 0);
                kick(c.guest, k);
                put32(&mut b, 8, local);
                c.write(arg, &b)?;
                return Ok(0);
            }
            let local = {
                let mut p = c.xen.ports.lock();
                let local = p.alloc()?;
                match p.get(rport).map(|x| x.chan) {
                    Ok(Chan::Unbound { remote }) if remote == me && rport != local => {}
                    _ => return Err(-EINVAL),
                }
                let rn = p.get(rport)?.notify;
                p.set(
                    rport,
                    Chan::Interdomain {
                        remote: me,
                        port: local,
                    },
                    rn,
                );
                p.set(
                    local,
                    Chan::Interdomain {
                        remote: me,
                        port: rport,
                    },
                    0,
                );
                local
            };
            // Xen raises the new local end at once.
            let k = set_pending(c.xen, local, 0);
            kick(c.guest, k);
            put32(&mut b, 8, local);
            c.write(arg, &b)?;
            Ok(0)
        }
        // reset {dom}: closes every port but the reserved one; a FIFO
        // domain goes back to 2-level.
        10 => {
            let dom = le16(&c.read::<2>(arg)?, 0);
            if !c.is_self(dom) {
                return Err(c.other_domain(dom));
            }
            close_all(c.xen);
            fifo::reset(c.xen);
            Ok(0)
        }
        // init_control {control_gfn, offset, vcpu, OUT link_bits}
        11 => {
            let mut b = c.read::<24>(arg)?;
            let (gfn, offset, vcpu) = (le64(&b, 0), le32(&b, 8), le32(&b, 12));
            // setup_ports: the ports pending in 2-level, for the switch.
            let pending2l: Vec<u32> = if fifo::active(c.xen) {
                Vec::new()
            } else {
                let n = {
                    let mut p = c.xen.ports.lock();
                    for x in p.ports.iter_mut() {
                        x.prio = fifo::PRIORITY_DEFAULT;
                    }
                    p.len() as u32
                };
                (1..n)
                    .filter(|&p| {
                        c.xen
                            .evtchn_word(false, (p / 64) as usize)
                            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (p % 64)) != 0)
                    })
                    .collect()
            };
            let page = c.guest.gfn_to_page(gfn);
            fifo::init_control(c.xen, vcpu, page, offset, &pending2l)?;
            b[16] = fifo::LINK_BITS;
            c.write(arg, &b)?;
            Ok(0)
        }
        // expand_array {array_gfn}
        12 => {
            let gfn = le64(&c.read::<8>(arg)?, 0);
            let ports: Vec<(u32, u8)> = c
                .xen
                .ports
                .lock()
                .ports
                .iter()
                .map(|p| (p.notify, p.prio))
                .collect();
            let page = c.guest.gfn_to_page(gfn);
            for v in fifo::expand_array(c.xen, page, &ports)? {
                c.guest.kick_upcall(v);
            }
            Ok(0)
        }
        // set_priority {port, priority}
        13 => {
            let b = c.read::<8>(arg)?;
            let (port, prio) = (le32(&b, 0), le32(&b, 4));
            let mut p = c.xen.ports.lock();
            p.get(port)?;
            if !fifo::active(c.xen) {
                return Err(-ENOSYS);
            }
            if !p.usable(port) {
                return Err(-EACCES);
            }
            if prio > fifo::PRIORITY_MIN {
                return Err(-EINVAL);
            }
            if let Some(x) = p.ports.get_mut(port as usize) {
                x.prio = prio as u8;
            }
            Ok(0)
        }
        _ => Err(-ENOSYS),
    })();
    r.unwrap_or_else(|e| e)
}

#[distributed_slice(HYPERCALLS)]
static EVENT_CHANNEL_OP: Hypercall = Hypercall {
    nr: nr::EVENT_CHANNEL_OP,
    name: "event_channel_op",
    handler: event_channel_op,
};
