//! Event channels, FIFO ABI (xen/common/event_fifo.c, Xen 4.20).
//!
//! A domain starts with the 2-level ABI; its first successful
//! `EVTCHNOP_init_control` switches it to FIFO (per domain) and
//! `EVTCHNOP_reset` switches it back. In FIFO mode each port has a 32-bit
//! event word in guest-provided array pages (1024 per page, added with
//! `EVTCHNOP_expand_array`) and each vCPU a guest-provided control block
//! (`ready`, `head[16]`) with one queue per priority. Xen keeps each
//! queue's tail; the guest consumes from the head.
//!
//! Guest memory is only touched through [`Word32`]: a 32-bit half of an
//! `AtomicU64` of the page, with bounded compare-and-swap loops, so a
//! guest rewriting its words cannot stall or fault the hypervisor. The
//! pages stay the domain's until it is destroyed (like vcpu_info), so
//! their host addresses are kept without a reference, and never freed.
//!
//! Locking: one `Mutex<Fifo>` per domain stands for Xen's per-queue locks.
//! It is taken after the port table (`XenDomain::ports`), never before.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::errno::*;
use super::evtchn::MAX_PORT;
use super::{XenDomain, XenPages};

/// `EVTCHN_FIFO_LINK_BITS`, returned by init_control.
pub const LINK_BITS: u8 = 17;
const PENDING: u32 = 1 << 31;
const MASKED: u32 = 1 << 30;
const LINKED: u32 = 1 << 29;
const BUSY: u32 = 1 << 28;
const LINK_MASK: u32 = (1 << LINK_BITS) - 1;
/// Priorities 0 (highest) ..= 15.
pub const PRIORITY_MIN: u32 = 15;
pub const PRIORITY_DEFAULT: u8 = 7;
const NR_QUEUES: usize = PRIORITY_MIN as usize + 1;
/// `sizeof(evtchn_fifo_control_block_t)`: ready, rsvd, head[16].
pub const CONTROL_BLOCK_SIZE: u32 = 72;
const WORDS_PER_PAGE: u32 = 1024;
/// `EVTCHN_FIFO_NR_CHANNELS / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE`.
const MAX_ARRAY_PAGES: usize = (1 << LINK_BITS) / WORDS_PER_PAGE as usize;
/// Retries of a 32-bit compare-and-swap on its 64-bit word when the
/// other half keeps changing.
const CAS_TRIES: usize = 64;

/// A 32-bit word of a guest page, as a half of its 64-bit word.
#[derive(Clone, Copy)]
struct Word32 {
    w: &'static AtomicU64,
    shift: u32,
}

impl Word32 {
    /// The u32 at host address `pa` (4-aligned, inside a page `pages`
    /// can map).
    fn at(pages: &dyn XenPages, pa: u64) -> Option<Word32> {
        let w = pages.words(pa & !0xfff)?.get(((pa & 0xfff) / 8) as usize)?;
        Some(Word32 {
            w,
            shift: ((pa & 4) * 8) as u32,
        })
    }

    fn half(self, v: u64) -> u32 {
        (v >> self.shift) as u32
    }

    fn with(self, v: u64, half: u32) -> u64 {
        (v & !(0xffff_ffffu64 << self.shift)) | (u64::from(half) << self.shift)
    }

    fn load(self) -> u32 {
        self.half(self.w.load(Ordering::Acquire))
    }

    /// Sets `bits`; the old value.
    fn fetch_or(self, bits: u32) -> u32 {
        self.half(
            self.w
                .fetch_or(u64::from(bits) << self.shift, Ordering::AcqRel),
        )
    }

    /// Clears `bits`; the old value.
    fn fetch_clear(self, bits: u32) -> u32 {
        self.half(
            self.w
                .fetch_and(!(u64::from(bits) << self.shift), Ordering::AcqRel),
        )
    }

    /// `cmpxchg`: `Ok(old)` if the word was `old` and is now `new`, else
    /// `Err(what it was)`. Gives up (`Err(old)`) when the other half
    /// keeps changing.
    fn cas(self, old: u32, new: u32) -> Result<u32, u32> {
        let mut cur = self.w.load(Ordering::Acquire);
        for _ in 0..CAS_TRIES {
            if self.half(cur) != old {
                return Err(self.half(cur));
            }
            match self.w.compare_exchange(
                cur,
                self.with(cur, new),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(old),
                Err(now) => cur = now,
            }
        }
        Err(self.half(cur))
    }

