//! The Samsung Exynos 4210 UART (also in later Exynos SoCs) as the
//! hypervisor console. Register map and bits: Exynos 4210 user's manual,
//! chapter "UART" (the same block as Linux's include/linux/serial_s3c.h
//! S5PV210/S3C64XX definitions); device-tree binding: Linux
//! Documentation/devicetree/bindings/serial/samsung_uart.yaml. Polled
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

/// Registers, all accessed 32 bits wide (Exynos 4210 UM, UART register
/// description).
mod regs {
    // The whole map is listed; the test model uses what the driver does not.
    #![allow(dead_code)]

    /// Line control.
    pub const ULCON: usize = 0x00;
    /// Control.
    pub const UCON: usize = 0x04;
    /// FIFO control.
    pub const UFCON: usize = 0x08;
    /// Modem control.
    pub const UMCON: usize = 0x0c;
    /// Transmit/receive status.
    pub const UTRSTAT: usize = 0x10;
    /// Receive error status (read clears).
    pub const UERSTAT: usize = 0x14;
    /// FIFO status.
    pub const UFSTAT: usize = 0x18;
    /// Transmit buffer.
    pub const UTXH: usize = 0x20;
    /// Receive buffer.
    pub const URXH: usize = 0x24;
    /// Baud rate divisor (integer part), 16 bits.
    pub const UBRDIV: usize = 0x28;
    /// Baud rate divisor (fractional part, sixteenths), 4 bits.
    pub const UFRACVAL: usize = 0x2c;
    /// Interrupt pending: source pending and not masked; write 1 to clear.
    pub const UINTP: usize = 0x30;
    /// Interrupt source pending, regardless of the mask; write 1 to clear.
    pub const UINTSP: usize = 0x34;
    /// Interrupt mask: 1 masks.
    pub const UINTM: usize = 0x38;

    /// 8 data bits, 1 stop bit, no parity, normal (not infrared) mode.
    pub const ULCON_8N1: u32 = 0b11;

    /// Receive mode 01: interrupt request or polling.
    pub const UCON_RX_IRQ: u32 = 1 << 0;
    /// Transmit mode 01: interrupt request or polling.
    pub const UCON_TX_IRQ: u32 = 1 << 2;
    /// Receive timeout interrupt enable (FIFO below trigger, line idle).
    pub const UCON_RX_TIMEOUT: u32 = 1 << 7;
    /// Receive and transmit interrupts level-triggered (not pulse).
    pub const UCON_RX_LEVEL: u32 = 1 << 8;
    pub const UCON_TX_LEVEL: u32 = 1 << 9;
    /// Receive timeout interval UCON[15:12]: 8 * (n + 1) frames.
    pub const UCON_RX_TIMEOUT_3: u32 = 3 << 12;

    pub const UFCON_FIFO_EN: u32 = 1 << 0;
    /// FIFO resets, cleared by the device when done.
    pub const UFCON_RX_RESET: u32 = 1 << 1;
    pub const UFCON_TX_RESET: u32 = 1 << 2;

    /// Receive buffer holds data.
    pub const UTRSTAT_RXDR: u32 = 1 << 0;
    /// Transmit buffer (FIFO) empty.
    pub const UTRSTAT_TXFE: u32 = 1 << 1;
    /// Transmitter empty: FIFO and shift register.
    pub const UTRSTAT_TXE: u32 = 1 << 2;

    pub const UERSTAT_OVERRUN: u32 = 1 << 0;
    pub const UERSTAT_PARITY: u32 = 1 << 1;
    pub const UERSTAT_FRAME: u32 = 1 << 2;
    pub const UERSTAT_BREAK: u32 = 1 << 3;

    pub const UFSTAT_RX_COUNT: u32 = 0xff;
    pub const UFSTAT_RX_FULL: u32 = 1 << 8;
    pub const UFSTAT_TX_COUNT_SHIFT: u32 = 16;
    pub const UFSTAT_TX_COUNT: u32 = 0xff << 16;
    pub const UFSTAT_TX_FULL: u32 = 1 << 24;

