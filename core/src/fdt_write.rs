//! A flattened device tree writer (DTB, devicetree spec v0.4, version 17).
//!
//! [`FdtWriter`] builds a tree in one pass, like libfdt's sequential-write
//! mode: open a node, add its properties, then its children, close it.
//! Methods return `&mut Self` so calls can be chained; the first mistake
//! (a bad name, a property after a child node, an unbalanced `end_node`, a
//! second root...) is remembered and returned by [`FdtWriter::finish`],
//! which also checks that every node was closed. Property names are stored
//! once in the strings block. The output is always readable by
//! [`crate::fdt::Fdt::new`] (its size is capped at
//! [`crate::fdt::MAX_FDT_SIZE`]).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::fdt::MAX_FDT_SIZE;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_END: u32 = 9;
const HEADER_SIZE: usize = 40;
const VERSION: u32 = 17;
const LAST_COMP_VERSION: u32 = 16;
/// Deepest nesting written; the same bound the reader enforces.
pub const MAX_DEPTH: usize = 32;
/// Longest node name (before any `@unit-address`) and property name, from
/// the devicetree specification (v0.4, 2.2.1 and 2.2.4).
pub const MAX_NAME_LEN: usize = 31;

/// What went wrong while writing a tree, with the names involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdtWriteError {
    /// A node name that is empty, too long, or uses characters outside
    /// `[0-9a-zA-Z,._+-]` (plus one `@` before a unit address).
    BadNodeName { parent: String, name: String },
    /// The root node must be named "".
    BadRootName { name: String },
    /// A property name that is empty, too long, or uses characters outside
    /// `[0-9a-zA-Z,._+?#-]`.
    BadPropertyName { node: String, name: String },
    /// A string value containing a NUL byte.
    NulInString { node: String, property: String },
    /// A property added after a child node of the same node.
    PropertyAfterChild { node: String, property: String },
    /// The same property twice in one node.
    DuplicateProperty { node: String, property: String },
    /// Two children of one node with the same name.
    DuplicateNode { parent: String, name: String },
    /// A property outside any node.
    PropertyOutsideNode { property: String },
    /// `end_node` with no node open.
    UnbalancedEnd,
    /// A second top-level node after the root was closed.
    SecondRoot { name: String },
    /// Nodes nested deeper than [`MAX_DEPTH`].
    TooDeep { node: String },
    /// `finish` with nodes still open (innermost named).
    Unclosed { node: String, depth: usize },
    /// `finish` without any node.
    NoRoot,
    /// The tree (or one property value) is larger than the format or
    /// [`MAX_FDT_SIZE`] allows.
    TooLarge { size: usize, max: usize },
}

impl fmt::Display for FdtWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdtWriteError::BadNodeName { parent, name } => {
                write!(f, "invalid node name {name:?} under {parent:?}")
            }
            FdtWriteError::BadRootName { name } => {
                write!(f, "the root node must be named \"\", not {name:?}")
            }
            FdtWriteError::BadPropertyName { node, name } => {
                write!(f, "invalid property name {name:?} in node {node:?}")
            }
            FdtWriteError::NulInString { node, property } => {
                write!(
                    f,
                    "property {property:?} of node {node:?}: string contains NUL"
                )
            }
            FdtWriteError::PropertyAfterChild { node, property } => write!(
                f,
                "property {property:?} of node {node:?} comes after a child node"
            ),
            FdtWriteError::DuplicateProperty { node, property } => {
                write!(f, "property {property:?} given twice in node {node:?}")
            }
            FdtWriteError::DuplicateNode { parent, name } => {
                write!(f, "node {name:?} given twice under {parent:?}")
            }
            FdtWriteError::PropertyOutsideNode { property } => {
                write!(f, "property {property:?} is outside any node")
            }
            FdtWriteError::UnbalancedEnd => write!(f, "end_node without an open node"),
            FdtWriteError::SecondRoot { name } => {
                write!(f, "node {name:?} after the root node was closed")
            }
            FdtWriteError::TooDeep { node } => {
                write!(f, "node {node:?} nested deeper than {MAX_DEPTH}")
            }
            FdtWriteError::Unclosed { node, depth } => {
                write!(f, "{depth} node(s) left open, innermost {node:?}")
            }
            FdtWriteError::NoRoot => write!(f, "no root node"),
            FdtWriteError::TooLarge { size, max } => {
                write!(f, "tree of {size:#x} bytes exceeds the {max:#x} allowed")
            }
        }
    }
}

