//! The vpl011: an SBSA UART (the PL011 subset in Arm's Server Base System
//! Architecture) emulated for domains, as Xen's dom0less domains have it.
//! Output is line-buffered onto the hypervisor console with the domain's
//! `(dN) ` prefix; input comes from the console when the domain has the
//! focus. The interrupt (SPI 32) is raised once the vGIC exists; until then
//! guests poll the flag register.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use linkme::distributed_slice;
use spin::Mutex;
use tessera_core::console::{self, ConsoleInput};
use tessera_core::registry::{Plugin, Status, PLUGINS};
use tessera_core::vdev::{IrqLine, MmioDevice, VirtDeviceKind, VIRT_DEVICES};

/// Xen's guest address, size and interrupt for the vpl011
/// (public/arch-arm.h: GUEST_PL011_BASE, GUEST_PL011_SIZE,
/// GUEST_VPL011_SPI).
pub const BASE: u64 = 0x2200_0000;
pub const SIZE: u64 = 0x1000;
pub const SPI: u32 = 32;

mod regs {
    pub const DR: u64 = 0x000;
    pub const RSR: u64 = 0x004;
    pub const FR: u64 = 0x018;
    pub const IMSC: u64 = 0x038;
    pub const RIS: u64 = 0x03c;
    pub const MIS: u64 = 0x040;
    pub const ICR: u64 = 0x044;

    pub const FR_RXFE: u64 = 1 << 4;
    pub const FR_TXFF: u64 = 1 << 5;
    pub const FR_RXFF: u64 = 1 << 6;
    pub const FR_TXFE: u64 = 1 << 7;
    pub const INT_RX: u64 = 1 << 4;
    pub const INT_TX: u64 = 1 << 5;
}

/// Receive FIFO depth.
const RX_FIFO: usize = 32;
/// A line longer than this is printed in pieces.
const LINE_MAX: usize = 256;

struct State {
    /// The interrupt line's current level (RIS & IMSC != 0).
    irq_level: bool,
    line: Vec<u8>,
    rx: VecDeque<u8>,
    imsc: u64,
    /// Latched raw interrupt status (RX timeout/level and TX).
    ris: u64,
}

/// One domain's vpl011.
pub struct Vpl011 {
    prefix: String,
    state: Mutex<State>,
    irq: Arc<dyn IrqLine>,
}

impl Vpl011 {
    pub fn new(domid: u16, irq: Arc<dyn IrqLine>) -> Self {
        Vpl011 {
            prefix: format!("(d{domid}) "),
            state: Mutex::new(State {
                irq_level: false,
                line: Vec::new(),
                rx: VecDeque::new(),
                imsc: 0,
                ris: regs::INT_TX,
            }),
            irq,
        }
    }

    /// Drives the interrupt line from RIS & IMSC (level-sensitive), with
    /// the state lock released.
    fn update_irq(&self) {
        let mut s = self.state.lock();
        let level = s.ris & s.imsc != 0;
        if level == s.irq_level {
            return;
        }
        s.irq_level = level;
        drop(s);
        self.irq.set(level);
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        console::print_guest(
            &self.prefix,
            format_args!("{}\n", text.trim_end_matches(['\r', '\n'])),
        );
    }

    fn tx(&self, byte: u8) {
        let mut s = self.state.lock();
        if byte == b'\n' || s.line.len() >= LINE_MAX {
            let line = core::mem::take(&mut s.line);
            drop(s);
            self.emit(&line);
            if byte != b'\n' {
                self.state.lock().line.push(byte);
            }
            return;
        }
        if byte != b'\r' {
            s.line.push(byte);
        }
    }

    fn read_reg(&self, offset: u64) -> u64 {
        let mut s = self.state.lock();
        match offset {
            regs::DR => {
                let v = s.rx.pop_front().map(u64::from).unwrap_or(0);
                if s.rx.is_empty() {
                    s.ris &= !regs::INT_RX;
                }
                v
            }
            regs::RSR => 0,
            regs::FR => {
                let mut fr = regs::FR_TXFE; // output never waits
                if s.rx.is_empty() {
                    fr |= regs::FR_RXFE;
                }
                if s.rx.len() >= RX_FIFO {
                    fr |= regs::FR_RXFF;
                }
                let _ = regs::FR_TXFF;
                fr
            }
            regs::IMSC => s.imsc,
            regs::RIS => s.ris,
            regs::MIS => s.ris & s.imsc,
            _ => 0, // reserved and identification registers read as zero
        }
    }
}

impl MmioDevice for Vpl011 {
    fn read(&self, offset: u64, _size: u8) -> u64 {
        if matches!(offset, regs::DR | regs::FR) {
            console::poll_input();
        }
        let v = self.read_reg(offset);
        self.update_irq();
        v
    }

    fn write(&self, offset: u64, _size: u8, value: u64) {
        match offset {
            regs::DR => self.tx(value as u8),
            regs::RSR => {} // error clear
            regs::IMSC => self.state.lock().imsc = value & 0x7ff,
            regs::ICR => {
                let mut s = self.state.lock();
                // TX stays asserted: the FIFO is always empty. RX stays while
                // bytes wait, as on the level-sensitive PL011.
                let keep = if s.rx.is_empty() { 0 } else { regs::INT_RX };
                s.ris &= !(value & !(regs::INT_TX | keep));
            }
            _ => {}
        }
        self.update_irq();
    }