    /// Interrupt bits of UINTP, UINTSP and UINTM.
    pub const INT_RXD: u32 = 1 << 0;
    pub const INT_ERROR: u32 = 1 << 1;
    pub const INT_TXD: u32 = 1 << 2;
    pub const INT_MODEM: u32 = 1 << 3;
    pub const INT_ALL: u32 = 0xf;
}

const SPIN_LIMIT: u32 = 1_000_000;
/// Bytes of the receive and transmit rings.
pub const RING_SIZE: usize = UART_RING_SIZE;
const REGS_SIZE: u64 = 0x100;

/// Waits (bounded) while the transmit FIFO is full, then writes.
fn putc_raw(r: &dyn Mmio, byte: u8) {
    let mut spins = 0u32;
    while r.read32(regs::UFSTAT) & regs::UFSTAT_TX_FULL != 0 {
        spins += 1;
        if spins == SPIN_LIMIT {
            return;
        }
        core::hint::spin_loop();
    }
    r.write32(regs::UTXH, byte as u32);
}

/// UBRDIV and UFRACVAL for a clock and baud rate: DIV_VAL = clock / (16 *
/// baud) - 1, UBRDIV its integer part, UFRACVAL its fraction in
/// sixteenths (Exynos 4210 UM, "Baud-Rate Generator"), rounded to the
/// nearest sixteenth.
pub fn baud_divisors(clock_hz: u32, baud: u32) -> Option<(u32, u32)> {
    let sixteenths = (clock_hz as u64 + baud as u64 / 2) / baud as u64;
    let div = sixteenths.checked_sub(16)?;
    let (int, frac) = (div / 16, div % 16);
    (int <= 0xffff).then_some((int as u32, frac as u32))
}

/// What a node and the options ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `clock-frequency` (the binding names clocks by phandle; a node
    /// without this keeps firmware's divisor).
    pub clock_hz: Option<u32>,
    pub baud: Option<u32>,
    /// `samsung,uart-fifosize`: 16, 64 or 256; 16 (the smallest, the
    /// Exynos 4210's UART2/3) when absent.
    pub fifo_size: u32,
    pub irq: Option<u32>,
}

/// A probed Exynos 4210 UART.
pub struct Exynos4210<M: Mmio> {
    regs: M,
    base: u64,
    fifo: usize,
    irq: Option<u32>,
    st: UartIrq,
}

impl<M: Mmio> Exynos4210<M> {
    /// Takes over the UART: lets pending output leave, masks and clears
    /// every interrupt, 8N1, FIFOs reset and enabled (receive trigger at
    /// the lowest level, transmit trigger at empty), receive timeout on,
    /// level-triggered interrupts. The divisor is programmed only when both
    /// the clock and the baud rate are known.
    pub fn new(regs: M, base: u64, cfg: &Config) -> Result<Self, UartError> {
        let divs = match (cfg.clock_hz, cfg.baud) {
            (Some(clk), Some(baud)) => Some(baud_divisors(clk, baud).ok_or(
                UartError::BadOptions("baud rate not reachable from clock-frequency"),
            )?),
            _ => None,
        };
        let u = Exynos4210 {
            regs,
            base,
            fifo: cfg.fifo_size as usize,
            irq: cfg.irq,
            st: UartIrq::new(),
        };
        let r = &u.regs;
        u.flush();
        r.write32(regs::UINTM, regs::INT_ALL);
        r.write32(regs::UCON, 0);
        if let Some((int, frac)) = divs {
            r.write32(regs::UBRDIV, int);
            r.write32(regs::UFRACVAL, frac);
        }
        r.write32(regs::ULCON, regs::ULCON_8N1);
        r.write32(regs::UMCON, 0);
        r.write32(
            regs::UFCON,
            regs::UFCON_FIFO_EN | regs::UFCON_RX_RESET | regs::UFCON_TX_RESET,
        );
        let mut spins = 0;
        while r.read32(regs::UFCON) & (regs::UFCON_RX_RESET | regs::UFCON_TX_RESET) != 0
            && spins < SPIN_LIMIT
        {
            spins += 1;
        }
        r.write32(regs::UINTSP, regs::INT_ALL);
        r.write32(regs::UINTP, regs::INT_ALL);
        r.write32(
            regs::UCON,
            regs::UCON_RX_IRQ
                | regs::UCON_TX_IRQ
                | regs::UCON_RX_TIMEOUT
                | regs::UCON_RX_LEVEL
                | regs::UCON_TX_LEVEL
                | regs::UCON_RX_TIMEOUT_3,
        );
        Ok(u)
    }

