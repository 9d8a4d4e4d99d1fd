//! Host serial consoles: the [`Uart`] trait every UART plugin implements and
//! the [`UART_DRIVERS`] registry, matched by device-tree `compatible`.

use alloc::boxed::Box;
use core::fmt;

use linkme::distributed_slice;
use spin::{Mutex, MutexGuard};

use crate::fdt::Node;
use crate::hal::{Mmio, MmioRegion};

/// Bytes of a UART driver's receive and transmit rings.
pub const UART_RING_SIZE: usize = 256;

/// A fixed ring of bytes; no heap, so an interrupt handler never
/// allocates.
pub struct ByteRing {
    buf: [u8; UART_RING_SIZE],
    head: usize,
    len: usize,
}

impl ByteRing {
    pub const fn new() -> Self {
        ByteRing {
            buf: [0; UART_RING_SIZE],
            head: 0,
            len: 0,
        }
    }
    /// Appends `b`; false (and `b` is lost) when the ring is full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.len == UART_RING_SIZE {
            return false;
        }
        self.buf[(self.head + self.len) % UART_RING_SIZE] = b;
        self.len += 1;
        true
    }
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let b = self.buf[self.head];
        self.head = (self.head + 1) % UART_RING_SIZE;
        self.len -= 1;
        Some(b)
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Default for ByteRing {
    fn default() -> Self {
        Self::new()
    }
}

/// What an interrupt-driven UART driver keeps behind its lock: whether
/// interrupts are on, the rings between the FIFOs and the console, and how
/// many received bytes were lost to a full ring.
pub struct UartIrqState {
    pub on: bool,
    pub rx: ByteRing,
    pub tx: ByteRing,
    pub rx_dropped: u32,
}

impl UartIrqState {
    pub const fn new() -> Self {
        UartIrqState {
            on: false,
            rx: ByteRing::new(),
            tx: ByteRing::new(),
            rx_dropped: 0,
        }
    }
}

impl Default for UartIrqState {
    fn default() -> Self {
        Self::new()
    }
}

/// Tries for a lock a bounded number of times: on the crash path the
/// holder may be a CPU that will never release it.
fn lock_bounded(m: &Mutex<UartIrqState>) -> Option<MutexGuard<'_, UartIrqState>> {
    for _ in 0..1_000_000 {
        if let Some(g) = m.try_lock() {
            return Some(g);
        }
        core::hint::spin_loop();
    }
    None
}

/// An interrupt-driven driver's [`UartIrqState`] behind its lock, with the
/// parts of the [`Uart`] interrupt methods that are the same for every
/// device. A driver passes its device-specific pieces as closures: `putc`
/// (polled output of one byte, waiting for room), `read_fifo` (one
/// received byte, if any) and `refill` (move bytes from the transmit ring
/// into the FIFO and mask the transmit interrupt once the ring is empty,
/// unmask it while bytes remain).
///
/// Lock order: the console's lock, then this one; the interrupt handler
/// takes only this one.
pub struct UartIrq {
    st: Mutex<UartIrqState>,
}

impl UartIrq {
    pub const fn new() -> Self {
        UartIrq {
            st: Mutex::new(UartIrqState::new()),
        }
    }
    /// The state, for the driver's own `enable_irqs` and `handle_irq`.
    pub fn lock(&self) -> MutexGuard<'_, UartIrqState> {
        self.st.lock()
    }
    /// Received bytes lost because the receive ring was full.
    pub fn rx_dropped(&self) -> u32 {
        self.st.lock().rx_dropped
    }
    /// Bytes waiting in the transmit ring.
    pub fn tx_queued(&self) -> usize {
        self.st.lock().tx.len()
    }
    /// [`Uart::getc`]: what the interrupt handler already received comes
    /// first, then the FIFO.
    pub fn getc(&self, read_fifo: impl FnOnce() -> Option<u8>) -> Option<u8> {
        {
            let mut st = self.st.lock();
            if st.on {
                if let Some(b) = st.rx.pop() {
                    return Some(b);
                }
            }
        }
        read_fifo()
    }
    /// [`Uart::queue_tx`]: in interrupt mode the bytes go into the ring
    /// (as many as fit) and the transmitter is started; otherwise they are
    /// written polled.
    pub fn queue_tx(
        &self,
        bytes: &[u8],
        putc: impl Fn(u8),
        refill: impl FnOnce(&mut UartIrqState),
    ) -> usize {
        let mut st = self.st.lock();
        if !st.on {
            drop(st);
            for &b in bytes {
                putc(b);
            }
            return bytes.len();
        }
        let n = bytes.iter().take_while(|&&b| st.tx.push(b)).count();
        refill(&mut st);
        n
    }
    /// [`Uart::drain_tx`]: writes the ring out polled, in order, then lets
    /// `refill` mask the transmit interrupt (the ring is empty).
    pub fn drain_tx(&self, putc: impl Fn(u8), refill: impl FnOnce(&mut UartIrqState)) {
        let mut st = self.st.lock();
        if st.tx.is_empty() {
            return;
        }
        while let Some(b) = st.tx.pop() {
            putc(b);
        }
        refill(&mut st);
    }
    /// [`Uart::disable_irqs`]: `mask` masks the device's interrupts, then
    /// what the ring still holds is written out polled. The lock is waited
    /// for only so long (the crash path); without it the device is masked
    /// all the same and the ring is left alone.
    pub fn disable(&self, putc: impl Fn(u8), mask: impl FnOnce()) {
        match lock_bounded(&self.st) {
            Some(mut st) => {
                st.on = false;
                mask();
                while let Some(b) = st.tx.pop() {
                    putc(b);
                }
            }
            None => mask(),
        }
    }
}

