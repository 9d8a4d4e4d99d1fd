//! The hypervisor console: every message goes into a ring buffer (readable
//! later by the toolstack) and to the current output: the early UART chosen
//! by Kconfig until the real console from the UART registry is up. Messages
//! printed before any output exists stay in the ring and are replayed when
//! the console starts, unless the early UART already printed them on the
//! same device.
//!
//! Levels follow Xen's `loglvl=` names; lines get the `console_timestamps=`
//! prefix at the start of each line.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use spin::Mutex;

use crate::config::CONSOLE_RING_SIZE;
use crate::hal::Mmio;
use crate::uart::Uart;

/// Message levels, most severe first (Xen's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 1,
    Warning = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    /// Parses one of Xen's level names (`none`, `error`, `warning`, `info`,
    /// `debug`, `all`); `none` is 0.
    pub fn parse_threshold(s: &str) -> Option<u8> {
        Some(match s {
            "none" => 0,
            "error" => 1,
            "warning" => 2,
            "info" => 3,
            "debug" | "all" => 4,
            _ => return None,
        })
    }
}

/// How lines are stamped (`console_timestamps=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Timestamps {
    None = 0,
    /// `[    s.us]` since boot.
    Boot = 1,
    /// Raw counter value in ns.
    Raw = 2,
}

static THRESHOLD: AtomicU8 = AtomicU8::new(Level::Info as u8);
static GUEST_THRESHOLD: AtomicU8 = AtomicU8::new(Level::Info as u8);
static TIMESTAMPS: AtomicU8 = AtomicU8::new(Timestamps::None as u8);
static SYNC: AtomicBool = AtomicBool::new(false);

pub fn set_threshold(level: u8) {
    THRESHOLD.store(level, Ordering::Relaxed);
}
pub fn set_guest_threshold(level: u8) {
    GUEST_THRESHOLD.store(level, Ordering::Relaxed);
}
pub fn guest_threshold() -> u8 {
    GUEST_THRESHOLD.load(Ordering::Relaxed)
}
pub fn set_timestamps(t: Timestamps) {
    TIMESTAMPS.store(t as u8, Ordering::Relaxed);
}
/// `sync_console`: every byte is on the wire before `print` returns. Output
/// is polled today, so this holds for every build; the flag is kept so the
/// console can warn about it and interrupt-driven output can honour it.
pub fn set_sync(on: bool) {
    SYNC.store(on, Ordering::Relaxed);
}
pub fn is_sync() -> bool {
    SYNC.load(Ordering::Relaxed)
}

/// The ring buffer: the last `CONSOLE_RING_SIZE` bytes printed.
pub struct Ring {
    buf: [u8; CONSOLE_RING_SIZE],
    /// Total bytes ever written.
    written: u64,
}

impl Ring {
    const fn new() -> Self {
        Ring {
            buf: [0; CONSOLE_RING_SIZE],
            written: 0,
        }
    }
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.buf[(self.written % CONSOLE_RING_SIZE as u64) as usize] = b;
            self.written += 1;
        }
    }
    /// Calls `f` with the retained contents in order (two slices at most).
    pub fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        let size = CONSOLE_RING_SIZE as u64;
        if self.written <= size {
            f(&self.buf[..self.written as usize]);
        } else {
            let head = (self.written % size) as usize;
            f(&self.buf[head..]);
            f(&self.buf[..head]);
        }
    }
    /// Bytes lost because the ring wrapped.
    pub fn dropped(&self) -> u64 {
        self.written.saturating_sub(CONSOLE_RING_SIZE as u64)
    }
}

/// Polled byte output on an early UART: the driver's function and its
/// registers.
#[derive(Clone, Copy)]
pub struct EarlyUart {
    pub putc: fn(&dyn Mmio, u8),
    pub regs: &'static dyn Mmio,
}

