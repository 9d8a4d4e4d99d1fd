//! Value computation with Linux/kconfiglib semantics.
//!
//! Values are computed lazily and cached; the cache is dropped whenever a
//! user value changes (the trees we deal with are small, so there is no
//! fine-grained invalidation).

use std::collections::HashSet;

use crate::model::*;
use crate::Kconfig;

#[derive(Default, Debug, Clone)]
pub(crate) struct Cache {
    sym_tri: Vec<Option<u8>>,
    sym_str: Vec<Option<String>>,
    sym_vis: Vec<Option<u8>>,
    write_to_conf: Vec<bool>,
    choice_vis: Vec<Option<u8>>,
    choice_sel: Vec<Option<Option<SymId>>>,
    busy: HashSet<(u8, u32)>,
}

impl Cache {
    pub(crate) fn new(nsyms: usize, nchoices: usize) -> Self {
        Cache {
            sym_tri: vec![None; nsyms],
            sym_str: vec![None; nsyms],
            sym_vis: vec![None; nsyms],
            write_to_conf: vec![false; nsyms],
            choice_vis: vec![None; nchoices],
            choice_sel: vec![None; nchoices],
            busy: HashSet::new(),
        }
    }
}

const K_TRI: u8 = 0;
const K_STR: u8 = 1;
const K_VIS: u8 = 2;
const K_CVIS: u8 = 3;
const K_CSEL: u8 = 4;

impl Kconfig {
    pub(crate) fn invalidate(&self) {
        *self.cache.borrow_mut() = Cache::new(self.syms.len(), self.choices.len());
    }

    fn enter(&self, kind: u8, id: u32) -> bool {
        let fresh = self.cache.borrow_mut().busy.insert((kind, id));
        if !fresh {
            let what = match kind {
                K_CVIS | K_CSEL => self.choice_display_name(ChoiceId(id)),
                _ => self.syms[id as usize].name.clone(),
            };
            self.loop_errors
                .borrow_mut()
                .insert(format!("dependency loop while evaluating {}", what));
        }
        fresh
    }

    fn leave(&self, kind: u8, id: u32) {
        self.cache.borrow_mut().busy.remove(&(kind, id));
    }

    /// The effective type of a symbol: tristate degrades to bool when
    /// MODULES is n or when the symbol sits in a y-mode choice.
    pub fn sym_type(&self, s: SymId) -> SymType {
        let sym = &self.syms[s.idx()];
        if sym.orig_type == SymType::Tristate {
            if let Some(c) = sym.choice {
                if self.choice_tri(c) == 2 {
                    return SymType::Bool;
                }
            }
            if s != self.modules && self.sym_tri(self.modules) == 0 {
                return SymType::Bool;
            }
        }
        sym.orig_type
    }

    /// The effective type of a choice.
    pub fn choice_type(&self, c: ChoiceId) -> SymType {
        let ch = &self.choices[c.idx()];
        if ch.orig_type == SymType::Tristate && self.sym_tri(self.modules) == 0 {
            return SymType::Bool;
        }
        ch.orig_type
    }

