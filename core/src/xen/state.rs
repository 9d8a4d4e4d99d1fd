//! A domain's Xen-ABI state: its shared-info page, where each vCPU's
//! vcpu_info and runstate area live, event channels, grant-table frames.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use super::abi::{LEGACY_MAX_VCPUS, SHINFO_MASK_BYTE, SHINFO_PENDING_BYTE};
use super::evtchn::Ports;
use super::fifo::Fifo;
use super::gnttab::GrantTable;

/// Pages the Xen state needs from the hypervisor: the shared-info page and
/// grant frames (hypervisor pages shared with the guest) and a word view
/// of guest RAM pages (for vcpu_info). Implemented by the arch layer over
/// the frame allocator and the direct map; host tests fake it.
pub trait XenPages: Sync {
    /// A zeroed page for the domain; its host address.
    fn alloc(&self) -> Option<u64>;
    /// Gives back a page from [`Self::alloc`].
    fn free(&self, pa: u64);
    /// The page at `pa` as 512 words. `pa` is a page from [`Self::alloc`]
    /// or a RAM page of the domain (which stays the domain's until it is
    /// destroyed, after its XenDomain is dropped).
    fn words(&self, pa: u64) -> Option<&'static [AtomicU64; 512]>;
    /// Takes a reference on a RAM page of some domain (a grant mapping),
    /// so it is never freed while mapped; false if it cannot.
    fn get_ref(&self, pa: u64) -> bool;
    /// Drops a reference from [`Self::get_ref`].
    fn put_ref(&self, pa: u64);
    /// Copies `len` bytes between pages (host addresses with offsets; the
    /// caller keeps each side inside its page).
    fn copy(&self, src: u64, dst: u64, len: usize);
}

/// `vcpu_runstate_info.state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Runstate {
    Running = 0,
    Runnable = 1,
    Blocked = 2,
    Offline = 3,
}

/// One vCPU's Xen view.
pub(super) struct VcpuXen {
    /// Where its vcpu_info is: (page, word index). Defaults to the
    /// shared-info slot for vCPU 0 (`XEN_LEGACY_MAX_VCPUS` = 1).
    pub vcpu_info: Mutex<Option<(u64, usize)>>,
    /// Whether VCPUOP_register_vcpu_info succeeded (it cannot be redone).
    pub registered: Mutex<bool>,
    /// The runstate area's guest virtual address (0: none).
    pub runstate_gva: AtomicU64,
    /// state, entry time, time[4].
    pub runstate: Mutex<(Runstate, u64, [u64; 4])>,
}

/// The Xen ABI state of one domain.
pub struct XenDomain {
    pub domid: u16,
    pub nr_vcpus: usize,
    /// `memory` in pages: `XENMEM_maximum_reservation`.
    pub max_pages: u64,
    pub(super) pages: &'static dyn XenPages,
    pub(super) shared_info: u64,
    /// The guest frame shared_info is mapped at.
    pub(super) shared_gfn: Mutex<Option<u64>>,
    pub(super) vcpus: Vec<VcpuXen>,
    /// `vm_assist` types enabled.
    pub(super) assists: AtomicU64,
    pub(super) ports: Mutex<Ports>,
    /// The FIFO event ABI's state (inactive: 2-level). Locked after
    /// `ports`, never before.
    pub(super) fifo: Mutex<Fifo>,
    pub(super) grants: Mutex<GrantTable>,
    /// The first `SCHEDOP_shutdown`/`shutdown_code` reason (u32::MAX: none).
    pub(super) shutdown_code: AtomicU32,
    /// `CONSOLEIO_write` output up to its newline.
    pub(super) console_line: Mutex<Vec<u8>>,
    /// `SCHEDOP_watchdog` timers: deadline in ns of system time (0: free).
    pub(super) watchdogs: Mutex<[u64; NR_WATCHDOGS]>,
    /// The earliest armed deadline (u64::MAX: none), kept by
    /// [`Self::set_watchdogs`]: read on every guest entry, so lock-free.
    watchdog_min: AtomicU64,
    /// Injects the event upcall of (domain, vCPU) and wakes it: how an
    /// event from another domain reaches this one (the arch layer's).
    pub(super) raise: fn(u16, usize),
    /// The host page behind a guest frame of domain `domid` (for grants
    /// other domains map or copy), if it is that domain's RAM.
    pub(super) resolve_gfn: fn(u16, u64) -> Option<u64>,
    /// Mappings of this domain's granted pages held by others.
    pub(super) foreign_maps: core::sync::atomic::AtomicUsize,
    /// vCPUs in `SCHEDOP_poll` and their ports.
    pub(super) pollers: Mutex<Vec<(usize, Vec<u32>)>>,
    /// Wakes a vCPU of (domain) blocked in a poll (the arch layer's).
    pub(super) wake: fn(u16, usize),
}

