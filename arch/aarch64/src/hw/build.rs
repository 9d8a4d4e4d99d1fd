//! Building a boot-time domain from its dom0less description: memory,
//! stage 2, emulated devices, the kernel and its device tree in guest
//! memory, vCPUs, and its place in the scheduler.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use tessera_core::dom0less::{DomainSpec, Enhanced};
use tessera_core::domain::{DeviceWindow, Domain};
use tessera_core::fdt::Fdt;
use tessera_core::sched::{self, UnitParams};

use super::guest::{self, Guest};
use super::p2m::P2m;
use super::sysreg;
use crate::guest::{dtgen, layout, loader};
use crate::layout::{DIRECTMAP_BASE, DIRECTMAP_MAX_PA};
use crate::vgic::GicVersion;

/// Host RAM the boot modules live in, read through the direct map.
fn host_bytes(addr: u64, size: u64) -> Result<&'static [u8], String> {
    let end = addr
        .checked_add(size)
        .filter(|&e| e <= DIRECTMAP_MAX_PA)
        .ok_or("module outside the direct map")?;
    let _ = end;
    // SAFETY: the module lies in RAM that the memory layout reserved as a
    // boot module (never handed to the allocator) and that the direct map
    // covers; nothing writes it while domains are built.
    Ok(unsafe { core::slice::from_raw_parts((DIRECTMAP_BASE + addr) as *const u8, size as usize) })
}

/// Copies `data` to guest-physical `ipa` through the stage-2 tables, then
/// cleans it to the point of coherency: the guest starts with its MMU and
/// caches off.
fn copy_to_guest(p2m: &P2m, ipa: u64, data: &[u8]) -> Result<(), String> {
    let mut done = 0usize;
    while done < data.len() {
        let at = ipa + done as u64;
        let pa = p2m
            .translate(at)
            .ok_or_else(|| format!("guest address {at:#x} is not RAM"))?;
        let in_page = (4096 - (at & 0xfff)) as usize;
        let n = in_page.min(data.len() - done);
        let va = (DIRECTMAP_BASE + pa) as usize;
        // SAFETY: `pa` is a page of this domain's RAM (just translated
        // through its own stage 2), mapped read-write in the direct map,
        // and the domain does not run yet; `n` stays inside the page.
        unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), va as *mut u8, n) };
        sysreg::clean_dcache(va, n);
        done += n;
    }
    Ok(())
}