impl Default for UartIrq {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses `<baud>[n8]`, the form `dtuart=` and `stdout-path` use: only
/// 8N1 is offered. An empty string keeps firmware's baud rate.
pub fn parse_baud(options: &str) -> Result<Option<u32>, UartError> {
    if options.is_empty() {
        return Ok(None);
    }
    let end = options
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(options.len());
    let (digits, rest) = options.split_at(end);
    if !(rest.is_empty() || rest == "n8") {
        return Err(UartError::BadOptions("only <baud> or <baud>n8 (8N1)"));
    }
    match digits.parse::<u32>() {
        Ok(b) if (110..=4_000_000).contains(&b) => Ok(Some(b)),
        _ => Err(UartError::BadOptions(
            "expected <baud>[n8], baud 110..4000000",
        )),
    }
}

/// A UART the console writes to.
pub trait Uart: Send + Sync {
    /// Writes one byte, waiting for room (polled).
    fn putc(&self, byte: u8);
    /// Reads a byte if one is waiting.
    fn getc(&self) -> Option<u8>;
    /// Waits until everything written has left the transmitter.
    fn flush(&self) {}
    /// Writes bytes, turning `\n` into `\r\n`.
    fn write(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.putc(b'\r');
            }
            self.putc(b);
        }
    }
    /// Physical base address of the registers (to tell devices apart).
    fn base(&self) -> u64;

    // Interrupt-driven I/O. Every method has a default that keeps a
    // polled-only driver valid; a driver with an interrupt path overrides
    // all six (the parts every device shares are in `UartIrq`). The
    // interrupt controller side (routing and enabling `irq()`) is the
    // caller's job, done before `enable_irqs`.

    /// The INTID of this UART's interrupt (see [`interrupt_intid`]), or
    /// `None` when the node gave none and the UART can only be polled.
    fn irq(&self) -> Option<u32> {
        None
    }
    /// Switches to interrupt-driven I/O: unmasks the device's receive
    /// interrupts; transmit interrupts follow [`Uart::queue_tx`]. Returns
    /// false when the driver has no interrupt path (it stays polled).
    fn enable_irqs(&self) -> bool {
        false
    }
    /// Masks every interrupt of the device and goes back to polled I/O
    /// (the crash path): bytes still queued for transmission are written
    /// out polled first. Never waits long for a lock (the CPU holding it
    /// may have crashed).
    fn disable_irqs(&self) {}
    /// Services the device's interrupt: drains the receive FIFO into the
    /// driver's receive ring (where [`Uart::getc`] then finds it), refills
    /// the transmit FIFO from the transmit ring, masks the transmit
    /// interrupt once that ring is empty, and acknowledges what it
    /// handled. Harmless when nothing is pending.
    fn handle_irq(&self) {}
    /// Queues bytes for interrupt-driven transmission and starts the
    /// transmitter; returns how many were taken (the rest did not fit in
    /// the ring). Outside interrupt mode, and by default, the bytes are
    /// written polled. [`Uart::putc`] stays polled in either mode, and
    /// does not look at the ring: call [`Uart::drain_tx`] first to keep
    /// the order.
    fn queue_tx(&self, bytes: &[u8]) -> usize {
        for &b in bytes {
            self.putc(b);
        }
        bytes.len()
    }
    /// Writes out, polled and in order, whatever the transmit ring still
    /// holds, so the caller can write polled after it (`sync_console`, a
    /// full ring, power-off). Interrupt mode stays on.
    fn drain_tx(&self) {}
}

