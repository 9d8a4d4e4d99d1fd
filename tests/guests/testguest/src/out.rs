//! Console lines and the PASS/FAIL tally.
//!
//! Every line starts with "testguest: " and ends with "\n" (the hypervisor's
//! console adds "\r" where it needs one).

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

static PASSED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);

pub fn passed() -> u32 {
    PASSED.load(Relaxed)
}

pub fn failed() -> u32 {
    FAILED.load(Relaxed)
}

/// Longest line, without its "\n"; longer ones are cut and end in "...".
const LINE_MAX: usize = 99;

pub fn line(args: fmt::Arguments) {
    let mut b = Buf::new();
    let _ = fmt::write(&mut b, format_args!("testguest: {}", args));
    let bytes = b.as_bytes();
    if b.overflowed {
        bytes[..LINE_MAX - 3].iter().for_each(|&c| crate::uart::putc(c));
        b"...".iter().for_each(|&c| crate::uart::putc(c));
    } else {
        bytes.iter().for_each(|&c| crate::uart::putc(c));
    }
    crate::uart::putc(b'\n');
}

pub fn pass(name: &str, detail: Option<fmt::Arguments>) {
    PASSED.store(PASSED.load(Relaxed) + 1, Relaxed);
    match detail {
        Some(d) => line(format_args!("PASS {} ({})", name, d)),
        None => line(format_args!("PASS {}", name)),
    }
}

pub fn fail(name: &str, detail: fmt::Arguments) {
    FAILED.store(FAILED.load(Relaxed) + 1, Relaxed);
    line(format_args!("FAIL {}: {}", name, detail));
}

/// `say!("fmt", ..)`: one "testguest: ..." line.
#[macro_export]
macro_rules! say {
    ($($a:tt)*) => { $crate::out::line(format_args!($($a)*)) };
}

/// `pass!("name")` or `pass!("name", "detail fmt", ..)`.
#[macro_export]
macro_rules! pass {
    ($name:expr) => { $crate::out::pass($name, None) };
    ($name:expr, $($a:tt)+) => { $crate::out::pass($name, Some(format_args!($($a)+))) };
}

/// `fail!("name", "detail fmt", ..)`.
#[macro_export]
macro_rules! fail {
    ($name:expr, $($a:tt)+) => { $crate::out::fail($name, format_args!($($a)+)) };
}

/// Formats a fault for a FAIL detail: "ec 0x25 iss 0x10 far 0x.. elr insn"
/// ("irq"/"fiq"/"serror" first when it was not synchronous).
pub struct FaultText(pub crate::exc::Fault);

impl fmt::Display for FaultText {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let k = ["", "irq ", "fiq ", "serror "][(self.0.kind & 3) as usize];
        write!(f, "{}ec {:#x} iss {:#x} far {:#x} elr ", k, self.0.ec(),
               self.0.esr & 0x1ff_ffff, self.0.far)?;
        match self.0.elr_where() {
            "other" => write!(f, "resume{:+}", self.0.elr.wrapping_sub(self.0.resume) as i64),
            w => f.write_str(w),
        }
    }
}

/// Formats a byte for a report: 0x68 'h'.
pub struct ByteText(pub u8);

impl fmt::Display for ByteText {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "{:#04x} '{}'", self.0, self.0 as char)
        } else {
            write!(f, "{:#04x}", self.0)
        }
    }
}

/// A byte string shown as text (non-printables as '?'), for DT strings.
pub struct BStr<'a>(pub &'a [u8]);

impl fmt::Display for BStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for &b in self.0 {
            let c = if (0x20..0x7f).contains(&b) { b as char } else { '?' };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// A fixed-size line buffer for building details without a heap; output
/// past its end is dropped (and remembered). Only ASCII goes in.
pub struct Buf {
    b: [u8; LINE_MAX],
    n: usize,
    overflowed: bool,
}

impl Buf {
    pub const fn new() -> Self {
        Buf { b: [0; LINE_MAX], n: 0, overflowed: false }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.b[..self.n]).unwrap_or("?")
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &c in s.as_bytes() {
            if self.n < self.b.len() {
                self.b[self.n] = c;
                self.n += 1;
            } else {
                self.overflowed = true;
            }
        }
        Ok(())
    }
}
