//! mode=fuzz: seeded random hypercalls (`seed=`, `calls=`), to show the
//! hypervisor survives them: this domain keeps running, others too, and
//! no page leaks (the scenario checks the last two).
//!
//! Numbers are mostly the families Xen has on Arm, else 0..64, sometimes
//! huge. Arguments come from pools: small integers, random values, domids
//! 0..4 and DOMID_SELF, gfns of a scratch window, pointers into a fill
//! region, pointers just before the end of RAM, unmapped addresses.
//!
//! Keeping itself alive. Memory layout, top of RAM down: the last page
//! holds the fill region (its last 1 KiB, rewritten from the pools before
//! every call and the only RAM any pointer from the pools reaches; pointers
//! are 8-aligned there, or within 16 bytes of the end of RAM, so a struct
//! that fits is read from whole pool words and anything longer runs off
//! RAM: -EFAULT); below it the 16-page window whose gfns the pools hand
//! out (to be ballooned, replaced by shared_info or grant frames, or
//! mapped over: the guest never touches it). Code, stack, vectors, the
//! device tree and the top page itself are never named as gfns or
//! buffers. What the hypervisor writes into the fill region (outputs) is
//! overwritten before the next call. Calls that would end or block this
//! domain, or hand the hypervisor an address that is not from the pools,
//! are avoided or their arguments fixed first:
//! - SCHEDOP_block (blocks until an event, and Xen clears PSTATE.I) and
//!   SCHEDOP_shutdown (ends the domain): not made ("avoided");
//! - SCHEDOP_poll: timeout set to 1 (ns of system time: long past), as
//!   without one (0) it blocks until a port is pending;
//! - SCHEDOP_watchdog: timeouts below 3600 s raised to 3600 (id 0 with 0
//!   would fire at once and shut the domain down; an id's 0 still deletes);
//! - SCHEDOP_remote_shutdown naming this domain (its id, DOMID_SELF): the
//!   domid is replaced by an unused one;
//! - VCPUOP_register_runstate_memory_area: the area (a VA the hypervisor
//!   writes at every context switch) is put in the window;
//! - GNTTABOP_map/unmap_grant_ref, unmap_and_replace: host_addr and
//!   new_addr (IPAs to map at) are put in the window;
//! - CONSOLEIO_write from RAM: count 0 (random text on the console);
//! - multicall: nested memory_op, multicall, console_io, grant_table_op,
//!   vcpu_op, sched_op and the FIFO event ops that take gfns become
//!   xen_version (an earlier entry's result, e.g. 0x40014 or
//!   maximum_gpfn, could be read as a gfn by a later one).
//!
//! It prints progress every calls/10, the counts per result, checks its
//! code and read-only data are unchanged, and powers off.

use super::hc::*;
use crate::arch::{now, us_from_ticks};
use crate::{fail, pass, say, Env};

/// The fill region: the last bytes of RAM.
const FILL: u64 = 1024;
/// Window pages below the last page.
const WIN: u64 = 16;
/// Distinct result values counted one by one (errnos and 0).
const SLOTS: usize = 40;

struct Rng(u64);

impl Rng {
    /// xorshift64* (Vigna).
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick(&mut self, v: &[u64]) -> u64 {
        v[self.below(v.len() as u64) as usize]
    }
}

struct Fz {
    r: Rng,
    ram_lo: u64,
    ram_end: u64,
    /// First gfn of the window.
    win: u64,
    me: u64,
    /// Addresses nothing is mapped at.
    unmapped: [u64; 6],
}