    /// Evaluates an expression to n/m/y (0/1/2).
    pub fn eval(&self, e: &Expr) -> u8 {
        match e {
            Expr::Sym(s) => self.sym_tri(*s),
            Expr::Choice(c) => self.choice_tri(*c),
            Expr::And(a, b) => {
                let v1 = self.eval(a);
                if v1 == 0 {
                    0
                } else {
                    v1.min(self.eval(b))
                }
            }
            Expr::Or(a, b) => {
                let v1 = self.eval(a);
                if v1 == 2 {
                    2
                } else {
                    v1.max(self.eval(b))
                }
            }
            Expr::Not(a) => 2 - self.eval(a),
            Expr::Rel(op, a, b) => {
                let ta = self.syms[a.idx()].orig_type;
                let tb = self.syms[b.idx()].orig_type;
                let comp = if ta == SymType::String && tb == SymType::String {
                    self.sym_str(*a).cmp(&self.sym_str(*b))
                } else {
                    match self
                        .sym_to_num(*a)
                        .and_then(|x| self.sym_to_num(*b).map(|y| (x, y)))
                    {
                        Some((x, y)) => x.cmp(&y),
                        None => self.sym_str(*a).cmp(&self.sym_str(*b)),
                    }
                };
                use std::cmp::Ordering::*;
                let r = match op {
                    RelOp::Eq => comp == Equal,
                    RelOp::Ne => comp != Equal,
                    RelOp::Lt => comp == Less,
                    RelOp::Le => comp != Greater,
                    RelOp::Gt => comp == Greater,
                    RelOp::Ge => comp != Less,
                };
                if r {
                    2
                } else {
                    0
                }
            }
        }
    }

    fn sym_to_num(&self, s: SymId) -> Option<i128> {
        let t = self.syms[s.idx()].orig_type;
        if t.is_bool_tristate() {
            Some(self.sym_tri(s) as i128)
        } else {
            py_int(&self.sym_str(s), t.base())
        }
    }

    fn prompt_vis(&self, nodes: &[NodeId]) -> u8 {
        let mut vis = 0;
        for n in nodes {
            if let Some((_, cond)) = &self.nodes[n.idx()].prompt {
                vis = vis.max(self.eval(cond));
            }
        }
        vis
    }

    /// Visibility of a symbol (upper bound for user values).
    pub fn sym_vis(&self, s: SymId) -> u8 {
        if let Some(v) = self.cache.borrow().sym_vis[s.idx()] {
            return v;
        }
        if !self.enter(K_VIS, s.0) {
            return 0;
        }
        let v = self.compute_sym_vis(s);
        self.leave(K_VIS, s.0);
        self.cache.borrow_mut().sym_vis[s.idx()] = Some(v);
        v
    }

    fn compute_sym_vis(&self, s: SymId) -> u8 {
        let sym = &self.syms[s.idx()];
        let vis = self.prompt_vis(&sym.nodes);
        if let Some(c) = sym.choice {
            let ct = self.choices[c.idx()].orig_type;
            if ct == SymType::Tristate
                && sym.orig_type != SymType::Tristate
                && self.choice_tri(c) != 2
            {
                return 0;
            }
            if sym.orig_type == SymType::Tristate && vis == 1 && self.choice_tri(c) == 2 {
                return 0;
            }
        }
        if vis == 1 && self.sym_type(s) != SymType::Tristate {
            return 2;
        }
        vis
    }

    /// Visibility of a choice.
    pub fn choice_vis(&self, c: ChoiceId) -> u8 {
        if let Some(v) = self.cache.borrow().choice_vis[c.idx()] {
            return v;
        }
        if !self.enter(K_CVIS, c.0) {
            return 0;
        }
        let mut vis = self.prompt_vis(&self.choices[c.idx()].nodes);
        if vis == 1 && self.choice_type(c) != SymType::Tristate {
            vis = 2;
        }
        self.leave(K_CVIS, c.0);
        self.cache.borrow_mut().choice_vis[c.idx()] = Some(vis);
        vis
    }

    /// Mode of a choice (n/m/y).
    pub fn choice_tri(&self, c: ChoiceId) -> u8 {
        let ch = &self.choices[c.idx()];
        let mut val = if ch.is_optional { 0 } else { 1 };
        if let Some(u) = ch.user_value {
            val = val.max(u);
        }
        val = val.min(self.choice_vis(c));
        if val == 1 && self.choice_type(c) == SymType::Bool {
            2
        } else {
            val
        }
    }

