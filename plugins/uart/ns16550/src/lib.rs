//! NS16550-compatible UARTs as the hypervisor console: the 16550A itself
//! (National Semiconductor PC16550D data sheet), the Synopsys DesignWare
//! APB UART (DW_apb_uart databook) and the BCM2835 auxiliary "mini UART"
//! (BCM2835 ARM Peripherals, section 2.2), all driven through the 8250
//! register interface. Polled transmit (early console and console), polled
//! receive, and an interrupt path (receive and transmit rings) for when the
//! console goes interrupt-driven. Register access goes through core's safe
//! `Mmio`, so this crate has no unsafe code; it is tested against a
//! register-level model of the device.
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

/// Register indices and bits. Indices and bit meanings are from the
/// PC16550D data sheet (Table II, "Register Addresses", and the register
/// descriptions in section 8); a register's byte offset is its index
/// shifted left by `reg-shift` (Linux
/// Documentation/devicetree/bindings/serial/8250.yaml).
mod regs {
    // The whole map is listed; the test model uses what the driver does not.
    #![allow(dead_code)]

    /// Receiver buffer (read, DLAB = 0).
    pub const RBR: usize = 0;
    /// Transmitter holding register (write, DLAB = 0).
    pub const THR: usize = 0;
    /// Divisor latch, low byte (DLAB = 1).
    pub const DLL: usize = 0;
    /// Interrupt enable (DLAB = 0).
    pub const IER: usize = 1;
    /// Divisor latch, high byte (DLAB = 1).
    pub const DLM: usize = 1;
    /// Interrupt identification (read).
    pub const IIR: usize = 2;
    /// FIFO control (write).
    pub const FCR: usize = 2;
    pub const LCR: usize = 3;
    pub const MCR: usize = 4;
    pub const LSR: usize = 5;
    /// DesignWare UART Status Register (DW_apb_uart databook: offset 0x7c
    /// with 4-byte register spacing); reading it clears busy-detect.
    pub const DW_USR: usize = 0x1f;

    /// Received data available interrupt.
    pub const IER_ERBFI: u8 = 1 << 0;
    /// Transmitter holding register empty interrupt.
    pub const IER_ETBEI: u8 = 1 << 1;
    /// Receiver line status interrupt.
    pub const IER_ELSI: u8 = 1 << 2;

    /// IIR bit 0 is set when no interrupt is pending.
    pub const IIR_NO_INT: u8 = 1 << 0;
    /// IIR[3:0] values: line status, data available, character timeout,
    /// THR empty; 0x7 is the DesignWare busy-detect indication.
    pub const IIR_RLS: u8 = 0x6;
    pub const IIR_RDA: u8 = 0x4;
    pub const IIR_CTI: u8 = 0xc;
    pub const IIR_THRE: u8 = 0x2;
    pub const IIR_DW_BUSY: u8 = 0x7;
    /// IIR[7:6] read 11 when the FIFOs are enabled (a 16550A, not a 16450).
    pub const IIR_FIFOS: u8 = 0xc0;

    pub const FCR_ENABLE: u8 = 1 << 0;
    pub const FCR_CLEAR_RX: u8 = 1 << 1;
    pub const FCR_CLEAR_TX: u8 = 1 << 2;
    /// Receive trigger level 8 bytes (FCR[7:6] = 10).
    pub const FCR_RX_TRIG_8: u8 = 0b10 << 6;

    /// 8 data bits, 1 stop bit, no parity.
    pub const LCR_8N1: u8 = 0b11;
    /// Divisor latch access.
    pub const LCR_DLAB: u8 = 1 << 7;

    pub const MCR_DTR: u8 = 1 << 0;
    pub const MCR_RTS: u8 = 1 << 1;
    /// OUT2 gates the interrupt line on PC-style boards.
    pub const MCR_OUT2: u8 = 1 << 3;

    pub const LSR_DR: u8 = 1 << 0;
    pub const LSR_PE: u8 = 1 << 2;
    pub const LSR_FE: u8 = 1 << 3;
    pub const LSR_BI: u8 = 1 << 4;
    pub const LSR_THRE: u8 = 1 << 5;
    pub const LSR_TEMT: u8 = 1 << 6;
}

/// Polls before a wait gives up: a UART that never drains loses output
/// rather than hanging the hypervisor.
const SPIN_LIMIT: u32 = 1_000_000;
/// Bytes of the receive and transmit rings.
pub const RING_SIZE: usize = UART_RING_SIZE;
/// Register window mapped: 32 registers 4 bytes apart (DesignWare's USR is
/// the 32nd), which also covers the 1-byte-spaced layout.
const REGS_SIZE: u64 = 0x100;