// Template field kinds: high nibble what (Fz::field), low two bits the
// size (1: u16, 2: u32, 3: u64).
const DOM: u8 = 0x01; // a domid from the pool
const S16: u8 = 0x11; // 0..16
const S32: u8 = 0x12;
const S64: u8 = 0x13;
const GFN: u8 = 0x23; // a window gfn
const PTR: u8 = 0x33; // a fill-region pointer
const GFNS: u8 = 0x43; // a pointer to four window gfns
const SPACE: u8 = 0x52; // XENMAPSPACE 0..5
const MAPF: u8 = 0x62; // GNTMAP_host_map [| readonly]
const VCPU: u8 = 0x72; // 0..1
const OFF: u8 = 0x82; // a vcpu_info offset
const REF: u8 = 0x93; // a grant ref or a window gfn
const CFL: u8 = 0xa1; // GNTCOPY flags
const Z32: u8 = 0xb2; // 0

/// (family, cmds, pointer argument, fields (offset, kind)) of the structs
/// in xen/include/public: memory.h, grant_table.h, event_channel.h,
/// vcpu.h, hvm/hvm_op.h, sched.h.
type Template = (u8, &'static [u8], u8, &'static [(u8, u8)]);
const TEMPLATES: [Template; 14] = [
    (12, &[0, 1, 6], 1, &[(0, GFNS), (8, S64), (16, Z32), (24, DOM)]),
    (12, &[7], 1, &[(0, DOM), (2, S16), (4, SPACE), (8, S64), (16, GFN)]),
    (12, &[3, 4, 14, 15], 1, &[(0, DOM), (8, GFN)]),
    (20, &[0], 1, &[(8, MAPF), (12, S32), (16, DOM)]),
    (20, &[1], 1, &[(16, S32)]),
    (20, &[2], 1, &[(0, DOM), (4, S32), (16, PTR)]),
    (20, &[5], 1, &[(0, REF), (8, DOM), (10, S16), (16, REF), (24, DOM), (26, S16), (32, S16), (34, CFL)]),
    (20, &[6, 10], 1, &[(0, DOM)]),
    (32, &[0, 5, 6, 10], 1, &[(0, DOM), (2, DOM), (4, S32)]),
    (32, &[1, 3, 4, 8, 9, 13], 1, &[(0, S32), (4, VCPU)]),
    (32, &[7], 1, &[(0, VCPU)]),
    (24, &[10], 2, &[(0, GFN), (8, OFF)]),
    (34, &[0, 1], 1, &[(0, DOM), (4, S32)]),
    (29, &[3], 1, &[(0, PTR), (8, S32)]),
];

/// The families Arm's Xen has (include/hypercall-defs.c).
const FAMILIES: [u64; 14] = [7, 12, 13, 17, 18, 20, 21, 24, 29, 32, 33, 34, 35, 36];

impl Fz {
    fn fill_lo(&self) -> u64 {
        self.ram_end - FILL
    }

    /// One argument value from the pools.
    fn word(&mut self) -> u64 {
        match self.r.below(100) {
            0..=29 => self.r.below(65),
            30..=34 => self.r.pick(&[u64::MAX, 0xffff_ffff, 0x8000_0000, 1 << 63, 0xffff, 0x7ff4]),
            35..=42 => self.r.next(),
            43..=60 => self.ptr(),
            61..=64 => self.ram_end - 1 - self.r.below(16),
            65..=68 => {
                let i = self.r.below(6) as usize;
                self.unmapped[i]
            }
            69..=80 => self.wgfn(),
            81..=86 => self.dom(),
            // Packed small fields: domid, then two small values (a
            // struct's first u16/u16/u32 or u16/pad/u32).
            _ => self.dom() | self.r.below(5) << 16 | self.r.below(8) << 32,
        }
    }

    fn dom(&mut self) -> u64 {
        self.r.pick(&[0, 1, 2, 3, 4, DOMID_SELF])
    }

    fn wgfn(&mut self) -> u64 {
        self.win + self.r.below(WIN)
    }

    /// An 8-aligned pointer into the fill region.
    fn ptr(&mut self) -> u64 {
        self.fill_lo() + 8 * self.r.below(FILL / 8)
    }

