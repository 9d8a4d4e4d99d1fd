//! The Arm side of Xen's guest ABI: the `HVC #0xEA1` trap, guest-virtual
//! copies through the calling vCPU's own translation (`AT S12E1R/W`),
//! stage-2 page swaps for shared_info and grant frames, the event upcall
//! on PPI 31 and the runstate area.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use tessera_core::mm::{Owner, PageType, FRAMES};
use tessera_core::xen::{self, abi, Action, GuestAccess, Runstate, XenDomain, XenPages};

use super::guest::{Guest, Vcpu};
use super::mmu;
use super::sysreg;
use super::vcpu::VcpuContext;
use crate::layout::DIRECTMAP_BASE;

/// Pages of the Xen state: hypervisor pages from the frame allocator,
/// reached through the direct map.
pub struct ArmXenPages;

pub static PAGES: ArmXenPages = ArmXenPages;

impl XenPages for ArmXenPages {
    fn alloc(&self) -> Option<u64> {
        let pfn = FRAMES.alloc(0, Owner::Hypervisor, PageType::Heap)?;
        let pa = pfn * 4096;
        let Some(w) = self.words(pa) else {
            let _ = FRAMES.free(pfn, 0, Owner::Hypervisor);
            return None;
        };
        for x in w.iter() {
            x.store(0, Ordering::Relaxed);
        }
        Some(pa)
    }

    fn free(&self, pa: u64) {
        if let Some(w) = self.words(pa) {
            for x in w.iter() {
                x.store(0, Ordering::Relaxed);
            }
        }
        if let Err(e) = FRAMES.free(pa / 4096, 0, Owner::Hypervisor) {
            tessera_core::error!("xen: cannot free page {pa:#x}: {e}");
        }
    }

    fn get_ref(&self, pa: u64) -> bool {
        FRAMES.get_ref(pa / 4096).is_ok()
    }

    fn put_ref(&self, pa: u64) {
        if let Err(e) = FRAMES.put_ref(pa / 4096) {
            tessera_core::error!("xen: grant reference of {pa:#x}: {e}");
        }
    }

    fn copy(&self, src: u64, dst: u64, len: usize) {
        let (Some(s), Some(d)) = (mmu::ram_va(src), mmu::ram_va(dst)) else {
            return;
        };
        // SAFETY: both ranges lie inside one page of RAM each (the grant
        // code checks offset + length against the page), reached through
        // the direct map; the pages are pinned by the caller. They may be
        // the same page: `copy` allows overlap.
        unsafe { core::ptr::copy(s as *const u8, d as *mut u8, len) };
        sysreg::clean_dcache(d as usize, len);
    }

    fn words(&self, pa: u64) -> Option<&'static [AtomicU64; 512]> {
        if pa % 4096 != 0 {
            return None;
        }
        let va = mmu::ram_va(pa)?;
        // SAFETY: `pa` is RAM in the direct map (read-write, normal
        // memory), either a page this allocator handed out or a RAM page
        // of a live domain, which stays allocated until the domain's
        // XenDomain (the only holder of these references) is dropped.
        // Atomics make concurrent guest writes sound.
        Some(unsafe { &*(va as *const [AtomicU64; 512]) })
    }
}

/// Translates `gva` with the current vCPU's stage 1 and stage 2; the host
/// physical address, or `None` on a fault. PAR_EL1 is the guest's: it is
/// put back.
fn translate(gva: u64, write: bool) -> Option<u64> {
    let saved = mrs!("par_el1");
    if write {
        // SAFETY: address translation only; the result goes to PAR_EL1.
        unsafe { core::arch::asm!("at s12e1w, {}", "isb", in(reg) gva, options(nostack)) };
    } else {
        // SAFETY: as above.
        unsafe { core::arch::asm!("at s12e1r, {}", "isb", in(reg) gva, options(nostack)) };
    }
    let par = mrs!("par_el1");
    msr!("par_el1", saved);
    (par & 1 == 0).then(|| (par & 0x0000_ffff_ffff_f000) | (gva & 0xfff))
}