/// How the registers are laid out: byte offset = index << `shift`, each
/// accessed with a `width`-byte load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `reg-shift`: 0 or 2.
    pub shift: u32,
    /// `reg-io-width`: 1 or 4.
    pub width: u8,
}

impl Layout {
    /// Byte registers 1 byte apart (the PC layout; the DT default).
    pub const BYTE: Layout = Layout { shift: 0, width: 1 };
    /// 32-bit registers 4 bytes apart (DesignWare on most Arm SoCs).
    pub const WORD: Layout = Layout { shift: 2, width: 4 };

    fn read(self, r: &dyn Mmio, index: usize) -> u8 {
        let off = index << self.shift;
        if self.width == 4 {
            r.read32(off) as u8
        } else {
            r.read8(off)
        }
    }

    fn write(self, r: &dyn Mmio, index: usize, v: u8) {
        let off = index << self.shift;
        if self.width == 4 {
            r.write32(off, v as u32)
        } else {
            r.write8(off, v)
        }
    }
}

/// Waits (bounded) for room in the transmitter, then writes. The 16550
/// only says "holding register/FIFO empty", so each byte waits for THRE.
fn putc_raw(r: &dyn Mmio, l: Layout, byte: u8) {
    let mut spins = 0u32;
    while l.read(r, regs::LSR) & regs::LSR_THRE == 0 {
        spins += 1;
        if spins == SPIN_LIMIT {
            return;
        }
        core::hint::spin_loop();
    }
    l.write(r, regs::THR, byte);
}

fn early_putc_byte(r: &dyn Mmio, byte: u8) {
    putc_raw(r, Layout::BYTE, byte);
}

fn early_putc_word(r: &dyn Mmio, byte: u8) {
    putc_raw(r, Layout::WORD, byte);
}

/// Which member of the family; each has one quirk the driver handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// A 16550A (or a part claiming "ns16550"): nothing special.
    Plain,
    /// Synopsys DesignWare APB UART: writes to LCR while the UART is busy
    /// are dropped and raise a "busy detect" interrupt, cleared by reading
    /// USR (DW_apb_uart databook, "Busy Functionality").
    DesignWare,
    /// BCM2835 auxiliary UART: 8-byte FIFOs, registers 4 bytes apart, and
    /// baud = clock / (8 * (divisor + 1)) (BCM2835 ARM Peripherals 2.2.1),
    /// so its divisor is always left as firmware set it.
    Bcm2835Aux,
}

/// What a node and the options ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub layout: Layout,
    pub variant: Variant,
    /// `clock-frequency`, when the node gives it.
    pub clock_hz: Option<u32>,
    /// Baud rate from the options.
    pub baud: Option<u32>,
    /// `fifo-size`, when the node gives it (else probed from IIR).
    pub fifo_size: Option<u32>,
    /// INTID from `interrupts`.
    pub irq: Option<u32>,
}

/// A probed NS16550-compatible UART.
pub struct Ns16550<M: Mmio> {
    regs: M,
    base: u64,
    layout: Layout,
    variant: Variant,
    fifo: usize,
    irq: Option<u32>,
    st: UartIrq,
}

impl<M: Mmio> Ns16550<M> {
    /// Takes over the UART: no interrupts, 8N1, FIFOs on and cleared. The
    /// divisor is programmed only when both the clock and the baud rate
    /// are known (never on the BCM2835 aux UART); otherwise firmware's is
    /// kept.
    pub fn new(regs: M, base: u64, cfg: &Config) -> Result<Self, UartError> {
        let l = cfg.layout;
        let divisor = match (cfg.clock_hz, cfg.baud, cfg.variant) {
            (Some(clk), Some(baud), v) if v != Variant::Bcm2835Aux => {
                let d = (clk as u64 + 8 * baud as u64) / (16 * baud as u64);
                if !(1..=0xffff).contains(&d) {
                    return Err(UartError::BadOptions(
                        "baud rate not reachable from clock-frequency",
                    ));
                }
                Some(d as u16)
            }
            _ => None,
        };
        let mut u = Ns16550 {
            regs,
            base,
            layout: l,
            variant: cfg.variant,
            fifo: 1,
            irq: cfg.irq,
            st: UartIrq::new(),
        };
        let r: &dyn Mmio = &u.regs;
        l.write(r, regs::IER, 0);
        // Let whatever the early console sent leave the line first:
        // clearing the FIFOs would cut it, and DesignWare drops LCR writes
        // while busy.
        u.wait_idle();
        u.clear_busy();
        if let Some(d) = divisor {
            u.write_lcr(regs::LCR_8N1 | regs::LCR_DLAB);
            l.write(r, regs::DLL, d as u8);
            l.write(r, regs::DLM, (d >> 8) as u8);
        }
        u.write_lcr(regs::LCR_8N1);
        l.write(r, regs::MCR, regs::MCR_DTR | regs::MCR_RTS);
        l.write(
            r,
            regs::FCR,
            regs::FCR_ENABLE | regs::FCR_CLEAR_RX | regs::FCR_CLEAR_TX | regs::FCR_RX_TRIG_8,
        );
        let fifo = match (cfg.fifo_size, cfg.variant) {
            (Some(n), _) => n as usize,
            (None, Variant::Bcm2835Aux) => 8,
            // IIR[7:6] = 11 once FCR enabled the FIFOs: a 16550A.
            (None, _) if l.read(r, regs::IIR) & regs::IIR_FIFOS == regs::IIR_FIFOS => 16,
            (None, _) => 1,
        };
        u.fifo = fifo;
        Ok(u)
    }

