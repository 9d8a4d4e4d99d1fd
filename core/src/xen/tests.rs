//! Host tests of the hypercall families against a fake vCPU: guest memory
//! is a byte array at a fixed guest-virtual window, hypervisor pages are
//! leaked heap pages. Expected values are Xen 4.20's.

use super::abi::*;
use super::errno::*;
use super::*;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

/// Guest-virtual window of the fake guest's memory.
const VA: u64 = 0x4000_0000;
const VA_SIZE: usize = 64 * 1024;

/// Every fake host page of every test: one address space, as the frame
/// allocator is one.
static WORDS: Mutex<BTreeMap<u64, &'static [AtomicU64; 512]>> = Mutex::new(BTreeMap::new());
static NEXT_PA: Mutex<u64> = Mutex::new(0x8000_0000);

struct FakePages {
    pages: &'static Mutex<BTreeMap<u64, &'static [AtomicU64; 512]>>,
    freed: Mutex<Vec<u64>>,
}

impl FakePages {
    fn leak() -> &'static FakePages {
        Box::leak(Box::new(FakePages {
            pages: &WORDS,
            freed: Mutex::new(Vec::new()),
        }))
    }
    fn new_page(&self) -> u64 {
        let mut n = NEXT_PA.lock();
        let pa = *n;
        *n += 4096;
        let words: &'static [AtomicU64; 512] =
            Box::leak(Box::new(core::array::from_fn(|_| AtomicU64::new(0))));
        self.pages.lock().insert(pa, words);
        pa
    }
}

impl XenPages for FakePages {
    fn get_ref(&self, pa: u64) -> bool {
        let ok = self.pages.lock().contains_key(&(pa & !0xfff));
        if ok {
            *REFS.lock().entry(pa).or_insert(0) += 1;
        }
        ok
    }
    fn put_ref(&self, pa: u64) {
        *REFS.lock().get_mut(&pa).expect("a reference was taken") -= 1;
    }
    fn copy(&self, src: u64, dst: u64, len: usize) {
        let byte = |pa: u64| {
            let w = self.pages.lock()[&(pa & !0xfff)];
            (w, ((pa & 0xfff) / 8) as usize, ((pa & 7) * 8) as u32)
        };
        for i in 0..len as u64 {
            let (sw, si, ss) = byte(src + i);
            let v = (sw[si].load(Ordering::Relaxed) >> ss) & 0xff;
            let (dw, di, ds) = byte(dst + i);
            let old = dw[di].load(Ordering::Relaxed);
            dw[di].store((old & !(0xff << ds)) | (v << ds), Ordering::Relaxed);
        }
    }
    fn alloc(&self) -> Option<u64> {
        Some(self.new_page())
    }
    fn free(&self, pa: u64) {
        self.freed.lock().push(pa);
    }
    fn words(&self, pa: u64) -> Option<&'static [AtomicU64; 512]> {
        self.pages.lock().get(&pa).copied()
    }
}

struct Fake {
    domid: u16,
    vcpu: usize,
    mem: Vec<u8>,
    /// gfn -> host page: the domain's RAM (gfns 0x40000.. = VA window).
    ram: BTreeMap<u64, u64>,
    mapped: BTreeMap<u64, u64>,
    kicks: Vec<usize>,
    console: Vec<Vec<u8>>,
    ballooned: Vec<u64>,
    rx: Vec<u8>,
}

impl Fake {
    fn new(pages: &'static FakePages) -> Fake {
        let mut ram = BTreeMap::new();
        for i in 0..(VA_SIZE as u64 / 4096) {
            ram.insert(VA / 4096 + i, pages.new_page());
        }
        Fake {
            domid: 1,
            vcpu: 0,
            mem: alloc::vec![0; VA_SIZE],
            mapped: ram.clone(),
            ram,
            kicks: Vec::new(),
            console: Vec::new(),
            ballooned: Vec::new(),
            rx: b"hi".to_vec(),
        }
    }
    fn range(&self, gva: u64, len: usize) -> Result<usize, i64> {
        let off = gva.checked_sub(VA).ok_or(-EFAULT)? as usize;
        if off.checked_add(len).is_none_or(|e| e > VA_SIZE) {
            return Err(-EFAULT);
        }
        Ok(off)
    }
    fn put(&mut self, gva: u64, data: &[u8]) {
        let o = self.range(gva, data.len()).unwrap();
        self.mem[o..o + data.len()].copy_from_slice(data);
    }
    fn get(&self, gva: u64, len: usize) -> Vec<u8> {
        let o = self.range(gva, len).unwrap();
        self.mem[o..o + len].to_vec()
    }
}

impl GuestAccess for Fake {
    fn domid(&self) -> u16 {
        self.domid
    }
    fn vcpu(&self) -> usize {
        self.vcpu
    }
    fn copy_from(&mut self, gva: u64, buf: &mut [u8]) -> Result<(), i64> {
        let o = self.range(gva, buf.len())?;
        buf.copy_from_slice(&self.mem[o..o + buf.len()]);
        Ok(())
    }
    fn copy_to(&mut self, gva: u64, data: &[u8]) -> Result<(), i64> {
        let o = self.range(gva, data.len())?;
        self.mem[o..o + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn gfn_to_page(&self, gfn: u64) -> Option<u64> {
        let pa = *self.mapped.get(&gfn)?;
        (self.ram.get(&gfn) == Some(&pa)).then_some(pa)
    }
    fn set_gfn(&mut self, gfn: u64, pa: Option<u64>) -> Result<Option<u64>, i64> {
        Ok(match pa {
            Some(pa) => self.mapped.insert(gfn, pa),
            None => self.mapped.remove(&gfn),
        })
    }
    fn map_foreign(&mut self, gfn: u64, pa: u64, _readonly: bool) -> Result<(), i64> {
        self.mapped.insert(gfn, pa);
        Ok(())
    }
    fn max_gpfn(&self) -> u64 {
        *self.ram.keys().last().unwrap()
    }
    fn console_write(&mut self, bytes: &[u8]) {
        self.console.push(bytes.to_vec());
    }
    fn console_read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.rx.len());
        for b in buf.iter_mut().take(n) {
            *b = self.rx.remove(0);
        }
        n
    }
    fn tot_pages(&self) -> u64 {
        self.ram.len() as u64 - self.ballooned.len() as u64
    }
    fn balloon_out(&mut self, gfn: u64) -> bool {
        if self.gfn_to_page(gfn).is_none() {
            return false;
        }
        self.mapped.remove(&gfn);
        self.ballooned.push(gfn);
        true
    }
    fn balloon_in(&mut self, gfn: u64) -> bool {
        if !self.ram.contains_key(&gfn)
            || self.mapped.contains_key(&gfn)
            || self.ballooned.is_empty()
        {
            return false;
        }
        self.ballooned.pop();
        let pa = self.ram[&gfn];
        self.mapped.insert(gfn, pa);
        true
    }
    fn balloon_claim(&mut self) -> bool {
        self.ballooned.pop().is_some()
    }
    fn kick_upcall(&mut self, vcpu: usize) {
        self.kicks.push(vcpu);
    }
    fn now_ns(&self) -> u64 {
        1_000
    }
}

/// Frame references taken by grant mappings, per host page.
static REFS: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

/// RAM of the fake domains of a test: (domid, gfn) -> host page.
static RAM: Mutex<BTreeMap<(u16, u64), u64>> = Mutex::new(BTreeMap::new());

fn resolve(domid: u16, gfn: u64) -> Option<u64> {
    RAM.lock().get(&(domid, gfn)).copied()
}

/// Upcalls raised in other domains: (domain, vCPU).
static RAISED: Mutex<Vec<(u16, usize)>> = Mutex::new(Vec::new());

fn raise(domid: u16, vcpu: usize) {
    RAISED.lock().push((domid, vcpu));
}

fn setup(vcpus: usize) -> (Fake, XenDomain) {
    setup_as(1, vcpus)
}

fn setup_as(domid: u16, vcpus: usize) -> (Fake, XenDomain) {
    let pages = FakePages::leak();
    let xen = XenDomain::new(domid, vcpus, 16, pages, raise, resolve).unwrap();
    let mut f = Fake::new(pages);
    f.domid = domid;
    for (&gfn, &pa) in &f.ram {
        RAM.lock().insert((domid, gfn), pa);
    }
    (f, xen)
}

fn call(f: &mut Fake, x: &XenDomain, nr: u64, args: &[u64]) -> (i64, Action) {
    let mut a = [0u64; 5];
    a[..args.len()].copy_from_slice(args);
    dispatch(f, Some(x), nr, a)
}

