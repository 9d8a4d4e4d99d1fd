//! `memory_op` as a domU on Arm uses it (xen/common/memory.c,
//! xen/arch/arm/mm.c): shared_info and grant frames through
//! `add_to_physmap`, `remove_from_physmap`, the reservation counts and the
//! balloon's `decrease_reservation` / `populate_physmap`.

use linkme::distributed_slice;

use super::abi::{le16, le32, le64, nr};
use super::errno::*;
use super::{gnttab, Call, Hypercall, HYPERCALLS};

const XENMEM_INCREASE_RESERVATION: u64 = 0;
const XENMEM_DECREASE_RESERVATION: u64 = 1;
const XENMEM_MAXIMUM_RAM_PAGE: u64 = 2;
const XENMEM_CURRENT_RESERVATION: u64 = 3;
const XENMEM_MAXIMUM_RESERVATION: u64 = 4;
const XENMEM_POPULATE_PHYSMAP: u64 = 6;
const XENMEM_ADD_TO_PHYSMAP: u64 = 7;
const XENMEM_MAXIMUM_GPFN: u64 = 14;
const XENMEM_REMOVE_FROM_PHYSMAP: u64 = 15;
const XENMEM_GET_SHARING_FREED_PAGES: u64 = 18;
const XENMEM_GET_SHARING_SHARED_PAGES: u64 = 19;
const XENMEM_ADD_TO_PHYSMAP_BATCH: u64 = 23;
const XENMEM_CLAIM_PAGES: u64 = 24;
const XENMEM_GET_VNUMAINFO: u64 = 26;

const XENMAPSPACE_SHARED_INFO: u32 = 0;
const XENMAPSPACE_GRANT_TABLE: u32 = 1;
const XENMAPSPACE_GMFN_RANGE: u32 = 3;
const XENMAPSPACE_GMFN_FOREIGN: u32 = 4;
const XENMAPSPACE_DEV_MMIO: u32 = 5;

/// `MEMOP_EXTENT_SHIFT`: the continuation start extent above the op.
const EXTENT_SHIFT: u32 = 6;

fn add_to_physmap(c: &mut Call, arg: u64, start: u64) -> Result<i64, i64> {
    if start > u64::from(u16::MAX) {
        return Err(-EDOM);
    }
    let b = c.read::<24>(arg)?;
    let (dom, size, space, idx, gpfn) = (
        le16(&b, 0),
        le16(&b, 2),
        le32(&b, 4),
        le64(&b, 8),
        le64(&b, 16),
    );
    if space == XENMAPSPACE_GMFN_FOREIGN {
        return Err(-ENOSYS);
    }
    if !c.is_self(dom) {
        return Err(c.other_domain(dom));
    }
    if space == XENMAPSPACE_DEV_MMIO {
        return Err(-EACCES);
    }
    if gpfn == u64::MAX {
        return Err(-EINVAL);
    }
    match space {
        XENMAPSPACE_SHARED_INFO => {
            if idx != 0 {
                return Err(-EINVAL);
            }
            let xen = c.xen;
            let mut at = xen.shared_gfn.lock();
            if at.is_some() {
                return Err(-EBUSY);
            }
            c.guest.set_gfn(gpfn, Some(xen.shared_info_page()))?;
            *at = Some(gpfn);
            Ok(0)
        }
        XENMAPSPACE_GRANT_TABLE => gnttab::map_frame(c, idx, gpfn).map(|()| 0),
        // gmfn_range goes page by page through gmfn, which Arm refuses.
        XENMAPSPACE_GMFN_RANGE if size == 0 => Ok(0),
        _ => Err(-ENOSYS),
    }
}

fn remove_from_physmap(c: &mut Call, arg: u64) -> Result<i64, i64> {
    let b = c.read::<16>(arg)?;
    let (dom, gpfn) = (le16(&b, 0), le64(&b, 8));
    if !c.is_self(dom) {
        return Err(c.other_domain(dom));
    }
    let xen = c.xen;
    {
        let mut at = xen.shared_gfn.lock();
        if *at == Some(gpfn) {
            c.guest.set_gfn(gpfn, None)?;
            *at = None;
            return Ok(0);
        }
    }
    if gnttab::forget_gfn(xen, gpfn) {
        c.guest.set_gfn(gpfn, None)?;
        return Ok(0);
    }
    // A RAM page: taken out of the map, as the balloon would.
    if c.guest.balloon_out(gpfn) {
        return Ok(0);
    }
    Err(-ENOENT)
}