    /// Waits (bounded) until the transmitter is completely idle.
    fn wait_idle(&self) {
        let mut spins = 0u32;
        while self.layout.read(&self.regs, regs::LSR) & regs::LSR_TEMT == 0 && spins < SPIN_LIMIT {
            spins += 1;
            core::hint::spin_loop();
        }
    }

    /// DesignWare: a pending busy-detect indication is cleared by reading
    /// USR.
    fn clear_busy(&self) {
        if self.variant == Variant::DesignWare
            && self.layout.read(&self.regs, regs::IIR) & 0x0f == regs::IIR_DW_BUSY
        {
            self.layout.read(&self.regs, regs::DW_USR);
        }
    }

    /// Writes LCR; on DesignWare the write is checked and retried, as a
    /// write while busy is dropped.
    fn write_lcr(&self, v: u8) {
        for _ in 0..8 {
            self.layout.write(&self.regs, regs::LCR, v);
            if self.variant != Variant::DesignWare || self.layout.read(&self.regs, regs::LCR) == v {
                return;
            }
            self.wait_idle();
            self.clear_busy();
        }
    }

    /// Bytes the transmit FIFO takes once THRE is set.
    pub fn fifo_size(&self) -> usize {
        self.fifo
    }

    /// Received bytes lost because the receive ring was full.
    pub fn rx_dropped(&self) -> u32 {
        self.st.rx_dropped()
    }

    /// Reads one byte from the receive FIFO if there is one; `Some(None)`
    /// for a byte received with a parity/framing error or a break (read,
    /// so the FIFO moves on, and dropped).
    fn read_fifo(&self) -> Option<Option<u8>> {
        let lsr = self.layout.read(&self.regs, regs::LSR);
        if lsr & regs::LSR_DR == 0 {
            return None;
        }
        let b = self.layout.read(&self.regs, regs::RBR);
        if lsr & (regs::LSR_PE | regs::LSR_FE | regs::LSR_BI) != 0 {
            return Some(None);
        }
        Some(Some(b))
    }

    /// Fills the transmit FIFO from the ring when THRE says it is empty;
    /// masks the THRE interrupt once the ring is empty, unmasks it while
    /// bytes remain.
    fn refill_tx(&self, st: &mut UartIrqState) {
        let l = self.layout;
        if l.read(&self.regs, regs::LSR) & regs::LSR_THRE != 0 {
            for _ in 0..self.fifo {
                match st.tx.pop() {
                    Some(b) => l.write(&self.regs, regs::THR, b),
                    None => break,
                }
            }
        }
        let ier = l.read(&self.regs, regs::IER);
        let want = if st.tx.is_empty() {
            ier & !regs::IER_ETBEI
        } else {
            ier | regs::IER_ETBEI
        };
        if want != ier {
            l.write(&self.regs, regs::IER, want);
        }
    }
}

