//! The virtual GIC: a per-interrupt state machine common to every GIC
//! version (pending, active, priority, target vCPU, list-register
//! occupancy) and a register front-end per version on top of it: GICv3
//! (`v3.rs`: distributor, redistributors, the ICC system registers) and
//! GICv2 (`v2.rs`: the memory-mapped distributor; the CPU interface is
//! the hardware's GICV frame). Pure logic, tested on the host;
//! `hw/vgic.rs` moves it in and out of the ICH or GICH list registers.

pub mod v2;
pub mod v3;

use alloc::vec::Vec;

/// SGIs and PPIs: 0..32, banked per vCPU.
pub const PRIVATE: u32 = 32;
/// Largest INTID handled (SPIs end below the special range 1020..1023).
pub const MAX_INTID: u32 = 1019;

/// Which GIC a domain sees: the host's version (as Xen does for dom0less
/// domains).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

/// One virtual interrupt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqState {
    pub enabled: bool,
    /// Latched pending (an edge, a write to ISPENDR, an injection).
    pub pending_latch: bool,
    /// The input line of a level-sensitive interrupt.
    pub line: bool,
    pub active: bool,
    pub priority: u8,
    /// Edge-triggered (ICFGR bit 1 of its field).
    pub edge: bool,
    /// vCPU an SPI goes to (GICD_IROUTER); private interrupts ignore it.
    pub target: u16,
    /// The pending latch is in a list register right now (it comes back
    /// if the guest has not taken the interrupt by the next exit).
    pub latch_in_lr: bool,
    /// GICv2 SGIs: the vCPU that sent the pending one (GICC_IAR's CPUID).
    /// Two senders of the same SGI before it is taken merge into one
    /// pending SGI from the later sender, as in Xen's vGIC.
    pub source: u8,
    /// GICv2 SGIs: the sender of the one the guest has acknowledged (its
    /// EOI names it, so its list register must keep that CPUID).
    pub active_source: u8,
}

impl IrqState {
    /// Pending from the guest's point of view.
    pub fn pending(&self) -> bool {
        self.pending_latch || (!self.edge && self.line)
    }
}

/// A vCPU's banked interrupts and its redistributor state.
#[derive(Clone, Debug)]
pub struct VgicVcpu {
    pub private: [IrqState; PRIVATE as usize],
    /// GICR_WAKER.ProcessorSleep.
    pub sleep: bool,
}

impl VgicVcpu {
    fn new() -> Self {
        let mut private = [IrqState::default(); PRIVATE as usize];
        for (i, p) in private.iter_mut().enumerate() {
            // SGIs are edge-triggered and always enabled for routing;
            // enable bits still apply.
            p.edge = i < 16;
        }
        VgicVcpu {
            private,
            sleep: true,
        }
    }
}

/// A domain's virtual GIC.
#[derive(Clone, Debug)]
pub struct Vgic {
    pub nr_spis: u32,
    /// GICD_CTLR enable bits (EnableGrp0 bit 0, EnableGrp1 bit 1).
    pub ctlr: u32,
    pub spis: Vec<IrqState>,
    pub vcpus: Vec<VgicVcpu>,
}

/// An entry for a list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LrEntry {
    pub intid: u32,
    pub priority: u8,
    pub pending: bool,
    pub active: bool,
    /// Ask for a maintenance interrupt when the guest EOIs it (level
    /// interrupts, so the line is looked at again).
    pub eoi: bool,
    /// GICv2 SGIs: the sending vCPU (the LR's CPUID field).
    pub source: u8,
}

impl LrEntry {
    /// ICH_LR<n>_EL2: vINTID, EOI, priority, group 1, state.
    pub fn encode(&self) -> u64 {
        let state = (self.pending as u64) | ((self.active as u64) << 1);
        (self.intid as u64)
            | ((self.eoi as u64) << 41)
            | ((self.priority as u64) << 48)
            | (1 << 60)
            | (state << 62)
    }
    /// Reads back an LR the guest may have changed.
    pub fn decode(lr: u64) -> (u32, bool, bool) {
        let state = lr >> 62;
        ((lr & 0xffff_ffff) as u32, state & 1 != 0, state & 2 != 0)
    }
}