fn r(f: &mut Fake, x: &XenDomain, nr: u64, args: &[u64]) -> i64 {
    call(f, x, nr, args).0
}

const BUF: u64 = VA + 0x100;

#[test]
fn unknown_hypercalls_and_domains_without_the_abi_get_enosys() {
    let (mut f, x) = setup(1);
    for nr in [0, 1, 4, 6, 15, 27, 40, 63, 64, u64::MAX] {
        assert_eq!(r(&mut f, &x, nr, &[]), -ENOSYS, "hypercall {nr}");
    }
    assert_eq!(dispatch(&mut f, None, nr::XEN_VERSION, [0; 5]).0, -ENOSYS);
    // Every family is registered once.
    let mut nrs: Vec<u64> = HYPERCALLS.iter().map(|h| h.nr).collect();
    nrs.sort();
    nrs.dedup();
    assert_eq!(nrs.len(), HYPERCALLS.len());
}

#[test]
fn multicall_runs_each_entry_and_control_calls_refuse_a_domu() {
    let (mut f, x) = setup(1);
    let list = VA + 0x1000;
    let entry = |op: u64, args: &[u64]| {
        let mut e = [0x55u8; 64];
        e[0..8].copy_from_slice(&op.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            e[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        e
    };
    f.put(list, &entry(nr::XEN_VERSION, &[0, 0]));
    f.put(list + 64, &entry(99, &[]));
    f.put(list + 128, &entry(nr::MULTICALL, &[list, 1]));
    f.put(list + 192, &entry(nr::SCHED_OP, &[0, 0]));
    f.put(list + 256, &entry(nr::XEN_VERSION, &[0, 0]));
    assert_eq!(
        call(&mut f, &x, nr::MULTICALL, &[list, 5]),
        (0, Action::Yield)
    );
    let res = |f: &Fake, i: u64| le64(&f.get(list + 64 * i + 8, 8), 0) as i64;
    assert_eq!(
        (res(&f, 0), res(&f, 1), res(&f, 2), res(&f, 3)),
        (0x40014, -ENOSYS, -EINVAL, 0)
    );
    // The yield stopped the batch before entry 4.
    assert_eq!(res(&f, 4), 0x5555_5555_5555_5555);
    assert_eq!(r(&mut f, &x, nr::MULTICALL, &[list, 0]), 0);
    assert_eq!(r(&mut f, &x, nr::MULTICALL, &[0x10, 1]), -EFAULT);

    // platform_op, sysctl, domctl: version first, then XSM_PRIV.
    for (nr, ver) in [
        (nr::PLATFORM_OP, 0x0300_0001u32),
        (nr::SYSCTL, 0x15),
        (nr::DOMCTL, 0x17),
    ] {
        let mut b = [0u8; 144];
        b[4..8].copy_from_slice(&(ver + 1).to_le_bytes());
        f.put(BUF, &b);
        assert_eq!(r(&mut f, &x, nr, &[BUF]), -EACCES);
        b[4..8].copy_from_slice(&ver.to_le_bytes());
        f.put(BUF, &b);
        assert_eq!(r(&mut f, &x, nr, &[BUF]), -EPERM);
        assert_eq!(r(&mut f, &x, nr, &[0x10]), -EFAULT);
    }
    assert_eq!(r(&mut f, &x, nr::HYPFS_OP, &[0]), -EPERM);
}

#[test]
fn xen_version_answers_as_xen_4_20_does_for_a_domu() {
    let (mut f, x) = setup(1);
    let v = nr::XEN_VERSION;
    assert_eq!(r(&mut f, &x, v, &[0, 0]), 0x0004_0014);
    assert_eq!(r(&mut f, &x, v, &[1, BUF]), 0);
    assert_eq!(&f.get(BUF, 16)[..11], b".0-tessera\0");
    assert_eq!(r(&mut f, &x, v, &[3, BUF]), 0);
    assert_eq!(&f.get(BUF, 17), b"xen-3.0-aarch64 \0");
    // get_features: submap 0 only.
    f.put(BUF, &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(r(&mut f, &x, v, &[6, BUF]), 0);
    assert_eq!(le32(&f.get(BUF, 8), 4), 0x0005_6005);
    f.put(BUF, &[1, 0, 0, 0]);
    assert_eq!(r(&mut f, &x, v, &[6, BUF]), -EINVAL);
    assert_eq!(r(&mut f, &x, v, &[7, 0]), 4096);
    assert_eq!(r(&mut f, &x, v, &[7, BUF]), -EINVAL);
    assert_eq!(r(&mut f, &x, v, &[9, BUF]), 0);
    assert_eq!(&f.get(BUF, 9), b"<denied>\0");
    assert_eq!(r(&mut f, &x, v, &[10, BUF]), -EPERM);
    assert_eq!(r(&mut f, &x, v, &[14, BUF]), -EPERM);
    // Varbuf: NULL asks the size; too small a buffer is -ENOBUFS.
    assert_eq!(r(&mut f, &x, v, &[11, 0]), 10);
    f.put(BUF, &4u32.to_le_bytes());
    assert_eq!(r(&mut f, &x, v, &[11, BUF]), -ENOBUFS);
    f.put(BUF, &64u32.to_le_bytes());
    assert_eq!(r(&mut f, &x, v, &[11, BUF]), 10);
    assert_eq!(&f.get(BUF + 4, 10), b".0-tessera");
    assert_eq!(r(&mut f, &x, v, &[15, BUF]), -ENOSYS);
    assert_eq!(r(&mut f, &x, v, &[0xffff_ffff, BUF]), -ENOSYS);
    // Bad and page-crossing buffers.
    assert_eq!(r(&mut f, &x, v, &[1, 0x1000]), -EFAULT);
    assert_eq!(r(&mut f, &x, v, &[3, VA + VA_SIZE as u64 - 512]), -EFAULT);
    assert_eq!(r(&mut f, &x, v, &[1, VA + 0xff8]), 0);
}

#[test]
fn console_io_writes_lines_and_reads_input() {
    let (mut f, x) = setup(1);
    f.put(BUF, b"hello\x07 world\nsecond");
    assert_eq!(r(&mut f, &x, nr::CONSOLE_IO, &[0, 19, BUF]), 0);
    assert_eq!(f.console, [b"hello world".to_vec()]);
    assert_eq!(r(&mut f, &x, nr::CONSOLE_IO, &[0, 0, 0x1]), 0);
    assert_eq!(r(&mut f, &x, nr::CONSOLE_IO, &[0, 4, 0x1]), -EFAULT);
    assert_eq!(r(&mut f, &x, nr::CONSOLE_IO, &[1, 16, BUF]), 2);
    assert_eq!(&f.get(BUF, 2), b"hi");
    assert_eq!(
        r(&mut f, &x, nr::CONSOLE_IO, &[1, 0x8000_0000, BUF]),
        -E2BIG
    );
    assert_eq!(r(&mut f, &x, nr::CONSOLE_IO, &[2, 1, BUF]), -ENOSYS);
}

#[test]
fn sched_op_yields_blocks_shuts_down_and_checks_poll() {
    let (mut f, x) = setup(1);
    assert_eq!(call(&mut f, &x, nr::SCHED_OP, &[0, 0]), (0, Action::Yield));
    assert_eq!(
        call(&mut f, &x, nr::SCHED_OP, &[1, 0]),
        (0, Action::Block { deadline: None })
    );
    f.put(BUF, &7u32.to_le_bytes());
    assert_eq!(call(&mut f, &x, nr::SCHED_OP, &[5, BUF]).0, 0);
    f.put(BUF, &0u32.to_le_bytes());
    // The first code recorded wins.
    assert_eq!(
        call(&mut f, &x, nr::SCHED_OP, &[2, BUF]),
        (0, Action::Shutdown(7))
    );
    assert_eq!(x.shutdown_code(), Some(7));
    assert_eq!(r(&mut f, &x, nr::SCHED_OP, &[2, 0x10]), -EFAULT);
    // poll: too many ports, a port that is not in use.
    let mut p = [0u8; 24];
    p[0..8].copy_from_slice(&(BUF + 64).to_le_bytes());
    p[8..12].copy_from_slice(&129u32.to_le_bytes());
    f.put(BUF, &p);
    assert_eq!(r(&mut f, &x, nr::SCHED_OP, &[3, BUF]), -EINVAL);
    p[8..12].copy_from_slice(&1u32.to_le_bytes());
    f.put(BUF, &p);
    f.put(BUF + 64, &5u32.to_le_bytes());
    assert_eq!(r(&mut f, &x, nr::SCHED_OP, &[3, BUF]), -EINVAL);
    f.put(BUF, &[0xaa, 0xbb, 0, 0, 0, 0, 0, 0]);
    assert_eq!(r(&mut f, &x, nr::SCHED_OP, &[4, BUF]), -ESRCH);
    assert_eq!(r(&mut f, &x, nr::SCHED_OP, &[8, BUF]), -ENOSYS);
    // watchdog: two timers, 1-based ids.
    let wd = |f: &mut Fake, id: u32, t: u32| {
        f.put(BUF, &words(&[id, t]));
        r(f, &x, nr::SCHED_OP, &[6, BUF])
    };
    assert_eq!(x.watchdog_next(), None);
    assert_eq!(wd(&mut f, 0, 10), 1);
    assert_eq!(wd(&mut f, 0, 20), 2);
    assert_eq!(wd(&mut f, 0, 30), -ENOSPC);
    assert_eq!(x.watchdog_next(), Some(10_000_001_000));
    assert!(!x.watchdog_expired(10_000_000_999) && x.watchdog_expired(10_000_001_000));
    assert_eq!(wd(&mut f, 1, 0), 0);
    assert_eq!(wd(&mut f, 1, 0), -EINVAL);
    assert_eq!(wd(&mut f, 3, 5), -EINVAL);
    assert_eq!(wd(&mut f, 2, 5), 0);
    assert_eq!(x.watchdog_next(), Some(5_000_001_000));
}

#[test]
fn shared_info_and_grant_frames_map_once_each() {
    let (mut f, x) = setup(1);
    let m = nr::MEMORY_OP;
    let atp = |dom: u16, space: u32, idx: u64, gpfn: u64| {
        let mut b = [0u8; 24];
        b[0..2].copy_from_slice(&dom.to_le_bytes());
        b[4..8].copy_from_slice(&space.to_le_bytes());
        b[8..16].copy_from_slice(&idx.to_le_bytes());
        b[16..24].copy_from_slice(&gpfn.to_le_bytes());
        b
    };
    let shared_gfn = VA / 4096 + 3;
    f.put(BUF, &atp(DOMID_SELF, 0, 0, shared_gfn));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), 0);
    assert_eq!(f.mapped[&shared_gfn], x.shared_info_page());
    // The same page cannot be mapped twice.
    f.put(BUF, &atp(DOMID_SELF, 0, 0, shared_gfn + 1));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -EBUSY);
    f.put(BUF, &atp(DOMID_SELF, 0, 1, shared_gfn + 1));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -EINVAL);
    // Grant frames grow the table up to 64.
    f.put(BUF, &atp(1, 1, 0, 0x38000));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), 0);
    f.put(BUF, &atp(1, 1, 63, 0x38000 + 63));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), 0);
    f.put(BUF, &atp(1, 1, 64, 0x38000 + 64));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -EINVAL);
    f.put(BUF, &atp(1, 1, 1 << 31, 0x38100));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -EINVAL);
    // Spaces Arm refuses, other domains, the invalid gfn.
    f.put(BUF, &atp(DOMID_SELF, 2, 0, 0x38200));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -ENOSYS);
    f.put(BUF, &atp(DOMID_SELF, 5, 0, 0x38200));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -EACCES);
    f.put(BUF, &atp(0x1234, 0, 0, 0x38200));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -ESRCH);
    f.put(BUF, &atp(DOMID_SELF, 0, 0, u64::MAX));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), -EINVAL);
    // remove_from_physmap: shared_info may then move.
    let mut rm = [0u8; 16];
    rm[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    rm[8..16].copy_from_slice(&shared_gfn.to_le_bytes());
    f.put(BUF, &rm);
    assert_eq!(r(&mut f, &x, m, &[15, BUF]), 0);
    assert_eq!(r(&mut f, &x, m, &[15, BUF]), -ENOENT);
    f.put(BUF, &atp(DOMID_SELF, 0, 0, shared_gfn + 1));
    assert_eq!(r(&mut f, &x, m, &[7, BUF]), 0);
    // Reservations: the RAM page shared_info covered still counts, as in
    // Xen (it is freed with the domain).
    f.put(BUF, &DOMID_SELF.to_le_bytes());
    assert_eq!(r(&mut f, &x, m, &[3, BUF]), 16);
    assert_eq!(r(&mut f, &x, m, &[4, BUF]), 16);
    f.put(BUF, &9u16.to_le_bytes());
    assert_eq!(r(&mut f, &x, m, &[3, BUF]), -ESRCH);
    assert_eq!(r(&mut f, &x, m, &[5, BUF]), -ENOSYS);
    assert_eq!(r(&mut f, &x, m, &[26, BUF]), -ESRCH);
    assert_eq!(r(&mut f, &x, m, &[3 | (1 << 6), BUF]), -EINVAL);
    f.put(BUF, &[0xf0, 0x7f, 0, 0]);
    assert_eq!(r(&mut f, &x, m, &[26, BUF]), -EOPNOTSUPP);
    f.put(BUF, &[0xf0, 0x7f, 1, 0]);
    assert_eq!(r(&mut f, &x, m, &[26, BUF]), -EINVAL);
}

