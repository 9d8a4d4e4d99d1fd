//! The Cadence UART of Xilinx Zynq-7000 and Zynq UltraScale+ (MPSoC) as the
//! hypervisor console. Register map and bits: Zynq-7000 TRM (UG585),
//! appendix B "UART Controller", and Zynq UltraScale+ register reference
//! (UG1087), module UART; device-tree binding: Linux
//! Documentation/devicetree/bindings/serial/cdns,uart.yaml. Polled
//! transmit (early console and console), polled receive, and an interrupt
//! path (receive and transmit rings). No unsafe code: registers go through
//! core's `Mmio`, and the tests drive a register-level model.
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

/// Registers (UG585 appendix B.33, UART Controller; UG1087 UART module).
mod regs {
    // The whole map is listed; the test model uses what the driver does not.
    #![allow(dead_code)]

    /// Control.
    pub const CR: usize = 0x00;
    /// Mode.
    pub const MR: usize = 0x04;
    /// Interrupt enable (write 1 to unmask).
    pub const IER: usize = 0x08;
    /// Interrupt disable (write 1 to mask).
    pub const IDR: usize = 0x0c;
    /// Interrupt mask (read only; 1 = enabled).
    pub const IMR: usize = 0x10;
    /// Channel interrupt status (write 1 to clear).
    pub const ISR: usize = 0x14;
    /// Baud rate generator: CD, 16 bits.
    pub const BAUDGEN: usize = 0x18;
    /// Receiver timeout, in units of 4 bit periods (0 disables it).
    pub const RXTOUT: usize = 0x1c;
    /// Receive FIFO trigger level (RTRIG, 6 bits).
    pub const RXWM: usize = 0x20;
    /// Channel status.
    pub const SR: usize = 0x2c;
    /// Transmit and receive FIFO.
    pub const FIFO: usize = 0x30;
    /// Baud rate divider: BDIV, 8 bits, 4..=255.
    pub const BAUDDIV: usize = 0x34;

    pub const CR_RXRST: u32 = 1 << 0;
    pub const CR_TXRST: u32 = 1 << 1;
    pub const CR_RX_EN: u32 = 1 << 2;
    pub const CR_RX_DIS: u32 = 1 << 3;
    pub const CR_TX_EN: u32 = 1 << 4;
    pub const CR_TX_DIS: u32 = 1 << 5;
    /// Restart the receiver timeout counter.
    pub const CR_RSTTO: u32 = 1 << 6;
    pub const CR_STPBRK: u32 = 1 << 8;

    /// MR: PAR = 1xx (no parity), CHRL = 0x (8 bits), NBSTOP = 00 (1 stop),
    /// CLKS = 0 (uart_ref_clk undivided), CHMODE = 00 (normal).
    pub const MR_8N1: u32 = 0b100 << 3;

    /// SR bits.
    pub const SR_RTRIG: u32 = 1 << 0;
    pub const SR_RXEMPTY: u32 = 1 << 1;
    pub const SR_RXFULL: u32 = 1 << 2;
    pub const SR_TXEMPTY: u32 = 1 << 3;
    pub const SR_TXFULL: u32 = 1 << 4;
    /// Transmitter state machine active (a byte is being shifted out).
    pub const SR_TACTIVE: u32 = 1 << 11;

    /// Interrupt bits, shared by IER, IDR, IMR and ISR.
    pub const I_RTRIG: u32 = 1 << 0;
    pub const I_REMPTY: u32 = 1 << 1;
    pub const I_RFUL: u32 = 1 << 2;
    pub const I_TEMPTY: u32 = 1 << 3;
    pub const I_TFUL: u32 = 1 << 4;
    pub const I_ROVR: u32 = 1 << 5;
    pub const I_FRAME: u32 = 1 << 6;
    pub const I_PARE: u32 = 1 << 7;
    pub const I_TIMEOUT: u32 = 1 << 8;
    pub const I_TOVR: u32 = 1 << 12;
    /// Every interrupt bit (RTRIG .. RBRK).
    pub const I_ALL: u32 = 0x3fff;
}