    /// The selected symbol of a y-mode choice.
    pub fn choice_selection(&self, c: ChoiceId) -> Option<SymId> {
        if let Some(v) = self.cache.borrow().choice_sel[c.idx()] {
            return v;
        }
        if !self.enter(K_CSEL, c.0) {
            return None;
        }
        let v = if self.choice_tri(c) != 2 {
            None
        } else {
            match self.choices[c.idx()].user_selection {
                Some(u) if self.sym_vis(u) != 0 => Some(u),
                _ => self.choice_selection_from_defaults(c),
            }
        };
        self.leave(K_CSEL, c.0);
        self.cache.borrow_mut().choice_sel[c.idx()] = Some(v);
        v
    }

    /// The symbol a choice would select without a user selection.
    pub fn choice_selection_from_defaults(&self, c: ChoiceId) -> Option<SymId> {
        let ch = &self.choices[c.idx()];
        for (d, cond) in &ch.defaults {
            if let Expr::Sym(s) = d {
                if self.eval(cond) != 0 && self.sym_vis(*s) != 0 {
                    return Some(*s);
                }
            }
        }
        ch.syms.iter().copied().find(|&s| self.sym_vis(s) != 0)
    }

    /// Tristate value of a symbol (0 for non-bool/tristate symbols).
    pub fn sym_tri(&self, s: SymId) -> u8 {
        let sym = &self.syms[s.idx()];
        if sym.is_constant {
            return if s == self.y {
                2
            } else if s == self.m {
                1
            } else {
                0
            };
        }
        if let Some(v) = self.cache.borrow().sym_tri[s.idx()] {
            return v;
        }
        if !sym.orig_type.is_bool_tristate() {
            if sym.orig_type != SymType::Unknown {
                self.warn_eval(format!(
                    "The {} symbol {} is being evaluated in a logical context somewhere. It will always evaluate to n.",
                    sym.orig_type,
                    self.sym_name_and_loc(s)
                ));
            }
            self.cache.borrow_mut().sym_tri[s.idx()] = Some(0);
            return 0;
        }
        if !self.enter(K_TRI, s.0) {
            return 0;
        }
        let (val, wtc) = self.compute_sym_tri(s);
        self.leave(K_TRI, s.0);
        let mut c = self.cache.borrow_mut();
        c.sym_tri[s.idx()] = Some(val);
        c.write_to_conf[s.idx()] = wtc;
        val
    }

    fn compute_sym_tri(&self, s: SymId) -> (u8, bool) {
        let sym = &self.syms[s.idx()];
        let vis = self.sym_vis(s);
        let mut wtc = vis != 0;
        let mut val = 0u8;
        let user_tri = match &sym.user_value {
            Some(UserValue::Tri(u)) => Some(*u),
            _ => None,
        };
        match sym.choice {
            None => {
                if let (true, Some(u)) = (vis != 0, user_tri) {
                    val = u.min(vis);
                } else {
                    for (d, cond) in &sym.defaults {
                        let dv = self.eval(cond);
                        if dv != 0 {
                            val = self.eval(d).min(dv);
                            if val != 0 {
                                wtc = true;
                            }
                            break;
                        }
                    }
                    let dv = self.eval(&sym.weak_rev_dep);
                    if dv != 0 && self.eval(&sym.direct_dep) != 0 {
                        val = val.max(dv);
                        wtc = true;
                    }
                }
                let dv = self.eval(&sym.rev_dep);
                if dv != 0 {
                    if self.eval(&sym.direct_dep) < dv {
                        self.warn_select_unsatisfied_deps(s);
                    }
                    val = val.max(dv);
                    wtc = true;
                }
                if val == 1
                    && (self.sym_type(s) == SymType::Bool || self.eval(&sym.weak_rev_dep) == 2)
                {
                    val = 2;
                }
            }
            Some(c) => {
                if vis == 2 {
                    val = if self.choice_selection(c) == Some(s) {
                        2
                    } else {
                        0
                    };
                } else if vis != 0 && user_tri.unwrap_or(0) != 0 {
                    val = 1;
                }
            }
        }
        (val, wtc)
    }

