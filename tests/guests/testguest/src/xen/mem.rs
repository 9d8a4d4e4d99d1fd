//! memory_op (reservations, physmap of shared_info and grant frames) and
//! grant_table_op.

use super::hc::*;
use super::{domid, other};
use crate::checks::{abort_ok, probe_read};
use crate::{ck, say, Env};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Where shared_info is mapped (0: not mapped).
pub static SHINFO: AtomicU64 = AtomicU64::new(0);

const INCREASE: u64 = 0;
const DECREASE: u64 = 1;
const MAX_RAM_PAGE: u64 = 2;
const CURRENT: u64 = 3;
const MAXIMUM: u64 = 4;
const POPULATE: u64 = 6;
const ADD_TO_PHYSMAP: u64 = 7;
const MAX_GPFN: u64 = 14;
const REMOVE_FROM_PHYSMAP: u64 = 15;
const ADD_TO_PHYSMAP_BATCH: u64 = 23;
const CLAIM_PAGES: u64 = 24;
const GET_VNUMAINFO: u64 = 26;
/// MEMOP_EXTENT_SHIFT (public/memory.h): start extent in cmd bits 6+.
const EXT: u64 = 6;

/// The grant-table window (GUEST_GNTTAB_BASE >> 12), where Linux maps
/// grant frame 0.
pub(super) const GNT_GFN: u64 = 0x38000;
/// A gfn in no mapping: GUEST_VPCI_ECAM_BASE, unused by dom0less.
const HOLE_GFN: u64 = 0x10000;

/// op(&domid_t) for current/maximum_reservation, maximum_gpfn.
fn memdom(op: u64, dom: u64) -> R {
    clr(8);
    w16(arg(), dom as u16);
    hc(MEMORY_OP, op, arg(), 0)
}

/// struct xen_memory_reservation { handle extent_start @0; u64 nr_extents
/// @8; u32 extent_order @16; u32 mem_flags @20; u16 domid @24 } with the
/// extent list at arg + 512.
fn resv(op: u64, gfns: &[u64], nr: u64, dom: u64, start: u64) -> R {
    clr(32);
    let list = arg() + 512;
    for (i, g) in gfns.iter().enumerate() {
        w64(list + 8 * i as u64, *g);
    }
    w64(arg(), if gfns.is_empty() { 0 } else { list });
    w64(arg() + 8, nr);
    w16(arg() + 24, dom as u16);
    hc(MEMORY_OP, op | start << EXT, arg(), 0)
}

/// struct xen_add_to_physmap { u16 domid @0; u16 size @2; u32 space @4;
/// u64 idx @8; u64 gpfn @16 }.
pub(super) fn atp(dom: u64, space: u64, idx: u64, gpfn: u64, size: u16) -> R {
    clr(24);
    w16(arg(), dom as u16);
    w16(arg() + 2, size);
    w32(arg() + 4, space as u32);
    w64(arg() + 8, idx);
    w64(arg() + 16, gpfn);
    hc(MEMORY_OP, ADD_TO_PHYSMAP, arg(), 0)
}

/// struct xen_remove_from_physmap { u16 domid @0; u64 gpfn @8 }.
fn rfp(dom: u64, gpfn: u64) -> R {
    clr(16);
    w16(arg(), dom as u16);
    w64(arg() + 8, gpfn);
    hc(MEMORY_OP, REMOVE_FROM_PHYSMAP, arg(), 0)
}

/// A read of `a` takes the stage-2 data abort of an unmapped IPA.
fn is_hole(a: u64) -> Result<(), crate::out::Buf> {
    abort_ok(probe_read(a), a).map(|_| ())
}