/// The reservation ops return how many extents were done (from the start
/// extent), never an errno: every failure just stops the count.
fn reservation(c: &mut Call, op: u64, arg: u64, start: u64) -> i64 {
    let Ok(b) = c.read::<32>(arg) else {
        return start as i64;
    };
    let (list, nr_extents, order, flags, dom) = (
        le64(&b, 0),
        le64(&b, 8),
        le32(&b, 16),
        le32(&b, 20),
        le16(&b, 24),
    );
    if nr_extents > u64::from(u32::MAX >> EXTENT_SHIFT) || start >= nr_extents || !c.is_self(dom) {
        return start as i64;
    }
    // Address bits / node / populate-on-demand flags are meaningless here;
    // populate-on-demand on oneself is refused, as Xen does.
    if flags & (1 << 16) != 0 {
        return start as i64;
    }
    let mut done = start;
    while done < nr_extents {
        // Only single pages: the balloon's unit (Xen allows larger orders
        // up to its domU limit; see the departures in docs).
        if order != 0 {
            break;
        }
        let ok = match op {
            XENMEM_INCREASE_RESERVATION => c.guest.balloon_claim(),
            _ => {
                let mut g = [0u8; 8];
                if c.guest
                    .copy_from(list.wrapping_add(8 * done), &mut g)
                    .is_err()
                {
                    break;
                }
                let gfn = u64::from_le_bytes(g);
                if op == XENMEM_DECREASE_RESERVATION {
                    c.guest.balloon_out(gfn)
                } else {
                    c.guest.balloon_in(gfn)
                }
            }
        };
        if !ok {
            break;
        }
        done += 1;
    }
    done as i64
}

fn memory_op(c: &mut Call) -> i64 {
    let cmd = c.args[0];
    let arg = c.args[1];
    let op = cmd & ((1 << EXTENT_SHIFT) - 1);
    let start = cmd >> EXTENT_SHIFT;
    // Only the reservation ops and add_to_physmap(_batch) carry a start
    // extent; the others refuse one.
    let takes_start = matches!(
        op,
        XENMEM_INCREASE_RESERVATION
            | XENMEM_DECREASE_RESERVATION
            | XENMEM_POPULATE_PHYSMAP
            | XENMEM_ADD_TO_PHYSMAP
            | XENMEM_ADD_TO_PHYSMAP_BATCH
    );
    if start != 0 && !takes_start && op <= XENMEM_GET_VNUMAINFO {
        return -EINVAL;
    }
    let r: Result<i64, i64> = (|| match op {
        XENMEM_INCREASE_RESERVATION | XENMEM_DECREASE_RESERVATION | XENMEM_POPULATE_PHYSMAP => {
            Ok(reservation(c, op, arg, start))
        }
        XENMEM_MAXIMUM_RAM_PAGE => {
            if start != 0 {
                return Err(-EINVAL);
            }
            Ok(crate::mm::FRAMES.max_pfn() as i64)
        }
        XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION | XENMEM_MAXIMUM_GPFN => {
            let dom = le16(&c.read::<2>(arg)?, 0);
            if !c.is_self(dom) {
                return Err(c.other_domain(dom));
            }
            Ok(match op {
                XENMEM_CURRENT_RESERVATION => c.guest.tot_pages() as i64,
                XENMEM_MAXIMUM_RESERVATION => c.xen.max_pages as i64,
                _ => c.guest.max_gpfn() as i64,
            })
        }
        XENMEM_ADD_TO_PHYSMAP => add_to_physmap(c, arg, start),
        XENMEM_REMOVE_FROM_PHYSMAP => remove_from_physmap(c, arg),
        XENMEM_GET_SHARING_FREED_PAGES | XENMEM_GET_SHARING_SHARED_PAGES => Ok(0),
        // {u16 domid; u16 pad; ...}: dom0less domains have no vNUMA.
        XENMEM_GET_VNUMAINFO => {
            let b = c.read::<4>(arg)?;
            if le16(&b, 2) != 0 {
                return Err(-EINVAL);
            }
            let dom = le16(&b, 0);
            if !c.is_self(dom) {
                return Err(c.other_domain(dom));
            }
            Err(-EOPNOTSUPP)
        }
        // A xen_memory_reservation: no extent list; DOMID_SELF is not
        // looked up (-EINVAL); any domain is XSM_PRIV.
        XENMEM_CLAIM_PAGES => {
            let b = c.read::<32>(arg)?;
            let (list, order, flags, dom) = (le64(&b, 0), le32(&b, 16), le32(&b, 20), le16(&b, 24));
            if list != 0 || order != 0 || flags != 0 || dom == super::abi::DOMID_SELF {
                return Err(-EINVAL);
            }
            if crate::domain::by_id(dom).is_none() {
                return Err(-EINVAL);
            }
            crate::xsm::privileged(c.guest.domid()).map(|()| 0)
        }
        // {u16 domid, space, size, res0; idxs, gpfns, errs}: foreign and
        // other mappings come with inter-domain support; size 0 is done.
        XENMEM_ADD_TO_PHYSMAP_BATCH => {
            if start > u64::from(u16::MAX) {
                return Err(-EDOM);
            }
            let b = c.read::<32>(arg)?;
            let (dom, space, size) = (le16(&b, 0), le16(&b, 2), le16(&b, 4));
            if u32::from(space) == XENMAPSPACE_GMFN_RANGE {
                return Err(-EOPNOTSUPP);
            }
            if !c.is_self(dom) {
                return Err(c.other_domain(dom));
            }
            if u64::from(size) <= start {
                return Ok(0);
            }
            Err(-ENOSYS)
        }
        _ => Err(-ENOSYS),
    })();
    r.unwrap_or_else(|e| e)
}

#[distributed_slice(HYPERCALLS)]
static MEMORY_OP: Hypercall = Hypercall {
    nr: nr::MEMORY_OP,
    name: "memory_op",
    handler: memory_op,
};