    /// Received bytes lost because the receive ring was full.
    pub fn rx_dropped(&self) -> u32 {
        self.st.rx_dropped()
    }

    /// Reads one byte if the receive FIFO holds one; `Some(None)` for a
    /// byte received with a parity or framing error or a break (UERSTAT,
    /// read before URXH, describes the byte at the top of the FIFO).
    fn read_fifo(&self) -> Option<Option<u8>> {
        let fs = self.regs.read32(regs::UFSTAT);
        if fs & (regs::UFSTAT_RX_COUNT | regs::UFSTAT_RX_FULL) == 0 {
            return None;
        }
        let err = self.regs.read32(regs::UERSTAT);
        let b = self.regs.read32(regs::URXH) as u8;
        if err & (regs::UERSTAT_PARITY | regs::UERSTAT_FRAME | regs::UERSTAT_BREAK) != 0 {
            return Some(None);
        }
        Some(Some(b))
    }

    /// Fills the transmit FIFO from the ring; TXD is unmasked while bytes
    /// remain, masked once the ring is empty (with level-triggered TXD an
    /// empty FIFO would otherwise interrupt forever).
    fn refill_tx(&self, st: &mut UartIrqState) {
        let r = &self.regs;
        for _ in 0..self.fifo {
            if st.tx.is_empty() || r.read32(regs::UFSTAT) & regs::UFSTAT_TX_FULL != 0 {
                break;
            }
            if let Some(b) = st.tx.pop() {
                r.write32(regs::UTXH, b as u32);
            }
        }
        let m = r.read32(regs::UINTM);
        let want = if st.tx.is_empty() {
            m | regs::INT_TXD
        } else {
            m & !regs::INT_TXD
        };
        if want != m {
            r.write32(regs::UINTM, want);
        }
    }
}

