//! Grant tables, version 1, as far as a domain's own table goes: its
//! frames (hypervisor pages the guest maps with `XENMEM_add_to_physmap`),
//! `query_size`, `setup_table`, `set_version`, `get_version`. Mapping and
//! copying other domains' grants comes with inter-domain support.

use alloc::vec::Vec;

use linkme::distributed_slice;

use super::abi::{le16, le32, le64, nr, put32};
use super::errno::*;
use super::{Call, Hypercall, XenDomain, HYPERCALLS};

/// Xen's default `max_grant_frames` (`gnttab_max_frames`), which dom0less
/// domains get without `max_grant_frames`.
pub const MAX_FRAMES: u32 = 64;
/// `INITIAL_NR_GRANT_FRAMES` on Arm.
const INITIAL_FRAMES: usize = 1;

pub const GNTST_OKAY: i16 = 0;
pub const GNTST_GENERAL_ERROR: i16 = -1;
pub const GNTST_BAD_DOMAIN: i16 = -2;
pub const GNTST_PERMISSION_DENIED: i16 = -8;

/// A domain's table: its frames and where each is mapped.
pub(super) struct GrantTable {
    /// (host page, guest frame it is mapped at).
    pub frames: Vec<(u64, Option<u64>)>,
    /// Frames allocated at creation, not yet handed out.
    pending_initial: bool,
}

impl GrantTable {
    pub fn new() -> Self {
        GrantTable {
            frames: Vec::new(),
            pending_initial: true,
        }
    }
}

/// Grows the table to at least `n` frames (at most [`MAX_FRAMES`]).
fn grow(xen: &XenDomain, t: &mut GrantTable, n: usize) -> Result<(), i64> {
    if n > MAX_FRAMES as usize {
        return Err(-EINVAL);
    }
    while t.frames.len() < n {
        let pa = xen.pages.alloc().ok_or(-ENOMEM)?;
        t.frames.push((pa, None));
    }
    Ok(())
}

fn nr_frames(xen: &XenDomain, t: &mut GrantTable) -> Result<usize, i64> {
    if t.pending_initial {
        grow(xen, t, INITIAL_FRAMES)?;
        t.pending_initial = false;
    }
    Ok(t.frames.len())
}

/// `XENMAPSPACE_grant_table`: maps frame `idx` at `gfn`, growing the
/// table; `-EINVAL` beyond the limit, `-EBUSY` if the frame is mapped
/// elsewhere already (Xen maps a frame at one place at a time).
pub(super) fn map_frame(c: &mut Call, idx: u64, gfn: u64) -> Result<(), i64> {
    // Bit 31 asks for a v2 status frame; Arm has only v1.
    if idx & (1 << 31) != 0 || idx >= u64::from(MAX_FRAMES) {
        return Err(-EINVAL);
    }
    let xen = c.xen;
    let mut t = xen.grants.lock();
    nr_frames(xen, &mut t)?;
    grow(xen, &mut t, idx as usize + 1)?;
    let (pa, at) = t.frames[idx as usize];
    if at.is_some() {
        return Err(-EBUSY);
    }
    c.guest.set_gfn(gfn, Some(pa))?;
    t.frames[idx as usize].1 = Some(gfn);
    Ok(())
}

/// `XENMEM_remove_from_physmap` of a grant frame: true if `gfn` held one.
pub(super) fn forget_gfn(xen: &XenDomain, gfn: u64) -> bool {
    let mut t = xen.grants.lock();
    match t.frames.iter_mut().find(|f| f.1 == Some(gfn)) {
        Some(f) => {
            f.1 = None;
            true
        }
        None => false,
    }
}

