//! GICv3 distributor and redistributor registers as a guest sees them
//! (offsets and fields from the GICv3 architecture specification, IHI 0069;
//! the layout Xen gives dom0less guests). Affinity routing is always on,
//! there is one security state, no LPIs and no ITS. Reserved offsets and
//! wrong access sizes read as zero and ignore writes: nothing a guest
//! writes here can hurt the hypervisor.

use alloc::vec::Vec;

use super::{Bits, Vgic, PRIVATE};

/// Distributor window.
pub const GICD_SIZE: u64 = 0x1_0000;
/// Redistributor stride: RD_base frame + SGI_base frame.
pub const GICR_STRIDE: u64 = 0x2_0000;
const SGI_BASE: u64 = 0x1_0000;

/// ArchRev 3 in PIDR2.
const PIDR2: u64 = 0x3b;
/// Implementer Arm (0x43b), the product number Tessera uses for its vGIC.
const IIDR: u64 = 0x0100_043b;

impl Vgic {
    /// A guest read of the distributor.
    pub fn dist_read(&self, off: u64, size: u8) -> u64 {
        let words = |base: u64| (off - base) / 4;
        match (off, size) {
            (0x0000, 4) => (self.ctlr as u64) | (1 << 4) | (1 << 6), // ARE_NS, DS
            (0x0004, 4) => {
                let lines = (PRIVATE + self.nr_spis) / 32 - 1;
                let cpus = (self.nr_vcpus().clamp(1, 8) - 1) as u64;
                (lines as u64) | (cpus << 5) | (9 << 19) // IDbits: 10 bits
            }
            (0x0008, 4) => IIDR,
            (0x0080..=0x00fc, 4) => {
                // All group 1; the private word is RAZ under affinity routing.
                if words(0x80) == 0 || self.irq(0, words(0x80) as u32 * 32).is_none() {
                    0
                } else {
                    0xffff_ffff
                }
            }
            (0x0100..=0x017c, 4) | (0x0180..=0x01fc, 4) => {
                self.spi_bits((off & 0x7f) / 4, Bits::Enable)
            }
            (0x0200..=0x027c, 4) | (0x0280..=0x02fc, 4) => {
                self.spi_bits((off & 0x7f) / 4, Bits::Pending)
            }
            (0x0300..=0x037c, 4) | (0x0380..=0x03fc, 4) => {
                self.spi_bits((off & 0x7f) / 4, Bits::Active)
            }
            (0x0420..=0x07fb, 1) | (0x0420..=0x07f8, 4) => {
                self.prio_read(0, (off - 0x400) as u32, size)
            }
            (0x0c08..=0x0cfc, 4) => self.cfg_read(0, words(0xc00) as u32 * 16),
            (0x6100..=0x7fd8, 8) | (0x6100..=0x7fdc, 4) => {
                let intid = ((off - 0x6000) / 8) as u32;
                let Some(s) = self.irq(0, intid) else {
                    return 0;
                };
                let aff = route_affinity(s.target as u64);
                if off % 8 == 4 {
                    aff >> 32
                } else if size == 4 {
                    aff & 0xffff_ffff
                } else {
                    aff
                }
            }
            (0xffe8, 4) => PIDR2,
            _ => 0,
        }
    }

    fn spi_bits(&self, word: u64, what: Bits) -> u64 {
        if word == 0 {
            return 0; // SGIs/PPIs live in the redistributors
        }
        self.bits_read(0, word as u32 * 32, what)
    }