/// Depth of each FIFO (UG585 B.33: 64 bytes).
pub const FIFO_DEPTH: usize = 64;
const SPIN_LIMIT: u32 = 1_000_000;
/// Bytes of the receive and transmit rings.
pub const RING_SIZE: usize = UART_RING_SIZE;
const REGS_SIZE: u64 = 0x1000;
/// Receive trigger level programmed: half the FIFO.
const RX_TRIGGER: u32 = 32;
/// Receive timeout programmed: 10 x 4 bit periods (about 4 characters).
const RX_TIMEOUT: u32 = 10;
/// Interrupts used for receive: trigger level, timeout, and the error
/// events (acknowledged, the bytes are kept).
const RX_IRQS: u32 = regs::I_RTRIG | regs::I_TIMEOUT | regs::I_ROVR | regs::I_FRAME | regs::I_PARE;

/// Waits (bounded) while the transmit FIFO is full, then writes.
fn putc_raw(r: &dyn Mmio, byte: u8) {
    let mut spins = 0u32;
    while r.read32(regs::SR) & regs::SR_TXFULL != 0 {
        spins += 1;
        if spins == SPIN_LIMIT {
            return;
        }
        core::hint::spin_loop();
    }
    r.write32(regs::FIFO, byte as u32);
}

/// The early console's output. Firmware normally leaves the UART enabled,
/// but a kernel loaded straight into RAM (QEMU's `-kernel` on xlnx-zcu102)
/// finds it at its reset state, transmitter disabled (CR = 0x128), where
/// every byte would be dropped: so the transmitter is turned on first
/// when it is off, as Xen's Cadence `early_uart_init` does. Stateless: one
/// CR read per byte, a write only while it is disabled.
fn early_putc(r: &dyn Mmio, byte: u8) {
    let cr = r.read32(regs::CR);
    if cr & regs::CR_TX_EN == 0 || cr & regs::CR_TX_DIS != 0 {
        r.write32(
            regs::CR,
            (cr & !(regs::CR_TX_DIS | regs::CR_RX_DIS | regs::CR_TXRST | regs::CR_RXRST))
                | regs::CR_TX_EN
                | regs::CR_RX_EN,
        );
    }
    putc_raw(r, byte);
}

/// The baud generator setting: baud = clock / (CD * (BDIV + 1)) (UG585
/// B.33, "Baud Rate Generator"). Searches BDIV 4..=255 for the smallest
/// error; `None` when no CD in 1..=65535 fits.
pub fn baud_divisors(clock_hz: u32, baud: u32) -> Option<(u32, u32)> {
    let (clk, baud) = (clock_hz as u64, baud as u64);
    let mut best: Option<(u64, u32, u32)> = None;
    for bdiv in 4..=255u64 {
        let cd = (clk + baud * (bdiv + 1) / 2) / (baud * (bdiv + 1));
        if !(1..=0xffff).contains(&cd) {
            continue;
        }
        let actual = clk / (cd * (bdiv + 1));
        let err = actual.abs_diff(baud);
        if best.is_none_or(|(e, _, _)| err < e) {
            best = Some((err, cd as u32, bdiv as u32));
        }
    }
    best.map(|(_, cd, bdiv)| (cd, bdiv))
}

/// What a node and the options ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `clock-frequency` (the binding names clocks by phandle; a node
    /// without this keeps firmware's divisors).
    pub clock_hz: Option<u32>,
    pub baud: Option<u32>,
    pub irq: Option<u32>,
}

/// A probed Cadence UART.
pub struct Cadence<M: Mmio> {
    regs: M,
    base: u64,
    irq: Option<u32>,
    st: UartIrq,
}