/// Builds and starts one domain in CPU pool `pool`; its id, or why it was
/// refused.
pub fn build_domain(fdt: &Fdt, spec: &DomainSpec, pool: u32) -> Result<u16, String> {
    // "enabled" means xenstore too; with no xenstore domain Xen panics.
    if spec.enhanced == Enhanced::Enabled {
        return Err(String::from(
            "xen,enhanced = \"enabled\" needs a xenstore domain, and this system has none: \
             use \"no-xenstore\" for the Xen PV interfaces without xenstore",
        ));
    }
    let xen_abi = spec.enhanced == Enhanced::NoXenstore;
    let partial = match &spec.device_tree {
        Some(m) => {
            let bytes = host_bytes(m.addr, m.size)?;
            let fdt =
                Fdt::new(bytes).map_err(|e| format!("partial device tree {}: {e}", m.node))?;
            dtgen::check_partial(&fdt).map_err(|e| format!("{e}"))?;
            Some(fdt)
        }
        None => None,
    };
    if spec.ramdisk.is_some() && spec.kernel.size == 0 {
        return Err(String::from("empty kernel module"));
    }
    // Guests see the host's GIC version; a GICv2 names at most 8 CPUs.
    let iface = super::vgic::interface();
    let gic = iface.guest_version();
    if gic == GicVersion::V2 && spec.vcpus as usize > crate::vgic::v2::MAX_VCPUS {
        return Err(format!(
            "{} vCPUs: a virtual GICv2 has at most {} CPU interfaces",
            spec.vcpus,
            crate::vgic::v2::MAX_VCPUS
        ));
    }
    let banks = layout::ram_banks(spec.memory_bytes()).map_err(|e| format!("{e}"))?;
    let banks: Vec<(u64, u64)> = banks.as_slice().to_vec();
    let mut mpidrs = Vec::new();
    for i in 0..spec.vcpus {
        mpidrs.push(layout::vcpu_affinity(i).ok_or_else(|| {
            format!(
                "{} vCPUs is more than Xen's guest layout allows",
                spec.vcpus
            )
        })?);
    }

    let mut dom = Domain::new(&spec.name, spec.vcpus as usize).map_err(|e| format!("{e}"))?;
    if spec.vpl011 {
        let kind = tessera_core::vdev::kind_for_property("vpl011").ok_or(
            "vpl011 asked for, but this image has no vpl011 plugin (Kconfig VUART_VPL011)",
        )?;
        let irq = alloc::sync::Arc::new(super::guest::GuestIrq {
            domid: dom.id,
            intid: kind.intid,
        });
        dom.devices.push(DeviceWindow {
            name: kind.name,
            base: kind.base,
            size: kind.size,
            device: (kind.create)(dom.id, &spec.name, irq),
        });
    }
    let id = dom.id;
    // From here on a failure must give everything back.
    let result = (|| -> Result<(P2m, u64, u64), String> {
        let runs = dom
            .allocate_ram(spec.memory_bytes())
            .map_err(|e| format!("{e}"))?;
        let p2m = P2m::new((spec.p2m_pool_bytes / 4096) as usize).map_err(|e| format!("{e}"))?;
        // Fill the guest banks in order with the allocated runs.
        let mut runs = runs.into_iter();
        let mut cur = runs.next();
        for &(base, size) in &banks {
            let mut off = 0;
            while off < size {
                let (pa, len) = cur.ok_or("internal: allocated RAM shorter than the banks")?;
                let n = len.min(size - off);
                p2m.map_ram(base + off, pa, n).map_err(|e| format!("{e}"))?;
                off += n;
                cur = if n == len {
                    runs.next()
                } else {
                    Some((pa + n, len - n))
                };
            }
        }
        // GICv2: the guest's CPU interface is the hardware's virtual one.
        if let Some(pages) = iface.gicv_pages() {
            for (i, pa) in pages.into_iter().enumerate() {
                p2m.map_device(layout::GUEST_GICC_BASE + 0x1000 * i as u64, pa, 0x1000)
                    .map_err(|e| format!("mapping the virtual CPU interface: {e}"))?;
            }
        }
        let kernel = host_bytes(spec.kernel.addr, spec.kernel.size)?;
        let plan = loader::plan(kernel, &banks).map_err(|e| format!("kernel: {e}"))?;
        for c in &plan.copies {
            let src = kernel
                .get(c.src_offset as usize..(c.src_offset + c.len) as usize)
                .ok_or("kernel segment outside the module")?;
            copy_to_guest(&p2m, c.guest_addr, src)?;
        }
        // Guest RAM is scrubbed when freed, so BSS is already zero; clean
        // it anyway for a guest that starts with caches off.
        let initrd_len = spec.ramdisk.as_ref().map(|r| r.size);
        let cpu_compat: Vec<&str> = fdt
            .find_node("/cpus")
            .and_then(|c| c.children().find(|n| n.name().starts_with("cpu@")))
            .map(|n| n.compatible().collect())
            .unwrap_or_default();
        let cpu_compat: Vec<&str> = if cpu_compat.is_empty() {
            dtgen::DEFAULT_CPU_COMPATIBLE.to_vec()
        } else {
            cpu_compat
        };
        let mut dt = dtgen::GuestDtSpec {
            vcpus: spec.vcpus,
            ram: &banks,
            bootargs: spec.bootargs.as_deref(),
            initrd: initrd_len.map(|l| (banks[0].0, l)),
            vpl011: spec.vpl011,
            cpu_compatible: &cpu_compat,
            cpu_clock_frequency: None,
            timer_clock_frequency: None,
            partial,
            xen: xen_abi,
            gic,
        };
        let probe = dtgen::build(&dt).map_err(|e| format!("device tree: {e}"))?;
        let (dtb_addr, initrd_addr) =
            loader::place_blobs(&plan, &banks, probe.len() as u64, initrd_len)
                .map_err(|e| format!("placing the device tree: {e}"))?;
        if let (Some(addr), Some(r)) = (initrd_addr, spec.ramdisk.as_ref()) {
            dt.initrd = Some((addr, r.size));
            copy_to_guest(&p2m, addr, host_bytes(r.addr, r.size)?)?;
        }
        let dtb = dtgen::build(&dt).map_err(|e| format!("device tree: {e}"))?;
        copy_to_guest(&p2m, dtb_addr, &dtb)?;
        Ok((p2m, plan.entry, dtb_addr))
    })();
    let (p2m, entry, dtb_addr) = match result {
        Ok(r) => r,
        Err(e) => {
            dom.release_memory();
            tessera_core::console::unregister_input(id);
            return Err(e);
        }
    };
    let xen_state = if xen_abi {
        match super::xen::domain_state(id, spec.vcpus as usize, spec.memory_bytes() / 4096) {
            Some(x) => Some(x),
            None => {
                drop(p2m);
                dom.release_memory();
                tessera_core::console::unregister_input(id);
                return Err(String::from("no memory for the shared-info page"));
            }
        }
    } else {
        None
    };
    let dom = dom.publish();
    let units: Vec<UnitParams> = (0..spec.vcpus as u16)
        .map(|v| spec.sched.unit_params(id, v))
        .collect();
    let core = sched::get().ok_or("the scheduler is not running")?;
    if let Err(e) = core.add_domain(pool, id, &units) {
        let why = format!("{e}");
        let _ = dom.begin_shutdown(tessera_core::domain::ShutdownReason::Crash);
        drop(p2m);
        dom.release_memory();
        dom.finish();
        return Err(why);
    }
    tessera_core::info!(
        "d{id}: kernel entry {entry:#x}, device tree at {dtb_addr:#x}, {} stage-2 table pages",
        p2m.pages()
    );
    // SPIs: what the domain asks for (nr_spis), at least enough for its
    // emulated devices (the vpl011 is SPI 32).
    let nr_spis = spec
        .nr_spis
        .unwrap_or(if spec.vpl011 { 32 } else { 0 })
        .max(32);
    let mut g = Guest::new(dom, p2m, banks, &mpidrs, entry, dtb_addr, nr_spis, gic);
    if let Some(x) = xen_state {
        let rx = guest::XenConsoleRx::new();
        // Without a vpl011, console input goes to CONSOLEIO_read.
        if !spec.vpl011 {
            tessera_core::console::register_input(id, rx.clone());
        }
        g = g.with_xen(x, rx);
    }
    guest::publish(g);
    Ok(id)
}
