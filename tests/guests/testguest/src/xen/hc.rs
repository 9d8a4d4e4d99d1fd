//! The Xen hypercall primitive, the guest pages the checks hand to Xen, and
//! the small assertion helper every check uses.
//!
//! Calling convention (xen/include/public/arch-arm.h, "Hypercall calling
//! convention"; xen/arch/arm/traps.c do_trap_hypercall): `hvc #0xea1`,
//! number in x16, arguments in x0..x4, result in x0. Xen debug builds
//! overwrite x1..x4 and x16 with 0xdeadbeef after a call (traps.c
//! HYPERCALL_ARG*), so they are clobbered here; x5..x15 and x17 are too,
//! defensively (Xen leaves them alone: check `xen-regs`).
//!
//! Guest buffers are passed as guest virtual addresses; with the MMU off
//! VA = IPA = the address of a static. Xen reads and writes them through
//! its cacheable mapping while this guest's accesses are Device-nGnRnE, so
//! every buffer is cleaned and invalidated to the point of coherency
//! (`dc civac`) before and after each call: no stale line can hide the
//! arguments from Xen or the results from the guest.

use crate::exc::Fault;
use crate::out::{Buf, FaultText};
use crate::{probe, say};
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub const PAGE: u64 = 4096;

/// The guest pages, by index into `PAGES` (page-aligned, in BSS).
pub const P_ARG: usize = 0; // argument structs (first 1 KiB) and lists
pub const P_BUF: usize = 1; // two pages: buffers that straddle a page boundary
pub const P_SHINFO_A: usize = 3; // shared_info's first gfn (a hole afterwards)
pub const P_SHINFO_B: usize = 4; // shared_info's gfn for the rest of the run
pub const P_VCPU: usize = 5; // vcpu_info 0 @0, 1 @64; runstate 0 @512, 1 @576
pub const P_DEC: usize = 6; // decrease_reservation / populate_physmap victim
pub const P_FIFO_CTRL: usize = 7;
pub const P_FIFO_ARRAY: usize = 8;
const NPAGES: usize = 9;

#[repr(C, align(4096))]
struct Pages(UnsafeCell<[u8; NPAGES * PAGE as usize]>);

// SAFETY: only accessed through raw volatile accesses by the boot vCPU
// (and by Xen, which is the point).
unsafe impl Sync for Pages {}

static PAGES: Pages = Pages(UnsafeCell::new([0; NPAGES * PAGE as usize]));

pub fn page(i: usize) -> u64 {
    PAGES.0.get() as u64 + i as u64 * PAGE
}

pub fn gfn(i: usize) -> u64 {
    page(i) >> 12
}

pub fn arg() -> u64 {
    page(P_ARG)
}

/// Bytes of the argument page cleaned/invalidated around every call.
const ARG_LEN: u64 = 1024;

// Naturally aligned accesses to guest RAM (Device memory to this guest).
// SAFETY (all of them): callers pass addresses of guest RAM or pages the
// hypervisor mapped for us (PAGES, the grant-table frame, a grant
// mapping, mode=fuzz's scratch region and its own Image), aligned to the
// access size; an unmapped one faults into our vectors.
pub fn r8(a: u64) -> u8 {
    unsafe { core::ptr::read_volatile(a as usize as *const u8) }
}
pub fn r16(a: u64) -> u16 {
    unsafe { core::ptr::read_volatile(a as usize as *const u16) }
}
pub fn r32(a: u64) -> u32 {
    unsafe { core::ptr::read_volatile(a as usize as *const u32) }
}
pub fn r64(a: u64) -> u64 {
    unsafe { core::ptr::read_volatile(a as usize as *const u64) }
}
pub fn w8(a: u64, v: u8) {
    unsafe { core::ptr::write_volatile(a as usize as *mut u8, v) }
}
pub fn w16(a: u64, v: u16) {
    unsafe { core::ptr::write_volatile(a as usize as *mut u16, v) }
}
pub fn w32(a: u64, v: u32) {
    unsafe { core::ptr::write_volatile(a as usize as *mut u32, v) }
}
pub fn w64(a: u64, v: u64) {
    unsafe { core::ptr::write_volatile(a as usize as *mut u64, v) }
}

/// Fills `len` bytes at `a` (8-aligned, len a multiple of 8) with `byte`.
pub fn fill(a: u64, len: u64, byte: u8) {
    let v = u64::from_ne_bytes([byte; 8]);
    let mut o = 0;
    while o < len {
        w64(a + o, v);
        o += 8;
    }
}

/// Clears the first `len` bytes of the argument page.
pub fn clr(len: u64) {
    fill(arg(), len, 0);
}

/// Data cache line size for `dc civac` (0: maintenance disabled).
static LINE: AtomicU64 = AtomicU64::new(0);

