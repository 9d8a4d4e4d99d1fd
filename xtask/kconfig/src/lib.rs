//! Tessera's Kconfig engine.
//!
//! A host-only implementation of the Linux Kconfig language with the
//! semantics of the C tools as implemented by Python's kconfiglib 14.1.0
//! (the reference oracle used by the conformance tests):
//!
//! * [`Kconfig::load`] parses a tree (with `source`, `$(VAR)` macros, ...),
//!   finalizes the menu tree and checks for dependency loops;
//! * values are evaluated lazily ([`Kconfig::sym_str`], [`Kconfig::sym_tri`]);
//! * [`Kconfig::load_config`], [`Kconfig::config_text`] and
//!   [`Kconfig::min_config_text`] read and write `.config`/defconfig files;
//! * [`run`] is a small CLI dispatcher (menuconfig, defconfig, ...).
//!
//! Warnings are collected (never printed by the library); see
//! [`Kconfig::take_warnings`].

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

mod cli;
mod config;
pub mod conformance;
mod eval;
pub mod menuconfig;
mod model;
mod ops;
mod parser;

pub use cli::{load_resolved, load_tree, run};
pub use model::{
    escape, py_hex, py_int, tri_str, unescape, Choice, ChoiceId, Error, Expr, Item, MenuNode,
    NodeId, NodeKind, RelOp, Result, SymId, SymType, Symbol, UserValue, Warning,
};
pub use ops::Rng;
pub use parser::LoadOptions;

use eval::Cache;

/// A parsed Kconfig tree plus the current user values.
#[derive(Debug, Clone)]
pub struct Kconfig {
    pub(crate) syms: Vec<Symbol>,
    pub(crate) choices: Vec<Choice>,
    pub(crate) nodes: Vec<MenuNode>,
    pub(crate) sym_map: HashMap<String, SymId>,
    pub(crate) const_map: HashMap<String, SymId>,
    pub(crate) named_choices: HashMap<String, ChoiceId>,
    pub(crate) defined_syms: Vec<SymId>,
    pub(crate) unique_defined: Vec<SymId>,
    pub(crate) choice_list: Vec<ChoiceId>,
    pub(crate) unique_choices: Vec<ChoiceId>,
    pub(crate) menus: Vec<NodeId>,
    pub(crate) comments: Vec<NodeId>,
    pub n: SymId,
    pub m: SymId,
    pub y: SymId,
    pub modules: SymId,
    pub top: NodeId,
    pub srctree: PathBuf,
    pub top_file: String,
    pub kconfig_filenames: Vec<String>,
    /// Assignments to undefined symbols seen by the last `load_config`.
    pub missing_syms: Vec<(String, String)>,
    pub(crate) warnings: RefCell<Vec<Warning>>,
    pub(crate) loop_errors: RefCell<BTreeSet<String>>,
    pub(crate) cache: RefCell<Cache>,
    pub(crate) warn_assign_no_prompt: bool,
    pub(crate) was_set: Vec<bool>,
    pub(crate) choice_was_set: Vec<bool>,
}

/// A resolved symbol, as exported to the cargo bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolInfo {
    pub name: String,
    /// Declared type (tristate stays tristate even if MODULES is off).
    pub ty: SymType,
    /// Resolved value: "n"/"m"/"y" for bool/tristate, the raw text for
    /// int/hex/string.
    pub value: String,
    /// Whether any definition of the symbol has a prompt.
    pub has_prompt: bool,
    /// Whether the symbol is currently visible (user-changeable).
    pub visible: bool,
    /// Whether the symbol is written to .config (kconfiglib's rules).
    pub written: bool,
}