enum Output {
    None,
    Early(EarlyUart),
    Uart(&'static dyn Uart),
    /// Test builds without any UART: the emulator's debug console.
    Fallback(fn(&[u8])),
}

struct Console {
    ring: Ring,
    output: Output,
    /// Inside a line (false at start: the whole console is zero-initialised
    /// and lives in BSS, not in the image file).
    mid_line: bool,
    clock: Option<fn() -> u64>,
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    ring: Ring::new(),
    output: Output::None,
    mid_line: false,
    clock: None,
});

impl Console {
    fn emit(&mut self, bytes: &[u8]) {
        self.ring.push(bytes);
        match self.output {
            Output::None => {}
            Output::Early(e) => {
                for &b in bytes {
                    if b == b'\n' {
                        (e.putc)(e.regs, b'\r');
                    }
                    (e.putc)(e.regs, b);
                }
            }
            Output::Uart(u) => u.write(bytes),
            Output::Fallback(f) => f(bytes),
        }
    }
}

struct LineWriter<'a> {
    con: &'a mut Console,
    prefix: &'a str,
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if !self.con.mid_line {
                self.con.mid_line = true;
                let mode = TIMESTAMPS.load(Ordering::Relaxed);
                if mode != Timestamps::None as u8 {
                    if let Some(clock) = self.con.clock {
                        let ns = clock();
                        let mut stamp = StampBuf::default();
                        if mode == Timestamps::Boot as u8 {
                            let _ = write!(
                                stamp,
                                "[{:5}.{:06}] ",
                                ns / 1_000_000_000,
                                (ns / 1000) % 1_000_000
                            );
                        } else {
                            let _ = write!(stamp, "[{ns}] ");
                        }
                        self.con.emit(stamp.as_bytes());
                    }
                }
                let prefix = self.prefix.as_bytes();
                self.con.emit(prefix);
            }
            self.con.emit(piece.as_bytes());
            if piece.ends_with('\n') {
                self.con.mid_line = false;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct StampBuf {
    buf: [u8; 32],
    len: usize,
}
impl StampBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
impl Write for StampBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let b = s.as_bytes();
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints a hypervisor message at `level` (dropped above `loglvl=`).
pub fn print(level: Level, args: fmt::Arguments) {
    if level as u8 > THRESHOLD.load(Ordering::Relaxed) {
        return;
    }
    let mut con = CONSOLE.lock();
    let _ = LineWriter {
        con: &mut con,
        prefix: "(HV) ",
    }
    .write_fmt(args);
}

/// Prints a line on behalf of a guest, with its `(dN) ` prefix.
pub fn print_guest(prefix: &str, args: fmt::Arguments) {
    let mut con = CONSOLE.lock();
    let _ = LineWriter {
        con: &mut con,
        prefix,
    }
    .write_fmt(args);
}

/// Output from the panic path: never waits for a lock held by the CPU that
/// panicked (it may be this one); takes over the console instead.
pub fn print_emergency(args: fmt::Arguments) {
    let mut guard = match CONSOLE.try_lock() {
        Some(g) => g,
        None => {
            // SAFETY-free: forcing the lock open is sound here because the
            // panicking CPU will never return to the holder's critical
            // section; interleaved output is the worst outcome.
            unsafe_force_unlock();
            CONSOLE.lock()
        }
    };
    let _ = LineWriter {
        con: &mut guard,
        prefix: "(HV) ",
    }
    .write_fmt(args);
}

fn unsafe_force_unlock() {
    crate::hal::force_unlock(&CONSOLE);
}

/// Starts printing on an early UART. Everything already in the ring is
/// printed first.
pub fn start_early(uart: EarlyUart) {
    let mut con = CONSOLE.lock();
    con.output = Output::Early(uart);
    replay(&mut con);
}

/// Switches to the real console. `same_device_as_early` avoids printing
/// twice what the early UART already showed.
pub fn start(uart: &'static dyn Uart, same_device_as_early: bool) {
    let mut con = CONSOLE.lock();
    let had_early = matches!(con.output, Output::Early(_));
    con.output = Output::Uart(uart);
    if !(had_early && same_device_as_early) {
        replay(&mut con);
    }
}

fn replay(con: &mut Console) {
    let Console { ring, output, .. } = con;
    let mut out = |chunk: &[u8]| match output {
        Output::None => {}
        Output::Early(e) => {
            for &b in chunk {
                if b == b'\n' {
                    (e.putc)(e.regs, b'\r');
                }
                (e.putc)(e.regs, b);
            }
        }
        Output::Uart(u) => u.write(chunk),
        Output::Fallback(f) => f(chunk),
    };
    if ring.dropped() > 0 {
        out(b"(HV) [console ring wrapped; earliest messages lost]\n");
    }
    ring.for_each_chunk(out);
}

/// When nothing prints yet, prints (and replays the ring) through `f`: test
/// builds with no UART at all use the emulator's debug console so their
/// scenarios can still read the output. Returns whether it took over.
pub fn start_fallback(f: fn(&[u8])) -> bool {
    let mut con = CONSOLE.lock();
    if !matches!(con.output, Output::None) {
        return false;
    }
    con.output = Output::Fallback(f);
    replay(&mut con);
    true
}

/// Stops printing (`console=none`): messages stay in the ring.
pub fn stop() {
    CONSOLE.lock().output = Output::None;
}

/// Sets the clock used for timestamps (ns since boot).
pub fn set_clock(clock: fn() -> u64) {
    CONSOLE.lock().clock = Some(clock);
}

/// Calls `f` with the ring's contents (for the toolstack and tests).
pub fn with_ring<R>(f: impl FnOnce(&Ring) -> R) -> R {
    f(&CONSOLE.lock().ring)
}

/// Bytes waiting on the console input, if the console has one.
pub fn getc() -> Option<u8> {
    match CONSOLE.lock().output {
        Output::Uart(u) => u.getc(),
        _ => None,
    }
}

/// Somewhere console input can go: a domain's emulated UART.
pub trait ConsoleInput: Send + Sync {
    /// Offers one byte; false when the receiver is full (the byte is lost,
    /// as on a real UART).
    fn push(&self, byte: u8) -> bool;
}

struct Focus {
    /// 0 = the hypervisor, else the index+1 of the input in `inputs`.
    target: usize,
    ctrl_a: u8,
    inputs: alloc::vec::Vec<(u16, alloc::sync::Arc<dyn ConsoleInput>)>,
}

static FOCUS: Mutex<Focus> = Mutex::new(Focus {
    target: 0,
    ctrl_a: 0,
    inputs: alloc::vec::Vec::new(),
});

/// Registers domain `domid`'s console input. The first domain registered
/// gets the focus, as with Xen's dom0less consoles.
pub fn register_input(domid: u16, input: alloc::sync::Arc<dyn ConsoleInput>) {
    let mut f = FOCUS.lock();
    f.inputs.push((domid, input));
    if f.target == 0 && f.inputs.len() == 1 {
        f.target = 1;
    }
}

/// Forgets domain `domid`'s input (the domain is gone).
pub fn unregister_input(domid: u16) {
    let mut f = FOCUS.lock();
    if let Some(i) = f.inputs.iter().position(|(d, _)| *d == domid) {
        f.inputs.remove(i);
        let had_focus = f.target == i + 1;
        if had_focus || f.target > f.inputs.len() {
            f.target = if f.inputs.is_empty() { 0 } else { 1 };
        } else if f.target > i + 1 {
            f.target -= 1; // the focused domain moved down one slot
        }
        let to = f
            .target
            .checked_sub(1)
            .and_then(|i| f.inputs.get(i))
            .map(|(d, _)| *d);
        drop(f);
        if had_focus {
            if let Some(d) = to {
                crate::info!("*** Console input now goes to d{d} (CTRL-a three times to switch)");
            }
        }
    }
}

/// The domain that has the console input, if any.
pub fn focus() -> Option<u16> {
    let f = FOCUS.lock();
    f.target
        .checked_sub(1)
        .and_then(|i| f.inputs.get(i))
        .map(|(d, _)| *d)
}

/// Interrupt handler of the console UART: moves its FIFOs, then routes
/// what arrived.
pub fn uart_interrupt() {
    let uart = match CONSOLE.lock().output {
        Output::Uart(u) => Some(u),
        _ => None,
    };
    if let Some(u) = uart {
        u.handle_irq();
    }
    poll_input();
}

/// Turns on the console UART's receive interrupt, so input reaches the
/// focused domain even when nobody polls. False when it stays polled.
pub fn enable_input_interrupt() -> Option<u32> {
    let uart = match CONSOLE.lock().output {
        Output::Uart(u) => u,
        _ => return None,
    };
    let intid = uart.irq()?;
    crate::irq::claim(
        intid,
        crate::irq::Owner::Hypervisor {
            name: "console",
            handler: uart_interrupt,
        },
    )
    .ok()?;
    if !uart.enable_irqs() {
        crate::irq::release(intid);
        return None;
    }
    Some(intid)
}

/// Pulls bytes from the console UART and routes them: CTRL-a three times
/// cycles the focus (hypervisor, then each domain in turn), everything else
/// goes to the focused domain.
pub fn poll_input() {
    while let Some(b) = getc() {
        input_byte(b);
    }
}

/// Routes one input byte (see [`poll_input`]).
pub fn input_byte(b: u8) {
    let mut f = FOCUS.lock();
    if b == 0x01 {
        f.ctrl_a += 1;
        if f.ctrl_a == 3 {
            f.ctrl_a = 0;
            f.target = (f.target + 1) % (f.inputs.len() + 1);
            let to = f
                .target
                .checked_sub(1)
                .and_then(|i| f.inputs.get(i))
                .map(|(d, _)| *d);
            drop(f);
            match to {
                Some(d) => crate::info!(
                    "*** Console input now goes to d{d} (CTRL-a three times to switch)"
                ),
                None => crate::info!(
                    "*** Console input now goes to the hypervisor (CTRL-a three times to switch)"
                ),
            }
        }
        return;
    }
    // CTRL-a pressed once or twice, then something else: deliver them too.
    let pending = core::mem::take(&mut f.ctrl_a);
    if let Some((_, input)) = f.target.checked_sub(1).and_then(|i| f.inputs.get(i)) {
        for _ in 0..pending {
            input.push(0x01);
        }
        input.push(b);
    } else if f.target == 0 {
        drop(f);
        if !b.is_ascii_whitespace() && !crate::debugkeys::press(b) {
            crate::info!("'{}' is not a debug key ('h' lists them)", b as char);
        }
    }
}

#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::console::print($crate::console::Level::Error, format_args!("{}\n", format_args!($($arg)*))) };
}
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::console::print($crate::console::Level::Warning, format_args!("{}\n", format_args!($($arg)*))) };
}
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::console::print($crate::console::Level::Info, format_args!("{}\n", format_args!($($arg)*))) };
}
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::console::print($crate::console::Level::Debug, format_args!("{}\n", format_args!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest_bytes() {
        let mut r = Ring::new();
        let big = std::vec![b'x'; CONSOLE_RING_SIZE + 10];
        r.push(&big);
        r.push(b"tail");
        assert_eq!(r.dropped(), 14);
        let mut all = std::vec::Vec::new();
        r.for_each_chunk(|c| all.extend_from_slice(c));
        assert_eq!(all.len(), CONSOLE_RING_SIZE);
        assert!(all.ends_with(b"tail"));
    }

    #[test]
    fn level_names_are_xens() {
        assert_eq!(Level::parse_threshold("warning"), Some(2));
        assert_eq!(Level::parse_threshold("all"), Some(4));
        assert_eq!(Level::parse_threshold("loud"), None);
    }
}
