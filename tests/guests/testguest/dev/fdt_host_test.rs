//! Host-side tests of the guest's FDT reader (src/fdt.rs), run by
//! dev/test-fdt.sh: it parses QEMU's and the Xen-like device trees, and
//! must never panic on truncated or corrupted blobs.

#[allow(dead_code)]
#[path = "../src/fdt.rs"]
mod fdt;

use fdt::{Fdt, Walk};

fn blob(name: &str) -> Vec<u8> {
    let dir = std::env::var("FDT_TEST_DIR").expect("FDT_TEST_DIR");
    std::fs::read(format!("{dir}/{name}")).expect(name)
}

#[test]
fn qemu_virt_tree() {
    let b = blob("qemu-virt.dtb");
    let f = Fdt::new(&b).unwrap();
    f.validate().unwrap();
    let mem = f.find_path(b"/memory").unwrap();
    assert_eq!(mem.reg(0), Some((0x4000_0000, 128 << 20)));
    let uart = f.find_compatible(b"arm,pl011").unwrap();
    assert_eq!(uart.reg(0).unwrap().0, 0x0900_0000);
    let cpu1 = f.find_path(b"/cpus/cpu@1").unwrap();
    assert_eq!(cpu1.reg(0), Some((1, 0)));
    assert_eq!(cpu1.addr_cells, 1);
    assert_eq!(cpu1.size_cells, 0);
    assert!(f.find_path(b"/chosen").is_some());
    assert!(f.find_path(b"/nope").is_none());
    assert!(f.find_path(b"/").is_some());
}

#[test]
fn xen_like_tree() {
    let b = blob("xen-domu-like.dtb");
    let f = Fdt::new(&b).unwrap();
    let u = f.find_compatible(b"arm,sbsa-uart").unwrap();
    assert_eq!(u.reg(0), Some((0x2200_0000, 0x1000)));
    let psci = f.find_compatible(b"arm,psci-0.2").unwrap();
    assert_eq!(psci.prop(b"method").map(fdt::prop_str), Some(&b"hvc"[..]));
    let mut cpus = 0;
    f.walk(|n, p| {
        if p.len() == 3 && p[1] == b"cpus" && n.device_type() == Some(b"cpu") {
            cpus += 1;
        }
        Walk::Continue
    })
    .unwrap();
    assert_eq!(cpus, 2);
    assert_eq!(f.find_path(b"/memory").unwrap().reg(0), Some((0x4000_0000, 0x800_0000)));
}

#[test]
fn weird_cells() {
    let b = blob("weird.dtb");
    let f = Fdt::new(&b).unwrap();
    f.validate().unwrap();
    let m = f.find_path(b"/memory").unwrap();
    assert_eq!(m.reg(0), None);
    assert_eq!(m.reg_count(), 0);
    let mm = f.find_path(b"/n/m@0").unwrap();
    assert_eq!(mm.addr_cells, 3);
    assert_eq!(mm.reg(0), None); // 3 address cells: not supported
    let e = f.find_path(b"/e").unwrap();
    assert!(!e.is_enabled());
    assert_eq!(e.reg(0), None);
    assert!(f.find_compatible(b"").is_some());
}

/// Exercises everything on a possibly broken blob; must not panic.
fn poke(b: &[u8]) {
    if let Ok(f) = Fdt::new(b) {
        let _ = f.validate();
        let _ = f.walk(|n, _| {
            let _ = (n.reg(0), n.reg(7), n.reg_count(), n.prop(b"compatible"));
            let _ = (n.is_enabled(), n.device_type(), n.base_name());
            Walk::Continue
        });
        let _ = f.find_path(b"/cpus/cpu@0");
        let _ = f.find_compatible(b"arm,pl011");
    }
}

#[test]
fn corrupted_blobs_do_not_panic() {
    for name in ["qemu-virt.dtb", "xen-domu-like.dtb", "weird.dtb"] {
        let b = blob(name);
        for cut in (0..b.len()).step_by(7) {
            poke(&b[..cut]);
        }
        let mut seed = 0x1234_5678u32;
        for _ in 0..20_000 {
            let mut c = b.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = seed as usize % c.len();
                c[i] = (seed >> 24) as u8;
            }
            poke(&c);
        }
    }
}