fn grant_table_op(c: &mut Call) -> i64 {
    let cmd = c.args[0] as u32;
    let arg = c.args[1];
    let count = c.args[2] as u32;
    if (count as i32) < 0 {
        return -EINVAL;
    }
    if cmd >> 12 != 0 {
        return -EINVAL;
    }
    let r: Result<i64, i64> = (|| match cmd {
        // setup_table {dom, nr_frames, OUT status, frame_list}
        2 => {
            if count != 1 {
                return Err(-EINVAL);
            }
            let mut b = c.read::<24>(arg)?;
            let (dom, want, list) = (le16(&b, 0), le32(&b, 4), le64(&b, 16));
            let status = if !c.is_self(dom) {
                if crate::domain::by_id(dom).is_none() {
                    GNTST_BAD_DOMAIN
                } else {
                    GNTST_PERMISSION_DENIED
                }
            } else if want > MAX_FRAMES {
                GNTST_GENERAL_ERROR
            } else {
                let xen = c.xen;
                let gfns: Vec<u64> = {
                    let mut t = xen.grants.lock();
                    nr_frames(xen, &mut t)?;
                    grow(xen, &mut t, want as usize)?;
                    t.frames
                        .iter()
                        .take(want as usize)
                        .map(|f| f.1.unwrap_or(u64::MAX))
                        .collect()
                };
                for (i, g) in gfns.iter().enumerate() {
                    c.write(list.wrapping_add(8 * i as u64), &g.to_le_bytes())?;
                }
                GNTST_OKAY
            };
            b[8..10].copy_from_slice(&status.to_le_bytes());
            c.write(arg, &b)?;
            Ok(0)
        }
        // query_size {dom, OUT nr_frames, max_nr_frames, status}
        6 => {
            if count != 1 {
                return Err(-EINVAL);
            }
            let mut b = c.read::<16>(arg)?;
            let dom = le16(&b, 0);
            let status = if !c.is_self(dom) {
                if crate::domain::by_id(dom).is_none() {
                    GNTST_BAD_DOMAIN
                } else {
                    GNTST_PERMISSION_DENIED
                }
            } else {
                let xen = c.xen;
                let n = nr_frames(xen, &mut xen.grants.lock())?;
                put32(&mut b, 4, n as u32);
                put32(&mut b, 8, MAX_FRAMES);
                GNTST_OKAY
            };
            b[12..14].copy_from_slice(&status.to_le_bytes());
            c.write(arg, &b)?;
            Ok(0)
        }
        // set_version {IN/OUT version}: Arm has v1 only; Xen writes the
        // version in force back even when refusing another.
        8 => {
            if count != 1 {
                return Err(-EINVAL);
            }
            let mut b = c.read::<4>(arg)?;
            let want = le32(&b, 0);
            put32(&mut b, 0, 1);
            c.write(arg, &b)?;
            match want {
                1 => Ok(0),
                // v2 is not built on Arm (GNTTAB_MAX_VERSION 1).
                2 => Err(-ENOSYS),
                _ => Err(-EINVAL),
            }
        }
        // get_status_frames {nr_frames, dom, OUT status, frame_list}: v1
        // tables have no status frames.
        9 => {
            if count != 1 {
                return Err(-EINVAL);
            }
            let mut b = c.read::<16>(arg)?;
            let dom = le16(&b, 4);
            let status = if !c.is_self(dom) {
                if crate::domain::by_id(dom).is_none() {
                    GNTST_BAD_DOMAIN
                } else {
                    GNTST_PERMISSION_DENIED
                }
            } else {
                GNTST_GENERAL_ERROR
            };
            b[6..8].copy_from_slice(&status.to_le_bytes());
            c.write(arg, &b)?;
            Ok(0)
        }
        // get_version {dom, pad, OUT version}
        10 => {
            if count != 1 {
                return Err(-EINVAL);
            }
            let mut b = c.read::<8>(arg)?;
            let dom = le16(&b, 0);
            if !c.is_self(dom) {
                return Err(c.other_domain(dom));
            }
            put32(&mut b, 4, 1);
            c.write(arg, &b)?;
            Ok(0)
        }
        // map/unmap/transfer/copy/swap/cache_flush of other domains'
        // grants, get_status_frames: not built yet.
        _ => Err(-ENOSYS),
    })();
    r.unwrap_or_else(|e| e)
}

#[distributed_slice(HYPERCALLS)]
static GRANT_TABLE_OP: Hypercall = Hypercall {
    nr: nr::GRANT_TABLE_OP,
    name: "grant_table_op",
    handler: grant_table_op,
};
