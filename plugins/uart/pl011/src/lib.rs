//! Arm PL011 UART (ARM DDI 0183) as the hypervisor console: polled
//! transmit (early console, and the console until its interrupt is on),
//! polled receive, and an interrupt path (receive and transmit rings) for
//! the `Uart` trait's interrupt methods, the reference for the other UART
//! plugins. Register access
//! goes through core's safe `Mmio`, so this crate has no unsafe code and is
//! tested against a register-level model of the device.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;

use linkme::distributed_slice;
use tessera_core::fdt::Node;
use tessera_core::hal::{Mmio, MmioRegion};
use tessera_core::registry::{Plugin, Status, SupportRow, PLUGINS};
use tessera_core::uart::{
    interrupt_intid, parse_baud, Uart, UartDriver, UartError, UartIrq, UartIrqState, UART_DRIVERS,
    UART_RING_SIZE,
};

mod regs {
    pub const DR: usize = 0x000;
    pub const FR: usize = 0x018;
    pub const IBRD: usize = 0x024;
    pub const FBRD: usize = 0x028;
    pub const LCR_H: usize = 0x02c;
    pub const CR: usize = 0x030;
    /// Interrupt FIFO level select: TX level in [2:0], RX level in [5:3].
    pub const IFLS: usize = 0x034;
    pub const IMSC: usize = 0x038;
    /// Raw interrupt status (read by the test model; the driver uses MIS).
    #[allow(dead_code)]
    pub const RIS: usize = 0x03c;
    pub const MIS: usize = 0x040;
    pub const ICR: usize = 0x044;

    pub const FR_BUSY: u32 = 1 << 3;
    pub const FR_RXFE: u32 = 1 << 4;
    pub const FR_TXFF: u32 = 1 << 5;
    pub const LCR_H_FEN: u32 = 1 << 4;
    pub const LCR_H_WLEN8: u32 = 0b11 << 5;
    pub const CR_UARTEN: u32 = 1 << 0;
    pub const CR_TXE: u32 = 1 << 8;
    pub const CR_RXE: u32 = 1 << 9;
    /// Receive errors reported in DR[11:8] (framing, parity, break, overrun).
    pub const DR_ERRORS: u32 = 0xf00;
    /// Interrupt bits of IMSC, RIS, MIS and ICR.
    pub const INT_RX: u32 = 1 << 4;
    pub const INT_TX: u32 = 1 << 5;
    pub const INT_RT: u32 = 1 << 6;
    /// Framing, parity, break and overrun error interrupts.
    pub const INT_ERRORS: u32 = 0xf << 7;
    pub const INT_ALL: u32 = 0x7ff;
    /// Both FIFO levels at 1/2 (16 of 32 bytes): the reset value.
    pub const IFLS_HALF: u32 = (0b010 << 3) | 0b010;
}

/// FIFO depth (PL011 r1p5: 32 bytes).
const FIFO_DEPTH: usize = 32;
/// Bytes of the receive and transmit rings.
pub const RING_SIZE: usize = UART_RING_SIZE;

/// Waits while the transmit FIFO is full, then writes. Bounded: a UART
/// that never drains loses output rather than hanging the hypervisor.
fn putc_raw(r: &dyn Mmio, byte: u8) {
    let mut spins = 0u32;
    while r.read32(regs::FR) & regs::FR_TXFF != 0 {
        spins += 1;
        if spins == 1_000_000 {
            return;
        }
        core::hint::spin_loop();
    }
    r.write32(regs::DR, byte as u32);
}

/// A probed PL011.
pub struct Pl011<M: Mmio> {
    regs: M,
    base: u64,
    irq: Option<u32>,
    st: UartIrq,
}

impl<M: Mmio> Pl011<M> {
    /// Takes over a PL011. When firmware left it enabled (the usual case
    /// with a `stdout-path`), its baud rate is kept; otherwise it is set up
    /// for 8N1 with FIFOs from `clock_hz` and `baud` when both are known.
    pub fn new(regs: M, base: u64, clock_hz: Option<u32>, baud: Option<u32>) -> Self {
        let cr = regs.read32(regs::CR);
        if cr & regs::CR_UARTEN == 0 {
            if let (Some(clk), Some(baud)) = (clock_hz, baud) {
                // Divisor = clk / (16 * baud), with 6 fractional bits.
                let div64 = (clk as u64 * 4 + baud as u64 / 2) / baud as u64; // 64 * clk / (16 * baud), rounded
                regs.write32(regs::IBRD, (div64 >> 6) as u32);
                regs.write32(regs::FBRD, (div64 & 0x3f) as u32);
            }
            regs.write32(regs::LCR_H, regs::LCR_H_WLEN8 | regs::LCR_H_FEN);
        }
        // Polled: no interrupts, none pending.
        regs.write32(regs::IMSC, 0);
        regs.write32(regs::ICR, 0x7ff);
        regs.write32(regs::CR, regs::CR_UARTEN | regs::CR_TXE | regs::CR_RXE);
        Pl011 {
            regs,
            base,
            irq: None,
            st: UartIrq::new(),
        }
    }

