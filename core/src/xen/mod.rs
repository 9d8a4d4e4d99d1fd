//! Xen's guest ABI on Arm64 (Xen 4.20), for domains built with
//! `xen,enhanced`: hypercalls through `HVC #0xEA1`, the shared-info page,
//! event channels (the 2-level and FIFO ABIs) and grant-table frames.
//!
//! The arch layer decodes the trap and calls [`dispatch`] with a
//! [`GuestAccess`] for the calling vCPU (guest-virtual copies through its
//! own stage 1 and stage 2, stage-2 page swaps, upcall injection). Each
//! hypercall family registers itself in [`HYPERCALLS`] from its own module;
//! an unknown number is `-ENOSYS`, as in Xen. The XSM hook
//! ([`crate::xsm::hypercall_allowed`]) runs before every handler. Nothing
//! a guest passes can panic or fault the hypervisor: guest memory is only
//! reached through the copy functions, which fail with `-EFAULT`.

use linkme::distributed_slice;

pub mod abi;
pub mod errno;
mod evtchn;
mod families;
mod fifo;
mod gnttab;
mod memory;
mod state;
#[cfg(test)]
mod tests;

pub use evtchn::bind_static;
pub use gnttab::foreign_mappings;
pub use state::{lookup, register, unregister, Runstate, XenDomain, XenPages};

/// What the arch layer must do after a hypercall returns to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Resume the vCPU.
    None,
    /// `SCHEDOP_yield`: let others run.
    Yield,
    /// `SCHEDOP_block`: turn event delivery on (PSTATE.I) and wait for an
    /// interrupt.
    Block { deadline: Option<u64> },
    /// `SCHEDOP_poll`: wait, interrupt mask untouched, until an interrupt,
    /// a polled port is raised (even masked: the domain's wake hook) or
    /// the deadline (ns of system time).
    Poll { deadline: Option<u64> },
    /// `SCHEDOP_shutdown`: the domain ends with Xen's reason code.
    Shutdown(u32),
}

/// The calling vCPU as the hypercalls see it.
pub trait GuestAccess {
    fn domid(&self) -> u16;
    /// The calling vCPU's index.
    fn vcpu(&self) -> usize;
    /// Copies from the guest virtual address `gva` (the calling vCPU's
    /// translation, stage 1 then stage 2); `-EFAULT` if any page fails.
    fn copy_from(&mut self, gva: u64, buf: &mut [u8]) -> Result<(), i64>;
    /// Copies to `gva`; `-EFAULT` if any page is not writable RAM.
    fn copy_to(&mut self, gva: u64, data: &[u8]) -> Result<(), i64>;
    /// The host page behind guest frame `gfn`, if it is RAM of the domain.
    fn gfn_to_page(&self, gfn: u64) -> Option<u64>;
    /// Maps host page `pa` at guest frame `gfn` (`None`: unmaps it),
    /// replacing what was there; returns the host page that was mapped.
    fn set_gfn(&mut self, gfn: u64, pa: Option<u64>) -> Result<Option<u64>, i64>;
    /// Maps another domain's granted page `pa` at `gfn` (read-only or
    /// read-write), replacing what was there.
    fn map_foreign(&mut self, gfn: u64, pa: u64, readonly: bool) -> Result<(), i64>;
    /// The highest guest frame of the domain's RAM banks.
    fn max_gpfn(&self) -> u64;
    /// Guest console output (`CONSOLEIO_write`), already filtered.
    fn console_write(&mut self, bytes: &[u8]);
    /// Reads console input for the domain (`CONSOLEIO_read`).
    fn console_read(&mut self, buf: &mut [u8]) -> usize;
    /// Pages of RAM the domain has (`tot_pages`).
    fn tot_pages(&self) -> u64;
    /// `decrease_reservation` of one page: unmaps the RAM page at `gfn`
    /// and sets it aside; false if `gfn` holds no RAM page of the domain.
    fn balloon_out(&mut self, gfn: u64) -> bool;
    /// `populate_physmap` of one page: maps a zeroed page at the empty RAM
    /// frame `gfn`; false if `gfn` is not an empty frame of a RAM bank or
    /// the domain is at its maximum.
    fn balloon_in(&mut self, gfn: u64) -> bool;
    /// `increase_reservation` of one page on a translated guest: the page
    /// counts to the domain but is mapped nowhere (as in Xen); false at
    /// the maximum.
    fn balloon_claim(&mut self) -> bool;
    /// System time in ns (the scheduler's clock).
    fn now_ns(&self) -> u64;
    /// vCPU `vcpu`'s `evtchn_upcall_pending` went 0 -> 1: inject the
    /// event PPI and wake it.
    fn kick_upcall(&mut self, vcpu: usize);
}

/// A hypercall family.
pub struct Hypercall {
    /// `__HYPERVISOR_*`.
    pub nr: u64,
    pub name: &'static str,
    pub handler: fn(&mut Call) -> i64,
}

/// Every hypercall this image has.
#[distributed_slice]
pub static HYPERCALLS: [Hypercall];

/// One hypercall in flight.
pub struct Call<'a> {
    pub guest: &'a mut dyn GuestAccess,
    pub xen: &'a XenDomain,
    /// x0..x4.
    pub args: [u64; 5],
    pub action: Action,
}

impl Call<'_> {
    /// Reads an `N`-byte struct at `gva`.
    pub fn read<const N: usize>(&mut self, gva: u64) -> Result<[u8; N], i64> {
        let mut b = [0u8; N];
        self.guest.copy_from(gva, &mut b).map(|()| b)
    }

    /// Writes `data` at `gva`.
    pub fn write(&mut self, gva: u64, data: &[u8]) -> Result<(), i64> {
        self.guest.copy_to(gva, data)
    }

    /// Whether a `domid_t` names the caller (itself or DOMID_SELF).
    pub fn is_self(&self, domid: u16) -> bool {
        domid == abi::DOMID_SELF || domid == self.guest.domid()
    }

    /// Xen's answer for a domid that is not the caller: `-ESRCH` if no
    /// such domain exists, else the XSM_TARGET decision (`-EPERM` under
    /// the dummy policy).
    pub fn other_domain(&self, domid: u16) -> i64 {
        if crate::domain::by_id(domid).is_none() {
            return -errno::ESRCH;
        }
        match crate::xsm::target(self.guest.domid(), domid) {
            Ok(()) => -errno::EPERM,
            Err(e) => e,
        }
    }
}

/// Runs hypercall `nr` for the calling vCPU; returns x0 and what to do
/// next. A domain without the Xen ABI gets `-ENOSYS` for everything.
pub fn dispatch(
    guest: &mut dyn GuestAccess,
    xen: Option<&XenDomain>,
    nr: u64,
    args: [u64; 5],
) -> (i64, Action) {
    let Some(xen) = xen else {
        return (-errno::ENOSYS, Action::None);
    };
    let Some(h) = HYPERCALLS.iter().find(|h| h.nr == nr) else {
        return (-errno::ENOSYS, Action::None);
    };
    if let Err(e) = crate::xsm::hypercall_allowed(guest.domid(), nr) {
        return (e, Action::None);
    }
    let mut call = Call {
        guest,
        xen,
        args,
        action: Action::None,
    };
    let r = (h.handler)(&mut call);
    (r, call.action)
}
