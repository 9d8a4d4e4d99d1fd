//! The Renesas (H)SCIF(A) serial interfaces of R-Car and RZ SoCs as the
//! hypervisor console: SCIF (16-byte FIFOs), SCIFA (64, a different
//! register layout) and HSCIF (128). Register maps and bits: the R-Car
//! Gen3 hardware user's manual, chapters "Serial Communication Interface
//! with FIFO (SCIF)" and "High Speed Serial Communication Interface with
//! FIFO (HSCIF)", and Linux's drivers/tty/serial/sh-sci.h; device-tree
//! binding: Linux Documentation/devicetree/bindings/serial/renesas,scif.yaml,
//! renesas,scifa.yaml and renesas,hscif.yaml. Polled transmit (early
//! console and console), polled receive, and an interrupt path (receive
//! and transmit rings). No unsafe code: registers go through core's
//! `Mmio`, and the tests drive a register-level model.
//!
//! Registers are accessed at the width the manual gives them: SCSMR,
//! SCSCR, SCFSR, SCFCR, SCFDR, SCLSR (and HSSRR, and SCIFA's equivalents)
//! 16 bits; SCBRR, SCFTDR and SCFRDR 8 bits (as Xen's scif-uart.c does).
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

/// Bits (R-Car Gen3 HWUM, SCIF/HSCIF register descriptions; SCIFA from
/// sh-sci.h). Offsets are per flavour, in [`Map`].
mod bits {
    // The whole map is listed; the test model uses what the driver does not.
    #![allow(dead_code)]

    /// Serial status (SCFSR; SCASSR bits 7:0 are the same).
    pub const FSR_ER: u16 = 1 << 7;
    pub const FSR_TEND: u16 = 1 << 6;
    pub const FSR_TDFE: u16 = 1 << 5;
    pub const FSR_BRK: u16 = 1 << 4;
    pub const FSR_FER: u16 = 1 << 3;
    pub const FSR_PER: u16 = 1 << 2;
    pub const FSR_RDF: u16 = 1 << 1;
    pub const FSR_DR: u16 = 1 << 0;
    /// SCIFA keeps the overrun flag in SCASSR.
    pub const SCASSR_ORER: u16 = 1 << 9;
    /// SCIF/HSCIF keep it in SCLSR.
    pub const LSR_ORER: u16 = 1 << 0;
    /// Receive-side flags, cleared by writing 0 after reading 1.
    pub const FSR_RX: u16 = FSR_ER | FSR_BRK | FSR_RDF | FSR_DR;

    /// Serial control (SCSCR / SCASCR).
    pub const SCR_TIE: u16 = 1 << 7;
    pub const SCR_RIE: u16 = 1 << 6;
    pub const SCR_TE: u16 = 1 << 5;
    pub const SCR_RE: u16 = 1 << 4;
    /// SCIF/HSCIF receive error interrupt enable.
    pub const SCR_REIE: u16 = 1 << 3;
    /// Clock source select (internal/external), kept as firmware set it.
    pub const SCR_CKE: u16 = 0b11;
    /// SCIFA: receive error, break and data-ready interrupt enables.
    pub const SCASCR_ERIE: u16 = 1 << 10;
    pub const SCASCR_BRIE: u16 = 1 << 9;
    pub const SCASCR_DRIE: u16 = 1 << 8;

    /// Serial mode: CA=0 (asynchronous), CHR=0 (8 bits), PE=0, STOP=0 (1
    /// stop bit); CKS[1:0] is the clock prescaler.
    pub const SMR_CKS: u16 = 0b11;

    /// FIFO control.
    pub const FCR_RFRST: u16 = 1 << 1;
    pub const FCR_TFRST: u16 = 1 << 2;
    /// TTRG = 11: TDFE when the transmit FIFO is empty.
    pub const FCR_TTRG_EMPTY: u16 = 0b11 << 4;
    /// RTRG = 00: RDF from 1 received byte.
    pub const FCR_RTRG_1: u16 = 0;

    /// HSCIF sampling rate register: SRE enables SRCYC (sampling - 1).
    pub const HSSRR_SRE: u16 = 1 << 15;
}

/// Where a flavour keeps its registers, and its FIFO depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Map {
    pub smr: usize,
    /// Bit rate (8 bits).
    pub brr: usize,
    pub scr: usize,
    /// Transmit FIFO data (8 bits).
    pub ftdr: usize,
    pub fsr: usize,
    /// Receive FIFO data (8 bits).
    pub frdr: usize,
    pub fcr: usize,
    /// FIFO data count: transmit count in bits 15:8, receive count in the
    /// low bits (mask `2 * fifo - 1`, as sh-sci.c reads it).
    pub fdr: usize,
    /// SCLSR (SCIF/HSCIF); `None` for SCIFA, whose ORER is in SCASSR.
    pub lsr: Option<usize>,
    /// HSSRR (HSCIF only).
    pub hssrr: Option<usize>,
    pub fifo: usize,
    /// SCR bits that enable the receive-side interrupts.
    pub rx_irqs: u16,
}

