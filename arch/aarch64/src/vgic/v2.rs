//! GICv2 as a guest sees it: the distributor (emulated here, trapped
//! through stage 2) and the CPU interface (not emulated: stage 2 maps the
//! hardware's virtual CPU interface, GICV, at the guest's GICC window, as
//! Xen does), plus the GICH list-register format. Offsets and fields from
//! the GICv2 architecture specification (IHI 0048B) and Xen's
//! `vgic-v2.c` for what a domU sees: one security state, every interrupt
//! in group 0 (GICD_IGROUPR reads as zero), at most 8 vCPUs (a vCPU's
//! CPU interface number is its index). Reserved offsets, wrong sizes and
//! unaligned accesses read as zero and ignore writes.

use alloc::vec::Vec;

use super::{Bits, LrEntry, Vgic, PRIVATE};

/// Distributor window (`GUEST_GICD_SIZE`).
pub const GICD_SIZE: u64 = 0x1000;
/// A GICv2 names at most 8 CPU interfaces.
pub const MAX_VCPUS: usize = 8;

/// ICPIDR2 of a GIC-400: ArchRev 2, JEP106 bits of Arm.
const PIDR2: u64 = 0x2b;
/// GICD_IIDR Xen's vGICv2 reports (implementer Arm, 0x43b).
const IIDR: u64 = 0x0000_043b;

/// Where a 64 KiB-aliased GIC-400 shows a CPU interface's first page
/// again (Xen's `gicv2_is_aliased` looks at the same place).
pub const ALIAS_PROBE: u64 = 0xf000;

/// Whether a CPU-interface region of `size` bytes repeats its first page
/// at [`ALIAS_PROBE`], given the GICC_IIDR of the first page and the one
/// read there.
pub fn aliased(size: u64, iidr: u32, iidr_at_alias: u32) -> bool {
    size >= 0x2_0000 && iidr != 0 && iidr == iidr_at_alias
}

/// The two 4 KiB pages of an 8 KiB CPU interface at `base`: contiguous,
/// or 64 KiB apart when the integration aliases each page over 64 KiB.
pub fn pages(base: u64, aliased: bool) -> [u64; 2] {
    [base, base + if aliased { 0x1_0000 } else { 0x1000 }]
}

/// GICH_LR<n>: vINTID [9:0], CPUID of an SGI [12:10], EOI maintenance
/// [19] (software interrupts), priority [27:23] (the top 5 bits), state
/// [29:28], group 0, not a hardware interrupt.
pub fn encode_lr(e: &LrEntry) -> u32 {
    let state = (e.pending as u32) | ((e.active as u32) << 1);
    let mut lr = (e.intid & 0x3ff) | (((e.priority >> 3) as u32) << 23) | (state << 28);
    if e.intid < 16 {
        lr |= (e.source as u32 & 7) << 10;
    }
    if e.eoi {
        lr |= 1 << 19;
    }
    lr
}

/// Reads back an LR the guest may have changed: (vINTID, pending, active).
pub fn decode_lr(lr: u32) -> (u32, bool, bool) {
    (lr & 0x3ff, lr & (1 << 28) != 0, lr & (1 << 29) != 0)
}

impl Vgic {
    /// Takes back a GICH list register after the guest ran: the common
    /// fold, and for an SGI it has acknowledged, the sender its EOI will
    /// name.
    pub fn fold_v2(&mut self, vcpu: usize, lr: u32) {
        let (intid, pending, active) = decode_lr(lr);
        self.fold(vcpu, intid, pending, active);
        if intid < 16 && active {
            if let Some(s) = self.irq_mut(vcpu, intid) {
                s.active_source = ((lr >> 10) & 7) as u8;
            }
        }
    }

    /// SGI `intid` from vCPU `from` to `targets`, remembering the sender.
    fn send_sgi_v2(
        &mut self,
        from: usize,
        intid: u32,
        targets: impl Iterator<Item = usize>,
    ) -> Vec<usize> {
        let targets: Vec<usize> = targets.collect();
        for &t in &targets {
            if let Some(s) = self.irq_mut(t, intid & 0xf) {
                s.source = from as u8;
            }
        }
        self.send_sgi(from, intid, targets.into_iter())
    }
}

