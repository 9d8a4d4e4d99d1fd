use super::*;
use crate::testing::DtBuilder;
use std::vec::Vec;

const QEMU_VIRT: &[u8] = include_bytes!("../../tests/fixtures/qemu-virt-gicv3-smp4.dtb");

#[test]
fn reads_qemus_own_tree() {
    let fdt = Fdt::new(QEMU_VIRT).unwrap();
    let root = fdt.root();
    assert!(root.is_compatible("linux,dummy-virt"));
    let mem = fdt.find_node("/memory").unwrap();
    assert_eq!(mem.reg().collect::<Vec<_>>(), [(0x4000_0000, 0x4000_0000)]);
    let cpus: Vec<_> = fdt
        .find_node("/cpus")
        .unwrap()
        .children()
        .filter(|c| c.name().starts_with("cpu@"))
        .collect();
    assert_eq!(cpus.len(), 4);
    assert_eq!(cpus[3].reg().next(), Some((3, 0)));
    let stdout = fdt
        .find_node("/chosen")
        .unwrap()
        .property("stdout-path")
        .unwrap()
        .as_str()
        .unwrap();
    let uart = fdt.find_node(stdout).unwrap();
    assert!(uart.is_compatible("arm,pl011"));
    assert_eq!(uart.reg().next(), Some((0x900_0000, 0x1000)));
    let gic = fdt.compatible_nodes("arm,gic-v3").next().unwrap();
    assert_eq!(
        gic.reg().collect::<Vec<_>>(),
        [(0x800_0000, 0x1_0000), (0x80a_0000, 0xf6_0000)]
    );
    let psci = fdt.find_node("/psci").unwrap();
    assert_eq!(psci.property("method").unwrap().as_str(), Some("smc"));
    assert!(fdt.root().descendants().count() > 30);
    let phandle = gic.property("phandle").unwrap().as_u32().unwrap();
    assert_eq!(fdt.node_by_phandle(phandle).unwrap().name(), gic.name());
}

#[test]
fn every_truncation_and_corruption_is_an_error_not_a_panic() {
    // Truncate at every length, and flip every byte of the header and of
    // the first part of the structure block: Fdt::new must answer without
    // panicking, and the accessors of anything it accepts must too.
    for len in 0..QEMU_VIRT.len().min(4096) {
        let _ = Fdt::new(&QEMU_VIRT[..len]);
    }
    let mut blob = QEMU_VIRT.to_vec();
    for i in 0..2048 {
        let old = blob[i];
        for v in [0x00, 0xff, old ^ 0x80, old.wrapping_add(1)] {
            blob[i] = v;
            if let Ok(fdt) = Fdt::new(&blob) {
                for n in fdt.root().descendants() {
                    let _ = n.name();
                    let _ = n.reg().count();
                    let _ = n.properties().count();
                    let _ = n.compatible().count();
                }
                let _ = fdt.find_node("/chosen");
                let _ = fdt.find_node("serial0");
            }
        }
        blob[i] = old;
    }
}

#[test]
fn specific_errors_name_the_problem() {
    assert_eq!(Fdt::new(&[0u8; 64]).err(), Some(FdtError::BadMagic(0)));
    let mut b = DtBuilder::new();
    b.begin("");
    b.end();
    let mut blob = b.finish(&[]);
    assert!(Fdt::new(&blob).is_ok());
    // totalsize larger than the buffer
    blob[4..8].copy_from_slice(&0x1000u32.to_be_bytes());
    assert_eq!(
        Fdt::new(&blob).err(),
        Some(FdtError::BadTotalSize {
            totalsize: 0x1000,
            available: blob.len()
        })
    );

    let mut b = DtBuilder::new();
    b.begin("");
    b.begin("unclosed");
    let blob = b.finish(&[]);
    assert!(matches!(Fdt::new(&blob), Err(FdtError::BadNesting { .. })));

    let mut b = DtBuilder::new();
    b.begin("");
    b.prop_u32("x", 1);
    b.end();
    let mut blob = b.finish(&[]);
    // Point the property name outside the strings block.
    let struct_off = u32::from_be_bytes(blob[8..12].try_into().unwrap()) as usize;
    blob[struct_off + 8 + 8..struct_off + 8 + 12].copy_from_slice(&0xffffu32.to_be_bytes());
    assert!(matches!(
        Fdt::new(&blob),
        Err(FdtError::BadStringOffset {
            nameoff: 0xffff,
            ..
        })
    ));
}

#[test]
fn reg_checked_reports_bad_lengths_and_aliases_resolve() {
    let mut b = DtBuilder::new();
    b.begin("");
    b.prop_u32("#address-cells", 2);
    b.prop_u32("#size-cells", 2);
    b.begin("aliases");
    b.prop_str("serial0", "/uart@1000");
    b.end();
    b.begin("uart@1000");
    b.prop_cells("reg", &[0, 0x1000, 0]);
    b.end();
    b.end();
    let blob = b.finish(&[(0x1000, 0x2000)]);
    let fdt = Fdt::new(&blob).unwrap();
    let uart = fdt.find_node("serial0").unwrap();
    assert_eq!(uart.name(), "uart@1000");
    assert_eq!(
        uart.reg_checked().unwrap_err(),
        RegError::BadLength { len: 12, entry: 16 }
    );
    assert_eq!(fdt.reservations().collect::<Vec<_>>(), [(0x1000, 0x2000)]);
}