/// The calling vCPU, as the hypercalls see it. Only built while the vCPU
/// is loaded on this pCPU (its EL1 registers are live), so `AT` uses its
/// translation.
pub struct Caller<'a> {
    pub g: &'a Arc<Guest>,
    pub v: &'a Arc<Vcpu>,
}

impl Caller<'_> {
    fn copy(
        &mut self,
        gva: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(usize, usize, usize),
    ) -> Result<(), i64> {
        let mut done = 0usize;
        while done < len {
            let at = gva.checked_add(done as u64).ok_or(-xen::errno::EFAULT)?;
            let pa = translate(at, write).ok_or(-xen::errno::EFAULT)?;
            // Stage 2 holds the domain's RAM, hypervisor pages it shares
            // (shared_info, grant frames) and, with a GICv2, the virtual
            // CPU interface's registers: only RAM (a frame the frame table
            // knows) is read through the direct map.
            tessera_core::mm::FRAMES
                .with_info(pa / 4096, |_| ())
                .ok_or(-xen::errno::EFAULT)?;
            let va = mmu::ram_va(pa).ok_or(-xen::errno::EFAULT)?;
            let n = (4096 - (at & 0xfff) as usize).min(len - done);
            f(va as usize, done, n);
            done += n;
        }
        Ok(())
    }
}

impl GuestAccess for Caller<'_> {
    fn domid(&self) -> u16 {
        self.g.dom.id
    }

    fn vcpu(&self) -> usize {
        self.v.index
    }

    fn copy_from(&mut self, gva: u64, buf: &mut [u8]) -> Result<(), i64> {
        let len = buf.len();
        self.copy(gva, len, false, |va, off, n| {
            // SAFETY: `va` maps `n` bytes of a page of the calling domain
            // (stage 2 holds nothing else), inside one page; the guest may
            // write it concurrently, which only changes the bytes read.
            unsafe { core::ptr::copy_nonoverlapping(va as *const u8, buf[off..].as_mut_ptr(), n) };
        })
    }

    fn copy_to(&mut self, gva: u64, data: &[u8]) -> Result<(), i64> {
        self.copy(gva, data.len(), true, |va, off, n| {
            // SAFETY: as above, and the translation allowed writes.
            unsafe { core::ptr::copy_nonoverlapping(data[off..].as_ptr(), va as *mut u8, n) };
        })
    }

    fn gfn_to_page(&self, gfn: u64) -> Option<u64> {
        self.g.gfn_to_page(gfn)
    }

    fn set_gfn(&mut self, gfn: u64, pa: Option<u64>) -> Result<Option<u64>, i64> {
        let ipa = gfn.checked_mul(4096).ok_or(-xen::errno::EINVAL)?;
        // Never over the emulated devices or beyond the IPA space.
        if !self.g.may_remap(ipa) {
            return Err(-xen::errno::EINVAL);
        }
        // A RAM page replaced stays the domain's, counted in tot_pages and
        // freed with the domain, as in Xen.
        self.g
            .p2m
            .set_page(ipa, pa)
            .map_err(|_| -xen::errno::ENOMEM)
    }

    fn map_foreign(&mut self, gfn: u64, pa: u64, readonly: bool) -> Result<(), i64> {
        let ipa = gfn.checked_mul(4096).ok_or(-xen::errno::EINVAL)?;
        if !self.g.may_remap(ipa) {
            return Err(-xen::errno::EINVAL);
        }
        self.g
            .p2m
            .set_page_attrs(ipa, Some(pa), readonly)
            .map(|_| ())
            .map_err(|_| -xen::errno::ENOMEM)
    }

    fn max_gpfn(&self) -> u64 {
        self.g
            .ram
            .iter()
            .map(|&(b, s)| (b + s) / 4096 - 1)
            .max()
            .unwrap_or(0)
    }

    fn console_write(&mut self, bytes: &[u8]) {
        let text = alloc::string::String::from_utf8_lossy(bytes);
        tessera_core::console::print_guest(&self.g.console_prefix, format_args!("{text}\n"));
    }

    fn console_read(&mut self, buf: &mut [u8]) -> usize {
        self.g.console_rx(buf)
    }

    fn tot_pages(&self) -> u64 {
        self.g.tot_pages()
    }

    fn balloon_out(&mut self, gfn: u64) -> bool {
        let Some(pa) = self.gfn_to_page(gfn) else {
            return false;
        };
        match self.g.p2m.set_page(gfn * 4096, None) {
            Ok(_) => {
                self.g.ballooned.lock().push(pa);
                true
            }
            Err(_) => false,
        }
    }

    fn balloon_in(&mut self, gfn: u64) -> bool {
        let Some(ipa) = gfn.checked_mul(4096) else {
            return false;
        };
        if !self.g.is_ram_ipa(ipa) || self.g.p2m.translate(ipa).is_some() {
            return false;
        }
        let Some(pa) = self.g.ballooned.lock().pop() else {
            return false;
        };
        if let Some(w) = PAGES.words(pa) {
            for x in w.iter() {
                x.store(0, Ordering::Relaxed);
            }
            sysreg::clean_dcache((DIRECTMAP_BASE + pa) as usize, 4096);
        }
        if self.g.p2m.set_page(ipa, Some(pa)).is_err() {
            self.g.ballooned.lock().push(pa);
            return false;
        }
        true
    }

    fn balloon_claim(&mut self) -> bool {
        // Counted to the domain, mapped nowhere, until it is destroyed.
        let mut b = self.g.ballooned.lock();
        match b.pop() {
            Some(pa) => {
                self.g.claimed.lock().push(pa);
                true
            }
            None => false,
        }
    }

    fn now_ns(&self) -> u64 {
        super::timer::ticks_to_ns(super::timer::counter())
    }

    fn kick_upcall(&mut self, vcpu: usize) {
        self.g.raise_upcall(vcpu);
    }
}