/// `xen-memory-reservation`: common/memory.c do_memory_op.
/// current/maximum_reservation are tot_pages / max_pages, both `memory`
/// KiB / 4 for a dom0less domU (arm/dom0less-build.c construct_domU;
/// allocate_memory allocates all of it); maximum_gpfn is the p2m's highest
/// mapped gfn (arm/mm.c domain_get_maximum_gpfn), the end of RAM. The
/// reservation ops return the number of extents done, never an errno
/// (start_extent on any error): increase fails at max_pages; decrease of a
/// mapped RAM page frees it (a hole afterwards); populate maps a new page.
pub fn reservation(env: &Env) {
    let mut c = Ck::new("xen-memory-reservation");
    let pages = env.arg_num("memory").map(|k| k / 4);
    let Some(pages) = pages else {
        return crate::fail!("xen-memory-reservation", "bootargs carry no memory=<KiB>");
    };
    let want = pages as i64;
    ck!(c, rc "current_reservation"; memdom(CURRENT, DOMID_SELF), want);
    ck!(c, rc "maximum_reservation"; memdom(MAXIMUM, DOMID_SELF), want);
    let gpfn = (0x4000_0000 >> 12) + pages.min(0xc0000) - 1;
    if pages <= 0xc0000 {
        ck!(c, rc "maximum_gpfn"; memdom(MAX_GPFN, DOMID_SELF), gpfn as i64);
    }
    if let Some(d) = domid() {
        ck!(c, rc "current_reservation own domid {}", d; memdom(CURRENT, d), want);
    }
    ck!(c, rc "current_reservation {:#x}", DOMID_NONE; memdom(CURRENT, DOMID_NONE), ESRCH);
    ck!(c, rc "maximum_reservation DOMID_INVALID"; memdom(MAXIMUM, DOMID_INVALID), ESRCH);
    if let Some(o) = other(env) {
        ck!(c, rc "current_reservation other domid {}", o; memdom(CURRENT, o), EPERM);
    }
    clr(8);
    w16(arg(), DOMID_SELF as u16);
    ck!(c, rc "current_reservation start_extent 1"; hc(MEMORY_OP, CURRENT | 1 << EXT, arg(), 0), EINVAL);
    ck!(c, rc "current_reservation bad pointer"; hc(MEMORY_OP, CURRENT, BAD_VA, 0), EFAULT);
    // maximum_ram_page: the host's max_page, no permission check.
    let maxpg = c.within(format_args!("maximum_ram_page"), hc(MEMORY_OP, MAX_RAM_PAGE, 0, 0), 1, i64::MAX);
    say!("info xen-memory-reservation maximum_ram_page {:#x}", maxpg.unwrap_or(0));
    ck!(c, rc "maximum_ram_page start_extent 1"; hc(MEMORY_OP, MAX_RAM_PAGE | 1 << EXT, 0, 0), EINVAL);

    let dec = gfn(P_DEC);
    ck!(c, rc "increase 1 at max_pages"; resv(INCREASE, &[], 1, DOMID_SELF, 0), 0);
    ck!(c, rc "decrease 1 (gfn {:#x})", dec; resv(DECREASE, &[dec], 1, DOMID_SELF, 0), 1);
    ck!(c, rc "current after decrease"; memdom(CURRENT, DOMID_SELF), want - 1);
    if let Err(b) = is_hole(page(P_DEC)) {
        c.no(format_args!("read of the freed page"), format_args!("{}", b.as_str()));
    }
    ck!(c, rc "decrease the freed gfn again"; resv(DECREASE, &[dec], 1, DOMID_SELF, 0), 0);
    ck!(c, rc "populate 1"; resv(POPULATE, &[dec], 1, DOMID_SELF, 0), 1);
    ck!(c, rc "current after populate"; memdom(CURRENT, DOMID_SELF), want);
    ck!(c, t "read of the populated page"; probe_read(page(P_DEC)).is_ok(), "aborts");
    ck!(c, rc "populate at max_pages"; resv(POPULATE, &[HOLE_GFN], 1, DOMID_SELF, 0), 0);
    ck!(c, rc "decrease unmapped gfn"; resv(DECREASE, &[HOLE_GFN], 1, DOMID_SELF, 0), 0);
    ck!(c, rc "decrease 0 extents"; resv(DECREASE, &[HOLE_GFN], 0, DOMID_SELF, 0), 0);
    ck!(c, rc "decrease start_extent 1 of 1"; resv(DECREASE, &[HOLE_GFN], 1, DOMID_SELF, 1), 1);
    ck!(c, rc "decrease 2^26 extents"; resv(DECREASE, &[HOLE_GFN], 1 << 26, DOMID_SELF, 0), 0);
    clr(32);
    w64(arg(), BAD_VA);
    w64(arg() + 8, 1);
    w16(arg() + 24, DOMID_SELF as u16);
    ck!(c, rc "decrease, bad extent list"; hc(MEMORY_OP, DECREASE, arg(), 0), 0);
    ck!(c, rc "decrease, bad pointer"; hc(MEMORY_OP, DECREASE, BAD_VA, 0), 0);
    ck!(c, rc "decrease {:#x}", DOMID_NONE; resv(DECREASE, &[dec], 1, DOMID_NONE, 0), 0);
    if let Some(o) = other(env) {
        ck!(c, rc "increase other domid {}", o; resv(INCREASE, &[], 1, o, 0), 0);
    }
    ck!(c, rc "current at the end"; memdom(CURRENT, DOMID_SELF), want);
    c.done(format_args!("{} pages, maximum_gpfn {:#x}", pages, gpfn))
}