impl Kconfig {
    fn empty(srctree: PathBuf, top_file: &str) -> Self {
        let mut kc = Kconfig {
            syms: Vec::new(),
            choices: Vec::new(),
            nodes: Vec::new(),
            sym_map: HashMap::new(),
            const_map: HashMap::new(),
            named_choices: HashMap::new(),
            defined_syms: Vec::new(),
            unique_defined: Vec::new(),
            choice_list: Vec::new(),
            unique_choices: Vec::new(),
            menus: Vec::new(),
            comments: Vec::new(),
            n: SymId(0),
            m: SymId(1),
            y: SymId(2),
            modules: SymId(3),
            top: NodeId(0),
            srctree,
            top_file: top_file.to_string(),
            kconfig_filenames: vec![top_file.to_string()],
            missing_syms: Vec::new(),
            warnings: RefCell::new(Vec::new()),
            loop_errors: RefCell::new(BTreeSet::new()),
            cache: RefCell::new(Cache::default()),
            warn_assign_no_prompt: true,
            was_set: Vec::new(),
            choice_was_set: Vec::new(),
        };
        for name in ["n", "m", "y"] {
            let id = kc.push_sym(name, true);
            kc.syms[id.idx()].orig_type = SymType::Tristate;
            kc.const_map.insert(name.to_string(), id);
        }
        let n = Expr::Sym(kc.n);
        for s in &mut kc.syms {
            s.rev_dep = n.clone();
            s.weak_rev_dep = n.clone();
            s.direct_dep = n.clone();
        }
        kc.modules = kc.lookup_sym("MODULES");
        let y = Expr::Sym(kc.y);
        kc.nodes.push(MenuNode {
            kind: NodeKind::Menu,
            parent: None,
            list: None,
            next: None,
            prompt: Some(("Main menu".to_string(), y.clone())),
            help: None,
            dep: y.clone(),
            visibility: y.clone(),
            defaults: Vec::new(),
            selects: Vec::new(),
            implies: Vec::new(),
            ranges: Vec::new(),
            is_menuconfig: true,
            filename: top_file.to_string(),
            linenr: 1,
            include_path: Vec::new(),
            own_dep: y,
        });
        kc
    }

    fn push_sym(&mut self, name: &str, is_constant: bool) -> SymId {
        let id = SymId(self.syms.len() as u32);
        let n = Expr::Sym(SymId(0));
        self.syms.push(Symbol {
            name: name.to_string(),
            is_constant,
            orig_type: SymType::Unknown,
            nodes: Vec::new(),
            defaults: Vec::new(),
            selects: Vec::new(),
            implies: Vec::new(),
            ranges: Vec::new(),
            rev_dep: n.clone(),
            weak_rev_dep: n.clone(),
            direct_dep: n,
            choice: None,
            env_var: None,
            is_allnoconfig_y: false,
            is_defconfig_list: false,
            user_value: None,
            dependents: Vec::new(),
        });
        id
    }

    pub(crate) fn lookup_sym(&mut self, name: &str) -> SymId {
        if let Some(&id) = self.sym_map.get(name) {
            return id;
        }
        let id = self.push_sym(name, false);
        self.sym_map.insert(name.to_string(), id);
        id
    }

    pub(crate) fn lookup_const(&mut self, name: &str) -> SymId {
        if let Some(&id) = self.const_map.get(name) {
            return id;
        }
        let id = self.push_sym(name, true);
        self.const_map.insert(name.to_string(), id);
        id
    }

    pub(crate) fn new_choice(&mut self, name: Option<String>) -> ChoiceId {
        let id = ChoiceId(self.choices.len() as u32);
        self.choices.push(Choice {
            name,
            orig_type: SymType::Unknown,
            nodes: Vec::new(),
            defaults: Vec::new(),
            syms: Vec::new(),
            is_optional: false,
            direct_dep: Expr::Sym(self.n),
            user_value: None,
            user_selection: None,
            dependents: Vec::new(),
        });
        id
    }

    pub(crate) fn push_warning(&self, w: Warning) {
        let mut ws = self.warnings.borrow_mut();
        if !ws.contains(&w) {
            ws.push(w);
        }
    }

