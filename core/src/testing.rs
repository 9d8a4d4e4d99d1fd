//! Test helpers: a small device-tree writer for building inputs, good and
//! bad.

use std::vec::Vec;

pub struct DtBuilder {
    structs: Vec<u8>,
    strings: Vec<u8>,
}

impl DtBuilder {
    pub fn new() -> Self {
        DtBuilder {
            structs: Vec::new(),
            strings: Vec::new(),
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
    pub fn begin(&mut self, name: &str) {
        self.word(1);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
    }
    pub fn end(&mut self) {
        self.word(2);
    }
    pub fn prop_bytes(&mut self, name: &str, value: &[u8]) {
        let off = match self
            .strings
            .windows(name.len() + 1)
            .position(|w| &w[..name.len()] == name.as_bytes() && w[name.len()] == 0)
        {
            Some(o) => o,
            None => {
                let o = self.strings.len();
                self.strings.extend_from_slice(name.as_bytes());
                self.strings.push(0);
                o
            }
        };
        self.word(3);
        self.word(value.len() as u32);
        self.word(off as u32);
        self.structs.extend_from_slice(value);
        self.pad();
    }
    pub fn prop_u32(&mut self, name: &str, v: u32) {
        self.prop_bytes(name, &v.to_be_bytes());
    }
    pub fn prop_cells(&mut self, name: &str, cells: &[u32]) {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop_bytes(name, &bytes);
    }
    pub fn prop_str(&mut self, name: &str, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.prop_bytes(name, &v);
    }
    pub fn prop_strs(&mut self, name: &str, list: &[&str]) {
        let mut v = Vec::new();
        for s in list {
            v.extend_from_slice(s.as_bytes());
            v.push(0);
        }
        self.prop_bytes(name, &v);
    }
    /// The finished blob, with `/memreserve/` entries.
    pub fn finish(mut self, reserve: &[(u64, u64)]) -> Vec<u8> {
        self.word(9);
        let hdr = 40;
        let rsv_off = hdr;
        let rsv_len = (reserve.len() + 1) * 16;
        let struct_off = rsv_off + rsv_len;
        let strings_off = struct_off + self.structs.len();
        let total = strings_off + self.strings.len();
        let mut out = Vec::with_capacity(total);
        for v in [
            0xd00d_feedu32,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for &(a, s) in reserve.iter().chain(core::iter::once(&(0, 0))) {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&self.structs);
        out.extend_from_slice(&self.strings);
        out
    }
}
