//! A validating reader for flattened device trees (DTB, devicetree spec v0.4).
//!
//! The device tree is input from a boot loader or a user, so it is treated as
//! hostile: [`Fdt::new`] checks the header and walks the whole structure
//! block once (token stream, nesting, string offsets, bounds) before any
//! accessor runs, and every accessor still reads with checked slicing. A bad
//! tree yields an [`FdtError`] that says what and where; nothing panics.

use core::fmt;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// Same bound Linux uses for a DTB it will accept.
pub const MAX_FDT_SIZE: usize = 2 * 1024 * 1024;
const MAX_DEPTH: usize = 32;

/// What is wrong with a device tree, with the offending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdtError {
    /// The magic number is not 0xd00dfeed.
    BadMagic(u32),
    /// `totalsize` is larger than the memory given or than [`MAX_FDT_SIZE`].
    BadTotalSize { totalsize: usize, available: usize },
    /// A version this reader does not understand.
    BadVersion { version: u32, last_comp: u32 },
    /// A header block (struct, strings, memreserve) lies outside the tree.
    BadBlock {
        block: &'static str,
        offset: usize,
        size: usize,
    },
    /// An unknown token in the structure block.
    BadToken { offset: usize, token: u32 },
    /// The structure block ends in the middle of something.
    Truncated { offset: usize },
    /// A property's name offset points outside the strings block.
    BadStringOffset { offset: usize, nameoff: usize },
    /// A node or property name is not NUL-terminated or not UTF-8.
    BadName { offset: usize },
    /// END_NODE without BEGIN_NODE, or nodes nested deeper than 32.
    BadNesting { offset: usize },
    /// Something after the root node other than NOPs and END.
    TrailingData { offset: usize },
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FdtError::BadMagic(m) => write!(f, "bad magic {m:#010x} (expected 0xd00dfeed)"),
            FdtError::BadTotalSize {
                totalsize,
                available,
            } => {
                write!(
                    f,
                    "totalsize {totalsize:#x} exceeds the {available:#x} bytes available"
                )
            }
            FdtError::BadVersion { version, last_comp } => {
                write!(
                    f,
                    "unsupported version {version} (last compatible {last_comp})"
                )
            }
            FdtError::BadBlock {
                block,
                offset,
                size,
            } => {
                write!(
                    f,
                    "{block} block at {offset:#x}+{size:#x} lies outside the tree"
                )
            }
            FdtError::BadToken { offset, token } => {
                write!(f, "unknown token {token:#x} at struct offset {offset:#x}")
            }
            FdtError::Truncated { offset } => {
                write!(f, "structure block truncated at offset {offset:#x}")
            }
            FdtError::BadStringOffset { offset, nameoff } => {
                write!(f, "property at struct offset {offset:#x} names string {nameoff:#x}, outside the strings block")
            }
            FdtError::BadName { offset } => {
                write!(f, "malformed name at struct offset {offset:#x}")
            }
            FdtError::BadNesting { offset } => write!(
                f,
                "unbalanced or too deep nodes at struct offset {offset:#x}"
            ),
            FdtError::TrailingData { offset } => {
                write!(f, "data after the root node at struct offset {offset:#x}")
            }
        }
    }
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}

/// Reads the `totalsize` field of a header after checking the magic, so a
/// caller can map exactly the tree before handing it to [`Fdt::new`].
pub fn header_total_size(header: &[u8]) -> Result<usize, FdtError> {
    let magic = be32(header, 0).ok_or(FdtError::Truncated { offset: 0 })?;
    if magic != FDT_MAGIC {
        return Err(FdtError::BadMagic(magic));
    }
    let total = be32(header, 4).ok_or(FdtError::Truncated { offset: 4 })? as usize;
    if !(40..=MAX_FDT_SIZE).contains(&total) {
        return Err(FdtError::BadTotalSize {
            totalsize: total,
            available: MAX_FDT_SIZE,
        });
    }
    Ok(total)
}

/// A validated device tree.
#[derive(Clone, Copy)]
pub struct Fdt<'a> {
    blob: &'a [u8],
    structs: &'a [u8],
    strings: &'a [u8],
    rsvmap_off: usize,
}

impl fmt::Debug for Fdt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fdt({} bytes)", self.blob.len())
    }
}