impl Vgic {
    pub fn new(nr_vcpus: usize, nr_spis: u32) -> Vgic {
        let nr_spis = nr_spis.min(MAX_INTID + 1 - PRIVATE).div_ceil(32) * 32;
        Vgic {
            nr_spis,
            ctlr: 0,
            spis: alloc::vec![IrqState::default(); nr_spis as usize],
            vcpus: (0..nr_vcpus).map(|_| VgicVcpu::new()).collect(),
        }
    }

    pub fn nr_vcpus(&self) -> usize {
        self.vcpus.len()
    }

    /// The state of `intid` as seen from `vcpu`.
    pub fn irq(&self, vcpu: usize, intid: u32) -> Option<&IrqState> {
        if intid < PRIVATE {
            self.vcpus.get(vcpu)?.private.get(intid as usize)
        } else {
            self.spis.get((intid - PRIVATE) as usize)
        }
    }

    pub fn irq_mut(&mut self, vcpu: usize, intid: u32) -> Option<&mut IrqState> {
        if intid < PRIVATE {
            self.vcpus.get_mut(vcpu)?.private.get_mut(intid as usize)
        } else {
            self.spis.get_mut((intid - PRIVATE) as usize)
        }
    }

    /// The vCPU an interrupt is delivered to.
    pub fn target_of(&self, vcpu: usize, intid: u32) -> usize {
        if intid < PRIVATE {
            vcpu
        } else {
            self.irq(0, intid).map_or(0, |s| {
                (s.target as usize).min(self.nr_vcpus().saturating_sub(1))
            })
        }
    }

    /// Makes an interrupt pending (edge, SGI, injection). Returns the vCPU
    /// that should look at its interrupts, if it can take this one now.
    pub fn inject(&mut self, vcpu: usize, intid: u32) -> Option<usize> {
        let target = self.target_of(vcpu, intid);
        let s = self.irq_mut(vcpu, intid)?;
        s.pending_latch = true;
        let deliverable = s.enabled;
        deliverable.then_some(target)
    }

    /// Sets the input line of a level interrupt (a device's output).
    pub fn set_line(&mut self, vcpu: usize, intid: u32, level: bool) -> Option<usize> {
        let target = self.target_of(vcpu, intid);
        let s = self.irq_mut(vcpu, intid)?;
        if s.edge {
            if level && !s.line {
                s.pending_latch = true;
            }
            s.line = level;
        } else {
            s.line = level;
        }
        (level && s.enabled).then_some(target)
    }

    fn group_enabled(&self) -> bool {
        self.ctlr & 0b11 != 0
    }

    /// Whether `vcpu` has an interrupt it could take (wakes it from WFI).
    pub fn has_pending(&self, vcpu: usize) -> bool {
        if !self.group_enabled() {
            return false;
        }
        let Some(v) = self.vcpus.get(vcpu) else {
            return false;
        };
        v.private
            .iter()
            .any(|s| s.enabled && s.pending() && !s.active)
            || self
                .spis
                .iter()
                .any(|s| s.enabled && s.pending() && !s.active && s.target as usize == vcpu)
    }

    /// The interrupts to put in `nr_lrs` list registers for `vcpu`, most
    /// urgent first (active ones first so they are not lost, then pending
    /// by priority), and whether some did not fit (the caller asks for an
    /// underflow maintenance interrupt to come back for them).
    pub fn lrs_for(&self, vcpu: usize, nr_lrs: usize) -> (Vec<LrEntry>, bool) {
        let mut all: Vec<LrEntry> = Vec::new();
        let mut push = |intid: u32, s: &IrqState| {
            let pending = s.pending() && s.enabled && self.group_enabled();
            // A GICv2 SGI from another sender than the active one is a
            // different interrupt: it waits for the active one's EOI
            // (which comes back to us as a maintenance interrupt).
            let other_sender = intid < 16 && s.active && s.source != s.active_source;
            if pending || s.active {
                all.push(LrEntry {
                    intid,
                    priority: s.priority,
                    pending: pending && !other_sender,
                    active: s.active,
                    eoi: !s.edge || (pending && other_sender),
                    source: match (intid < 16, s.active) {
                        (false, _) => 0,
                        (true, true) => s.active_source,
                        (true, false) => s.source,
                    },
                });
            }
        };
        if let Some(v) = self.vcpus.get(vcpu) {
            for (i, s) in v.private.iter().enumerate() {
                push(i as u32, s);
            }
        }
        for (i, s) in self.spis.iter().enumerate() {
            if s.target as usize == vcpu {
                push(PRIVATE + i as u32, s);
            }
        }
        all.sort_by_key(|e| (!e.active, e.priority, e.intid));
        let overflow = all.len() > nr_lrs;
        all.truncate(nr_lrs);
        (all, overflow)
    }