    /// Loads a Kconfig tree. `root` is either the directory holding the
    /// top-level `Kconfig` file (it becomes `$srctree`) or the top-level
    /// file itself (its directory becomes `$srctree`). File names in
    /// messages are relative to `$srctree`.
    pub fn load(root: &Path, opts: &LoadOptions) -> Result<Kconfig> {
        let (srctree, top) = if root.is_dir() {
            (root.to_path_buf(), "Kconfig".to_string())
        } else {
            let dir = root.parent().map(|p| p.to_path_buf()).unwrap_or_default();
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            let name = root
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .ok_or_else(|| Error::new(format!("bad Kconfig path '{}'", root.display())))?;
            (dir, name)
        };
        let srctree = srctree
            .canonicalize()
            .map_err(|e| Error::new(format!("cannot access '{}': {}", srctree.display(), e)))?;
        let mut kc = Kconfig::empty(srctree.clone(), &top);
        {
            let mut p = parser::Parser::new(&mut kc, srctree, opts.clone());
            p.parse_top(&top)?;
        }
        let top_node = kc.top;
        let y = Expr::Sym(kc.y);
        kc.finalize_node(top_node, &y);
        let mut seen = std::collections::HashSet::new();
        kc.unique_defined = kc
            .defined_syms
            .iter()
            .copied()
            .filter(|s| seen.insert(*s))
            .collect();
        let mut seen = std::collections::HashSet::new();
        kc.unique_choices = kc
            .choice_list
            .iter()
            .copied()
            .filter(|c| seen.insert(*c))
            .collect();
        kc.invalidate();
        kc.was_set = vec![false; kc.syms.len()];
        kc.choice_was_set = vec![false; kc.choices.len()];
        kc.check_sym_sanity()?;
        kc.check_choice_sanity()?;
        kc.build_dependents();
        kc.check_dep_loops()?;
        Ok(kc)
    }

    /// Convenience: loads with `SRCARCH=<srcarch>` and process-environment
    /// fallback for other variables.
    pub fn load_with_arch(root: &Path, srcarch: &str) -> Result<Kconfig> {
        let mut opts = LoadOptions {
            use_process_env: true,
            ..Default::default()
        };
        opts.vars.insert("SRCARCH".into(), srcarch.into());
        opts.vars.insert("ARCH".into(), srcarch.into());
        Kconfig::load(root, &opts)
    }

    // ------------------------------------------------------------------
    // Accessors
    // ------------------------------------------------------------------

    /// All warnings collected so far (parse, sanity, .config loading and
    /// evaluation warnings), without clearing them.
    pub fn warnings(&self) -> Vec<Warning> {
        self.warnings.borrow().clone()
    }

    /// Returns and clears the collected warnings.
    pub fn take_warnings(&self) -> Vec<Warning> {
        std::mem::take(&mut *self.warnings.borrow_mut())
    }

    /// Dependency loops hit during evaluation (should be empty: loops are
    /// rejected at load time).
    pub fn loop_errors(&self) -> Vec<String> {
        self.loop_errors.borrow().iter().cloned().collect()
    }

    pub fn sym(&self, s: SymId) -> &Symbol {
        &self.syms[s.idx()]
    }

    pub fn choice(&self, c: ChoiceId) -> &Choice {
        &self.choices[c.idx()]
    }

    pub fn node(&self, n: NodeId) -> &MenuNode {
        &self.nodes[n.idx()]
    }

    /// Looks up a (non-constant) symbol by name.
    pub fn sym_by_name(&self, name: &str) -> Option<SymId> {
        self.sym_map.get(name).copied()
    }

    /// Defined symbols in definition order (each once).
    pub fn unique_defined_syms(&self) -> &[SymId] {
        &self.unique_defined
    }

    /// Choices in definition order (each once).
    pub fn all_choices(&self) -> &[ChoiceId] {
        &self.unique_choices
    }

    /// The `mainmenu` title (or "Main menu").
    pub fn mainmenu_text(&self) -> String {
        self.nodes[self.top.idx()]
            .prompt
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_default()
    }

    pub fn sym_has_prompt(&self, s: SymId) -> bool {
        self.syms[s.idx()]
            .nodes
            .iter()
            .any(|n| self.nodes[n.idx()].prompt.is_some())
    }