impl Vgic {
    /// A guest read of the distributor by vCPU `vcpu` (banked registers
    /// are that vCPU's).
    pub fn dist_read_v2(&self, vcpu: usize, off: u64, size: u8) -> u64 {
        if !matches!(size, 1 | 4) || !off.is_multiple_of(size as u64) || off >= GICD_SIZE {
            return 0;
        }
        let word = (off & 0x7f) as u32 / 4;
        match (off, size) {
            (0x000, 4) => (self.ctlr & 1) as u64,
            (0x004, 4) => {
                let lines = (PRIVATE + self.nr_spis) / 32 - 1;
                let cpus = (self.nr_vcpus().clamp(1, MAX_VCPUS) - 1) as u64;
                lines as u64 | (cpus << 5)
            }
            (0x008, 4) => IIDR,
            (0x100..=0x1fc, 4) => self.bits_read(vcpu, word * 32, Bits::Enable),
            (0x200..=0x2fc, 4) => self.bits_read(vcpu, word * 32, Bits::Pending),
            (0x300..=0x3fc, 4) => self.bits_read(vcpu, word * 32, Bits::Active),
            (0x400..=0x7fb, _) => self.prio_read(vcpu, (off - 0x400) as u32, size),
            (0x800..=0xbfb, _) => self.targets_read(vcpu, (off - 0x800) as u32, size),
            (0xc00..=0xcfc, 4) => self.cfg_read(vcpu, ((off - 0xc00) / 4) as u32 * 16),
            (0xf10..=0xf2f, _) => self.sgi_pend_read(vcpu, ((off - 0xf10) % 0x10) as u32, size),
            (0xfe8, 4) => PIDR2,
            _ => 0, // IGROUPR (all group 0), reserved, write-only SGIR
        }
    }

    /// A guest write to the distributor by vCPU `vcpu`; returns vCPUs to
    /// kick.
    pub fn dist_write_v2(&mut self, vcpu: usize, off: u64, size: u8, value: u64) -> Vec<usize> {
        if !matches!(size, 1 | 4) || !off.is_multiple_of(size as u64) || off >= GICD_SIZE {
            return Vec::new();
        }
        let word = (off & 0x7f) as u32 / 4;
        // SGIs are made pending through GICD_SGIR and GICD_SPENDSGIR only:
        // their GICD_ISPENDR0/ICPENDR0 bits are read-only.
        let no_sgis = |v: u64| if word == 0 { v & !0xffff } else { v };
        match (off, size) {
            (0x000, 4) => {
                self.ctlr = (value & 1) as u32;
                return (0..self.nr_vcpus())
                    .filter(|&v| self.has_pending(v))
                    .collect();
            }
            (0x100..=0x17c, 4) => {
                return self.bits_write(vcpu, word * 32, Bits::Enable, value, true)
            }
            (0x180..=0x1fc, 4) => {
                self.bits_write(vcpu, word * 32, Bits::Enable, value, false);
            }
            (0x200..=0x27c, 4) => {
                return self.bits_write(vcpu, word * 32, Bits::Pending, no_sgis(value), true)
            }
            (0x280..=0x2fc, 4) => {
                self.bits_write(vcpu, word * 32, Bits::Pending, no_sgis(value), false);
            }
            (0x300..=0x37c, 4) => {
                self.bits_write(vcpu, word * 32, Bits::Active, value, true);
            }
            (0x380..=0x3fc, 4) => {
                self.bits_write(vcpu, word * 32, Bits::Active, value, false);
            }
            (0x400..=0x7fb, _) => self.prio_write(vcpu, (off - 0x400) as u32, size, value),
            (0x800..=0xbfb, _) => return self.targets_write((off - 0x800) as u32, size, value),
            (0xc00..=0xcfc, 4) => self.cfg_write(vcpu, ((off - 0xc00) / 4) as u32 * 16, value),
            (0xf00, 4) => return self.sgir_write(vcpu, value as u32),
            (0xf10..=0xf1f, _) => self.cpend_sgi(vcpu, (off - 0xf10) as u32, size, value),
            (0xf20..=0xf2f, _) => return self.spend_sgi(vcpu, (off - 0xf20) as u32, size, value),
            _ => {}
        }
        Vec::new()
    }

    /// GICD_ITARGETSR: a byte per interrupt naming its target CPU
    /// interfaces. Private interrupts read as the reading vCPU's own bit.
    fn targets_read(&self, vcpu: usize, first: u32, size: u8) -> u64 {
        let mut v = 0u64;
        for i in 0..size as u32 {
            let intid = first + i;
            let Some(s) = self.irq(vcpu, intid) else {
                continue;
            };
            let t = if intid < PRIVATE {
                vcpu
            } else {
                s.target as usize
            };
            if t < MAX_VCPUS {
                v |= (1u64 << t) << (8 * i);
            }
        }
        v
    }