/// The INTID named by one interrupt specifier in the Arm GIC's three-cell
/// form `<type number flags>` (Linux
/// Documentation/devicetree/bindings/interrupt-controller/arm,gic-v3.yaml
/// and arm,gic.yaml): type 0 is an SPI (INTID number + 32, SPIs 32..=1019),
/// 1 a PPI (number + 16, PPIs 16..=31), 2 an extended SPI (number + 4096,
/// GICv3.1) and 3 an extended PPI (number + 1056). `None` for any other
/// type or a number outside its range. The flags cell is not checked.
pub const fn gic_intid(kind: u32, number: u32) -> Option<u32> {
    match kind {
        0 if number <= 987 => Some(number + 32),
        1 if number <= 15 => Some(number + 16),
        2 if number <= 1023 => Some(number + 4096),
        3 if number <= 63 => Some(number + 1056),
        _ => None,
    }
}

/// The INTID of a node's first interrupt, from `interrupts` in the GIC's
/// three-cell form; `Ok(None)` when the node has no `interrupts`. A length
/// that is not a whole number of three-cell specifiers, or a specifier
/// [`gic_intid`] refuses, is a [`UartError::BadNode`].
pub fn interrupt_intid(node: &Node) -> Result<Option<u32>, UartError> {
    let Some(p) = node.property("interrupts") else {
        return Ok(None);
    };
    if p.value.is_empty() || p.value.len() % 12 != 0 {
        return Err(UartError::BadNode(
            "interrupts is not in the GIC's three-cell form",
        ));
    }
    let mut cells = p.cells();
    let (kind, number) = (cells.next().unwrap_or(u32::MAX), cells.next().unwrap_or(0));
    gic_intid(kind, number).map(Some).ok_or(UartError::BadNode(
        "interrupts names no valid GIC interrupt",
    ))
}

/// Why a UART could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UartError {
    /// A device-tree property is missing or malformed.
    BadNode(&'static str),
    /// The `dtuart=` / `console=` options could not be used.
    BadOptions(&'static str),
}

impl fmt::Display for UartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UartError::BadNode(w) => write!(f, "bad device-tree node: {w}"),
            UartError::BadOptions(w) => write!(f, "bad options: {w}"),
        }
    }
}

/// Sets up the device behind a node, registers already mapped; `base` is
/// their physical address and `options` what followed `:` in `dtuart=`.
pub type UartProbe =
    fn(node: &Node, regs: MmioRegion, base: u64, options: &str) -> Result<Box<dyn Uart>, UartError>;

/// A UART driver.
pub struct UartDriver {
    /// Short name, as used by the Kconfig early-UART choice (`pl011`).
    pub name: &'static str,
    /// Device-tree `compatible` strings it drives.
    pub compatible: &'static [&'static str],
    /// Size of the register window to map.
    pub regs_size: u64,
    /// Sets up the device behind `node`, registers already mapped.
    /// `options` is what followed `:` in `dtuart=` (e.g. a baud rate).
    pub probe: UartProbe,
    /// Polled output for the early console: no state, no heap.
    pub early_putc: fn(regs: &dyn Mmio, byte: u8),
}

/// Every UART driver linked into this image.
#[distributed_slice]
pub static UART_DRIVERS: [UartDriver];

/// The driver for a node, by `compatible` (first match in the node's list).
pub fn driver_for<'a>(drivers: &'a [UartDriver], node: &Node) -> Option<&'a UartDriver> {
    node.compatible()
        .find_map(|c| drivers.iter().find(|d| d.compatible.contains(&c)))
}

/// The driver with this name.
pub fn driver_named<'a>(drivers: &'a [UartDriver], name: &str) -> Option<&'a UartDriver> {
    drivers.iter().find(|d| d.name == name)
}