impl<'a> Fdt<'a> {
    /// Checks the header and the whole structure block.
    pub fn new(blob: &'a [u8]) -> Result<Self, FdtError> {
        let total = header_total_size(blob)?;
        if total > blob.len() {
            return Err(FdtError::BadTotalSize {
                totalsize: total,
                available: blob.len(),
            });
        }
        let blob = &blob[..total];
        let field = |i: usize| {
            be32(blob, i * 4)
                .map(|v| v as usize)
                .ok_or(FdtError::Truncated { offset: i * 4 })
        };
        let off_struct = field(2)?;
        let off_strings = field(3)?;
        let off_rsvmap = field(4)?;
        let version = field(5)? as u32;
        let last_comp = field(6)? as u32;
        if version < 16 || last_comp > 17 {
            return Err(FdtError::BadVersion { version, last_comp });
        }
        let size_strings = field(8)?;
        let size_struct = if version >= 17 {
            field(9)?
        } else {
            total.saturating_sub(off_struct)
        };
        let block = |name: &'static str, off: usize, size: usize| -> Result<&'a [u8], FdtError> {
            off.checked_add(size)
                .and_then(|end| blob.get(off..end))
                .ok_or(FdtError::BadBlock {
                    block: name,
                    offset: off,
                    size,
                })
        };
        let structs = block("structure", off_struct, size_struct)?;
        let strings = block("strings", off_strings, size_strings)?;
        if off_rsvmap % 8 != 0 || off_rsvmap >= total || off_struct % 4 != 0 {
            return Err(FdtError::BadBlock {
                block: "memory reservation",
                offset: off_rsvmap,
                size: 16,
            });
        }
        let fdt = Fdt {
            blob,
            structs,
            strings,
            rsvmap_off: off_rsvmap,
        };
        fdt.validate()?;
        // The reservation map must end with a zero entry inside the tree.
        let mut off = off_rsvmap;
        loop {
            let addr = fdt.be64_at(off).ok_or(FdtError::BadBlock {
                block: "memory reservation",
                offset: off,
                size: 16,
            })?;
            let size = fdt.be64_at(off + 8).ok_or(FdtError::BadBlock {
                block: "memory reservation",
                offset: off,
                size: 16,
            })?;
            if addr == 0 && size == 0 {
                break;
            }
            off += 16;
        }
        Ok(fdt)
    }

    fn be64_at(&self, off: usize) -> Option<u64> {
        let hi = be32(self.blob, off)? as u64;
        let lo = be32(self.blob, off.checked_add(4)?)? as u64;
        Some((hi << 32) | lo)
    }