/// `xen-memory-ops`: the other memory_op sub-ops a domU can reach
/// (common/memory.c do_memory_op; arm/mm.c arch_memory_op: the sharing
/// queries return 0, the rest -ENOSYS).
pub fn ops(_env: &Env) {
    let mut c = Ck::new("xen-memory-ops");
    clr(64);
    for op in [5u64, 8, 9, 10, 12, 13, 16, 17, 20, 22, 25, 29, 63] {
        ck!(c, rc "op {}", op; hc(MEMORY_OP, op, arg(), 0), ENOSYS);
    }
    for op in [18u64, 19] {
        ck!(c, rc "op {}", op; hc(MEMORY_OP, op, arg(), 0), 0);
    }
    // get_vnumainfo {u16 domid; u16 pad; u32 nr_vnodes, nr_vcpus,
    // nr_vmemranges; 3 handles}: pad != 0 -EINVAL first; no vNUMA for a
    // dom0less domU: -EOPNOTSUPP.
    let vnuma = |dom: u64, pad: u16| {
        clr(40);
        w16(arg(), dom as u16);
        w16(arg() + 2, pad);
        hc(MEMORY_OP, GET_VNUMAINFO, arg(), 0)
    };
    ck!(c, rc "get_vnumainfo"; vnuma(DOMID_SELF, 0), EOPNOTSUPP);
    ck!(c, rc "get_vnumainfo pad 1"; vnuma(DOMID_SELF, 1), EINVAL);
    ck!(c, rc "get_vnumainfo {:#x}", DOMID_NONE; vnuma(DOMID_NONE, 0), ESRCH);
    ck!(c, rc "get_vnumainfo bad pointer"; hc(MEMORY_OP, GET_VNUMAINFO, BAD_VA, 0), EFAULT);
    // claim_pages (a xen_memory_reservation): DOMID_SELF is not looked up
    // (rcu_lock_domain_by_id): -EINVAL; the own id: XSM_PRIV -EPERM.
    ck!(c, rc "claim_pages DOMID_SELF"; resv(CLAIM_PAGES, &[], 1, DOMID_SELF, 0), EINVAL);
    if let Some(d) = domid() {
        ck!(c, rc "claim_pages own domid"; resv(CLAIM_PAGES, &[], 1, d, 0), EPERM);
    }
    ck!(c, rc "claim_pages with extent list"; resv(CLAIM_PAGES, &[0], 1, DOMID_SELF, 0), EINVAL);
    // add_to_physmap_batch {u16 domid, space, size, res0; handles idxs,
    // gpfns, errs}: gmfn_range -EOPNOTSUPP; size 0 does nothing: 0;
    // start_extent beyond u16 -EDOM.
    let batch = |space: u16, cmd: u64| {
        clr(32);
        w16(arg(), DOMID_SELF as u16);
        w16(arg() + 2, space);
        hc(MEMORY_OP, cmd, arg(), 0)
    };
    ck!(c, rc "add_to_physmap_batch gmfn_range"; batch(3, ADD_TO_PHYSMAP_BATCH), EOPNOTSUPP);
    ck!(c, rc "add_to_physmap_batch size 0"; batch(0, ADD_TO_PHYSMAP_BATCH), 0);
    ck!(c, rc "add_to_physmap_batch start_extent 2^16";
        batch(0, ADD_TO_PHYSMAP_BATCH | 0x10000 << EXT), EDOM);
    ck!(c, rc "add_to_physmap_batch bad pointer"; hc(MEMORY_OP, ADD_TO_PHYSMAP_BATCH, BAD_VA, 0), EFAULT);
    c.done(format_args!("unknown ops -ENOSYS, no vNUMA"))
}

