//! Kconfig front end: line reader, preprocessor ($(VAR) macros and variable
//! assignments), tokenizer and recursive-descent parser producing the menu
//! tree, followed by menu finalization (dependency propagation, implicit
//! submenus, choice membership).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::*;
use crate::Kconfig;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kw {
    AllnoconfigY,
    Bool,
    Choice,
    Comment,
    Config,
    DefBool,
    DefHex,
    DefInt,
    DefString,
    DefTristate,
    Default,
    DefconfigList,
    Depends,
    Endchoice,
    Endif,
    Endmenu,
    Env,
    Help,
    Hex,
    If,
    Imply,
    Int,
    Mainmenu,
    Menu,
    Menuconfig,
    Modules,
    On,
    Option,
    Optional,
    Orsource,
    Osource,
    Prompt,
    Range,
    Rsource,
    Select,
    Source,
    String,
    Tristate,
    Visible,
}

fn keyword(s: &str) -> Option<Kw> {
    Some(match s {
        "---help---" | "help" => Kw::Help,
        "allnoconfig_y" => Kw::AllnoconfigY,
        "bool" | "boolean" => Kw::Bool,
        "choice" => Kw::Choice,
        "comment" => Kw::Comment,
        "config" => Kw::Config,
        "def_bool" => Kw::DefBool,
        "def_hex" => Kw::DefHex,
        "def_int" => Kw::DefInt,
        "def_string" => Kw::DefString,
        "def_tristate" => Kw::DefTristate,
        "default" => Kw::Default,
        "defconfig_list" => Kw::DefconfigList,
        "depends" => Kw::Depends,
        "endchoice" => Kw::Endchoice,
        "endif" => Kw::Endif,
        "endmenu" => Kw::Endmenu,
        "env" => Kw::Env,
        "grsource" | "orsource" => Kw::Orsource,
        "gsource" | "osource" => Kw::Osource,
        "hex" => Kw::Hex,
        "if" => Kw::If,
        "imply" => Kw::Imply,
        "int" => Kw::Int,
        "mainmenu" => Kw::Mainmenu,
        "menu" => Kw::Menu,
        "menuconfig" => Kw::Menuconfig,
        "modules" => Kw::Modules,
        "on" => Kw::On,
        "option" => Kw::Option,
        "optional" => Kw::Optional,
        "prompt" => Kw::Prompt,
        "range" => Kw::Range,
        "rsource" => Kw::Rsource,
        "select" => Kw::Select,
        "source" => Kw::Source,
        "string" => Kw::String,
        "tristate" => Kw::Tristate,
        "visible" => Kw::Visible,
        _ => return None,
    })
}

/// Keywords after which a word or quoted text is a string, not a symbol.
fn is_string_lex(k: Kw) -> bool {
    matches!(
        k,
        Kw::Bool
            | Kw::Choice
            | Kw::Comment
            | Kw::Hex
            | Kw::Int
            | Kw::Mainmenu
            | Kw::Menu
            | Kw::Orsource
            | Kw::Osource
            | Kw::Prompt
            | Kw::Rsource
            | Kw::Source
            | Kw::String
            | Kw::Tristate
    )
}

fn type_kw(k: Kw) -> Option<SymType> {
    Some(match k {
        Kw::Bool => SymType::Bool,
        Kw::Tristate => SymType::Tristate,
        Kw::Int => SymType::Int,
        Kw::Hex => SymType::Hex,
        Kw::String => SymType::String,
        _ => return None,
    })
}

fn def_kw(k: Kw) -> Option<SymType> {
    Some(match k {
        Kw::DefBool => SymType::Bool,
        Kw::DefTristate => SymType::Tristate,
        Kw::DefInt => SymType::Int,
        Kw::DefHex => SymType::Hex,
        Kw::DefString => SymType::String,
        _ => return None,
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Kw(Kw),
    Sym(SymId),
    Str(String),
    And,
    Or,
    Not,
    Rel(RelOp),
    LParen,
    RParen,
}

fn tok_desc(t: Option<&Tok>, kc: &Kconfig) -> String {
    match t {
        None => "end of line".to_string(),
        Some(Tok::Kw(k)) => format!("keyword '{}'", format!("{:?}", k).to_lowercase()),
        Some(Tok::Sym(s)) => format!("'{}'", kc.syms[s.idx()].name),
        Some(Tok::Str(s)) => format!("\"{}\"", s),
        Some(Tok::And) => "'&&'".into(),
        Some(Tok::Or) => "'||'".into(),
        Some(Tok::Not) => "'!'".into(),
        Some(Tok::Rel(r)) => format!("'{}'", r.as_str()),
        Some(Tok::LParen) => "'('".into(),
        Some(Tok::RParen) => "')'".into(),
    }
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'/' | b'.' | b'-')
}

struct Var {
    value: String,
    recursive: bool,
    n_expansions: u32,
}

struct FileState {
    lines: Vec<String>,
    pos: usize,
}

/// Options for loading a Kconfig tree.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Variables visible to `$(VAR)` (e.g. `SRCARCH`), looked up before the
    /// process environment.
    pub vars: HashMap<String, String>,
    /// Fall back to the process environment for unknown `$(VAR)`s (as the
    /// C tools and kconfiglib do).
    pub use_process_env: bool,
}

pub(crate) struct Parser<'k> {
    kc: &'k mut Kconfig,
    opts: LoadOptions,
    srctree: PathBuf,
    files: Vec<FileState>,
    filename: String,
    linenr: usize,
    include_path: Vec<(String, usize)>,
    tokens: Vec<Tok>,
    ti: usize,
    reuse: bool,
    line: String,
    vars: HashMap<String, Var>,
}

type PResult<T> = std::result::Result<T, Error>;

impl<'k> Parser<'k> {
    pub(crate) fn new(kc: &'k mut Kconfig, srctree: PathBuf, opts: LoadOptions) -> Self {
        Parser {
            kc,
            opts,
            srctree,
            files: Vec::new(),
            filename: String::new(),
            linenr: 0,
            include_path: Vec::new(),
            tokens: Vec::new(),
            ti: 0,
            reuse: false,
            line: String::new(),
            vars: HashMap::new(),
        }
    }

    fn err(&self, msg: impl AsRef<str>) -> Error {
        Error::new(format!(
            "{}:{}: {} (in '{}')",
            self.filename,
            self.linenr,
            msg.as_ref(),
            self.line.trim()
        ))
    }

    fn warn_here(&mut self, msg: impl Into<String>) {
        let w = Warning {
            file: Some(self.filename.clone()),
            line: Some(self.linenr),
            msg: msg.into(),
        };
        self.kc.push_warning(w);
    }

    fn warn(&mut self, msg: impl Into<String>) {
        self.kc.push_warning(Warning {
            file: None,
            line: None,
            msg: msg.into(),
        });
    }