    fn validate(&self) -> Result<(), FdtError> {
        let mut off = 0;
        let mut depth = 0usize;
        let mut seen_root = false;
        loop {
            let token = be32(self.structs, off).ok_or(FdtError::Truncated { offset: off })?;
            match token {
                FDT_BEGIN_NODE => {
                    if seen_root && depth == 0 {
                        return Err(FdtError::TrailingData { offset: off });
                    }
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(FdtError::BadNesting { offset: off });
                    }
                    seen_root = true;
                    let name = self
                        .cstr_at(self.structs, off + 4)
                        .ok_or(FdtError::BadName { offset: off })?;
                    off = align4(off + 4 + name.len() + 1)
                        .ok_or(FdtError::Truncated { offset: off })?;
                }
                FDT_END_NODE => {
                    if depth == 0 {
                        return Err(FdtError::BadNesting { offset: off });
                    }
                    depth -= 1;
                    off += 4;
                }
                FDT_PROP => {
                    if depth == 0 {
                        return Err(FdtError::BadNesting { offset: off });
                    }
                    let len = be32(self.structs, off + 4)
                        .ok_or(FdtError::Truncated { offset: off })?
                        as usize;
                    let nameoff = be32(self.structs, off + 8)
                        .ok_or(FdtError::Truncated { offset: off })?
                        as usize;
                    if self.cstr_at(self.strings, nameoff).is_none() {
                        return Err(FdtError::BadStringOffset {
                            offset: off,
                            nameoff,
                        });
                    }
                    let end = (off + 12)
                        .checked_add(len)
                        .ok_or(FdtError::Truncated { offset: off })?;
                    if end > self.structs.len() {
                        return Err(FdtError::Truncated { offset: off });
                    }
                    off = align4(end).ok_or(FdtError::Truncated { offset: off })?;
                }
                FDT_NOP => off += 4,
                FDT_END => {
                    return if depth == 0 && seen_root {
                        Ok(())
                    } else {
                        Err(FdtError::BadNesting { offset: off })
                    };
                }
                other => {
                    return Err(FdtError::BadToken {
                        offset: off,
                        token: other,
                    })
                }
            }
        }
    }

    fn cstr_at(&self, block: &'a [u8], off: usize) -> Option<&'a str> {
        let rest = block.get(off..)?;
        let nul = rest.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&rest[..nul]).ok()
    }

    /// The whole tree as given (header included).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// Total size in bytes.
    pub fn total_size(&self) -> usize {
        self.blob.len()
    }

    /// The root node.
    pub fn root(&self) -> Node<'a> {
        let mut off = 0;
        while be32(self.structs, off) == Some(FDT_NOP) {
            off += 4;
        }
        Node {
            fdt: *self,
            off,
            parent_cells: (2, 1),
        }
    }

    /// Entries of the memory reservation block (`/memreserve/`).
    pub fn reservations(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let fdt = *self;
        let mut off = self.rsvmap_off;
        core::iter::from_fn(move || {
            let addr = fdt.be64_at(off)?;
            let size = fdt.be64_at(off + 8)?;
            if addr == 0 && size == 0 {
                return None;
            }
            off += 16;
            Some((addr, size))
        })
    }

    /// Finds a node by absolute path (`/chosen`, `/cpus/cpu@1`). A path
    /// component without a unit address matches a node whose name has one.
    /// An alias (`serial0`) is resolved through `/aliases`.
    pub fn find_node(&self, path: &str) -> Option<Node<'a>> {
        if !path.starts_with('/') {
            let target = self.find_node("/aliases")?.property(path)?.as_str()?;
            if !target.starts_with('/') {
                return None;
            }
            return self.find_node(target);
        }
        let mut node = self.root();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            node = node.children().find(|c| {
                let n = c.name();
                n == comp || (!comp.contains('@') && n.split('@').next() == Some(comp))
            })?;
        }
        Some(node)
    }

    /// Finds the node with the given phandle.
    pub fn node_by_phandle(&self, phandle: u32) -> Option<Node<'a>> {
        self.root()
            .descendants()
            .find(|n| n.property("phandle").and_then(|p| p.as_u32()) == Some(phandle))
    }

    /// All nodes whose `compatible` list contains `compat`.
    pub fn compatible_nodes(&self, compat: &'a str) -> impl Iterator<Item = Node<'a>> + 'a {
        self.root()
            .descendants()
            .filter(move |n| n.is_compatible(compat))
    }
}

/// A node of a validated tree.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    off: usize,
    /// `#address-cells` / `#size-cells` of the parent, for decoding `reg`.
    parent_cells: (u32, u32),
}