/// The Kconfig early UART: the driver named by `EARLY_UART_DRIVER`, when
/// there is one and `EARLY_UART_BASE_ADDRESS` is set. Its `early_putc` is
/// what the console uses until the device tree is read.
pub fn early_driver<'a>(
    drivers: &'a [UartDriver],
    name: &str,
    base: u64,
) -> Option<&'a UartDriver> {
    if name.is_empty() || base == 0 {
        return None;
    }
    driver_named(drivers, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdt::Fdt;
    use crate::fdt_write::FdtWriter;

    #[test]
    fn baud_options_are_validated() {
        assert_eq!(parse_baud("115200n8"), Ok(Some(115_200)));
        assert_eq!(parse_baud("9600"), Ok(Some(9600)));
        assert_eq!(parse_baud(""), Ok(None));
        assert!(parse_baud("115200e7").is_err(), "only 8N1");
        assert!(parse_baud("fast").is_err());
        assert!(parse_baud("5").is_err(), "below 110");
        assert!(parse_baud("99999999999").is_err());
    }

    #[test]
    fn the_ring_keeps_order_and_refuses_when_full() {
        let mut r = ByteRing::new();
        for i in 0..UART_RING_SIZE {
            assert!(r.push(i as u8));
        }
        assert!(!r.push(0xff), "full");
        assert_eq!(r.len(), UART_RING_SIZE);
        for i in 0..10 {
            assert_eq!(r.pop(), Some(i as u8));
        }
        for i in 0..10 {
            assert!(r.push(200 + i), "room again, wrapping");
        }
        for i in 10..UART_RING_SIZE {
            assert_eq!(r.pop(), Some(i as u8));
        }
        for i in 0..10 {
            assert_eq!(r.pop(), Some(200 + i));
        }
        assert!(r.is_empty() && r.pop().is_none());
        r.push(1);
        r.clear();
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn gic_specifiers_decode_to_intids() {
        assert_eq!(gic_intid(0, 0), Some(32));
        assert_eq!(gic_intid(0, 1), Some(33));
        assert_eq!(gic_intid(0, 987), Some(1019));
        assert_eq!(gic_intid(0, 988), None, "INTIDs 1020..1023 are special");
        assert_eq!(gic_intid(1, 10), Some(26));
        assert_eq!(gic_intid(1, 16), None);
        assert_eq!(gic_intid(2, 0), Some(4096));
        assert_eq!(gic_intid(3, 63), Some(1119));
        assert_eq!(gic_intid(4, 0), None);
    }

    #[test]
    fn node_interrupts_are_checked() {
        let mut w = FdtWriter::new();
        w.begin_node("")
            .begin_node("a")
            .prop_cells("interrupts", &[0, 1, 4, 0, 2, 4])
            .end_node()
            .begin_node("b")
            .end_node()
            .begin_node("c")
            .prop_cells("interrupts", &[0, 1])
            .end_node()
            .begin_node("d")
            .prop_cells("interrupts", &[1, 99, 4])
            .end_node()
            .end_node();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let n = |p: &str| fdt.find_node(p).unwrap();
        assert_eq!(interrupt_intid(&n("/a")), Ok(Some(33)));
        assert_eq!(interrupt_intid(&n("/b")), Ok(None));
        assert!(interrupt_intid(&n("/c")).is_err());
        assert!(interrupt_intid(&n("/d")).is_err());
    }

    #[test]
    fn irq_helpers_keep_order_and_never_hang_on_a_held_lock() {
        use core::cell::RefCell;
        extern crate std;
        let wire = RefCell::new(std::vec::Vec::new());
        let putc = |b: u8| wire.borrow_mut().push(b);
        let io = UartIrq::new();
        // Polled until interrupts are on.
        assert_eq!(io.queue_tx(b"ab", putc, |_| unreachable!()), 2);
        assert_eq!(*wire.borrow(), b"ab");
        io.lock().on = true;
        io.lock().rx.push(b'r');
        assert_eq!(io.getc(|| Some(b'f')), Some(b'r'), "the ring first");
        assert_eq!(io.getc(|| Some(b'f')), Some(b'f'));
        // Queued: the refill takes one byte per call here.
        let refill = |st: &mut UartIrqState| {
            if let Some(b) = st.tx.pop() {
                wire.borrow_mut().push(b);
            }
        };
        assert_eq!(io.queue_tx(b"cdef", putc, refill), 4);
        assert_eq!(io.tx_queued(), 3);
        io.drain_tx(putc, |st| assert!(st.tx.is_empty()));
        assert_eq!(*wire.borrow(), b"abcdef");
        let big = [b'x'; UART_RING_SIZE + 10];
        assert_eq!(io.queue_tx(&big, putc, |_| {}), UART_RING_SIZE);
        // The crash path: the lock is held by someone who never lets go.
        let held = io.lock();
        let masked = core::cell::Cell::new(false);
        io.disable(putc, || masked.set(true));
        assert!(masked.get(), "masked even without the lock");
        drop(held);
        assert_eq!(io.tx_queued(), UART_RING_SIZE, "ring left alone");
        io.disable(putc, || {});
        assert!(!io.lock().on);
        assert_eq!(wire.borrow().len(), 6 + UART_RING_SIZE);
    }
}