/// `xen-physmap-shared-info`: XENMEM_add_to_physmap of
/// XENMAPSPACE_shared_info (arm/mm.c xenmem_add_to_physmap_one: idx must
/// be 0; a xenheap page maps at one gfn only, -EBUSY otherwise) over a RAM
/// page, its contents (zeroed at creation; wallclock written once by
/// arm/domain.c arch_domain_create -> common/time.c
/// update_domain_wallclock_time: wc_version 2), the other spaces
/// (gmfn -ENOSYS on Arm, gmfn_foreign -ENOSYS in common code, dev_mmio
/// -EACCES for a domU, unknown -ENOSYS), XENMEM_remove_from_physmap (the
/// gfn is a hole afterwards), and a second mapping at another gfn, kept
/// for the event-channel checks.
pub fn shared_info(env: &Env) {
    let mut c = Ck::new("xen-physmap-shared-info");
    let (a, b) = (page(P_SHINFO_A), page(P_SHINFO_B));
    if ck!(c, rc "map at gfn {:#x}", a >> 12; atp(DOMID_SELF, 0, 0, a >> 12, 0), 0) != Some(0) {
        return c.done(format_args!(""));
    }
    // struct shared_info (Arm): vcpu_info[1] (48 bytes) @0,
    // evtchn_pending[64] @48, evtchn_mask[64] @560, wc_version @1072,
    // wc_sec @1076, wc_nsec @1080, wc_sec_hi @1084.
    flush(a, PAGE);
    let nz = |base: u64| (0..64).filter(|i| r64(base + 8 * i) != 0).count();
    ck!(c, eq "evtchn_pending words set"; nz(a + 48), 0);
    ck!(c, eq "evtchn_mask words set"; nz(a + 560), 0);
    ck!(c, eq "vcpu_info[0].evtchn_upcall_pending"; r8(a), 0);
    ck!(c, eq "vcpu_info[0].evtchn_pending_sel"; r64(a + 8), 0);
    let wcv = r32(a + 1072);
    ck!(c, t "wc_version"; wcv >= 2 && wcv % 2 == 0, "{}", wcv);
    say!("info xen-physmap-shared-info wc_version {} wc_sec {} wc_nsec {}", wcv,
         r32(a + 1076), r32(a + 1080));
    ck!(c, rc "map again at another gfn"; atp(DOMID_SELF, 0, 0, b >> 12, 0), EBUSY);
    ck!(c, rc "map again at the same gfn"; atp(DOMID_SELF, 0, 0, a >> 12, 0), EBUSY);
    ck!(c, rc "idx 1"; atp(DOMID_SELF, 0, 1, b >> 12, 0), EINVAL);
    ck!(c, rc "gpfn ~0 (INVALID_GFN)"; atp(DOMID_SELF, 0, 0, u64::MAX, 0), EINVAL);
    ck!(c, rc "space gmfn"; atp(DOMID_SELF, 2, a >> 12, b >> 12, 0), ENOSYS);
    ck!(c, rc "space gmfn_range, size 0"; atp(DOMID_SELF, 3, a >> 12, b >> 12, 0), 0);
    ck!(c, rc "space gmfn_range, size 1"; atp(DOMID_SELF, 3, a >> 12, b >> 12, 1), ENOSYS);
    ck!(c, rc "space gmfn_foreign"; atp(DOMID_SELF, 4, 0, b >> 12, 0), ENOSYS);
    ck!(c, rc "space dev_mmio"; atp(DOMID_SELF, 5, 0x9000, b >> 12, 0), EACCES);
    for space in [6u64, 0xffff_ffff] {
        ck!(c, rc "space {:#x}", space; atp(DOMID_SELF, space, 0, b >> 12, 0), ENOSYS);
    }
    ck!(c, rc "domid {:#x}", DOMID_NONE; atp(DOMID_NONE, 0, 0, b >> 12, 0), ESRCH);
    if let Some(o) = other(env) {
        ck!(c, rc "other domid {}", o; atp(o, 0, 0, b >> 12, 0), EPERM);
    }
    ck!(c, rc "bad pointer"; hc(MEMORY_OP, ADD_TO_PHYSMAP, BAD_VA, 0), EFAULT);
    ck!(c, rc "start_extent 2^16"; hc(MEMORY_OP, ADD_TO_PHYSMAP | 0x10000 << EXT, arg(), 0), EDOM);
    // remove_from_physmap: the gfn becomes a hole (the RAM page that was
    // there is not restored); nothing mapped: -ENOENT.
    ck!(c, rc "remove"; rfp(DOMID_SELF, a >> 12), 0);
    if let Err(e) = is_hole(a) {
        c.no(format_args!("read after remove"), format_args!("{}", e.as_str()));
    }
    ck!(c, rc "remove again"; rfp(DOMID_SELF, a >> 12), ENOENT);
    ck!(c, rc "remove {:#x}", DOMID_NONE; rfp(DOMID_NONE, b >> 12), ESRCH);
    ck!(c, rc "remove start_extent 1"; hc(MEMORY_OP, REMOVE_FROM_PHYSMAP | 1 << EXT, arg(), 0), EINVAL);
    ck!(c, rc "remove bad pointer"; hc(MEMORY_OP, REMOVE_FROM_PHYSMAP, BAD_VA, 0), EFAULT);
    if ck!(c, rc "map at gfn {:#x}", b >> 12; atp(DOMID_SELF, 0, 0, b >> 12, 0), 0) == Some(0) {
        flush(b, PAGE);
        ck!(c, eq "wc_version at the new gfn"; r32(b + 1072), wcv);
        SHINFO.store(b, Relaxed);
    }
    c.done(format_args!("wc_version {}", wcv))
}

