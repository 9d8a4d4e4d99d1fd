//! A small read-only flattened device tree (DTB v16/v17) reader.
//!
//! Safe code over a byte slice: every read is bounds-checked, malformed
//! blobs end the walk with an error instead of reading past the blob.

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
/// Deepest node nesting we follow.
pub const MAX_DEPTH: usize = 16;

#[derive(Clone, Copy)]
pub struct Fdt<'a> {
    st: &'a [u8],
    strings: &'a [u8],
}

#[derive(Clone, Copy)]
enum Tok<'a> {
    Begin(&'a [u8]),
    End,
    Prop(&'a [u8], &'a [u8]),
    Nop,
    EndDt,
}

/// A node: its name (with unit address), depth (root = 0) and the
/// #address-cells/#size-cells of its parent, which describe its `reg`.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    pub name: &'a [u8],
    pub depth: usize,
    props: usize,
    pub addr_cells: u32,
    pub size_cells: u32,
}

pub enum Walk {
    Continue,
    Stop,
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn align4(x: usize) -> usize {
    (x + 3) & !3
}

/// The NUL-terminated string at `off`, without the NUL.
fn cstr(b: &[u8], off: usize) -> Option<&[u8]> {
    let rest = b.get(off..)?;
    let n = rest.iter().position(|&c| c == 0)?;
    Some(&rest[..n])
}

/// A property value as a string: up to the first NUL.
pub fn prop_str(v: &[u8]) -> &[u8] {
    match v.iter().position(|&c| c == 0) {
        Some(n) => &v[..n],
        None => v,
    }
}

/// Whether a string-list property (e.g. compatible) contains `s`.
pub fn strlist_has(v: &[u8], s: &[u8]) -> bool {
    v.split(|&c| c == 0).any(|x| x == s)
}

/// Reads `cells` (1 or 2) big-endian cells at cell index `idx`.
pub fn read_cells(v: &[u8], idx: usize, cells: u32) -> Option<u64> {
    let off = idx.checked_mul(4)?;
    match cells {
        1 => be32(v, off).map(u64::from),
        2 => Some((u64::from(be32(v, off)?) << 32) | u64::from(be32(v, off + 4)?)),
        _ => None,
    }
}

/// Path component match: "cpu@0" matches "cpu@0"; "chosen" also matches
/// "chosen@..." (unit address omitted).
fn comp_matches(name: &[u8], comp: &[u8]) -> bool {
    if name == comp {
        return true;
    }
    !comp.contains(&b'@') && name.len() > comp.len() && name[comp.len()] == b'@'
        && &name[..comp.len()] == comp
}

impl<'a> Fdt<'a> {
    /// Checks the header and locates the structure and strings blocks.
    pub fn new(blob: &'a [u8]) -> Result<Self, &'static str> {
        if be32(blob, 0) != Some(MAGIC) {
            return Err("bad magic");
        }
        let total = be32(blob, 4).ok_or("short header")? as usize;
        if total > blob.len() || total < 40 {
            return Err("bad totalsize");
        }
        let blob = &blob[..total];
        let off_st = be32(blob, 8).ok_or("short header")? as usize;
        let off_str = be32(blob, 12).ok_or("short header")? as usize;
        let version = be32(blob, 20).ok_or("short header")?;
        let last_comp = be32(blob, 24).ok_or("short header")?;
        if version < 16 || last_comp > 17 {
            return Err("unsupported version");
        }
        let size_str = be32(blob, 32).ok_or("short header")? as usize;
        let size_st = if version >= 17 {
            be32(blob, 36).ok_or("short header")? as usize
        } else {
            total.checked_sub(off_st).ok_or("bad offsets")?
        };
        let st = blob
            .get(off_st..off_st.checked_add(size_st).ok_or("bad offsets")?)
            .ok_or("structure block outside the blob")?;
        let strings = blob
            .get(off_str..off_str.checked_add(size_str).ok_or("bad offsets")?)
            .ok_or("strings block outside the blob")?;
        if off_st % 4 != 0 {
            return Err("misaligned structure block");
        }
        Ok(Fdt { st, strings })
    }

    fn token(&self, off: usize) -> Option<(Tok<'a>, usize)> {
        match be32(self.st, off)? {
            BEGIN_NODE => {
                let name = cstr(self.st, off + 4)?;
                Some((Tok::Begin(name), align4(off + 4 + name.len() + 1)))
            }
            END_NODE => Some((Tok::End, off + 4)),
            PROP => {
                let len = be32(self.st, off + 4)? as usize;
                let nameoff = be32(self.st, off + 8)? as usize;
                let start = off + 12;
                let value = self.st.get(start..start.checked_add(len)?)?;
                let name = cstr(self.strings, nameoff)?;
                Some((Tok::Prop(name, value), align4(start + len)))
            }
            NOP => Some((Tok::Nop, off + 4)),
            END => Some((Tok::EndDt, off + 4)),
            _ => None,
        }
    }

    /// Calls `f(node, path)` for every node in document order; `path` holds
    /// the names from the root ("") down to the node. Err if malformed.
    pub fn walk<F>(&self, mut f: F) -> Result<(), &'static str>
    where
        F: FnMut(&Node<'a>, &[&'a [u8]]) -> Walk,
    {
        let mut off = 0usize;
        let mut depth: usize = 0; // number of open nodes
        let mut path: [&'a [u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
        // cells[d] = #address-cells/#size-cells declared by the open node
        // at depth d (defaults 2/1, devicetree spec 2.3.5).
        let mut cells = [(2u32, 1u32); MAX_DEPTH];
        loop {
            let (tok, next) = self.token(off).ok_or("malformed structure block")?;
            match tok {
                Tok::Begin(name) => {
                    if depth >= MAX_DEPTH {
                        return Err("nesting too deep");
                    }
                    path[depth] = name;
                    cells[depth] = (2, 1);
                    let (ac, sc) = if depth == 0 { (2, 1) } else { cells[depth - 1] };
                    let node = Node {
                        fdt: *self,
                        name,
                        depth,
                        props: next,
                        addr_cells: ac,
                        size_cells: sc,
                    };
                    depth += 1;
                    if let Walk::Stop = f(&node, &path[..depth]) {
                        return Ok(());
                    }
                }
                Tok::Prop(name, value) => {
                    if depth == 0 {
                        return Err("property outside a node");
                    }
                    if name == b"#address-cells" {
                        cells[depth - 1].0 = be32(value, 0).ok_or("bad #address-cells")?;
                    } else if name == b"#size-cells" {
                        cells[depth - 1].1 = be32(value, 0).ok_or("bad #size-cells")?;
                    }
                }
                Tok::End => {
                    depth = depth.checked_sub(1).ok_or("unbalanced END_NODE")?;
                }
                Tok::Nop => {}
                Tok::EndDt => {
                    return if depth == 0 { Ok(()) } else { Err("unterminated node") };
                }
            }
            off = next;
        }
    }

    /// The node at an absolute path such as "/chosen" or "/cpus/cpu@1".
    pub fn find_path(&self, p: &[u8]) -> Option<Node<'a>> {
        let p = p.strip_suffix(b"/").unwrap_or(p);
        let mut want: [&[u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
        let mut n = 1; // want[0] is the root's empty name
        if !p.is_empty() {
            for comp in p.strip_prefix(b"/")?.split(|&c| c == b'/') {
                if n >= MAX_DEPTH || comp.is_empty() {
                    return None;
                }
                want[n] = comp;
                n += 1;
            }
        }
        let mut found = None;
        let _ = self.walk(|node, path| {
            if path.len() == n
                && path.iter().zip(&want[..n]).skip(1).all(|(a, b)| comp_matches(a, b))
            {
                found = Some(*node);
                return Walk::Stop;
            }
            Walk::Continue
        });
        found
    }

    /// The first node whose `compatible` contains `compat`.
    pub fn find_compatible(&self, compat: &[u8]) -> Option<Node<'a>> {
        let mut found = None;
        let _ = self.walk(|node, _| {
            if node.prop(b"compatible").is_some_and(|v| strlist_has(v, compat)) {
                found = Some(*node);
                return Walk::Stop;
            }
            Walk::Continue
        });
        found
    }

    /// Checks the whole structure block parses.
    pub fn validate(&self) -> Result<(), &'static str> {
        self.walk(|_, _| Walk::Continue)
    }
}

impl<'a> Node<'a> {
    /// The value of this node's property `name`.
    pub fn prop(&self, name: &[u8]) -> Option<&'a [u8]> {
        let mut off = self.props;
        loop {
            match self.fdt.token(off)? {
                (Tok::Prop(n, v), next) => {
                    if n == name {
                        return Some(v);
                    }
                    off = next;
                }
                (Tok::Nop, next) => off = next,
                _ => return None, // a child node or the end: no more props
            }
        }
    }