    /// A value of template field kind `k` (see TEMPLATES).
    fn field(&mut self, k: u8) -> u64 {
        match k >> 4 {
            0 => self.dom(),
            1 => self.r.below(17),
            2 => self.wgfn(),
            3 => self.ptr(),
            4 => {
                // A list of window gfns at a pointer.
                let q = self.fill_lo() + 8 * self.r.below(FILL / 8 - 4);
                for i in 0..4 {
                    let g = self.wgfn();
                    w64(q + 8 * i, g);
                }
                q
            }
            5 => self.r.below(6),
            6 => 2 | self.r.below(2) << 2,
            7 => self.r.below(2),
            8 => 64 * self.r.below(64),
            9 => {
                if self.r.below(2) == 0 {
                    self.r.below(17)
                } else {
                    self.wgfn()
                }
            }
            10 => self.r.below(4),
            _ => 0,
        }
    }

    /// Half the time, fills the struct a call's pointer argument names
    /// with plausible fields (TEMPLATES), so calls get past the first
    /// checks into the state they change.
    fn template(&mut self, nr: u64, a: &mut [u64; 5]) {
        let cmd = a[0] as u32;
        let Some(t) = TEMPLATES.iter().find(|t| t.0 as u64 == nr && t.1.contains(&(cmd as u8)) && cmd < 256)
        else {
            return;
        };
        let p = self.fill_lo() + 8 * self.r.below(FILL / 8 - 6);
        a[t.2 as usize] = p;
        for &(off, k) in t.3 {
            let v = self.field(k);
            put(p + off as u64, v, [2, 2, 4, 8][(k & 3) as usize]);
        }
    }

    /// A page-aligned IPA in the window.
    fn win_addr(&mut self) -> u64 {
        (self.win + self.r.below(WIN)) << 12
    }

    /// Whether [a, a+len) lies in the fill region (so the hypervisor can
    /// read it whole and we may rewrite it).
    fn inside(&self, a: u64, len: u64) -> bool {
        a >= self.fill_lo() && a.checked_add(len).is_some_and(|e| e <= self.ram_end)
    }

    /// Whether `v` names our RAM outside the window (as a gfn) or outside
    /// the fill region and the window (as an address).
    fn ours(&self, v: u64) -> bool {
        let (lo, hi, win) = (self.ram_lo, self.ram_end, self.win);
        let gfn = v >= lo >> 12 && v < hi >> 12 && !(win..win + WIN).contains(&v);
        let addr = v >= lo && v < self.fill_lo() && !(win << 12..(win + WIN) << 12).contains(&v);
        gfn || addr
    }

    /// Moves every word of the fill region that names our RAM far off.
    /// Pool words do not, but fields a template writes into them can
    /// (a u16 domid 2 over a window gfn 0x40fef is 0x40002, our code),
    /// and a domid and a small value packed into one word too.
    fn screen(&self) {
        let lo = self.fill_lo();
        for i in 0..FILL / 8 {
            let w = r64(lo + 8 * i);
            if self.ours(w) {
                w64(lo + 8 * i, w | 1 << 44);
            }
        }
    }

    fn rewrite(&mut self) {
        let lo = self.fill_lo();
        for i in 0..FILL / 8 {
            let w = self.word();
            w64(lo + 8 * i, w);
        }
    }

