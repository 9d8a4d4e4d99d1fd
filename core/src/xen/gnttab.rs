//! Grant tables, version 1 (xen/common/grant_table.c): a domain's frames
//! (hypervisor pages it maps with `XENMEM_add_to_physmap`), the table ops
//! (`query_size`, `setup_table`, `set_version`, `get_version`,
//! `get_status_frames`), and grants between domains: `map_grant_ref` and
//! `unmap_grant_ref` into the mapper's stage 2, and `copy`.
//!
//! A grant entry v1 is 8 bytes, `{u16 flags; u16 domid; u32 frame}`: one
//! 64-bit word of a grant frame, updated with atomics (the granter edits
//! it concurrently). A mapped page holds a frame-table reference until it
//! is unmapped, so it is never freed under the mapping: a granting domain
//! that ends while its pages are mapped stays dying until the mappings go
//! (the arch layer's teardown waits on [`foreign_mappings`]).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

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
pub const GNTST_BAD_GNTREF: i16 = -3;
pub const GNTST_BAD_HANDLE: i16 = -4;
pub const GNTST_PERMISSION_DENIED: i16 = -8;
pub const GNTST_BAD_PAGE: i16 = -9;
pub const GNTST_BAD_COPY_ARG: i16 = -10;
pub const GNTST_NO_SPACE: i16 = -13;

/// `GTF_*` bits of a v1 entry's flags.
const GTF_TYPE_MASK: u64 = 3;
const GTF_PERMIT_ACCESS: u64 = 1;
const GTF_READONLY: u64 = 1 << 2;
const GTF_READING: u64 = 1 << 3;
const GTF_WRITING: u64 = 1 << 4;
const GTF_SUB_PAGE: u64 = 1 << 8;
/// `GNTMAP_*`.
const GNTMAP_DEVICE_MAP: u32 = 1;
const GNTMAP_HOST_MAP: u32 = 2;
const GNTMAP_READONLY: u32 = 4;
/// `GNTCOPY_*`.
const GNTCOPY_SOURCE_GREF: u16 = 1;
const GNTCOPY_DEST_GREF: u16 = 2;
/// Entries per grant frame.
const PER_FRAME: u32 = 512;
/// Most grant mappings a domain may hold at once. Xen's limit is 1024
/// maptrack frames of 256 entries; ours is smaller because the table lives
/// on the hypervisor heap (about 40 bytes an entry), and a hostile domain
/// must not be able to exhaust it (a domain can map its own grants).
const MAX_MAPTRACK: usize = 8192;

/// One of the caller's grant mappings (its handle is the index).
pub(super) struct MapTrack {
    granter: Arc<XenDomain>,
    gref: u32,
    gfn: u64,
    pa: u64,
    readonly: bool,
}

/// Pins of one granted entry, by mappers of any domain.
#[derive(Clone, Copy, Default)]
pub(super) struct Active {
    ro: u32,
    rw: u32,
}

/// A domain's table: its frames and where each is mapped.
pub(super) struct GrantTable {
    /// (host page, guest frame it is mapped at).
    pub frames: Vec<(u64, Option<u64>)>,
    /// Frames allocated at creation, not yet handed out.
    pending_initial: bool,
    /// Pins per entry that is mapped by someone.
    active: alloc::collections::BTreeMap<u32, Active>,
    /// This domain's own mappings of others' grants, by handle.
    pub maptrack: Vec<Option<MapTrack>>,
    /// Xen's maptrack free lists: each entry's next free handle, the vCPU
    /// whose list it belongs to, and per vCPU the list's head and tail.
    mt_next: Vec<u32>,
    mt_vcpu: Vec<u16>,
    mt_lists: Vec<(u32, u32)>,
}

/// `MAPTRACK_TAIL`: the end of a free list.
const MT_TAIL: u32 = u32::MAX;
/// `MAPTRACK_PER_PAGE`: maptrack entries per frame (16 bytes each).
const MT_PER_FRAME: usize = 256;

impl GrantTable {
    pub fn new() -> Self {
        GrantTable {
            frames: Vec::new(),
            pending_initial: true,
            active: alloc::collections::BTreeMap::new(),
            maptrack: Vec::new(),
            mt_next: Vec::new(),
            mt_vcpu: Vec::new(),
            mt_lists: Vec::new(),
        }
    }

    fn list(&mut self, vcpu: usize) -> Option<&mut (u32, u32)> {
        while self.mt_lists.len() <= vcpu {
            self.mt_lists.try_reserve(1).ok()?;
            self.mt_lists.push((MT_TAIL, MT_TAIL));
        }
        self.mt_lists.get_mut(vcpu)
    }