    /// Resolved symbols for the cargo bridge, in definition order.
    pub fn symbols(&self) -> impl Iterator<Item = SymbolInfo> + '_ {
        self.unique_defined.iter().map(move |&s| SymbolInfo {
            name: self.syms[s.idx()].name.clone(),
            ty: self.syms[s.idx()].orig_type,
            value: self.sym_str(s),
            has_prompt: self.sym_has_prompt(s),
            visible: self.sym_vis(s) != 0,
            written: self.write_to_conf(s),
        })
    }

    pub(crate) fn locs(&self, nodes: &[NodeId]) -> String {
        if nodes.is_empty() {
            return "(undefined)".into();
        }
        format!(
            "(defined at {})",
            nodes
                .iter()
                .map(|n| format!(
                    "{}:{}",
                    self.nodes[n.idx()].filename,
                    self.nodes[n.idx()].linenr
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// `NAME (defined at file:line, ...)`.
    pub fn sym_name_and_loc(&self, s: SymId) -> String {
        format!(
            "{} {}",
            self.syms[s.idx()].name,
            self.locs(&self.syms[s.idx()].nodes)
        )
    }

    pub fn choice_name_and_loc(&self, c: ChoiceId) -> String {
        format!(
            "{} {}",
            self.choice_display_name(c),
            self.locs(&self.choices[c.idx()].nodes)
        )
    }

    // ------------------------------------------------------------------
    // Sanity checks and dependency loops
    // ------------------------------------------------------------------

    fn check_sym_sanity(&mut self) -> Result<()> {
        let num_ok = |kc: &Kconfig, s: SymId, t: SymType| -> bool {
            let sym = &kc.syms[s.idx()];
            if sym.nodes.is_empty() {
                return py_int(&sym.name, t.base()).is_some();
            }
            sym.orig_type == t
        };
        for &s in &self.unique_defined.clone() {
            let sym = self.syms[s.idx()].clone();
            let nl = self.sym_name_and_loc(s);
            if sym.orig_type.is_bool_tristate() {
                for (what, list) in [("selects", &sym.selects), ("implies", &sym.implies)] {
                    for (t, _) in list {
                        let tt = self.syms[t.idx()].orig_type;
                        if !(tt.is_bool_tristate() || tt == SymType::Unknown) {
                            let m = format!(
                                "{} {} the {} symbol {}, which is not bool or tristate",
                                nl,
                                what,
                                tt,
                                self.sym_name_and_loc(*t)
                            );
                            self.warn_eval(m);
                        }
                    }
                }
            } else if sym.orig_type != SymType::Unknown {
                for (d, _) in &sym.defaults {
                    let ds = match d {
                        Expr::Sym(ds) => *ds,
                        _ => {
                            return Err(Error::new(format!(
                                "the {} symbol {} has a malformed default {} -- expected a single symbol",
                                sym.orig_type,
                                nl,
                                self.expr_str(d)
                            )))
                        }
                    };
                    let dsym = &self.syms[ds.idx()];
                    if sym.orig_type == SymType::String {
                        if !dsym.is_constant
                            && dsym.nodes.is_empty()
                            && dsym.name.to_uppercase() != dsym.name
                        {
                            let m = format!("style: quotes recommended around default value for string symbol {}", nl);
                            self.warn_eval(m);
                        }
                    } else if !num_ok(self, ds, sym.orig_type) {
                        let m = format!(
                            "the {0} symbol {1} has a non-{0} default {2}",
                            sym.orig_type,
                            nl,
                            self.sym_name_and_loc(ds)
                        );
                        self.warn_eval(m);
                    }
                }
                if !sym.selects.is_empty() || !sym.implies.is_empty() {
                    let m = format!("the {} symbol {} has selects or implies", sym.orig_type, nl);
                    self.warn_eval(m);
                }
            } else {
                let m = format!("{} defined without a type", nl);
                self.warn_eval(m);
            }
            if !sym.ranges.is_empty() {
                if !sym.orig_type.is_int_hex() {
                    let m = format!(
                        "the {} symbol {} has ranges, but is not int or hex",
                        sym.orig_type, nl
                    );
                    self.warn_eval(m);
                } else {
                    for (lo, hi, _) in &sym.ranges {
                        if !num_ok(self, *lo, sym.orig_type) || !num_ok(self, *hi, sym.orig_type) {
                            let m = format!(
                                "the {0} symbol {1} has a non-{0} range [{2}, {3}]",
                                sym.orig_type,
                                nl,
                                self.sym_name_and_loc(*lo),
                                self.sym_name_and_loc(*hi)
                            );
                            self.warn_eval(m);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check_choice_sanity(&mut self) -> Result<()> {
        for &c in &self.unique_choices.clone() {
            let ch = self.choices[c.idx()].clone();
            let nl = self.choice_name_and_loc(c);
            if !ch.orig_type.is_bool_tristate() {
                self.warn_eval(format!("{} defined with type {}", nl, ch.orig_type));
            }
            if !ch
                .nodes
                .iter()
                .any(|n| self.nodes[n.idx()].prompt.is_some())
            {
                self.warn_eval(format!("{} defined without a prompt", nl));
            }
            for (d, _) in &ch.defaults {
                match d {
                    Expr::Sym(ds) => {
                        if self.syms[ds.idx()].choice != Some(c) {
                            let m = format!(
                                "the default selection {} of {} is not contained in the choice",
                                self.sym_name_and_loc(*ds),
                                nl
                            );
                            self.warn_eval(m);
                        }
                    }
                    _ => {
                        return Err(Error::new(format!(
                            "{} has a malformed default {}",
                            nl,
                            self.expr_str(d)
                        )))
                    }
                }
            }
            for &s in &ch.syms {
                let sym = self.syms[s.idx()].clone();
                let snl = self.sym_name_and_loc(s);
                if !sym.defaults.is_empty() {
                    self.warn_eval(format!(
                        "default on the choice symbol {} will have no effect, as defaults do not affect choice symbols",
                        snl
                    ));
                }
                for (dep, what) in [(&sym.rev_dep, "selected"), (&sym.weak_rev_dep, "implied")] {
                    if *dep != Expr::Sym(self.n) {
                        let mut msg = format!(
                            "the choice symbol {} is {} by the following symbols, but select/imply has no effect on choice symbols",
                            snl, what
                        );
                        for si in eval::split_expr(dep, true) {
                            if let Expr::Sym(x) = eval::split_expr(si, false)[0] {
                                msg.push_str(&format!("\n - {}", self.sym_name_and_loc(*x)));
                            }
                        }
                        self.warn_eval(msg);
                    }
                }
                for n in &sym.nodes {
                    let node = &self.nodes[n.idx()];
                    let in_choice = node
                        .parent
                        .map(|p| self.nodes[p.idx()].kind == NodeKind::Choice(c))
                        .unwrap_or(false);
                    if in_choice {
                        if node.prompt.is_none() {
                            self.warn_eval(format!("the choice symbol {} has no prompt", snl));
                        }
                    } else if node.prompt.is_some() {
                        self.warn_eval(format!(
                            "the choice symbol {} is defined with a prompt outside the choice",
                            snl
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn build_dependents(&mut self) {
        fn collect(e: &Expr, out: &mut Vec<Item>, kc: &Kconfig) {
            match e {
                Expr::Sym(s) => {
                    if !kc.syms[s.idx()].is_constant {
                        out.push(Item::Sym(*s))
                    }
                }
                Expr::Choice(c) => out.push(Item::Choice(*c)),
                Expr::Not(a) => collect(a, out, kc),
                Expr::And(a, b) | Expr::Or(a, b) => {
                    collect(a, out, kc);
                    collect(b, out, kc);
                }
                Expr::Rel(_, a, b) => {
                    collect(&Expr::Sym(*a), out, kc);
                    collect(&Expr::Sym(*b), out, kc);
                }
            }
        }
        let mut edges: Vec<(Item, Item)> = Vec::new();
        for &s in &self.unique_defined {
            let sym = &self.syms[s.idx()];
            let mut deps = Vec::new();
            for n in &sym.nodes {
                if let Some((_, c)) = &self.nodes[n.idx()].prompt {
                    collect(c, &mut deps, self);
                }
            }
            for (v, c) in &sym.defaults {
                collect(v, &mut deps, self);
                collect(c, &mut deps, self);
            }
            collect(&sym.rev_dep, &mut deps, self);
            collect(&sym.weak_rev_dep, &mut deps, self);
            for (lo, hi, c) in &sym.ranges {
                collect(&Expr::Sym(*lo), &mut deps, self);
                collect(&Expr::Sym(*hi), &mut deps, self);
                collect(c, &mut deps, self);
            }
            collect(&sym.direct_dep, &mut deps, self);
            for d in deps {
                edges.push((d, Item::Sym(s)));
            }
        }
        for &c in &self.unique_choices {
            let ch = &self.choices[c.idx()];
            let mut deps = Vec::new();
            for n in &ch.nodes {
                if let Some((_, cond)) = &self.nodes[n.idx()].prompt {
                    collect(cond, &mut deps, self);
                }
            }
            for (_, cond) in &ch.defaults {
                collect(cond, &mut deps, self);
            }
            for d in deps {
                edges.push((d, Item::Choice(c)));
            }
        }
        for (from, to) in edges {
            let list = match from {
                Item::Sym(s) => &mut self.syms[s.idx()].dependents,
                Item::Choice(c) => &mut self.choices[c.idx()].dependents,
            };
            if !list.contains(&to) {
                list.push(to);
            }
        }
    }

    fn check_dep_loops(&self) -> Result<()> {
        // 0 = unvisited, 1 = on the stack, 2 = done
        let mut sv = vec![0u8; self.syms.len()];
        let mut cv = vec![0u8; self.choices.len()];
        for &s in &self.unique_defined {
            if let Some(lp) = self.loop_sym(s, false, &mut sv, &mut cv) {
                return Err(self.loop_error(lp.items));
            }
        }
        Ok(())
    }

    fn loop_sym(
        &self,
        s: SymId,
        ignore_choice: bool,
        sv: &mut [u8],
        cv: &mut [u8],
    ) -> Option<DepLoop> {
        match sv[s.idx()] {
            2 => return None,
            1 => {
                return Some(DepLoop {
                    items: vec![Item::Sym(s)],
                    complete: false,
                })
            }
            _ => {}
        }
        sv[s.idx()] = 1;
        for dep in &self.syms[s.idx()].dependents {
            let lp = match *dep {
                Item::Sym(d) => self.loop_sym(d, false, sv, cv),
                Item::Choice(c) => self.loop_choice(c, None, sv, cv),
            };
            if let Some(lp) = lp {
                return Some(lp.extend(Item::Sym(s)));
            }
        }
        if let (Some(c), false) = (self.syms[s.idx()].choice, ignore_choice) {
            if let Some(lp) = self.loop_choice(c, Some(s), sv, cv) {
                return Some(lp.extend(Item::Sym(s)));
            }
        }
        sv[s.idx()] = 2;
        None
    }

    fn loop_choice(
        &self,
        c: ChoiceId,
        skip: Option<SymId>,
        sv: &mut [u8],
        cv: &mut [u8],
    ) -> Option<DepLoop> {
        match cv[c.idx()] {
            2 => return None,
            1 => {
                return Some(DepLoop {
                    items: vec![Item::Choice(c)],
                    complete: false,
                })
            }
            _ => {}
        }
        cv[c.idx()] = 1;
        for &s in &self.choices[c.idx()].syms {
            if Some(s) != skip {
                if let Some(lp) = self.loop_sym(s, true, sv, cv) {
                    return Some(lp.extend(Item::Choice(c)));
                }
            }
        }
        cv[c.idx()] = 2;
        None
    }

    fn loop_error(&self, items: Vec<Item>) -> Error {
        let name = |i: &Item| match i {
            Item::Sym(s) => self.sym_name_and_loc(*s),
            Item::Choice(c) => self.choice_name_and_loc(*c),
        };
        let mut msg = String::from("dependency loop detected:\n");
        for (i, it) in items.iter().enumerate() {
            if i == 0 {
                msg.push_str(&format!("  {}\n", name(it)));
            } else {
                msg.push_str(&format!("  ...depends on {}\n", name(it)));
            }
        }
        msg.push_str(&format!("  ...depends again on {}", name(&items[0])));
        Error::new(msg)
    }
}

struct DepLoop {
    items: Vec<Item>,
    complete: bool,
}

impl DepLoop {
    fn extend(mut self, cur: Item) -> DepLoop {
        if !self.complete {
            if self.items[0] == cur {
                self.complete = true;
            } else {
                self.items.push(cur);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests;