fn no_wake(_: u16, _: usize) {}

/// Live domains with the Xen ABI, for events and grants between them.
static LIVE: Mutex<Vec<Arc<XenDomain>>> = Mutex::new(Vec::new());

/// Makes a domain's Xen state reachable from other domains.
pub fn register(x: Arc<XenDomain>) {
    LIVE.lock().push(x);
}

/// The Xen state of domain `domid`, if it is live and has the ABI.
pub fn lookup(domid: u16) -> Option<Arc<XenDomain>> {
    LIVE.lock().iter().find(|x| x.domid == domid).cloned()
}

/// The domain is being destroyed: its channels are closed (peers in other
/// domains wait unbound again, as in Xen's `evtchn_destroy`) and it is no
/// longer reachable. Its pages go when the last reference does.
pub fn unregister(domid: u16) {
    let x = {
        let mut live = LIVE.lock();
        let i = live.iter().position(|x| x.domid == domid);
        i.map(|i| live.remove(i))
    };
    if let Some(x) = x {
        super::evtchn::close_all(&x);
        super::gnttab::release_maptrack(&x);
    }
}

/// Xen's `NR_DOMAIN_WATCHDOG_TIMERS`.
pub const NR_WATCHDOGS: usize = 2;

impl XenDomain {
    /// The state of a new domain with `nr_vcpus` vCPUs and `max_pages` of
    /// RAM; `None` when no page is left for shared_info.
    pub fn new(
        domid: u16,
        nr_vcpus: usize,
        max_pages: u64,
        pages: &'static dyn XenPages,
        raise: fn(u16, usize),
        resolve_gfn: fn(u16, u64) -> Option<u64>,
    ) -> Option<XenDomain> {
        let shared_info = pages.alloc()?;
        // Xen writes the (zero) wallclock at creation: wc_version ends even.
        if let Some(w) = pages.words(shared_info) {
            w[super::abi::SHINFO_WC_VERSION_BYTE / 8].store(2, Ordering::Release);
        }
        let vcpus = (0..nr_vcpus)
            .map(|i| VcpuXen {
                vcpu_info: Mutex::new((i < LEGACY_MAX_VCPUS).then_some((shared_info, 0))),
                registered: Mutex::new(false),
                runstate_gva: AtomicU64::new(0),
                runstate: Mutex::new((
                    if i == 0 {
                        Runstate::Running
                    } else {
                        Runstate::Offline
                    },
                    0,
                    [0; 4],
                )),
            })
            .collect();
        Some(XenDomain {
            domid,
            nr_vcpus,
            max_pages,
            pages,
            shared_info,
            shared_gfn: Mutex::new(None),
            vcpus,
            assists: AtomicU64::new(0),
            ports: Mutex::new(Ports::new()),
            fifo: Mutex::new(Fifo::new()),
            grants: Mutex::new(GrantTable::new()),
            shutdown_code: AtomicU32::new(u32::MAX),
            console_line: Mutex::new(Vec::new()),
            watchdogs: Mutex::new([0; NR_WATCHDOGS]),
            watchdog_min: AtomicU64::new(u64::MAX),
            raise,
            resolve_gfn,
            foreign_maps: core::sync::atomic::AtomicUsize::new(0),
            pollers: Mutex::new(Vec::new()),
            wake: no_wake,
        })
    }

    /// The same state with `wake` as its hook to wake a polling vCPU.
    pub fn with_wake(mut self, wake: fn(u16, usize)) -> Self {
        self.wake = wake;
        self
    }

    /// Xen's `evtchn_check_pollers`: `port` was raised; wake the vCPUs
    /// polling it, masked or not.
    pub(super) fn check_pollers(&self, port: u32) {
        let woken: Vec<usize> = {
            let mut p = self.pollers.lock();
            let w = p
                .iter()
                .filter(|(_, ports)| ports.contains(&port))
                .map(|(v, _)| *v)
                .collect();
            p.retain(|(_, ports)| !ports.contains(&port));
            w
        };
        for v in woken {
            (self.wake)(self.domid, v);
        }
    }

    /// The host page of shared_info.
    pub fn shared_info_page(&self) -> u64 {
        self.shared_info
    }