    /// The same UART with the INTID its node's `interrupts` names.
    pub fn with_irq(mut self, irq: Option<u32>) -> Self {
        self.irq = irq;
        self
    }

    /// Received bytes lost because the receive ring was full.
    pub fn rx_dropped(&self) -> u32 {
        self.st.rx_dropped()
    }

    /// Fills the transmit FIFO from the ring while it has room. The PL011
    /// raises TXRIS only when the FIFO level drops through the trigger, so
    /// the first bytes are written here rather than waiting for an
    /// interrupt; TXIM stays unmasked while bytes remain.
    fn refill_tx(&self, st: &mut UartIrqState) {
        let r = &self.regs;
        for _ in 0..FIFO_DEPTH {
            if st.tx.is_empty() || r.read32(regs::FR) & regs::FR_TXFF != 0 {
                break;
            }
            if let Some(b) = st.tx.pop() {
                r.write32(regs::DR, b as u32);
            }
        }
        let imsc = r.read32(regs::IMSC);
        let want = if st.tx.is_empty() {
            imsc & !regs::INT_TX
        } else {
            imsc | regs::INT_TX
        };
        if want != imsc {
            r.write32(regs::IMSC, want);
        }
    }
}

impl<M: Mmio> Uart for Pl011<M> {
    fn putc(&self, byte: u8) {
        putc_raw(&self.regs, byte);
    }
    fn getc(&self) -> Option<u8> {
        self.st.getc(|| {
            if self.regs.read32(regs::FR) & regs::FR_RXFE != 0 {
                return None;
            }
            let dr = self.regs.read32(regs::DR);
            if dr & regs::DR_ERRORS != 0 {
                return None; // a byte received with an error is dropped
            }
            Some(dr as u8)
        })
    }
    fn flush(&self) {
        let mut spins = 0u32;
        while self.regs.read32(regs::FR) & regs::FR_BUSY != 0 && spins < 1_000_000 {
            spins += 1;
        }
    }
    fn base(&self) -> u64 {
        self.base
    }
    fn irq(&self) -> Option<u32> {
        self.irq
    }
    fn enable_irqs(&self) -> bool {
        if self.irq.is_none() {
            return false;
        }
        let mut st = self.st.lock();
        st.on = true;
        self.regs.write32(regs::IFLS, regs::IFLS_HALF);
        self.regs.write32(regs::ICR, regs::INT_ALL);
        self.regs
            .write32(regs::IMSC, regs::INT_RX | regs::INT_RT | regs::INT_ERRORS);
        true
    }
    fn disable_irqs(&self) {
        self.st.disable(
            |b| self.putc(b),
            || {
                self.regs.write32(regs::IMSC, 0);
                self.regs.write32(regs::ICR, regs::INT_ALL);
            },
        );
    }
    fn handle_irq(&self) {
        let mut st = self.st.lock();
        if !st.on {
            return;
        }
        let r = &self.regs;
        for _ in 0..16 {
            let mis = r.read32(regs::MIS);
            if mis == 0 {
                break;
            }
            // Acknowledge first: RX stays asserted while the FIFO is at
            // its level anyway, and an edge that comes while the FIFOs are
            // serviced is not lost.
            r.write32(regs::ICR, mis);
            if mis & (regs::INT_RX | regs::INT_RT | regs::INT_ERRORS) != 0 {
                for _ in 0..FIFO_DEPTH {
                    if r.read32(regs::FR) & regs::FR_RXFE != 0 {
                        break;
                    }
                    let dr = r.read32(regs::DR);
                    if dr & regs::DR_ERRORS == 0 && !st.rx.push(dr as u8) {
                        st.rx_dropped += 1;
                    }
                }
            }
            if mis & regs::INT_TX != 0 {
                self.refill_tx(&mut st);
            }
        }
    }
    fn queue_tx(&self, bytes: &[u8]) -> usize {
        self.st
            .queue_tx(bytes, |b| self.putc(b), |st| self.refill_tx(st))
    }
    fn drain_tx(&self) {
        self.st.drain_tx(|b| self.putc(b), |st| self.refill_tx(st));
    }
}