/// `HVC #0xEA1` from the loaded vCPU `v`: runs the hypercall; what the
/// exit path must do next.
pub fn hypercall(g: &Arc<Guest>, v: &Arc<Vcpu>, c: &mut VcpuContext) -> Action {
    let args = [c.x[0], c.x[1], c.x[2], c.x[3], c.x[4]];
    let nr = c.x[16];
    let mut caller = Caller { g, v };
    let (r, action) = xen::dispatch(&mut caller, g.xen.as_deref(), nr, args);
    c.x[0] = r as u64;
    action
}

/// Records the vCPU's new run state and writes its runstate area while
/// its translation is live (just loaded, or about to be unloaded).
pub fn runstate(g: &Arc<Guest>, v: &Arc<Vcpu>, state: Runstate, now: u64) {
    let Some(x) = g.xen.as_ref() else { return };
    if let Some((gva, bytes)) = x.runstate_change(v.index, state, now) {
        let mut caller = Caller { g, v };
        // Failures are ignored, as Xen does.
        let _ = caller.copy_to(gva, &bytes);
    }
}

/// The hypervisor node's interrupt and the grant-table window, for the
/// guest's device tree.
pub const EVTCHN_PPI: u32 = abi::GUEST_EVTCHN_PPI;

/// Creates the Xen state of a domain with `xen,enhanced`.
pub fn domain_state(domid: u16, nr_vcpus: usize, max_pages: u64) -> Option<XenDomain> {
    XenDomain::new(
        domid,
        nr_vcpus,
        max_pages,
        &PAGES,
        super::guest::raise_upcall_of,
        super::guest::gfn_to_page_of,
    )
    .map(|x| x.with_wake(super::guest::wake_vcpu_of))
}