    fn shared_words(&self) -> Option<&'static [AtomicU64; 512]> {
        self.pages.words(self.shared_info)
    }

    /// The vCPU's vcpu_info as 6 words, if it has one.
    fn vcpu_info_words(&self, vcpu: usize) -> Option<&'static [AtomicU64]> {
        let (pa, w) = (*self.vcpus.get(vcpu)?.vcpu_info.lock())?;
        self.pages.words(pa)?.get(w..w + 6)
    }

    /// Whether the vCPU has an event upcall pending
    /// (`vcpu_info.evtchn_upcall_pending`): the level of its event PPI.
    pub fn upcall_pending(&self, vcpu: usize) -> bool {
        self.vcpu_info_words(vcpu)
            .is_some_and(|w| w[0].load(Ordering::Acquire) & 0xff != 0)
    }

    /// Sets `evtchn_upcall_pending` (Xen's `vcpu_mark_events_pending`);
    /// true on a 0 -> 1 change, when the PPI must be injected.
    pub(super) fn mark_events_pending(&self, vcpu: usize) -> bool {
        match self.vcpu_info_words(vcpu) {
            Some(w) => w[0].fetch_or(1, Ordering::AcqRel) & 0xff == 0,
            None => false,
        }
    }

    /// Sets bit `bit` of the vCPU's `evtchn_pending_sel`; true if it was
    /// clear.
    pub(super) fn set_pending_sel(&self, vcpu: usize, bit: u32) -> bool {
        match self.vcpu_info_words(vcpu) {
            Some(w) => w[1].fetch_or(1 << bit, Ordering::AcqRel) & (1 << bit) == 0,
            None => false,
        }
    }

    /// The shared_info word `word` of `evtchn_pending` (or `evtchn_mask`).
    pub(super) fn evtchn_word(&self, mask: bool, word: usize) -> Option<&'static AtomicU64> {
        let base = if mask {
            SHINFO_MASK_BYTE
        } else {
            SHINFO_PENDING_BYTE
        } / 8;
        self.shared_words()?.get(base + word)
    }

    /// Whether `port` is pending; `None` if it is not a usable port (as
    /// `SCHEDOP_poll` sees it).
    pub(super) fn port_pending(&self, port: u32) -> Option<bool> {
        if !self.ports.lock().usable(port) {
            return None;
        }
        if let Some(p) = super::fifo::is_pending(self, port) {
            return Some(p);
        }
        let w = self.evtchn_word(false, (port / 64) as usize)?;
        Some(w.load(Ordering::Acquire) & (1 << (port % 64)) != 0)
    }

    /// The reason of the first `SCHEDOP_shutdown` or `shutdown_code`.
    pub fn shutdown_code(&self) -> Option<u32> {
        let c = self.shutdown_code.load(Ordering::Acquire);
        (c != u32::MAX).then_some(c)
    }

    /// Stores the watchdog timers (with their lock held by the caller) and
    /// the earliest deadline.
    pub(super) fn set_watchdogs(&self, w: &mut [u64; NR_WATCHDOGS], new: [u64; NR_WATCHDOGS]) {
        *w = new;
        let min = w
            .iter()
            .copied()
            .filter(|&d| d != 0)
            .min()
            .unwrap_or(u64::MAX);
        self.watchdog_min.store(min, Ordering::Release);
    }

    /// When the next watchdog expires (ns), if one is armed.
    pub fn watchdog_next(&self) -> Option<u64> {
        let d = self.watchdog_min.load(Ordering::Acquire);
        (d != u64::MAX).then_some(d)
    }

    /// Whether a watchdog has expired at `now`: the domain must then be
    /// shut down with reason watchdog.
    pub fn watchdog_expired(&self, now: u64) -> bool {
        self.watchdog_min.load(Ordering::Acquire) <= now
    }

    /// The vCPU's runstate as last recorded.
    pub fn runstate(&self, vcpu: usize) -> Option<(Runstate, u64, [u64; 4])> {
        Some(*self.vcpus.get(vcpu)?.runstate.lock())
    }

    /// Records that the vCPU changed state at `now` (ns), charging the time
    /// since its last change to its old state. Returns the runstate area's
    /// guest address and its new 48-byte contents, for the caller to copy
    /// while the vCPU's translation is live (0: none registered).
    pub fn runstate_change(
        &self,
        vcpu: usize,
        state: Runstate,
        now: u64,
    ) -> Option<(u64, [u8; 48])> {
        let v = self.vcpus.get(vcpu)?;
        let mut r = v.runstate.lock();
        let (old, since, mut time) = *r;
        time[old as usize] = time[old as usize].saturating_add(now.saturating_sub(since));
        *r = (state, now.max(since), time);
        let gva = v.runstate_gva.load(Ordering::Acquire);
        (gva != 0).then(|| (gva, Self::runstate_bytes(&r)))
    }

    pub(super) fn runstate_bytes(r: &(Runstate, u64, [u64; 4])) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0..4].copy_from_slice(&(r.0 as u32).to_le_bytes());
        b[8..16].copy_from_slice(&r.1.to_le_bytes());
        for (i, t) in r.2.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }
}

impl Drop for XenDomain {
    fn drop(&mut self) {
        self.pages.free(self.shared_info);
        for pa in self.grants.get_mut().frames.drain(..) {
            self.pages.free(pa.0);
        }
    }
}