    fn read_file(path: &Path) -> PResult<Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("could not read '{}': {}", path.display(), e)))?;
        let text = text.replace("\r\n", "\n");
        let mut lines: Vec<String> = text.split('\n').map(|s| s.to_string()).collect();
        if text.ends_with('\n') {
            lines.pop();
        }
        Ok(lines)
    }

    /// Parses the whole tree starting at `top_file` (relative to srctree).
    pub(crate) fn parse_top(&mut self, top_file: &str) -> PResult<()> {
        let path = self.srctree.join(top_file);
        let lines = Self::read_file(&path)?;
        self.files.push(FileState { lines, pos: 0 });
        self.filename = top_file.to_string();
        self.linenr = 0;
        let top = self.kc.top;
        let last = self.parse_block(None, top, top)?;
        self.kc.nodes[last.idx()].next = None;
        let first = self.kc.nodes[top.idx()].next;
        self.kc.nodes[top.idx()].list = first;
        self.kc.nodes[top.idx()].next = None;
        self.files.pop();
        Ok(())
    }

    fn raw_readline(&mut self) -> Option<String> {
        let f = self.files.last_mut()?;
        if f.pos < f.lines.len() {
            f.pos += 1;
            Some(f.lines[f.pos - 1].clone())
        } else {
            None
        }
    }

    /// Fetches and tokenizes the next line. Returns false at end of file.
    fn next_line(&mut self) -> PResult<bool> {
        if self.reuse {
            self.reuse = false;
            return Ok(true);
        }
        let mut line = match self.raw_readline() {
            Some(l) => l,
            None => return Ok(false),
        };
        self.linenr += 1;
        while line.ends_with('\\') {
            line.pop();
            match self.raw_readline() {
                Some(l) => {
                    line.push_str(&l);
                    self.linenr += 1;
                }
                None => break,
            }
        }
        self.tokens = self.tokenize(line)?;
        self.ti = 1;
        Ok(true)
    }

    fn line_after_help(&mut self, mut line: String) -> PResult<()> {
        while line.ends_with('\\') {
            line.pop();
            match self.raw_readline() {
                Some(l) => {
                    line.push_str(&l);
                    self.linenr += 1;
                }
                None => break,
            }
        }
        self.tokens = self.tokenize(line)?;
        self.ti = 1;
        self.reuse = true;
        Ok(())
    }

    // ---------------------------------------------------------------
    // Tokenizer
    // ---------------------------------------------------------------

    fn tokenize(&mut self, s: String) -> PResult<Vec<Tok>> {
        self.line = s.clone();
        let mut s = s;
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'$' | b'-')) {
            i += 1;
        }
        if i == start {
            let t = s.trim_start();
            if t.is_empty() || t.starts_with('#') {
                return Ok(Vec::new());
            }
            return Err(self.err(
                "expected a keyword, symbol definition or variable assignment at start of line",
            ));
        }
        let word = s[start..i].to_string();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let first = match keyword(&word) {
            Some(k) => k,
            None => {
                if s.trim_matches(|c| c == ' ' || c == '\t' || c == '\n' || c == '-') == "help" {
                    return Ok(vec![Tok::Kw(Kw::Help)]);
                }
                self.parse_assignment(s)?;
                return Ok(Vec::new());
            }
        };
        let mut tokens = vec![Tok::Kw(first)];
        let mut prev_kw: Option<Kw> = Some(first);

        while i < s.len() {
            let b = s.as_bytes();
            // Identifier or keyword
            let mut j = i;
            while j < b.len() && is_name_char(b[j]) {
                j += 1;
            }
            if j > i {
                let name = s[i..j].to_string();
                let mut end = j;
                while end < b.len() && b[end].is_ascii_whitespace() {
                    end += 1;
                }
                if let Some(k) = keyword(&name) {
                    tokens.push(Tok::Kw(k));
                    prev_kw = Some(k);
                    i = end;
                } else if !prev_kw.is_some_and(is_string_lex) {
                    let name = if name.contains('$') {
                        let (name, ns, ni) = self.expand_name(s, i)?;
                        s = ns;
                        i = ni;
                        name
                    } else {
                        i = end;
                        name
                    };
                    let id = match name.as_str() {
                        "n" => self.kc.n,
                        "m" => self.kc.m,
                        "y" => self.kc.y,
                        _ => self.kc.lookup_sym(&name),
                    };
                    tokens.push(Tok::Sym(id));
                    prev_kw = None;
                } else {
                    if prev_kw != Some(Kw::Choice) {
                        let msg = format!(
                            "style: quotes recommended around '{}' in '{}'",
                            name,
                            self.line.trim()
                        );
                        self.warn_here(msg);
                    }
                    tokens.push(Tok::Str(name));
                    prev_kw = None;
                    i = end;
                }
                continue;
            }
            let c = b[i];
            let tok;
            if c == b'"' || c == b'\'' {
                let val;
                if !s.contains('$') && !s.contains('\\') {
                    match s[i + 1..].find(c as char) {
                        Some(off) => {
                            val = s[i + 1..i + 1 + off].to_string();
                            i = i + 1 + off + 1;
                        }
                        None => {
                            return Err(self.err("expected closing quote (unterminated string)"))
                        }
                    }
                } else {
                    let (ns, end_i) = self.expand_str(s, i)?;
                    s = ns;
                    val = self.expand_env_legacy(&s[i + 1..end_i - 1]);
                    i = end_i;
                }
                tok = if prev_kw.is_some_and(is_string_lex) || first == Kw::Option {
                    Tok::Str(val)
                } else {
                    Tok::Sym(self.kc.lookup_const(&val))
                };
            } else if s[i..].starts_with("&&") {
                tok = Tok::And;
                i += 2;
            } else if s[i..].starts_with("||") {
                tok = Tok::Or;
                i += 2;
            } else if c == b'=' {
                tok = Tok::Rel(RelOp::Eq);
                i += 1;
            } else if s[i..].starts_with("!=") {
                tok = Tok::Rel(RelOp::Ne);
                i += 2;
            } else if c == b'!' {
                tok = Tok::Not;
                i += 1;
            } else if c == b'(' {
                tok = Tok::LParen;
                i += 1;
            } else if c == b')' {
                tok = Tok::RParen;
                i += 1;
            } else if c == b'#' {
                break;
            } else if s[i..].starts_with("<=") {
                tok = Tok::Rel(RelOp::Le);
                i += 2;
            } else if c == b'<' {
                tok = Tok::Rel(RelOp::Lt);
                i += 1;
            } else if s[i..].starts_with(">=") {
                tok = Tok::Rel(RelOp::Ge);
                i += 2;
            } else if c == b'>' {
                tok = Tok::Rel(RelOp::Gt);
                i += 1;
            } else {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(self.err(format!(
                    "expected a symbol, string or operator, found '{}'",
                    ch
                )));
            }
            let b = s.as_bytes();
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            tokens.push(tok);
            prev_kw = None;
        }
        Ok(tokens)
    }

    // ---------------------------------------------------------------
    // Preprocessor
    // ---------------------------------------------------------------

    fn env_lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.opts.vars.get(name) {
            return Some(v.clone());
        }
        if self.opts.use_process_env {
            if let Ok(v) = std::env::var(name) {
                return Some(v);
            }
        }
        None
    }

    /// Legacy `$FOO`/`${FOO}` expansion inside quoted strings (only for
    /// defined variables, like Python's os.path.expandvars).
    fn expand_env_legacy(&self, s: &str) -> String {
        if !s.contains('$') {
            return s.to_string();
        }
        let b = s.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' {
                let (name, end) = if i + 1 < b.len() && b[i + 1] == b'{' {
                    match s[i + 2..].find('}') {
                        Some(off) => (&s[i + 2..i + 2 + off], i + 2 + off + 1),
                        None => ("", i + 1),
                    }
                } else {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    (&s[i + 1..j], j)
                };
                if !name.is_empty() {
                    if let Some(v) = self.env_lookup(name) {
                        out.push_str(&v);
                        i = end;
                        continue;
                    }
                }
                out.push('$');
                i += 1;
            } else {
                let ch = s[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }

    fn parse_assignment(&mut self, s: String) -> PResult<()> {
        let mut s = s.trim_start().to_string();
        let mut i = 0;
        loop {
            let b = s.as_bytes();
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
                i += 1;
            }
            if s[i..].starts_with("$(") {
                let (ns, ni) = self.expand_macro(s, i, &[])?;
                s = ns;
                i = ni;
            } else {
                break;
            }
        }
        if s.trim().is_empty() {
            return Ok(());
        }
        let name = s[..i].to_string();
        let rest = s[i..].trim_start();
        let (op, val) = if let Some(v) = rest.strip_prefix(":=") {
            (":=", v)
        } else if let Some(v) = rest.strip_prefix("+=") {
            ("+=", v)
        } else if let Some(v) = rest.strip_prefix('=') {
            ("=", v)
        } else {
            return Err(self.err(format!(
                "expected a keyword, or '=', ':=' or '+=' after '{}'",
                if name.is_empty() { s.trim() } else { &name }
            )));
        };
        if name.is_empty() {
            return Err(self.err("expected a variable name before the assignment operator"));
        }
        let val = val.trim_start().to_string();
        let mut op = op;
        if !self.vars.contains_key(&name) {
            self.vars.insert(
                name.clone(),
                Var {
                    value: String::new(),
                    recursive: true,
                    n_expansions: 0,
                },
            );
            if op == "+=" {
                op = "=";
            }
        }
        match op {
            "=" => {
                let v = self.vars.get_mut(&name).unwrap();
                v.recursive = true;
                v.value = val;
            }
            ":=" => {
                let e = self.expand_whole(val, &[])?;
                let v = self.vars.get_mut(&name).unwrap();
                v.recursive = false;
                v.value = e;
            }
            _ => {
                let recursive = self.vars[&name].recursive;
                let add = if recursive {
                    val
                } else {
                    self.expand_whole(val, &[])?
                };
                let v = self.vars.get_mut(&name).unwrap();
                v.value.push(' ');
                v.value.push_str(&add);
            }
        }
        Ok(())
    }

    fn expand_whole(&mut self, s: String, args: &[String]) -> PResult<String> {
        let mut s = s;
        let mut i = 0;
        while let Some(off) = s[i..].find("$(") {
            let (ns, ni) = self.expand_macro(s, i + off, args)?;
            s = ns;
            i = ni;
        }
        Ok(s)
    }

    fn expand_name(&mut self, s: String, i: usize) -> PResult<(String, String, usize)> {
        let mut s = s;
        let mut j = i;
        loop {
            let b = s.as_bytes();
            if j >= b.len() {
                break;
            }
            if s[j..].starts_with("$(") {
                let (ns, nj) = self.expand_macro(s, j, &[])?;
                s = ns;
                j = nj;
                continue;
            }
            if !is_name_char(b[j]) {
                break;
            }
            j += 1;
        }
        let name = s[i..j].to_string();
        if name.trim().is_empty() {
            return Err(
                self.err("expected a symbol name, but the macro expanded to a blank string")
            );
        }
        let b = s.as_bytes();
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        Ok((name, s, j))
    }

    /// Expands a quoted string starting at `i` (the quote). Returns the new
    /// line and the index just past the closing quote.
    fn expand_str(&mut self, s: String, i: usize) -> PResult<(String, usize)> {
        let mut s = s;
        let quote = s.as_bytes()[i];
        let mut i = i + 1;
        loop {
            let b = s.as_bytes();
            let mut k = i;
            while k < b.len()
                && !(b[k] == b'"' || b[k] == b'\'' || b[k] == b'\\' || s[k..].starts_with("$("))
            {
                k += 1;
            }
            if k >= b.len() {
                return Err(self.err("expected closing quote (unterminated string)"));
            }
            if b[k] == quote {
                return Ok((s, k + 1));
            } else if b[k] == b'\\' {
                // Remove the backslash; skip the escaped character.
                s.remove(k);
                let ch_len = s[k..].chars().next().map(|c| c.len_utf8()).unwrap_or(0);
                i = k + ch_len;
            } else if b[k] == b'$' {
                let (ns, ni) = self.expand_macro(s, k, &[])?;
                s = ns;
                i = ni;
            } else {
                i = k + 1;
            }
        }
    }

    fn expand_macro(&mut self, s: String, i: usize, args: &[String]) -> PResult<(String, usize)> {
        let res = s[..i].to_string();
        let mut s = s;
        let mut i = i + 2;
        let mut arg_start = i;
        let mut new_args: Vec<String> = Vec::new();
        let mut nesting = 0;
        loop {
            let b = s.as_bytes();
            let mut k = i;
            while k < b.len()
                && !(b[k] == b'(' || b[k] == b')' || b[k] == b',' || s[k..].starts_with("$("))
            {
                k += 1;
            }
            if k >= b.len() {
                return Err(self.err("expected ')' to end the macro expansion"));
            }
            match b[k] {
                b'(' => {
                    nesting += 1;
                    i = k + 1;
                }
                b')' => {
                    if nesting > 0 {
                        nesting -= 1;
                        i = k + 1;
                        continue;
                    }
                    new_args.push(s[arg_start..k].to_string());
                    let mut out = res;
                    let idx = py_int(&new_args[0], 10);
                    let arg_val = idx.and_then(|n| {
                        let len = args.len() as i128;
                        let n = if n < 0 { n + len } else { n };
                        if n >= 0 && n < len {
                            Some(args[n as usize].clone())
                        } else {
                            None
                        }
                    });
                    match arg_val {
                        Some(v) => out.push_str(&v),
                        None => {
                            let v = self.fn_val(&new_args)?;
                            out.push_str(&v);
                        }
                    }
                    let new_i = out.len();
                    out.push_str(&s[k + 1..]);
                    return Ok((out, new_i));
                }
                b',' => {
                    i = k + 1;
                    if nesting > 0 {
                        continue;
                    }
                    new_args.push(s[arg_start..k].to_string());
                    arg_start = i;
                }
                _ => {
                    // Nested "$("
                    let (ns, ni) = self.expand_macro(s, k, args)?;
                    s = ns;
                    i = ni;
                }
            }
        }
    }

    fn fn_val(&mut self, args: &[String]) -> PResult<String> {
        let f = args[0].clone();
        if self.vars.contains_key(&f) {
            let (n_exp, value) = {
                let v = &self.vars[&f];
                (v.n_expansions, v.value.clone())
            };
            if args.len() == 1 {
                if n_exp > 0 {
                    return Err(self.err(format!(
                        "preprocessor variable {} recursively references itself",
                        f
                    )));
                }
            } else if n_exp > 100 {
                return Err(self.err(format!(
                    "preprocessor function {} seems stuck in infinite recursion",
                    f
                )));
            }
            self.vars.get_mut(&f).unwrap().n_expansions += 1;
            let r = self.expand_whole(value, args);
            self.vars.get_mut(&f).unwrap().n_expansions -= 1;
            return r;
        }
        let nargs = args.len() - 1;
        let check = |p: &Self, n: usize| -> PResult<()> {
            if nargs != n {
                Err(p.err(format!(
                    "bad number of arguments in call to {}: expected {}, got {}",
                    f, n, nargs
                )))
            } else {
                Ok(())
            }
        };
        match f.as_str() {
            "info" => {
                check(self, 1)?;
                let msg = format!("info: {}", args[1]);
                self.warn_here(msg);
                return Ok(String::new());
            }
            "warning-if" => {
                check(self, 2)?;
                if args[1] == "y" {
                    let msg = args[2].clone();
                    self.warn_here(msg);
                }
                return Ok(String::new());
            }
            "error-if" => {
                check(self, 2)?;
                if args[1] == "y" {
                    return Err(Error::new(format!(
                        "{}:{}: {}",
                        self.filename, self.linenr, args[2]
                    )));
                }
                return Ok(String::new());
            }
            "filename" => {
                check(self, 0)?;
                return Ok(self.filename.clone());
            }
            "lineno" => {
                check(self, 0)?;
                return Ok(self.linenr.to_string());
            }
            "shell" => {
                return Err(
                    self.err("$(shell,...) is not supported by this Kconfig implementation")
                );
            }
            _ => {}
        }
        Ok(self.env_lookup(&f).unwrap_or_default())
    }

    // ---------------------------------------------------------------
    // Token helpers
    // ---------------------------------------------------------------

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.ti)
    }

    fn check(&mut self, t: &Tok) -> bool {
        if self.tokens.get(self.ti) == Some(t) {
            self.ti += 1;
            true
        } else {
            false
        }
    }

    fn expect_eol(&self) -> PResult<()> {
        if self.ti < self.tokens.len() {
            Err(self.err(format!(
                "expected end of line, found {}",
                tok_desc(self.peek(), self.kc)
            )))
        } else {
            Ok(())
        }
    }

    fn expect_str_and_eol(&mut self, what: &str) -> PResult<String> {
        match self.tokens.get(self.ti).cloned() {
            Some(Tok::Str(s)) => {
                self.ti += 1;
                self.expect_eol()?;
                Ok(s)
            }
            other => Err(self.err(format!(
                "expected {}, found {}",
                what,
                tok_desc(other.as_ref(), self.kc)
            ))),
        }
    }

    fn expect_sym(&mut self, what: &str) -> PResult<SymId> {
        match self.tokens.get(self.ti).cloned() {
            Some(Tok::Sym(s)) => {
                self.ti += 1;
                Ok(s)
            }
            other => Err(self.err(format!(
                "expected {}, found {}",
                what,
                tok_desc(other.as_ref(), self.kc)
            ))),
        }
    }

    fn expect_nonconst_sym(&mut self, what: &str) -> PResult<SymId> {
        let s = self.expect_sym(what)?;
        if self.kc.syms[s.idx()].is_constant {
            return Err(self.err(format!("expected {} (a non-constant symbol)", what)));
        }
        Ok(s)
    }

    fn expect_expr_and_eol(&mut self) -> PResult<Expr> {
        let e = self.parse_expr(true)?;
        self.expect_eol()?;
        Ok(e)
    }

    fn parse_cond(&mut self) -> PResult<Expr> {
        let e = if self.check(&Tok::Kw(Kw::If)) {
            self.parse_expr(true)?
        } else {
            if self.ti < self.tokens.len() {
                return Err(self.err(format!(
                    "expected 'if' or end of line, found {}",
                    tok_desc(self.peek(), self.kc)
                )));
            }
            Expr::Sym(self.kc.y)
        };
        self.expect_eol()?;
        Ok(e)
    }

    // ---------------------------------------------------------------
    // Expressions
    // ---------------------------------------------------------------

    fn parse_expr(&mut self, transform_m: bool) -> PResult<Expr> {
        let a = self.parse_and_expr(transform_m)?;
        if self.check(&Tok::Or) {
            let b = self.parse_expr(transform_m)?;
            Ok(Expr::Or(Box::new(a), Box::new(b)))
        } else {
            Ok(a)
        }
    }

    fn parse_and_expr(&mut self, transform_m: bool) -> PResult<Expr> {
        let a = self.parse_factor(transform_m)?;
        if self.check(&Tok::And) {
            let b = self.parse_and_expr(transform_m)?;
            Ok(Expr::And(Box::new(a), Box::new(b)))
        } else {
            Ok(a)
        }
    }

    fn parse_factor(&mut self, transform_m: bool) -> PResult<Expr> {
        let t = self.tokens.get(self.ti).cloned();
        self.ti += 1;
        match t {
            Some(Tok::Sym(s)) => {
                if let Some(Tok::Rel(op)) = self.tokens.get(self.ti).cloned() {
                    self.ti += 1;
                    let r =
                        self.expect_sym(&format!("a symbol or value after '{}'", op.as_str()))?;
                    return Ok(Expr::Rel(op, s, r));
                }
                if transform_m && s == self.kc.m {
                    return Ok(Expr::And(
                        Box::new(Expr::Sym(self.kc.m)),
                        Box::new(Expr::Sym(self.kc.modules)),
                    ));
                }
                Ok(Expr::Sym(s))
            }
            Some(Tok::Not) => Ok(Expr::Not(Box::new(self.parse_factor(transform_m)?))),
            Some(Tok::LParen) => {
                let e = self.parse_expr(transform_m)?;
                if self.check(&Tok::RParen) {
                    Ok(e)
                } else {
                    Err(self.err(format!(
                        "expected ')' or an operator, found {}",
                        tok_desc(self.peek(), self.kc)
                    )))
                }
            }
            other => Err(self.err(format!(
                "expected an expression (symbol, value, '!' or '('), found {}",
                tok_desc(other.as_ref(), self.kc)
            ))),
        }
    }

    // ---------------------------------------------------------------
    // Blocks and properties
    // ---------------------------------------------------------------

    fn new_node(&mut self, kind: NodeKind, parent: NodeId) -> NodeId {
        let y = Expr::Sym(self.kc.y);
        let id = NodeId(self.kc.nodes.len() as u32);
        self.kc.nodes.push(MenuNode {
            kind,
            parent: Some(parent),
            list: None,
            next: None,
            prompt: None,
            help: None,
            dep: y.clone(),
            visibility: y.clone(),
            defaults: Vec::new(),
            selects: Vec::new(),
            implies: Vec::new(),
            ranges: Vec::new(),
            is_menuconfig: false,
            filename: self.filename.clone(),
            linenr: self.linenr,
            include_path: self.include_path.clone(),
            own_dep: y,
        });
        id
    }

    fn link(&mut self, prev: NodeId, node: NodeId) {
        self.kc.nodes[prev.idx()].next = Some(node);
    }

    fn parse_block(&mut self, end: Option<Kw>, parent: NodeId, prev: NodeId) -> PResult<NodeId> {
        let mut prev = prev;
        while self.next_line()? {
            let t0 = match self.tokens.first().cloned() {
                None => continue,
                Some(t) => t,
            };
            let kw = match t0 {
                Tok::Kw(k) => k,
                _ => unreachable!("first token is always a keyword"),
            };
            match kw {
                Kw::Config | Kw::Menuconfig => {
                    let sym = match self.tokens.get(1).cloned() {
                        Some(Tok::Sym(s)) if !self.kc.syms[s.idx()].is_constant => s,
                        other => {
                            return Err(self.err(format!(
                                "expected a symbol name after '{}', found {}",
                                if kw == Kw::Config { "config" } else { "menuconfig" },
                                tok_desc(other.as_ref(), self.kc)
                            )))
                        }
                    };
                    self.ti = 2;
                    self.expect_eol()?;
                    self.kc.defined_syms.push(sym);
                    let node = self.new_node(NodeKind::Symbol(sym), parent);
                    self.kc.nodes[node.idx()].is_menuconfig = kw == Kw::Menuconfig;
                    self.kc.syms[sym.idx()].nodes.push(node);
                    self.parse_props(node)?;
                    if kw == Kw::Menuconfig && self.kc.nodes[node.idx()].prompt.is_none() {
                        let m = format!("the menuconfig symbol {} has no prompt", self.kc.sym_name_and_loc(sym));
                        self.warn(m);
                    }
                    self.link(prev, node);
                    prev = node;
                }
                Kw::Source | Kw::Rsource | Kw::Osource | Kw::Orsource => {
                    let mut pattern = self.expect_str_and_eol("a file name in quotes")?;
                    if matches!(kw, Kw::Rsource | Kw::Orsource) {
                        let dir = Path::new(&self.filename).parent().map(|p| p.to_path_buf()).unwrap_or_default();
                        pattern = dir.join(&pattern).to_string_lossy().into_owned();
                    }
                    let full = self.srctree.join(&pattern);
                    let mut files: Vec<PathBuf> = if pattern.contains(['*', '?', '[']) {
                        let pat = format!(
                            "{}/{}",
                            glob::Pattern::escape(&self.srctree.to_string_lossy()),
                            pattern
                        );
                        let pat = if Path::new(&pattern).is_absolute() { pattern.clone() } else { pat };
                        match glob::glob(&pat) {
                            Ok(paths) => paths.filter_map(|p| p.ok()).collect(),
                            Err(e) => return Err(self.err(format!("bad glob pattern: {}", e))),
                        }
                    } else if full.exists() {
                        vec![full]
                    } else {
                        Vec::new()
                    };
                    files.sort();
                    if files.is_empty() && matches!(kw, Kw::Source | Kw::Rsource) {
                        return Err(self.err(format!(
                            "'{}' not found; check that variables used in the path (e.g. $(SRCARCH)) are set",
                            pattern
                        )));
                    }
                    for f in files {
                        let rel = f
                            .strip_prefix(&self.srctree)
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_else(|_| f.to_string_lossy().into_owned());
                        prev = self.enter_and_parse(&f, rel, parent, prev)?;
                    }
                }
                k if Some(k) == end => {
                    self.ti = 1;
                    self.expect_eol()?;
                    self.kc.nodes[prev.idx()].next = None;
                    return Ok(prev);
                }
                Kw::If => {
                    let node = self.new_node(NodeKind::If, parent);
                    let dep = self.expect_expr_and_eol()?;
                    self.kc.nodes[node.idx()].dep = dep;
                    self.parse_block(Some(Kw::Endif), node, node)?;
                    let l = self.kc.nodes[node.idx()].next;
                    self.kc.nodes[node.idx()].list = l;
                    self.kc.nodes[node.idx()].next = None;
                    self.link(prev, node);
                    prev = node;
                }
                Kw::Menu => {
                    let node = self.new_node(NodeKind::Menu, parent);
                    let title = self.expect_str_and_eol("a menu title in quotes")?;
                    let y = Expr::Sym(self.kc.y);
                    {
                        let n = &mut self.kc.nodes[node.idx()];
                        n.is_menuconfig = true;
                        n.prompt = Some((title, y));
                    }
                    self.kc.menus.push(node);
                    self.parse_props(node)?;
                    self.parse_block(Some(Kw::Endmenu), node, node)?;
                    let l = self.kc.nodes[node.idx()].next;
                    self.kc.nodes[node.idx()].list = l;
                    self.kc.nodes[node.idx()].next = None;
                    self.link(prev, node);
                    prev = node;
                }
                Kw::Comment => {
                    let node = self.new_node(NodeKind::Comment, parent);
                    let text = self.expect_str_and_eol("a comment text in quotes")?;
                    let y = Expr::Sym(self.kc.y);
                    self.kc.nodes[node.idx()].prompt = Some((text, y));
                    self.kc.comments.push(node);
                    self.parse_props(node)?;
                    self.link(prev, node);
                    prev = node;
                }
                Kw::Choice => {
                    let choice = if self.tokens.len() == 1 {
                        self.kc.new_choice(None)
                    } else {
                        let name = self.expect_str_and_eol("a choice name")?;
                        match self.kc.named_choices.get(&name) {
                            Some(&c) => c,
                            None => {
                                let c = self.kc.new_choice(Some(name.clone()));
                                self.kc.named_choices.insert(name, c);
                                c
                            }
                        }
                    };
                    self.kc.choice_list.push(choice);
                    let node = self.new_node(NodeKind::Choice(choice), parent);
                    self.kc.nodes[node.idx()].is_menuconfig = true;
                    self.kc.choices[choice.idx()].nodes.push(node);
                    self.parse_props(node)?;
                    self.parse_block(Some(Kw::Endchoice), node, node)?;
                    let l = self.kc.nodes[node.idx()].next;
                    self.kc.nodes[node.idx()].list = l;
                    self.kc.nodes[node.idx()].next = None;
                    self.link(prev, node);
                    prev = node;
                }
                Kw::Mainmenu => {
                    let title = self.expect_str_and_eol("a main menu title in quotes")?;
                    let y = Expr::Sym(self.kc.y);
                    let top = self.kc.top;
                    self.kc.nodes[top.idx()].prompt = Some((title, y));
                }
                Kw::Endchoice => return Err(self.err("'endchoice' without a matching 'choice'")),
                Kw::Endif => return Err(self.err("'endif' without a matching 'if'")),
                Kw::Endmenu => return Err(self.err("'endmenu' without a matching 'menu'")),
                _ => {
                    return Err(self.err(format!(
                        "expected config, menuconfig, choice, menu, comment, if, source or mainmenu, found {}",
                        tok_desc(Some(&t0), self.kc)
                    )))
                }
            }
        }
        if let Some(e) = end {
            let what = match e {
                Kw::Endchoice => "endchoice",
                Kw::Endif => "endif",
                _ => "endmenu",
            };
            return Err(Error::new(format!(
                "{}:{}: expected '{}' before end of file",
                self.filename, self.linenr, what
            )));
        }
        Ok(prev)
    }

    fn enter_and_parse(
        &mut self,
        path: &Path,
        rel: String,
        parent: NodeId,
        prev: NodeId,
    ) -> PResult<NodeId> {
        self.kc.kconfig_filenames.push(rel.clone());
        let mut inc = self.include_path.clone();
        inc.push((self.filename.clone(), self.linenr));
        if inc.iter().any(|(n, _)| *n == rel) {
            return Err(Error::new(format!(
                "{}:{}: recursive 'source' of '{}' detected. Include path:\n{}",
                self.filename,
                self.linenr,
                rel,
                inc.iter()
                    .map(|(n, l)| format!("{}:{}", n, l))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
        let lines = Self::read_file(path)
            .map_err(|e| Error::new(format!("{}:{}: {}", self.filename, self.linenr, e)))?;
        let saved_inc = std::mem::replace(&mut self.include_path, inc);
        let saved_file = std::mem::replace(&mut self.filename, rel);
        let saved_line = self.linenr;
        self.linenr = 0;
        self.files.push(FileState { lines, pos: 0 });
        let r = self.parse_block(None, parent, prev);
        self.files.pop();
        self.filename = saved_file;
        self.linenr = saved_line;
        self.include_path = saved_inc;
        // A help text at the end of the sourced file may have left tokens of
        // nothing; make sure we don't reuse them across files.
        self.reuse = false;
        r
    }

    fn set_type(&mut self, node: NodeId, t: SymType) -> PResult<()> {
        match self.kc.nodes[node.idx()].kind {
            NodeKind::Symbol(s) => {
                let old = self.kc.syms[s.idx()].orig_type;
                if old != SymType::Unknown && old != t {
                    let m = format!(
                        "{} defined with multiple types, {} will be used",
                        self.kc.sym_name_and_loc(s),
                        t
                    );
                    self.warn(m);
                }
                self.kc.syms[s.idx()].orig_type = t;
            }
            NodeKind::Choice(c) => {
                let old = self.kc.choices[c.idx()].orig_type;
                if old != SymType::Unknown && old != t {
                    let m = format!(
                        "{} defined with multiple types, {} will be used",
                        self.kc.choice_name_and_loc(c),
                        t
                    );
                    self.warn(m);
                }
                self.kc.choices[c.idx()].orig_type = t;
            }
            _ => {
                return Err(self
                    .err("expected a menu property; types are only valid for symbols and choices"))
            }
        }
        Ok(())
    }

    fn item_name(&self, node: NodeId) -> String {
        match self.kc.nodes[node.idx()].kind {
            NodeKind::Symbol(s) => self.kc.sym_name_and_loc(s),
            NodeKind::Choice(c) => self.kc.choice_name_and_loc(c),
            NodeKind::Menu => "menu".into(),
            NodeKind::Comment => "comment".into(),
            NodeKind::If => "if".into(),
        }
    }

    fn parse_prompt(&mut self, node: NodeId) -> PResult<()> {
        if self.kc.nodes[node.idx()].prompt.is_some() {
            let m = format!(
                "{} defined with multiple prompts in single location",
                self.item_name(node)
            );
            self.warn(m);
        }
        let prompt = match self.tokens.get(1).cloned() {
            Some(Tok::Str(s)) => s,
            other => {
                return Err(self.err(format!(
                    "expected a prompt string in quotes, found {}",
                    tok_desc(other.as_ref(), self.kc)
                )))
            }
        };
        self.ti = 2;
        let prompt = if prompt != prompt.trim() {
            let m = format!(
                "{} has leading or trailing whitespace in its prompt",
                self.item_name(node)
            );
            self.warn(m);
            prompt.trim().to_string()
        } else {
            prompt
        };
        let cond = self.parse_cond()?;
        self.kc.nodes[node.idx()].prompt = Some((prompt, cond));
        Ok(())
    }

    fn parse_props(&mut self, node: NodeId) -> PResult<()> {
        self.kc.nodes[node.idx()].dep = Expr::Sym(self.kc.y);
        while self.next_line()? {
            let t0 = match self.tokens.first().cloned() {
                None => continue,
                Some(Tok::Kw(k)) => k,
                Some(_) => unreachable!(),
            };
            let kind = self.kc.nodes[node.idx()].kind;
            let is_sym = matches!(kind, NodeKind::Symbol(_));
            let is_sc = is_sym || matches!(kind, NodeKind::Choice(_));
            if let Some(t) = type_kw(t0) {
                self.set_type(node, t)?;
                if self.tokens.len() > 1 {
                    self.parse_prompt(node)?;
                }
            } else if t0 == Kw::Depends {
                if !self.check(&Tok::Kw(Kw::On)) {
                    return Err(self.err("expected 'on' after 'depends'"));
                }
                let e = self.expect_expr_and_eol()?;
                let d = std::mem::replace(&mut self.kc.nodes[node.idx()].dep, Expr::Sym(self.kc.y));
                self.kc.nodes[node.idx()].dep = self.kc.make_and(d, e);
            } else if t0 == Kw::Help {
                self.parse_help(node)?;
            } else if t0 == Kw::Select || t0 == Kw::Imply {
                if !is_sym {
                    return Err(self.err(format!(
                        "expected a symbol property; only symbols can {}",
                        if t0 == Kw::Select { "select" } else { "imply" }
                    )));
                }
                self.ti = 1;
                let target = self.expect_nonconst_sym("a symbol name")?;
                let cond = self.parse_cond()?;
                if t0 == Kw::Select {
                    self.kc.nodes[node.idx()].selects.push((target, cond));
                } else {
                    self.kc.nodes[node.idx()].implies.push((target, cond));
                }
            } else if t0 == Kw::Default {
                if !is_sc {
                    return Err(self.err(
                        "expected a menu property; 'default' is only valid for symbols and choices",
                    ));
                }
                let v = self.parse_expr(false)?;
                let c = self.parse_cond()?;
                self.kc.nodes[node.idx()].defaults.push((v, c));
            } else if let Some(t) = def_kw(t0) {
                self.set_type(node, t)?;
                let v = self.parse_expr(false)?;
                let c = self.parse_cond()?;
                self.kc.nodes[node.idx()].defaults.push((v, c));
            } else if t0 == Kw::Prompt {
                if !is_sc {
                    return Err(self.err(
                        "expected a menu property; 'prompt' is only valid for symbols and choices",
                    ));
                }
                self.parse_prompt(node)?;
            } else if t0 == Kw::Range {
                if !is_sym {
                    return Err(
                        self.err("expected a menu property; 'range' is only valid for symbols")
                    );
                }
                let lo = self.expect_sym("a lower bound after 'range'")?;
                let hi = self.expect_sym("an upper bound after the lower bound")?;
                let c = self.parse_cond()?;
                self.kc.nodes[node.idx()].ranges.push((lo, hi, c));
            } else if t0 == Kw::Visible {
                if !self.check(&Tok::Kw(Kw::If)) {
                    return Err(self.err("expected 'if' after 'visible'"));
                }
                if kind != NodeKind::Menu {
                    return Err(self.err("'visible if' is only valid for menus"));
                }
                let e = self.expect_expr_and_eol()?;
                let v = std::mem::replace(
                    &mut self.kc.nodes[node.idx()].visibility,
                    Expr::Sym(self.kc.y),
                );
                self.kc.nodes[node.idx()].visibility = self.kc.make_and(v, e);
            } else if t0 == Kw::Option {
                if self.check(&Tok::Kw(Kw::Env)) {
                    if !self.check(&Tok::Rel(RelOp::Eq)) {
                        return Err(self.err("expected '=' after 'env'"));
                    }
                    let var = self.expect_str_and_eol("an environment variable name in quotes")?;
                    if let NodeKind::Symbol(s) = kind {
                        self.kc.syms[s.idx()].env_var = Some(var.clone());
                        match self.env_lookup(&var) {
                            Some(v) => {
                                let c = self.kc.lookup_const(&v);
                                let y = Expr::Sym(self.kc.y);
                                self.kc.nodes[node.idx()].defaults.push((Expr::Sym(c), y));
                            }
                            None => {
                                let m = format!(
                                    "{} has 'option env=\"{}\"', but the environment variable {} is not set",
                                    self.kc.syms[s.idx()].name,
                                    var,
                                    var
                                );
                                self.warn_here(m);
                            }
                        }
                    }
                } else if self.check(&Tok::Kw(Kw::DefconfigList)) {
                    self.expect_eol()?;
                    if let NodeKind::Symbol(s) = kind {
                        self.kc.syms[s.idx()].is_defconfig_list = true;
                    }
                } else if self.check(&Tok::Kw(Kw::Modules)) {
                    self.expect_eol()?;
                } else if self.check(&Tok::Kw(Kw::AllnoconfigY)) {
                    self.expect_eol()?;
                    match kind {
                        NodeKind::Symbol(s) => self.kc.syms[s.idx()].is_allnoconfig_y = true,
                        _ => {
                            return Err(
                                self.err("the 'allnoconfig_y' option is only valid for symbols")
                            )
                        }
                    }
                } else {
                    return Err(self.err(format!(
                        "expected env=, defconfig_list, modules or allnoconfig_y after 'option', found {}",
                        tok_desc(self.peek(), self.kc)
                    )));
                }
            } else if t0 == Kw::Modules && is_sym && self.tokens.len() == 1 {
                // Newer Linux syntax for 'option modules'; accepted and ignored.
            } else if t0 == Kw::Optional {
                match kind {
                    NodeKind::Choice(c) => {
                        self.expect_eol()?;
                        self.kc.choices[c.idx()].is_optional = true;
                    }
                    _ => return Err(self.err("'optional' is only valid for choices")),
                }
            } else {
                self.reuse = true;
                self.ti = 1;
                let d = self.kc.nodes[node.idx()].dep.clone();
                self.kc.nodes[node.idx()].own_dep = d;
                return Ok(());
            }
        }
        let d = self.kc.nodes[node.idx()].dep.clone();
        self.kc.nodes[node.idx()].own_dep = d;
        Ok(())
    }

    fn parse_help(&mut self, node: NodeId) -> PResult<()> {
        if self.kc.nodes[node.idx()].help.is_some() {
            let m = format!(
                "{} defined with more than one help text -- only the last one will be used",
                self.item_name(node)
            );
            self.warn(m);
        }
        let first;
        loop {
            match self.raw_readline() {
                None => {
                    self.linenr += 1;
                    return self.empty_help(node, None);
                }
                Some(l) => {
                    self.linenr += 1;
                    if !l.trim().is_empty() {
                        first = l;
                        break;
                    }
                }
            }
        }
        let exp = expand_tabs(&first);
        let indent = exp.len() - exp.trim_start().len();
        if indent == 0 {
            return self.empty_help(node, Some(first));
        }
        let mut lines = vec![exp[indent..].to_string()];
        let mut after: Option<String> = None;
        loop {
            match self.raw_readline() {
                None => break,
                Some(l) => {
                    if l.trim().is_empty() {
                        lines.push(String::new());
                        continue;
                    }
                    let exp = expand_tabs(&l);
                    if exp.len() - exp.trim_start().len() < indent {
                        after = Some(l);
                        break;
                    }
                    lines.push(exp[indent..].to_string());
                }
            }
        }
        // Matches the line accounting of the C tools/kconfiglib: the line
        // after the help text ends up as the current line.
        self.linenr += lines.len();
        let text = lines.join("\n");
        self.kc.nodes[node.idx()].help = Some(text.trim_end().to_string());
        if let Some(l) = after {
            self.line_after_help(l)?;
        }
        Ok(())
    }

    fn empty_help(&mut self, node: NodeId, line: Option<String>) -> PResult<()> {
        let m = format!("{} has 'help' but empty help text", self.item_name(node));
        self.warn(m);
        self.kc.nodes[node.idx()].help = Some(String::new());
        if let Some(l) = line {
            self.line_after_help(l)?;
        }
        Ok(())
    }
}

fn expand_tabs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut col = 0;
    for c in s.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            for _ in 0..n {
                out.push(' ');
            }
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

// -------------------------------------------------------------------
// Menu finalization
// -------------------------------------------------------------------

impl Kconfig {
    pub(crate) fn make_and(&self, a: Expr, b: Expr) -> Expr {
        let y = Expr::Sym(self.y);
        let n = Expr::Sym(self.n);
        if a == y {
            return b;
        }
        if b == y {
            return a;
        }
        if a == n || b == n {
            return n;
        }
        Expr::And(Box::new(a), Box::new(b))
    }

    pub(crate) fn make_or(&self, a: Expr, b: Expr) -> Expr {
        let y = Expr::Sym(self.y);
        let n = Expr::Sym(self.n);
        if a == n {
            return b;
        }
        if b == n {
            return a;
        }
        if a == y || b == y {
            return y;
        }
        Expr::Or(Box::new(a), Box::new(b))
    }

    pub(crate) fn finalize_node(&mut self, node: NodeId, visible_if: &Expr) {
        match self.nodes[node.idx()].kind {
            NodeKind::Symbol(_) => {
                self.add_props_to_sym(node);
                let mut cur = node;
                while let Some(nx) = self.nodes[cur.idx()].next {
                    if !self.auto_menu_dep(node, nx) {
                        break;
                    }
                    self.finalize_node(nx, visible_if);
                    cur = nx;
                    self.nodes[cur.idx()].parent = Some(node);
                }
                if cur != node {
                    let first = self.nodes[node.idx()].next;
                    let after = self.nodes[cur.idx()].next;
                    self.nodes[node.idx()].list = first;
                    self.nodes[node.idx()].next = after;
                    self.nodes[cur.idx()].next = None;
                }
            }
            _ => {
                if self.nodes[node.idx()].list.is_some() {
                    let vis = if self.nodes[node.idx()].kind == NodeKind::Menu {
                        self.make_and(
                            visible_if.clone(),
                            self.nodes[node.idx()].visibility.clone(),
                        )
                    } else {
                        visible_if.clone()
                    };
                    self.propagate_deps(node, &vis);
                    let mut cur = self.nodes[node.idx()].list;
                    while let Some(c) = cur {
                        self.finalize_node(c, &vis);
                        cur = self.nodes[c.idx()].next;
                    }
                }
            }
        }
        if let Some(l) = self.nodes[node.idx()].list {
            self.flatten(l);
            self.remove_ifs(node);
        }
        if let NodeKind::Choice(c) = self.nodes[node.idx()].kind {
            let d = self.choices[c.idx()].direct_dep.clone();
            let nd = self.nodes[node.idx()].dep.clone();
            self.choices[c.idx()].direct_dep = self.make_or(d, nd);
            let defs = self.nodes[node.idx()].defaults.clone();
            self.choices[c.idx()].defaults.extend(defs);
            self.finalize_choice(node, c);
        }
    }

    fn propagate_deps(&mut self, node: NodeId, visible_if: &Expr) {
        let basedep = match self.nodes[node.idx()].kind {
            NodeKind::Choice(c) => Expr::Choice(c),
            _ => self.nodes[node.idx()].dep.clone(),
        };
        let mut cur = self.nodes[node.idx()].list;
        while let Some(c) = cur {
            let d = self.nodes[c.idx()].dep.clone();
            let dep = self.make_and(d, basedep.clone());
            self.nodes[c.idx()].dep = dep.clone();
            let kind = self.nodes[c.idx()].kind;
            if matches!(kind, NodeKind::Symbol(_) | NodeKind::Choice(_)) {
                if let Some((p, cond)) = self.nodes[c.idx()].prompt.clone() {
                    let inner = self.make_and(visible_if.clone(), dep.clone());
                    let nc = self.make_and(cond, inner);
                    self.nodes[c.idx()].prompt = Some((p, nc));
                }
                let defaults = std::mem::take(&mut self.nodes[c.idx()].defaults);
                let defaults = defaults
                    .into_iter()
                    .map(|(v, cond)| (v, self.make_and(cond, dep.clone())))
                    .collect();
                self.nodes[c.idx()].defaults = defaults;
                let ranges = std::mem::take(&mut self.nodes[c.idx()].ranges);
                let ranges = ranges
                    .into_iter()
                    .map(|(l, h, cond)| (l, h, self.make_and(cond, dep.clone())))
                    .collect();
                self.nodes[c.idx()].ranges = ranges;
                let selects = std::mem::take(&mut self.nodes[c.idx()].selects);
                let selects = selects
                    .into_iter()
                    .map(|(t, cond)| (t, self.make_and(cond, dep.clone())))
                    .collect();
                self.nodes[c.idx()].selects = selects;
                let implies = std::mem::take(&mut self.nodes[c.idx()].implies);
                let implies = implies
                    .into_iter()
                    .map(|(t, cond)| (t, self.make_and(cond, dep.clone())))
                    .collect();
                self.nodes[c.idx()].implies = implies;
            } else if let Some((p, cond)) = self.nodes[c.idx()].prompt.clone() {
                let nc = self.make_and(cond, dep.clone());
                self.nodes[c.idx()].prompt = Some((p, nc));
            }
            cur = self.nodes[c.idx()].next;
        }
    }

    fn add_props_to_sym(&mut self, node: NodeId) {
        let s = match self.nodes[node.idx()].kind {
            NodeKind::Symbol(s) => s,
            _ => return,
        };
        let n = self.nodes[node.idx()].clone();
        let dd = self.syms[s.idx()].direct_dep.clone();
        self.syms[s.idx()].direct_dep = self.make_or(dd, n.dep.clone());
        self.syms[s.idx()]
            .defaults
            .extend(n.defaults.iter().cloned());
        self.syms[s.idx()].ranges.extend(n.ranges.iter().cloned());
        self.syms[s.idx()].selects.extend(n.selects.iter().cloned());
        self.syms[s.idx()].implies.extend(n.implies.iter().cloned());
        for (t, cond) in &n.selects {
            let r = self.syms[t.idx()].rev_dep.clone();
            let a = self.make_and(Expr::Sym(s), cond.clone());
            self.syms[t.idx()].rev_dep = self.make_or(r, a);
        }
        for (t, cond) in &n.implies {
            let r = self.syms[t.idx()].weak_rev_dep.clone();
            let a = self.make_and(Expr::Sym(s), cond.clone());
            self.syms[t.idx()].weak_rev_dep = self.make_or(r, a);
        }
    }

    fn expr_depends_on(&self, e: &Expr, sym: SymId) -> bool {
        match e {
            Expr::Sym(s) => *s == sym,
            Expr::Rel(op @ (RelOp::Eq | RelOp::Ne), l, r) => {
                let (l, r) = if *r == sym { (*r, *l) } else { (*l, *r) };
                if l != sym {
                    return false;
                }
                (*op == RelOp::Eq && r == self.m)
                    || r == self.y
                    || (*op == RelOp::Ne && r == self.n)
            }
            Expr::And(a, b) => self.expr_depends_on(a, sym) || self.expr_depends_on(b, sym),
            _ => false,
        }
    }

    fn auto_menu_dep(&self, n1: NodeId, n2: NodeId) -> bool {
        let sym = match self.nodes[n1.idx()].kind {
            NodeKind::Symbol(s) => s,
            _ => return false,
        };
        let n2 = &self.nodes[n2.idx()];
        match &n2.prompt {
            Some((_, cond)) => self.expr_depends_on(cond, sym),
            None => self.expr_depends_on(&n2.dep, sym),
        }
    }

    fn flatten(&mut self, node: NodeId) {
        let mut cur = Some(node);
        while let Some(n) = cur {
            let nd = &self.nodes[n.idx()];
            let flatten = nd.prompt.is_none() && !matches!(nd.kind, NodeKind::Choice(_));
            if let (Some(first), true) = (nd.list, flatten) {
                let parent = nd.parent;
                let mut last = first;
                loop {
                    self.nodes[last.idx()].parent = parent;
                    match self.nodes[last.idx()].next {
                        Some(x) => last = x,
                        None => break,
                    }
                }
                let nx = self.nodes[n.idx()].next;
                self.nodes[last.idx()].next = nx;
                self.nodes[n.idx()].next = Some(first);
                self.nodes[n.idx()].list = None;
            }
            cur = self.nodes[n.idx()].next;
        }
    }

    fn remove_ifs(&mut self, node: NodeId) {
        let mut cur = self.nodes[node.idx()].list;
        while let Some(c) = cur {
            if self.nodes[c.idx()].kind != NodeKind::If {
                break;
            }
            cur = self.nodes[c.idx()].next;
        }
        self.nodes[node.idx()].list = cur;
        while let Some(c) = cur {
            let mut nx = self.nodes[c.idx()].next;
            while let Some(x) = nx {
                if self.nodes[x.idx()].kind != NodeKind::If {
                    break;
                }
                nx = self.nodes[x.idx()].next;
            }
            self.nodes[c.idx()].next = nx;
            cur = nx;
        }
    }

    fn finalize_choice(&mut self, node: NodeId, c: ChoiceId) {
        let mut cur = self.nodes[node.idx()].list;
        while let Some(n) = cur {
            if let NodeKind::Symbol(s) = self.nodes[n.idx()].kind {
                self.syms[s.idx()].choice = Some(c);
                self.choices[c.idx()].syms.push(s);
            }
            cur = self.nodes[n.idx()].next;
        }
        if self.choices[c.idx()].orig_type == SymType::Unknown {
            let t = self.choices[c.idx()]
                .syms
                .iter()
                .map(|s| self.syms[s.idx()].orig_type)
                .find(|t| *t != SymType::Unknown);
            if let Some(t) = t {
                self.choices[c.idx()].orig_type = t;
            }
        }
        let ct = self.choices[c.idx()].orig_type;
        for s in self.choices[c.idx()].syms.clone() {
            if self.syms[s.idx()].orig_type == SymType::Unknown {
                self.syms[s.idx()].orig_type = ct;
            }
        }
    }
}
