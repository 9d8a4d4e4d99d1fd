//! Scheduler decision cost, on the host: `cargo xtask bench` runs this
//! with every scheduler plugin linked and prints its records.
//!
//! For each scheduler and each vCPU count, one pool of pCPUs runs that
//! many single-vCPU domains, all CPU-bound, driven by the same event loop
//! the hypervisor's pCPUs follow: at each pCPU's timer (`next_timer`) the
//! due policy timers run (`timer_interrupt`: credit's accounting, RTDS
//! replenishments...), then `schedule` decides. Each call is timed on its
//! own (minus the measured cost of reading the clock); a batch gives the
//! mean of each, and the record is the median batch after a warm-up.
//!
//! Output: one tab-separated record per line, `sched <name> <vcpus>
//! <pcpus> <schedule-ns> <timer-ns-per-decision> <decisions>`, or
//! `sched <name> <vcpus> - n/a <why>` where the policy cannot take
//! that many vCPUs (null runs one vCPU per pCPU, ARINC 653 at most 64
//! windows); first `clock <ns>`, the clock-reading cost taken off.

use std::hint::black_box;
use std::time::Instant;

use tessera::core_::sched::{
    sched_id, CpuMask, PolicyParams, SchedCore, SchedulerOps, Time, UnitParams, SCHEDULERS,
};

const VCPUS: [usize; 3] = [4, 64, 1024];
const BATCHES: usize = 7;
const MS: u64 = 1_000_000;

/// pCPUs of the pool: 4, but null needs one per vCPU (at most 128 in a
/// CpuMask) and ARINC 653 runs its major frame on one.
fn pcpus(ops: &dyn SchedulerOps, vcpus: usize) -> Result<usize, &'static str> {
    match ops.sched_id() {
        sched_id::NULL if vcpus > 128 => Err("null runs one vCPU per pCPU; a pool has at most 128"),
        sched_id::NULL => Ok(vcpus),
        sched_id::ARINC653 if vcpus > 64 => {
            Err("a major frame holds at most 64 windows (Xen's ARINC653_MAX_DOMAINS_PER_SCHEDULE)")
        }
        sched_id::ARINC653 => Ok(1),
        _ => Ok(4),
    }
}

/// Parameters of unit `i` of `n` on `p` pCPUs: mixed weights; RTDS
/// budgets that fill 90% of the pool; 1 ms ARINC 653 windows.
fn params(ops: &dyn SchedulerOps, i: usize, n: usize, p: usize) -> UnitParams {
    let u = UnitParams::new(i as u16 + 1, 0).weighted(if i.is_multiple_of(2) { 256 } else { 512 });
    match ops.sched_id() {
        sched_id::RTDS => {
            let period = 10 * MS;
            let budget = (period * p as u64 * 9 / 10 / n as u64).clamp(10_000, period);
            u.with_policy(PolicyParams::Rtds {
                period_ns: period,
                budget_ns: budget,
                extratime: true,
            })
        }
        sched_id::ARINC653 => u.with_policy(PolicyParams::Arinc653 { runtime_ns: MS }),
        _ => u,
    }
}

struct Run {
    core: SchedCore,
    next: Vec<Time>,
    now: Time,
    /// Host ns spent in `schedule` and in `timer_interrupt`.
    sched_ns: u128,
    timer_ns: u128,
}

impl Run {
    fn new(ops: &'static dyn SchedulerOps, n: usize, p: usize) -> Result<Self, String> {
        let core = SchedCore::new(p);
        core.create_pool(0, ops).map_err(|e| e.to_string())?;
        for cpu in CpuMask::first_n(p).iter() {
            core.pool_assign_cpu(0, cpu).map_err(|e| e.to_string())?;
        }
        for i in 0..n {
            let u = params(ops, i, n, p);
            core.add_domain(0, u.unit.domid, &[u])
                .map_err(|e| e.to_string())?;
            core.vcpu_wake(u.unit, 0).map_err(|e| e.to_string())?;
        }
        Ok(Run {
            core,
            next: vec![0; p],
            now: 0,
            sched_ns: 0,
            timer_ns: 0,
        })
    }