/// One open node: its name, whether a child has begun, what it holds.
struct Open {
    name: String,
    has_child: bool,
    props: BTreeSet<String>,
    children: BTreeSet<String>,
}

/// Builds a DTB; see the module documentation.
pub struct FdtWriter {
    structs: Vec<u8>,
    strings: Vec<u8>,
    string_offsets: BTreeMap<String, u32>,
    reservations: Vec<(u64, u64)>,
    open: Vec<Open>,
    root_done: bool,
    error: Option<FdtWriteError>,
}

impl Default for FdtWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn node_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ',' | '.' | '_' | '+' | '-')
}

fn prop_char_ok(c: char) -> bool {
    node_char_ok(c) || matches!(c, '?' | '#')
}

/// A node name: `node-name[@unit-address]`, the first part 1..=31 chars.
fn node_name_ok(name: &str) -> bool {
    let (base, unit) = match name.split_once('@') {
        Some((b, u)) => (b, Some(u)),
        None => (name, None),
    };
    if base.is_empty() || base.len() > MAX_NAME_LEN || !base.chars().all(node_char_ok) {
        return false;
    }
    match unit {
        None => true,
        Some(u) => !u.is_empty() && u.len() <= 64 && u.chars().all(node_char_ok),
    }
}

fn prop_name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.chars().all(prop_char_ok)
}

impl FdtWriter {
    /// An empty tree.
    pub fn new() -> Self {
        FdtWriter {
            structs: Vec::new(),
            strings: Vec::new(),
            string_offsets: BTreeMap::new(),
            reservations: Vec::new(),
            open: Vec::new(),
            root_done: false,
            error: None,
        }
    }

