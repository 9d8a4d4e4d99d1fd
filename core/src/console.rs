//! The hypervisor console: every message goes into a ring buffer (readable
//! later by the toolstack, see [`read_ring`]) and to the current output:
//! the early UART chosen by Kconfig until the real console from the UART
//! registry is up. Messages printed before any output exists stay in the
//! ring and are replayed when the console starts, unless the early UART
//! already printed them on the same device.
//!
//! Output to the console UART is polled (each byte waits for room in the
//! FIFO) until its interrupt is on; from then on a message goes into the
//! driver's transmit ring and the transmit interrupt drains it, so a
//! writer does not wait for the line. Nothing is dropped: when the ring
//! is full the writer waits, writing the ring out polled itself (counted
//! in [`tx_waits`]). Output is synchronous again with `sync_console` (each
//! message is on the wire before `print` returns, as in Xen; slow, for
//! debugging) and from the first emergency message on (panic, fatal
//! exception), which masks the UART's interrupts and writes what was
//! queued first. [`flush`] writes everything out before power-off.
//!
//! Levels follow Xen's `loglvl=` names; lines get the `console_timestamps=`
//! prefix at the start of each line.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

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
/// `sync_console`: every message is written out polled, and the UART has
/// sent it, before `print` returns (Xen's meaning). Without it, once the
/// console UART's interrupt is on, messages are queued and sent by the
/// transmit interrupt.
pub fn set_sync(on: bool) {
    CONSOLE.lock().sync = on;
}
pub fn is_sync() -> bool {
    CONSOLE.lock().sync
}

/// The ring buffer: the last `CONSOLE_RING_SIZE` bytes printed.
pub struct Ring {
    buf: [u8; CONSOLE_RING_SIZE],
    /// Total bytes ever written (Xen's producer index, `conringp`).
    written: u64,
    /// Where the retained contents start after a clearing read (Xen's
    /// consumer index, `conringc`); the ring's own wrap moves it too.
    start: u64,
}

impl Ring {
    pub const fn new() -> Self {
        Ring {
            buf: [0; CONSOLE_RING_SIZE],
            written: 0,
            start: 0,
        }
    }
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.buf[(self.written % CONSOLE_RING_SIZE as u64) as usize] = b;
            self.written += 1;
        }
    }
    /// First byte still held: the clearing point, or what the wrap left.
    fn first(&self) -> u64 {
        self.start
            .max(self.written.saturating_sub(CONSOLE_RING_SIZE as u64))
    }
    /// Calls `f` with the retained contents in order (two slices at most).
    pub fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        let mut at = self.first();
        while at < self.written {
            let idx = (at % CONSOLE_RING_SIZE as u64) as usize;
            let len = ((self.written - at) as usize).min(CONSOLE_RING_SIZE - idx);
            f(&self.buf[idx..idx + len]);
            at += len as u64;
        }
    }
    /// Bytes lost because the ring wrapped.
    pub fn dropped(&self) -> u64 {
        self.written.saturating_sub(CONSOLE_RING_SIZE as u64)
    }
    /// Xen's `XEN_SYSCTL_readconsole` on this ring. Copies retained bytes
    /// into `buf`, oldest first, and returns how many it copied (the
    /// ABI's `count` out) and the index just past the last one (`index`
    /// out). Indexes count every byte ever printed, modulo 2^32. With
    /// `incremental`, reading starts at `index` when that lies within the
    /// retained bytes (after the first, up to the end), else at the oldest
    /// retained byte; so a reader that passes back the index it got reads
    /// each byte once, and one that fell behind the ring's wrap restarts
    /// at the oldest. With `clear`, the bytes up to the returned index are
    /// gone for later readers.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        clear: bool,
        incremental: bool,
        index: u32,
    ) -> (usize, u32) {
        let end = self.written;
        let mut at = self.first();
        if incremental {
            // `index` lies in (at, end] when its distance back from the
            // end is below the retained length (Xen's modular check).
            let back = (end as u32).wrapping_sub(index) as u64;
            if back < end - at {
                at = end - back;
            }
        }
        let mut copied = 0;
        while at < end && copied < buf.len() {
            let idx = (at % CONSOLE_RING_SIZE as u64) as usize;
            let len = ((end - at) as usize)
                .min(CONSOLE_RING_SIZE - idx)
                .min(buf.len() - copied);
            buf[copied..copied + len].copy_from_slice(&self.buf[idx..idx + len]);
            copied += len;
            at += len as u64;
        }
        if clear {
            self.start = at;
        }
        (copied, at as u32)
    }
}

