//! The UART of TI OMAP4/OMAP5, AM33xx/AM43xx, DRA7 and K3 SoCs as the
//! hypervisor console: a 16C750-style UART with 64-byte FIFOs and
//! register banks selected by LCR (operational mode, configuration modes A
//! and B). Register map and bits: the OMAP4430 and AM335x technical
//! reference manuals, chapter "UART/IrDA/CIR"; device-tree binding: Linux
//! Documentation/devicetree/bindings/serial/8250_omap.yaml. Polled
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

/// Byte offsets (registers 4 bytes apart, accessed 32 bits wide) and bits,
/// from the TRMs' UART register tables. Which register an offset reaches
/// depends on the LCR mode, noted per register.
mod regs {
    // The whole map is listed; the test model uses what the driver does not.
    #![allow(dead_code)]

    /// RHR (read) / THR (write), operational mode; DLL in modes A and B.
    pub const RHR: usize = 0x00;
    pub const THR: usize = 0x00;
    pub const DLL: usize = 0x00;
    /// IER in operational mode; DLH in modes A and B.
    pub const IER: usize = 0x04;
    pub const DLH: usize = 0x04;
    /// IIR (read) / FCR (write) in operational mode and mode A; EFR in
    /// mode B.
    pub const IIR: usize = 0x08;
    pub const FCR: usize = 0x08;
    pub const EFR: usize = 0x08;
    /// LCR, every mode.
    pub const LCR: usize = 0x0c;
    /// MCR and LSR, operational mode and mode A.
    pub const MCR: usize = 0x10;
    pub const LSR: usize = 0x14;
    /// Mode definition 1, every mode.
    pub const MDR1: usize = 0x20;
    /// Supplementary control and status, every mode.
    pub const SCR: usize = 0x40;
    pub const SSR: usize = 0x44;
    /// Bytes in the transmit FIFO (OMAP4 and later).
    pub const TXFIFO_LVL: usize = 0x68;

    /// LCR value selecting configuration mode B.
    pub const LCR_MODE_B: u32 = 0xbf;
    /// LCR[7]: configuration mode A (when LCR is not 0xbf).
    pub const LCR_DIV_EN: u32 = 1 << 7;
    pub const LCR_8N1: u32 = 0b11;

    /// EFR[4] ENHANCED_EN: unlocks IER[7:4], FCR[5:4] and MCR[7:5].
    pub const EFR_ENHANCED_EN: u32 = 1 << 4;

    pub const IER_RHR_IT: u32 = 1 << 0;
    pub const IER_THR_IT: u32 = 1 << 1;
    pub const IER_LINE_STS_IT: u32 = 1 << 2;
    /// IER[4] SLEEP_MODE (writable only with ENHANCED_EN).
    pub const IER_SLEEP_MODE: u32 = 1 << 4;

    /// IIR[0] IT_PENDING: 0 when an interrupt is pending.
    pub const IIR_NO_INT: u32 = 1 << 0;
    /// IIR[5:1] IT_TYPE values, as read with IT_PENDING = 0.
    pub const IIR_THR: u32 = 0x02;
    pub const IIR_RHR: u32 = 0x04;
    pub const IIR_RLS: u32 = 0x06;
    pub const IIR_RX_TIMEOUT: u32 = 0x0c;
    pub const IIR_TYPE_MASK: u32 = 0x3e;

    pub const FCR_FIFO_EN: u32 = 1 << 0;
    pub const FCR_RX_CLEAR: u32 = 1 << 1;
    pub const FCR_TX_CLEAR: u32 = 1 << 2;

    pub const MCR_DTR: u32 = 1 << 0;
    pub const MCR_RTS: u32 = 1 << 1;

    /// LSR: RX_FIFO_E (data ready), errors of the byte at the top of the
    /// FIFO, TX_FIFO_E (THR empty), TX_SR_E (FIFO and shifter empty).
    pub const LSR_RX_FIFO_E: u32 = 1 << 0;
    pub const LSR_RX_OE: u32 = 1 << 1;
    pub const LSR_RX_PE: u32 = 1 << 2;
    pub const LSR_RX_FE: u32 = 1 << 3;
    pub const LSR_RX_BI: u32 = 1 << 4;
    pub const LSR_TX_FIFO_E: u32 = 1 << 5;
    pub const LSR_TX_SR_E: u32 = 1 << 6;