    fn fail(&mut self, e: FdtWriteError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn word(&mut self, v: u32) {
        self.structs.extend_from_slice(&v.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    fn current_name(&self) -> String {
        match self.open.last() {
            Some(o) if o.name.is_empty() => "/".to_string(),
            Some(o) => o.name.clone(),
            None => String::new(),
        }
    }

    /// Opens a node. The first node is the root and must be named "".
    pub fn begin_node(&mut self, name: &str) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.open.is_empty() {
            if self.root_done {
                self.fail(FdtWriteError::SecondRoot {
                    name: name.to_string(),
                });
                return self;
            }
            if !name.is_empty() {
                self.fail(FdtWriteError::BadRootName {
                    name: name.to_string(),
                });
                return self;
            }
        } else {
            let parent = self.current_name();
            if !node_name_ok(name) {
                self.fail(FdtWriteError::BadNodeName {
                    parent,
                    name: name.to_string(),
                });
                return self;
            }
            if self.open.len() >= MAX_DEPTH {
                self.fail(FdtWriteError::TooDeep {
                    node: name.to_string(),
                });
                return self;
            }
            let Some(top) = self.open.last_mut() else {
                return self;
            };
            if !top.children.insert(name.to_string()) {
                self.fail(FdtWriteError::DuplicateNode {
                    parent,
                    name: name.to_string(),
                });
                return self;
            }
            top.has_child = true;
        }
        self.word(FDT_BEGIN_NODE);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self.open.push(Open {
            name: name.to_string(),
            has_child: false,
            props: BTreeSet::new(),
            children: BTreeSet::new(),
        });
        self
    }

    /// Closes the innermost open node.
    pub fn end_node(&mut self) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.open.pop().is_none() {
            self.fail(FdtWriteError::UnbalancedEnd);
            return self;
        }
        self.word(FDT_END_NODE);
        if self.open.is_empty() {
            self.root_done = true;
        }
        self
    }

    fn name_offset(&mut self, name: &str) -> u32 {
        if let Some(&off) = self.string_offsets.get(name) {
            return off;
        }
        let off = self.strings.len();
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        // The size cap in `finish` keeps offsets far below u32::MAX; a
        // saturated value would be caught there too.
        let off = u32::try_from(off).unwrap_or(u32::MAX);
        self.string_offsets.insert(name.to_string(), off);
        off
    }

    /// Adds a property with a raw value to the innermost open node.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        let node = self.current_name();
        let Some(top) = self.open.last_mut() else {
            self.fail(FdtWriteError::PropertyOutsideNode {
                property: name.to_string(),
            });
            return self;
        };
        if !prop_name_ok(name) {
            self.fail(FdtWriteError::BadPropertyName {
                node,
                name: name.to_string(),
            });
            return self;
        }
        if top.has_child {
            self.fail(FdtWriteError::PropertyAfterChild {
                node,
                property: name.to_string(),
            });
            return self;
        }
        if !top.props.insert(name.to_string()) {
            self.fail(FdtWriteError::DuplicateProperty {
                node,
                property: name.to_string(),
            });
            return self;
        }
        if value.len() > MAX_FDT_SIZE {
            self.fail(FdtWriteError::TooLarge {
                size: value.len(),
                max: MAX_FDT_SIZE,
            });
            return self;
        }
        let nameoff = self.name_offset(name);
        self.word(FDT_PROP);
        // Bounded by MAX_FDT_SIZE just above.
        self.word(value.len() as u32);
        self.word(nameoff);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    /// A property with no value (a boolean flag such as
    /// `interrupt-controller`).
    pub fn prop_empty(&mut self, name: &str) -> &mut Self {
        self.prop(name, &[])
    }

    /// One 32-bit cell.
    pub fn prop_u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.prop(name, &v.to_be_bytes())
    }

    /// A 64-bit value as two cells.
    pub fn prop_u64(&mut self, name: &str, v: u64) -> &mut Self {
        self.prop(name, &v.to_be_bytes())
    }