    /// String value of a symbol ("n"/"m"/"y" for bool/tristate; the name
    /// for undefined and constant symbols).
    pub fn sym_str(&self, s: SymId) -> String {
        let sym = &self.syms[s.idx()];
        if sym.is_constant {
            if s == self.n || s == self.m || s == self.y {
                return tri_str(self.sym_tri(s)).to_string();
            }
            return sym.name.clone();
        }
        if let Some(v) = &self.cache.borrow().sym_str[s.idx()] {
            return v.clone();
        }
        if sym.orig_type.is_bool_tristate() {
            let v = tri_str(self.sym_tri(s)).to_string();
            self.cache.borrow_mut().sym_str[s.idx()] = Some(v.clone());
            return v;
        }
        if sym.orig_type == SymType::Unknown {
            return sym.name.clone();
        }
        if !self.enter(K_STR, s.0) {
            return String::new();
        }
        let (val, wtc) = self.compute_sym_str(s);
        self.leave(K_STR, s.0);
        let mut c = self.cache.borrow_mut();
        c.sym_str[s.idx()] = Some(val.clone());
        c.write_to_conf[s.idx()] = wtc;
        val
    }

    /// The active range of an int/hex symbol, if any.
    pub fn active_range(&self, s: SymId) -> Option<(i128, i128)> {
        let sym = &self.syms[s.idx()];
        let base = sym.orig_type.base();
        for (lo, hi, cond) in &sym.ranges {
            if self.eval(cond) != 0 {
                let low = py_int(&self.sym_str(*lo), base).unwrap_or(0);
                let high = py_int(&self.sym_str(*hi), base).unwrap_or(0);
                return Some((low, high));
            }
        }
        None
    }

    fn compute_sym_str(&self, s: SymId) -> (String, bool) {
        let sym = &self.syms[s.idx()];
        let vis = self.sym_vis(s);
        let mut wtc = vis != 0;
        let mut val = String::new();
        let user_str = match &sym.user_value {
            Some(UserValue::Str(u)) => Some(u.as_str()),
            _ => None,
        };
        if sym.orig_type.is_int_hex() {
            let base = sym.orig_type.base();
            let num2str = |v: i128| if base == 10 { v.to_string() } else { py_hex(v) };
            let range = if sym.ranges.is_empty() {
                None
            } else {
                self.active_range(s)
            };
            let mut use_defaults = true;
            if let (true, Some(u)) = (vis != 0, user_str) {
                if !u.is_empty() {
                    let uv = py_int(u, base).unwrap_or(0);
                    match range {
                        Some((lo, hi)) if !(lo <= uv && uv <= hi) => {
                            self.warn_eval(format!(
                                "user value {} on the {} symbol {} ignored due to being outside the active range ([{}, {}]) -- falling back on defaults",
                                num2str(uv),
                                sym.orig_type,
                                self.sym_name_and_loc(s),
                                num2str(lo),
                                num2str(hi)
                            ));
                        }
                        _ => {
                            val = u.to_string();
                            use_defaults = false;
                        }
                    }
                }
            }
            if use_defaults {
                let mut has_default = false;
                let mut val_num = 0i128;
                for (d, cond) in &sym.defaults {
                    if self.eval(cond) != 0 {
                        has_default = true;
                        wtc = true;
                        val = self.default_str(d);
                        val_num = py_int(&val, base).unwrap_or(0);
                        break;
                    }
                }
                if let Some((lo, hi)) = range {
                    let clamp = if val_num < lo {
                        Some(lo)
                    } else if val_num > hi {
                        Some(hi)
                    } else {
                        None
                    };
                    if let Some(cl) = clamp {
                        val = if sym.orig_type == SymType::Int {
                            cl.to_string()
                        } else {
                            py_hex(cl)
                        };
                        if has_default {
                            self.warn_eval(format!(
                                "default value {} on {} clamped to {} due to being outside the active range ([{}, {}])",
                                val_num,
                                self.sym_name_and_loc(s),
                                num2str(cl),
                                num2str(lo),
                                num2str(hi)
                            ));
                        }
                    }
                }
            }
        } else if sym.orig_type == SymType::String {
            match (vis != 0, user_str) {
                (true, Some(u)) => val = u.to_string(),
                _ => {
                    for (d, cond) in &sym.defaults {
                        if self.eval(cond) != 0 {
                            val = self.default_str(d);
                            wtc = true;
                            break;
                        }
                    }
                }
            }
        }
        if sym.env_var.is_some() || sym.is_defconfig_list {
            wtc = false;
        }
        (val, wtc)
    }