impl<M: Mmio> Cadence<M> {
    /// Takes over the UART: lets pending output leave, then 8N1, both
    /// FIFOs reset, transmitter and receiver enabled, every interrupt
    /// masked and cleared. The baud generator is programmed only when both
    /// the clock and the baud rate are known.
    pub fn new(regs: M, base: u64, cfg: &Config) -> Result<Self, UartError> {
        let divs = match (cfg.clock_hz, cfg.baud) {
            (Some(clk), Some(baud)) => Some(baud_divisors(clk, baud).ok_or(
                UartError::BadOptions("baud rate not reachable from clock-frequency"),
            )?),
            _ => None,
        };
        let u = Cadence {
            regs,
            base,
            irq: cfg.irq,
            st: UartIrq::new(),
        };
        let r = &u.regs;
        u.flush();
        r.write32(regs::IDR, regs::I_ALL);
        r.write32(
            regs::CR,
            regs::CR_RX_DIS | regs::CR_TX_DIS | regs::CR_STPBRK,
        );
        if let Some((cd, bdiv)) = divs {
            r.write32(regs::BAUDGEN, cd);
            r.write32(regs::BAUDDIV, bdiv);
        }
        r.write32(regs::MR, regs::MR_8N1);
        // The reset bits clear themselves once the FIFO is reset.
        r.write32(regs::CR, regs::CR_RXRST | regs::CR_TXRST);
        let mut spins = 0;
        while r.read32(regs::CR) & (regs::CR_RXRST | regs::CR_TXRST) != 0 && spins < SPIN_LIMIT {
            spins += 1;
        }
        r.write32(regs::RXWM, RX_TRIGGER);
        r.write32(regs::RXTOUT, RX_TIMEOUT);
        r.write32(regs::ISR, regs::I_ALL);
        r.write32(regs::CR, regs::CR_RX_EN | regs::CR_TX_EN | regs::CR_STPBRK);
        Ok(u)
    }

    /// Received bytes lost because the receive ring was full.
    pub fn rx_dropped(&self) -> u32 {
        self.st.rx_dropped()
    }

    fn drain_rx(&self, st: &mut UartIrqState) {
        for _ in 0..FIFO_DEPTH {
            if self.regs.read32(regs::SR) & regs::SR_RXEMPTY != 0 {
                break;
            }
            let b = self.regs.read32(regs::FIFO) as u8;
            if !st.rx.push(b) {
                st.rx_dropped += 1;
            }
        }
    }

    /// Fills the transmit FIFO from the ring; TEMPTY is unmasked while
    /// bytes remain, masked once the ring is empty.
    fn refill_tx(&self, st: &mut UartIrqState) {
        let r = &self.regs;
        for _ in 0..FIFO_DEPTH {
            if st.tx.is_empty() || r.read32(regs::SR) & regs::SR_TXFULL != 0 {
                break;
            }
            if let Some(b) = st.tx.pop() {
                r.write32(regs::FIFO, b as u32);
            }
        }
        if st.tx.is_empty() {
            r.write32(regs::IDR, regs::I_TEMPTY);
        } else {
            r.write32(regs::IER, regs::I_TEMPTY);
        }
    }
}