    /// Xen's `_get_maptrack_handle`: the head of the vCPU's free list,
    /// always leaving one entry (the tail) in it.
    fn take_free(&mut self, vcpu: usize) -> Option<u32> {
        let head = self.list(vcpu)?.0;
        let next = *self.mt_next.get(head as usize)?;
        if next == MT_TAIL {
            return None;
        }
        self.list(vcpu)?.0 = next;
        Some(head)
    }

    /// Xen's `get_maptrack_handle`, with the same numbering: the vCPU's
    /// free list, else a new frame of 256 entries (the first is used, the
    /// rest go to the head of the list), else an entry of another vCPU's
    /// list. `None`: no handle (at most [`MAX_MAPTRACK`]) or no memory.
    fn get_handle(&mut self, vcpu: usize) -> Option<u32> {
        if let Some(h) = self.take_free(vcpu) {
            return Some(h);
        }
        let limit = self.mt_next.len();
        if limit + MT_PER_FRAME <= MAX_MAPTRACK
            && self.mt_next.try_reserve(MT_PER_FRAME).is_ok()
            && self.mt_vcpu.try_reserve(MT_PER_FRAME).is_ok()
            && self.maptrack.try_reserve(MT_PER_FRAME).is_ok()
        {
            let handle = limit as u32;
            for i in 0..MT_PER_FRAME as u32 {
                self.mt_next.push(handle + i + 1);
                self.mt_vcpu.push(vcpu as u16);
                self.maptrack.push(None);
            }
            let (head, tail) = *self.list(vcpu)?;
            let last = handle + MT_PER_FRAME as u32 - 1;
            if tail == MT_TAIL {
                self.list(vcpu)?.1 = last;
            }
            self.mt_next[last as usize] = head;
            self.list(vcpu)?.0 = handle + 1;
            return Some(handle);
        }
        // Steal from another vCPU's list (Xen's steal_maptrack_handle).
        let n = self.mt_lists.len();
        for i in 1..n {
            let other = (vcpu + i) % n;
            if let Some(h) = self.take_free(other) {
                if let Some(v) = self.mt_vcpu.get_mut(h as usize) {
                    *v = vcpu as u16;
                }
                return Some(h);
            }
        }
        None
    }

    /// Xen's `put_maptrack_handle`: the handle goes to the tail of the
    /// free list of the vCPU it belongs to.
    fn put_handle(&mut self, handle: u32) {
        let Some(&vcpu) = self.mt_vcpu.get(handle as usize) else {
            return;
        };
        self.mt_next[handle as usize] = MT_TAIL;
        let Some(l) = self.list(vcpu as usize) else {
            return;
        };
        let tail = l.1;
        l.1 = handle;
        if tail == MT_TAIL {
            // An empty list (cannot happen: a list always keeps its tail).
            l.0 = handle;
        } else if let Some(t) = self.mt_next.get_mut(tail as usize) {
            *t = handle;
        }
    }
}

/// Mappings of this domain's pages that other domains hold.
/// How many of the domain's granted pages are mapped by others now.
pub fn foreign_mappings(x: &XenDomain) -> usize {
    x.foreign_maps.load(Ordering::Acquire)
}

/// The entry word of `gref` in `x`'s table.
fn entry(
    x: &XenDomain,
    t: &GrantTable,
    gref: u32,
) -> Option<&'static core::sync::atomic::AtomicU64> {
    let (pa, _) = *t.frames.get((gref / PER_FRAME) as usize)?;
    x.pages.words(pa)?.get((gref % PER_FRAME) as usize)
}

/// Checks that `gref` of `granter` lets `mapper` in (for writing unless
/// `readonly`) and returns the granted host page; pins it.
fn pin(
    granter: &XenDomain,
    mapper: u16,
    gref: u32,
    readonly: bool,
    map: bool,
    resolve: &dyn Fn(u64) -> Option<u64>,
) -> Result<u64, i16> {
    let mut t = granter.grants.lock();
    let e = entry(granter, &t, gref).ok_or(GNTST_BAD_GNTREF)?;
    let w = e.load(Ordering::Acquire);
    let (flags, domid, frame) = (w & 0xffff, (w >> 16) & 0xffff, w >> 32);
    // A sub-page grant can be copied from, never mapped (Xen's
    // _set_status_v1 for maps; copies check their own bounds).
    let mut mask = GTF_TYPE_MASK;
    if map {
        mask |= GTF_SUB_PAGE;
    }
    if !readonly {
        mask |= GTF_READONLY;
    }
    if flags & mask != GTF_PERMIT_ACCESS || domid != u64::from(mapper) {
        return Err(GNTST_GENERAL_ERROR);
    }
    let pa = resolve(frame).ok_or(GNTST_BAD_PAGE)?;
    let a = t.active.entry(gref).or_default();
    if readonly {
        a.ro += 1;
    } else {
        a.rw += 1;
    }
    e.fetch_or(
        if readonly {
            GTF_READING
        } else {
            GTF_READING | GTF_WRITING
        },
        Ordering::AcqRel,
    );
    Ok(pa)
}