impl<'a> Node<'a> {
    /// The node name with its unit address (`cpu@1`); the root is "".
    pub fn name(&self) -> &'a str {
        self.fdt
            .cstr_at(self.fdt.structs, self.off + 4)
            .unwrap_or("")
    }

    fn body_offset(&self) -> usize {
        align4(self.off + 4 + self.name().len() + 1).unwrap_or(usize::MAX)
    }

    /// This node's properties.
    pub fn properties(&self) -> impl Iterator<Item = Property<'a>> + 'a {
        let fdt = self.fdt;
        let mut off = self.body_offset();
        core::iter::from_fn(move || loop {
            match be32(fdt.structs, off)? {
                FDT_NOP => off += 4,
                FDT_PROP => {
                    let len = be32(fdt.structs, off + 4)? as usize;
                    let nameoff = be32(fdt.structs, off + 8)? as usize;
                    let name = fdt.cstr_at(fdt.strings, nameoff)?;
                    let value = fdt.structs.get(off + 12..off + 12 + len)?;
                    off = align4(off + 12 + len)?;
                    return Some(Property { name, value });
                }
                _ => return None,
            }
        })
    }

    /// One property by name.
    pub fn property(&self, name: &str) -> Option<Property<'a>> {
        self.properties().find(|p| p.name == name)
    }

    /// `#address-cells` and `#size-cells` that this node gives its children.
    pub fn cells(&self) -> (u32, u32) {
        let a = self
            .property("#address-cells")
            .and_then(|p| p.as_u32())
            .unwrap_or(2);
        let s = self
            .property("#size-cells")
            .and_then(|p| p.as_u32())
            .unwrap_or(1);
        (a, s)
    }

    /// Direct children.
    pub fn children(&self) -> impl Iterator<Item = Node<'a>> + 'a {
        let fdt = self.fdt;
        let cells = self.cells();
        // Skip this node's properties, then walk siblings at depth 1.
        let mut off = self.body_offset();
        let mut depth = 0usize;
        let mut done = false;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            loop {
                let tok = be32(fdt.structs, off)?;
                match tok {
                    FDT_NOP => off += 4,
                    FDT_PROP => {
                        let len = be32(fdt.structs, off + 4)? as usize;
                        off = align4(off + 12 + len)?;
                    }
                    FDT_BEGIN_NODE => {
                        let here = off;
                        let name = fdt.cstr_at(fdt.structs, off + 4)?;
                        off = align4(off + 4 + name.len() + 1)?;
                        depth += 1;
                        if depth == 1 {
                            return Some(Node {
                                fdt,
                                off: here,
                                parent_cells: cells,
                            });
                        }
                    }
                    FDT_END_NODE => {
                        if depth == 0 {
                            done = true;
                            return None;
                        }
                        depth -= 1;
                        off += 4;
                    }
                    _ => {
                        done = true;
                        return None;
                    }
                }
            }
        })
    }

    /// This node and every node below it, depth first.
    pub fn descendants(&self) -> impl Iterator<Item = Node<'a>> + 'a {
        let mut stack: heapless_stack::Stack<'a> = heapless_stack::Stack::new(*self);
        core::iter::from_fn(move || stack.next())
    }

    /// Strings of the `compatible` property.
    pub fn compatible(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.property("compatible")
            .into_iter()
            .flat_map(|p| p.strings())
    }

    pub fn is_compatible(&self, compat: &str) -> bool {
        self.compatible().any(|c| c == compat)
    }

    /// `status` is absent, "okay" or "ok".
    pub fn is_enabled(&self) -> bool {
        match self.property("status").and_then(|p| p.as_str()) {
            None => true,
            Some(s) => s == "okay" || s == "ok",
        }
    }

    /// Entries of `reg`, decoded with the parent's cell sizes. Cells wider
    /// than 64 bits or a length that is not a whole number of entries make
    /// the entry list end early; use [`Node::reg_checked`] to see that.
    pub fn reg(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let (ac, sc) = self.parent_cells;
        let prop = self.property("reg");
        let mut off = 0usize;
        core::iter::from_fn(move || {
            let p = prop?;
            if ac == 0 || ac > 2 || sc > 2 {
                return None;
            }
            let entry = ((ac + sc) * 4) as usize;
            if off + entry > p.value.len() {
                return None;
            }
            let addr = read_cells(&p.value[off..], ac)?;
            let size = read_cells(&p.value[off + ac as usize * 4..], sc)?;
            off += entry;
            Some((addr, size))
        })
    }

    /// Like [`Node::reg`], but an error when the property is missing or its
    /// length is not a whole number of entries.
    pub fn reg_checked(&self) -> Result<heapless_vec::RegList, RegError> {
        let (ac, sc) = self.parent_cells;
        let p = self.property("reg").ok_or(RegError::Missing)?;
        if ac == 0 || ac > 2 || sc > 2 {
            return Err(RegError::UnsupportedCells {
                address: ac,
                size: sc,
            });
        }
        let entry = ((ac + sc) * 4) as usize;
        if p.value.is_empty() || p.value.len() % entry != 0 {
            return Err(RegError::BadLength {
                len: p.value.len(),
                entry,
            });
        }
        let mut list = heapless_vec::RegList::new();
        for (a, s) in self.reg() {
            list.push((a, s)).map_err(|_| RegError::TooMany)?;
        }
        Ok(list)
    }

    /// The full path of this node is not stored in the tree; this gives
    /// the name, which is what messages need.
    pub fn display_name(&self) -> &'a str {
        if self.off == self.fdt.root().off {
            "/"
        } else {
            self.name()
        }
    }
}

/// Why `reg` could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegError {
    Missing,
    UnsupportedCells { address: u32, size: u32 },
    BadLength { len: usize, entry: usize },
    TooMany,
}

impl fmt::Display for RegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RegError::Missing => write!(f, "no reg property"),
            RegError::UnsupportedCells { address, size } => {
                write!(
                    f,
                    "unsupported #address-cells {address} / #size-cells {size}"
                )
            }
            RegError::BadLength { len, entry } => {
                write!(f, "reg length {len} is not a multiple of {entry}")
            }
            RegError::TooMany => write!(f, "more than {} reg entries", heapless_vec::MAX_REG),
        }
    }
}

