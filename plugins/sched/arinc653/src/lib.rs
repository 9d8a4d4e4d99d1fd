//! The ARINC 653 scheduler (Xen's `sched=arinc653`,
//! xen/common/sched/arinc653.c): a major frame of fixed windows, repeated
//! forever. Each window runs one unit for a fixed time; a window whose unit
//! is blocked (or gone) idles, and time left after the last window idles
//! until the next major frame. Nothing else ever runs, so partitions cannot
//! steal time from each other.
//!
//! As in Xen 4.20: only single-vCPU domains are supported (SUPPORT.md; a
//! domain's second vCPU is refused here, with that reason), and one pool
//! runs one schedule on one pCPU, the first of the pool (Xen keeps the
//! schedule's position in `static` variables and never migrates a unit, so
//! its other pCPUs idle; Xen's Kconfig calls it "for single cores"). Extra
//! pCPUs are accepted and stay idle, so `sched=arinc653` still boots on a
//! multi-core board; give each further schedule a pool of its own.
//!
//! The schedule comes from the descriptor ([`Arinc653Scheduler::schedule`],
//! what the toolstack's `XEN_SYSCTL_SCHEDOP_putinfo` would set) or, when it
//! has none, is built as units join: each gets a window of its
//! `PolicyParams::Arinc653` runtime, or 10 ms, in joining order, and the
//! major frame is their sum (Xen does this for dom0's vCPUs).
//!
//! Departure from Xen 4.20: a late decision does not shift the frame. Xen
//! starts the next major frame at the time of the late decision; here it
//! starts where the previous one ended, unless a whole frame was missed.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use linkme::distributed_slice;
use tessera_core::registry::{Plugin, Status, SupportRow, PLUGINS};
use tessera_core::sched::{
    sched_id, CpuMask, Decision, PolicyParams, SchedError, SchedInstance, SchedulerOps, Time,
    UnitId, UnitParams, SCHEDULERS,
};

/// Xen's `DEFAULT_TIMESLICE`: the window of a unit the schedule does not
/// size, and the idle period of an empty schedule.
pub const DEFAULT_TIMESLICE_NS: u64 = 10_000_000;
/// Xen's `ARINC653_MAX_DOMAINS_PER_SCHEDULE` (public/sysctl.h).
pub const MAX_ENTRIES: usize = 64;

/// Why a domain's second vCPU is refused.
pub const SINGLE_VCPU_RULE: &str =
    "arinc653: only single-vCPU domains are supported (Xen 4.20 SUPPORT.md); \
     give the domain one vCPU";

/// One window of a major frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub unit: UnitId,
    pub runtime_ns: u64,
}

/// A fixed schedule: windows in order, and the major frame (at least their
/// sum; the rest of the frame idles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub windows: &'static [Window],
    pub major_frame_ns: u64,
}

impl Schedule {
    /// Xen's `arinc653_sched_set` checks.
    fn check(&self) -> Result<(), SchedError> {
        let total = self.windows.iter().try_fold(0u64, |t, w| {
            (w.runtime_ns > 0).then(|| t.checked_add(w.runtime_ns))?
        });
        match total {
            Some(t)
                if !self.windows.is_empty()
                    && self.windows.len() <= MAX_ENTRIES
                    && self.major_frame_ns > 0
                    && t <= self.major_frame_ns =>
            {
                Ok(())
            }
            _ => Err(SchedError::Policy(
                "arinc653: a schedule needs 1 to 64 windows of non-zero runtime that fit \
                 in the major frame",
            )),
        }
    }
}

/// The ARINC 653 scheduler's descriptor.
pub struct Arinc653Scheduler {
    /// `None`: windows are added as units join.
    pub schedule: Option<Schedule>,
}