impl<M: Mmio> Uart for Cadence<M> {
    fn putc(&self, byte: u8) {
        putc_raw(&self.regs, byte);
    }
    fn getc(&self) -> Option<u8> {
        self.st.getc(|| {
            // Framing and parity errors are reported in ISR, not per byte, so
            // polled input cannot tell which byte was bad: all are returned.
            if self.regs.read32(regs::SR) & regs::SR_RXEMPTY != 0 {
                return None;
            }
            Some(self.regs.read32(regs::FIFO) as u8)
        })
    }
    fn flush(&self) {
        let mut spins = 0u32;
        while self.regs.read32(regs::SR) & (regs::SR_TXEMPTY | regs::SR_TACTIVE) != regs::SR_TXEMPTY
            && spins < SPIN_LIMIT
        {
            spins += 1;
            core::hint::spin_loop();
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
        self.regs.write32(regs::ISR, regs::I_ALL);
        self.regs.write32(regs::IER, RX_IRQS);
        true
    }
    fn disable_irqs(&self) {
        self.st.disable(
            |b| self.putc(b),
            || {
                self.regs.write32(regs::IDR, regs::I_ALL);
                self.regs.write32(regs::ISR, regs::I_ALL);
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
            let isr = r.read32(regs::ISR) & r.read32(regs::IMR);
            if isr == 0 {
                break;
            }
            // Acknowledge first: an event that happens while the FIFO is
            // being serviced latches again and is not lost.
            r.write32(regs::ISR, isr);
            if isr & RX_IRQS != 0 {
                self.drain_rx(&mut st);
            }
            if isr & regs::I_TIMEOUT != 0 {
                r.write32(
                    regs::CR,
                    regs::CR_RX_EN | regs::CR_TX_EN | regs::CR_STPBRK | regs::CR_RSTTO,
                );
            }
            if isr & regs::I_TEMPTY != 0 {
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

/// Reads `clock-frequency` and `interrupts` from the node.
pub fn config(node: &Node, options: &str) -> Result<Config, UartError> {
    let clock_hz = match node.property("clock-frequency") {
        None => None,
        Some(p) => Some(p.as_u32().ok_or(UartError::BadNode("clock-frequency"))?),
    };
    Ok(Config {
        clock_hz: clock_hz.filter(|&c| c != 0),
        baud: parse_baud(options)?,
        irq: interrupt_intid(node)?,
    })
}

fn probe(
    node: &Node,
    regs: MmioRegion,
    base: u64,
    options: &str,
) -> Result<Box<dyn Uart>, UartError> {
    let cfg = config(node, options)?;
    Ok(Box::new(Cadence::new(regs, base, &cfg)?))
}

#[distributed_slice(UART_DRIVERS)]
static CADENCE: UartDriver = UartDriver {
    name: "cadence",
    // cdns,uart.yaml: "xlnx,xuartps" + "cdns,uart-r1p8" (Zynq-7000),
    // "xlnx,zynqmp-uart" + "cdns,uart-r1p12" (ZynqMP); Xen matches the
    // two generic ones.
    compatible: &[
        "cdns,uart-r1p8",
        "cdns,uart-r1p12",
        "xlnx,xuartps",
        "xlnx,zynqmp-uart",
    ],
    regs_size: REGS_SIZE,
    probe,
    early_putc,
};

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "uart-cadence",
    kconfig: "UART_CADENCE",
    summary: "Cadence UART console (Xilinx Zynq, ZynqMP)",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Host serial console",
        qualifier: Some("Cadence UART (ARM)"),
        status: Status::Experimental,
        tests: &[
            "unit:tessera-uart-cadence::tests::init_programs_8n1_and_the_divisors",
            "unit:tessera-uart-cadence::tests::init_keeps_firmware_divisors_without_a_clock",
            "unit:tessera-uart-cadence::tests::polled_output_and_input_follow_sr",
            "unit:tessera-uart-cadence::tests::irq_drains_rx_into_the_ring_and_refills_tx",
            "unit:tessera-uart-cadence::tests::drain_and_disable_write_the_ring_out_in_order",
            "unit:tessera-uart-cadence::tests::early_uart_from_the_registry_writes_polled",
            "unit:tessera-uart-cadence::tests::early_uart_enables_a_transmitter_left_at_reset",
            "unit:tessera-uart-cadence::tests::full_fifo_gives_up_instead_of_hanging",
            "unit:tessera-uart-cadence::tests::node_properties_are_validated",
            "scenario:zcu102-boot",
            "scenario:zcu102-guest-irq",
        ],
        note: "Polled and interrupt-driven I/O, early console included; tested against a register model and as the console (output by its TX interrupt, input by RX) on QEMU's xlnx-zcu102; not on hardware.",
    }],
    init: None,
};

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
    use std::vec::Vec;
    use tessera_core::fdt::Fdt;
    use tessera_core::fdt_write::FdtWriter;

    /// A register-level model of the Cadence UART (UG585 B.33): 64-byte
    /// FIFOs; SR RXEMPTY/RXFULL/RTRIG/TXEMPTY/TXFULL/TACTIVE from the FIFO
    /// and shifter state; ISR bits latched on every state change while
    /// their condition holds (and on overflow and timeout events), cleared
    /// by writing 1; IMR set by IER, cleared by IDR; the interrupt line is
    /// ISR & IMR; CR enables with "disable wins", self-clearing FIFO
    /// resets. Each SR read lets one byte go out on the line (time passes
    /// while the driver polls) unless `stuck`.
    #[derive(Clone)]
    struct Model(Arc<StdMutex<State>>);

    struct State {
        cr: u32,
        mr: u32,
        imr: u32,
        isr: u32,
        baudgen: u32,
        bauddiv: u32,
        rxtout: u32,
        rxwm: u32,
        rx: VecDeque<u8>,
        tx: VecDeque<u8>,
        shifter: Option<u8>,
        wire: Vec<u8>,
        stuck: bool,
    }

    impl State {
        fn rx_on(&self) -> bool {
            self.cr & regs::CR_RX_EN != 0 && self.cr & regs::CR_RX_DIS == 0
        }
        fn tx_on(&self) -> bool {
            self.cr & regs::CR_TX_EN != 0 && self.cr & regs::CR_TX_DIS == 0
        }
        fn sr(&self) -> u32 {
            let mut v = 0;
            if self.rxwm > 0 && self.rx.len() >= self.rxwm as usize {
                v |= regs::SR_RTRIG;
            }
            if self.rx.is_empty() {
                v |= regs::SR_RXEMPTY;
            }
            if self.rx.len() == FIFO_DEPTH {
                v |= regs::SR_RXFULL;
            }
            if self.tx.is_empty() {
                v |= regs::SR_TXEMPTY;
            }
            if self.tx.len() == FIFO_DEPTH {
                v |= regs::SR_TXFULL;
            }
            if self.shifter.is_some() {
                v |= regs::SR_TACTIVE;
            }
            v
        }
        /// Level conditions latch into ISR (SR bits 4:0 map to ISR 4:0).
        fn update(&mut self) {
            self.isr |= self.sr() & 0x1f;
        }
        fn tick(&mut self) {
            if self.stuck {
                return;
            }
            if let Some(b) = self.shifter.take() {
                self.wire.push(b);
            }
            if self.tx_on() {
                self.shifter = self.tx.pop_front();
            }
            self.update();
        }
        fn read(&mut self, off: usize) -> u32 {
            match off {
                regs::CR => self.cr,
                regs::MR => self.mr,
                regs::IMR => self.imr,
                regs::ISR => self.isr,
                regs::BAUDGEN => self.baudgen,
                regs::BAUDDIV => self.bauddiv,
                regs::RXTOUT => self.rxtout,
                regs::RXWM => self.rxwm,
                regs::SR => {
                    let v = self.sr();
                    self.tick();
                    v
                }
                regs::FIFO => {
                    let b = self.rx.pop_front().unwrap_or(0);
                    self.update();
                    b as u32
                }
                _ => 0,
            }
        }
        fn write(&mut self, off: usize, v: u32) {
            match off {
                regs::CR => {
                    if v & regs::CR_RXRST != 0 {
                        self.rx.clear();
                    }
                    if v & regs::CR_TXRST != 0 {
                        self.tx.clear();
                    }
                    // Reset and RSTTO bits clear themselves.
                    self.cr = v & !(regs::CR_RXRST | regs::CR_TXRST | regs::CR_RSTTO);
                }
                regs::MR => self.mr = v,
                regs::IER => self.imr |= v & regs::I_ALL,
                regs::IDR => self.imr &= !v,
                regs::ISR => self.isr &= !v,
                regs::BAUDGEN => self.baudgen = v & 0xffff,
                regs::BAUDDIV => self.bauddiv = v & 0xff,
                regs::RXTOUT => self.rxtout = v & 0xff,
                regs::RXWM => self.rxwm = v & 0x3f,
                regs::FIFO => {
                    if self.tx.len() == FIFO_DEPTH {
                        self.isr |= regs::I_TOVR; // the byte is lost
                    } else {
                        self.tx.push_back(v as u8);
                    }
                }
                _ => {}
            }
            self.update();
        }
    }

    impl Model {
        fn new() -> Self {
            // Reset values (UG585 B.33).
            Model(Arc::new(StdMutex::new(State {
                cr: 0x128,
                mr: 0,
                imr: 0,
                isr: 0,
                baudgen: 0x28b,
                bauddiv: 0xf,
                rxtout: 0,
                rxwm: 0x20,
                rx: VecDeque::new(),
                tx: VecDeque::new(),
                shifter: None,
                wire: Vec::new(),
                stuck: false,
            })))
        }
        fn st(&self) -> MutexGuard<'_, State> {
            self.0.lock().unwrap()
        }
        fn receive(&self, bytes: &[u8]) {
            let mut s = self.st();
            for &b in bytes {
                if !s.rx_on() {
                    continue;
                }
                if s.rx.len() == FIFO_DEPTH {
                    s.isr |= regs::I_ROVR;
                } else {
                    s.rx.push_back(b);
                }
            }
            s.update();
        }
        /// The line stays quiet for RXTOUT x 4 bit periods.
        fn idle(&self) {
            let mut s = self.st();
            if s.rxtout != 0 && !s.rx.is_empty() {
                s.isr |= regs::I_TIMEOUT;
            }
            s.tick();
        }
        fn irq_line(&self) -> bool {
            let s = self.st();
            s.isr & s.imr != 0
        }
    }

    impl Mmio for Model {
        fn read32(&self, off: usize) -> u32 {
            self.st().read(off)
        }
        fn write32(&self, off: usize, v: u32) {
            self.st().write(off, v)
        }
        fn read8(&self, _: usize) -> u8 {
            unreachable!("Cadence UART registers are accessed 32 bits wide")
        }
        fn write8(&self, _: usize, _: u8) {
            unreachable!("Cadence UART registers are accessed 32 bits wide")
        }
        fn len(&self) -> usize {
            REGS_SIZE as usize
        }
    }

    fn cfg(clock_hz: Option<u32>, baud: Option<u32>) -> Config {
        Config {
            clock_hz,
            baud,
            irq: Some(53),
        }
    }

    #[test]
    fn init_programs_8n1_and_the_divisors() {
        let m = Model::new();
        m.st().imr = regs::I_ALL;
        m.st().rx.extend(*b"junk");
        let _u = Cadence::new(
            m.clone(),
            0xff00_0000,
            &cfg(Some(100_000_000), Some(115_200)),
        )
        .unwrap();
        let s = m.st();
        let (cd, bdiv) = (s.baudgen, s.bauddiv);
        let actual = 100_000_000 / (cd * (bdiv + 1));
        assert!((4..=255).contains(&bdiv));
        assert!(
            actual.abs_diff(115_200) * 1000 / 115_200 < 5,
            "{cd} {bdiv} -> {actual}"
        );
        assert_eq!(s.mr, regs::MR_8N1);
        assert!(s.rx_on() && s.tx_on());
        assert_eq!(
            (s.imr, s.isr & !0x1f),
            (0, 0),
            "masked, nothing latched but status"
        );
        assert!(s.rx.is_empty(), "FIFO reset");
        assert_eq!((s.rxwm, s.rxtout), (RX_TRIGGER, RX_TIMEOUT));
        // The 50 MHz Zynq-7000 reference: 115200 exactly reachable within 0.5%.
        let (cd, bdiv) = baud_divisors(50_000_000, 115_200).unwrap();
        assert!((50_000_000 / (cd * (bdiv + 1))).abs_diff(115_200) < 600);
        assert_eq!(baud_divisors(100, 115_200), None);
    }

    #[test]
    fn init_keeps_firmware_divisors_without_a_clock() {
        let m = Model::new();
        {
            let mut s = m.st();
            (s.baudgen, s.bauddiv, s.cr) = (124, 6, regs::CR_RX_EN | regs::CR_TX_EN);
            s.tx.extend(*b"fw");
        }
        Cadence::new(m.clone(), 0, &cfg(None, Some(115_200))).unwrap();
        let s = m.st();
        assert_eq!((s.baudgen, s.bauddiv, s.mr), (124, 6, regs::MR_8N1));
        assert_eq!(s.wire, b"fw", "early output left before the FIFO reset");
    }

    #[test]
    fn polled_output_and_input_follow_sr() {
        let m = Model::new();
        let u = Cadence::new(m.clone(), 0, &cfg(None, None)).unwrap();
        assert_eq!(m.st().sr() & (regs::SR_TXEMPTY | regs::SR_RXEMPTY), 0xa);
        u.write(b"hi\n");
        u.flush();
        assert_eq!(m.st().wire, b"hi\r\n");
        m.receive(b"ab");
        assert_eq!(m.st().sr() & regs::SR_RXEMPTY, 0);
        assert_eq!(u.getc(), Some(b'a'));
        assert_eq!(u.getc(), Some(b'b'));
        assert_eq!(u.getc(), None);
        // Fill the TX FIFO with the line stopped: TXFULL follows the level.
        m.st().stuck = true;
        for i in 0..FIFO_DEPTH as u8 {
            u.putc(i);
        }
        assert_ne!(m.st().sr() & regs::SR_TXFULL, 0);
        assert_eq!(m.st().isr & regs::I_TOVR, 0, "never written while full");
    }

    /// The console's polled paths (`sync_console`, a full ring, the crash
    /// path) first write out what the transmit ring holds, in order.
    #[test]
    fn drain_and_disable_write_the_ring_out_in_order() {
        let m = Model::new();
        let u = Cadence::new(m.clone(), 0, &cfg(None, None)).unwrap();
        assert!(u.enable_irqs());
        let msg: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        assert_eq!(u.queue_tx(&msg), 200);
        assert!(u.st.tx_queued() > 0, "the FIFO took only part");
        u.drain_tx();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(
            m.st().imr & regs::I_TEMPTY == 0,
            "transmit interrupt masked, ring empty"
        );
        let tail: Vec<u8> = (0..150u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(u.queue_tx(&tail), 150);
        u.disable_irqs();
        u.flush();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(m.st().imr == 0);
        let mut want = msg.clone();
        want.extend_from_slice(&tail);
        assert_eq!(m.st().wire, want, "nothing lost, nothing reordered");
    }

    /// The Kconfig early UART: core finds the driver by the name Kconfig
    /// gives (`EARLY_UART_DRIVER`) and prints through its polled
    /// `early_putc` on a UART firmware set up (here: the driver's own
    /// init stands in for firmware).
    #[test]
    fn early_uart_from_the_registry_writes_polled() {
        for name in ["cadence"] {
            let m = Model::new();
            let u = Cadence::new(m.clone(), 0, &cfg(None, None)).unwrap();
            let d = tessera_core::uart::early_driver(&UART_DRIVERS, name, 0x1c09_0000)
                .unwrap_or_else(|| panic!("{name} is not in the registry"));
            assert!(tessera_core::uart::early_driver(&UART_DRIVERS, name, 0).is_none());
            for &b in b"early\n" {
                (d.early_putc)(&m, b);
            }
            u.flush();
            assert_eq!(m.st().wire, b"early\n", "{name}");
        }
    }

    /// Straight out of reset (transmitter disabled, as QEMU's -kernel
    /// boot leaves it) the early console turns the transmitter on, and
    /// leaves an enabled one alone.
    #[test]
    fn early_uart_enables_a_transmitter_left_at_reset() {
        let m = Model::new();
        let d = tessera_core::uart::early_driver(&UART_DRIVERS, "cadence", 0xff00_0000).unwrap();
        for &b in b"from reset\n" {
            (d.early_putc)(&m, b);
        }
        while m.st().shifter.is_some() || !m.st().tx.is_empty() {
            let _ = m.read32(regs::SR);
        }
        assert_eq!(m.st().wire, b"from reset\n");
        let cr = m.st().cr;
        assert_eq!(cr & (regs::CR_TX_EN | regs::CR_TX_DIS), regs::CR_TX_EN);
        m.st().cr = regs::CR_TX_EN | regs::CR_RX_EN | regs::CR_STPBRK;
        (d.early_putc)(&m, b'x');
        assert_eq!(m.st().cr, regs::CR_TX_EN | regs::CR_RX_EN | regs::CR_STPBRK);
    }

    #[test]
    fn irq_drains_rx_into_the_ring_and_refills_tx() {
        let m = Model::new();
        let u = Cadence::new(m.clone(), 0, &cfg(None, None)).unwrap();
        assert_eq!(u.irq(), Some(53));
        assert!(u.enable_irqs());
        assert_eq!(m.st().imr, RX_IRQS);
        assert!(!m.irq_line());
        // Below the trigger level: the receive timeout raises it.
        m.receive(b"hello");
        assert!(!m.irq_line());
        m.idle();
        assert!(m.irq_line());
        u.handle_irq();
        assert!(!m.irq_line(), "TIMEOUT acknowledged");
        // At the trigger level (32): RTRIG.
        let burst: Vec<u8> = (0..40).collect();
        m.receive(&burst);
        assert!(m.irq_line());
        assert_ne!(m.st().isr & regs::I_RTRIG, 0);
        u.handle_irq();
        assert!(!m.irq_line());
        let got: Vec<u8> = core::iter::from_fn(|| u.getc()).collect();
        assert_eq!(&got[..5], b"hello");
        assert_eq!(&got[5..], &burst[..]);
        // An overrun is acknowledged too.
        m.receive(&[7; 70]);
        u.handle_irq();
        assert!(!m.irq_line());
        assert_eq!(core::iter::from_fn(|| u.getc()).count(), FIFO_DEPTH);

        // Transmit 200 bytes: 64 go straight into the FIFO, TEMPTY refills.
        let msg: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        assert_eq!(u.queue_tx(&msg), 200);
        assert_eq!(
            u.st.lock().tx.len(),
            200 - FIFO_DEPTH,
            "one FIFO's worth written"
        );
        assert_ne!(m.st().imr & regs::I_TEMPTY, 0);
        for _ in 0..1000 {
            if m.irq_line() {
                u.handle_irq();
            } else {
                m.st().tick();
            }
        }
        assert_eq!(m.st().wire, msg);
        assert_eq!(
            m.st().imr & regs::I_TEMPTY,
            0,
            "TEMPTY masked once the ring is empty"
        );
        assert!(!m.irq_line());
        assert_eq!(m.st().isr & regs::I_TOVR, 0);

        u.disable_irqs();
        assert_eq!(m.st().imr, 0);
    }

    #[test]
    fn full_fifo_gives_up_instead_of_hanging() {
        let m = Model::new();
        let u = Cadence::new(m.clone(), 0, &cfg(None, None)).unwrap();
        {
            let mut s = m.st();
            s.stuck = true;
            s.tx.extend([0u8; FIFO_DEPTH]);
        }
        u.putc(b'x');
        assert_eq!(m.st().tx.len(), FIFO_DEPTH);
        assert_eq!(m.st().isr & regs::I_TOVR, 0);
        assert!(m.st().wire.is_empty());
    }

    #[test]
    fn node_properties_are_validated() {
        let mut w = FdtWriter::new();
        w.begin_node("")
            .begin_node("serial@ff000000")
            .prop_strs("compatible", &["xlnx,zynqmp-uart", "cdns,uart-r1p12"])
            .prop_cells("interrupts", &[0, 21, 4])
            .prop_u32("clock-frequency", 100_000_000)
            .end_node()
            .begin_node("serial@ff010000")
            .prop_strs("compatible", &["xlnx,zynqmp-uart", "cdns,uart-r1p12"])
            .prop_cells("interrupts", &[0, 22])
            .end_node()
            .end_node();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let n0 = fdt.find_node("/serial@ff000000").unwrap();
        assert_eq!(
            config(&n0, "115200n8"),
            Ok(Config {
                clock_hz: Some(100_000_000),
                baud: Some(115_200),
                irq: Some(53)
            })
        );
        assert!(config(&n0, "115200e7").is_err());
        assert!(config(&n0, "x").is_err());
        let n1 = fdt.find_node("/serial@ff010000").unwrap();
        assert!(config(&n1, "").is_err(), "two-cell interrupts");
        assert!(CADENCE.compatible.contains(&"cdns,uart-r1p12"));
    }
}