/// The three flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Scif,
    Scifa,
    Hscif,
}

impl Flavour {
    /// The register map (SCIF/HSCIF: R-Car Gen3 HWUM; SCIFA: sh-sci.c's
    /// SCIFA register table, as Xen's scif-uart.h).
    pub const fn map(self) -> Map {
        match self {
            Flavour::Scif | Flavour::Hscif => Map {
                smr: 0x00,
                brr: 0x04,
                scr: 0x08,
                ftdr: 0x0c,
                fsr: 0x10,
                frdr: 0x14,
                fcr: 0x18,
                fdr: 0x1c,
                lsr: Some(0x24),
                hssrr: if matches!(self, Flavour::Hscif) {
                    Some(0x40)
                } else {
                    None
                },
                fifo: if matches!(self, Flavour::Hscif) {
                    128
                } else {
                    16
                },
                rx_irqs: bits::SCR_RIE | bits::SCR_REIE,
            },
            Flavour::Scifa => Map {
                smr: 0x00,
                brr: 0x04,
                scr: 0x08,
                fsr: 0x14,
                fcr: 0x18,
                fdr: 0x1c,
                ftdr: 0x20,
                frdr: 0x24,
                lsr: None,
                hssrr: None,
                fifo: 64,
                rx_irqs: bits::SCR_RIE | bits::SCASCR_ERIE | bits::SCASCR_BRIE | bits::SCASCR_DRIE,
            },
        }
    }
}

/// Reads a 16-bit register.
fn read16(r: &dyn Mmio, off: usize) -> u16 {
    r.read16(off)
}

/// Writes a 16-bit register.
fn write16(r: &dyn Mmio, off: usize, v: u16) {
    r.write16(off, v)
}

const SPIN_LIMIT: u32 = 1_000_000;
/// Bytes of the receive and transmit rings.
pub const RING_SIZE: usize = UART_RING_SIZE;
const REGS_SIZE: u64 = 0x100;

fn tx_count(r: &dyn Mmio, m: &Map) -> usize {
    (read16(r, m.fdr) >> 8) as usize
}

fn rx_count(r: &dyn Mmio, m: &Map) -> usize {
    (read16(r, m.fdr) as usize) & (2 * m.fifo - 1)
}

/// Clears flags in the status register: they must have been read as 1
/// and are written 0 (bits written 1 are left alone).
fn clear_fsr(r: &dyn Mmio, m: &Map, flags: u16) {
    let v = read16(r, m.fsr);
    write16(r, m.fsr, v & !flags);
}

/// Waits (bounded) for room in the transmit FIFO (from SCFDR's count),
/// writes, and clears TEND/TDFE so that `flush` sees this byte.
fn putc_raw(r: &dyn Mmio, m: &Map, byte: u8) {
    let mut spins = 0u32;
    while tx_count(r, m) >= m.fifo {
        spins += 1;
        if spins == SPIN_LIMIT {
            return;
        }
        core::hint::spin_loop();
    }
    r.write8(m.ftdr, byte);
    clear_fsr(r, m, bits::FSR_TEND | bits::FSR_TDFE);
}

fn early_putc_scif(r: &dyn Mmio, byte: u8) {
    putc_raw(r, &Flavour::Scif.map(), byte)
}
fn early_putc_scifa(r: &dyn Mmio, byte: u8) {
    putc_raw(r, &Flavour::Scifa.map(), byte)
}
fn early_putc_hscif(r: &dyn Mmio, byte: u8) {
    putc_raw(r, &Flavour::Hscif.map(), byte)
}

/// SCBRR for a clock and baud rate with CKS = 0 (and, on HSCIF, 16
/// samples per bit): N = clock / (32 * baud) - 1, rounded (HWUM, "Bit Rate
/// Register"). `None` outside 0..=255.
pub fn brr(clock_hz: u32, baud: u32) -> Option<u8> {
    let n = (clock_hz as u64 + 16 * baud as u64) / (32 * baud as u64);
    n.checked_sub(1).and_then(|n| u8::try_from(n).ok())
}

/// What a node and the options ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub flavour: Flavour,
    /// `clock-frequency` (the bindings name clocks by phandle; a node
    /// without this keeps firmware's bit rate).
    pub clock_hz: Option<u32>,
    pub baud: Option<u32>,
    pub irq: Option<u32>,
}

/// A probed (H)SCIF(A).
pub struct Scif<M: Mmio> {
    regs: M,
    base: u64,
    map: Map,
    irq: Option<u32>,
    st: UartIrq,
}