fn probe(
    node: &Node,
    regs: MmioRegion,
    base: u64,
    options: &str,
) -> Result<Box<dyn Uart>, UartError> {
    let baud = parse_baud(options)?;
    // Clock from a fixed-clock "clocks" phandle is left to the firmware's
    // setup today: a PL011 that is not already enabled is programmed only
    // when the node gives `clock-frequency`.
    let clk = node.property("clock-frequency").and_then(|p| p.as_u32());
    let irq = interrupt_intid(node)?;
    Ok(Box::new(Pl011::new(regs, base, clk, baud).with_irq(irq)))
}

#[distributed_slice(UART_DRIVERS)]
static PL011: UartDriver = UartDriver {
    name: "pl011",
    compatible: &["arm,pl011", "arm,sbsa-uart"],
    regs_size: 0x1000,
    probe,
    early_putc: putc_raw,
};

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "uart-pl011",
    kconfig: "UART_PL011",
    summary: "Arm PL011 UART console (interrupt-driven RX and TX)",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Host serial console",
        qualifier: Some("PL011 UART (ARM)"),
        status: Status::Experimental,
        tests: &[
            "scenario:boot-banner",
            "scenario:debug-keys",
            "unit:tessera-uart-pl011::tests::model_sees_8n1_output_and_input",
            "unit:tessera-uart-pl011::tests::irq_drains_rx_into_the_ring_and_refills_tx",
            "unit:tessera-uart-pl011::tests::drain_and_disable_write_the_ring_out_in_order",
            "unit:tessera-uart-pl011::tests::early_uart_from_the_registry_writes_polled",
        ],
        note: "Polled output until its interrupt is on, then output queued in a transmit ring drained by the TX interrupt (polled again with sync_console and on the crash path); input by the RX interrupt, which feeds CTRL-a focus switching, debug keys and the focused domain's vpl011. Tested on QEMU virt and against a register model.",
    }],
    init: None,
};

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::vec::Vec;

    /// A register-level model of the PL011: 32-entry FIFOs, FR status bits
    /// from FIFO levels, CR gating of TX and RX; RXRIS while the receive
    /// FIFO is at its IFLS level, RTRIS on a receive timeout, TXRIS when
    /// the transmit FIFO drains through its level (cleared by ICR or by
    /// filling above it), MIS = RIS & IMSC.
    #[derive(Default)]
    struct Model {
        s: Mutex<State>,
    }
    #[derive(Default)]
    struct State {
        cr: u32,
        lcr_h: u32,
        ibrd: u32,
        fbrd: u32,
        imsc: u32,
        ifls: u32,
        /// Latched RTRIS/TXRIS (RXRIS is a level, computed).
        ris: u32,
        tx: Vec<u8>,
        tx_fifo_busy: usize,
        rx: VecDeque<u32>,
        /// Time passes while the driver polls: each FR read sends a byte.
        drain_on_poll: bool,
    }
    impl Mmio for Model {
        fn read32(&self, off: usize) -> u32 {
            let mut s = self.s.lock().unwrap();
            match off {
                regs::DR => 0,
                regs::FR => {
                    if s.drain_on_poll {
                        s.send_one();
                    }
                    let mut fr = 0;
                    if s.rx.is_empty() {
                        fr |= regs::FR_RXFE;
                    }
                    if s.tx_fifo_busy >= 32 {
                        fr |= regs::FR_TXFF;
                    }
                    fr
                }
                regs::CR => s.cr,
                regs::LCR_H => s.lcr_h,
                regs::IBRD => s.ibrd,
                regs::FBRD => s.fbrd,
                regs::IMSC => s.imsc,
                regs::IFLS => s.ifls,
                regs::RIS => s.ris(),
                regs::MIS => s.ris() & s.imsc,
                _ => 0,
            }
        }
        fn write32(&self, off: usize, v: u32) {
            let mut s = self.s.lock().unwrap();
            match off {
                regs::DR => {
                    assert!(s.tx_fifo_busy < 32, "write to a full TX FIFO");
                    if s.cr & (regs::CR_UARTEN | regs::CR_TXE) == regs::CR_UARTEN | regs::CR_TXE {
                        s.tx.push(v as u8);
                    }
                    s.tx_fifo_busy += 1;
                    if s.tx_fifo_busy > s.tx_level() {
                        s.ris &= !regs::INT_TX;
                    }
                }
                regs::CR => s.cr = v,
                regs::LCR_H => s.lcr_h = v,
                regs::IBRD => s.ibrd = v,
                regs::FBRD => s.fbrd = v,
                regs::IMSC => s.imsc = v & regs::INT_ALL,
                regs::IFLS => s.ifls = v & 0x3f,
                regs::ICR => s.ris &= !v,
                _ => {}
            }
        }
        fn read8(&self, _: usize) -> u8 {
            unreachable!("PL011 registers are 32-bit")
        }
        fn write8(&self, _: usize, _: u8) {
            unreachable!("PL011 registers are 32-bit")
        }
        fn len(&self) -> usize {
            0x1000
        }
    }

    impl State {
        /// IFLS levels: 1/8, 1/4, 1/2, 3/4, 7/8 of 32.
        fn level(code: u32) -> usize {
            [4, 8, 16, 24, 28][(code as usize).min(4)]
        }
        fn tx_level(&self) -> usize {
            Self::level(self.ifls & 7)
        }
        fn ris(&self) -> u32 {
            let mut v = self.ris;
            if self.rx.len() >= Self::level((self.ifls >> 3) & 7) {
                v |= regs::INT_RX;
            }
            v
        }
        /// The transmitter sends one byte from the FIFO.
        fn send_one(&mut self) {
            if self.tx_fifo_busy > 0 {
                self.tx_fifo_busy -= 1;
                if self.tx_fifo_busy == self.tx_level() {
                    self.ris |= regs::INT_TX;
                }
            }
        }
    }

    /// Reads of DR pop the RX FIFO: modelled by a wrapper so read32 can
    /// mutate.
    struct WithRx<'a>(&'a Model);
    impl Mmio for WithRx<'_> {
        fn read32(&self, off: usize) -> u32 {
            if off == regs::DR {
                let mut s = self.0.s.lock().unwrap();
                if s.rx.len() <= 1 {
                    s.ris &= !regs::INT_RT; // cleared once the FIFO is empty
                }
                return s.rx.pop_front().unwrap_or(0);
            }
            self.0.read32(off)
        }
        fn write32(&self, off: usize, v: u32) {
            self.0.write32(off, v)
        }
        fn read8(&self, o: usize) -> u8 {
            self.0.read8(o)
        }
        fn write8(&self, o: usize, v: u8) {
            self.0.write8(o, v)
        }
        fn len(&self) -> usize {
            0x1000
        }
    }

    #[test]
    fn model_sees_8n1_output_and_input() {
        let m = Model::default();
        let u = Pl011::new(WithRx(&m), 0x900_0000, Some(24_000_000), Some(115_200));
        {
            let s = m.s.lock().unwrap();
            // 24 MHz / (16 * 115200) = 13.0208 -> IBRD 13, FBRD round(0.0208*64) = 1
            assert_eq!((s.ibrd, s.fbrd), (13, 1));
            assert_eq!(s.lcr_h, regs::LCR_H_WLEN8 | regs::LCR_H_FEN);
            assert_eq!(s.imsc, 0);
            assert_eq!(
                s.cr & (regs::CR_UARTEN | regs::CR_TXE | regs::CR_RXE),
                0x301
            );
        }
        u.write(b"hi\n");
        assert_eq!(m.s.lock().unwrap().tx, b"hi\r\n");
        m.s.lock()
            .unwrap()
            .rx
            .extend([b'a' as u32, 0x400 | b'b' as u32, b'c' as u32]);
        assert_eq!(u.getc(), Some(b'a'));
        assert_eq!(u.getc(), None, "a byte with a framing error is dropped");
        assert_eq!(u.getc(), Some(b'c'));
        assert_eq!(u.getc(), None);
    }

    /// The console's polled paths (`sync_console`, a full ring, the crash
    /// path) first write out what the transmit ring holds, in order.
    #[test]
    fn drain_and_disable_write_the_ring_out_in_order() {
        let m = Model::default();
        m.s.lock().unwrap().drain_on_poll = true;
        let u = Pl011::new(WithRx(&m), 0x900_0000, None, None).with_irq(Some(33));
        assert!(u.enable_irqs());
        let msg: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        assert_eq!(u.queue_tx(&msg), 200);
        assert!(u.st.tx_queued() > 0, "the FIFO took only part");
        u.drain_tx();
        assert_eq!(u.st.tx_queued(), 0);
        assert_eq!(m.s.lock().unwrap().imsc & regs::INT_TX, 0, "TXIM masked");
        let tail: Vec<u8> = (0..150u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(u.queue_tx(&tail), 150);
        u.disable_irqs();
        u.flush();
        assert_eq!(u.st.tx_queued(), 0);
        assert_eq!(m.s.lock().unwrap().imsc, 0);
        let mut want = msg.clone();
        want.extend_from_slice(&tail);
        assert_eq!(
            m.s.lock().unwrap().tx,
            want,
            "nothing lost, nothing reordered"
        );
    }

    /// The Kconfig early UART: core finds the driver by the name Kconfig
    /// gives (`EARLY_UART_DRIVER`) and prints through its polled
    /// `early_putc` on a UART firmware set up (here: the driver's own
    /// init stands in for firmware).
    #[test]
    fn early_uart_from_the_registry_writes_polled() {
        let m = Model::default();
        let _u = Pl011::new(&m, 0x900_0000, None, None);
        let d = tessera_core::uart::early_driver(&UART_DRIVERS, "pl011", 0x900_0000).unwrap();
        assert!(tessera_core::uart::early_driver(&UART_DRIVERS, "", 0x900_0000).is_none());
        for &b in b"early\n" {
            (d.early_putc)(&m, b);
        }
        assert_eq!(m.s.lock().unwrap().tx, b"early\n");
    }

    #[test]
    fn irq_drains_rx_into_the_ring_and_refills_tx() {
        let m = Model::default();
        let u = Pl011::new(WithRx(&m), 0x900_0000, None, None).with_irq(Some(33));
        assert_eq!(u.irq(), Some(33));
        assert!(u.enable_irqs());
        let mis = || m.read32(regs::MIS);
        assert_eq!(
            m.s.lock().unwrap().imsc,
            regs::INT_RX | regs::INT_RT | regs::INT_ERRORS
        );
        assert_eq!(mis(), 0);
        // Three bytes, below the 16-byte level: the receive timeout.
        m.s.lock()
            .unwrap()
            .rx
            .extend([b'a' as u32, 0x400 | b'x' as u32, b'b' as u32]);
        assert_eq!(mis(), 0);
        m.s.lock().unwrap().ris |= regs::INT_RT;
        u.handle_irq();
        assert_eq!(mis(), 0);
        // Twenty bytes: at the level.
        m.s.lock()
            .unwrap()
            .rx
            .extend((0..20).map(|i| b'0' as u32 + i));
        assert_eq!(mis(), regs::INT_RX);
        u.handle_irq();
        assert_eq!(mis(), 0);
        let got: Vec<u8> = core::iter::from_fn(|| u.getc()).collect();
        assert_eq!(&got[..2], b"ab", "the byte with a framing error is dropped");
        assert_eq!(got.len(), 22);

        // 100 bytes: 32 primed into the FIFO, TXRIS refills the rest.
        let msg: Vec<u8> = (0..100).collect();
        assert_eq!(u.queue_tx(&msg), 100);
        assert_eq!(m.s.lock().unwrap().tx_fifo_busy, 32);
        assert_ne!(m.s.lock().unwrap().imsc & regs::INT_TX, 0);
        for _ in 0..500 {
            if mis() != 0 {
                u.handle_irq();
            } else {
                m.s.lock().unwrap().send_one();
            }
        }
        let s = m.s.lock().unwrap();
        assert_eq!(s.tx, msg);
        assert_eq!(
            s.imsc & regs::INT_TX,
            0,
            "TXIM masked once the ring is empty"
        );
        drop(s);
        u.disable_irqs();
        assert_eq!(m.s.lock().unwrap().imsc, 0);
    }

    #[test]
    fn full_fifo_blocks_then_gives_up_instead_of_hanging() {
        let m = Model::default();
        let u = Pl011::new(&m, 0, None, None);
        m.s.lock().unwrap().tx_fifo_busy = 32; // never drains
        u.putc(b'x');
        assert!(m.s.lock().unwrap().tx.is_empty());
    }

    impl Mmio for &Model {
        fn read32(&self, o: usize) -> u32 {
            (**self).read32(o)
        }
        fn write32(&self, o: usize, v: u32) {
            (**self).write32(o, v)
        }
        fn read8(&self, o: usize) -> u8 {
            (**self).read8(o)
        }
        fn write8(&self, o: usize, v: u8) {
            (**self).write8(o, v)
        }
        fn len(&self) -> usize {
            0x1000
        }
    }
}