    fn default_str(&self, d: &Expr) -> String {
        match d {
            Expr::Sym(x) => self.sym_str(*x),
            // Rejected at load time for non-bool symbols.
            _ => String::new(),
        }
    }

    /// Whether the symbol gets an entry in a .config file.
    pub fn write_to_conf(&self, s: SymId) -> bool {
        let _ = self.sym_str(s);
        self.cache.borrow().write_to_conf[s.idx()]
    }

    fn warn_select_unsatisfied_deps(&self, s: SymId) {
        let sym = &self.syms[s.idx()];
        let dd = self.eval(&sym.direct_dep);
        let mut msg = format!(
            "{} has direct dependencies {} with value {}, but is currently being {}-selected by the following symbols:",
            self.sym_name_and_loc(s),
            self.expr_str(&sym.direct_dep),
            tri_str(dd),
            tri_str(self.eval(&sym.rev_dep))
        );
        for sel in split_expr(&sym.rev_dep, true) {
            if self.eval(sel) <= dd {
                continue;
            }
            let first = split_expr(sel, false)[0];
            if let Expr::Sym(selector) = first {
                let ssym = &self.syms[selector.idx()];
                msg.push_str(&format!(
                    "\n - {}, with value {}, direct dependencies {} (value: {})",
                    self.sym_name_and_loc(*selector),
                    self.sym_str(*selector),
                    self.expr_str(&ssym.direct_dep),
                    tri_str(self.eval(&ssym.direct_dep))
                ));
                if let Expr::And(_, cond) = sel {
                    msg.push_str(&format!(
                        ", and select condition {} (value: {})",
                        self.expr_str(cond),
                        tri_str(self.eval(cond))
                    ));
                }
            }
        }
        self.warn_eval(msg);
    }

    pub(crate) fn warn_eval(&self, msg: String) {
        self.push_warning(Warning {
            file: None,
            line: None,
            msg,
        });
    }

    /// Formats an expression in Kconfig syntax (like kconfiglib's `expr_str`).
    pub fn expr_str(&self, e: &Expr) -> String {
        let sc = |s: &SymId| -> String {
            let sym = &self.syms[s.idx()];
            if sym.is_constant && !(*s == self.n || *s == self.m || *s == self.y) {
                format!("\"{}\"", escape(&sym.name))
            } else {
                sym.name.clone()
            }
        };
        let paren = |e: &Expr, or: bool| -> String {
            let needs = if or {
                matches!(e, Expr::Or(..))
            } else {
                matches!(e, Expr::And(..))
            };
            if needs {
                format!("({})", self.expr_str(e))
            } else {
                self.expr_str(e)
            }
        };
        match e {
            Expr::Sym(s) => sc(s),
            Expr::Choice(c) => self.choice_display_name(*c),
            Expr::And(a, b) => format!("{} && {}", paren(a, true), paren(b, true)),
            Expr::Or(a, b) => format!("{} || {}", paren(a, false), paren(b, false)),
            Expr::Not(a) => match **a {
                Expr::Sym(ref s) => format!("!{}", sc(s)),
                Expr::Choice(c) => format!("!{}", self.choice_display_name(c)),
                _ => format!("!({})", self.expr_str(a)),
            },
            Expr::Rel(op, a, b) => format!("{} {} {}", sc(a), op.as_str(), sc(b)),
        }
    }