    /// MDR1[2:0] MODE_SELECT: UART 16x, UART 13x, disabled (reset value).
    pub const MDR1_16X: u32 = 0;
    pub const MDR1_13X: u32 = 3;
    pub const MDR1_DISABLE: u32 = 7;

    /// SCR[3] TX_EMPTY_CTL_IT: the THR interrupt means "FIFO and shift
    /// register empty" instead of "FIFO below its trigger level".
    pub const SCR_TX_EMPTY_CTL_IT: u32 = 1 << 3;

    /// SSR[0] TX_FIFO_FULL.
    pub const SSR_TX_FIFO_FULL: u32 = 1 << 0;
}

/// Depth of each FIFO.
pub const FIFO_DEPTH: usize = 64;
const SPIN_LIMIT: u32 = 1_000_000;
/// Bytes of the receive and transmit rings.
pub const RING_SIZE: usize = UART_RING_SIZE;
const REGS_SIZE: u64 = 0x100;

/// Waits (bounded) while the transmit FIFO is full, then writes. Assumes
/// operational mode, where firmware and this driver leave the UART.
fn putc_raw(r: &dyn Mmio, byte: u8) {
    let mut spins = 0u32;
    while r.read32(regs::SSR) & regs::SSR_TX_FIFO_FULL != 0 {
        spins += 1;
        if spins == SPIN_LIMIT {
            return;
        }
        core::hint::spin_loop();
    }
    r.write32(regs::THR, byte as u32);
}

/// What a node and the options ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `clock-frequency` (48 MHz on most of these SoCs).
    pub clock_hz: Option<u32>,
    pub baud: Option<u32>,
    pub irq: Option<u32>,
}

/// A probed OMAP UART.
pub struct Omap<M: Mmio> {
    regs: M,
    base: u64,
    irq: Option<u32>,
    st: UartIrq,
}

impl<M: Mmio> Omap<M> {
    /// Takes over the UART (the TRM's "protocol, baud rate and interrupt
    /// settings" sequence): lets pending output leave, disables the UART
    /// (MDR1) while the divisor may change, clears IER including sleep
    /// mode, programs the divisor when both clock and baud are known (16x
    /// mode), enables and clears the FIFOs, makes the THR interrupt mean
    /// "transmitter empty", sets 8N1 and operational mode, and re-enables
    /// the UART in 16x mode -- or in firmware's 16x/13x mode when its
    /// divisor is kept.
    pub fn new(regs: M, base: u64, cfg: &Config) -> Result<Self, UartError> {
        let divisor = match (cfg.clock_hz, cfg.baud) {
            (Some(clk), Some(baud)) => {
                let d = (clk as u64 + 8 * baud as u64) / (16 * baud as u64);
                if !(1..=0x3fff).contains(&d) {
                    return Err(UartError::BadOptions(
                        "baud rate not reachable from clock-frequency",
                    ));
                }
                Some(d as u32)
            }
            _ => None,
        };
        let u = Omap {
            regs,
            base,
            irq: cfg.irq,
            st: UartIrq::new(),
        };
        let r = &u.regs;
        u.flush();
        let mode = match (divisor, r.read32(regs::MDR1) & 7) {
            (None, m @ (regs::MDR1_16X | regs::MDR1_13X)) => m,
            _ => regs::MDR1_16X,
        };
        r.write32(regs::MDR1, regs::MDR1_DISABLE);
        r.write32(regs::LCR, regs::LCR_MODE_B);
        let efr = r.read32(regs::EFR);
        r.write32(regs::EFR, efr | regs::EFR_ENHANCED_EN);
        r.write32(regs::LCR, 0);
        r.write32(regs::IER, 0);
        r.write32(regs::LCR, regs::LCR_MODE_B);
        if let Some(d) = divisor {
            r.write32(regs::DLL, d & 0xff);
            r.write32(regs::DLH, d >> 8);
        }
        r.write32(regs::EFR, efr);
        r.write32(regs::LCR, regs::LCR_8N1);
        r.write32(
            regs::FCR,
            regs::FCR_FIFO_EN | regs::FCR_RX_CLEAR | regs::FCR_TX_CLEAR,
        );
        r.write32(regs::SCR, regs::SCR_TX_EMPTY_CTL_IT);
        r.write32(regs::MCR, regs::MCR_DTR | regs::MCR_RTS);
        r.write32(regs::MDR1, mode);
        Ok(u)
    }