#[test]
fn the_balloon_gives_pages_back_and_takes_them_again() {
    let (mut f, x) = setup(1);
    let list = VA + 0x800;
    let resv = |n: u64, order: u32, dom: u16| {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&list.to_le_bytes());
        b[8..16].copy_from_slice(&n.to_le_bytes());
        b[16..20].copy_from_slice(&order.to_le_bytes());
        b[24..26].copy_from_slice(&dom.to_le_bytes());
        b
    };
    let g0 = VA / 4096 + 10;
    for (i, g) in [g0, g0 + 1, 0x99999].iter().enumerate() {
        f.put(list + 8 * i as u64, &g.to_le_bytes());
    }
    f.put(BUF, &resv(3, 0, DOMID_SELF));
    // Two pages out; the third gfn is not RAM: the count stops there.
    assert_eq!(r(&mut f, &x, nr::MEMORY_OP, &[1, BUF]), 2);
    assert_eq!(f.tot_pages(), 14);
    // Another domain, or a larger order: nothing done.
    f.put(BUF, &resv(1, 0, 7));
    assert_eq!(r(&mut f, &x, nr::MEMORY_OP, &[1, BUF]), 0);
    f.put(BUF, &resv(1, 9, DOMID_SELF));
    assert_eq!(r(&mut f, &x, nr::MEMORY_OP, &[1, BUF]), 0);
    // populate_physmap puts them back, up to the maximum.
    f.put(BUF, &resv(3, 0, DOMID_SELF));
    assert_eq!(r(&mut f, &x, nr::MEMORY_OP, &[6, BUF]), 2);
    assert_eq!(f.tot_pages(), 16);
    // A start extent beyond the list, a bad pointer: the start comes back.
    assert_eq!(r(&mut f, &x, nr::MEMORY_OP, &[1 | (5 << 6), BUF]), 5);
    assert_eq!(r(&mut f, &x, nr::MEMORY_OP, &[1, 0x10]), 0);
}

fn evop(f: &mut Fake, x: &XenDomain, cmd: u64, arg: &[u8]) -> (i64, Vec<u8>) {
    f.put(BUF, arg);
    let rc = r(f, x, nr::EVENT_CHANNEL_OP, &[cmd, BUF]);
    (rc, f.get(BUF, arg.len()))
}