impl<M: Mmio> Uart for Ns16550<M> {
    fn putc(&self, byte: u8) {
        putc_raw(&self.regs, self.layout, byte);
    }
    fn getc(&self) -> Option<u8> {
        self.st.getc(|| self.read_fifo().flatten())
    }
    fn flush(&self) {
        self.wait_idle();
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
        let l = self.layout;
        l.write(
            &self.regs,
            regs::MCR,
            regs::MCR_DTR | regs::MCR_RTS | regs::MCR_OUT2,
        );
        l.write(&self.regs, regs::IER, regs::IER_ERBFI | regs::IER_ELSI);
        true
    }
    fn disable_irqs(&self) {
        self.st.disable(
            |b| self.putc(b),
            || {
                let l = self.layout;
                l.write(&self.regs, regs::IER, 0);
                l.write(&self.regs, regs::MCR, regs::MCR_DTR | regs::MCR_RTS);
            },
        );
    }
    fn handle_irq(&self) {
        let mut st = self.st.lock();
        if !st.on {
            return;
        }
        let l = self.layout;
        // Bounded: a stuck interrupt source cannot keep the CPU here.
        for _ in 0..16 {
            let iir = l.read(&self.regs, regs::IIR);
            if self.variant == Variant::DesignWare && iir & 0x0f == regs::IIR_DW_BUSY {
                l.read(&self.regs, regs::DW_USR);
                continue;
            }
            if iir & regs::IIR_NO_INT != 0 {
                break;
            }
            // RLS, RDA and CTI are all cleared by emptying the FIFO (and
            // reading LSR, which read_fifo does for each byte).
            for _ in 0..RING_SIZE {
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
            // THRE is cleared by the IIR read that reported it or by
            // writing THR.
            self.refill_tx(&mut st);
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

/// Reads what the driver needs from the node: `reg-shift` (0 or 2),
/// `reg-io-width` (1 or 4; 4 needs `reg-shift` 2), `clock-frequency`,
/// `fifo-size` and `interrupts` (8250.yaml), plus the compatible's quirk.
pub fn config(node: &Node, options: &str) -> Result<Config, UartError> {
    let baud = parse_baud(options)?;
    let variant = if node.is_compatible("brcm,bcm2835-aux-uart") {
        Variant::Bcm2835Aux
    } else if node.is_compatible("snps,dw-apb-uart") {
        Variant::DesignWare
    } else {
        Variant::Plain
    };
    let layout = if variant == Variant::Bcm2835Aux {
        // Its binding has no reg-shift: the registers are 32 bits apart.
        Layout::WORD
    } else {
        let shift = u32_prop(node, "reg-shift")?.unwrap_or(0);
        let width = u32_prop(node, "reg-io-width")?.unwrap_or(1);
        match (shift, width) {
            (0 | 2, 1) | (2, 4) => Layout {
                shift,
                width: width as u8,
            },
            (_, 1 | 4) => {
                return Err(UartError::BadNode(
                    "reg-shift must be 0 or 2 (2 with reg-io-width 4)",
                ))
            }
            _ => return Err(UartError::BadNode("reg-io-width must be 1 or 4")),
        }
    };
    let fifo_size = u32_prop(node, "fifo-size")?;
    if fifo_size.is_some_and(|n| !(1..=4096).contains(&n)) {
        return Err(UartError::BadNode("fifo-size must be 1..4096"));
    }
    Ok(Config {
        layout,
        variant,
        clock_hz: u32_prop(node, "clock-frequency")?.filter(|&c| c != 0),
        baud,
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
    Ok(Box::new(Ns16550::new(regs, base, &cfg)?))
}

/// Compatibles of parts whose programming interface is the 8250 one this
/// driver speaks (Xen 4.20's ns16550.c matches the same four).
const COMPATIBLE: &[&str] = &[
    "ns16550a",
    "ns16550",
    "snps,dw-apb-uart",
    "brcm,bcm2835-aux-uart",
];

#[distributed_slice(UART_DRIVERS)]
static NS16550: UartDriver = UartDriver {
    name: "ns16550",
    compatible: COMPATIBLE,
    regs_size: REGS_SIZE,
    probe,
    early_putc: early_putc_byte,
};

/// The same driver for the early console on parts with 32-bit registers 4
/// bytes apart (`reg-shift = <2>`, `reg-io-width = <4>`): the early console
/// has no node to read the layout from, so the layout is in the name. It
/// matches no compatible; the console proper probes through `ns16550`.
#[distributed_slice(UART_DRIVERS)]
static NS16550_WORD: UartDriver = UartDriver {
    name: "ns16550-word",
    compatible: &[],
    regs_size: REGS_SIZE,
    probe,
    early_putc: early_putc_word,
};

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "uart-ns16550",
    kconfig: "UART_NS16550",
    summary: "NS16550-compatible UART console (16550A, DesignWare APB, BCM2835 aux)",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Host serial console",
        qualifier: Some("NS16550"),
        status: Status::Experimental,
        tests: &[
            "unit:tessera-uart-ns16550::tests::init_programs_8n1_and_the_divisor",
            "unit:tessera-uart-ns16550::tests::init_keeps_firmware_divisor_without_a_clock",
            "unit:tessera-uart-ns16550::tests::polled_output_and_input_follow_lsr",
            "unit:tessera-uart-ns16550::tests::irq_drains_rx_into_the_ring_and_refills_tx",
            "unit:tessera-uart-ns16550::tests::drain_and_disable_write_the_ring_out_in_order",
            "unit:tessera-uart-ns16550::tests::early_uart_from_the_registry_writes_polled",
            "unit:tessera-uart-ns16550::tests::rx_ring_overflow_is_counted",
            "unit:tessera-uart-ns16550::tests::designware_word_layout_and_busy_detect",
            "unit:tessera-uart-ns16550::tests::full_fifo_gives_up_instead_of_hanging",
            "unit:tessera-uart-ns16550::tests::node_properties_are_validated",
        ],
        note: "Polled and interrupt-driven I/O (16550A, DesignWare APB, BCM2835 aux; reg-shift 0/2, 1- or 4-byte access); tested against a register model only, not on hardware or QEMU.",
    }],
    init: None,
};

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex as StdMutex};
    use std::vec::Vec;
    use tessera_core::fdt::Fdt;
    use tessera_core::fdt_write::FdtWriter;

    /// A register-level model of a 16550A (PC16550D data sheet): 16-byte
    /// FIFOs, LSR DR/THRE/TEMT from the FIFO and shifter state, per-byte
    /// error bits, IIR priorities (line status > data available /
    /// character timeout > THR empty), THRE cleared by reading IIR or
    /// writing THR, set again when the FIFO empties, DLAB banking, and the
    /// DesignWare busy-detect rule. Each LSR read lets one byte go out on
    /// the line (time passes while the driver polls) unless `stuck`.
    #[derive(Clone)]
    struct Model {
        s: Arc<StdMutex<State>>,
        layout: Layout,
    }

    #[derive(Default)]
    struct State {
        lcr: u8,
        ier: u8,
        mcr: u8,
        dll: u8,
        dlm: u8,
        fifo_on: bool,
        rx_trigger: usize,
        /// (byte, LSR error bits it was received with)
        rx: VecDeque<(u8, u8)>,
        tx: VecDeque<u8>,
        shifter: Option<u8>,
        wire: Vec<u8>,
        overrun: bool,
        thre_pending: bool,
        timeout: bool,
        stuck: bool,
        designware: bool,
        busy_detect: bool,
        lcr_writes_dropped: u32,
    }

    const DEPTH: usize = 16;

    impl State {
        fn tick(&mut self) {
            if self.stuck {
                return;
            }
            if let Some(b) = self.shifter.take() {
                self.wire.push(b);
            }
            self.shifter = self.tx.pop_front();
            if self.shifter.is_some() && self.tx.is_empty() {
                self.thre_pending = true; // the FIFO just became empty
            }
        }
        fn lsr(&self) -> u8 {
            let mut v = 0;
            if let Some(&(_, err)) = self.rx.front() {
                v |= regs::LSR_DR | err;
            }
            if self.overrun {
                v |= 1 << 1;
            }
            if self.rx.iter().any(|&(_, e)| e != 0) {
                v |= 1 << 7;
            }
            if self.tx.is_empty() {
                v |= regs::LSR_THRE;
                if self.shifter.is_none() {
                    v |= regs::LSR_TEMT;
                }
            }
            v
        }
        fn iir(&self) -> u8 {
            let fifo = if self.fifo_on { regs::IIR_FIFOS } else { 0 };
            let line_err = self.overrun || self.rx.front().is_some_and(|&(_, e)| e != 0);
            let id = if line_err && self.ier & regs::IER_ELSI != 0 {
                regs::IIR_RLS
            } else if self.rx.len() >= self.rx_trigger.max(1) && self.ier & regs::IER_ERBFI != 0 {
                regs::IIR_RDA
            } else if self.timeout && self.ier & regs::IER_ERBFI != 0 {
                regs::IIR_CTI
            } else if self.thre_pending && self.ier & regs::IER_ETBEI != 0 {
                regs::IIR_THRE
            } else if self.busy_detect {
                regs::IIR_DW_BUSY
            } else {
                regs::IIR_NO_INT
            };
            fifo | id
        }
        fn busy(&self) -> bool {
            self.shifter.is_some() || !self.tx.is_empty()
        }
        fn read(&mut self, index: usize) -> u8 {
            let dlab = self.lcr & regs::LCR_DLAB != 0;
            match index {
                0 if dlab => self.dll,
                0 => {
                    self.timeout = false;
                    self.rx.pop_front().map_or(0, |(b, _)| b)
                }
                1 if dlab => self.dlm,
                1 => self.ier,
                2 => {
                    let v = self.iir();
                    if v & 0x0f == regs::IIR_THRE {
                        self.thre_pending = false;
                    }
                    v
                }
                3 => self.lcr,
                4 => self.mcr,
                5 => {
                    let v = self.lsr();
                    self.overrun = false;
                    self.tick();
                    v
                }
                0x1f if self.designware => {
                    self.busy_detect = false;
                    u8::from(self.busy())
                }
                _ => 0,
            }
        }
        fn write(&mut self, index: usize, v: u8) {
            let dlab = self.lcr & regs::LCR_DLAB != 0;
            match index {
                0 if dlab => self.dll = v,
                0 => {
                    assert!(self.tx.len() < DEPTH, "write to a full TX FIFO");
                    self.tx.push_back(v);
                    self.thre_pending = false;
                }
                1 if dlab => self.dlm = v,
                1 => {
                    if v & regs::IER_ETBEI != 0
                        && self.ier & regs::IER_ETBEI == 0
                        && self.tx.is_empty()
                    {
                        self.thre_pending = true;
                    }
                    self.ier = v & 0x0f;
                }
                2 => {
                    self.fifo_on = v & regs::FCR_ENABLE != 0;
                    if v & regs::FCR_CLEAR_RX != 0 {
                        self.rx.clear();
                        self.timeout = false;
                    }
                    if v & regs::FCR_CLEAR_TX != 0 {
                        self.tx.clear();
                    }
                    self.rx_trigger = [1, 4, 8, 14][(v >> 6) as usize];
                }
                3 => {
                    if self.designware && self.busy() {
                        self.busy_detect = true;
                        self.lcr_writes_dropped += 1;
                    } else {
                        self.lcr = v;
                    }
                }
                4 => self.mcr = v,
                _ => {}
            }
        }
    }

    impl Model {
        fn new(layout: Layout) -> Self {
            Model {
                s: Arc::new(StdMutex::new(State {
                    rx_trigger: 1,
                    ..State::default()
                })),
                layout,
            }
        }
        fn st(&self) -> std::sync::MutexGuard<'_, State> {
            self.s.lock().unwrap()
        }
        /// Bytes arrive on the line (lost with overrun once the FIFO is full).
        fn receive(&self, bytes: &[u8], err: u8) {
            let mut s = self.st();
            for &b in bytes {
                if s.rx.len() == DEPTH {
                    s.overrun = true;
                } else {
                    s.rx.push_back((b, err));
                }
            }
        }
        /// The line stays quiet for four character times.
        fn idle(&self) {
            let mut s = self.st();
            s.timeout = !s.rx.is_empty();
            s.tick();
        }
        fn index(&self, off: usize, width: u8) -> usize {
            assert_eq!(width, self.layout.width, "access width at {off:#x}");
            assert_eq!(off % (1 << self.layout.shift), 0, "misaligned {off:#x}");
            off >> self.layout.shift
        }
    }

