//! Debug keys: with the console input on the hypervisor (CTRL-a three
//! times), a key runs a handler that prints state, as Xen's debug keys do.
//! Any crate registers its own in [`DEBUG_KEYS`].

use linkme::distributed_slice;

/// One debug key.
pub struct DebugKey {
    pub key: u8,
    pub description: &'static str,
    pub handler: fn(),
}

/// Every debug key of this image.
#[distributed_slice]
pub static DEBUG_KEYS: [DebugKey];

#[distributed_slice(DEBUG_KEYS)]
static HELP: DebugKey = DebugKey {
    key: b'h',
    description: "list the debug keys",
    handler: help,
};

#[distributed_slice(DEBUG_KEYS)]
static MEMORY: DebugKey = DebugKey {
    key: b'm',
    description: "memory: free and total pages",
    handler: memory,
};

fn help() {
    info!("'h' pressed: debug keys");
    let mut keys: alloc::vec::Vec<&DebugKey> = DEBUG_KEYS.iter().collect();
    keys.sort_by_key(|k| k.key);
    for k in keys {
        info!("  '{}' {}", k.key as char, k.description);
    }
}

fn memory() {
    info!(
        "'m' pressed: {} free pages of {}; heap {:?} bytes used/total",
        crate::mm::FRAMES.free_pages(),
        crate::mm::FRAMES.total_pages(),
        crate::hal::HEAP.usage()
    );
}

/// Runs the handler of `key`; false when no key matches.
pub fn press(key: u8) -> bool {
    match DEBUG_KEYS.iter().find(|k| k.key == key) {
        Some(k) => {
            (k.handler)();
            true
        }
        None => false,
    }
}