fn words(a: &[u32]) -> Vec<u8> {
    a.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn status(f: &mut Fake, x: &XenDomain, port: u32) -> (i64, u32, u32, u32) {
    let mut b = [0u8; 24];
    b[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    b[4..8].copy_from_slice(&port.to_le_bytes());
    let (rc, out) = evop(f, x, 5, &b);
    (rc, le32(&out, 8), le32(&out, 12), le32(&out, 16))
}

#[test]
fn event_channels_bind_send_mask_and_close_as_2_level() {
    let (mut f, x) = setup(2);
    // VIRQ_TIMER is per vCPU; VIRQ_CONSOLE (2) is global: vCPU 0 only.
    let (rc, out) = evop(&mut f, &x, 1, &words(&[0, 1, 0]));
    assert_eq!((rc, le32(&out, 8)), (0, 1));
    assert_eq!(evop(&mut f, &x, 1, &words(&[0, 1, 0])).0, -EEXIST);
    assert_eq!(evop(&mut f, &x, 1, &words(&[2, 1, 0])).0, -EINVAL);
    assert_eq!(evop(&mut f, &x, 1, &words(&[24, 0, 0])).0, -EINVAL);
    assert_eq!(evop(&mut f, &x, 1, &words(&[0, 5, 0])).0, -ENOENT);
    assert_eq!(status(&mut f, &x, 1), (0, 4, 1, 0));
    // Never used ports of the first bucket are closed; beyond: invalid.
    assert_eq!(status(&mut f, &x, 5), (0, 0, 0, 0));
    assert_eq!(status(&mut f, &x, 64).0, -EINVAL);
    assert_eq!(status(&mut f, &x, 0), (0, 0, 0, 0));
    // An IPI to vCPU 0: pending bit, selector, upcall, and a kick.
    let (rc, out) = evop(&mut f, &x, 7, &words(&[0, 0]));
    assert_eq!((rc, le32(&out, 4)), (0, 2));
    assert_eq!(evop(&mut f, &x, 4, &words(&[2])).0, 0);
    let pending = x.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed);
    assert_eq!(pending, 1 << 2);
    assert!(x.upcall_pending(0));
    assert_eq!(f.kicks, [0]);
    // Masked: pending but no upcall until unmasked.
    let (_, out) = evop(&mut f, &x, 7, &words(&[0, 0]));
    let p3 = le32(&out, 4);
    x.evtchn_word(true, 0)
        .unwrap()
        .fetch_or(1 << p3, Ordering::Relaxed);
    let w0 = x.pages.words(x.shared_info_page()).unwrap();
    w0[0].store(0, Ordering::Relaxed); // the guest took the upcall
    w0[1].store(0, Ordering::Relaxed);
    assert_eq!(evop(&mut f, &x, 4, &words(&[p3])).0, 0);
    assert!(!x.upcall_pending(0));
    assert_eq!(evop(&mut f, &x, 9, &words(&[p3])).0, 0);
    assert!(x.upcall_pending(0));
    assert_eq!(f.kicks, [0, 0]);
    // alloc_unbound to itself: send is dropped; status says unbound.
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    b[2..4].copy_from_slice(&DOMID_SELF.to_le_bytes());
    let (rc, out) = evop(&mut f, &x, 6, &b);
    let pu = le32(&out, 4);
    assert_eq!(rc, 0);
    assert_eq!(evop(&mut f, &x, 4, &words(&[pu])).0, 0);
    assert_eq!(status(&mut f, &x, pu), (0, 1, 0, 1));
    b[0..2].copy_from_slice(&9u16.to_le_bytes());
    assert_eq!(evop(&mut f, &x, 6, &b).0, -ESRCH);
    // bind_vcpu: unbound ports move; IPIs do not.
    assert_eq!(evop(&mut f, &x, 8, &words(&[pu, 1])).0, 0);
    assert_eq!(status(&mut f, &x, pu).2, 1);
    assert_eq!(evop(&mut f, &x, 8, &words(&[2, 1])).0, -EINVAL);
    assert_eq!(evop(&mut f, &x, 8, &words(&[pu, 2])).0, -ENOENT);
    // Sending on a VIRQ or a closed port is -EINVAL.
    assert_eq!(evop(&mut f, &x, 4, &words(&[1])).0, -EINVAL);
    assert_eq!(evop(&mut f, &x, 4, &words(&[40])).0, -EINVAL);
    // close: the port is closed, its pending bit cleared; twice: -EINVAL.
    assert_eq!(evop(&mut f, &x, 3, &words(&[2])).0, 0);
    assert_eq!(status(&mut f, &x, 2).1, 0);
    assert_eq!(
        x.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed) & (1 << 2),
        0
    );
    assert_eq!(evop(&mut f, &x, 3, &words(&[2])).0, -EINVAL);
    assert_eq!(evop(&mut f, &x, 3, &words(&[0])).0, -EINVAL);
    // Loopback interdomain: both ends bound, the new end raised at once;
    // sending on one end raises the other; closing one leaves the other
    // unbound again.
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    b[2..4].copy_from_slice(&DOMID_SELF.to_le_bytes());
    let (_, out) = evop(&mut f, &x, 6, &b);
    let pa = le32(&out, 4);
    let mut bi = [0u8; 12];
    bi[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    bi[4..8].copy_from_slice(&pa.to_le_bytes());
    let (rc, out) = evop(&mut f, &x, 0, &bi);
    let pb = le32(&out, 8);
    assert_eq!(rc, 0);
    assert_eq!(status(&mut f, &x, pa).1, 2);
    let pend = |x: &XenDomain, p: u32| {
        x.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed) & (1 << p) != 0
    };
    assert!(pend(&x, pb) && !pend(&x, pa));
    assert_eq!(evop(&mut f, &x, 4, &words(&[pb])).0, 0);
    assert!(pend(&x, pa));
    assert_eq!(evop(&mut f, &x, 0, &bi).0, -EINVAL, "already bound");
    assert_eq!(evop(&mut f, &x, 3, &words(&[pb])).0, 0);
    assert_eq!(status(&mut f, &x, pa), (0, 1, 0, 1));
    bi[0..2].copy_from_slice(&9u16.to_le_bytes());
    assert_eq!(evop(&mut f, &x, 0, &bi).0, -ESRCH);
    // reset closes everything but port 0.
    let mut rs = [0u8; 2];
    rs.copy_from_slice(&DOMID_SELF.to_le_bytes());
    assert_eq!(evop(&mut f, &x, 10, &rs).0, 0);
    assert_eq!(status(&mut f, &x, 1).1, 0);
    assert_eq!(evop(&mut f, &x, 12, &[0u8; 8]).0, -EOPNOTSUPP);
    // init_control with gfn 0 (not RAM) fails and leaves 2-level.
    assert_eq!(evop(&mut f, &x, 11, &[0u8; 24]).0, -EINVAL);
    assert_eq!(evop(&mut f, &x, 12, &[0u8; 8]).0, -EOPNOTSUPP);
    assert_eq!(evop(&mut f, &x, 2, &[0u8; 12]).0, -EOPNOTSUPP);
    assert_eq!(evop(&mut f, &x, 99, &[0u8; 4]).0, -ENOSYS);
    assert_eq!(r(&mut f, &x, nr::EVENT_CHANNEL_OP, &[3, 0x8]), -EFAULT);
}

#[test]
fn ports_run_out_at_1023() {
    let (mut f, x) = setup(1);
    let mut last = 0;
    loop {
        let (rc, out) = evop(&mut f, &x, 7, &words(&[0, 0]));
        if rc != 0 {
            assert_eq!(rc, -ENOSPC);
            break;
        }
        last = le32(&out, 4);
    }
    assert_eq!(last, 1023);
    assert_eq!(status(&mut f, &x, 1024).0, -EINVAL);
}

#[test]
fn vcpu_info_and_runstate_registration() {
    let (mut f, x) = setup(2);
    let vo = nr::VCPU_OP;
    let reg = |gfn: u64, off: u32| {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&gfn.to_le_bytes());
        b[8..12].copy_from_slice(&off.to_le_bytes());
        b
    };
    let gfn = VA / 4096 + 5;
    f.put(BUF, &reg(gfn, 4096 - 40));
    assert_eq!(r(&mut f, &x, vo, &[10, 1, BUF]), -ENXIO);
    f.put(BUF, &reg(gfn, 4));
    assert_eq!(r(&mut f, &x, vo, &[10, 1, BUF]), -ENXIO);
    f.put(BUF, &reg(gfn, 4096));
    assert_eq!(r(&mut f, &x, vo, &[10, 1, BUF]), -EINVAL);
    f.put(BUF, &reg(0x5, 0));
    assert_eq!(r(&mut f, &x, vo, &[10, 1, BUF]), -EINVAL);
    f.put(BUF, &reg(gfn, 64));
    assert_eq!(r(&mut f, &x, vo, &[10, 1, BUF]), 0);
    // Xen marks every selector and raises an upcall right away.
    let w = x.pages.words(f.ram[&gfn]).unwrap();
    assert_eq!(w[8].load(Ordering::Relaxed) & 0xff, 1);
    assert_eq!(w[9].load(Ordering::Relaxed), u64::MAX);
    assert_eq!(f.kicks, [1]);
    assert!(x.upcall_pending(1));
    assert_eq!(r(&mut f, &x, vo, &[10, 1, BUF]), -EBUSY);
    assert_eq!(r(&mut f, &x, vo, &[10, 2, BUF]), -ENOENT);
    for cmd in [0, 1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 15] {
        assert_eq!(r(&mut f, &x, vo, &[cmd, 0, BUF]), -EINVAL, "vcpu_op {cmd}");
    }
    // The runstate area is written at once and on each change.
    let area = VA + 0x2000;
    f.put(BUF, &area.to_le_bytes());
    assert_eq!(r(&mut f, &x, vo, &[5, 0, BUF]), 0);
    assert_eq!(le32(&f.get(area, 48), 0), Runstate::Running as u32);
    let (gva, bytes) = x.runstate_change(0, Runstate::Blocked, 5_000).unwrap();
    assert_eq!(gva, area);
    assert_eq!(
        (le32(&bytes, 0), le64(&bytes, 8), le64(&bytes, 16)),
        (2, 5_000, 5_000)
    );
    assert_eq!(r(&mut f, &x, vo, &[5, 0, 0x10]), -EFAULT);
}