    /// Like [`Vgic::lrs_for`], and moves the pending state of what it
    /// returns into the list registers: the latch is cleared here and set
    /// again by [`Vgic::fold`] if the guest has not taken it. An injection
    /// that arrives while the interrupt sits in a list register sets the
    /// latch anew and so is never lost when the guest completes the first.
    pub fn load_lrs(&mut self, vcpu: usize, nr_lrs: usize) -> (Vec<LrEntry>, bool) {
        let (lrs, overflow) = self.lrs_for(vcpu, nr_lrs);
        for e in &lrs {
            if e.pending {
                if let Some(s) = self.irq_mut(vcpu, e.intid) {
                    s.latch_in_lr = s.pending_latch;
                    s.pending_latch = false;
                }
            }
        }
        (lrs, overflow)
    }

    /// Takes back a list register after the guest ran (as decoded by the
    /// version's LR format): what it acknowledged, completed or left
    /// pending.
    pub fn fold(&mut self, vcpu: usize, intid: u32, pending: bool, active: bool) {
        let Some(s) = self.irq_mut(vcpu, intid) else {
            return;
        };
        s.active = active;
        if pending && s.latch_in_lr {
            // Not taken yet: the latched pending state comes back out of the
            // LR (a level interrupt pending only by its line needs nothing).
            s.pending_latch = true;
        }
        s.latch_in_lr = false;
    }

    /// Sends SGI `intid` from `from` to the vCPUs in `targets`; returns
    /// the ones that can take it.
    pub fn send_sgi(
        &mut self,
        from: usize,
        intid: u32,
        targets: impl Iterator<Item = usize>,
    ) -> Vec<usize> {
        let _ = from;
        let mut kick = Vec::new();
        for t in targets {
            if t < self.nr_vcpus() {
                if let Some(v) = self.inject(t, intid & 0xf) {
                    kick.push(v);
                }
            }
        }
        kick
    }
}

// Register helpers both front-ends share: 32 interrupts per bit
// register, a byte per priority, two bits per configuration field.
#[derive(Clone, Copy)]
pub(crate) enum Bits {
    Enable,
    Pending,
    Active,
}

impl Vgic {
    pub(crate) fn bits_read(&self, vcpu: usize, first: u32, what: Bits) -> u64 {
        let mut v = 0u64;
        for b in 0..32 {
            if let Some(s) = self.irq(vcpu, first + b) {
                let set = match what {
                    Bits::Enable => s.enabled,
                    Bits::Pending => s.pending(),
                    Bits::Active => s.active,
                };
                v |= (set as u64) << b;
            }
        }
        v
    }

    /// Set (`set`) or clear the bits of `mask`; returns vCPUs to kick.
    pub(crate) fn bits_write(
        &mut self,
        vcpu: usize,
        first: u32,
        what: Bits,
        mask: u64,
        set: bool,
    ) -> Vec<usize> {
        let mut kick = Vec::new();
        for b in 0..32u32 {
            if mask & (1 << b) == 0 {
                continue;
            }
            let intid = first + b;
            let target = self.target_of(vcpu, intid);
            let Some(s) = self.irq_mut(vcpu, intid) else {
                continue;
            };
            match what {
                Bits::Enable => s.enabled = set,
                Bits::Pending => s.pending_latch = set,
                Bits::Active => s.active = set,
            }
            let s = *s;
            if set && s.enabled && s.pending() {
                kick.push(target);
            }
        }
        kick
    }

