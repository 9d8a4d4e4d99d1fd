//! The hypervisor image: entry, panic handler and global allocator come
//! from the arch crate and core; `tessera` (lib.rs) decides what is linked.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate tessera;

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOC: tessera::core_::hal::GlobalHeap = tessera::core_::hal::GlobalHeap;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    tessera::arch::panic(info)
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the tessera image runs on bare metal: build it with `cargo xtask build`");
    std::process::exit(2);
}