#[test]
fn grant_table_vm_assist_hvm_and_physdev() {
    let (mut f, x) = setup(1);
    let g = nr::GRANT_TABLE_OP;
    let mut q = [0u8; 16];
    q[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    f.put(BUF, &q);
    assert_eq!(r(&mut f, &x, g, &[6, BUF, 1]), 0);
    let out = f.get(BUF, 16);
    assert_eq!((le32(&out, 4), le32(&out, 8), le16(&out, 12)), (1, 64, 0));
    assert_eq!(r(&mut f, &x, g, &[6, BUF, 2]), -EINVAL);
    q[0..2].copy_from_slice(&9u16.to_le_bytes());
    f.put(BUF, &q);
    assert_eq!(r(&mut f, &x, g, &[6, BUF, 1]), 0);
    assert_eq!(le16(&f.get(BUF, 16), 12) as i16, -2);
    f.put(BUF, &2u32.to_le_bytes());
    assert_eq!(r(&mut f, &x, g, &[8, BUF, 1]), -ENOSYS);
    assert_eq!(le32(&f.get(BUF, 4), 0), 1);
    f.put(BUF, &1u32.to_le_bytes());
    assert_eq!(r(&mut f, &x, g, &[8, BUF, 1]), 0);
    assert_eq!(r(&mut f, &x, g, &[99, BUF, 1]), -ENOSYS);
    assert_eq!(r(&mut f, &x, g, &[6, BUF, u64::from(u32::MAX)]), -EINVAL);
    assert_eq!(r(&mut f, &x, g, &[6 | (1 << 12), BUF, 1]), -EINVAL);

    assert_eq!(r(&mut f, &x, nr::VM_ASSIST, &[0, 5]), 0);
    assert_eq!(r(&mut f, &x, nr::VM_ASSIST, &[1, 5]), 0);
    assert_eq!(r(&mut f, &x, nr::VM_ASSIST, &[0, 2]), -EINVAL);
    assert_eq!(r(&mut f, &x, nr::VM_ASSIST, &[0, 64]), -EINVAL);
    assert_eq!(r(&mut f, &x, nr::VM_ASSIST, &[2, 5]), -ENOSYS);

    let param = |dom: u16, index: u32| {
        let mut b = [0xeeu8; 16];
        b[0..2].copy_from_slice(&dom.to_le_bytes());
        b[4..8].copy_from_slice(&index.to_le_bytes());
        b
    };
    for index in [0, 1, 2, 17, 18] {
        f.put(BUF, &param(DOMID_SELF, index));
        assert_eq!(r(&mut f, &x, nr::HVM_OP, &[1, BUF]), 0);
        assert_eq!(le64(&f.get(BUF, 16), 8), 0, "param {index}");
        assert_eq!(r(&mut f, &x, nr::HVM_OP, &[0, BUF]), -EPERM);
    }
    f.put(BUF, &param(DOMID_SELF, 28));
    assert_eq!(r(&mut f, &x, nr::HVM_OP, &[1, BUF]), -EPERM);
    f.put(BUF, &param(DOMID_SELF, 39));
    assert_eq!(r(&mut f, &x, nr::HVM_OP, &[1, BUF]), -EINVAL);
    f.put(BUF, &param(9, 1));
    assert_eq!(r(&mut f, &x, nr::HVM_OP, &[1, BUF]), -ESRCH);
    assert_eq!(r(&mut f, &x, nr::HVM_OP, &[5, BUF]), -ENOSYS);
    assert_eq!(r(&mut f, &x, nr::PHYSDEV_OP, &[0, BUF]), -ENOSYS);
}

#[test]
fn dropping_the_state_gives_its_pages_back() {
    let pages = FakePages::leak();
    let x = XenDomain::new(1, 1, 16, pages, raise, resolve).unwrap();
    let mut f = Fake::new(pages);
    let shared = x.shared_info_page();
    let mut b = [0u8; 24];
    b[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    b[8..16].copy_from_slice(&2u64.to_le_bytes());
    b[16..24].copy_from_slice(&0x38002u64.to_le_bytes());
    f.put(BUF, &b);
    assert_eq!(r(&mut f, &x, nr::MEMORY_OP, &[7, BUF]), 0);
    drop(x);
    let freed = pages.freed.lock();
    assert!(freed.contains(&shared));
    assert_eq!(freed.len(), 4, "shared_info and grant frames 0, 1, 2");
}

#[test]
fn interdomain_channels_connect_two_domains_and_survive_one_ending() {
    // Domain ids only this test uses: the registry is global.
    let (mut fa, xa) = setup_as(201, 1);
    let (mut fb, xb) = setup_as(202, 1);
    let (xa, xb) = (alloc::sync::Arc::new(xa), alloc::sync::Arc::new(xb));
    register(xa.clone());
    register(xb.clone());
    // b waits for a on an unbound port.
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    b[2..4].copy_from_slice(&201u16.to_le_bytes());
    let (rc, out) = evop(&mut fb, &xb, 6, &b);
    let pb = le32(&out, 4);
    assert_eq!(rc, 0);
    // a binds to it: both ends interdomain, a's end raised at once.
    let mut bi = [0u8; 12];
    bi[0..2].copy_from_slice(&202u16.to_le_bytes());
    bi[4..8].copy_from_slice(&pb.to_le_bytes());
    let (rc, out) = evop(&mut fa, &xa, 0, &bi);
    let pa = le32(&out, 8);
    assert_eq!(rc, 0);
    assert_eq!(status(&mut fa, &xa, pa), (0, 2, 0, 202));
    assert_eq!(status(&mut fb, &xb, pb), (0, 2, 0, 201));
    assert!(xa.upcall_pending(0));
    // A second bind to the same port, a port not waiting for us, a
    // domain that does not exist.
    assert_eq!(evop(&mut fa, &xa, 0, &bi).0, -EINVAL);
    bi[4..8].copy_from_slice(&60u32.to_le_bytes());
    assert_eq!(evop(&mut fa, &xa, 0, &bi).0, -EINVAL);
    bi[0..2].copy_from_slice(&299u16.to_le_bytes());
    assert_eq!(evop(&mut fa, &xa, 0, &bi).0, -ESRCH);
    // a sends: b's port is pending and b's vCPU 0 is raised.
    RAISED.lock().retain(|r| r.0 != 202);
    assert_eq!(evop(&mut fa, &xa, 4, &words(&[pa])).0, 0);
    let pend = xb.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed);
    assert_ne!(pend & (1 << pb), 0);
    assert!(RAISED.lock().contains(&(202, 0)));
    // b sends back.
    let before = xa.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed);
    xa.evtchn_word(false, 0)
        .unwrap()
        .store(before & !(1 << pa), Ordering::Relaxed);
    assert_eq!(evop(&mut fb, &xb, 4, &words(&[pb])).0, 0);
    assert_ne!(
        xa.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed) & (1 << pa),
        0
    );
    // b closes its end: a's end waits for b again.
    assert_eq!(evop(&mut fb, &xb, 3, &words(&[pb])).0, 0);
    assert_eq!(status(&mut fa, &xa, pa), (0, 1, 0, 202));
    // Rebind, then b ends: a's end is unbound again and sends are dropped.
    let mut b2 = [0u8; 8];
    b2[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    b2[2..4].copy_from_slice(&201u16.to_le_bytes());
    let (_, out) = evop(&mut fb, &xb, 6, &b2);
    let pb2 = le32(&out, 4);
    let mut bi = [0u8; 12];
    bi[0..2].copy_from_slice(&202u16.to_le_bytes());
    bi[4..8].copy_from_slice(&pb2.to_le_bytes());
    let (rc, out) = evop(&mut fa, &xa, 0, &bi);
    let pa2 = le32(&out, 8);
    assert_eq!(rc, 0);
    unregister(202);
    assert_eq!(status(&mut fa, &xa, pa2), (0, 1, 0, 202));
    assert_eq!(evop(&mut fa, &xa, 4, &words(&[pa2])).0, 0);
    assert!(lookup(202).is_none());
    unregister(201);
}

