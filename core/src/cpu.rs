//! Physical CPUs as core sees them: hardware id and online state.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::config::NR_CPUS;

pub struct Cpu {
    online: AtomicBool,
    hwid: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const OFFLINE: Cpu = Cpu {
    online: AtomicBool::new(false),
    hwid: AtomicU64::new(u64::MAX),
};

static CPUS: [Cpu; NR_CPUS] = [OFFLINE; NR_CPUS];
static PRESENT: AtomicUsize = AtomicUsize::new(0);

/// Records CPU `index` with hardware id `hwid` (from the device tree).
pub fn set_present(index: usize, hwid: u64) {
    if let Some(c) = CPUS.get(index) {
        c.hwid.store(hwid, Ordering::Relaxed);
        PRESENT.fetch_max(index + 1, Ordering::Relaxed);
    }
}

pub fn mark_online(index: usize) {
    if let Some(c) = CPUS.get(index) {
        c.online.store(true, Ordering::Release);
    }
}

pub fn is_online(index: usize) -> bool {
    CPUS.get(index)
        .is_some_and(|c| c.online.load(Ordering::Acquire))
}

pub fn hwid(index: usize) -> Option<u64> {
    CPUS.get(index)
        .map(|c| c.hwid.load(Ordering::Relaxed))
        .filter(|&h| h != u64::MAX)
}

pub fn online_count() -> usize {
    CPUS.iter()
        .filter(|c| c.online.load(Ordering::Acquire))
        .count()
}

pub fn present_count() -> usize {
    PRESENT.load(Ordering::Relaxed)
}