/// struct gnttab_query_size { u16 dom @0; u32 nr_frames @4; u32
/// max_nr_frames @8; s16 status @12 }.
pub(super) fn query(dom: u64, count: u64) -> (R, u32, u32, i16) {
    clr(16);
    w16(arg(), dom as u16);
    w16(arg() + 12, 0x5555);
    let r = hc(GRANT_TABLE_OP, 6, arg(), count);
    (r, r32(arg() + 4), r32(arg() + 8), r16(arg() + 12) as i16)
}

/// struct gnttab_setup_table { u16 dom @0; u32 nr_frames @4; s16 status
/// @8; handle frame_list @16 }, the list at arg + 512.
fn setup(nr: u32, count: u64) -> (R, i16) {
    clr(24);
    w16(arg(), DOMID_SELF as u16);
    w32(arg() + 4, nr);
    w16(arg() + 8, 0x5555);
    w64(arg() + 16, arg() + 512);
    fill(arg() + 512, 16, 0x55);
    let r = hc(GRANT_TABLE_OP, 2, arg(), count);
    (r, r16(arg() + 8) as i16)
}

/// `xen-grant-table`: common/grant_table.c do_grant_table_op.
/// query_size: 1 frame at creation (arm INITIAL_NR_GRANT_FRAMES), max 64
/// (opt_max_grant_frames; dom0less passes -1 = default unless the DT says
/// max_grant_frames); an unknown domain is status GNTST_bad_domain (-2)
/// with return 0. set_version: Arm's GNTTAB_MAX_VERSION is 1, so 2 is
/// -ENOSYS, other values -EINVAL, and the current version (1) is written
/// back every time. setup_table lists the gfn each frame is mapped at
/// (INVALID_GFN when not mapped: arm asm/grant_table.h gnttab_shared_gfn).
pub fn grant_table(env: &Env) {
    let mut c = Ck::new("xen-grant-table");
    let (r, nr, max, st) = query(DOMID_SELF, 1);
    if ck!(c, rc "query_size"; r, 0).is_some() {
        ck!(c, eq "query_size status"; st as i64, 0);
        ck!(c, eq "query_size nr_frames"; nr, 1);
        ck!(c, eq "query_size max_nr_frames"; max, 64);
    }
    for count in [0u64, 2, 0xffff_ffff] {
        ck!(c, rc "query_size count {:#x}", count; query(DOMID_SELF, count).0, EINVAL);
    }
    let (r, _, _, st) = query(DOMID_NONE, 1);
    ck!(c, rc "query_size {:#x}", DOMID_NONE; r, 0);
    ck!(c, eq "query_size {:#x} status", DOMID_NONE; st as i64, -2i64);
    if let Some(d) = domid() {
        ck!(c, eq "query_size own domid status"; query(d, 1).3 as i64, 0);
    }
    if let Some(o) = other(env) {
        ck!(c, eq "query_size other domid status (permission_denied)"; query(o, 1).3 as i64, -8i64);
    }
    ck!(c, rc "query_size bad pointer"; hc(GRANT_TABLE_OP, 6, BAD_VA, 1), EFAULT);
    for (v, want) in [(1u32, 0i64), (2, ENOSYS), (0, EINVAL), (3, EINVAL)] {
        clr(8);
        w32(arg(), v);
        ck!(c, rc "set_version {}", v; hc(GRANT_TABLE_OP, 8, arg(), 1), want);
        ck!(c, eq "set_version {} writes back", v; r32(arg()), 1);
    }
    ck!(c, rc "set_version bad pointer"; hc(GRANT_TABLE_OP, 8, BAD_VA, 1), EFAULT);
    // get_version { u16 dom; u16 pad; u32 version }.
    let getv = |dom: u64| {
        clr(8);
        w16(arg(), dom as u16);
        (hc(GRANT_TABLE_OP, 10, arg(), 1), r32(arg() + 4))
    };
    let (r, v) = getv(DOMID_SELF);
    ck!(c, rc "get_version"; r, 0);
    ck!(c, eq "get_version version"; v, 1);
    ck!(c, rc "get_version {:#x}", DOMID_NONE; getv(DOMID_NONE).0, ESRCH);
    if let Some(o) = other(env) {
        ck!(c, rc "get_version other domid {}", o; getv(o).0, EPERM);
    }
    // get_status_frames { u32 nr_frames; u16 dom; s16 status; handle }:
    // version 1 has no status frames: GNTST_general_error.
    clr(16);
    w32(arg(), 1);
    w16(arg() + 4, DOMID_SELF as u16);
    w64(arg() + 8, arg() + 512);
    ck!(c, rc "get_status_frames"; hc(GRANT_TABLE_OP, 9, arg(), 1), 0);
    ck!(c, eq "get_status_frames status"; r16(arg() + 6) as i16 as i64, -1i64);
    let (r, st) = setup(1, 1);
    ck!(c, rc "setup_table 1 frame"; r, 0);
    ck!(c, eq "setup_table status"; st as i64, 0);
    ck!(c, eq "setup_table frame 0 gfn (unmapped)"; r64(arg() + 512), u64::MAX);
    let (r, st) = setup(65, 1);
    ck!(c, rc "setup_table 65 frames"; r, 0);
    ck!(c, eq "setup_table 65 status"; st as i64, -1i64);
    ck!(c, rc "setup_table count 2"; setup(1, 2).0, EINVAL);
    for cmd in [13u64, 0xfff] {
        ck!(c, rc "cmd {:#x}", cmd; hc(GRANT_TABLE_OP, cmd, arg(), 1), ENOSYS);
    }
    ck!(c, rc "query_size with cmd bit 12"; hc(GRANT_TABLE_OP, 6 | 1 << 12, arg(), 1), EINVAL);
    c.done(format_args!("v1, frames 1 of 64"))
}