impl SchedulerOps for Arinc653Scheduler {
    fn name(&self) -> &'static str {
        "ARINC 653 Scheduler"
    }
    fn opt_name(&self) -> &'static str {
        "arinc653"
    }
    fn sched_id(&self) -> u32 {
        sched_id::ARINC653
    }
    fn instantiate(&self) -> Result<Box<dyn SchedInstance>, SchedError> {
        let mut i = Arinc653Instance::default();
        if let Some(s) = self.schedule {
            s.check()?;
            i.windows = s.windows.to_vec();
            i.major_frame = s.major_frame_ns;
            i.fixed = true;
        }
        Ok(Box::new(i))
    }
}

/// One pool's ARINC 653 scheduler.
#[derive(Default)]
pub struct Arinc653Instance {
    pcpus: CpuMask,
    /// The schedule came from the descriptor and does not follow units.
    fixed: bool,
    windows: Vec<Window>,
    major_frame: u64,
    /// Units of the pool and whether each is awake.
    units: BTreeMap<UnitId, bool>,
    next_major_frame: Time,
    index: usize,
    next_switch: Time,
    running: Option<UnitId>,
}

impl Arinc653Instance {
    /// The pCPU that runs the schedule.
    fn sched_cpu(&self) -> Option<usize> {
        self.pcpus.first()
    }

    fn kick(&self) -> CpuMask {
        self.sched_cpu().map_or(CpuMask::empty(), CpuMask::single)
    }
}

impl SchedInstance for Arinc653Instance {
    fn add_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        if cpu >= CpuMask::CAPACITY {
            return Err(SchedError::CpuOutOfRange(cpu));
        }
        self.pcpus.set(cpu);
        Ok(())
    }

    fn remove_pcpu(&mut self, cpu: usize) -> Result<(), SchedError> {
        if self.pcpus.count() == 1 && !self.units.is_empty() {
            return Err(SchedError::Policy(
                "arinc653: the last pCPU of a pool with units cannot leave it",
            ));
        }
        self.pcpus.clear(cpu);
        Ok(())
    }

    fn insert_unit(&mut self, params: &UnitParams) -> Result<(), SchedError> {
        if self.units.contains_key(&params.unit) {
            return Err(SchedError::UnitExists(params.unit));
        }
        if params.unit.vcpu != 0 {
            return Err(SchedError::Policy(SINGLE_VCPU_RULE));
        }
        if let Some(c) = self.sched_cpu() {
            if !params.hard_affinity.contains(c) {
                return Err(SchedError::Policy(
                    "arinc653: the unit's hard affinity excludes the pool's first pCPU, \
                     the only one that runs the schedule",
                ));
            }
        }
        if !self.fixed {
            if self.windows.len() >= MAX_ENTRIES {
                return Err(SchedError::Policy(
                    "arinc653: the schedule is full (64 windows)",
                ));
            }
            let runtime = match params.policy {
                PolicyParams::Arinc653 { runtime_ns } if runtime_ns > 0 => runtime_ns,
                _ => DEFAULT_TIMESLICE_NS,
            };
            self.windows.push(Window {
                unit: params.unit,
                runtime_ns: runtime,
            });
            self.major_frame = self.major_frame.saturating_add(runtime);
        }
        self.units.insert(params.unit, false);
        Ok(())
    }

    fn remove_unit(&mut self, unit: UnitId) -> CpuMask {
        self.units.remove(&unit);
        if !self.fixed {
            let gone: u64 = self
                .windows
                .iter()
                .filter(|w| w.unit == unit)
                .map(|w| w.runtime_ns)
                .sum();
            self.windows.retain(|w| w.unit != unit);
            self.major_frame = self.major_frame.saturating_sub(gone);
            // A new frame with the new schedule, as after Xen's putinfo.
            self.next_major_frame = 0;
            return self.kick();
        }
        CpuMask::empty()
    }

    fn wake(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        match self.units.get_mut(&unit) {
            Some(awake) => {
                *awake = true;
                self.kick()
            }
            None => CpuMask::empty(),
        }
    }

    fn sleep(&mut self, unit: UnitId, _now: Time) -> CpuMask {
        if let Some(awake) = self.units.get_mut(&unit) {
            *awake = false;
        }
        if self.running == Some(unit) {
            self.kick()
        } else {
            CpuMask::empty()
        }
    }

    fn yield_unit(&mut self, _unit: UnitId, _now: Time) -> CpuMask {
        // Windows are fixed: yielding gives the time to nobody (Xen has
        // no yield hook either).
        CpuMask::empty()
    }

    fn do_schedule(
        &mut self,
        cpu: usize,
        now: Time,
        _prev: Option<UnitId>,
        _prev_runnable: bool,
    ) -> Decision {
        if Some(cpu) != self.sched_cpu() {
            return Decision::idle();
        }
        let n = self.windows.len();
        if n == 0 {
            self.next_major_frame = now + DEFAULT_TIMESLICE_NS;
            self.index = 0;
            self.next_switch = self.next_major_frame;
        } else if now >= self.next_major_frame {
            // A new major frame: where the last one ended, unless the
            // whole frame was missed (or this is the first).
            let start =
                if self.next_major_frame > 0 && now - self.next_major_frame < self.major_frame {
                    self.next_major_frame
                } else {
                    now
                };
            self.index = 0;
            self.next_major_frame = start + self.major_frame;
            self.next_switch = start + self.windows[0].runtime_ns;
            while now >= self.next_switch && self.index < n {
                self.index += 1;
                self.next_switch += self.windows.get(self.index).map_or(0, |w| w.runtime_ns);
            }
        } else {
            while now >= self.next_switch && self.index < n {
                self.index += 1;
                self.next_switch += self.windows.get(self.index).map_or(0, |w| w.runtime_ns);
            }
        }
        if self.index >= n {
            self.next_switch = self.next_major_frame;
        }
        let next = self
            .windows
            .get(self.index)
            .map(|w| w.unit)
            .filter(|u| self.units.get(u) == Some(&true));
        self.running = next;
        Decision {
            next,
            slice_ns: Some(self.next_switch.saturating_sub(now).max(1)),
            tickle: CpuMask::empty(),
        }
    }

    fn pick_cpu(&self, unit: UnitId) -> Option<usize> {
        self.units.contains_key(&unit).then(|| self.sched_cpu())?
    }

    fn dump(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(
            out,
            "arinc653: pCPU {:?} runs a major frame of {} ns{}",
            self.sched_cpu(),
            self.major_frame,
            if self.fixed { " (fixed)" } else { "" }
        )?;
        for (i, w) in self.windows.iter().enumerate() {
            writeln!(out, "  window {i}: {} for {} ns", w.unit, w.runtime_ns)?;
        }
        Ok(())
    }
}