    pub(crate) fn prio_read(&self, vcpu: usize, first: u32, size: u8) -> u64 {
        let mut v = 0u64;
        for i in 0..size as u32 {
            v |= (self.irq(vcpu, first + i).map_or(0, |s| s.priority) as u64) << (8 * i);
        }
        v
    }

    pub(crate) fn prio_write(&mut self, vcpu: usize, first: u32, size: u8, value: u64) {
        for i in 0..size as u32 {
            if let Some(s) = self.irq_mut(vcpu, first + i) {
                // 5 priority bits, as the hardware interface implements.
                s.priority = ((value >> (8 * i)) as u8) & 0xf8;
            }
        }
    }

    pub(crate) fn cfg_read(&self, vcpu: usize, first: u32) -> u64 {
        let mut v = 0u64;
        for i in 0..16 {
            if self.irq(vcpu, first + i).is_some_and(|s| s.edge) {
                v |= 2 << (2 * i);
            }
        }
        v
    }

    pub(crate) fn cfg_write(&mut self, vcpu: usize, first: u32, value: u64) {
        for i in 0..16u32 {
            if first + i < 16 {
                continue; // SGIs are always edge
            }
            if let Some(s) = self.irq_mut(vcpu, first + i) {
                s.edge = value & (2 << (2 * i)) != 0;
            }
        }
    }
}

