//! The Kconfig data model: symbols, choices, menu nodes and expressions.
//!
//! The model follows the Linux/kconfiglib structure: every `config`,
//! `menuconfig`, `choice`, `menu`, `comment` (and, during parsing, `if`)
//! produces a menu node; symbols and choices collect the properties of all
//! their nodes after dependency propagation.

use std::fmt;

/// Index of a symbol (defined, undefined or constant) in [`Kconfig`](crate::Kconfig).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct SymId(pub(crate) u32);

/// Index of a choice.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ChoiceId(pub(crate) u32);

/// Index of a menu node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl SymId {
    pub(crate) fn idx(self) -> usize {
        self.0 as usize
    }
}
impl ChoiceId {
    pub(crate) fn idx(self) -> usize {
        self.0 as usize
    }
}
impl NodeId {
    pub(crate) fn idx(self) -> usize {
        self.0 as usize
    }
}

/// Symbol (and choice) types.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum SymType {
    Unknown,
    Bool,
    Tristate,
    Int,
    Hex,
    String,
}

impl SymType {
    pub fn as_str(self) -> &'static str {
        match self {
            SymType::Unknown => "unknown",
            SymType::Bool => "bool",
            SymType::Tristate => "tristate",
            SymType::Int => "int",
            SymType::Hex => "hex",
            SymType::String => "string",
        }
    }
    pub fn is_bool_tristate(self) -> bool {
        matches!(self, SymType::Bool | SymType::Tristate)
    }
    pub fn is_int_hex(self) -> bool {
        matches!(self, SymType::Int | SymType::Hex)
    }
    /// Numeric base used when the value is parsed as a number (0 = auto,
    /// like Python's `int(s, 0)`).
    pub(crate) fn base(self) -> u32 {
        match self {
            SymType::Hex => 16,
            SymType::Int => 10,
            _ => 0,
        }
    }
}

impl fmt::Display for SymType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Relational operators.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl RelOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RelOp::Eq => "=",
            RelOp::Ne => "!=",
            RelOp::Lt => "<",
            RelOp::Le => "<=",
            RelOp::Gt => ">",
            RelOp::Ge => ">=",
        }
    }
}

/// A Kconfig expression. Operands are symbols; constants (`n`, `m`, `y`,
/// quoted strings) are constant symbols, and numbers are undefined symbols
/// whose value is their name (as in the C tools and kconfiglib).
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub enum Expr {
    Sym(SymId),
    /// Only produced by dependency propagation into choice members.
    Choice(ChoiceId),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Rel(RelOp, SymId, SymId),
}

/// A user value as loaded from a .config or set interactively.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum UserValue {
    Tri(u8),
    Str(String),
}

/// A symbol. Constant symbols (`n`, `m`, `y`, quoted strings) and
/// undefined symbols (referenced but never defined, e.g. numbers) live in the
/// same table.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub is_constant: bool,
    pub orig_type: SymType,
    pub nodes: Vec<NodeId>,
    pub defaults: Vec<(Expr, Expr)>,
    pub selects: Vec<(SymId, Expr)>,
    pub implies: Vec<(SymId, Expr)>,
    pub ranges: Vec<(SymId, SymId, Expr)>,
    pub rev_dep: Expr,
    pub weak_rev_dep: Expr,
    pub direct_dep: Expr,
    pub choice: Option<ChoiceId>,
    pub env_var: Option<String>,
    pub is_allnoconfig_y: bool,
    pub is_defconfig_list: bool,
    pub user_value: Option<UserValue>,
    /// Symbols/choices whose value may depend on this one (for loop checks).
    pub(crate) dependents: Vec<Item>,
}

/// A choice.
#[derive(Clone, Debug)]
pub struct Choice {
    pub name: Option<String>,
    pub orig_type: SymType,
    pub nodes: Vec<NodeId>,
    pub defaults: Vec<(Expr, Expr)>,
    pub syms: Vec<SymId>,
    pub is_optional: bool,
    pub direct_dep: Expr,
    pub user_value: Option<u8>,
    pub user_selection: Option<SymId>,
    pub(crate) dependents: Vec<Item>,
}

/// A symbol or a choice (used for dependency bookkeeping).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Item {
    Sym(SymId),
    Choice(ChoiceId),
}

/// What a menu node represents.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeKind {
    Symbol(SymId),
    Choice(ChoiceId),
    Menu,
    Comment,
    /// `if` blocks exist only during parsing; they are removed afterwards.
    If,
}