impl<M: Mmio> Scif<M> {
    /// Takes over the interface: waits for transmission end, turns TE/RE
    /// and the interrupts off (keeping the clock select), resets both
    /// FIFOs, sets 8N1 (and the bit rate when both clock and baud are
    /// known), clears the status flags, sets the triggers (receive 1 byte,
    /// transmit empty) and enables TE/RE.
    pub fn new(regs: M, base: u64, cfg: &Config) -> Result<Self, UartError> {
        let n = match (cfg.clock_hz, cfg.baud) {
            (Some(clk), Some(baud)) => Some(brr(clk, baud).ok_or(UartError::BadOptions(
                "baud rate not reachable from clock-frequency",
            ))?),
            _ => None,
        };
        let u = Scif {
            regs,
            base,
            map: cfg.flavour.map(),
            irq: cfg.irq,
            st: UartIrq::new(),
        };
        let (r, m): (&dyn Mmio, &Map) = (&u.regs, &u.map);
        u.flush();
        let cke = read16(r, m.scr) & bits::SCR_CKE;
        write16(r, m.scr, cke);
        write16(r, m.fcr, bits::FCR_RFRST | bits::FCR_TFRST);
        match n {
            Some(n) => {
                write16(r, m.smr, 0);
                r.write8(m.brr, n);
                if let Some(hssrr) = m.hssrr {
                    write16(r, hssrr, bits::HSSRR_SRE | 15);
                }
                // The HWUM asks for one bit period before TE/RE are set;
                // the flag clearing and FIFO setup below take longer than
                // that at the rates offered here only on a slow bus, so
                // read the status a few times to let it pass.
                for _ in 0..64 {
                    read16(r, m.fsr);
                }
            }
            None => {
                let cks = read16(r, m.smr) & bits::SMR_CKS;
                write16(r, m.smr, cks);
            }
        }
        clear_fsr(r, m, 0xffff);
        if let Some(lsr) = m.lsr {
            read16(r, lsr);
            write16(r, lsr, 0);
        }
        write16(r, m.fcr, bits::FCR_RTRG_1 | bits::FCR_TTRG_EMPTY);
        write16(r, m.scr, cke | bits::SCR_TE | bits::SCR_RE);
        Ok(u)
    }

    /// Received bytes lost because the receive ring was full.
    pub fn rx_dropped(&self) -> u32 {
        self.st.rx_dropped()
    }

    /// Reads one byte if the receive FIFO holds one; `Some(None)` for a
    /// byte with a framing or parity error (FER/PER describe the byte just
    /// read from SCFRDR, so the status is read after it).
    fn read_fifo(&self) -> Option<Option<u8>> {
        let (r, m): (&dyn Mmio, &Map) = (&self.regs, &self.map);
        if rx_count(r, m) == 0 {
            return None;
        }
        let b = r.read8(m.frdr);
        let fsr = read16(r, m.fsr);
        write16(r, m.fsr, fsr & !bits::FSR_RX);
        if fsr & (bits::FSR_FER | bits::FSR_PER) != 0 {
            return Some(None);
        }
        Some(Some(b))
    }

    fn set_scr_bits(&self, set: u16, clear: u16) {
        let (r, m): (&dyn Mmio, &Map) = (&self.regs, &self.map);
        let v = read16(r, m.scr);
        let want = (v | set) & !clear;
        if want != v {
            write16(r, m.scr, want);
        }
    }

    /// Fills the transmit FIFO from the ring (room from SCFDR), clears
    /// TDFE/TEND, and enables TIE while bytes remain, disables it once the
    /// ring is empty (TDFE stays set while the FIFO is empty).
    fn refill_tx(&self, st: &mut UartIrqState) {
        let (r, m): (&dyn Mmio, &Map) = (&self.regs, &self.map);
        let room = m.fifo.saturating_sub(tx_count(r, m));
        let mut wrote = false;
        for _ in 0..room {
            match st.tx.pop() {
                Some(b) => {
                    r.write8(m.ftdr, b);
                    wrote = true;
                }
                None => break,
            }
        }
        if wrote {
            clear_fsr(r, m, bits::FSR_TEND | bits::FSR_TDFE);
        }
        if st.tx.is_empty() {
            self.set_scr_bits(0, bits::SCR_TIE);
        } else {
            self.set_scr_bits(bits::SCR_TIE, 0);
        }
    }
}