#[test]
fn grants_map_unmap_and_copy_between_domains() {
    let (mut fa, xa) = setup_as(211, 1);
    let (mut fb, xb) = setup_as(212, 1);
    let (xa, xb) = (alloc::sync::Arc::new(xa), alloc::sync::Arc::new(xb));
    register(xa.clone());
    register(xb.clone());
    // a maps its grant frame 0 and grants b ref 5: its page at gfn g
    // (read-write) and ref 6 read-only.
    let mut atp = [0u8; 24];
    atp[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    atp[4..8].copy_from_slice(&1u32.to_le_bytes());
    atp[16..24].copy_from_slice(&0x38000u64.to_le_bytes());
    fa.put(BUF, &atp);
    assert_eq!(r(&mut fa, &xa, nr::MEMORY_OP, &[7, BUF]), 0);
    let frame = fa.mapped[&0x38000];
    let table = xa.pages.words(frame).unwrap();
    let g = VA / 4096 + 7;
    let page = fa.ram[&g];
    xa.pages.words(page).unwrap()[0].store(0x1122_3344_5566_7788, Ordering::Relaxed);
    let grant = |flags: u64, dom: u16, gfn: u64| flags | (u64::from(dom) << 16) | (gfn << 32);
    table[5].store(grant(1, 212, g), Ordering::Relaxed);
    table[6].store(grant(1 | 4, 212, g), Ordering::Relaxed);
    table[7].store(grant(1, 299, g), Ordering::Relaxed);

    let map = |f: &mut Fake, x: &XenDomain, host: u64, flags: u32, gref: u32, dom: u16| {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&host.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[12..16].copy_from_slice(&gref.to_le_bytes());
        b[16..18].copy_from_slice(&dom.to_le_bytes());
        f.put(BUF, &b);
        assert_eq!(r(f, x, nr::GRANT_TABLE_OP, &[0, BUF, 1]), 0);
        let out = f.get(BUF, 32);
        (le16(&out, 18) as i16, le32(&out, 20))
    };
    let unmap = |f: &mut Fake, x: &XenDomain, host: u64, handle: u32| {
        let mut b = [0u8; 24];
        b[0..8].copy_from_slice(&host.to_le_bytes());
        b[16..20].copy_from_slice(&handle.to_le_bytes());
        f.put(BUF, &b);
        assert_eq!(r(f, x, nr::GRANT_TABLE_OP, &[1, BUF, 1]), 0);
        le16(&f.get(BUF, 24), 20) as i16
    };
    let host = 0x7000_0000u64;
    // b maps ref 5 read-write: the page is pinned and referenced.
    let (st, h) = map(&mut fb, &xb, host, 2, 5, 211);
    assert_eq!(st, 0);
    assert_eq!(fb.mapped[&(host >> 12)], page);
    assert_eq!(REFS.lock()[&page], 1);
    assert_eq!(
        table[5].load(Ordering::Relaxed) & 0x18,
        0x18,
        "GTF_reading|GTF_writing"
    );
    assert_eq!(foreign_mappings(&xa), 1);
    // Refused: a read-only grant mapped for writing, a grant for another
    // domain, a ref beyond the table, an unknown domain, bad flags.
    assert_eq!(map(&mut fb, &xb, host + 0x1000, 2, 6, 211).0, -1);
    assert_eq!(map(&mut fb, &xb, host + 0x1000, 2 | 4, 6, 211).0, 0);
    assert_eq!(map(&mut fb, &xb, host + 0x2000, 2, 7, 211).0, -1);
    assert_eq!(map(&mut fb, &xb, host + 0x2000, 2, 512, 211).0, -3);
    assert_eq!(map(&mut fb, &xb, host + 0x2000, 2, 5, 299).0, -2);
    assert_eq!(map(&mut fb, &xb, host + 0x2000, 0, 5, 211).0, -3);
    assert_eq!(map(&mut fb, &xb, host + 0x2000, 2 | 16, 5, 211).0, -1);
    // Unmap: a wrong address, then right; twice is a bad handle; a's
    // handle space is its own.
    assert_eq!(unmap(&mut fa, &xa, host, h), -4);
    assert_eq!(unmap(&mut fb, &xb, host + 0x5000, h), -1);
    assert_eq!(unmap(&mut fb, &xb, host, h), 0);
    assert_eq!(unmap(&mut fb, &xb, host, h), -4);
    assert_eq!(REFS.lock()[&page], 1, "ref 6 maps the same page");
    assert_eq!(table[5].load(Ordering::Relaxed) & 0x18, 0);
    assert_eq!(foreign_mappings(&xa), 1, "the read-only one is left");
    // copy from a's ref 6 (read-only is enough) into b's own page.
    let dst_gfn = VA / 4096 + 9;
    let mut cp = [0u8; 40];
    cp[0..8].copy_from_slice(&6u64.to_le_bytes());
    cp[8..10].copy_from_slice(&211u16.to_le_bytes());
    cp[16..24].copy_from_slice(&dst_gfn.to_le_bytes());
    cp[24..26].copy_from_slice(&DOMID_SELF.to_le_bytes());
    cp[26..28].copy_from_slice(&16u16.to_le_bytes());
    cp[32..34].copy_from_slice(&8u16.to_le_bytes());
    cp[34..36].copy_from_slice(&1u16.to_le_bytes());
    fb.put(BUF, &cp);
    assert_eq!(r(&mut fb, &xb, nr::GRANT_TABLE_OP, &[5, BUF, 1]), 0);
    assert_eq!(le16(&fb.get(BUF, 40), 36), 0);
    let dst = xb.pages.words(fb.ram[&dst_gfn]).unwrap();
    assert_eq!(dst[2].load(Ordering::Relaxed), 0x1122_3344_5566_7788);
    // Writing into a read-only grant, past the page end, into another
    // domain's gmfn: refused.
    cp[34..36].copy_from_slice(&2u16.to_le_bytes());
    cp[16..24].copy_from_slice(&6u64.to_le_bytes());
    cp[24..26].copy_from_slice(&211u16.to_le_bytes());
    cp[0..8].copy_from_slice(&dst_gfn.to_le_bytes());
    cp[8..10].copy_from_slice(&DOMID_SELF.to_le_bytes());
    fb.put(BUF, &cp);
    r(&mut fb, &xb, nr::GRANT_TABLE_OP, &[5, BUF, 1]);
    assert_eq!(le16(&fb.get(BUF, 40), 36) as i16, -1);
    // The grant is checked before the length: still -1 past the end.
    cp[32..34].copy_from_slice(&4090u16.to_le_bytes());
    fb.put(BUF, &cp);
    r(&mut fb, &xb, nr::GRANT_TABLE_OP, &[5, BUF, 1]);
    assert_eq!(le16(&fb.get(BUF, 40), 36) as i16, -1);
    // Between two frames of its own, past the page end: bad_copy_arg.
    cp[16..24].copy_from_slice(&(dst_gfn + 1).to_le_bytes());
    cp[24..26].copy_from_slice(&DOMID_SELF.to_le_bytes());
    cp[34..36].copy_from_slice(&0u16.to_le_bytes());
    fb.put(BUF, &cp);
    r(&mut fb, &xb, nr::GRANT_TABLE_OP, &[5, BUF, 1]);
    assert_eq!(le16(&fb.get(BUF, 40), 36) as i16, -10);
    // A gmfn with a numeric domid (even its own): only DOMID_SELF works.
    cp[32..34].copy_from_slice(&8u16.to_le_bytes());
    cp[24..26].copy_from_slice(&212u16.to_le_bytes());
    fb.put(BUF, &cp);
    r(&mut fb, &xb, nr::GRANT_TABLE_OP, &[5, BUF, 1]);
    assert_eq!(le16(&fb.get(BUF, 40), 36) as i16, -8);
    // Nothing to copy: done, whatever the domains.
    cp[32..34].copy_from_slice(&0u16.to_le_bytes());
    cp[24..26].copy_from_slice(&299u16.to_le_bytes());
    fb.put(BUF, &cp);
    r(&mut fb, &xb, nr::GRANT_TABLE_OP, &[5, BUF, 1]);
    assert_eq!(le16(&fb.get(BUF, 40), 36) as i16, 0);
    // b ends: its remaining mapping of a's page goes with it.
    unregister(212);
    assert_eq!(foreign_mappings(&xa), 0);
    assert_eq!(REFS.lock()[&page], 0);
    assert_eq!(table[6].load(Ordering::Relaxed) & 0x18, 0);
    assert_eq!(r(&mut fb, &xb, nr::GRANT_TABLE_OP, &[1, 0x10, 1]), -EFAULT);
    unregister(211);
}

#[test]
fn static_channels_are_bound_before_the_domains_run() {
    let (mut fa, xa) = setup_as(221, 1);
    let (_fb, xb) = setup_as(222, 1);
    let (xa, xb) = (alloc::sync::Arc::new(xa), alloc::sync::Arc::new(xb));
    register(xa.clone());
    register(xb.clone());
    assert_eq!(bind_static(221, 0xa, 222, 0xb), Ok(()));
    assert_eq!(status(&mut fa, &xa, 0xa), (0, 2, 0, 222));
    // The second end starts pending, as after Xen's bind_interdomain.
    let pend = |x: &XenDomain, p: u32| {
        x.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed) & (1 << p) != 0
    };
    assert!(pend(&xb, 0xb) && !pend(&xa, 0xa));
    // Port 0xb of b now sits in its second-to-first bucket: valid.
    assert!(bind_static(221, 0xa, 222, 0xc).is_err(), "port in use");
    assert!(bind_static(221, 1024, 222, 0xc).is_err(), "out of range");
    assert!(bind_static(221, 0xd, 229, 0xc).is_err(), "no such domain");
    assert_eq!(bind_static(221, 100, 221, 101), Ok(()));
    assert_eq!(status(&mut fa, &xa, 100), (0, 2, 0, 221));
    // b takes its first event; a's send raises it again.
    xb.evtchn_word(false, 0)
        .unwrap()
        .fetch_and(!(1 << 0xb), Ordering::Relaxed);
    let w = xb.pages.words(xb.shared_info_page()).unwrap();
    w[0].store(0, Ordering::Relaxed);
    w[1].store(0, Ordering::Relaxed);
    RAISED.lock().retain(|r| r.0 != 222);
    assert_eq!(evop(&mut fa, &xa, 4, &words(&[0xa])).0, 0);
    assert!(RAISED.lock().contains(&(222, 0)));
    unregister(221);
    unregister(222);
}