fn unpin(granter: &XenDomain, gref: u32, readonly: bool) {
    let mut t = granter.grants.lock();
    let Some(a) = t.active.get_mut(&gref) else {
        return;
    };
    if readonly {
        a.ro = a.ro.saturating_sub(1);
    } else {
        a.rw = a.rw.saturating_sub(1);
    }
    let (ro, rw) = (a.ro, a.rw);
    if ro == 0 && rw == 0 {
        t.active.remove(&gref);
    }
    if let Some(e) = entry(granter, &t, gref) {
        if rw == 0 {
            e.fetch_and(!GTF_WRITING, Ordering::AcqRel);
        }
        if ro == 0 && rw == 0 {
            e.fetch_and(!GTF_READING, Ordering::AcqRel);
        }
    }
}

/// The granted page `frame` (a gfn of the granter) as a host page.
fn granter_page(granter: &XenDomain) -> impl Fn(u64) -> Option<u64> + '_ {
    move |gfn| (granter.resolve_gfn)(granter.domid, gfn)
}

fn map_one(c: &mut Call, b: &mut [u8; 32]) {
    let (host_addr, flags, gref, dom) = (le64(b, 0), le32(b, 8), le32(b, 12), le16(b, 16));
    let status: Result<u32, i16> = (|| {
        if flags & (GNTMAP_DEVICE_MAP | GNTMAP_HOST_MAP) == 0 {
            return Err(GNTST_BAD_GNTREF);
        }
        // Arm maps into stage 2 only: host_map, optionally read-only.
        if flags & !GNTMAP_READONLY != GNTMAP_HOST_MAP {
            return Err(GNTST_GENERAL_ERROR);
        }
        let readonly = flags & GNTMAP_READONLY != 0;
        let granter = super::lookup(dom).ok_or(GNTST_BAD_DOMAIN)?;
        let me = c.guest.domid();
        let vcpu = c.guest.vcpu();
        let handle = c.xen.grants.lock().get_handle(vcpu).ok_or(GNTST_NO_SPACE)?;
        let r: Result<MapTrack, i16> = (|| {
            let pa = pin(&granter, me, gref, readonly, true, &granter_page(&granter))?;
            if !granter.pages.get_ref(pa) {
                unpin(&granter, gref, readonly);
                return Err(GNTST_BAD_PAGE);
            }
            let gfn = host_addr >> 12;
            if c.guest.map_foreign(gfn, pa, readonly).is_err() {
                granter.pages.put_ref(pa);
                unpin(&granter, gref, readonly);
                return Err(GNTST_GENERAL_ERROR);
            }
            granter.foreign_maps.fetch_add(1, Ordering::AcqRel);
            Ok(MapTrack {
                granter: granter.clone(),
                gref,
                gfn,
                pa,
                readonly,
            })
        })();
        let mut t = c.xen.grants.lock();
        match r {
            Ok(m) => {
                if let Some(slot) = t.maptrack.get_mut(handle as usize) {
                    *slot = Some(m);
                }
                Ok(handle)
            }
            Err(e) => {
                t.put_handle(handle);
                Err(e)
            }
        }
    })();
    let (st, handle) = match status {
        Ok(h) => (GNTST_OKAY, h),
        Err(e) => (e, 0),
    };
    b[18..20].copy_from_slice(&st.to_le_bytes());
    put32(b, 20, handle);
    b[24..32].fill(0);
}

/// Drops mapping `m`: the mapper's stage 2 is the caller's business.
fn release(m: MapTrack) {
    m.granter.pages.put_ref(m.pa);
    unpin(&m.granter, m.gref, m.readonly);
    m.granter.foreign_maps.fetch_sub(1, Ordering::AcqRel);
}

fn unmap_one(c: &mut Call, b: &mut [u8; 24]) {
    let (host_addr, handle) = (le64(b, 0), le32(b, 16) as usize);
    let st: i16 = (|| {
        let m = {
            let mut t = c.xen.grants.lock();
            let Some(slot) = t.maptrack.get_mut(handle) else {
                return GNTST_BAD_HANDLE;
            };
            match slot {
                // Xen's unmap_common: no host address, nothing to undo (the
                // handle stays).
                Some(_) if host_addr == 0 => return GNTST_OKAY,
                Some(m) if host_addr >> 12 == m.gfn => {
                    let m = slot.take();
                    t.put_handle(handle as u32);
                    m
                }
                Some(_) => return GNTST_GENERAL_ERROR,
                None => return GNTST_BAD_HANDLE,
            }
        };
        let Some(m) = m else { return GNTST_BAD_HANDLE };
        let _ = c.guest.set_gfn(m.gfn, None);
        release(m);
        GNTST_OKAY
    })();
    b[20..22].copy_from_slice(&st.to_le_bytes());
}