    /// Fixes the arguments of calls that would stop this domain or reach
    /// outside the pools (see the module comment); false: do not call.
    fn sanitize(&mut self, nr: u64, a: &mut [u64; 5]) -> bool {
        let cmd = a[0] as u32;
        match nr {
            29 => match cmd {
                1 | 2 => return false,
                3 if self.inside(a[1], 24) => put(a[1] + 16, 1, 8),
                4 if self.inside(a[1], 8) => {
                    let d = get(a[1], 2);
                    if d == self.me || d == DOMID_SELF {
                        put(a[1], DOMID_NONE, 2);
                    }
                }
                6 if self.inside(a[1], 8) => {
                    let (id, t) = (get(a[1], 4), get(a[1] + 4, 4));
                    if t < 3600 && !(id != 0 && t == 0) {
                        put(a[1] + 4, 3600, 4);
                    }
                }
                _ => {}
            },
            // EVTCHNOP_expand_array { u64 array_gfn } (FIFO): a window gfn,
            // as a straddled read near the end of RAM could form any gfn.
            32 if cmd == 12 && self.inside(a[1], 8) => {
                let g = self.wgfn();
                put(a[1], g, 8);
            }
            24 if cmd == 5 && self.inside(a[2], 8) => {
                let w = self.win_addr() + 8 * self.r.below(512);
                put(a[2], w, 8);
            }
            20 => {
                let size = match cmd {
                    0 => 32,
                    1 | 7 => 24,
                    _ => return true,
                };
                let mut e = a[1];
                for _ in 0..a[2] as u32 {
                    if !self.inside(e, size) {
                        break;
                    }
                    let h = self.win_addr();
                    put(e, h, 8);
                    if cmd == 7 {
                        let n = self.win_addr();
                        put(e + 8, n, 8);
                    }
                    e += size;
                }
            }
            18 if cmd == 0 && a[2] >= self.fill_lo() && a[2] < self.ram_end => a[1] = 0,
            13 => {
                let mut e = a[0];
                for _ in 0..a[1] as u32 {
                    if !self.inside(e, 64) {
                        break;
                    }
                    let (op, c) = (get(e, 8), get(e + 16, 4) as u32);
                    if matches!(op, 12 | 13 | 18 | 20 | 24 | 29) || (op == 32 && matches!(c, 11 | 12)) {
                        put(e, 17, 8);
                    }
                    e += 64;
                }
            }
            _ => {}
        }
        true
    }
}

/// Little-endian `n`-byte value at `a`, byte by byte (any alignment).
fn get(a: u64, n: u64) -> u64 {
    (0..n).fold(0, |v, i| v | (r8(a + i) as u64) << (8 * i))
}

fn put(a: u64, v: u64, n: u64) {
    (0..n).for_each(|i| w8(a + i, (v >> (8 * i)) as u8));
}

/// FNV-1a over 8-byte words of [lo, hi).
fn hash(lo: u64, hi: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut a = lo;
    while a + 8 <= hi {
        h = (h ^ r64(a)).wrapping_mul(0x100_0000_01b3);
        a += 8;
    }
    h
}

/// Result counts: errnos and 0 one by one, positive values together.
struct Tally {
    vals: [(i64, u64); SLOTS],
    n: usize,
    pos: u64,
    other: u64,
    faults: u64,
}

impl Tally {
    fn add(&mut self, r: R) {
        match r {
            Err(_) => self.faults += 1,
            Ok(v) if v > 0 => self.pos += 1,
            Ok(v) => match self.vals[..self.n].iter_mut().find(|s| s.0 == v) {
                Some(s) => s.1 += 1,
                None if self.n < SLOTS => {
                    self.vals[self.n] = (v, 1);
                    self.n += 1;
                }
                None => self.other += 1,
            },
        }
    }

    /// "fuzz: results ..." lines of at most 99 characters.
    fn print(&mut self) {
        self.vals[..self.n].sort_unstable_by_key(|s| core::cmp::Reverse(s.0));
        let mut b = crate::out::Buf::new();
        let more = |b: &mut crate::out::Buf, item: core::fmt::Arguments| {
            use core::fmt::Write;
            let mut t = crate::out::Buf::new();
            let _ = t.write_fmt(item);
            if b.as_bytes().len() + t.as_bytes().len() > 70 {
                say!("fuzz: results {}", b.as_str());
                *b = crate::out::Buf::new();
            }
            let _ = write!(b, "{}{}", if b.is_empty() { "" } else { ", " }, t.as_str());
        };
        for &(v, n) in &self.vals[..self.n] {
            more(&mut b, format_args!("{}: {}", v, n));
        }
        more(&mut b, format_args!(">0: {}", self.pos));
        more(&mut b, format_args!("other: {}", self.other));
        more(&mut b, format_args!("fault: {}", self.faults));
        say!("fuzz: results {}", b.as_str());
    }
}