    impl Mmio for Model {
        fn read32(&self, off: usize) -> u32 {
            let i = self.index(off, 4);
            self.st().read(i) as u32
        }
        fn write32(&self, off: usize, v: u32) {
            let i = self.index(off, 4);
            assert!(v <= 0xff, "8250 registers are 8 bits wide");
            self.st().write(i, v as u8)
        }
        fn read8(&self, off: usize) -> u8 {
            let i = self.index(off, 1);
            self.st().read(i)
        }
        fn write8(&self, off: usize, v: u8) {
            let i = self.index(off, 1);
            self.st().write(i, v)
        }
        fn len(&self) -> usize {
            REGS_SIZE as usize
        }
    }

    fn cfg(layout: Layout, clock_hz: Option<u32>, baud: Option<u32>) -> Config {
        Config {
            layout,
            variant: Variant::Plain,
            clock_hz,
            baud,
            fifo_size: None,
            irq: Some(33),
        }
    }

    #[test]
    fn init_programs_8n1_and_the_divisor() {
        let m = Model::new(Layout::BYTE);
        m.st().ier = 0x0f;
        let u = Ns16550::new(
            m.clone(),
            0x1000,
            &cfg(Layout::BYTE, Some(48_000_000), Some(115_200)),
        )
        .unwrap();
        let s = m.st();
        // 48 MHz / (16 * 115200) = 26.04 -> 26
        assert_eq!((s.dll, s.dlm), (26, 0));
        assert_eq!(s.lcr, regs::LCR_8N1, "8N1, DLAB off");
        assert_eq!(s.ier, 0, "polled: no interrupts");
        assert_eq!(s.mcr, regs::MCR_DTR | regs::MCR_RTS);
        assert!(s.fifo_on);
        assert_eq!(s.rx_trigger, 8);
        drop(s);
        assert_eq!(u.fifo_size(), 16, "FIFOs found through IIR[7:6]");
        // 1.8432 MHz / (16 * 9600) = 12 exactly.
        let m = Model::new(Layout::BYTE);
        Ns16550::new(
            m.clone(),
            0,
            &cfg(Layout::BYTE, Some(1_843_200), Some(9600)),
        )
        .unwrap();
        assert_eq!(m.st().dll, 12);
        // A baud rate the divisor cannot reach is refused.
        assert!(
            Ns16550::new(m.clone(), 0, &cfg(Layout::BYTE, Some(1_000), Some(115_200))).is_err()
        );
    }