/// The domain ends: its mappings of others' grants go (its stage 2 goes
/// with it).
pub(super) fn release_maptrack(x: &XenDomain) {
    let maps: Vec<MapTrack> = x.grants.lock().maptrack.drain(..).flatten().collect();
    for m in maps {
        release(m);
    }
}

/// A copy side's page and, for a grant, the pinned entry to unpin.
type Side = (u64, Option<(Arc<XenDomain>, u32)>);

/// One side of a copy: a grant ref of `domid`, or a gmfn of the caller.
fn copy_side(c: &mut Call, u: u64, domid: u16, gref: bool, write: bool) -> Result<Side, i16> {
    let me = c.guest.domid();
    if gref {
        let granter = if domid == super::abi::DOMID_SELF || domid == me {
            super::lookup(me).ok_or(GNTST_BAD_DOMAIN)?
        } else {
            super::lookup(domid).ok_or(GNTST_BAD_DOMAIN)?
        };
        let gref = u32::try_from(u).map_err(|_| GNTST_BAD_GNTREF)?;
        let pa = pin(&granter, me, gref, !write, false, &granter_page(&granter))?;
        Ok((pa, Some((granter, gref))))
    } else {
        // A frame of the caller's own: Xen accepts DOMID_SELF only.
        if domid != super::abi::DOMID_SELF {
            return Err(GNTST_PERMISSION_DENIED);
        }
        c.guest
            .gfn_to_page(u)
            .map(|pa| (pa, None))
            .ok_or(GNTST_BAD_PAGE)
    }
}

fn copy_one(c: &mut Call, b: &mut [u8; 40]) {
    // Xen's gnttab_copy_one: nothing to copy is done at once; then the
    // domains, then each side's page (grant refs first), then the
    // offsets and length against the page.
    let st: i16 = (|| {
        let (len, flags) = (le16(b, 32), le16(b, 34));
        if len == 0 {
            return GNTST_OKAY;
        }
        let (soff, doff) = (le16(b, 10), le16(b, 26));
        for dom in [le16(b, 8), le16(b, 24)] {
            if dom != super::abi::DOMID_SELF
                && super::lookup(dom).is_none()
                && crate::domain::by_id(dom).is_none()
            {
                return GNTST_BAD_DOMAIN;
            }
        }
        let src = match copy_side(
            c,
            le64(b, 0),
            le16(b, 8),
            flags & GNTCOPY_SOURCE_GREF != 0,
            false,
        ) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let unpin_src = |src: &Side| {
            if let Some((g, r)) = &src.1 {
                unpin(g, *r, true);
            }
        };
        let dst = match copy_side(
            c,
            le64(b, 16),
            le16(b, 24),
            flags & GNTCOPY_DEST_GREF != 0,
            true,
        ) {
            Ok(d) => d,
            Err(e) => {
                unpin_src(&src);
                return e;
            }
        };
        let st =
            if u32::from(soff) + u32::from(len) > 4096 || u32::from(doff) + u32::from(len) > 4096 {
                GNTST_BAD_COPY_ARG
            } else {
                c.xen.pages.copy(
                    src.0 + u64::from(soff),
                    dst.0 + u64::from(doff),
                    len as usize,
                );
                GNTST_OKAY
            };
        unpin_src(&src);
        if let Some((g, r)) = dst.1 {
            unpin(&g, r, false);
        }
        st
    })();
    b[36..38].copy_from_slice(&st.to_le_bytes());
}

/// Runs `count` entries of `N` bytes at `arg` through `f`, writing each
/// back; `-EFAULT` on one it cannot read or write.
fn batch<const N: usize>(
    c: &mut Call,
    arg: u64,
    count: u32,
    f: fn(&mut Call, &mut [u8; N]),
) -> Result<i64, i64> {
    for i in 0..u64::from(count) {
        let at = arg.wrapping_add(N as u64 * i);
        let mut b = c.read::<N>(at)?;
        f(c, &mut b);
        c.write(at, &b)?;
    }
    Ok(0)
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
        0 => batch::<32>(c, arg, count, map_one),
        1 => batch::<24>(c, arg, count, unmap_one),
        5 => batch::<40>(c, arg, count, copy_one),
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
        // transfer, dump_table, unmap_and_replace, swap_grant_ref,
        // cache_flush: not built yet.
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