    /// Received bytes lost because the receive ring was full.
    pub fn rx_dropped(&self) -> u32 {
        self.st.rx_dropped()
    }

    fn read_fifo(&self) -> Option<Option<u8>> {
        let lsr = self.regs.read32(regs::LSR);
        if lsr & regs::LSR_RX_FIFO_E == 0 {
            return None;
        }
        let b = self.regs.read32(regs::RHR) as u8;
        if lsr & (regs::LSR_RX_PE | regs::LSR_RX_FE | regs::LSR_RX_BI) != 0 {
            return Some(None);
        }
        Some(Some(b))
    }

    /// Fills the transmit FIFO from the ring; the THR interrupt is enabled
    /// while bytes remain and disabled once the ring is empty (it is a
    /// level: an empty transmitter would otherwise interrupt forever).
    fn refill_tx(&self, st: &mut UartIrqState) {
        let r = &self.regs;
        for _ in 0..FIFO_DEPTH {
            if st.tx.is_empty() || r.read32(regs::SSR) & regs::SSR_TX_FIFO_FULL != 0 {
                break;
            }
            if let Some(b) = st.tx.pop() {
                r.write32(regs::THR, b as u32);
            }
        }
        let ier = r.read32(regs::IER);
        let want = if st.tx.is_empty() {
            ier & !regs::IER_THR_IT
        } else {
            ier | regs::IER_THR_IT
        };
        if want != ier {
            r.write32(regs::IER, want);
        }
    }
}