/// `xen-physmap-grant-table`: XENMAPSPACE_grant_table
/// (common/grant_table.c gnttab_map_frame, gnttab_get_shared_frame_mfn:
/// an index past the current size grows the table, past max_grant_frames
/// -EINVAL; arm/mm.c: one gfn per frame, -EBUSY). Frame 0 stays mapped at
/// GUEST_GNTTAB_BASE as Linux maps it.
pub fn grant_physmap(_env: &Env) {
    let mut c = Ck::new("xen-physmap-grant-table");
    if ck!(c, rc "frame 0 at {:#x}", GNT_GFN; atp(DOMID_SELF, 1, 0, GNT_GFN, 0), 0) == Some(0) {
        let f = GNT_GFN << 12;
        flush(f, 64);
        // grant_entry_v1 {u16 flags; u16 domid; u32 frame}: the 8
        // reserved entries are zero for dom0less.
        ck!(c, t "frame 0 entries 0..7"; (0..8).all(|i| r64(f + 8 * i) == 0), "not zero");
    }
    ck!(c, rc "frame 0 again"; atp(DOMID_SELF, 1, 0, GNT_GFN + 1, 0), EBUSY);
    ck!(c, rc "frame 1 (grows the table)"; atp(DOMID_SELF, 1, 1, GNT_GFN + 1, 0), 0);
    ck!(c, eq "nr_frames after"; query(DOMID_SELF, 1).1, 2);
    ck!(c, rc "frame 64 (max_grant_frames)"; atp(DOMID_SELF, 1, 64, GNT_GFN + 2, 0), EINVAL);
    ck!(c, rc "frame 0xffffffff"; atp(DOMID_SELF, 1, 0xffff_ffff, GNT_GFN + 2, 0), EINVAL);
    ck!(c, rc "status frame 0 (v1)"; atp(DOMID_SELF, 1, 0x8000_0000, GNT_GFN + 2, 0), EINVAL);
    let (r, _) = setup(2, 1);
    ck!(c, rc "setup_table 2 frames"; r, 0);
    ck!(c, eq "setup_table frame 0 gfn"; r64(arg() + 512), GNT_GFN);
    ck!(c, eq "setup_table frame 1 gfn"; r64(arg() + 520), GNT_GFN + 1);
    ck!(c, rc "remove frame 1"; rfp(DOMID_SELF, GNT_GFN + 1), 0);
    ck!(c, rc "remove frame 1 again"; rfp(DOMID_SELF, GNT_GFN + 1), ENOENT);
    let _ = setup(2, 1);
    ck!(c, eq "frame 1 gfn after remove"; r64(arg() + 520), u64::MAX);
    ck!(c, eq "nr_frames after remove"; query(DOMID_SELF, 1).1, 2);
    c.done(format_args!("frame 0 at {:#x}", GNT_GFN))
}