    fn poll(&self) {
        console::poll_input();
    }

    fn flush(&self) {
        let line = core::mem::take(&mut self.state.lock().line);
        if !line.is_empty() {
            self.emit(&line);
        }
    }
}

/// Console input side: a handle sharing the device's state.
struct Input(Arc<Vpl011>);

impl ConsoleInput for Input {
    fn push(&self, byte: u8) -> bool {
        let mut s = self.0.state.lock();
        if s.rx.len() >= RX_FIFO {
            return false;
        }
        s.rx.push_back(byte);
        s.ris |= regs::INT_RX;
        drop(s);
        self.0.update_irq();
        true
    }
}

/// The device handed to the domain: the shared instance.
struct Shared(Arc<Vpl011>);

impl MmioDevice for Shared {
    fn read(&self, offset: u64, size: u8) -> u64 {
        self.0.read(offset, size)
    }
    fn write(&self, offset: u64, size: u8, value: u64) {
        self.0.write(offset, size, value)
    }
    fn poll(&self) {
        self.0.poll()
    }
    fn flush(&self) {
        self.0.flush()
    }
}

fn create(domid: u16, _name: &str, irq: Arc<dyn IrqLine>) -> Box<dyn MmioDevice> {
    let dev = Arc::new(Vpl011::new(domid, irq));
    console::register_input(domid, Arc::new(Input(dev.clone())));
    Box::new(Shared(dev))
}

#[distributed_slice(VIRT_DEVICES)]
static VPL011: VirtDeviceKind = VirtDeviceKind {
    name: "vpl011",
    dt_property: "vpl011",
    base: BASE,
    size: SIZE,
    intid: SPI,
    create,
};

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "vuart-vpl011",
    kconfig: "VUART_VPL011",
    summary: "emulated SBSA UART for domains, on the hypervisor console",
    status: Status::Experimental,
    support: &[],
    init: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[derive(Default)]
    struct Line {
        level: AtomicBool,
        changes: AtomicUsize,
    }
    impl IrqLine for Line {
        fn set(&self, level: bool) {
            self.level.store(level, Ordering::SeqCst);
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_interrupt_follows_ris_and_imsc() {
        let line = Arc::new(Line::default());
        let u = Arc::new(Vpl011::new(2, line.clone()));
        let input = Input(u.clone());
        input.push(b'a');
        assert!(!line.level.load(Ordering::SeqCst), "RX masked");
        u.write(regs::IMSC, 4, regs::INT_RX);
        assert!(line.level.load(Ordering::SeqCst), "unmasking raises it");
        u.write(regs::ICR, 4, regs::INT_RX);
        assert!(line.level.load(Ordering::SeqCst), "a byte still waits");
        assert_eq!(u.read(regs::DR, 4), b'a' as u64);
        assert!(!line.level.load(Ordering::SeqCst), "drained: low");
        let changes = line.changes.load(Ordering::SeqCst);
        u.write(regs::IMSC, 4, regs::INT_RX);
        assert_eq!(
            line.changes.load(Ordering::SeqCst),
            changes,
            "no edge without a change"
        );
        u.write(regs::IMSC, 4, regs::INT_TX);
        assert!(
            line.level.load(Ordering::SeqCst),
            "TX FIFO always empty: TX interrupt when unmasked"
        );
    }

    #[test]
    fn registers_behave_like_an_sbsa_uart() {
        let u = Arc::new(Vpl011::new(3, Arc::new(tessera_core::vdev::NoIrq)));
        let input = Input(u.clone());
        assert_eq!(
            u.read(regs::FR, 4) & (regs::FR_RXFE | regs::FR_TXFE),
            regs::FR_RXFE | regs::FR_TXFE
        );
        for b in 0..40u8 {
            let took = input.push(b);
            assert_eq!(
                took,
                (b as usize) < RX_FIFO,
                "the FIFO holds {RX_FIFO} bytes"
            );
        }
        assert_ne!(u.read(regs::FR, 4) & regs::FR_RXFF, 0);
        assert_ne!(u.read(regs::RIS, 4) & regs::INT_RX, 0);
        u.write(regs::IMSC, 4, regs::INT_RX);
        assert_eq!(u.read(regs::MIS, 4), regs::INT_RX);
        for b in 0..RX_FIFO as u64 {
            assert_eq!(u.read(regs::DR, 4), b);
        }
        assert_ne!(u.read(regs::FR, 4) & regs::FR_RXFE, 0);
        assert_eq!(
            u.read(regs::RIS, 4) & regs::INT_RX,
            0,
            "RX interrupt drops with the FIFO"
        );
        assert_eq!(u.read(0xfe0, 4), 0, "identification registers read as zero");
    }

    #[test]
    fn output_is_line_buffered() {
        let u = Vpl011::new(1, Arc::new(tessera_core::vdev::NoIrq));
        for &b in b"hello\r" {
            u.write(regs::DR, 1, b as u64);
        }
        assert_eq!(u.state.lock().line, b"hello");
        for _ in 0..LINE_MAX + 5 {
            u.write(regs::DR, 1, b'x' as u64);
        }
        assert!(u.state.lock().line.len() <= LINE_MAX, "long lines are cut");
    }
}