pub fn run(env: &Env) {
    let seed = env.arg_num("seed").unwrap_or(1);
    let calls = env.arg_num("calls").unwrap_or(10_000);
    super::learn_domid();
    let ram_end = crate::checks::ram_end(env);
    let top = ram_end - PAGE;
    let win = (top >> 12) - WIN;
    // Nothing of ours may be in the window or the top page: Image (with
    // BSS and stacks) and device tree are below.
    let image_end = env.base + r64(env.base + 16);
    let dtb_end = env.dtb + crate::mmio::dtb_slice(env.dtb).map_or(0, |b| b.len() as u64);
    if image_end > win << 12 || (dtb_end > win << 12 && env.dtb < ram_end) {
        return fail!("fuzz", "Image (to {:#x}) or DTB (to {:#x}) in the scratch window at {:#x}",
                     image_end, dtb_end, win << 12);
    }
    let mut f = Fz {
        r: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        ram_lo: env.fdt.as_ref().and_then(|f| crate::checks::dt_ram(f).0).unwrap_or(0).min(env.base),
        ram_end,
        win,
        me: super::domid().unwrap_or(DOMID_NONE),
        unmapped: [0, 0x1000, 0x1000_0000, ram_end + (2 << 20), 0xffff_ffff_f000, 0x8000_0000_0000],
    };
    let code = hash(env.base, rodata_end());
    say!("fuzz: seed {} calls {} window {:#x}-{:#x} fill {:#x}", seed, calls, win << 12, top,
         f.fill_lo());
    let mut t = Tally { vals: [(0, 0); SLOTS], n: 0, pos: 0, other: 0, faults: 0 };
    let mut avoided = 0u64;
    let step = (calls / 10).max(1);
    let t0 = now();
    for i in 0..calls {
        f.rewrite();
        let nr = match f.r.below(100) {
            0..=79 => f.r.pick(&FAMILIES),
            80..=94 => f.r.below(65),
            _ => f.r.pick(&[u64::MAX, 0xffff_ffff, 1 << 32 | 17, 1 << 63, 0x1_0000]),
        };
        let mut a = [0u64; 5];
        for x in a.iter_mut() {
            *x = f.word();
        }
        match f.r.below(10) {
            0..=5 => a[0] = f.r.below(16),
            6 | 7 => a[0] = f.r.below(32),
            _ => {}
        }
        if f.r.below(2) == 0 {
            f.template(nr, &mut a);
        }
        f.screen();
        if f.sanitize(nr, &mut a) {
            flush(f.fill_lo(), FILL);
            let r = raw5(nr, a);
            if let Err(e) = r {
                say!("info fuzz call {} nr {:#x} ({:#x}, {:#x}, {:#x}) raised {}", i, nr, a[0], a[1],
                     a[2], crate::out::FaultText(e));
            }
            t.add(r);
        } else {
            avoided += 1;
        }
        if (i + 1) % step == 0 {
            say!("fuzz: {} of {} calls", i + 1, calls);
        }
    }
    let us = us_from_ticks(now() - t0);
    say!("fuzz: {} calls, seed {}, {} avoided, {} ms ({} ns per call)", calls, seed, avoided,
         us / 1000, us * 1000 / calls.max(1));
    t.print();
    if hash(env.base, rodata_end()) != code {
        fail!("fuzz", "our code or read-only data changed under us");
    } else if t.faults != 0 {
        fail!("fuzz", "{} hypercalls raised an exception in the guest", t.faults);
    } else {
        pass!("fuzz", "{} calls, code intact", calls);
    }
}