impl Default for Ring {
    fn default() -> Self {
        Self::new()
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

/// The console's state: the ring, where output goes and how.
pub struct Console {
    ring: Ring,
    output: Output,
    /// Inside a line (false at start: the whole console is zero-initialised
    /// and lives in BSS, not in the image file).
    mid_line: bool,
    clock: Option<fn() -> u64>,
    /// `sync_console`.
    sync: bool,
    /// A crash is being reported: the UART's interrupts are masked and
    /// every later message is written polled.
    emergency: bool,
    /// Times a writer found the transmit ring full and waited.
    tx_waits: u64,
}

static CONSOLE: Mutex<Console> = Mutex::new(Console::new());

impl Console {
    pub const fn new() -> Self {
        Console {
            ring: Ring::new(),
            output: Output::None,
            mid_line: false,
            clock: None,
            sync: false,
            emergency: false,
            tx_waits: 0,
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.ring.push(bytes);
        match self.output {
            Output::None => {}
            Output::Early(e) => early_write(e, bytes),
            Output::Uart(u) if self.sync || self.emergency => {
                // What was queued goes first, then this, polled.
                u.drain_tx();
                u.write(bytes);
            }
            Output::Uart(u) => self.tx_waits += queue(u, bytes),
            Output::Fallback(f) => f(bytes),
        }
    }

    /// Writes one message with `prefix` at the start of each line.
    pub fn message(&mut self, prefix: &str, args: fmt::Arguments) {
        let _ = LineWriter { con: self, prefix }.write_fmt(args);
        if let Output::Uart(u) = self.output {
            if self.sync || self.emergency {
                u.flush();
            }
        }
    }

    /// Switches to emergency output: masks the UART's interrupts, which
    /// writes out what was queued, and makes every later write polled.
    pub fn enter_emergency(&mut self) {
        if self.emergency {
            return;
        }
        self.emergency = true;
        if let Output::Uart(u) = self.output {
            u.disable_irqs();
        }
    }

    /// Writes out what the UART still has queued and waits until it has
    /// sent it.
    pub fn flush(&mut self) {
        if let Output::Uart(u) = self.output {
            u.drain_tx();
            u.flush();
        }
    }

    /// Prints on `uart` from now on (see [`start`]).
    pub fn set_uart(&mut self, uart: &'static dyn Uart) {
        self.output = Output::Uart(uart);
    }

    pub fn ring(&mut self) -> &mut Ring {
        &mut self.ring
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

fn early_write(e: EarlyUart, bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            (e.putc)(e.regs, b'\r');
        }
        (e.putc)(e.regs, b);
    }
}

/// Queues `bytes` for interrupt-driven output with `\n` as `\r\n`;
/// returns how many times the ring was full and the writer waited.
fn queue(u: &dyn Uart, bytes: &[u8]) -> u64 {
    let mut waits = 0;
    for piece in bytes.split_inclusive(|&b| b == b'\n') {
        match piece.split_last() {
            Some((b'\n', body)) => {
                waits += queue_all(u, body);
                waits += queue_all(u, b"\r\n");
            }
            _ => waits += queue_all(u, piece),
        }
    }
    waits
}

fn queue_all(u: &dyn Uart, mut bytes: &[u8]) -> u64 {
    let mut waits = 0;
    while !bytes.is_empty() {
        let n = u.queue_tx(bytes).min(bytes.len());
        bytes = &bytes[n..];
        if bytes.is_empty() {
            break;
        }
        if n == 0 && waits > 0 {
            // Still no room after writing the ring out: a driver that
            // queues nothing. Polled, rather than spin here for ever.
            for &b in bytes {
                u.putc(b);
            }
            break;
        }
        // The ring is full: wait for it, writing it out polled, rather
        // than drop anything.
        u.drain_tx();
        waits += 1;
    }
    waits
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
    CONSOLE.lock().message("(HV) ", args);
}

/// Prints a line on behalf of a guest, with its `(dN) ` prefix.
pub fn print_guest(prefix: &str, args: fmt::Arguments) {
    CONSOLE.lock().message(prefix, args);
}

/// Output from the panic path: never waits for a lock held by the CPU that
/// panicked (it may be this one); takes over the console instead, and
/// from then on everything is written polled (see
/// [`Console::enter_emergency`]).
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
    guard.enter_emergency();
    guard.message("(HV) ", args);
}

fn unsafe_force_unlock() {
    crate::hal::force_unlock(&CONSOLE);
}

/// Writes out everything queued for the console UART and waits until it
/// has left, so nothing is lost at power-off or reset. Waits only so long
/// for the console lock (the failure paths call this too).
pub fn flush() {
    for _ in 0..1_000_000 {
        if let Some(mut con) = CONSOLE.try_lock() {
            con.flush();
            return;
        }
        core::hint::spin_loop();
    }
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
        Output::Early(e) => early_write(*e, chunk),
        Output::Uart(u) => {
            u.drain_tx();
            u.write(chunk)
        }
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
    let mut con = CONSOLE.lock();
    con.flush();
    con.output = Output::None;
}

/// Sets the clock used for timestamps (ns since boot).
pub fn set_clock(clock: fn() -> u64) {
    CONSOLE.lock().clock = Some(clock);
}

/// Calls `f` with the ring's contents (for the toolstack and tests).
pub fn with_ring<R>(f: impl FnOnce(&Ring) -> R) -> R {
    f(&CONSOLE.lock().ring)
}

/// `XEN_SYSCTL_readconsole` on the console ring (see [`Ring::read`]):
/// returns the bytes copied into `buf` and the index to pass back next
/// time. The hypercall (copying into the caller's buffer) comes with the
/// sysctl interface.
pub fn read_ring(buf: &mut [u8], clear: bool, incremental: bool, index: u32) -> (usize, u32) {
    CONSOLE.lock().ring.read(buf, clear, incremental, index)
}

/// Times a writer found the console UART's transmit ring full and waited
/// (wrote it out polled) instead of dropping output.
pub fn tx_waits() -> u64 {
    CONSOLE.lock().tx_waits
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

/// Switches the console UART to interrupt-driven I/O: claims its
/// interrupt, lets `route` enable it at the interrupt controller, then
/// unmasks the device. From then on input arrives by the receive
/// interrupt and output is queued and sent by the transmit interrupt
/// (unless `sync_console`). `Ok(None)` when the UART has no interrupt or
/// no interrupt path, `Err` when `route` failed: either way the console
/// stays polled.
pub fn enable_interrupts<E>(
    route: impl FnOnce(u32) -> Result<(), E>,
) -> Result<Option<u32>, (u32, E)> {
    let uart = match CONSOLE.lock().output {
        Output::Uart(u) => u,
        _ => return Ok(None),
    };
    let Some(intid) = uart.irq() else {
        return Ok(None);
    };
    if crate::irq::claim(
        intid,
        crate::irq::Owner::Hypervisor {
            name: "console",
            handler: uart_interrupt,
        },
    )
    .is_err()
    {
        return Ok(None);
    }
    if let Err(e) = route(intid) {
        crate::irq::release(intid);
        return Err((intid, e));
    }
    // Under the console lock, so no message is half polled, half queued.
    let con = CONSOLE.lock();
    if !uart.enable_irqs() {
        drop(con);
        crate::irq::release(intid);
        return Ok(None);
    }
    Ok(Some(intid))
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

    extern crate std;

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

    /// A UART whose FIFO takes nothing until its interrupt handler runs (a
    /// slow line), with the shared interrupt-mode pieces from core.
    struct SlowUart {
        io: crate::uart::UartIrq,
        wire: std::sync::Mutex<std::vec::Vec<u8>>,
        flushes: core::sync::atomic::AtomicUsize,
        masked: core::sync::atomic::AtomicBool,
    }
    impl SlowUart {
        fn leak() -> &'static SlowUart {
            std::boxed::Box::leak(std::boxed::Box::new(SlowUart {
                io: crate::uart::UartIrq::new(),
                wire: std::sync::Mutex::new(std::vec::Vec::new()),
                flushes: 0.into(),
                masked: false.into(),
            }))
        }
        fn wire(&self) -> std::string::String {
            std::string::String::from_utf8(self.wire.lock().unwrap().clone()).unwrap()
        }
    }
    impl Uart for SlowUart {
        fn putc(&self, b: u8) {
            self.wire.lock().unwrap().push(b);
        }
        fn getc(&self) -> Option<u8> {
            None
        }
        fn flush(&self) {
            self.flushes.fetch_add(1, Ordering::Relaxed);
        }
        fn base(&self) -> u64 {
            0
        }
        fn irq(&self) -> Option<u32> {
            Some(33)
        }
        fn enable_irqs(&self) -> bool {
            self.io.lock().on = true;
            true
        }
        fn disable_irqs(&self) {
            self.io.disable(
                |b| self.putc(b),
                || self.masked.store(true, Ordering::Relaxed),
            );
        }
        fn handle_irq(&self) {
            let mut st = self.io.lock();
            while let Some(b) = st.tx.pop() {
                self.wire.lock().unwrap().push(b);
            }
        }
        fn queue_tx(&self, bytes: &[u8]) -> usize {
            self.io.queue_tx(bytes, |b| self.putc(b), |_| {})
        }
        fn drain_tx(&self) {
            self.io.drain_tx(|b| self.putc(b), |_| {});
        }
    }

    fn console_on(u: &'static SlowUart) -> Console {
        let mut con = Console::new();
        con.set_uart(u);
        con
    }

    #[test]
    fn output_is_polled_until_the_interrupt_is_on() {
        let u = SlowUart::leak();
        let mut con = console_on(u);
        con.message("(HV) ", format_args!("early {}\n", 1));
        assert_eq!(u.wire(), "(HV) early 1\r\n");
        assert_eq!(u.io.tx_queued(), 0);
    }

    #[test]
    fn buffered_output_waits_for_the_interrupt_and_loses_nothing() {
        let u = SlowUart::leak();
        let mut con = console_on(u);
        assert!(u.enable_irqs());
        con.message("(HV) ", format_args!("hello\n"));
        assert_eq!(u.wire(), "", "queued, the writer did not wait");
        assert_eq!(u.io.tx_queued(), "(HV) hello\r\n".len());
        u.handle_irq();
        assert_eq!(u.wire(), "(HV) hello\r\n");

        // Far more than the ring holds: the writer waits (writes the ring
        // out itself) instead of dropping; order is kept.
        let long: std::string::String =
            (0..1000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        con.message("(d1) ", format_args!("{long}\nsecond\n"));
        assert!(con.tx_waits >= 3, "waited {} times", con.tx_waits);
        u.handle_irq();
        assert_eq!(
            u.wire(),
            std::format!("(HV) hello\r\n(d1) {long}\r\n(d1) second\r\n")
        );
        assert_eq!(
            u.flushes.load(Ordering::Relaxed),
            0,
            "never waited for the line"
        );
        // The ring has it all, newline as printed.
        let mut all = std::vec::Vec::new();
        con.ring.for_each_chunk(|c| all.extend_from_slice(c));
        assert!(all.ends_with(b"(d1) second\n"));
    }

    #[test]
    fn sync_console_writes_through_after_what_was_queued() {
        let u = SlowUart::leak();
        let mut con = console_on(u);
        assert!(u.enable_irqs());
        con.message("(HV) ", format_args!("queued\n"));
        assert_eq!(u.wire(), "");
        con.sync = true;
        con.message("(HV) ", format_args!("sync\n"));
        assert_eq!(
            u.wire(),
            "(HV) queued\r\n(HV) sync\r\n",
            "in order, at once"
        );
        assert_eq!(u.io.tx_queued(), 0);
        assert_eq!(u.flushes.load(Ordering::Relaxed), 1, "waited for the line");
        con.message("(d1) ", format_args!("again\n"));
        assert!(u.wire().ends_with("(d1) again\r\n"));
        assert_eq!(u.flushes.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn emergency_output_masks_the_uart_and_writes_the_queue_first() {
        let u = SlowUart::leak();
        let mut con = console_on(u);
        assert!(u.enable_irqs());
        con.message("(HV) ", format_args!("before\n"));
        con.enter_emergency();
        assert!(u.masked.load(Ordering::Relaxed));
        con.message("(HV) ", format_args!("PANIC\n"));
        assert_eq!(u.wire(), "(HV) before\r\n(HV) PANIC\r\n");
        // Another CPU's message after the crash is polled too.
        con.message("(HV) ", format_args!("late\n"));
        assert!(u.wire().ends_with("(HV) late\r\n"));
        assert_eq!(u.io.tx_queued(), 0);
    }

    #[test]
    fn flush_empties_the_queue_before_power_off() {
        let u = SlowUart::leak();
        let mut con = console_on(u);
        assert!(u.enable_irqs());
        con.message("(HV) ", format_args!("powering off\n"));
        con.flush();
        assert_eq!(u.wire(), "(HV) powering off\r\n");
        assert_eq!(u.flushes.load(Ordering::Relaxed), 1);
    }

    /// `XEN_SYSCTL_readconsole`: whole reads, incremental reads that pick
    /// up where the last one ended, small buffers, clearing, and a reader
    /// that fell behind the wrap.
    #[test]
    fn readconsole_has_xens_semantics() {
        let mut r = Ring::new();
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf, false, false, 0), (0, 0), "empty");
        r.push(b"hello ");
        r.push(b"world");
        let (n, idx) = r.read(&mut buf, false, false, 0);
        assert_eq!((&buf[..n], idx), (&b"hello world"[..], 11));
        // Incremental from the index returned: only what is new.
        r.push(b"!\n");
        let (n, idx) = r.read(&mut buf, false, true, idx);
        assert_eq!((&buf[..n], idx), (&b"!\n"[..], 13));
        assert_eq!(r.read(&mut buf, false, true, idx), (0, 13), "nothing new");
        // A small buffer: count is what fit, index where it stopped.
        let mut small = [0u8; 4];
        let (n, idx) = r.read(&mut small, false, true, 0);
        assert_eq!(
            (&small[..n], idx),
            (&b"hell"[..], 4),
            "index 0 = from the oldest"
        );
        let (n, idx) = r.read(&mut small, false, true, idx);
        assert_eq!((&small[..n], idx), (&b"o wo"[..], 8));
        // An index outside what is retained (ahead of the end) restarts
        // at the oldest byte, as in Xen.
        let (n, _) = r.read(&mut buf, false, true, 1000);
        assert_eq!(n, 13);
        // Clearing: what was read is gone for the next reader.
        let (n, idx) = r.read(&mut small, true, false, 0);
        assert_eq!((n, idx), (4, 4));
        let (n, idx) = r.read(&mut buf, false, false, 0);
        assert_eq!((&buf[..n], idx), (&b"o world!\n"[..], 13));
        let (n, _) = r.read(&mut buf, true, false, 0);
        assert_eq!(n, 9);
        assert_eq!(r.read(&mut buf, false, false, 0), (0, 13), "all cleared");
        let mut seen = 0;
        r.for_each_chunk(|c| seen += c.len());
        assert_eq!(seen, 0, "replay sees the clear too");

        // The ring wraps: a reader whose index fell behind restarts at the
        // oldest byte still held; incremental reads then continue.
        let mut r = Ring::new();
        let data: std::vec::Vec<u8> = (0..CONSOLE_RING_SIZE * 2 + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        r.push(&data[..10]);
        let (_, stale) = r.read(&mut buf, false, true, 0);
        r.push(&data[10..]);
        let mut out = std::vec::Vec::new();
        let mut idx = stale;
        loop {
            let (n, next) = r.read(&mut buf, false, true, idx);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            idx = next;
        }
        assert_eq!(out, &data[data.len() - CONSOLE_RING_SIZE..]);
        assert_eq!(idx, data.len() as u32);
    }

    #[test]
    fn readconsole_indexes_wrap_at_2_32() {
        let mut r = Ring::new();
        // Pretend 2^32 - 3 bytes went by, all but the last few lost.
        r.written = (1u64 << 32) - 3;
        r.start = r.written;
        r.push(b"abcdef");
        let mut buf = [0u8; 16];
        let (n, idx) = r.read(&mut buf, false, true, u32::MAX - 2);
        assert_eq!((&buf[..n], idx), (&b"abcdef"[..], 3));
        let (n, idx) = r.read(&mut buf, false, true, u32::MAX);
        assert_eq!(
            (&buf[..n], idx),
            (&b"cdef"[..], 3),
            "index 2^32-1 is inside"
        );
    }
}