    /// One scheduling point on the pCPU whose timer is due first.
    fn step(&mut self) {
        let (cpu, &t) = self
            .next
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| **t)
            .expect("a pool has pCPUs");
        self.now = self.now.max(t);
        let t0 = Instant::now();
        black_box(self.core.timer_interrupt(cpu, self.now));
        let t1 = Instant::now();
        black_box(self.core.schedule(cpu, self.now));
        let t2 = Instant::now();
        self.timer_ns += (t1 - t0).as_nanos();
        self.sched_ns += (t2 - t1).as_nanos();
        // Where the pCPU's timer goes next; an idle pCPU with no timer
        // looks again 1 ms later, as a tickle would wake it.
        let at = self.core.next_timer(cpu).unwrap_or(self.now + MS);
        self.next[cpu] = at.max(self.now + 1);
    }
}

/// What one `Instant::now()` pair costs, to take off each timed call.
fn clock_overhead() -> f64 {
    let n = 200_000;
    let mut total = 0u128;
    for _ in 0..n {
        let a = Instant::now();
        let b = Instant::now();
        total += (b - a).as_nanos();
    }
    total as f64 / n as f64
}

struct Figures {
    schedule_ns: f64,
    timer_ns: f64,
    decisions: usize,
}

fn measure(
    ops: &'static dyn SchedulerOps,
    n: usize,
    p: usize,
    overhead: f64,
) -> Result<Figures, String> {
    let mut run = Run::new(ops, n, p)?;
    // Fewer decisions where each costs more; enough to pass every unit
    // through the pCPUs several times.
    let batch = match n {
        0..=64 => 100_000,
        _ => 20_000,
    };
    for _ in 0..batch {
        run.step();
    }
    let mut per: Vec<(f64, f64)> = (0..BATCHES)
        .map(|_| {
            run.sched_ns = 0;
            run.timer_ns = 0;
            for _ in 0..batch {
                run.step();
            }
            let mean = |ns: u128| (ns as f64 / batch as f64 - overhead).max(0.0);
            (mean(run.sched_ns), mean(run.timer_ns))
        })
        .collect();
    per.sort_by(|a, b| a.0.total_cmp(&b.0));
    let stats = run.core.pool_info(0).map(|i| i.stats);
    if let Some(s) = stats {
        if s.rejected != 0 {
            return Err(format!("{} decisions refused by the core", s.rejected));
        }
    }
    let (schedule_ns, timer_ns) = per[BATCHES / 2];
    Ok(Figures {
        schedule_ns,
        timer_ns,
        decisions: batch * BATCHES,
    })
}

fn main() {
    let mut scheds: Vec<&'static dyn SchedulerOps> = SCHEDULERS.iter().copied().collect();
    scheds.sort_by_key(|s| s.opt_name());
    if scheds.is_empty() {
        eprintln!("tessera-bench: no scheduler linked (build with the sched-* features)");
        std::process::exit(2);
    }
    let overhead = clock_overhead();
    println!("clock\t{overhead:.1}");
    for ops in scheds {
        for n in VCPUS {
            let name = ops.opt_name();
            match pcpus(ops, n) {
                Err(why) => println!("sched\t{name}\t{n}\t-\tn/a\t{why}"),
                Ok(p) => match measure(ops, n, p, overhead) {
                    Ok(f) => println!(
                        "sched\t{name}\t{n}\t{p}\t{:.1}\t{:.1}\t{}",
                        f.schedule_ns, f.timer_ns, f.decisions
                    ),
                    Err(e) => {
                        eprintln!("tessera-bench: {name} with {n} vCPUs: {e}");
                        std::process::exit(1);
                    }
                },
            }
        }
    }
}