    /// An SPI goes to the lowest vCPU its byte names (Xen's vGICv2 does
    /// the same); a byte naming no existing vCPU leaves the target alone.
    fn targets_write(&mut self, first: u32, size: u8, value: u64) -> Vec<usize> {
        let nr = self.nr_vcpus().min(MAX_VCPUS);
        let mut kick = Vec::new();
        for i in 0..size as u32 {
            let intid = first + i;
            let mask = ((value >> (8 * i)) & 0xff) as u32 & ((1u32 << nr) - 1);
            if intid < PRIVATE || mask == 0 {
                continue;
            }
            let target = mask.trailing_zeros() as u16;
            if let Some(s) = self.irq_mut(0, intid) {
                s.target = target;
                if s.enabled && s.pending() {
                    kick.push(target as usize);
                }
            }
        }
        kick
    }

    /// GICD_SGIR: TargetListFilter 0 (the list), 1 (all but the sender),
    /// 2 (the sender only); 3 is reserved and ignored.
    fn sgir_write(&mut self, vcpu: usize, value: u32) -> Vec<usize> {
        let intid = value & 0xf;
        let list = (value >> 16) & 0xff;
        let nr = self.nr_vcpus().min(MAX_VCPUS);
        let targets: Vec<usize> = match (value >> 24) & 3 {
            0 => (0..nr).filter(|&t| list & (1 << t) != 0).collect(),
            1 => (0..nr).filter(|&t| t != vcpu).collect(),
            2 => alloc::vec![vcpu],
            _ => Vec::new(),
        };
        self.send_sgi_v2(vcpu, intid, targets.into_iter())
    }

    /// GICD_CPENDSGIR / GICD_SPENDSGIR reads: a byte per SGI, the bit of
    /// the vCPU it is pending from.
    fn sgi_pend_read(&self, vcpu: usize, first: u32, size: u8) -> u64 {
        let mut v = 0u64;
        for i in 0..size as u32 {
            if let Some(s) = self.irq(vcpu, first + i).filter(|s| s.pending_latch) {
                v |= (1u64 << (s.source & 7)) << (8 * i);
            }
        }
        v
    }

    /// GICD_SPENDSGIR: makes SGIs pending on the writing vCPU, as if the
    /// vCPUs named in each byte had sent them (the highest one is kept).
    fn spend_sgi(&mut self, vcpu: usize, first: u32, size: u8, value: u64) -> Vec<usize> {
        let nr = self.nr_vcpus().min(MAX_VCPUS);
        let mut kick = Vec::new();
        for i in 0..size as u32 {
            let from = ((value >> (8 * i)) & 0xff) as u32 & ((1u32 << nr) - 1);
            if from == 0 {
                continue;
            }
            let src = 31 - from.leading_zeros();
            kick.extend(self.send_sgi_v2(src as usize, first + i, core::iter::once(vcpu)));
        }
        kick
    }