    /// Name without the unit address.
    pub fn base_name(&self) -> &'a [u8] {
        self.name.split(|&c| c == b'@').next().unwrap_or(self.name)
    }

    /// Entry `i` of `reg` as (address, size), decoded with the parent's cells.
    pub fn reg(&self, i: usize) -> Option<(u64, u64)> {
        let v = self.prop(b"reg")?;
        let per = self.addr_cells as usize + self.size_cells as usize;
        let base = i.checked_mul(per)?;
        let addr = read_cells(v, base, self.addr_cells)?;
        let size = if self.size_cells == 0 {
            0
        } else {
            read_cells(v, base + self.addr_cells as usize, self.size_cells)?
        };
        Some((addr, size))
    }

    /// Number of (address, size) entries in `reg`.
    pub fn reg_count(&self) -> usize {
        let per = 4 * (self.addr_cells as usize + self.size_cells as usize);
        match self.prop(b"reg") {
            Some(v) if per > 0 => v.len() / per,
            _ => 0,
        }
    }

    pub fn is_compatible(&self, c: &[u8]) -> bool {
        self.prop(b"compatible").is_some_and(|v| strlist_has(v, c))
    }

    pub fn device_type(&self) -> Option<&'a [u8]> {
        self.prop(b"device_type").map(prop_str)
    }

    /// `status` absent or "okay"/"ok".
    pub fn is_enabled(&self) -> bool {
        match self.prop(b"status").map(prop_str) {
            None => true,
            Some(s) => s == b"okay" || s == b"ok",
        }
    }
}