fn read_cells(b: &[u8], cells: u32) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => be32(b, 0).map(u64::from),
        2 => Some(((be32(b, 0)? as u64) << 32) | be32(b, 4)? as u64),
        _ => None,
    }
}

/// A property: its name and raw value.
#[derive(Clone, Copy, Debug)]
pub struct Property<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

impl<'a> Property<'a> {
    /// A single NUL-terminated UTF-8 string.
    pub fn as_str(&self) -> Option<&'a str> {
        let (last, body) = self.value.split_last()?;
        if *last != 0 || body.contains(&0) {
            return None;
        }
        core::str::from_utf8(body).ok()
    }

    /// A list of NUL-terminated strings (stops at the first malformed one).
    pub fn strings(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = self.value;
        core::iter::from_fn(move || {
            let nul = rest.iter().position(|&b| b == 0)?;
            let s = core::str::from_utf8(&rest[..nul]).ok()?;
            rest = &rest[nul + 1..];
            Some(s)
        })
    }

    pub fn as_u32(&self) -> Option<u32> {
        if self.value.len() != 4 {
            return None;
        }
        be32(self.value, 0)
    }

    /// A 32- or 64-bit number.
    pub fn as_u64(&self) -> Option<u64> {
        match self.value.len() {
            4 => be32(self.value, 0).map(u64::from),
            8 => read_cells(self.value, 2),
            _ => None,
        }
    }

    /// The value as big-endian 32-bit cells.
    pub fn cells(&self) -> impl Iterator<Item = u32> + 'a {
        self.value
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// A fixed-capacity list so `reg_checked` needs no heap (it runs before
/// the heap exists).
pub mod heapless_vec {
    pub const MAX_REG: usize = 16;

    #[derive(Debug, Clone)]
    pub struct RegList {
        items: [(u64, u64); MAX_REG],
        len: usize,
    }

    impl RegList {
        pub(crate) fn new() -> Self {
            RegList {
                items: [(0, 0); MAX_REG],
                len: 0,
            }
        }
        pub(crate) fn push(&mut self, v: (u64, u64)) -> Result<(), ()> {
            if self.len == MAX_REG {
                return Err(());
            }
            self.items[self.len] = v;
            self.len += 1;
            Ok(())
        }
        pub fn as_slice(&self) -> &[(u64, u64)] {
            &self.items[..self.len]
        }
    }
}

/// Depth-first walk with a fixed-depth stack of child iterators' positions,
/// so descendants() needs no heap either.
mod heapless_stack {
    use super::*;

    pub struct Stack<'a> {
        fdt: Fdt<'a>,
        start: Node<'a>,
        off: usize,
        depth: usize,
        cells: [(u32, u32); MAX_DEPTH + 1],
        started: bool,
        done: bool,
    }

    impl<'a> Stack<'a> {
        pub fn new(start: Node<'a>) -> Self {
            let mut cells = [(2, 1); MAX_DEPTH + 1];
            cells[0] = start.parent_cells;
            Stack {
                fdt: start.fdt,
                start,
                off: start.off,
                depth: 0,
                cells,
                started: false,
                done: false,
            }
        }

        pub fn next(&mut self) -> Option<Node<'a>> {
            if self.done {
                return None;
            }
            if !self.started {
                self.started = true;
                // Position after the start node's BEGIN_NODE token and name.
                self.off = self.start.body_offset();
                self.depth = 1;
                self.cells[1] = self.start.cells();
                return Some(self.start);
            }
            loop {
                let tok = be32(self.fdt.structs, self.off)?;
                match tok {
                    FDT_NOP => self.off += 4,
                    FDT_PROP => {
                        let len = be32(self.fdt.structs, self.off + 4)? as usize;
                        self.off = align4(self.off + 12 + len)?;
                    }
                    FDT_BEGIN_NODE => {
                        let here = self.off;
                        let node = Node {
                            fdt: self.fdt,
                            off: here,
                            parent_cells: self.cells[self.depth],
                        };
                        self.off = node.body_offset();
                        self.depth += 1;
                        if self.depth > MAX_DEPTH {
                            self.done = true;
                            return None;
                        }
                        self.cells[self.depth] = node.cells();
                        return Some(node);
                    }
                    FDT_END_NODE => {
                        self.off += 4;
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.done = true;
                            return None;
                        }
                    }
                    _ => {
                        self.done = true;
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "fdt_tests.rs"]
mod tests;