    #[test]
    fn init_keeps_firmware_divisor_without_a_clock() {
        let m = Model::new(Layout::BYTE);
        {
            let mut s = m.st();
            (s.dll, s.dlm) = (13, 0);
            // Firmware left output in flight: it is not cut.
            s.tx.extend(*b"ok");
        }
        Ns16550::new(m.clone(), 0, &cfg(Layout::BYTE, None, Some(115_200))).unwrap();
        let s = m.st();
        assert_eq!((s.dll, s.dlm, s.lcr), (13, 0, regs::LCR_8N1));
        assert_eq!(s.wire, b"ok");
    }

    #[test]
    fn polled_output_and_input_follow_lsr() {
        let m = Model::new(Layout::BYTE);
        let u = Ns16550::new(m.clone(), 0, &cfg(Layout::BYTE, None, None)).unwrap();
        assert_eq!(m.st().lsr() & (regs::LSR_THRE | regs::LSR_TEMT), 0x60);
        u.write(b"hi\n");
        u.flush();
        assert_eq!(m.st().wire, b"hi\r\n");
        assert_eq!(m.st().lsr() & regs::LSR_TEMT, regs::LSR_TEMT);
        m.receive(b"a", 0);
        m.receive(b"b", regs::LSR_FE);
        m.receive(b"c", 0);
        assert_eq!(m.st().lsr() & regs::LSR_DR, regs::LSR_DR);
        assert_eq!(u.getc(), Some(b'a'));
        assert_eq!(u.getc(), None, "a byte with a framing error is dropped");
        assert_eq!(u.getc(), Some(b'c'));
        assert_eq!(u.getc(), None);
        assert_eq!(m.st().lsr() & regs::LSR_DR, 0);
    }