impl<M: Mmio> Uart for Scif<M> {
    fn putc(&self, byte: u8) {
        putc_raw(&self.regs, &self.map, byte);
    }
    fn getc(&self) -> Option<u8> {
        self.st.getc(|| self.read_fifo().flatten())
    }
    fn flush(&self) {
        let mut spins = 0u32;
        while read16(&self.regs, self.map.fsr) & bits::FSR_TEND == 0 && spins < SPIN_LIMIT {
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
        let (r, m): (&dyn Mmio, &Map) = (&self.regs, &self.map);
        clear_fsr(r, m, bits::FSR_RX);
        self.set_scr_bits(m.rx_irqs, 0);
        true
    }
    fn disable_irqs(&self) {
        self.st.disable(
            |b| self.putc(b),
            || {
                self.set_scr_bits(0, self.map.rx_irqs | bits::SCR_TIE);
            },
        );
    }
    fn handle_irq(&self) {
        let mut st = self.st.lock();
        if !st.on {
            return;
        }
        let (r, m): (&dyn Mmio, &Map) = (&self.regs, &self.map);
        for _ in 0..16 {
            let scr = read16(r, m.scr);
            let fsr = read16(r, m.fsr);
            let mut pending = fsr & bits::FSR_RX;
            if scr & bits::SCR_TIE != 0 {
                pending |= fsr & bits::FSR_TDFE;
            }
            let overrun = match m.lsr {
                Some(lsr) => read16(r, lsr) & bits::LSR_ORER != 0,
                None => fsr & bits::SCASSR_ORER != 0,
            };
            if pending == 0 && !overrun {
                break;
            }
            for _ in 0..m.fifo {
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
            // RDF/DR/ER/BRK clear once the FIFO is read out (and
            // read_fifo cleared them per byte); clear any left over.
            clear_fsr(r, m, bits::FSR_RX);
            if overrun {
                match m.lsr {
                    Some(lsr) => write16(r, lsr, 0),
                    None => clear_fsr(r, m, bits::SCASSR_ORER),
                }
            }
            if pending & bits::FSR_TDFE != 0 {
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

/// The flavour from the node's compatible list (first match wins, as the
/// registry matches), then `clock-frequency` and `interrupts`.
pub fn config(node: &Node, options: &str) -> Result<Config, UartError> {
    let flavour = node
        .compatible()
        .find_map(|c| match c {
            _ if SCIF_COMPATIBLE.contains(&c) => Some(Flavour::Scif),
            _ if SCIFA_COMPATIBLE.contains(&c) => Some(Flavour::Scifa),
            _ if HSCIF_COMPATIBLE.contains(&c) => Some(Flavour::Hscif),
            _ => None,
        })
        .ok_or(UartError::BadNode("not a renesas,scif/scifa/hscif node"))?;
    let clock_hz = match node.property("clock-frequency") {
        None => None,
        Some(p) => Some(p.as_u32().ok_or(UartError::BadNode("clock-frequency"))?),
    };
    Ok(Config {
        flavour,
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
    Ok(Box::new(Scif::new(regs, base, &cfg)?))
}

/// The generic compatibles Xen 4.20's scif-uart.c matches. SoC nodes list
/// a SoC string and a family string ("renesas,scif-r8a7795",
/// "renesas,rcar-gen3-scif") before the generic one, which is what
/// matches here.
const SCIF_COMPATIBLE: &[&str] = &["renesas,scif"];
const SCIFA_COMPATIBLE: &[&str] = &["renesas,scifa"];
const HSCIF_COMPATIBLE: &[&str] = &["renesas,hscif"];

#[distributed_slice(UART_DRIVERS)]
static SCIF: UartDriver = UartDriver {
    name: "scif",
    compatible: SCIF_COMPATIBLE,
    regs_size: REGS_SIZE,
    probe,
    early_putc: early_putc_scif,
};

#[distributed_slice(UART_DRIVERS)]
static SCIFA: UartDriver = UartDriver {
    name: "scifa",
    compatible: SCIFA_COMPATIBLE,
    regs_size: REGS_SIZE,
    probe,
    early_putc: early_putc_scifa,
};

#[distributed_slice(UART_DRIVERS)]
static HSCIF: UartDriver = UartDriver {
    name: "hscif",
    compatible: HSCIF_COMPATIBLE,
    regs_size: REGS_SIZE,
    probe,
    early_putc: early_putc_hscif,
};

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "uart-scif",
    kconfig: "UART_SCIF",
    summary: "Renesas SCIF/SCIFA/HSCIF UART console",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Host serial console",
        qualifier: Some("SCI(F) UART"),
        status: Status::Experimental,
        tests: &[
            "unit:tessera-uart-scif::tests::init_programs_8n1_and_the_bit_rate",
            "unit:tessera-uart-scif::tests::init_keeps_firmware_bit_rate_without_a_clock",
            "unit:tessera-uart-scif::tests::polled_output_and_input_follow_fsr_and_fdr",
            "unit:tessera-uart-scif::tests::irq_drains_rx_into_the_ring_and_refills_tx",
            "unit:tessera-uart-scif::tests::drain_and_disable_write_the_ring_out_in_order",
            "unit:tessera-uart-scif::tests::early_uart_from_the_registry_writes_polled",
            "unit:tessera-uart-scif::tests::registers_are_accessed_at_their_manual_width",
            "unit:tessera-uart-scif::tests::full_fifo_gives_up_instead_of_hanging",
            "unit:tessera-uart-scif::tests::node_properties_are_validated",
        ],
        note: "Polled and interrupt-driven I/O (SCIF, SCIFA, HSCIF), each register accessed at its width in the R-Car manual (16 or 8 bits); tested against a register model only, not on hardware or QEMU.",
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

    /// A register-level model of a (H)SCIF(A): FIFOs of the flavour's
    /// depth; SCFDR counts; SCFSR flags set by the hardware while their
    /// condition holds (TDFE: transmit count at or below the TTRG level;
    /// TEND: FIFO and shifter empty; RDF: receive count at the RTRG level;
    /// DR: data below the trigger and the line idle) and cleared only by
    /// writing 0 after reading 1, and then only once the condition is gone;
    /// FER/PER describing the byte last read from SCFRDR; ORER in SCLSR
    /// (SCASSR on SCIFA); TE/RE gating; FIFO resets. 16-bit registers
    /// accept only 16-bit accesses, 8-bit ones only 8-bit accesses, and
    /// every access is logged with its width. Each SCFDR/SCFSR read lets one byte go out (time passes
    /// while the driver polls) unless `stuck`. Trigger levels: the model
    /// knows TTRG = 11 as "empty" and RTRG = 00 as 1 byte, the settings the
    /// driver uses.
    #[derive(Clone)]
    struct Model(Arc<StdMutex<State>>);

    struct State {
        map: Map,
        smr: u16,
        brr: u8,
        scr: u16,
        fcr: u16,
        hssrr: u16,
        fsr: u16,
        fsr_read_ones: u16,
        orer: bool,
        last_err: u16,
        rx: VecDeque<(u8, u16)>,
        tx: VecDeque<u8>,
        shifter: Option<u8>,
        wire: Vec<u8>,
        stuck: bool,
        tx_overflow: bool,
        /// Every access the driver made: (offset, width in bits).
        accesses: Vec<(usize, u32)>,
    }

    impl State {
        fn ttrg(&self) -> usize {
            if (self.fcr >> 4) & 3 == 3 {
                0
            } else {
                8
            }
        }
        fn rtrg(&self) -> usize {
            if (self.fcr >> 6) & 3 == 0 {
                1
            } else {
                8
            }
        }
        fn update(&mut self) {
            if self.tx.len() <= self.ttrg() {
                self.fsr |= bits::FSR_TDFE;
            }
            if self.tx.is_empty() && self.shifter.is_none() {
                self.fsr |= bits::FSR_TEND;
            }
            if self.rx.len() >= self.rtrg() {
                self.fsr |= bits::FSR_RDF;
            }
        }
        fn tick(&mut self) {
            if self.stuck || self.scr & bits::SCR_TE == 0 {
                return;
            }
            if let Some(b) = self.shifter.take() {
                self.wire.push(b);
            }
            self.shifter = self.tx.pop_front();
            self.update();
        }
        fn fsr_value(&self) -> u16 {
            let mut v = self.fsr | self.last_err;
            if self.map.lsr.is_none() && self.orer {
                v |= bits::SCASSR_ORER;
            }
            v
        }
        fn write_fsr(&mut self, v: u16) {
            let clear = !v & self.fsr_read_ones;
            let mut keep = 0;
            if self.tx.len() <= self.ttrg() {
                keep |= bits::FSR_TDFE;
            }
            if self.tx.is_empty() && self.shifter.is_none() {
                keep |= bits::FSR_TEND;
            }
            if self.rx.len() >= self.rtrg() {
                keep |= bits::FSR_RDF;
            }
            if !self.rx.is_empty() {
                keep |= bits::FSR_DR;
            }
            self.fsr &= !(clear & !keep);
            if clear & bits::SCASSR_ORER != 0 {
                self.orer = false;
            }
        }
        fn read16(&mut self, off: usize) -> u16 {
            let m = self.map;
            if off == m.smr {
                self.smr
            } else if off == m.scr {
                self.scr
            } else if off == m.fcr {
                self.fcr
            } else if off == m.fdr {
                let v = ((self.tx.len() as u16) << 8) | self.rx.len() as u16;
                self.tick();
                v
            } else if off == m.fsr {
                let v = self.fsr_value();
                self.fsr_read_ones = v;
                self.tick();
                v
            } else if Some(off) == m.lsr {
                u16::from(self.orer)
            } else if Some(off) == m.hssrr {
                self.hssrr
            } else {
                panic!("16-bit read of {off:#x}")
            }
        }
        fn write16(&mut self, off: usize, v: u16) {
            let m = self.map;
            if off == m.smr {
                self.smr = v;
            } else if off == m.scr {
                self.scr = v;
            } else if off == m.fcr {
                if v & bits::FCR_RFRST != 0 {
                    self.rx.clear();
                }
                if v & bits::FCR_TFRST != 0 {
                    self.tx.clear();
                }
                self.fcr = v;
            } else if off == m.fsr {
                self.write_fsr(v);
            } else if Some(off) == m.lsr {
                if v & bits::LSR_ORER == 0 {
                    self.orer = false;
                }
            } else if Some(off) == m.hssrr {
                self.hssrr = v;
            } else {
                panic!("16-bit write of {off:#x}")
            }
            self.update();
        }
    }

    impl Model {
        fn new(flavour: Flavour) -> Self {
            Model(Arc::new(StdMutex::new(State {
                map: flavour.map(),
                smr: 0,
                brr: 0xff,
                scr: 0,
                fcr: 0,
                hssrr: 0,
                fsr: bits::FSR_TDFE | bits::FSR_TEND,
                fsr_read_ones: 0,
                orer: false,
                last_err: 0,
                rx: VecDeque::new(),
                tx: VecDeque::new(),
                shifter: None,
                wire: Vec::new(),
                stuck: false,
                tx_overflow: false,
                accesses: Vec::new(),
            })))
        }
        fn st(&self) -> MutexGuard<'_, State> {
            self.0.lock().unwrap()
        }
        fn receive(&self, bytes: &[u8], err: u16) {
            let mut s = self.st();
            for &b in bytes {
                if s.scr & bits::SCR_RE == 0 {
                    continue;
                }
                if s.rx.len() == s.map.fifo {
                    s.orer = true;
                } else {
                    s.rx.push_back((b, err));
                    if err != 0 {
                        s.fsr |= bits::FSR_ER;
                    }
                }
            }
            s.update();
        }
        /// RXI: (RDF or DR) with RIE; TXI: TDFE with TIE; ERI: ER/BRK/ORER.
        fn irq_line(&self) -> bool {
            let s = self.st();
            let rie = s.scr & bits::SCR_RIE != 0;
            (rie && s.fsr & (bits::FSR_RDF | bits::FSR_DR) != 0)
                || (s.scr & bits::SCR_TIE != 0 && s.fsr & bits::FSR_TDFE != 0)
                || (s.scr & s.map.rx_irqs & !bits::SCR_RIE != 0
                    && (s.fsr & (bits::FSR_ER | bits::FSR_BRK) != 0 || s.orer))
        }
    }

    impl Mmio for Model {
        fn read32(&self, off: usize) -> u32 {
            panic!("32-bit read of {off:#x}: no SCIF register is 32 bits")
        }
        fn write32(&self, off: usize, _: u32) {
            panic!("32-bit write of {off:#x}: no SCIF register is 32 bits")
        }
        fn read16(&self, off: usize) -> u16 {
            let mut s = self.st();
            s.accesses.push((off, 16));
            s.read16(off)
        }
        fn write16(&self, off: usize, v: u16) {
            let mut s = self.st();
            s.accesses.push((off, 16));
            s.write16(off, v)
        }
        fn read8(&self, off: usize) -> u8 {
            let mut s = self.st();
            s.accesses.push((off, 8));
            let m = s.map;
            if off == m.frdr {
                let (b, e) = s.rx.pop_front().unwrap_or((0, 0));
                s.last_err = e;
                b
            } else if off == m.brr {
                s.brr
            } else {
                panic!("8-bit read of {off:#x}")
            }
        }
        fn write8(&self, off: usize, v: u8) {
            let mut s = self.st();
            s.accesses.push((off, 8));
            let m = s.map;
            if off == m.ftdr {
                if s.tx.len() == m.fifo {
                    s.tx_overflow = true;
                } else {
                    s.tx.push_back(v);
                }
                s.update();
            } else if off == m.brr {
                s.brr = v;
            } else {
                panic!("8-bit write of {off:#x}")
            }
        }
        fn len(&self) -> usize {
            REGS_SIZE as usize
        }
    }

    fn cfg(flavour: Flavour, clock_hz: Option<u32>, baud: Option<u32>) -> Config {
        Config {
            flavour,
            clock_hz,
            baud,
            irq: Some(184),
        }
    }

    #[test]
    fn init_programs_8n1_and_the_bit_rate() {
        for f in [Flavour::Scif, Flavour::Scifa, Flavour::Hscif] {
            let m = Model::new(f);
            {
                let mut s = m.st();
                s.scr = bits::SCR_RIE | 0b10; // external clock select kept
                s.smr = 0x48; // 7 bits, 2 stop bits
                s.rx.push_back((1, 0));
            }
            // 66.56 MHz (R-Car Gen3 S3D1/4) / (32 * 115200) = 18.06 -> N 17
            Scif::new(m.clone(), 0, &cfg(f, Some(66_560_000), Some(115_200))).unwrap();
            let s = m.st();
            assert_eq!((s.smr, s.brr), (0, 17), "{f:?}");
            assert_eq!(s.scr, 0b10 | bits::SCR_TE | bits::SCR_RE);
            assert_eq!(s.fcr, bits::FCR_TTRG_EMPTY);
            assert!(s.rx.is_empty());
            assert_eq!(s.hssrr, if f == Flavour::Hscif { 0x800f } else { 0 });
        }
        assert_eq!(brr(1_000, 115_200), None);
        assert_eq!(brr(100_000_000, 9600), None, "N would be 325");
    }

    #[test]
    fn init_keeps_firmware_bit_rate_without_a_clock() {
        let m = Model::new(Flavour::Scif);
        {
            let mut s = m.st();
            (s.smr, s.brr, s.scr) = (0x49, 26, bits::SCR_TE);
            s.tx.extend(*b"fw");
            s.fsr = 0;
        }
        Scif::new(m.clone(), 0, &cfg(Flavour::Scif, None, Some(115_200))).unwrap();
        let s = m.st();
        assert_eq!((s.smr, s.brr), (0x01, 26), "8N1, prescaler and rate kept");
        assert_eq!(s.wire, b"fw", "transmission ended before the FIFO reset");
    }

    #[test]
    fn polled_output_and_input_follow_fsr_and_fdr() {
        for f in [Flavour::Scif, Flavour::Scifa, Flavour::Hscif] {
            let m = Model::new(f);
            let u = Scif::new(m.clone(), 0, &cfg(f, None, None)).unwrap();
            let fsr = m.st().fsr;
            assert_eq!(fsr & (bits::FSR_TDFE | bits::FSR_TEND), 0x60, "{f:?}");
            u.write(b"hi\n");
            assert_eq!(
                m.st().fsr & bits::FSR_TEND,
                0,
                "TEND cleared behind each byte"
            );
            u.flush();
            assert_eq!(m.st().wire, b"hi\r\n");
            m.receive(b"a", 0);
            m.receive(b"b", bits::FSR_FER);
            m.receive(b"c", 0);
            assert_eq!(m.st().read16(f.map().fdr) & 0xff, 3);
            assert_ne!(m.st().fsr & bits::FSR_RDF, 0);
            assert_eq!(u.getc(), Some(b'a'));
            assert_eq!(u.getc(), None, "a byte with a framing error is dropped");
            assert_eq!(u.getc(), Some(b'c'));
            assert_eq!(u.getc(), None);
            assert_eq!(m.st().fsr & (bits::FSR_RDF | bits::FSR_ER), 0);
            // The transmit count fills to the flavour's depth, no further.
            m.st().stuck = true;
            for i in 0..f.map().fifo + 1 {
                u.putc(i as u8);
            }
            assert_eq!(m.st().tx.len(), f.map().fifo);
            assert!(!m.st().tx_overflow);
        }
    }

    /// The console's polled paths (`sync_console`, a full ring, the crash
    /// path) first write out what the transmit ring holds, in order.
    #[test]
    fn drain_and_disable_write_the_ring_out_in_order() {
        let m = Model::new(Flavour::Hscif);
        let u = Scif::new(m.clone(), 0, &cfg(Flavour::Hscif, None, None)).unwrap();
        assert!(u.enable_irqs());
        let msg: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        assert_eq!(u.queue_tx(&msg), 200);
        assert!(u.st.tx_queued() > 0, "the FIFO took only part");
        u.drain_tx();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(
            m.st().scr & bits::SCR_TIE == 0,
            "transmit interrupt masked, ring empty"
        );
        let tail: Vec<u8> = (0..150u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(u.queue_tx(&tail), 150);
        u.disable_irqs();
        u.flush();
        assert_eq!(u.st.tx_queued(), 0);
        assert!(m.st().scr & (Flavour::Hscif.map().rx_irqs | bits::SCR_TIE) == 0);
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
        for (name, f) in [
            ("scif", Flavour::Scif),
            ("scifa", Flavour::Scifa),
            ("hscif", Flavour::Hscif),
        ] {
            let m = Model::new(f);
            let u = Scif::new(m.clone(), 0, &cfg(f, None, None)).unwrap();
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

    /// The widths the R-Car Gen3 manual gives (and Xen's scif-uart.c
    /// uses): SCSMR, SCSCR, SCFSR, SCFCR, SCFDR, SCLSR and HSSRR are 16
    /// bits, SCBRR, SCFTDR and SCFRDR 8 bits. Every path of the driver
    /// (init with a bit rate, polled and interrupt I/O, flush, disable)
    /// touches each register only at its width.
    #[test]
    fn registers_are_accessed_at_their_manual_width() {
        for f in [Flavour::Scif, Flavour::Scifa, Flavour::Hscif] {
            let map = f.map();
            let m = Model::new(f);
            let u = Scif::new(m.clone(), 0, &cfg(f, Some(66_560_000), Some(115_200))).unwrap();
            u.write(b"polled\n");
            m.receive(b"in", 0);
            while u.getc().is_some() {}
            assert!(u.enable_irqs());
            assert_eq!(u.queue_tx(&[b'q'; 100]), 100);
            m.receive(b"rx", 0);
            for _ in 0..500 {
                if m.irq_line() {
                    u.handle_irq();
                } else {
                    m.st().tick();
                }
            }
            u.disable_irqs();
            u.flush();
            let wide: Vec<usize> = [
                Some(map.smr),
                Some(map.scr),
                Some(map.fsr),
                Some(map.fcr),
                Some(map.fdr),
                map.lsr,
                map.hssrr,
            ]
            .into_iter()
            .flatten()
            .collect();
            let narrow = [map.brr, map.ftdr, map.frdr];
            let log = m.st().accesses.clone();
            for (off, width) in &log {
                let want = if wide.contains(off) {
                    16
                } else if narrow.contains(off) {
                    8
                } else {
                    panic!("{f:?}: access at {off:#x}, which is no register")
                };
                assert_eq!(*width, want, "{f:?}: register at {off:#x}");
            }
            for off in wide.iter().chain(&narrow) {
                assert!(
                    log.iter().any(|(o, _)| o == off),
                    "{f:?}: {off:#x} never used"
                );
            }
        }
    }

    #[test]
    fn irq_drains_rx_into_the_ring_and_refills_tx() {
        for f in [Flavour::Scif, Flavour::Scifa, Flavour::Hscif] {
            let m = Model::new(f);
            let u = Scif::new(m.clone(), 0, &cfg(f, None, None)).unwrap();
            assert_eq!(u.irq(), Some(184));
            assert!(u.enable_irqs());
            assert_eq!(m.st().scr & f.map().rx_irqs, f.map().rx_irqs);
            assert!(!m.irq_line(), "{f:?}");
            m.receive(b"hello", 0);
            assert!(m.irq_line(), "RDF at the 1-byte trigger");
            u.handle_irq();
            assert!(!m.irq_line());
            // An overrun (more than the FIFO holds) is cleared too.
            let burst: Vec<u8> = (0..f.map().fifo as u32 + 3).map(|i| i as u8).collect();
            m.receive(&burst, 0);
            assert!(m.st().orer);
            u.handle_irq();
            assert!(!m.st().orer && !m.irq_line());
            let got: Vec<u8> = core::iter::from_fn(|| u.getc()).collect();
            assert_eq!(&got[..5], b"hello");
            assert_eq!(&got[5..], &burst[..f.map().fifo]);

            let msg: Vec<u8> = (0..250).collect();
            assert_eq!(u.queue_tx(&msg), 250);
            assert_ne!(m.st().scr & bits::SCR_TIE, 0);
            for _ in 0..2000 {
                if m.irq_line() {
                    u.handle_irq();
                } else {
                    m.st().tick();
                }
            }
            assert_eq!(m.st().wire, msg);
            assert_eq!(
                m.st().scr & bits::SCR_TIE,
                0,
                "TIE off once the ring is empty"
            );
            assert!(!m.irq_line());
            assert!(!m.st().tx_overflow);
            u.disable_irqs();
            assert_eq!(m.st().scr & (f.map().rx_irqs | bits::SCR_TIE), 0);
        }
    }

    #[test]
    fn full_fifo_gives_up_instead_of_hanging() {
        let m = Model::new(Flavour::Scif);
        let u = Scif::new(m.clone(), 0, &cfg(Flavour::Scif, None, None)).unwrap();
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
            .begin_node("serial@e6e88000")
            .prop_strs(
                "compatible",
                &[
                    "renesas,scif-r8a7795",
                    "renesas,rcar-gen3-scif",
                    "renesas,scif",
                ],
            )
            .prop_cells("interrupts", &[0, 152, 4])
            .end_node()
            .begin_node("serial@e6540000")
            .prop_strs(
                "compatible",
                &[
                    "renesas,hscif-r8a7795",
                    "renesas,rcar-gen3-hscif",
                    "renesas,hscif",
                ],
            )
            .prop_u32("clock-frequency", 266_000_000)
            .end_node()
            .begin_node("serial@e6c40000")
            .prop_strs("compatible", &["renesas,scifa-r8a7790", "renesas,scifa"])
            .prop_cells("interrupts", &[0, 144])
            .end_node()
            .end_node();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let n = |p: &str| fdt.find_node(p).unwrap();
        assert_eq!(
            config(&n("/serial@e6e88000"), "115200"),
            Ok(cfg(Flavour::Scif, None, Some(115_200)))
        );
        let h = config(&n("/serial@e6540000"), "").unwrap();
        assert_eq!(
            (h.flavour, h.clock_hz, h.irq),
            (Flavour::Hscif, Some(266_000_000), None)
        );
        assert!(
            config(&n("/serial@e6c40000"), "").is_err(),
            "two-cell interrupts"
        );
        assert!(config(&n("/serial@e6e88000"), "115200n9").is_err());
    }
}