impl<M: Mmio> Uart for Exynos4210<M> {
    fn putc(&self, byte: u8) {
        putc_raw(&self.regs, byte);
    }
    fn getc(&self) -> Option<u8> {
        self.st.getc(|| self.read_fifo().flatten())
    }
    fn flush(&self) {
        let mut spins = 0u32;
        while self.regs.read32(regs::UTRSTAT) & regs::UTRSTAT_TXE == 0 && spins < SPIN_LIMIT {
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
        let r = &self.regs;
        r.write32(regs::UINTSP, regs::INT_ALL);
        r.write32(regs::UINTP, regs::INT_ALL);
        r.write32(regs::UINTM, regs::INT_ALL & !regs::INT_RXD);
        true
    }
    fn disable_irqs(&self) {
        self.st.disable(
            |b| self.putc(b),
            || {
                self.regs.write32(regs::UINTM, regs::INT_ALL);
                self.regs.write32(regs::UINTP, regs::INT_ALL);
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
            let pend = r.read32(regs::UINTP) & regs::INT_ALL;
            if pend == 0 {
                break;
            }
            if pend & (regs::INT_RXD | regs::INT_ERROR) != 0 {
                for _ in 0..self.fifo {
                    match self.read_fifo() {
                        None => break,
                        Some(Some(b)) => {
                            if !st.rx.push(b) {
                                st.rx_dropped += 1;
                            }
                        }
                        Some(None) => {}
                    }
                }
            }
            if pend & regs::INT_TXD != 0 {
                self.refill_tx(&mut st);
            }
            // Acknowledge after servicing: a level source whose condition
            // still holds pends again.
            r.write32(regs::UINTP, pend);
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

fn u32_prop(node: &Node, name: &'static str) -> Result<Option<u32>, UartError> {
    match node.property(name) {
        None => Ok(None),
        Some(p) => p.as_u32().map(Some).ok_or(UartError::BadNode(name)),
    }
}

/// Reads `clock-frequency`, `samsung,uart-fifosize` and `interrupts`.
pub fn config(node: &Node, options: &str) -> Result<Config, UartError> {
    let fifo_size = u32_prop(node, "samsung,uart-fifosize")?.unwrap_or(16);
    if ![16, 64, 256].contains(&fifo_size) {
        return Err(UartError::BadNode(
            "samsung,uart-fifosize must be 16, 64 or 256",
        ));
    }
    Ok(Config {
        clock_hz: u32_prop(node, "clock-frequency")?.filter(|&c| c != 0),
        baud: parse_baud(options)?,
        fifo_size,
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
    Ok(Box::new(Exynos4210::new(regs, base, &cfg)?))
}

#[distributed_slice(UART_DRIVERS)]
static EXYNOS4210: UartDriver = UartDriver {
    name: "exynos4210",
    compatible: &["samsung,exynos4210-uart"],
    regs_size: REGS_SIZE,
    probe,
    early_putc: putc_raw,
};

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "uart-exynos4210",
    kconfig: "UART_EXYNOS4210",
    summary: "Samsung Exynos 4210 UART console",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Host serial console",
        qualifier: Some("Exynos 4210 UART (ARM)"),
        status: Status::Experimental,
        tests: &[
            "unit:tessera-uart-exynos4210::tests::init_programs_8n1_and_the_divisor",
            "unit:tessera-uart-exynos4210::tests::init_keeps_firmware_divisor_without_a_clock",
            "unit:tessera-uart-exynos4210::tests::polled_output_and_input_follow_ufstat",
            "unit:tessera-uart-exynos4210::tests::irq_drains_rx_into_the_ring_and_refills_tx",
            "unit:tessera-uart-exynos4210::tests::drain_and_disable_write_the_ring_out_in_order",
            "unit:tessera-uart-exynos4210::tests::early_uart_from_the_registry_writes_polled",
            "unit:tessera-uart-exynos4210::tests::full_fifo_gives_up_instead_of_hanging",
            "unit:tessera-uart-exynos4210::tests::node_properties_are_validated",
        ],
        note: "Polled and interrupt-driven I/O; tested against a register model only, not on hardware or QEMU.",
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

    /// A register-level model of the Exynos 4210 UART: FIFOs of a given
    /// depth; UFSTAT counts and full bits and UTRSTAT from the FIFO and
    /// shifter state; UERSTAT for the byte at the top of the FIFO (overrun
    /// sticky until read); level-triggered UINTSP sources latched on every
    /// state change while their condition holds (RXD: receive count at the
    /// trigger level or a receive timeout; TXD: transmit count at or below
    /// the trigger level), UINTP = UINTSP & !UINTM, writing 1 to either
    /// clears the source; self-clearing FIFO resets. Each UTRSTAT/UFSTAT
    /// read lets one byte go out (time passes while the driver polls)
    /// unless `stuck`. Trigger levels: transmit code n = n * depth / 8
    /// bytes (code 0: empty), receive code n = (n + 1) * depth / 8 bytes --
    /// the model's reading of the UM's tables; the driver only uses code 0.
    #[derive(Clone)]
    struct Model(Arc<StdMutex<State>>);

    struct State {
        depth: usize,
        ulcon: u32,
        ucon: u32,
        ufcon: u32,
        umcon: u32,
        ubrdiv: u32,
        ufracval: u32,
        uintsp: u32,
        uintm: u32,
        overrun: bool,
        timeout: bool,
        rx: VecDeque<(u8, u32)>,
        tx: VecDeque<u8>,
        shifter: Option<u8>,
        wire: Vec<u8>,
        stuck: bool,
        tx_overflow: bool,
    }

    impl State {
        fn rx_trigger(&self) -> usize {
            (((self.ufcon >> 4) & 7) as usize + 1) * self.depth / 8
        }
        fn tx_trigger(&self) -> usize {
            ((self.ufcon >> 8) & 7) as usize * self.depth / 8
        }
        fn ufstat(&self) -> u32 {
            let mut v = 0;
            if self.rx.len() == self.depth {
                v |= regs::UFSTAT_RX_FULL;
            } else {
                v |= self.rx.len() as u32;
            }
            if self.tx.len() == self.depth {
                v |= regs::UFSTAT_TX_FULL;
            } else {
                v |= (self.tx.len() as u32) << regs::UFSTAT_TX_COUNT_SHIFT;
            }
            v
        }
        fn utrstat(&self) -> u32 {
            let mut v = 0;
            if !self.rx.is_empty() {
                v |= regs::UTRSTAT_RXDR;
            }
            if self.tx.is_empty() {
                v |= regs::UTRSTAT_TXFE;
                if self.shifter.is_none() {
                    v |= regs::UTRSTAT_TXE;
                }
            }
            v
        }
        fn update(&mut self) {
            let rx_mode = self.ucon & 3 == 1;
            let tx_mode = (self.ucon >> 2) & 3 == 1;
            if rx_mode && (self.rx.len() >= self.rx_trigger() || self.timeout) {
                self.uintsp |= regs::INT_RXD;
            }
            if tx_mode && self.tx.len() <= self.tx_trigger() {
                self.uintsp |= regs::INT_TXD;
            }
        }
        fn tick(&mut self) {
            if self.stuck {
                return;
            }
            if let Some(b) = self.shifter.take() {
                self.wire.push(b);
            }
            self.shifter = self.tx.pop_front();
            self.update();
        }
        fn read(&mut self, off: usize) -> u32 {
            match off {
                regs::ULCON => self.ulcon,
                regs::UCON => self.ucon,
                regs::UFCON => self.ufcon,
                regs::UMCON => self.umcon,
                regs::UTRSTAT => {
                    let v = self.utrstat();
                    self.tick();
                    v
                }
                regs::UFSTAT => {
                    let v = self.ufstat();
                    self.tick();
                    v
                }
                regs::UERSTAT => {
                    let mut v = self.rx.front().map_or(0, |&(_, e)| e);
                    if self.overrun {
                        v |= regs::UERSTAT_OVERRUN;
                    }
                    self.overrun = false;
                    v
                }
                regs::URXH => {
                    let b = self.rx.pop_front().map_or(0, |(b, _)| b);
                    self.timeout = false;
                    self.update();
                    b as u32
                }
                regs::UBRDIV => self.ubrdiv,
                regs::UFRACVAL => self.ufracval,
                regs::UINTP => self.uintsp & !self.uintm,
                regs::UINTSP => self.uintsp,
                regs::UINTM => self.uintm,
                _ => 0,
            }
        }
        fn write(&mut self, off: usize, v: u32) {
            match off {
                regs::ULCON => self.ulcon = v & 0x7f,
                regs::UCON => self.ucon = v,
                regs::UFCON => {
                    if v & regs::UFCON_RX_RESET != 0 {
                        self.rx.clear();
                    }
                    if v & regs::UFCON_TX_RESET != 0 {
                        self.tx.clear();
                    }
                    self.ufcon = v & !(regs::UFCON_RX_RESET | regs::UFCON_TX_RESET);
                }
                regs::UMCON => self.umcon = v,
                regs::UTXH => {
                    if self.tx.len() == self.depth {
                        self.tx_overflow = true;
                    } else {
                        self.tx.push_back(v as u8);
                    }
                }
                regs::UBRDIV => self.ubrdiv = v & 0xffff,
                regs::UFRACVAL => self.ufracval = v & 0xf,
                regs::UINTP | regs::UINTSP => self.uintsp &= !v,
                regs::UINTM => self.uintm = v & regs::INT_ALL,
                _ => {}
            }
            self.update();
        }
    }

    impl Model {
        fn new(depth: usize) -> Self {
            Model(Arc::new(StdMutex::new(State {
                depth,
                ulcon: 0,
                ucon: 0,
                ufcon: 0,
                umcon: 0,
                ubrdiv: 0,
                ufracval: 0,
                uintsp: 0,
                uintm: 0,
                overrun: false,
                timeout: false,
                rx: VecDeque::new(),
                tx: VecDeque::new(),
                shifter: None,
                wire: Vec::new(),
                stuck: false,
                tx_overflow: false,
            })))
        }
        fn st(&self) -> MutexGuard<'_, State> {
            self.0.lock().unwrap()
        }
        fn receive(&self, bytes: &[u8], err: u32) {
            let mut s = self.st();
            for &b in bytes {
                if s.rx.len() == s.depth {
                    s.overrun = true;
                } else {
                    s.rx.push_back((b, err));
                }
            }
            s.update();
        }
        fn idle(&self) {
            let mut s = self.st();
            s.timeout = s.ucon & regs::UCON_RX_TIMEOUT != 0 && !s.rx.is_empty();
            s.tick();
        }
        fn irq_line(&self) -> bool {
            let s = self.st();
            s.uintsp & !s.uintm != 0
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
            unreachable!("accessed 32 bits wide")
        }
        fn write8(&self, _: usize, _: u8) {
            unreachable!("accessed 32 bits wide")
        }
        fn len(&self) -> usize {
            REGS_SIZE as usize
        }
    }

    fn cfg(clock_hz: Option<u32>, baud: Option<u32>, fifo_size: u32) -> Config {
        Config {
            clock_hz,
            baud,
            fifo_size,
            irq: Some(84),
        }
    }

    #[test]
    fn init_programs_8n1_and_the_divisor() {
        let m = Model::new(16);
        m.st().rx.push_back((1, 0));
        let _u = Exynos4210::new(m.clone(), 0, &cfg(Some(100_000_000), Some(115_200), 16)).unwrap();
        let s = m.st();
        // 100 MHz / (16 * 115200) - 1 = 53.25: UBRDIV 53, UFRACVAL 4/16.
        assert_eq!((s.ubrdiv, s.ufracval), (53, 4));
        assert_eq!(s.ulcon, regs::ULCON_8N1);
        assert_eq!(s.ufcon, regs::UFCON_FIFO_EN, "FIFOs on, resets done");
        assert!(s.rx.is_empty());
        assert_eq!(s.ucon & 0xf, regs::UCON_RX_IRQ | regs::UCON_TX_IRQ);
        assert_ne!(s.ucon & regs::UCON_RX_TIMEOUT, 0);
        assert_eq!(s.uintm, regs::INT_ALL, "polled: every interrupt masked");
        assert_eq!(baud_divisors(1_000, 115_200), None);
    }

    #[test]
    fn init_keeps_firmware_divisor_without_a_clock() {
        let m = Model::new(64);
        {
            let mut s = m.st();
            (s.ubrdiv, s.ufracval) = (34, 8);
            s.tx.extend(*b"fw");
        }
        Exynos4210::new(m.clone(), 0, &cfg(None, Some(115_200), 64)).unwrap();
        let s = m.st();
        assert_eq!((s.ubrdiv, s.ufracval, s.ulcon), (34, 8, regs::ULCON_8N1));
        assert_eq!(s.wire, b"fw", "early output left before the FIFO reset");
    }

    #[test]
    fn polled_output_and_input_follow_ufstat() {
        let m = Model::new(16);
        let u = Exynos4210::new(m.clone(), 0, &cfg(None, None, 16)).unwrap();
        assert_eq!(m.st().utrstat(), regs::UTRSTAT_TXFE | regs::UTRSTAT_TXE);
        u.write(b"hi\n");
        u.flush();
        assert_eq!(m.st().wire, b"hi\r\n");
        m.receive(b"a", 0);
        m.receive(b"b", regs::UERSTAT_FRAME);
        m.receive(b"c", 0);
        assert_eq!(m.st().ufstat() & regs::UFSTAT_RX_COUNT, 3);
        assert_eq!(u.getc(), Some(b'a'));
        assert_eq!(u.getc(), None, "a byte with a framing error is dropped");
        assert_eq!(u.getc(), Some(b'c'));
        assert_eq!(u.getc(), None);
        // A full FIFO reads count 0 with the full bit (count field is 8 bits).
        m.receive(&[0; 16], 0);
        assert_eq!(m.st().ufstat() & 0x1ff, regs::UFSTAT_RX_FULL);
        assert_eq!(core::iter::from_fn(|| u.getc()).count(), 16);
    }

    /// The console's polled paths (`sync_console`, a full ring, the crash
    /// path) first write out what the transmit ring holds, in order.
    #[test]
    fn drain_and_disable_write_the_ring_out_in_order() {
        let m = Model::new(16);
        let u = Exynos4210::new(m.clone(), 0, &cfg(None, None, 16)).unwrap();
        assert!(u.enable_irqs());
        let msg: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        assert_eq!(u.queue_tx(&msg), 200);
        assert!(u.st.tx_queued() > 0, "the FIFO took only part");
        u.drain_tx();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(
            m.st().uintm & regs::INT_TXD != 0,
            "transmit interrupt masked, ring empty"
        );
        let tail: Vec<u8> = (0..150u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(u.queue_tx(&tail), 150);
        u.disable_irqs();
        u.flush();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(m.st().uintm == regs::INT_ALL);
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
        for name in ["exynos4210"] {
            let m = Model::new(16);
            let u = Exynos4210::new(m.clone(), 0, &cfg(None, None, 16)).unwrap();
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

    #[test]
    fn irq_drains_rx_into_the_ring_and_refills_tx() {
        let m = Model::new(16);
        let u = Exynos4210::new(m.clone(), 0, &cfg(None, None, 16)).unwrap();
        assert_eq!(u.irq(), Some(84));
        assert!(u.enable_irqs());
        assert_eq!(m.st().uintm, regs::INT_ALL & !regs::INT_RXD);
        assert!(!m.irq_line(), "TXD pends (FIFO empty) but is masked");
        assert_ne!(m.st().uintsp & regs::INT_TXD, 0);
        // One byte, below the trigger (2): only the timeout raises RXD.
        m.receive(b"h", 0);
        assert!(!m.irq_line());
        m.idle();
        assert!(m.irq_line());
        u.handle_irq();
        assert!(!m.irq_line(), "RXD cleared once the FIFO is drained");
        m.receive(b"ello", 0);
        assert!(m.irq_line(), "at the trigger level");
        u.handle_irq();
        assert!(!m.irq_line());
        let got: Vec<u8> = core::iter::from_fn(|| u.getc()).collect();
        assert_eq!(got, b"hello");

        let msg: Vec<u8> = (0..100).collect();
        assert_eq!(u.queue_tx(&msg), 100);
        assert_eq!(m.st().uintm & regs::INT_TXD, 0, "TXD unmasked while queued");
        for _ in 0..1000 {
            if m.irq_line() {
                u.handle_irq();
            } else {
                m.st().tick();
            }
        }
        assert_eq!(m.st().wire, msg);
        assert_ne!(
            m.st().uintm & regs::INT_TXD,
            0,
            "TXD masked once the ring is empty"
        );
        assert!(!m.irq_line());
        assert!(!m.st().tx_overflow);

        u.disable_irqs();
        assert_eq!(m.st().uintm, regs::INT_ALL);
    }

    #[test]
    fn full_fifo_gives_up_instead_of_hanging() {
        let m = Model::new(16);
        let u = Exynos4210::new(m.clone(), 0, &cfg(None, None, 16)).unwrap();
        {
            let mut s = m.st();
            s.stuck = true;
            s.tx.extend([0u8; 16]);
        }
        u.putc(b'x');
        assert_eq!(m.st().tx.len(), 16);
        assert!(!m.st().tx_overflow);
        assert!(m.st().wire.is_empty());
    }

    #[test]
    fn node_properties_are_validated() {
        let mut w = FdtWriter::new();
        w.begin_node("")
            .begin_node("serial@13820000")
            .prop_str("compatible", "samsung,exynos4210-uart")
            .prop_cells("interrupts", &[0, 54, 4])
            .prop_u32("samsung,uart-fifosize", 64)
            .end_node()
            .begin_node("serial@13830000")
            .prop_str("compatible", "samsung,exynos4210-uart")
            .prop_u32("samsung,uart-fifosize", 32)
            .end_node()
            .end_node();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let n0 = fdt.find_node("/serial@13820000").unwrap();
        assert_eq!(
            config(&n0, "115200"),
            Ok(Config {
                clock_hz: None,
                baud: Some(115_200),
                fifo_size: 64,
                irq: Some(86)
            })
        );
        assert!(config(&n0, "115200o8").is_err());
        let n1 = fdt.find_node("/serial@13830000").unwrap();
        assert!(config(&n1, "").is_err(), "FIFO size 32 does not exist");
    }
}