    /// The console's polled paths (`sync_console`, a full ring, the crash
    /// path) first write out what the transmit ring holds, in order.
    #[test]
    fn drain_and_disable_write_the_ring_out_in_order() {
        let m = Model::new(Layout::BYTE);
        let u = Ns16550::new(m.clone(), 0, &cfg(Layout::BYTE, None, None)).unwrap();
        assert!(u.enable_irqs());
        let msg: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        assert_eq!(u.queue_tx(&msg), 200);
        assert!(u.st.tx_queued() > 0, "the FIFO took only part");
        u.drain_tx();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(
            m.st().ier & regs::IER_ETBEI == 0,
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
        for (name, layout) in [("ns16550", Layout::BYTE), ("ns16550-word", Layout::WORD)] {
            let m = Model::new(layout);
            let u = Ns16550::new(m.clone(), 0, &cfg(layout, None, None)).unwrap();
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
        let m = Model::new(Layout::BYTE);
        let u = Ns16550::new(m.clone(), 0, &cfg(Layout::BYTE, None, None)).unwrap();
        assert_eq!(u.irq(), Some(33));
        assert!(u.enable_irqs());
        assert_eq!(m.st().ier, regs::IER_ERBFI | regs::IER_ELSI);
        assert_ne!(m.st().mcr & regs::MCR_OUT2, 0);
        assert_eq!(m.st().iir() & 0x0f, regs::IIR_NO_INT);

        // Below the trigger level: only the character timeout raises it.
        m.receive(b"hello", 0);
        assert_eq!(m.st().iir() & 0x0f, regs::IIR_NO_INT);
        m.idle();
        assert_eq!(m.st().iir() & 0x0f, regs::IIR_CTI);
        u.handle_irq();
        assert_eq!(m.st().iir() & 0x0f, regs::IIR_NO_INT);
        assert!(m.st().rx.is_empty());
        // At the trigger level: data available.
        m.receive(b"12345678", 0);
        assert_eq!(m.st().iir() & 0x0f, regs::IIR_RDA);
        u.handle_irq();
        let got: Vec<u8> = core::iter::from_fn(|| u.getc()).collect();
        assert_eq!(got, b"hello12345678");

        // Transmit 40 bytes: 16 go straight into the FIFO, THRE refills.
        let msg: Vec<u8> = (0..40).map(|i| b'A' + i).collect();
        assert_eq!(u.queue_tx(&msg), 40);
        assert_eq!(m.st().tx.len(), 16);
        assert_ne!(m.st().ier & regs::IER_ETBEI, 0);
        for _ in 0..200 {
            let pending = m.st().iir() & regs::IIR_NO_INT == 0;
            if pending {
                u.handle_irq();
            } else {
                m.st().tick();
            }
        }
        assert_eq!(m.st().wire, msg);
        assert_eq!(
            m.st().ier & regs::IER_ETBEI,
            0,
            "THRE masked once the ring is empty"
        );
        assert_eq!(m.st().iir() & 0x0f, regs::IIR_NO_INT);

        u.disable_irqs();
        assert_eq!(m.st().ier, 0);
        assert_eq!(u.queue_tx(b"p"), 1, "polled again");
        u.flush();
        assert_eq!(m.st().wire.last(), Some(&b'p'));
    }

    #[test]
    fn rx_ring_overflow_is_counted() {
        let m = Model::new(Layout::BYTE);
        let u = Ns16550::new(m.clone(), 0, &cfg(Layout::BYTE, None, None)).unwrap();
        assert!(u.enable_irqs());
        for chunk in 0..20 {
            m.receive(&[chunk as u8; 16], 0);
            u.handle_irq();
        }
        assert_eq!(u.rx_dropped(), 320 - RING_SIZE as u32);
        assert_eq!(core::iter::from_fn(|| u.getc()).count(), RING_SIZE);
    }

    #[test]
    fn designware_word_layout_and_busy_detect() {
        let m = Model::new(Layout::WORD);
        {
            let mut s = m.st();
            s.designware = true;
            s.busy_detect = true; // left over from firmware
            s.tx.extend(*b"fw");
        }
        let mut c = cfg(Layout::WORD, Some(24_000_000), Some(115_200));
        c.variant = Variant::DesignWare;
        let u = Ns16550::new(m.clone(), 0, &c).unwrap();
        {
            let s = m.st();
            // 24 MHz / (16 * 115200) = 13.02 -> 13
            assert_eq!((s.dll, s.lcr), (13, regs::LCR_8N1));
            assert_eq!(s.lcr_writes_dropped, 0, "waited for the line to go idle");
            assert!(!s.busy_detect);
            assert_eq!(s.wire, b"fw");
        }
        // A busy-detect raised later is cleared by the IRQ path.
        assert!(u.enable_irqs());
        m.st().busy_detect = true;
        u.handle_irq();
        assert!(!m.st().busy_detect);
        u.putc(b'x');
        u.flush();
        assert_eq!(m.st().wire, b"fwx");
        // The early console's word-layout entry speaks the same layout.
        early_putc_word(&m, b'y');
        u.flush();
        assert_eq!(m.st().wire, b"fwxy");
    }

    #[test]
    fn full_fifo_gives_up_instead_of_hanging() {
        let m = Model::new(Layout::BYTE);
        let u = Ns16550::new(m.clone(), 0, &cfg(Layout::BYTE, None, None)).unwrap();
        m.st().stuck = true; // the line never drains
        u.putc(b'x');
        u.putc(b'y'); // THRE never comes back
        assert_eq!(m.st().tx, [b'x']);
        assert!(m.st().wire.is_empty());
    }

    fn node_test(props: impl FnOnce(&mut FdtWriter)) -> Result<Config, UartError> {
        let mut w = FdtWriter::new();
        w.begin_node("").begin_node("serial@1000");
        props(&mut w);
        w.end_node().end_node();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let node = fdt.find_node("/serial@1000").unwrap();
        config(&node, "115200n8")
    }

    #[test]
    fn node_properties_are_validated() {
        let c = node_test(|w| {
            w.prop_strs("compatible", &["rockchip,rk3399-uart", "snps,dw-apb-uart"])
                .prop_u32("reg-shift", 2)
                .prop_u32("reg-io-width", 4)
                .prop_u32("clock-frequency", 24_000_000)
                .prop_cells("interrupts", &[0, 99, 4]);
        })
        .unwrap();
        assert_eq!(c.layout, Layout::WORD);
        assert_eq!(c.variant, Variant::DesignWare);
        assert_eq!(
            (c.clock_hz, c.baud, c.irq),
            (Some(24_000_000), Some(115_200), Some(131))
        );
        let c = node_test(|w| {
            w.prop_str("compatible", "ns16550a");
        })
        .unwrap();
        assert_eq!(
            (c.layout, c.variant, c.irq),
            (Layout::BYTE, Variant::Plain, None)
        );
        let c = node_test(|w| {
            w.prop_str("compatible", "brcm,bcm2835-aux-uart");
        })
        .unwrap();
        assert_eq!((c.layout, c.variant), (Layout::WORD, Variant::Bcm2835Aux));
        assert!(node_test(|w| {
            w.prop_u32("reg-io-width", 2);
        })
        .is_err());
        assert!(node_test(|w| {
            w.prop_u32("reg-shift", 1);
        })
        .is_err());
        assert!(
            node_test(|w| {
                w.prop_u32("reg-io-width", 4);
            })
            .is_err(),
            "4-byte access needs 4-byte spacing"
        );
        assert!(node_test(|w| {
            w.prop_cells("interrupts", &[0, 99]);
        })
        .is_err());
    }
}
