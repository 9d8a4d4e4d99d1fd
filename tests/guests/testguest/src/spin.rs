//! `mode=spin`: a CPU-bound guest that counts loop iterations over a fixed
//! window of virtual time, so a scenario can compare the CPU shares two
//! domains got from the scheduler (`spin_start_ms=`, default 500, lets
//! every domain start first; `spin_ms=`, default 2000, is the window).

use crate::{arch, pass, say, Env};

pub fn run(env: &Env) {
    let start_ms = env.arg_num("spin_start_ms").unwrap_or(500);
    let window_ms = env.arg_num("spin_ms").unwrap_or(2000).max(1);
    let begin = arch::ticks_from_ms(start_ms);
    let end = begin + arch::ticks_from_ms(window_ms);
    // Virtual time starts near 0 when the domain is created (CNTVOFF), so
    // every domain of the scenario measures about the same window.
    while arch::now() < begin {}
    let mut n: u64 = 0;
    while arch::now() < end {
        n += 1;
    }
    say!("spin: {} iterations in {} ms", n, window_ms);
    pass!("spin");
}