/// The vCPUs an ICC_SGI1R_EL1 write names, given each vCPU's MPIDR
/// affinity (Aff3.Aff2.Aff1.Aff0 in bits 39:32, 23:0) and the sender.
pub fn sgi_targets(value: u64, sender: usize, affinities: &[u64]) -> (u32, Vec<usize>) {
    let intid = ((value >> 24) & 0xf) as u32;
    if value & (1 << 40) != 0 {
        // IRM: every PE but the sender.
        return (
            intid,
            (0..affinities.len()).filter(|&v| v != sender).collect(),
        );
    }
    let list = value & 0xffff;
    let aff1 = (value >> 16) & 0xff;
    let aff2 = (value >> 32) & 0xff;
    let aff3 = (value >> 48) & 0xff;
    let rs = (value >> 44) & 0xf;
    let mut out = Vec::new();
    for bit in 0..16 {
        if list & (1 << bit) == 0 {
            continue;
        }
        let aff0 = rs * 16 + bit;
        let want = (aff3 << 32) | (aff2 << 16) | (aff1 << 8) | aff0;
        if let Some(v) = affinities.iter().position(|&a| a & 0xff_00ff_ffff == want) {
            out.push(v);
        }
    }
    (intid, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest's view of an LR after it ran, folded back (GICv3 format).
    trait FoldLr {
        fn fold_lr(&mut self, vcpu: usize, lr: u64);
    }

    impl FoldLr for Vgic {
        fn fold_lr(&mut self, vcpu: usize, lr: u64) {
            let (intid, pending, active) = LrEntry::decode(lr);
            self.fold(vcpu, intid, pending, active);
        }
    }

    #[test]
    fn more_pending_than_list_registers_come_in_priority_order() {
        let mut g = Vgic::new(2, 32);
        g.ctlr = 2;
        for (i, prio) in [
            (8u32, 0x80u8),
            (9, 0x20),
            (10, 0x60),
            (11, 0x40),
            (12, 0x10),
            (13, 0xa0),
        ] {
            let s = g.irq_mut(0, i).unwrap();
            s.enabled = true;
            s.priority = prio;
            assert_eq!(g.inject(0, i), Some(0));
        }
        let (lrs, overflow) = g.load_lrs(0, 4);
        assert!(overflow);
        assert_eq!(
            lrs.iter().map(|e| e.intid).collect::<Vec<_>>(),
            [12, 9, 11, 10]
        );
        // The guest acknowledges and completes them: LRs come back invalid.
        for e in &lrs {
            g.fold_lr(
                0,
                LrEntry {
                    pending: false,
                    active: false,
                    ..*e
                }
                .encode(),
            );
        }
        let (lrs, overflow) = g.lrs_for(0, 4);
        assert!(!overflow);
        assert_eq!(lrs.iter().map(|e| e.intid).collect::<Vec<_>>(), [8, 13]);
        assert!(g.lrs_for(1, 4).0.is_empty(), "SGIs are banked per vCPU");
    }

    #[test]
    fn an_sgi_sent_again_while_in_a_list_register_is_not_lost() {
        let mut g = Vgic::new(2, 32);
        g.ctlr = 2;
        g.irq_mut(1, 5).unwrap().enabled = true;
        g.inject(1, 5);
        let (lrs, _) = g.load_lrs(1, 4);
        assert_eq!(lrs.len(), 1);
        // vCPU 0 sends it again while vCPU 1 runs with it in an LR...
        g.inject(1, 5);
        // ...and vCPU 1 completes the first one.
        g.fold_lr(
            1,
            LrEntry {
                pending: false,
                active: false,
                ..lrs[0]
            }
            .encode(),
        );
        assert!(g.has_pending(1), "the second SGI survives");
        // One not taken at all comes back pending too.
        let (lrs, _) = g.load_lrs(1, 4);
        g.fold_lr(1, lrs[0].encode());
        assert!(g.has_pending(1));
        let (lrs, _) = g.load_lrs(1, 4);
        g.fold_lr(
            1,
            LrEntry {
                pending: false,
                active: false,
                ..lrs[0]
            }
            .encode(),
        );
        assert!(!g.has_pending(1), "taken once, gone");
    }

    #[test]
    fn an_injected_level_interrupt_not_yet_taken_survives_an_exit() {
        // The virtual timer PPI is level-sensitive but injected as a latch
        // (its line is the timer's condition, masked at EL2 when it fires).
        let mut g = Vgic::new(1, 32);
        g.ctlr = 2;
        g.irq_mut(0, 27).unwrap().enabled = true;
        g.inject(0, 27);
        let (lrs, _) = g.load_lrs(0, 4);
        // The guest had interrupts masked: the LR comes back still pending.
        g.fold_lr(0, lrs[0].encode());
        assert!(g.has_pending(0), "not lost");
    }

    #[test]
    fn level_lines_stay_pending_until_dropped_and_disabled_ones_wait() {
        let mut g = Vgic::new(1, 32);
        g.ctlr = 2;
        assert_eq!(g.set_line(0, 32, true), None, "not enabled yet");
        g.irq_mut(0, 32).unwrap().enabled = true;
        assert!(g.has_pending(0));
        let (lrs, _) = g.load_lrs(0, 4);
        assert!(lrs[0].eoi, "level interrupts ask for EOI maintenance");
        g.fold_lr(
            0,
            LrEntry {
                pending: false,
                active: false,
                ..lrs[0]
            }
            .encode(),
        );
        assert!(g.has_pending(0), "line still high");
        g.set_line(0, 32, false);
        assert!(!g.has_pending(0));
        g.ctlr = 0;
        g.inject(0, 33);
        assert!(!g.has_pending(0), "distributor disabled");
    }

    #[test]
    fn lr_encoding_round_trips() {
        let e = LrEntry {
            intid: 27,
            priority: 0xa0,
            pending: true,
            active: false,
            eoi: true,
            source: 0,
        };
        let lr = e.encode();
        assert_eq!(lr >> 62, 1);
        assert_eq!((lr >> 48) & 0xff, 0xa0);
        assert_eq!(lr & (1 << 60), 1 << 60);
        assert_eq!(LrEntry::decode(lr), (27, true, false));
    }

    #[test]
    fn sgi_target_lists_and_broadcast() {
        let affs: Vec<u64> = (0..20u64).map(|v| (v & 0xf) | ((v >> 4) << 8)).collect();
        // INTID 5 to Aff1 0, targets 1 and 3.
        assert_eq!(
            sgi_targets((5 << 24) | 0b1010, 0, &affs),
            (5, alloc::vec![1, 3])
        );
        // vCPU 17 = Aff1 1, Aff0 1.
        assert_eq!(sgi_targets((1 << 16) | 0b10, 0, &affs).1, [17]);
        // IRM: all but the sender.
        assert_eq!(sgi_targets(1 << 40, 2, &affs[..4]).1, [0, 1, 3]);
        // A target that does not exist is ignored.
        assert!(sgi_targets(2 << 16 | 1, 0, &affs).1.is_empty());
    }
}