// ---- FIFO event channels (event_fifo.c) ----

/// Guest frames of the fake domain used by the FIFO tests.
const CTL_GFN: u64 = VA / 4096 + 8;
const ARR_GFN: u64 = VA / 4096 + 9;

fn init_control(f: &mut Fake, x: &XenDomain, gfn: u64, offset: u32, vcpu: u32) -> (i64, u8) {
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&gfn.to_le_bytes());
    b[8..12].copy_from_slice(&offset.to_le_bytes());
    b[12..16].copy_from_slice(&vcpu.to_le_bytes());
    let (rc, out) = evop(f, x, 11, &b);
    (rc, out[16])
}

fn expand(f: &mut Fake, x: &XenDomain, gfn: u64) -> i64 {
    evop(f, x, 12, &gfn.to_le_bytes()).0
}

fn set_prio(f: &mut Fake, x: &XenDomain, port: u32, prio: u32) -> i64 {
    evop(f, x, 13, &words(&[port, prio])).0
}

fn bind_ipi(f: &mut Fake, x: &XenDomain, vcpu: u32) -> u32 {
    let (rc, out) = evop(f, x, 7, &words(&[vcpu, 0]));
    assert_eq!(rc, 0);
    le32(&out, 4)
}

/// The guest's u32 at byte `off` of its frame `gfn`, as the guest sees it.
fn g32(f: &Fake, x: &XenDomain, gfn: u64, off: u64) -> u32 {
    let w = x.pages.words(f.ram[&gfn]).unwrap();
    (w[(off / 8) as usize].load(Ordering::Relaxed) >> ((off & 4) * 8)) as u32
}

/// The guest writes a u32 at byte `off` of its frame `gfn`.
fn s32(f: &Fake, x: &XenDomain, gfn: u64, off: u64, v: u32) {
    let w = &x.pages.words(f.ram[&gfn]).unwrap()[(off / 8) as usize];
    let sh = (off & 4) * 8;
    let old = w.load(Ordering::Relaxed);
    w.store(
        (old & !(0xffff_ffff << sh)) | (u64::from(v) << sh),
        Ordering::Relaxed,
    );
}

const P: u32 = 1 << 31;
const M: u32 = 1 << 30;
const L: u32 = 1 << 29;

fn ready(f: &Fake, x: &XenDomain) -> u32 {
    g32(f, x, CTL_GFN, 0)
}

fn head(f: &Fake, x: &XenDomain, q: u64) -> u32 {
    g32(f, x, CTL_GFN, 8 + 4 * q)
}

fn event(f: &Fake, x: &XenDomain, port: u32) -> u32 {
    g32(f, x, ARR_GFN, 4 * u64::from(port))
}

fn send(f: &mut Fake, x: &XenDomain, port: u32) {
    assert_eq!(evop(f, x, 4, &words(&[port])).0, 0);
}

/// Clears vCPU 0's `evtchn_upcall_pending` (the guest's upcall handler).
fn ack_upcall(x: &XenDomain) {
    // Its vcpu_info is the first slot of shared_info.
    x.pages.words(x.shared_info_page()).unwrap()[0].fetch_and(!0xff, Ordering::Relaxed);
}

#[test]
fn fifo_init_control_expand_array_and_set_priority_errors() {
    let (mut f, x) = setup(2);
    // Still 2-level.
    assert_eq!(expand(&mut f, &x, ARR_GFN), -EOPNOTSUPP);
    assert_eq!(set_prio(&mut f, &x, 1, 3), -ENOSYS);
    assert_eq!(set_prio(&mut f, &x, 64, 3), -EINVAL);
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 2), (-ENOENT, 0));
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 4032, 0), (-EINVAL, 0));
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 4, 0), (-EINVAL, 0));
    assert_eq!(init_control(&mut f, &x, 0x10, 0, 0), (-EINVAL, 0));
    // A failed first init_control leaves the domain 2-level.
    assert_eq!(expand(&mut f, &x, ARR_GFN), -EOPNOTSUPP);
    assert_eq!(set_prio(&mut f, &x, 1, 3), -ENOSYS);
    assert_eq!(
        r(&mut f, &x, nr::EVENT_CHANNEL_OP, &[11, 0x8]),
        -EFAULT,
        "bad pointer"
    );
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0), (0, 17));
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0), (-EINVAL, 0));
    // The last offset that fits, on the same page, for vCPU 1.
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 4096 - 72, 1), (0, 17));
    assert_eq!(expand(&mut f, &x, 0x10), -EINVAL);
    // 128 pages at most (the same frame may be given again, as in Xen).
    for i in 0..128 {
        assert_eq!(expand(&mut f, &x, ARR_GFN), 0, "page {i}");
    }
    assert_eq!(expand(&mut f, &x, ARR_GFN), -ENOSPC);
    let p = bind_ipi(&mut f, &x, 0);
    assert_eq!(set_prio(&mut f, &x, p, 16), -EINVAL);
    assert_eq!(set_prio(&mut f, &x, p, 15), 0);
    assert_eq!(set_prio(&mut f, &x, 0, 3), -EACCES, "reserved");
    assert_eq!(set_prio(&mut f, &x, p + 1, 3), -EACCES, "free");
    assert_eq!(set_prio(&mut f, &x, 64, 3), -EINVAL, "not valid");
}