    pub(crate) fn choice_display_name(&self, c: ChoiceId) -> String {
        match &self.choices[c.idx()].name {
            Some(n) => format!("<choice {}>", n),
            None => "<choice>".to_string(),
        }
    }

    /// Values a bool/tristate symbol can currently be set to.
    pub fn assignable(&self, s: SymId) -> Vec<u8> {
        let sym = &self.syms[s.idx()];
        if !sym.orig_type.is_bool_tristate() {
            return Vec::new();
        }
        let vis = self.sym_vis(s);
        if vis == 0 {
            return Vec::new();
        }
        let rev = self.eval(&sym.rev_dep);
        let boolish = self.sym_type(s) == SymType::Bool || self.eval(&sym.weak_rev_dep) == 2;
        if vis == 2 {
            if sym.choice.is_some() {
                return vec![2];
            }
            return match rev {
                0 => {
                    if boolish {
                        vec![0, 2]
                    } else {
                        vec![0, 1, 2]
                    }
                }
                2 => vec![2],
                _ => {
                    if boolish {
                        vec![2]
                    } else {
                        vec![1, 2]
                    }
                }
            };
        }
        match rev {
            0 => {
                if self.eval(&sym.weak_rev_dep) != 2 {
                    vec![0, 1]
                } else {
                    vec![0, 2]
                }
            }
            2 => vec![2],
            _ => vec![1],
        }
    }

    /// Values (modes) a choice can currently be set to.
    pub fn choice_assignable(&self, c: ChoiceId) -> Vec<u8> {
        let vis = self.choice_vis(c);
        let ch = &self.choices[c.idx()];
        let boolean = self.choice_type(c) == SymType::Bool;
        match vis {
            0 => vec![],
            2 => match (ch.is_optional, boolean) {
                (false, true) => vec![2],
                (false, false) => vec![1, 2],
                (true, true) => vec![0, 2],
                (true, false) => vec![0, 1, 2],
            },
            _ => {
                if ch.is_optional {
                    vec![0, 1]
                } else {
                    vec![1]
                }
            }
        }
    }

    /// The value the symbol would get from its defaults alone (used for
    /// minimal configs; same algorithm as savedefconfig).
    pub fn str_default(&self, s: SymId) -> String {
        let sym = &self.syms[s.idx()];
        if sym.orig_type.is_bool_tristate() {
            let mut val = 0u8;
            if sym.choice.is_none() {
                for (d, cond) in &sym.defaults {
                    let cv = self.eval(cond);
                    if cv != 0 {
                        val = self.eval(d).min(cv);
                        break;
                    }
                }
                val = val
                    .max(self.eval(&sym.rev_dep))
                    .max(self.eval(&sym.weak_rev_dep));
                if val == 1 && self.sym_type(s) == SymType::Bool {
                    val = 2;
                }
            }
            return tri_str(val).to_string();
        }
        if sym.orig_type != SymType::Unknown {
            for (d, cond) in &sym.defaults {
                if self.eval(cond) != 0 {
                    return self.default_str(d);
                }
            }
        }
        String::new()
    }
}

/// Splits an expression on `||` (or_op = true) or `&&` into its operands.
pub(crate) fn split_expr(e: &Expr, or_op: bool) -> Vec<&Expr> {
    fn rec<'a>(e: &'a Expr, or_op: bool, out: &mut Vec<&'a Expr>) {
        match e {
            Expr::Or(a, b) if or_op => {
                rec(a, or_op, out);
                rec(b, or_op, out);
            }
            Expr::And(a, b) if !or_op => {
                rec(a, or_op, out);
                rec(b, or_op, out);
            }
            _ => out.push(e),
        }
    }
    let mut v = Vec::new();
    rec(e, or_op, &mut v);
    v
}