    /// `write_atomic`. If the guest keeps changing the other half, the
    /// word is cleared and set in two steps (still ends as `v`).
    fn store(self, v: u32) {
        let mut cur = self.w.load(Ordering::Acquire);
        for _ in 0..CAS_TRIES {
            match self.w.compare_exchange(
                cur,
                self.with(cur, v),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
        self.fetch_clear(!v);
        self.fetch_or(v);
    }
}

/// One vCPU's FIFO state.
#[derive(Clone, Copy, Default)]
struct FifoVcpu {
    /// Host address of its control block (page + offset), once mapped.
    control: Option<u64>,
    /// Xen's `queue[q].tail` (0: empty).
    tail: [u32; NR_QUEUES],
}

/// A domain's FIFO state (`d->evtchn_fifo` and the FIFO fields of its
/// ports and vCPUs).
pub(super) struct Fifo {
    /// FIFO is the domain's ABI.
    active: bool,
    vcpus: Vec<FifoVcpu>,
    /// Host pages of the event array, in slot order.
    array: Vec<u64>,
    /// Per port: the queue (vCPU, priority) it was last linked on
    /// (`fifo_lastq`).
    lastq: Vec<(u16, u8)>,
    /// Per port: pending while its event-array page was missing
    /// (`evtchn->pending`); as in Xen it is never cleared.
    held: Vec<bool>,
}

impl Fifo {
    pub fn new() -> Fifo {
        Fifo {
            active: false,
            vcpus: Vec::new(),
            array: Vec::new(),
            lastq: alloc::vec![(0, 0); MAX_PORT as usize + 1],
            held: alloc::vec![false; MAX_PORT as usize + 1],
        }
    }

    /// `evtchn_fifo_word_from_port`.
    fn word(&self, pages: &dyn XenPages, port: u32) -> Option<Word32> {
        let page = *self.array.get((port / WORDS_PER_PAGE) as usize)?;
        Word32::at(pages, page + u64::from(port % WORDS_PER_PAGE) * 4)
    }

    /// Back to 2-level (`evtchn_fifo_destroy`): the guest pages are simply
    /// forgotten.
    fn destroy(&mut self) {
        self.active = false;
        self.vcpus.clear();
        self.array.clear();
    }

    /// `evtchn_fifo_set_pending` of `port` (priority `prio`) on vCPU `v`;
    /// the vCPU whose upcall must be injected, if any.
    fn set_pending(&mut self, xen: &XenDomain, port: u32, v: u32, prio: u8) -> Option<usize> {
        let pages = xen.pages;
        let Some(word) = self.word(pages, port) else {
            // The page may come later: remember the event.
            if let Some(h) = self.held.get_mut(port as usize) {
                *h = true;
            }
            return None;
        };
        let prio = prio.min(PRIORITY_MIN as u8);
        let q = (v as u16, prio);
        let old_q = *self.lastq.get(port as usize)?;
        // No control block: the guest cannot have unmasked anything yet,
        // the event is dropped.
        let control = self.vcpus.get(v as usize)?.control?;
        word.fetch_or(PENDING);
        let mut linked = true;
        if word.load() & MASKED == 0 && word.fetch_or(LINKED) & LINKED == 0 {
            // A former tail: its old queue is empty now.
            if let Some(ov) = self.vcpus.get_mut(old_q.0 as usize) {
                if ov.tail[old_q.1 as usize] == port {
                    ov.tail[old_q.1 as usize] = 0;
                }
            }
            if old_q != q {
                self.lastq[port as usize] = q;
            }
            linked = false;
            let tail = self.vcpus[v as usize].tail[prio as usize];
            if tail != 0 {
                if let Some(tw) = self.word(pages, tail) {
                    linked = set_link(tw, port);
                }
            }
            if !linked {
                if let Some(h) = Word32::at(pages, control + 8 + 4 * u64::from(prio)) {
                    h.store(port);
                }
            }
            self.vcpus[v as usize].tail[prio as usize] = port;
        }
        if !linked {
            let ready = Word32::at(pages, control)?;
            if ready.fetch_or(1 << prio) & (1 << prio) == 0 && xen.mark_events_pending(v as usize) {
                return Some(v as usize);
            }
        }
        None
    }
}

/// `try_set_link`: 1 linked, 0 the tail is no longer linked, -EAGAIN
/// the word changed under us.
fn try_set_link(word: Word32, w: &mut u32, link: u32) -> i32 {
    if *w & LINKED == 0 {
        return 0;
    }
    let old = *w;
    let new = (old & !(BUSY | LINK_MASK)) | link;
    match word.cas(old, new) {
        Ok(_) => 1,
        Err(now) => {
            *w = now;
            -1
        }
    }
}

/// `evtchn_fifo_set_link`: sets the tail's LINK iff it is still linked,
/// holding off the guest's unmask with BUSY; true if linked (or given up
/// after 4 tries, as Xen does).
fn set_link(word: Word32, link: u32) -> bool {
    let mut w = word.load();
    let r = try_set_link(word, &mut w, link);
    if r >= 0 {
        return r == 1;
    }
    word.fetch_or(BUSY);
    let mut w = word.load();
    for _ in 0..4 {
        let r = try_set_link(word, &mut w, link);
        if r >= 0 {
            if r == 0 {
                word.fetch_clear(BUSY);
            }
            return r == 1;
        }
    }
    word.fetch_clear(BUSY);
    true
}

/// Whether the domain uses the FIFO ABI.
pub(super) fn active(xen: &XenDomain) -> bool {
    xen.fifo.lock().active
}

/// Raises `port` (notify vCPU `v`, priority `prio`) if the domain is in
/// FIFO mode: `Err(())` if it is not (the caller uses 2-level), else the
/// vCPU to kick.
pub(super) fn set_pending(
    xen: &XenDomain,
    port: u32,
    v: u32,
    prio: u8,
) -> Result<Option<usize>, ()> {
    let mut f = xen.fifo.lock();
    if !f.active {
        return Err(());
    }
    Ok(f.set_pending(xen, port, v, prio))
}

/// `evtchn_fifo_unmask` in FIFO mode (`Err(())`: 2-level).
pub(super) fn unmask(xen: &XenDomain, port: u32, v: u32, prio: u8) -> Result<Option<usize>, ()> {
    let mut f = xen.fifo.lock();
    if !f.active {
        return Err(());
    }
    let Some(word) = f.word(xen.pages, port) else {
        return Ok(None);
    };
    word.fetch_clear(MASKED);
    if word.load() & PENDING != 0 {
        return Ok(f.set_pending(xen, port, v, prio));
    }
    Ok(None)
}

/// `evtchn_fifo_clear_pending` in FIFO mode (`Err(())`: 2-level).
pub(super) fn clear_pending(xen: &XenDomain, port: u32) -> Result<(), ()> {
    let f = xen.fifo.lock();
    if !f.active {
        return Err(());
    }
    if let Some(word) = f.word(xen.pages, port) {
        word.fetch_clear(PENDING);
    }
    Ok(())
}

/// `evtchn_fifo_is_pending` in FIFO mode (`None`: 2-level).
pub(super) fn is_pending(xen: &XenDomain, port: u32) -> Option<bool> {
    let f = xen.fifo.lock();
    if !f.active {
        return None;
    }
    Some(
        f.word(xen.pages, port)
            .is_some_and(|w| w.load() & PENDING != 0),
    )
}

/// A writable RAM page of the domain, as Xen's `map_guest_page`.
fn guest_page(xen: &XenDomain, page: Option<u64>) -> Result<u64, i64> {
    let pa = page.ok_or(-EINVAL)?;
    xen.pages.words(pa).ok_or(-EINVAL)?;
    Ok(pa)
}

/// EVTCHNOP_init_control for vCPU `vcpu` with its control block at
/// `offset` of host page `page` (the guest's frame, `None` if not RAM).
/// `pending2l` lists the ports pending in the 2-level ABI (read before
/// the switch), to be raised again in FIFO.
pub(super) fn init_control(
    xen: &XenDomain,
    vcpu: u32,
    page: Option<u64>,
    offset: u32,
    pending2l: &[u32],
) -> Result<(), i64> {
    if vcpu as usize >= xen.nr_vcpus {
        return Err(-ENOENT);
    }
    if offset > 4096 - CONTROL_BLOCK_SIZE || !offset.is_multiple_of(8) {
        return Err(-EINVAL);
    }
    let mut f = xen.fifo.lock();
    let first = !f.active;
    if first {
        f.vcpus = alloc::vec![FifoVcpu::default(); xen.nr_vcpus];
        f.array.clear();
        f.lastq.fill((0, 0));
    }
    let map = |f: &mut Fifo| -> Result<(), i64> {
        let fv = f.vcpus.get_mut(vcpu as usize).ok_or(-ENOENT)?;
        if fv.control.is_some() {
            return Err(-EINVAL);
        }
        fv.control = Some(guest_page(xen, page)? + u64::from(offset));
        Ok(())
    };
    if let Err(e) = map(&mut f) {
        if first {
            f.destroy();
        }
        return Err(e);
    }
    if first {
        f.active = true;
        // setup_ports: 2-level pending state waits for its array page.
        for &p in pending2l {
            if let Some(h) = f.held.get_mut(p as usize) {
                *h = true;
            }
        }
    }
    Ok(())
}

/// EVTCHNOP_expand_array with host page `page` (`None`: not RAM).
/// `ports` gives each valid port's (notify vCPU, priority), to raise the
/// ports held back for this page. Returns the vCPUs to kick.
pub(super) fn expand_array(
    xen: &XenDomain,
    page: Option<u64>,
    ports: &[(u32, u8)],
) -> Result<Vec<usize>, i64> {
    let mut f = xen.fifo.lock();
    if !f.active {
        return Err(-EOPNOTSUPP);
    }
    let slot = f.array.len();
    if slot >= MAX_ARRAY_PAGES {
        return Err(-ENOSPC);
    }
    let pa = guest_page(xen, page)?;
    f.array.push(pa);
    let mut kicks = Vec::new();
    let first = slot as u32 * WORDS_PER_PAGE;
    for port in first..first + WORDS_PER_PAGE {
        let Some(&(v, prio)) = ports.get(port as usize) else {
            break;
        };
        if f.held.get(port as usize).copied().unwrap_or(false) {
            if let Some(k) = f.set_pending(xen, port, v, prio) {
                kicks.push(k);
            }
        }
    }
    Ok(kicks)
}

/// EVTCHNOP_reset's end: back to 2-level.
pub(super) fn reset(xen: &XenDomain) {
    xen.fifo.lock().destroy();
}
