//! Arm PL011 UART (ARM DDI 0183) as the hypervisor console: polled
//! transmit (early console and console), polled receive. Register access
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
use tessera_core::uart::{Uart, UartDriver, UartError, UART_DRIVERS};

mod regs {
    pub const DR: usize = 0x000;
    pub const FR: usize = 0x018;
    pub const IBRD: usize = 0x024;
    pub const FBRD: usize = 0x028;
    pub const LCR_H: usize = 0x02c;
    pub const CR: usize = 0x030;
    pub const IMSC: usize = 0x038;
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
}

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
        Pl011 { regs, base }
    }
}

impl<M: Mmio> Uart for Pl011<M> {
    fn putc(&self, byte: u8) {
        putc_raw(&self.regs, byte);
    }
    fn getc(&self) -> Option<u8> {
        if self.regs.read32(regs::FR) & regs::FR_RXFE != 0 {
            return None;
        }
        let dr = self.regs.read32(regs::DR);
        if dr & regs::DR_ERRORS != 0 {
            return None; // a byte received with an error is dropped
        }
        Some(dr as u8)
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
}

fn parse_baud(options: &str) -> Result<Option<u32>, UartError> {
    // dtuart=/path:115200n8 or stdout-path "...:115200n8"
    let digits: &str = options
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    if options.is_empty() {
        return Ok(None);
    }
    match digits.parse::<u32>() {
        Ok(b) if (110..=4_000_000).contains(&b) => Ok(Some(b)),
        _ => Err(UartError::BadOptions(
            "expected <baud>[n8], baud 110..4000000",
        )),
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
    Ok(Box::new(Pl011::new(regs, base, clk, baud)))
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
    summary: "Arm PL011 UART console (polled TX and RX)",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Host serial console",
        qualifier: Some("PL011 UART (ARM)"),
        status: Status::Experimental,
        tests: &["scenario:boot-banner", "unit:tessera-uart-pl011::tests::model_sees_8n1_output_and_input"],
        note: "Polled output and input on QEMU virt; interrupt-driven I/O, focus switching and debug keys are not done yet.",
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
    /// from FIFO levels, CR gating of TX and RX.
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
        tx: Vec<u8>,
        tx_fifo_busy: usize,
        rx: VecDeque<u32>,
    }
    impl Mmio for Model {
        fn read32(&self, off: usize) -> u32 {
            let s = self.s.lock().unwrap();
            match off {
                regs::DR => 0,
                regs::FR => {
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
                }
                regs::CR => s.cr = v,
                regs::LCR_H => s.lcr_h = v,
                regs::IBRD => s.ibrd = v,
                regs::FBRD => s.fbrd = v,
                regs::IMSC => s.imsc = v,
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

    /// Reads of DR pop the RX FIFO: modelled by a wrapper so read32 can
    /// mutate.
    struct WithRx<'a>(&'a Model);
    impl Mmio for WithRx<'_> {
        fn read32(&self, off: usize) -> u32 {
            if off == regs::DR {
                return self.0.s.lock().unwrap().rx.pop_front().unwrap_or(0);
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

    #[test]
    fn full_fifo_blocks_then_gives_up_instead_of_hanging() {
        let m = Model::default();
        let u = Pl011::new(&m, 0, None, None);
        m.s.lock().unwrap().tx_fifo_busy = 32; // never drains
        u.putc(b'x');
        assert!(m.s.lock().unwrap().tx.is_empty());
    }

    #[test]
    fn options_are_validated() {
        assert_eq!(parse_baud("115200n8"), Ok(Some(115200)));
        assert_eq!(parse_baud(""), Ok(None));
        assert!(parse_baud("fast").is_err());
        assert!(parse_baud("5").is_err());
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
