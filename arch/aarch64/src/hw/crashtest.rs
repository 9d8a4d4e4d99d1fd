//! `tessera.test_crash=` (test builds only): makes the hypervisor fail on
//! purpose so the scenarios can check that a panic, a data abort and a
//! stack overflow each end in a clear report and a non-zero exit.

use linkme::distributed_slice;
use tessera_core::cmdline::{Param, ParamKind, PARAMS};

#[distributed_slice(PARAMS)]
static P_TEST_CRASH: Param = Param {
    name: "tessera.test_crash",
    kind: ParamKind::Value(crash),
    help: "test builds only: panic, data-abort or stack-overflow right away",
};

fn crash(what: &str) -> Result<(), &'static str> {
    if !tessera_core::config::TESTING {
        return Err("only test builds (CONFIG_TESTING) crash on request");
    }
    match what {
        "panic" => panic!("crash requested on the command line"),
        "data-abort" => {
            // The first page of the vmap area is never mapped.
            let p = crate::layout::VMAP_BASE as *const u64;
            // SAFETY: deliberately unsound in test builds only: the read
            // faults, and the fault path is what is under test.
            let v = unsafe { core::ptr::read_volatile(p) };
            tessera_core::error!("read {v:#x} from an unmapped address?");
            Ok(())
        }
        "stack-overflow" => {
            recurse(core::hint::black_box(1));
            Ok(())
        }
        _ => Err("expected panic, data-abort or stack-overflow"),
    }
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let buf = core::hint::black_box([n; 64]);
    // Always true, but the compiler cannot tell: recursion without end.
    if core::hint::black_box(n) != 0 {
        return recurse(n + 1) + buf[(n % 64) as usize];
    }
    0
}