/// Sets up cache maintenance: line size from CTR_EL0.DminLine, and one
/// trial `dc civac` (a hypervisor that refused it would turn maintenance
/// off here instead of failing every check).
pub fn init() {
    let mut ctr: u64 = 0;
    let line = match probe!("mrs {v}, ctr_el0"; v = inout(reg) ctr) {
        None => 4u64 << ((ctr >> 16) & 0xf),
        Some(_) => 16,
    };
    let a = arg();
    match probe!("dc civac, {a}", "dsb sy"; a = in(reg) a) {
        None => LINE.store(line, Relaxed),
        Some(f) => say!("info xen dc civac raised {}: no cache maintenance", FaultText(f)),
    }
}

/// Cleans and invalidates [a, a+len) to the point of coherency.
pub fn flush(a: u64, len: u64) {
    let line = LINE.load(Relaxed);
    if line == 0 || len == 0 {
        return;
    }
    let mut p = a & !(line - 1);
    while p < a + len {
        // SAFETY: cache maintenance by VA on guest RAM the caller owns;
        // no architectural effect on memory contents.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) p, options(nostack, preserves_flags)) };
        p += line;
    }
    crate::arch::dsb_sy();
}

pub type R = Result<i64, Fault>;

/// One hypercall; `Err` if it raised an exception in the guest instead.
fn raw(nr: u64, a0: u64, a1: u64, a2: u64) -> R {
    raw5(nr, [a0, a1, a2, 0, 0])
}

/// One hypercall with all five arguments (x0..x4), no cache maintenance.
pub fn raw5(nr: u64, a: [u64; 5]) -> R {
    let r0: u64;
    let f = probe!("hvc #0xea1";
        inout("x0") a[0] => r0, inout("x1") a[1] => _, inout("x2") a[2] => _,
        inout("x3") a[3] => _, inout("x4") a[4] => _, out("x5") _, out("x6") _,
        out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
        out("x12") _, out("x13") _, out("x14") _, out("x15") _,
        inout("x16") nr => _, out("x17") _);
    match f {
        Some(f) => Err(f),
        None => Ok(r0 as i64),
    }
}

/// Where the Image's text and read-only data end (link.ld `_rodata_end`):
/// what mode=fuzz checksums to notice writes into its own code.
pub fn rodata_end() -> u64 {
    let a: u64;
    // SAFETY: computes a PC-relative address; no memory access.
    unsafe {
        core::arch::asm!("adrp {0}, _rodata_end", "add {0}, {0}, :lo12:_rodata_end",
                         out(reg) a, options(nomem, nostack, preserves_flags))
    };
    a
}

/// A hypercall whose buffers are the argument page and `extra`.
pub fn hcx(nr: u64, a0: u64, a1: u64, a2: u64, extra: (u64, u64)) -> R {
    flush(arg(), ARG_LEN);
    flush(extra.0, extra.1);
    let r = raw(nr, a0, a1, a2);
    flush(arg(), ARG_LEN);
    flush(extra.0, extra.1);
    r
}

/// A hypercall whose only buffer (if any) is the argument page.
pub fn hc(nr: u64, a0: u64, a1: u64, a2: u64) -> R {
    hcx(nr, a0, a1, a2, (0, 0))
}

/// Hypercall numbers (xen/include/public/xen.h).
pub const MEMORY_OP: u64 = 12;
pub const MULTICALL: u64 = 13;
pub const XEN_VERSION: u64 = 17;
pub const CONSOLE_IO: u64 = 18;
pub const GRANT_TABLE_OP: u64 = 20;
pub const VM_ASSIST: u64 = 21;
pub const VCPU_OP: u64 = 24;
pub const SCHED_OP: u64 = 29;
pub const EVENT_CHANNEL_OP: u64 = 32;
pub const PHYSDEV_OP: u64 = 33;
pub const HVM_OP: u64 = 34;

/// Xen errno values (xen/include/public/errno.h), negated in results.
pub const EPERM: i64 = -1;
pub const ENOENT: i64 = -2;
pub const ESRCH: i64 = -3;
pub const ENXIO: i64 = -6;
pub const EACCES: i64 = -13;
pub const EFAULT: i64 = -14;
pub const EBUSY: i64 = -16;
pub const EEXIST: i64 = -17;
pub const EINVAL: i64 = -22;
pub const EDOM: i64 = -33;
pub const ENOSYS: i64 = -38;
pub const EOPNOTSUPP: i64 = -95;
pub const ENOBUFS: i64 = -105;
pub const E2BIG: i64 = -7;