#[test]
fn fifo_queues_link_head_to_tail_and_raise_the_upcall_once() {
    let (mut f, x) = setup(1);
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0).0, 0);
    assert_eq!(expand(&mut f, &x, ARR_GFN), 0);
    let (a, b) = (bind_ipi(&mut f, &x, 0), bind_ipi(&mut f, &x, 0));
    send(&mut f, &x, a);
    assert_eq!(event(&f, &x, a), P | L);
    assert_eq!(head(&f, &x, 7), a);
    assert_eq!(ready(&f, &x), 1 << 7);
    assert!(x.upcall_pending(0));
    assert_eq!(f.kicks, [0]);
    // The second port goes behind the first.
    send(&mut f, &x, b);
    assert_eq!(event(&f, &x, a), P | L | b);
    assert_eq!(event(&f, &x, b), P | L);
    assert_eq!(head(&f, &x, 7), a);
    assert_eq!(f.kicks, [0], "one upcall");
    assert_eq!(x.port_pending(b), Some(true));
    // Sending a linked port again changes nothing.
    send(&mut f, &x, a);
    assert_eq!(event(&f, &x, a), P | L | b);
    // The 2-level bits are not used.
    assert_eq!(x.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed), 0);
    // The guest consumes both (clears P, L and LINK) and the ready bit.
    s32(&f, &x, ARR_GFN, 4 * u64::from(a), 0);
    s32(&f, &x, ARR_GFN, 4 * u64::from(b), 0);
    s32(&f, &x, CTL_GFN, 0, 0);
    ack_upcall(&x);
    // The old tail is no longer linked: b starts the queue again.
    send(&mut f, &x, b);
    assert_eq!(head(&f, &x, 7), b);
    assert_eq!(event(&f, &x, b), P | L);
    assert_eq!(f.kicks, [0, 0]);
    // Another priority has its own queue and ready bit.
    assert_eq!(set_prio(&mut f, &x, a, 3), 0);
    send(&mut f, &x, a);
    assert_eq!(head(&f, &x, 3), a);
    assert_eq!(ready(&f, &x), 1 << 7 | 1 << 3);
    assert_eq!(f.kicks, [0, 0], "the upcall is still pending");
    // Closing clears P.
    assert_eq!(evop(&mut f, &x, 3, &words(&[a])).0, 0);
    assert_eq!(event(&f, &x, a) & P, 0);
}

#[test]
fn fifo_masked_ports_are_linked_only_when_unmasked() {
    let (mut f, x) = setup(1);
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0).0, 0);
    assert_eq!(expand(&mut f, &x, ARR_GFN), 0);
    let a = bind_ipi(&mut f, &x, 0);
    s32(&f, &x, ARR_GFN, 4 * u64::from(a), M);
    send(&mut f, &x, a);
    assert_eq!(event(&f, &x, a), P | M);
    assert_eq!((head(&f, &x, 7), ready(&f, &x)), (0, 0));
    assert!(f.kicks.is_empty() && !x.upcall_pending(0));
    assert_eq!(evop(&mut f, &x, 9, &words(&[a])).0, 0);
    assert_eq!(event(&f, &x, a), P | L);
    assert_eq!((head(&f, &x, 7), ready(&f, &x)), (a, 1 << 7));
    assert_eq!(f.kicks, [0]);
    // Unmasking a port that is not pending links nothing.
    let b = bind_ipi(&mut f, &x, 0);
    s32(&f, &x, ARR_GFN, 4 * u64::from(b), M);
    assert_eq!(evop(&mut f, &x, 9, &words(&[b])).0, 0);
    assert_eq!(event(&f, &x, b), 0);
    // Unmask of a free port does nothing in FIFO (evtchn_port_unmask).
    s32(&f, &x, ARR_GFN, 4 * 9, M);
    assert_eq!(evop(&mut f, &x, 9, &words(&[9])).0, 0);
    assert_eq!(event(&f, &x, 9), M);
}

#[test]
fn fifo_pending_ports_without_a_page_are_raised_when_it_comes() {
    let (mut f, x) = setup(1);
    // Pending in 2-level before the switch.
    let a = bind_ipi(&mut f, &x, 0);
    send(&mut f, &x, a);
    ack_upcall(&x);
    f.kicks.clear();
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0).0, 0);
    // Raised in FIFO with no event array yet: held back.
    let b = bind_ipi(&mut f, &x, 0);
    send(&mut f, &x, b);
    assert_eq!(x.port_pending(b), Some(false));
    assert!(f.kicks.is_empty());
    assert_eq!(ready(&f, &x), 0);
    assert_eq!(expand(&mut f, &x, ARR_GFN), 0);
    assert_eq!(head(&f, &x, 7), a);
    assert_eq!(event(&f, &x, a), P | L | b);
    assert_eq!(event(&f, &x, b), P | L);
    assert_eq!(ready(&f, &x), 1 << 7);
    assert_eq!(f.kicks, [0]);
}

#[test]
fn fifo_reset_goes_back_to_2_level() {
    let (mut f, x) = setup(1);
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0).0, 0);
    assert_eq!(expand(&mut f, &x, ARR_GFN), 0);
    let a = bind_ipi(&mut f, &x, 0);
    assert_eq!(set_prio(&mut f, &x, a, 2), 0);
    let mut rs = [0u8; 2];
    rs.copy_from_slice(&DOMID_SELF.to_le_bytes());
    assert_eq!(evop(&mut f, &x, 10, &rs).0, 0);
    assert_eq!(set_prio(&mut f, &x, 0, 3), -ENOSYS);
    assert_eq!(expand(&mut f, &x, ARR_GFN), -EOPNOTSUPP);
    // Events use shared_info again.
    let a = bind_ipi(&mut f, &x, 0);
    send(&mut f, &x, a);
    let pending = x.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed);
    assert_eq!(pending, 1 << a);
    assert_eq!(event(&f, &x, a) & P, 0);
    // And FIFO can be taken again, the same control block included; the
    // pending port waits for its page, at the default priority.
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0), (0, 17));
    s32(&f, &x, CTL_GFN, 8 + 4 * 7, 0);
    assert_eq!(expand(&mut f, &x, ARR_GFN), 0);
    assert_eq!(head(&f, &x, 7), a);
}

#[test]
fn fifo_guest_words_cannot_stall_the_hypervisor() {
    let (mut f, x) = setup(1);
    assert_eq!(init_control(&mut f, &x, CTL_GFN, 0, 0).0, 0);
    assert_eq!(expand(&mut f, &x, ARR_GFN), 0);
    let (a, b) = (bind_ipi(&mut f, &x, 0), bind_ipi(&mut f, &x, 0));
    send(&mut f, &x, a);
    // The guest leaves junk in the tail's LINK and sets BUSY itself.
    s32(
        &f,
        &x,
        ARR_GFN,
        4 * u64::from(a),
        P | L | (1 << 28) | 0x1ffff,
    );
    send(&mut f, &x, b);
    assert_eq!(event(&f, &x, a), P | L | b, "BUSY cleared, LINK set");
    // Garbage everywhere: control block and array words all ones.
    for off in (0..4096).step_by(4) {
        s32(&f, &x, ARR_GFN, off, u32::MAX);
        s32(&f, &x, CTL_GFN, off, u32::MAX);
    }
    for p in [a, b] {
        send(&mut f, &x, p);
        assert_eq!(evop(&mut f, &x, 9, &words(&[p])).0, 0);
    }
}

#[test]
fn fifo_events_from_another_domain_are_queued() {
    let (mut fa, xa) = setup_as(241, 1);
    let (mut fb, xb) = setup_as(242, 1);
    let (xa, xb) = (alloc::sync::Arc::new(xa), alloc::sync::Arc::new(xb));
    register(xa.clone());
    register(xb.clone());
    // b takes FIFO; a stays 2-level.
    assert_eq!(init_control(&mut fb, &xb, CTL_GFN, 0, 0).0, 0);
    assert_eq!(expand(&mut fb, &xb, ARR_GFN), 0);
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    b[2..4].copy_from_slice(&241u16.to_le_bytes());
    let (rc, out) = evop(&mut fb, &xb, 6, &b);
    assert_eq!(rc, 0);
    let pb = le32(&out, 4);
    assert_eq!(set_prio(&mut fb, &xb, pb, 1), 0);
    let mut bi = [0u8; 12];
    bi[0..2].copy_from_slice(&242u16.to_le_bytes());
    bi[4..8].copy_from_slice(&pb.to_le_bytes());
    let (rc, out) = evop(&mut fa, &xa, 0, &bi);
    assert_eq!(rc, 0);
    let pa = le32(&out, 8);
    RAISED.lock().retain(|r| r.0 != 242);
    send(&mut fa, &xa, pa);
    assert_eq!(event(&fb, &xb, pb), P | L);
    assert_eq!((head(&fb, &xb, 1), ready(&fb, &xb)), (pb, 1 << 1));
    assert!(RAISED.lock().contains(&(242, 0)));
    // a's own end is 2-level: pending in its shared_info (bind raised it).
    assert_ne!(
        xa.evtchn_word(false, 0).unwrap().load(Ordering::Relaxed) & (1 << pa),
        0
    );
    unregister(241);
    unregister(242);
}