    /// A list of 32-bit cells.
    pub fn prop_cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &bytes)
    }

    /// A NUL-terminated string.
    pub fn prop_str(&mut self, name: &str, s: &str) -> &mut Self {
        self.prop_strs(name, &[s])
    }

    /// A list of NUL-terminated strings (a `compatible` list).
    pub fn prop_strs(&mut self, name: &str, list: &[&str]) -> &mut Self {
        if list.iter().any(|s| s.as_bytes().contains(&0)) {
            let node = self.current_name();
            self.fail(FdtWriteError::NulInString {
                node,
                property: name.to_string(),
            });
            return self;
        }
        let mut v = Vec::new();
        for s in list {
            v.extend_from_slice(s.as_bytes());
            v.push(0);
        }
        self.prop(name, &v)
    }

    /// Adds a `/memreserve/` entry.
    pub fn add_reservation(&mut self, addr: u64, size: u64) -> &mut Self {
        self.reservations.push((addr, size));
        self
    }

    /// The finished blob, or the first mistake made while building it.
    pub fn finish(self) -> Result<Vec<u8>, FdtWriteError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(top) = self.open.last() {
            return Err(FdtWriteError::Unclosed {
                node: if top.name.is_empty() {
                    "/".to_string()
                } else {
                    top.name.clone()
                },
                depth: self.open.len(),
            });
        }
        if !self.root_done {
            return Err(FdtWriteError::NoRoot);
        }
        let mut structs = self.structs;
        structs.extend_from_slice(&FDT_END.to_be_bytes());
        let rsv_off = HEADER_SIZE;
        let too_large = |size: usize| FdtWriteError::TooLarge {
            size,
            max: MAX_FDT_SIZE,
        };
        let rsv_len = self
            .reservations
            .len()
            .checked_add(1)
            .and_then(|n| n.checked_mul(16))
            .ok_or(too_large(usize::MAX))?;
        let struct_off = rsv_off + rsv_len;
        let strings_off = struct_off
            .checked_add(structs.len())
            .ok_or(too_large(usize::MAX))?;
        let total = strings_off
            .checked_add(self.strings.len())
            .ok_or(too_large(usize::MAX))?;
        if total > MAX_FDT_SIZE {
            return Err(too_large(total));
        }
        // Everything below is bounded by MAX_FDT_SIZE (2 MiB), so the u32
        // conversions are exact.
        let mut out = Vec::with_capacity(total);
        for v in [
            FDT_MAGIC,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            VERSION,
            LAST_COMP_VERSION,
            0, // boot_cpuid_phys
            self.strings.len() as u32,
            structs.len() as u32,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for &(a, s) in self.reservations.iter().chain(core::iter::once(&(0, 0))) {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&structs);
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdt::Fdt;
    use std::format;
    use std::vec;

    fn sample() -> FdtWriter {
        let mut w = FdtWriter::new();
        w.begin_node("")
            .prop_u32("#address-cells", 2)
            .prop_u32("#size-cells", 2)
            .prop_strs("compatible", &["xen,xenvm-4.20", "xen,xenvm"]);
        w.begin_node("chosen")
            .prop_str("bootargs", "console=hvc0")
            .prop_u64("linux,initrd-start", 0x4800_0000)
            .end_node();
        w.begin_node("memory@40000000")
            .prop_str("device_type", "memory")
            .prop_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
            .end_node();
        w.begin_node("interrupt-controller@3001000")
            .prop_empty("interrupt-controller")
            .prop_u32("#address-cells", 0)
            .prop_u32("phandle", 65000);
        w.begin_node("inner").prop_u32("x", 1).end_node();
        w.end_node();
        w.end_node();
        w.add_reservation(0x4800_0000, 0x1000);
        w
    }

    #[test]
    fn round_trip_through_the_reader() {
        let blob = sample().finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(fdt.total_size(), blob.len());
        let root = fdt.root();
        assert_eq!(root.name(), "");
        assert_eq!(root.cells(), (2, 2));
        let compat: Vec<&str> = root.compatible().collect();
        assert_eq!(compat, ["xen,xenvm-4.20", "xen,xenvm"]);
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(
            chosen.property("bootargs").unwrap().as_str(),
            Some("console=hvc0")
        );
        assert_eq!(
            chosen.property("linux,initrd-start").unwrap().as_u64(),
            Some(0x4800_0000)
        );
        let mem = fdt.find_node("/memory").unwrap();
        assert_eq!(mem.reg().collect::<Vec<_>>(), [(0x4000_0000, 0x1000_0000)]);
        let gic = fdt.node_by_phandle(65000).unwrap();
        assert_eq!(gic.name(), "interrupt-controller@3001000");
        assert_eq!(gic.property("interrupt-controller").unwrap().value, b"");
        let inner = fdt
            .find_node("/interrupt-controller@3001000/inner")
            .unwrap();
        assert_eq!(inner.property("x").unwrap().as_u32(), Some(1));
        assert_eq!(
            fdt.reservations().collect::<Vec<_>>(),
            [(0x4800_0000, 0x1000)]
        );
        let names: Vec<&str> = root.descendants().map(|n| n.name()).collect();
        assert_eq!(
            names,
            [
                "",
                "chosen",
                "memory@40000000",
                "interrupt-controller@3001000",
                "inner"
            ]
        );
    }

    #[test]
    fn header_fields_and_alignment() {
        let blob = sample().finish().unwrap();
        let be = |o: usize| u32::from_be_bytes([blob[o], blob[o + 1], blob[o + 2], blob[o + 3]]);
        assert_eq!(be(0), 0xd00d_feed);
        assert_eq!(be(4) as usize, blob.len());
        assert_eq!(be(20), 17);
        assert_eq!(be(24), 16);
        assert_eq!(
            be(16),
            40,
            "memory reservation block right after the header"
        );
        assert_eq!(be(8) % 4, 0);
        assert_eq!(be(8) as usize + be(36) as usize, be(12) as usize);
        assert_eq!(be(12) as usize + be(32) as usize, blob.len());
    }

    #[test]
    fn property_names_are_stored_once() {
        let mut w = FdtWriter::new();
        w.begin_node("");
        for i in 0..10 {
            w.begin_node(&format!("n@{i}"))
                .prop_u32("reg", i)
                .prop_str("status", "okay")
                .end_node();
        }
        w.end_node();
        let blob = w.finish().unwrap();
        let strings_len = u32::from_be_bytes([blob[32], blob[33], blob[34], blob[35]]);
        assert_eq!(strings_len as usize, "reg\0status\0".len());
        let fdt = Fdt::new(&blob).unwrap();
        let regs: Vec<u32> = fdt
            .root()
            .children()
            .map(|n| n.property("reg").unwrap().as_u32().unwrap())
            .collect();
        assert_eq!(regs, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn empty_root_is_a_valid_tree() {
        let mut w = FdtWriter::new();
        w.begin_node("").end_node();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(fdt.root().properties().count(), 0);
        assert_eq!(fdt.root().children().count(), 0);
    }

    fn err(build: impl FnOnce(&mut FdtWriter)) -> FdtWriteError {
        let mut w = FdtWriter::new();
        build(&mut w);
        w.finish().unwrap_err()
    }

    #[test]
    fn unbalanced_nodes_are_refused() {
        assert_eq!(err(|_| {}), FdtWriteError::NoRoot);
        assert_eq!(
            err(|w| {
                w.begin_node("").begin_node("a");
            }),
            FdtWriteError::Unclosed {
                node: "a".into(),
                depth: 2
            }
        );
        assert_eq!(
            err(|w| {
                w.begin_node("");
            }),
            FdtWriteError::Unclosed {
                node: "/".into(),
                depth: 1
            }
        );
        assert_eq!(
            err(|w| {
                w.begin_node("").end_node().end_node();
            }),
            FdtWriteError::UnbalancedEnd
        );
        assert_eq!(
            err(|w| {
                w.end_node();
            }),
            FdtWriteError::UnbalancedEnd
        );
    }

    #[test]
    fn exactly_one_root() {
        assert_eq!(
            err(|w| {
                w.begin_node("").end_node().begin_node("").end_node();
            }),
            FdtWriteError::SecondRoot { name: "".into() }
        );
        assert_eq!(
            err(|w| {
                w.begin_node("root").end_node();
            }),
            FdtWriteError::BadRootName {
                name: "root".into()
            }
        );
        assert_eq!(
            err(|w| {
                w.prop_u32("x", 1);
            }),
            FdtWriteError::PropertyOutsideNode {
                property: "x".into()
            }
        );
    }

    #[test]
    fn properties_must_precede_children() {
        let e = err(|w| {
            w.begin_node("")
                .begin_node("a")
                .end_node()
                .prop_u32("late", 1)
                .end_node();
        });
        assert_eq!(
            e,
            FdtWriteError::PropertyAfterChild {
                node: "/".into(),
                property: "late".into()
            }
        );
        assert!(format!("{e}").contains("late"));
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "a b", "a/b", "a@", "x@1@2", "é", &"n".repeat(32)] {
            assert_eq!(
                err(|w| {
                    w.begin_node("").begin_node(bad).end_node().end_node();
                }),
                FdtWriteError::BadNodeName {
                    parent: "/".into(),
                    name: bad.into()
                },
                "{bad:?}"
            );
        }
        for good in [
            "cpu@0",
            "interrupt-controller@3001000",
            "a,b_c.d+e-f",
            &"n".repeat(31),
        ] {
            let mut w = FdtWriter::new();
            w.begin_node("").begin_node(good).end_node().end_node();
            w.finish().unwrap();
        }
        for bad in ["", "a b", "a@b", "x\0", &"p".repeat(32)] {
            assert_eq!(
                err(|w| {
                    w.begin_node("n").prop_empty(bad);
                }),
                FdtWriteError::BadRootName { name: "n".into() }
            );
            assert_eq!(
                err(|w| {
                    w.begin_node("").prop_empty(bad).end_node();
                }),
                FdtWriteError::BadPropertyName {
                    node: "/".into(),
                    name: bad.into()
                },
                "{bad:?}"
            );
        }
        let mut w = FdtWriter::new();
        w.begin_node("")
            .prop_u32("#address-cells", 2)
            .prop_empty("linux,usable?")
            .end_node();
        w.finish().unwrap();
    }

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(
            err(|w| {
                w.begin_node("")
                    .prop_u32("a", 1)
                    .prop_u32("a", 2)
                    .end_node();
            }),
            FdtWriteError::DuplicateProperty {
                node: "/".into(),
                property: "a".into()
            }
        );
        assert_eq!(
            err(|w| {
                w.begin_node("")
                    .begin_node("c")
                    .end_node()
                    .begin_node("c")
                    .end_node()
                    .end_node();
            }),
            FdtWriteError::DuplicateNode {
                parent: "/".into(),
                name: "c".into()
            }
        );
    }

    #[test]
    fn nul_inside_a_string_is_refused() {
        assert_eq!(
            err(|w| {
                w.begin_node("")
                    .prop_strs("compatible", &["a", "b\0c"])
                    .end_node();
            }),
            FdtWriteError::NulInString {
                node: "/".into(),
                property: "compatible".into()
            }
        );
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let e = err(|w| {
            w.begin_node("");
            for i in 0..MAX_DEPTH {
                w.begin_node(&format!("n{i}"));
            }
        });
        assert_eq!(
            e,
            FdtWriteError::TooDeep {
                node: format!("n{}", MAX_DEPTH - 1)
            }
        );
        // MAX_DEPTH levels (root included) are fine and readable.
        let mut w = FdtWriter::new();
        w.begin_node("");
        for i in 1..MAX_DEPTH {
            w.begin_node(&format!("n{i}"));
        }
        for _ in 0..MAX_DEPTH {
            w.end_node();
        }
        Fdt::new(&w.finish().unwrap()).unwrap();

        let big = vec![0u8; MAX_FDT_SIZE];
        let e = err(|w| {
            w.begin_node("").prop("blob", &big).end_node();
        });
        assert!(matches!(e, FdtWriteError::TooLarge { .. }), "{e:?}");
        let e = err(|w| {
            w.begin_node("").prop("blob", &big[1..]).end_node();
        });
        assert!(matches!(e, FdtWriteError::TooLarge { .. }), "{e:?}");
    }

    #[test]
    fn first_error_wins() {
        let e = err(|w| {
            w.begin_node("")
                .prop_empty("bad name")
                .prop_u32("a", 1)
                .prop_u32("a", 1)
                .end_node();
        });
        assert_eq!(
            e,
            FdtWriteError::BadPropertyName {
                node: "/".into(),
                name: "bad name".into()
            }
        );
    }

    #[test]
    fn display_names_the_node_and_property() {
        let e = FdtWriteError::DuplicateProperty {
            node: "cpu@0".into(),
            property: "reg".into(),
        };
        let s = format!("{e}");
        assert!(s.contains("cpu@0") && s.contains("reg"), "{s}");
    }
}