/// A menu node (one per definition location).
#[derive(Clone, Debug)]
pub struct MenuNode {
    pub kind: NodeKind,
    pub parent: Option<NodeId>,
    pub list: Option<NodeId>,
    pub next: Option<NodeId>,
    pub prompt: Option<(String, Expr)>,
    pub help: Option<String>,
    /// Dependencies (own `depends on` plus everything propagated from
    /// enclosing menus/ifs/choices).
    pub dep: Expr,
    /// `visible if` of a menu (only meaningful for menus).
    pub visibility: Expr,
    pub defaults: Vec<(Expr, Expr)>,
    pub selects: Vec<(SymId, Expr)>,
    pub implies: Vec<(SymId, Expr)>,
    pub ranges: Vec<(SymId, SymId, Expr)>,
    pub is_menuconfig: bool,
    pub filename: String,
    pub linenr: usize,
    /// `(file, line)` of each `source` statement leading to this node.
    pub include_path: Vec<(String, usize)>,
    /// `depends on` expression as written on this node (before propagation).
    pub own_dep: Expr,
}

/// A warning, with location where known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub msg: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{}: warning: {}", file, line, self.msg),
            (Some(file), None) => write!(f, "{}: warning: {}", file, self.msg),
            _ => write!(f, "warning: {}", self.msg),
        }
    }
}

/// A fatal error (syntax error, unreadable file, dependency loop, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub msg: String,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error { msg: msg.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Tristate value names.
pub fn tri_str(v: u8) -> &'static str {
    match v {
        0 => "n",
        1 => "m",
        _ => "y",
    }
}

/// Parses an integer the way Python's `int(s, base)` does (whitespace,
/// sign, underscores between digits, `0x` prefix for base 16; base 0 means
/// auto-detect with `0x`/`0o`/`0b` prefixes and no leading zeros).
pub fn py_int(s: &str, base: u32) -> Option<i128> {
    let s = s.trim_matches(|c: char| c.is_whitespace());
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = s.to_ascii_lowercase();
    let (radix, digits, prefixed) = match base {
        16 => match lower.strip_prefix("0x") {
            Some(rest) => (16, rest.to_string(), true),
            None => (16, lower.clone(), false),
        },
        10 => (10, lower.clone(), false),
        0 => {
            if let Some(rest) = lower.strip_prefix("0x") {
                (16, rest.to_string(), true)
            } else if let Some(rest) = lower.strip_prefix("0o") {
                (8, rest.to_string(), true)
            } else if let Some(rest) = lower.strip_prefix("0b") {
                (2, rest.to_string(), true)
            } else {
                (10, lower.clone(), false)
            }
        }
        b => (b, lower.clone(), false),
    };
    let mut digits: &str = &digits;
    if prefixed {
        // One underscore is allowed right after the prefix.
        if let Some(rest) = digits.strip_prefix('_') {
            digits = rest;
        }
    }
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if base == 0
        && !prefixed
        && clean.len() > 1
        && clean.starts_with('0')
        && clean.chars().any(|c| c != '0')
    {
        return None;
    }
    let v = i128::from_str_radix(&clean, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Formats a number like Python's `hex()`.
pub fn py_hex(v: i128) -> String {
    if v < 0 {
        format!("-0x{:x}", -v)
    } else {
        format!("0x{:x}", v)
    }
}

/// Escapes `"` and `\` like kconfiglib's `escape()`.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Undoes [`escape`]: a backslash followed by any character yields that
/// character.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_int_matches_python() {
        assert_eq!(py_int("12", 10), Some(12));
        assert_eq!(py_int(" -12 ", 10), Some(-12));
        assert_eq!(py_int("1_000", 10), Some(1000));
        assert_eq!(py_int("1__0", 10), None);
        assert_eq!(py_int("0x10", 10), None);
        assert_eq!(py_int("0x10", 16), Some(16));
        assert_eq!(py_int("0X_1f", 16), Some(31));
        assert_eq!(py_int("1f", 16), Some(31));
        assert_eq!(py_int("-0x5", 16), Some(-5));
        assert_eq!(py_int("0xg", 16), None);
        assert_eq!(py_int("", 10), None);
        assert_eq!(py_int("010", 10), Some(10));
        assert_eq!(py_int("010", 0), None);
        assert_eq!(py_int("000", 0), Some(0));
        assert_eq!(py_int("0x1F", 0), Some(31));
        assert_eq!(py_int("0b101", 0), Some(5));
        assert_eq!(py_int("abc", 0), None);
        assert_eq!(py_hex(255), "0xff");
        assert_eq!(py_hex(-5), "-0x5");
    }

    #[test]
    fn escaping_round_trips() {
        let s = "a\"b\\c";
        assert_eq!(escape(s), "a\\\"b\\\\c");
        assert_eq!(unescape(&escape(s)), s);
        assert_eq!(unescape("\\x"), "x");
    }
}