    /// A guest write to the distributor; returns vCPUs to kick.
    pub fn dist_write(&mut self, off: u64, size: u8, value: u64) -> Vec<usize> {
        let word = ((off & 0x7f) / 4) as u32;
        match (off, size) {
            (0x0000, 4) => {
                self.ctlr = (value & 0b11) as u32;
                return (0..self.nr_vcpus())
                    .filter(|&v| self.has_pending(v))
                    .collect();
            }
            (0x0100..=0x017c, 4) if word > 0 => {
                return self.bits_write(0, word * 32, Bits::Enable, value, true)
            }
            (0x0180..=0x01fc, 4) if word > 0 => {
                self.bits_write(0, word * 32, Bits::Enable, value, false);
            }
            (0x0200..=0x027c, 4) if word > 0 => {
                return self.bits_write(0, word * 32, Bits::Pending, value, true)
            }
            (0x0280..=0x02fc, 4) if word > 0 => {
                self.bits_write(0, word * 32, Bits::Pending, value, false);
            }
            (0x0300..=0x037c, 4) if word > 0 => {
                self.bits_write(0, word * 32, Bits::Active, value, true);
            }
            (0x0380..=0x03fc, 4) if word > 0 => {
                self.bits_write(0, word * 32, Bits::Active, value, false);
            }
            (0x0420..=0x07fb, 1) | (0x0420..=0x07f8, 4) => {
                self.prio_write(0, (off - 0x400) as u32, size, value)
            }
            (0x0c08..=0x0cfc, 4) => self.cfg_write(0, ((off - 0xc00) / 4) as u32 * 16, value),
            (0x6100..=0x7fd8, 8) | (0x6100..=0x7fdc, 4) => {
                let intid = ((off - 0x6000) / 8) as u32;
                let nr = self.nr_vcpus();
                let old = self.irq(0, intid).map(|s| route_affinity(s.target as u64));
                let Some(old) = old else { return Vec::new() };
                let new = match (size, off % 8) {
                    (8, _) => value,
                    (_, 0) => (old & !0xffff_ffff) | (value & 0xffff_ffff),
                    _ => (old & 0xffff_ffff) | (value << 32),
                };
                // Interrupt Routing Mode "any" (bit 31) goes to vCPU 0;
                // an affinity naming no vCPU does too.
                let target = if new & (1 << 31) != 0 {
                    0
                } else {
                    vcpu_of_affinity(new).filter(|&v| v < nr).unwrap_or(0)
                };
                if let Some(s) = self.irq_mut(0, intid) {
                    s.target = target as u16;
                    if s.enabled && s.pending() {
                        return alloc::vec![target];
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// A guest read of vCPU `vcpu`'s redistributor (offset within its
    /// 128 KiB frame pair).
    pub fn redist_read(&self, vcpu: usize, off: u64, size: u8) -> u64 {
        let last = vcpu + 1 == self.nr_vcpus();
        match (off, size) {
            (0x0004, 4) => IIDR,
            (0x0008, 8) | (0x0008, 4) | (0x000c, 4) => {
                let typer = (route_affinity(vcpu as u64) << 32)
                    | ((vcpu as u64) << 8)
                    | ((last as u64) << 4);
                match (off, size) {
                    (0x000c, _) => typer >> 32,
                    (_, 4) => typer & 0xffff_ffff,
                    _ => typer,
                }
            }
            (0x0014, 4) => {
                let s = self.vcpus.get(vcpu).is_some_and(|v| v.sleep) as u64;
                (s << 1) | (s << 2) // ProcessorSleep, ChildrenAsleep
            }
            (0xffe8, 4) => PIDR2,
            (o, 4) if o == SGI_BASE + 0x0080 => 0xffff_ffff,
            (o, 4) if o == SGI_BASE + 0x0100 || o == SGI_BASE + 0x0180 => {
                self.bits_read(vcpu, 0, Bits::Enable)
            }
            (o, 4) if o == SGI_BASE + 0x0200 || o == SGI_BASE + 0x0280 => {
                self.bits_read(vcpu, 0, Bits::Pending)
            }
            (o, 4) if o == SGI_BASE + 0x0300 || o == SGI_BASE + 0x0380 => {
                self.bits_read(vcpu, 0, Bits::Active)
            }
            (o, 1 | 4) if (SGI_BASE + 0x0400..SGI_BASE + 0x0420).contains(&o) => {
                self.prio_read(vcpu, (o - SGI_BASE - 0x400) as u32, size)
            }
            (o, 4) if o == SGI_BASE + 0x0c00 => self.cfg_read(vcpu, 0),
            (o, 4) if o == SGI_BASE + 0x0c04 => self.cfg_read(vcpu, 16),
            (o, 4) if o == SGI_BASE + 0xffe8 => PIDR2,
            _ => 0,
        }
    }

    /// A guest write to vCPU `vcpu`'s redistributor; returns vCPUs to kick.
    pub fn redist_write(&mut self, vcpu: usize, off: u64, size: u8, value: u64) -> Vec<usize> {
        match (off, size) {
            (0x0014, 4) => {
                if let Some(v) = self.vcpus.get_mut(vcpu) {
                    v.sleep = value & 2 != 0;
                }
            }
            (o, 4) if o == SGI_BASE + 0x0100 => {
                return self.bits_write(vcpu, 0, Bits::Enable, value, true)
            }
            (o, 4) if o == SGI_BASE + 0x0180 => {
                self.bits_write(vcpu, 0, Bits::Enable, value, false);
            }
            (o, 4) if o == SGI_BASE + 0x0200 => {
                return self.bits_write(vcpu, 0, Bits::Pending, value, true)
            }
            (o, 4) if o == SGI_BASE + 0x0280 => {
                self.bits_write(vcpu, 0, Bits::Pending, value, false);
            }
            (o, 4) if o == SGI_BASE + 0x0300 => {
                self.bits_write(vcpu, 0, Bits::Active, value, true);
            }
            (o, 4) if o == SGI_BASE + 0x0380 => {
                self.bits_write(vcpu, 0, Bits::Active, value, false);
            }
            (o, 1 | 4) if (SGI_BASE + 0x0400..SGI_BASE + 0x0420).contains(&o) => {
                self.prio_write(vcpu, (o - SGI_BASE - 0x400) as u32, size, value)
            }
            (o, 4) if o == SGI_BASE + 0x0c04 => self.cfg_write(vcpu, 16, value),
            _ => {}
        }
        Vec::new()
    }
}

/// MPIDR-style affinity of vCPU `v` (Xen's guest layout: Aff0 = v & 0xf,
/// Aff1 = v >> 4), as GICD_IROUTER and GICR_TYPER hold it.
pub fn route_affinity(v: u64) -> u64 {
    (v & 0xf) | ((v >> 4) << 8)
}

fn vcpu_of_affinity(irouter: u64) -> Option<usize> {
    let aff0 = irouter & 0xff;
    let aff1 = (irouter >> 8) & 0xff;
    if aff0 >= 16 || (irouter >> 16) & 0xff != 0 || (irouter >> 32) & 0xff != 0 {
        return None;
    }
    Some((aff1 * 16 + aff0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_style_probe_and_setup() {
        let mut g = Vgic::new(2, 64);
        assert_eq!(g.dist_read(0xffe8, 4) >> 4 & 0xf, 3, "GICv3");
        let typer = g.dist_read(0x4, 4);
        assert_eq!(typer & 0x1f, 2, "96 interrupt lines");
        assert_eq!((typer >> 19) & 0x1f, 9);
        assert_eq!(g.dist_read(0x0, 4) & (1 << 31), 0, "RWP clear");
        g.dist_write(0x0, 4, 0x12);
        assert_eq!(g.dist_read(0x0, 4) & 0b11, 0b10);
        // Redistributors: the second vCPU's is the last one.
        assert_eq!(g.redist_read(0, 0x8, 8) & (1 << 4), 0);
        assert_ne!(g.redist_read(1, 0x8, 8) & (1 << 4), 0);
        assert_eq!(g.redist_read(1, 0x8, 8) >> 32, 1);
        g.redist_write(0, 0x14, 4, 0);
        assert_eq!(g.redist_read(0, 0x14, 4), 0, "awake");
        // Enable PPI 27 through the SGI frame, set its priority.
        g.redist_write(0, SGI_BASE + 0x100, 4, 1 << 27);
        g.redist_write(0, SGI_BASE + 0x41b, 1, 0xa0);
        assert_eq!(g.irq(0, 27).unwrap().priority, 0xa0);
        assert!(g.irq(0, 27).unwrap().enabled);
        assert!(!g.irq(1, 27).unwrap().enabled, "banked");
        // Route SPI 40 to vCPU 1 and make it pending: vCPU 1 is kicked.
        g.dist_write(0x6000 + 8 * 40, 8, 1);
        g.dist_write(0x100 + 4, 4, 1 << 8);
        assert_eq!(g.dist_write(0x200 + 4, 4, 1 << 8), [1]);
        assert_eq!(g.dist_read(0x200 + 4, 4), 1 << 8);
        assert!(g.has_pending(1));
        assert!(!g.has_pending(0));
    }

    #[test]
    fn hostile_accesses_read_zero_and_change_nothing() {
        let mut g = Vgic::new(1, 32);
        let before = (g.dist_read(0x4, 4), g.dist_read(0x8, 4));
        for off in [
            0x4u64,
            0x8,
            0x8000,
            0xfff0,
            0xffe8,
            0x6000 + 8 * 1000,
            0x7fe0,
        ] {
            for size in [1u8, 2, 4, 8] {
                g.dist_write(off, size, u64::MAX);
                let _ = g.dist_read(off, size);
            }
        }
        assert_eq!((g.dist_read(0x4, 4), g.dist_read(0x8, 4)), before);
        assert_eq!(
            g.dist_read(0x6000 + 8 * 1000, 8),
            0,
            "IROUTER beyond the SPIs"
        );
        // Priority of a private interrupt through the distributor is RAZ/WI.
        g.dist_write(0x400, 4, u64::MAX);
        assert_eq!(g.irq(0, 0).unwrap().priority, 0);
        // Redistributor frames beyond the vCPUs are not reachable (the
        // caller maps offsets to vCPUs); wrong sizes read zero.
        assert_eq!(g.redist_read(0, 0x8, 2), 0);
        g.redist_write(0, SGI_BASE + 0xc00, 4, 0);
        assert!(g.irq(0, 3).unwrap().edge, "SGIs stay edge-triggered");
    }
}