/// DOMID_SELF and friends (xen/include/public/xen.h).
pub const DOMID_SELF: u64 = 0x7ff0;
pub const DOMID_INVALID: u64 = 0x7ff4;
/// A domain id below DOMID_FIRST_RESERVED that no test setup uses.
pub const DOMID_NONE: u64 = 0x7fef;

/// A bad guest address: IPA 0x1000 is never RAM in Xen's guest layout.
pub const BAD_VA: u64 = 0x1000;

/// A hypercall result for reports: errno name, or hex.
pub struct V(pub i64);

impl fmt::Display for V {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        const NAMES: [(i64, &str); 20] = [
            (-1, "EPERM"), (-2, "ENOENT"), (-3, "ESRCH"), (-6, "ENXIO"), (-7, "E2BIG"),
            (-11, "EAGAIN"), (-12, "ENOMEM"), (-13, "EACCES"), (-14, "EFAULT"),
            (-16, "EBUSY"), (-17, "EEXIST"), (-22, "EINVAL"), (-28, "ENOSPC"),
            (-33, "EDOM"), (-38, "ENOSYS"), (-61, "ENODATA"), (-84, "EILSEQ"),
            (-95, "EOPNOTSUPP"), (-105, "ENOBUFS"), (-4, "EINTR"),
        ];
        match NAMES.iter().find(|n| n.0 == self.0) {
            Some((v, n)) => write!(f, "{} {}", v, n),
            None if (-4095..0).contains(&self.0) => write!(f, "{}", self.0),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

/// The expectations of one check: counts them, prints an `info` line for
/// each one that does not hold, and ends in one PASS or FAIL line.
pub struct Ck {
    name: &'static str,
    n: u32,
    bad: u32,
    first: Buf,
}

impl Ck {
    pub fn new(name: &'static str) -> Ck {
        Ck { name, n: 0, bad: 0, first: Buf::new() }
    }

    /// Records a failed expectation `what`: `detail`.
    pub fn no(&mut self, what: fmt::Arguments, detail: fmt::Arguments) {
        self.bad += 1;
        say!("info {} {}: {}", self.name, what, detail);
        if self.first.is_empty() {
            let _ = write!(self.first, "{}: {}", what, detail);
        }
    }

    /// Expects `cond`; `detail` says what was seen otherwise.
    pub fn t(&mut self, what: fmt::Arguments, cond: bool, detail: fmt::Arguments) -> bool {
        self.n += 1;
        if !cond {
            self.no(what, detail);
        }
        cond
    }

    /// Expects a hypercall to return `want`. Returns the value if the call
    /// completed (whatever it returned).
    pub fn rc(&mut self, what: fmt::Arguments, got: R, want: i64) -> Option<i64> {
        self.n += 1;
        match got {
            Ok(v) if v == want => Some(v),
            Ok(v) => {
                self.no(what, format_args!("{}, want {}", V(v), V(want)));
                Some(v)
            }
            Err(f) => {
                self.no(what, format_args!("raised {}", FaultText(f)));
                None
            }
        }
    }

    /// Expects a hypercall to return a value in lo..=hi.
    pub fn within(&mut self, what: fmt::Arguments, got: R, lo: i64, hi: i64) -> Option<i64> {
        self.n += 1;
        match got {
            Ok(v) if (lo..=hi).contains(&v) => Some(v),
            Ok(v) => {
                self.no(what, format_args!("{}, want {}..={}", V(v), lo, hi));
                Some(v)
            }
            Err(f) => {
                self.no(what, format_args!("raised {}", FaultText(f)));
                None
            }
        }
    }

    /// Expects a value (hex in reports).
    pub fn eq(&mut self, what: fmt::Arguments, got: u64, want: u64) -> bool {
        self.t(what, got == want, format_args!("{:#x}, want {:#x}", got, want))
    }

    /// The check's line: PASS with `detail`, or FAIL with the first miss.
    pub fn done(self, detail: fmt::Arguments) {
        if self.bad == 0 {
            crate::pass!(self.name, "{} ok; {}", self.n, detail);
        } else {
            crate::fail!(self.name, "{} of {} wrong, first {}", self.bad, self.n, self.first.as_str());
        }
    }
}

/// `ck!(c, rc "what {}", args; got, want)` etc.: format_args! shorthands.
#[macro_export]
macro_rules! ck {
    ($c:expr, rc $($w:expr),+ ; $got:expr, $want:expr) => {
        $c.rc(format_args!($($w),+), $got, $want)
    };
    ($c:expr, eq $($w:expr),+ ; $got:expr, $want:expr) => {
        $c.eq(format_args!($($w),+), ($got) as u64, ($want) as u64)
    };
    ($c:expr, t $($w:expr),+ ; $cond:expr, $($d:expr),+) => {
        $c.t(format_args!($($w),+), $cond, format_args!($($d),+))
    };
}