    /// GICD_CPENDSGIR: clears SGIs pending on the writing vCPU from the
    /// vCPUs named in each byte.
    fn cpend_sgi(&mut self, vcpu: usize, first: u32, size: u8, value: u64) {
        for i in 0..size as u32 {
            let from = (value >> (8 * i)) & 0xff;
            if let Some(s) = self.irq_mut(vcpu, first + i) {
                if s.pending_latch && from & (1 << (s.source & 7)) != 0 {
                    s.pending_latch = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_style_probe_and_setup() {
        let mut g = Vgic::new(2, 64);
        assert_eq!(g.dist_read_v2(0, 0xfe8, 4) >> 4 & 0xf, 2, "GICv2");
        let typer = g.dist_read_v2(0, 0x4, 4);
        assert_eq!(typer & 0x1f, 2, "96 interrupt lines");
        assert_eq!((typer >> 5) & 7, 1, "2 CPU interfaces");
        // Each vCPU reads its own interface bit from ITARGETSR0..7.
        assert_eq!(g.dist_read_v2(0, 0x800, 4), 0x0101_0101);
        assert_eq!(g.dist_read_v2(1, 0x81c, 4), 0x0202_0202);
        assert_eq!(g.dist_read_v2(1, 0x803, 1), 0x02);
        g.dist_write_v2(0, 0x0, 4, 1);
        assert_eq!(g.dist_read_v2(0, 0x0, 4), 1);
        assert_eq!(g.dist_read_v2(0, 0x80, 4), 0, "all group 0");
        // Enable PPI 27 on vCPU 0 only (banked), priority by byte.
        g.dist_write_v2(0, 0x100, 4, 1 << 27);
        g.dist_write_v2(0, 0x41b, 1, 0xa0);
        assert_eq!(g.irq(0, 27).unwrap().priority, 0xa0);
        assert!(g.irq(0, 27).unwrap().enabled);
        assert!(!g.irq(1, 27).unwrap().enabled, "banked");
        assert_eq!(g.dist_read_v2(1, 0x100, 4), 0);
        // Route SPI 40 to vCPU 1 (ITARGETSR byte 0b10), pend it: vCPU 1.
        g.dist_write_v2(0, 0x828, 1, 0b10);
        assert_eq!(g.dist_read_v2(0, 0x828, 4) & 0xff, 0b10);
        g.dist_write_v2(0, 0x104, 4, 1 << 8);
        assert_eq!(g.dist_write_v2(0, 0x204, 4, 1 << 8), [1]);
        assert_eq!(g.dist_read_v2(0, 0x204, 4), 1 << 8);
        assert!(g.has_pending(1));
        assert!(!g.has_pending(0));
        // A target byte naming no vCPU leaves the route alone.
        g.dist_write_v2(0, 0x828, 1, 0b1000_0000);
        assert_eq!(g.irq(0, 40).unwrap().target, 1);
    }

    #[test]
    fn sgir_filters_and_sources() {
        let mut g = Vgic::new(3, 32);
        g.ctlr = 1;
        for v in 0..3 {
            g.dist_write_v2(v, 0x100, 4, 0xffff);
        }
        // List: vCPUs 1 and 2, SGI 5, from vCPU 0.
        assert_eq!(g.dist_write_v2(0, 0xf00, 4, (0b110 << 16) | 5), [1, 2]);
        assert!(!g.has_pending(0));
        let (lrs, _) = g.lrs_for(2, 4);
        assert_eq!((lrs[0].intid, lrs[0].source), (5, 0));
        // All but the sender (vCPU 2), SGI 3.
        assert_eq!(g.dist_write_v2(2, 0xf00, 4, (1 << 24) | 3), [0, 1]);
        assert_eq!(g.irq(1, 3).unwrap().source, 2);
        // Self only, from vCPU 1; SPENDSGIR shows the source's bit.
        assert_eq!(g.dist_write_v2(1, 0xf00, 4, (2 << 24) | 7), [1]);
        assert_eq!(g.dist_read_v2(1, 0xf24, 4) >> 24, 0b10, "SGI 7 from vCPU 1");
        assert_eq!(
            g.dist_read_v2(1, 0xf17, 1),
            0b10,
            "CPENDSGIR reads the same"
        );
        // Reserved filter: nothing.
        assert!(g.dist_write_v2(0, 0xf00, 4, (3 << 24) | 1).is_empty());
        // ISPENDR0 cannot make SGIs pending; CPENDSGIR clears by source.
        g.dist_write_v2(0, 0x200, 4, 0xffff);
        assert!(!g.irq(0, 0).unwrap().pending());
        g.dist_write_v2(1, 0xf14, 4, 0b01 << 24); // SGI 7 from vCPU 0: not it
        assert!(g.irq(1, 7).unwrap().pending());
        g.dist_write_v2(1, 0xf17, 1, 0b10);
        assert!(!g.irq(1, 7).unwrap().pending());
        // SPENDSGIR: SGI 9 on vCPU 0 "from" vCPU 2.
        assert_eq!(g.dist_write_v2(0, 0xf29, 1, 0b100), [0]);
        assert_eq!(g.irq(0, 9).unwrap().source, 2);
    }

    /// SGI 4 from vCPU 1 is active on vCPU 0 when vCPU 2 sends it too:
    /// the LR keeps sender 1 (the guest's EOI names it), the second waits,
    /// asking for a maintenance interrupt at the EOI, then comes from 2.
    #[test]
    fn an_sgi_from_a_second_sender_waits_for_the_first_ones_eoi() {
        let mut g = Vgic::new(3, 32);
        g.ctlr = 1;
        g.dist_write_v2(0, 0x100, 4, 0xffff);
        g.dist_write_v2(1, 0xf00, 4, (0b1 << 16) | 4);
        let (lrs, _) = g.load_lrs(0, 4);
        assert_eq!((lrs[0].intid, lrs[0].source, lrs[0].pending), (4, 1, true));
        // The guest acknowledges it: the LR comes back active.
        let acked = encode_lr(&LrEntry {
            pending: false,
            active: true,
            ..lrs[0]
        });
        g.fold_v2(0, acked);
        g.dist_write_v2(2, 0xf00, 4, (0b1 << 16) | 4);
        let (lrs, _) = g.load_lrs(0, 4);
        assert_eq!(lrs.len(), 1);
        let e = lrs[0];
        assert_eq!(
            (e.active, e.pending, e.source, e.eoi),
            (true, false, 1, true)
        );
        // EOI: the LR comes back invalid; the second SGI follows, from 2.
        g.fold_v2(
            0,
            encode_lr(&LrEntry {
                pending: false,
                active: false,
                ..e
            }),
        );
        let (lrs, _) = g.load_lrs(0, 4);
        assert_eq!(
            (lrs[0].pending, lrs[0].active, lrs[0].source),
            (true, false, 2)
        );
        g.fold_v2(
            0,
            encode_lr(&LrEntry {
                pending: false,
                active: false,
                ..lrs[0]
            }),
        );
        assert!(!g.has_pending(0));
    }

    #[test]
    fn list_registers_in_gich_format() {
        let e = LrEntry {
            intid: 5,
            priority: 0xa0,
            pending: true,
            active: false,
            eoi: false,
            source: 3,
        };
        let lr = encode_lr(&e);
        assert_eq!(lr & 0x3ff, 5);
        assert_eq!((lr >> 10) & 7, 3, "CPUID");
        assert_eq!((lr >> 23) & 0x1f, 0xa0 >> 3);
        assert_eq!(lr >> 28, 0b01, "pending, group 0, software");
        assert_eq!(decode_lr(lr), (5, true, false));
        let lvl = LrEntry {
            intid: 40,
            eoi: true,
            active: true,
            pending: true,
            source: 7,
            ..e
        };
        let lr = encode_lr(&lvl);
        assert_eq!(lr & (1 << 19), 1 << 19, "EOI maintenance");
        assert_eq!((lr >> 10) & 7, 0, "no CPUID outside SGIs");
        assert_eq!(decode_lr(lr), (40, true, true));
    }

    #[test]
    fn hostile_accesses_read_zero_and_change_nothing() {
        let mut g = Vgic::new(1, 32);
        let before = (g.dist_read_v2(0, 0x4, 4), g.dist_read_v2(0, 0x8, 4));
        for off in [
            0x4u64,
            0x8,
            0xfe8,
            0xffc,
            0xd00,
            0xf30,
            0x1000,
            0x1_0000,
            u64::MAX - 3,
        ] {
            for size in [1u8, 2, 4, 8] {
                g.dist_write_v2(0, off, size, u64::MAX);
                let _ = g.dist_read_v2(0, off, size);
            }
        }
        // Unaligned and wrongly sized.
        g.dist_write_v2(0, 0x101, 4, u64::MAX);
        g.dist_write_v2(0, 0x100, 2, u64::MAX);
        g.dist_write_v2(0, 0x100, 8, u64::MAX);
        assert_eq!(g.dist_read_v2(0, 0x100, 4), 0);
        assert_eq!(
            (g.dist_read_v2(0, 0x4, 4), g.dist_read_v2(0, 0x8, 4)),
            before
        );
        // Private targets are read-only; SGI configuration stays edge.
        g.dist_write_v2(0, 0x800, 4, 0);
        assert_eq!(g.dist_read_v2(0, 0x800, 4), 0x0101_0101);
        g.dist_write_v2(0, 0xc00, 4, 0);
        assert!(g.irq(0, 3).unwrap().edge);
        // Priorities and targets beyond the SPIs: nothing.
        g.dist_write_v2(0, 0x400 + 1019, 1, 0xff);
        assert_eq!(g.dist_read_v2(0, 0x400 + 1016, 4), 0);
        // An SGI to vCPUs that do not exist.
        assert!(g.dist_write_v2(0, 0xf00, 4, (0xfe << 16) | 1).is_empty());
    }

    #[test]
    fn the_gic_400_alias_layout_is_detected() {
        assert!(aliased(0x2_0000, 0x0202_043b, 0x0202_043b));
        assert!(!aliased(0x2000, 0x0202_043b, 0x0202_043b), "8 KiB region");
        assert!(!aliased(0x2_0000, 0x0202_043b, 0), "nothing at +0xf000");
        assert_eq!(pages(0xf906_0000, true), [0xf906_0000, 0xf907_0000]);
        assert_eq!(pages(0x0804_0000, false), [0x0804_0000, 0x0804_1000]);
    }
}