impl<M: Mmio> Uart for Omap<M> {
    fn putc(&self, byte: u8) {
        putc_raw(&self.regs, byte);
    }
    fn getc(&self) -> Option<u8> {
        self.st.getc(|| self.read_fifo().flatten())
    }
    fn flush(&self) {
        let mut spins = 0u32;
        while self.regs.read32(regs::LSR) & regs::LSR_TX_SR_E == 0 && spins < SPIN_LIMIT {
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
        self.regs
            .write32(regs::IER, regs::IER_RHR_IT | regs::IER_LINE_STS_IT);
        true
    }
    fn disable_irqs(&self) {
        self.st.disable(
            |b| self.putc(b),
            || {
                self.regs.write32(regs::IER, 0);
            },
        );
    }
    fn handle_irq(&self) {
        let mut st = self.st.lock();
        if !st.on {
            return;
        }
        for _ in 0..16 {
            let iir = self.regs.read32(regs::IIR);
            if iir & regs::IIR_NO_INT != 0 {
                break;
            }
            // RHR, RX timeout and line status all clear once the FIFO is
            // read out (LSR is read for each byte).
            for _ in 0..FIFO_DEPTH {
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
            if iir & regs::IIR_TYPE_MASK == regs::IIR_THR {
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

/// Reads `clock-frequency` and `interrupts`. `reg-shift`/`reg-io-width`,
/// when present, must say what this block always is: 4-byte spacing,
/// 4-byte access.
pub fn config(node: &Node, options: &str) -> Result<Config, UartError> {
    let u32_prop = |name: &'static str| -> Result<Option<u32>, UartError> {
        match node.property(name) {
            None => Ok(None),
            Some(p) => p.as_u32().map(Some).ok_or(UartError::BadNode(name)),
        }
    };
    if u32_prop("reg-shift")?.is_some_and(|s| s != 2) {
        return Err(UartError::BadNode("reg-shift must be 2"));
    }
    if u32_prop("reg-io-width")?.is_some_and(|w| w != 4) {
        return Err(UartError::BadNode("reg-io-width must be 4"));
    }
    Ok(Config {
        clock_hz: u32_prop("clock-frequency")?.filter(|&c| c != 0),
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
    Ok(Box::new(Omap::new(regs, base, &cfg)?))
}

#[distributed_slice(UART_DRIVERS)]
static OMAP: UartDriver = UartDriver {
    name: "omap",
    // Xen matches "ti,omap4-uart" and "ti,am654-uart"; 8250_omap.yaml's
    // other OMAP4-register-compatible parts are listed too (AM33xx and
    // DRA7 nodes also carry "ti,omap3-uart", whose older UART lacks
    // TXFIFO_LVL but is not matched on its own).
    compatible: &[
        "ti,omap4-uart",
        "ti,am654-uart",
        "ti,omap5-uart",
        "ti,am3352-uart",
        "ti,am4372-uart",
        "ti,dra742-uart",
    ],
    regs_size: REGS_SIZE,
    probe,
    early_putc: putc_raw,
};

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "uart-omap",
    kconfig: "UART_OMAP",
    summary: "TI OMAP UART console",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Host serial console",
        qualifier: Some("OMAP UART (ARM)"),
        status: Status::Experimental,
        tests: &[
            "unit:tessera-uart-omap::tests::init_programs_8n1_and_the_divisor",
            "unit:tessera-uart-omap::tests::init_keeps_firmware_divisor_and_mode_without_a_clock",
            "unit:tessera-uart-omap::tests::polled_output_and_input_follow_lsr",
            "unit:tessera-uart-omap::tests::irq_drains_rx_into_the_ring_and_refills_tx",
            "unit:tessera-uart-omap::tests::drain_and_disable_write_the_ring_out_in_order",
            "unit:tessera-uart-omap::tests::early_uart_from_the_registry_writes_polled",
            "unit:tessera-uart-omap::tests::full_fifo_gives_up_instead_of_hanging",
            "unit:tessera-uart-omap::tests::node_properties_are_validated",
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

    /// A register-level model of the OMAP UART: LCR-selected banks
    /// (operational, mode A, mode B), EFR[4] gating IER[7:4], 64-byte
    /// FIFOs, LSR/SSR/TXFIFO_LVL from the FIFO and shifter state, per-byte
    /// receive errors, IIR priorities (line status > RHR at the 8-byte
    /// trigger / RX timeout > THR) with THR a level ("transmitter empty"
    /// with SCR TX_EMPTY_CTL_IT, else 8 spaces free), MDR1 disabling the
    /// transmitter. Each LSR/SSR read lets one byte go out (time passes
    /// while the driver polls) unless `stuck` or disabled.
    #[derive(Clone)]
    struct Model(Arc<StdMutex<State>>);

    struct State {
        lcr: u32,
        ier: u32,
        efr: u32,
        mcr: u32,
        dll: u32,
        dlh: u32,
        mdr1: u32,
        scr: u32,
        fifo_on: bool,
        rx: VecDeque<(u8, u32)>,
        tx: VecDeque<u8>,
        shifter: Option<u8>,
        wire: Vec<u8>,
        overrun: bool,
        timeout: bool,
        stuck: bool,
        tx_overflow: bool,
        /// Writes that reached a register other than the one meant: THR
        /// written outside operational mode lands in DLL.
        dll_writes: u32,
    }

    enum Bank {
        Op,
        A,
        B,
    }

    impl State {
        fn bank(&self) -> Bank {
            if self.lcr == regs::LCR_MODE_B {
                Bank::B
            } else if self.lcr & regs::LCR_DIV_EN != 0 {
                Bank::A
            } else {
                Bank::Op
            }
        }
        fn enabled(&self) -> bool {
            matches!(self.mdr1 & 7, regs::MDR1_16X | regs::MDR1_13X)
        }
        fn tick(&mut self) {
            if self.stuck || !self.enabled() {
                return;
            }
            if let Some(b) = self.shifter.take() {
                self.wire.push(b);
            }
            self.shifter = self.tx.pop_front();
        }
        fn lsr(&self) -> u32 {
            let mut v = 0;
            if let Some(&(_, e)) = self.rx.front() {
                v |= regs::LSR_RX_FIFO_E | e;
            }
            if self.overrun {
                v |= regs::LSR_RX_OE;
            }
            if self.tx.is_empty() {
                v |= regs::LSR_TX_FIFO_E;
                if self.shifter.is_none() {
                    v |= regs::LSR_TX_SR_E;
                }
            }
            v
        }
        fn thr_level(&self) -> bool {
            if self.scr & regs::SCR_TX_EMPTY_CTL_IT != 0 {
                self.tx.is_empty() && self.shifter.is_none()
            } else {
                FIFO_DEPTH - self.tx.len() >= 8
            }
        }
        fn iir(&self) -> u32 {
            let mirror = if self.fifo_on { 0xc0 } else { 0 };
            let err = self.overrun || self.rx.front().is_some_and(|&(_, e)| e != 0);
            let id = if err && self.ier & regs::IER_LINE_STS_IT != 0 {
                regs::IIR_RLS
            } else if self.rx.len() >= 8 && self.ier & regs::IER_RHR_IT != 0 {
                regs::IIR_RHR
            } else if self.timeout && self.ier & regs::IER_RHR_IT != 0 {
                regs::IIR_RX_TIMEOUT
            } else if self.thr_level() && self.ier & regs::IER_THR_IT != 0 {
                regs::IIR_THR
            } else {
                regs::IIR_NO_INT
            };
            mirror | id
        }
        fn read(&mut self, off: usize) -> u32 {
            match (off, self.bank()) {
                (0x00, Bank::Op) => {
                    self.timeout = false;
                    self.rx.pop_front().map_or(0, |(b, _)| b as u32)
                }
                (0x00, _) => self.dll,
                (0x04, Bank::Op) => self.ier,
                (0x04, _) => self.dlh,
                (0x08, Bank::B) => self.efr,
                (0x08, _) => self.iir(),
                (0x0c, _) => self.lcr,
                (0x10, Bank::B) => 0,
                (0x10, _) => self.mcr,
                (0x14, Bank::B) => 0,
                (0x14, _) => {
                    let v = self.lsr();
                    self.overrun = false;
                    self.tick();
                    v
                }
                (regs::MDR1, _) => self.mdr1,
                (regs::SCR, _) => self.scr,
                (regs::SSR, _) => {
                    let v = u32::from(self.tx.len() == FIFO_DEPTH);
                    self.tick();
                    v
                }
                (regs::TXFIFO_LVL, _) => self.tx.len() as u32,
                _ => 0,
            }
        }
        fn write(&mut self, off: usize, v: u32) {
            match (off, self.bank()) {
                (0x00, Bank::Op) => {
                    if self.tx.len() == FIFO_DEPTH {
                        self.tx_overflow = true;
                    } else {
                        self.tx.push_back(v as u8);
                    }
                }
                (0x00, _) => {
                    self.dll = v & 0xff;
                    self.dll_writes += 1;
                }
                (0x04, Bank::Op) => {
                    let locked = if self.efr & regs::EFR_ENHANCED_EN != 0 {
                        0
                    } else {
                        0xf0
                    };
                    self.ier = (self.ier & locked) | (v & 0xff & !locked);
                }
                (0x04, _) => self.dlh = v & 0x3f,
                (0x08, Bank::B) => self.efr = v & 0xff,
                (0x08, _) => {
                    self.fifo_on = v & regs::FCR_FIFO_EN != 0;
                    if v & regs::FCR_RX_CLEAR != 0 {
                        self.rx.clear();
                    }
                    if v & regs::FCR_TX_CLEAR != 0 {
                        self.tx.clear();
                    }
                }
                (0x0c, _) => self.lcr = v & 0xff,
                (0x10, Bank::B) => {}
                (0x10, _) => self.mcr = v & 0xff,
                (regs::MDR1, _) => self.mdr1 = v & 0xff,
                (regs::SCR, _) => self.scr = v & 0xff,
                _ => {}
            }
        }
    }

    impl Model {
        fn new() -> Self {
            Model(Arc::new(StdMutex::new(State {
                lcr: 0,
                ier: 0,
                efr: 0,
                mcr: 0,
                dll: 0,
                dlh: 0,
                mdr1: regs::MDR1_DISABLE,
                scr: 0,
                fifo_on: false,
                rx: VecDeque::new(),
                tx: VecDeque::new(),
                shifter: None,
                wire: Vec::new(),
                overrun: false,
                timeout: false,
                stuck: false,
                tx_overflow: false,
                dll_writes: 0,
            })))
        }
        fn st(&self) -> MutexGuard<'_, State> {
            self.0.lock().unwrap()
        }
        fn receive(&self, bytes: &[u8], err: u32) {
            let mut s = self.st();
            for &b in bytes {
                if s.rx.len() == FIFO_DEPTH {
                    s.overrun = true;
                } else {
                    s.rx.push_back((b, err));
                }
            }
        }
        fn idle(&self) {
            let mut s = self.st();
            s.timeout = !s.rx.is_empty();
            s.tick();
        }
        fn irq_line(&self) -> bool {
            self.st().iir() & regs::IIR_NO_INT == 0
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

    fn cfg(clock_hz: Option<u32>, baud: Option<u32>) -> Config {
        Config {
            clock_hz,
            baud,
            irq: Some(104),
        }
    }

    #[test]
    fn init_programs_8n1_and_the_divisor() {
        let m = Model::new();
        {
            let mut s = m.st();
            s.ier = regs::IER_SLEEP_MODE | regs::IER_RHR_IT; // left by firmware
            s.efr = 0x40;
        }
        let _u = Omap::new(
            m.clone(),
            0x4802_0000,
            &cfg(Some(48_000_000), Some(115_200)),
        )
        .unwrap();
        let s = m.st();
        // 48 MHz / (16 * 115200) = 26.04 -> 26
        assert_eq!((s.dll, s.dlh), (26, 0));
        assert_eq!(s.lcr, regs::LCR_8N1, "8N1, operational mode");
        assert_eq!(s.ier, 0, "sleep mode cleared through ENHANCED_EN");
        assert_eq!(s.efr, 0x40, "EFR restored");
        assert_eq!(s.mdr1, regs::MDR1_16X);
        assert!(s.fifo_on);
        assert_eq!(s.scr, regs::SCR_TX_EMPTY_CTL_IT);
        assert_eq!(s.mcr, regs::MCR_DTR | regs::MCR_RTS);
        assert_eq!(s.dll_writes, 1, "DLL written once, only in a config mode");
        drop(s);
        assert!(Omap::new(m.clone(), 0, &cfg(Some(48_000_000), Some(110))).is_err());
    }

    #[test]
    fn init_keeps_firmware_divisor_and_mode_without_a_clock() {
        let m = Model::new();
        {
            let mut s = m.st();
            (s.dll, s.mdr1) = (8, regs::MDR1_13X); // 48 MHz / (13 * 8) = 461538
            s.tx.extend(*b"fw");
        }
        Omap::new(m.clone(), 0, &cfg(None, Some(460_800))).unwrap();
        let s = m.st();
        assert_eq!((s.dll, s.dlh, s.mdr1), (8, 0, regs::MDR1_13X));
        assert_eq!(s.lcr, regs::LCR_8N1);
        assert_eq!(
            s.wire, b"fw",
            "early output left before the UART was disabled"
        );
    }

    #[test]
    fn polled_output_and_input_follow_lsr() {
        let m = Model::new();
        let u = Omap::new(m.clone(), 0, &cfg(None, None)).unwrap();
        assert_eq!(m.st().lsr(), regs::LSR_TX_FIFO_E | regs::LSR_TX_SR_E);
        u.write(b"hi\n");
        u.flush();
        assert_eq!(m.st().wire, b"hi\r\n");
        m.receive(b"a", 0);
        m.receive(b"b", regs::LSR_RX_PE);
        m.receive(b"c", 0);
        assert_eq!(u.getc(), Some(b'a'));
        assert_eq!(u.getc(), None, "a byte with a parity error is dropped");
        assert_eq!(u.getc(), Some(b'c'));
        assert_eq!(u.getc(), None);
        m.st().stuck = true;
        for i in 0..FIFO_DEPTH as u8 {
            u.putc(i);
        }
        assert_eq!(m.st().read(regs::TXFIFO_LVL), FIFO_DEPTH as u32);
        assert_eq!(m.st().read(regs::SSR) & regs::SSR_TX_FIFO_FULL, 1);
        assert!(!m.st().tx_overflow);
    }

    /// The console's polled paths (`sync_console`, a full ring, the crash
    /// path) first write out what the transmit ring holds, in order.
    #[test]
    fn drain_and_disable_write_the_ring_out_in_order() {
        let m = Model::new();
        let u = Omap::new(m.clone(), 0, &cfg(None, None)).unwrap();
        assert!(u.enable_irqs());
        let msg: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        assert_eq!(u.queue_tx(&msg), 200);
        assert!(u.st.tx_queued() > 0, "the FIFO took only part");
        u.drain_tx();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(
            m.st().ier & regs::IER_THR_IT == 0,
            "transmit interrupt masked, ring empty"
        );
        let tail: Vec<u8> = (0..150u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(u.queue_tx(&tail), 150);
        u.disable_irqs();
        u.flush();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(m.st().ier == 0);
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
        for name in ["omap"] {
            let m = Model::new();
            let u = Omap::new(m.clone(), 0, &cfg(None, None)).unwrap();
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
        let m = Model::new();
        let u = Omap::new(m.clone(), 0, &cfg(None, None)).unwrap();
        assert_eq!(u.irq(), Some(104));
        assert!(u.enable_irqs());
        assert_eq!(m.st().ier, regs::IER_RHR_IT | regs::IER_LINE_STS_IT);
        assert!(!m.irq_line());
        m.receive(b"hey", 0);
        assert!(!m.irq_line(), "below the 8-byte trigger");
        m.idle();
        assert_eq!(m.st().iir() & 0x3f, regs::IIR_RX_TIMEOUT);
        u.handle_irq();
        assert!(!m.irq_line());
        m.receive(b"01234567", 0);
        assert_eq!(m.st().iir() & 0x3f, regs::IIR_RHR);
        u.handle_irq();
        m.receive(b"x", regs::LSR_RX_FE);
        assert_eq!(m.st().iir() & 0x3f, regs::IIR_RLS);
        u.handle_irq();
        assert!(!m.irq_line());
        let got: Vec<u8> = core::iter::from_fn(|| u.getc()).collect();
        assert_eq!(got, b"hey01234567");

        let msg: Vec<u8> = (0..150).collect();
        assert_eq!(u.queue_tx(&msg), 150);
        assert_ne!(m.st().ier & regs::IER_THR_IT, 0);
        for _ in 0..1000 {
            if m.irq_line() {
                u.handle_irq();
            } else {
                m.st().tick();
            }
        }
        assert_eq!(m.st().wire, msg);
        assert_eq!(
            m.st().ier & regs::IER_THR_IT,
            0,
            "THR off once the ring is empty"
        );
        assert!(!m.irq_line());
        assert!(!m.st().tx_overflow);

        u.disable_irqs();
        assert_eq!(m.st().ier, 0);
    }

    #[test]
    fn full_fifo_gives_up_instead_of_hanging() {
        let m = Model::new();
        let u = Omap::new(m.clone(), 0, &cfg(None, None)).unwrap();
        {
            let mut s = m.st();
            s.stuck = true;
            s.tx.extend([0u8; FIFO_DEPTH]);
        }
        u.putc(b'x');
        assert_eq!(m.st().tx.len(), FIFO_DEPTH);
        assert!(!m.st().tx_overflow);
        assert!(m.st().wire.is_empty());
    }

    #[test]
    fn node_properties_are_validated() {
        let mut w = FdtWriter::new();
        w.begin_node("")
            .begin_node("serial@2800000")
            .prop_str("compatible", "ti,am654-uart")
            .prop_cells("interrupts", &[0, 192, 4])
            .prop_u32("clock-frequency", 48_000_000)
            .end_node()
            .begin_node("serial@2810000")
            .prop_str("compatible", "ti,am654-uart")
            .prop_u32("reg-shift", 0)
            .end_node()
            .end_node();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let n0 = fdt.find_node("/serial@2800000").unwrap();
        assert_eq!(
            config(&n0, "115200n8"),
            Ok(Config {
                clock_hz: Some(48_000_000),
                baud: Some(115_200),
                irq: Some(224)
            })
        );
        assert!(config(&n0, "9600n7").is_err());
        let n1 = fdt.find_node("/serial@2810000").unwrap();
        assert!(config(&n1, "").is_err());
    }
}
