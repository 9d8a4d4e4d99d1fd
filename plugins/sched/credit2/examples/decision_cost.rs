//! Host benchmark of each scheduler's decision cost: ns per `do_schedule`
//! with 4, 64 and 1024 CPU-bound single-vCPU domains on 4 pCPUs (null:
//! one pCPU per unit, at most 128; arinc653: at most 64 windows).
//!
//! Run: `cargo run --release -p tessera-sched-credit2 --example decision_cost`
//!
//! Each decision advances virtual time by 100 us and rotates over the
//! pCPUs, passing back what the policy chose for that pCPU last time; the
//! policy's timer (`on_timer`) runs when due and is included in the time.

use std::hint::black_box;
use std::time::Instant;

use tessera_core::sched::{SchedulerOps, UnitId, UnitParams};

const DECISIONS: u64 = 200_000;
const STEP_NS: u64 = 100_000;

fn bench(ops: &dyn SchedulerOps, units: usize) -> Result<f64, String> {
    let cpus = if ops.opt_name() == "null" { units } else { 4 };
    let mut inst = ops.instantiate().map_err(|e| e.to_string())?;
    for c in 0..cpus {
        inst.add_pcpu(c).map_err(|e| e.to_string())?;
    }
    for d in 0..units {
        let p = UnitParams::new(d as u16 + 1, 0);
        inst.insert_unit(&p).map_err(|e| e.to_string())?;
    }
    for d in 0..units {
        inst.wake(UnitId::new(d as u16 + 1, 0), 0);
    }
    let mut prev = vec![None; cpus];
    let mut now = 0;
    let start = Instant::now();
    for i in 0..DECISIONS {
        let cpu = (i % cpus as u64) as usize;
        now += STEP_NS;
        if inst.next_event().is_some_and(|t| t <= now) {
            black_box(inst.on_timer(now));
        }
        let d = inst.do_schedule(cpu, now, prev[cpu], true);
        prev[cpu] = black_box(d).next;
    }
    Ok(start.elapsed().as_nanos() as f64 / DECISIONS as f64)
}

fn main() {
    let policies: [&dyn SchedulerOps; 5] = [
        &tessera_sched_null::NULL,
        &tessera_sched_credit::CREDIT,
        &tessera_sched_credit2::CREDIT2,
        &tessera_sched_rtds::RTDS,
        &tessera_sched_arinc653::ARINC653,
    ];
    println!(
        "{:<10} {:>12} {:>12} {:>12}",
        "policy", "4 units", "64 units", "1024 units"
    );
    for ops in policies {
        print!("{:<10}", ops.opt_name());
        for n in [4, 64, 1024] {
            match bench(ops, n) {
                Ok(ns) => print!(" {:>9.0} ns", ns),
                Err(_)
                    if (ops.opt_name() == "null" && n > 128)
                        || (ops.opt_name() == "arinc653" && n > 64) =>
                {
                    print!(" {:>12}", "n/a")
                }
                Err(e) => print!(" error: {e}"),
            }
        }
        println!();
    }
}