/// The descriptor registered in [`SCHEDULERS`]: windows follow the units.
pub static ARINC653: Arinc653Scheduler = Arinc653Scheduler { schedule: None };

#[distributed_slice(SCHEDULERS)]
static REGISTER: &'static dyn SchedulerOps = &ARINC653;

#[distributed_slice(PLUGINS)]
static PLUGIN: Plugin = Plugin {
    name: "sched-arinc653",
    kconfig: "SCHED_ARINC653",
    summary: "ARINC 653 scheduler: a major frame of fixed windows",
    status: Status::Experimental,
    support: &[SupportRow {
        section: "Resource Management",
        feature: "ARINC653 Scheduler",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "unit:tessera-sched-arinc653::tests::windows_are_exact_over_several_frames",
            "unit:tessera-sched-arinc653::tests::a_fixed_schedule_with_a_gap_and_a_repeat",
            "unit:tessera-sched-arinc653::tests::a_blocked_units_window_idles",
            "unit:tessera-sched-arinc653::tests::a_wrong_schedule_fails_the_window_check",
            "unit:tessera-sched-arinc653::tests::multi_vcpu_domains_are_refused",
            "scenario:sched-arinc653",
        ],
        note: "Major frame of fixed windows on the pool's first pCPU, single-vCPU domains \
               only; tested in the host simulator and on QEMU. The schedule comes with the units or \
               the descriptor; no toolstack putinfo yet.",
    }],
    init: None,
};

#[cfg(test)]
mod tests;
