//! Terminal configuration UI (ratatui + crossterm).
//!
//! The UI is split into a terminal-independent state machine ([`App`],
//! driven by [`Key`]s and rendered to text lines) and a thin ratatui front
//! end ([`run_tui`]). Keys: arrows/`j`/`k` move, Enter enters menus and
//! edits values, Space toggles, Esc/Backspace/Left go up, `/` searches, `?`
//! shows help, `s` saves, `q` (or Esc at the top) quits, asking
//! "Save changes? (y/n)" if there are unsaved changes.

use std::path::{Path, PathBuf};

use crate::eval::split_expr;
use crate::model::*;
use crate::Kconfig;

/// Terminal-independent key events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Left,
    Right,
    Enter,
    Esc,
    Backspace,
    Char(char),
}

/// One line of the current menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub node: NodeId,
    pub depth: usize,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Menu,
    Input {
        node: NodeId,
        buf: String,
        error: Option<String>,
    },
    Search {
        query: String,
        editing: bool,
        sel: usize,
    },
    Help {
        lines: Vec<String>,
        scroll: usize,
    },
    ConfirmExit,
}

/// What the caller should do after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
}

pub struct App {
    pub kc: Kconfig,
    pub config_path: PathBuf,
    pub header: String,
    /// Menu nodes entered so far (last = current) with the cursor position.
    pub stack: Vec<(NodeId, usize)>,
    pub mode: Mode,
    pub dirty: bool,
    pub status: String,
}

impl App {
    pub fn new(kc: Kconfig, config_path: &Path, header: &str) -> Self {
        let top = kc.top;
        App {
            kc,
            config_path: config_path.to_path_buf(),
            header: header.to_string(),
            stack: vec![(top, 0)],
            mode: Mode::Menu,
            dirty: false,
            status: String::new(),
        }
    }

    fn cur_menu(&self) -> NodeId {
        self.stack.last().unwrap().0
    }

    fn cursor(&self) -> usize {
        self.stack.last().unwrap().1
    }

    fn set_cursor(&mut self, c: usize) {
        self.stack.last_mut().unwrap().1 = c;
    }

    /// Is a node shown (prompt visible; menus also need `visible if`)?
    pub fn node_visible(&self, n: NodeId) -> bool {
        let node = self.kc.node(n);
        match &node.prompt {
            None => false,
            Some((_, cond)) => {
                if self.kc.eval(cond) == 0 {
                    return false;
                }
                if node.kind == NodeKind::Menu && self.kc.eval(&node.visibility) == 0 {
                    return false;
                }
                true
            }
        }
    }

    /// Does a node open its own submenu (menus, menuconfig symbols, choices)?
    fn is_submenu(&self, n: NodeId) -> bool {
        let node = self.kc.node(n);
        match node.kind {
            NodeKind::Menu | NodeKind::Choice(_) => true,
            NodeKind::Symbol(_) => node.is_menuconfig && node.list.is_some(),
            _ => false,
        }
    }

    /// Entries of the current menu (implicit submenus shown indented).
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let menu = self.cur_menu();
        self.collect(self.kc.node(menu).list, 0, &mut out);
        out
    }

    fn collect(&self, first: Option<NodeId>, depth: usize, out: &mut Vec<Entry>) {
        let mut cur = first;
        while let Some(n) = cur {
            if self.node_visible(n) {
                out.push(Entry {
                    node: n,
                    depth,
                    text: self.entry_text(n),
                });
                if !self.is_submenu(n) {
                    self.collect(self.kc.node(n).list, depth + 1, out);
                }
            } else if !self.is_submenu(n) {
                // Children of invisible non-menu nodes may still be visible.
                self.collect(self.kc.node(n).list, depth, out);
            }
            cur = self.kc.node(n).next;
        }
    }

    fn prompt(&self, n: NodeId) -> String {
        self.kc
            .node(n)
            .prompt
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_default()
    }

    fn entry_text(&self, n: NodeId) -> String {
        let node = self.kc.node(n);
        let prompt = self.prompt(n);
        let arrow = if self.is_submenu(n) { "  --->" } else { "" };
        match node.kind {
            NodeKind::Menu => format!("    {}{}", prompt, arrow),
            NodeKind::Comment => format!("    *** {} ***", prompt),
            NodeKind::Choice(c) => {
                let sel = self
                    .kc
                    .choice_selection(c)
                    .map(|s| self.sym_prompt(s))
                    .unwrap_or_default();
                let mode = if self.kc.choice(c).is_optional {
                    if self.kc.choice_tri(c) == 2 {
                        "[*] "
                    } else {
                        "[ ] "
                    }
                } else {
                    "    "
                };
                if sel.is_empty() {
                    format!("{}{}{}", mode, prompt, arrow)
                } else {
                    format!("{}{} ({}){}", mode, prompt, sel, arrow)
                }
            }
            NodeKind::Symbol(s) => {
                let sym = self.kc.sym(s);
                let val = self.kc.sym_str(s);
                let marker = match sym.orig_type {
                    SymType::Bool | SymType::Tristate => {
                        if let Some(_c) = sym.choice {
                            if self.kc.sym_tri(s) == 2 {
                                "(X)".to_string()
                            } else if self.kc.sym_tri(s) == 1 {
                                "{M}".to_string()
                            } else {
                                "( )".to_string()
                            }
                        } else {
                            let changeable = self.kc.assignable(s).len() > 1;
                            let tri = self.kc.sym_type(s) == SymType::Tristate;
                            let (l, r) = match (changeable, tri) {
                                (true, false) => ('[', ']'),
                                (true, true) => ('<', '>'),
                                (false, _) => ('-', '-'),
                            };
                            let mid = match val.as_str() {
                                "y" => '*',
                                "m" => 'M',
                                _ => ' ',
                            };
                            format!("{}{}{}", l, mid, r)
                        }
                    }
                    _ => format!("({})", val),
                };
                format!("{} {}{}", marker, prompt, arrow)
            }
            NodeKind::If => String::new(),
        }
    }

    fn sym_prompt(&self, s: SymId) -> String {
        self.kc
            .sym(s)
            .nodes
            .iter()
            .find_map(|n| self.kc.node(*n).prompt.as_ref().map(|p| p.0.clone()))
            .unwrap_or_else(|| self.kc.sym(s).name.clone())
    }

    /// Breadcrumb of the current menu.
    pub fn title(&self) -> String {
        self.stack
            .iter()
            .map(|(n, _)| self.prompt(*n))
            .collect::<Vec<_>>()
            .join(" > ")
    }

    /// "Main menu > A > B" location of a node (its enclosing menus).
    pub fn location(&self, n: NodeId) -> String {
        let mut parts = Vec::new();
        let mut cur = self.kc.node(n).parent;
        while let Some(p) = cur {
            let pn = self.kc.node(p);
            if let Some((t, _)) = &pn.prompt {
                parts.push(t.clone());
            }
            cur = pn.parent;
        }
        parts.reverse();
        parts.join(" > ")
    }

    fn save(&mut self) {
        match self.kc.write_config(&self.config_path, &self.header) {
            Ok(msg) => {
                self.dirty = false;
                self.status = msg;
            }
            Err(e) => self.status = format!("error: {}", e),
        }
    }

    fn changed(&mut self) {
        self.dirty = true;
        self.status.clear();
    }

    /// Toggles/cycles the value of the node (bool/tristate/choice member,
    /// optional choice mode).
    fn toggle(&mut self, n: NodeId) {
        match self.kc.node(n).kind {
            NodeKind::Symbol(s) => {
                let sym = self.kc.sym(s);
                if !sym.orig_type.is_bool_tristate() {
                    return;
                }
                if let Some(c) = sym.choice {
                    if self.kc.choice_tri(c) == 2 {
                        if self.kc.sym_tri(s) != 2 {
                            self.kc.set_value(s, "y");
                            self.changed();
                        }
                    } else {
                        let v = if self.kc.sym_tri(s) == 1 { "n" } else { "m" };
                        self.kc.set_value(s, v);
                        self.changed();
                    }
                    return;
                }
                let a = self.kc.assignable(s);
                if a.len() <= 1 {
                    self.status = format!(
                        "{} cannot be changed (selected or not visible)",
                        self.kc.sym(s).name
                    );
                    return;
                }
                let cur = self.kc.sym_tri(s);
                let next = a.iter().copied().find(|&v| v > cur).unwrap_or(a[0]);
                self.kc.set_value(s, tri_str(next));
                self.changed();
            }
            NodeKind::Choice(c) => {
                let a = self.kc.choice_assignable(c);
                if a.len() <= 1 {
                    return;
                }
                let cur = self.kc.choice_tri(c);
                let next = a.iter().copied().find(|&v| v > cur).unwrap_or(a[0]);
                self.kc.set_choice_value(c, tri_str(next));
                self.changed();
            }
            _ => {}
        }
    }

    fn enter(&mut self, n: NodeId) {
        if self.is_submenu(n) {
            self.stack.push((n, 0));
            return;
        }
        if let NodeKind::Symbol(s) = self.kc.node(n).kind {
            let sym = self.kc.sym(s);
            if sym.orig_type.is_bool_tristate() {
                self.toggle(n);
            } else if matches!(sym.orig_type, SymType::Int | SymType::Hex | SymType::String) {
                self.mode = Mode::Input {
                    node: n,
                    buf: self.kc.sym_str(s),
                    error: None,
                };
            }
        }
    }

    /// Validates an input value for a symbol; returns an error message.
    pub fn validate(&self, s: SymId, v: &str) -> Option<String> {
        let sym = self.kc.sym(s);
        let base = match sym.orig_type {
            SymType::Int => 10,
            SymType::Hex => 16,
            _ => return None,
        };
        let num = match py_int(v, base) {
            Some(n) if !(base == 16 && n < 0) => n,
            _ => {
                return Some(format!("'{}' is not a valid {} value", v, sym.orig_type));
            }
        };
        if let Some((lo, hi)) = self.kc.active_range(s) {
            if num < lo || num > hi {
                let f = |x: i128| if base == 10 { x.to_string() } else { py_hex(x) };
                return Some(format!("{} is outside the range [{}, {}]", v, f(lo), f(hi)));
            }
        }
        None
    }

    fn go_up(&mut self) -> Action {
        if self.stack.len() > 1 {
            self.stack.pop();
            Action::None
        } else {
            self.request_quit()
        }
    }

    fn request_quit(&mut self) -> Action {
        if self.dirty {
            self.mode = Mode::ConfirmExit;
            Action::None
        } else {
            Action::Quit
        }
    }

    /// Search results for a query: symbols whose name or prompt contains it
    /// (case-insensitive), one per definition node.
    pub fn search(&self, query: &str) -> Vec<NodeId> {
        let q = query.to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for &s in self.kc.unique_defined_syms() {
            let sym = self.kc.sym(s);
            for &n in &sym.nodes {
                let p = self.prompt(n).to_lowercase();
                if sym.name.to_lowercase().contains(&q) || p.contains(&q) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// Text lines describing a search hit.
    pub fn search_lines(&self, n: NodeId) -> Vec<String> {
        let node = self.kc.node(n);
        let mut v = Vec::new();
        if let NodeKind::Symbol(s) = node.kind {
            let sym = self.kc.sym(s);
            v.push(format!("Symbol: {} [={}]", sym.name, self.kc.sym_str(s)));
            v.push(format!(
                "  Prompt: {}",
                node.prompt
                    .as_ref()
                    .map(|p| p.0.as_str())
                    .unwrap_or("(none)")
            ));
            v.push(format!("  Location: {}", self.location(n)));
            v.push(format!(
                "  Depends on: {}",
                self.expr_with_values(&sym.direct_dep)
            ));
            if !self.node_visible(n) {
                v.push("  (currently hidden)".to_string());
            }
        }
        v
    }

    fn expr_with_values(&self, e: &Expr) -> String {
        let s = self.kc.expr_str(e);
        format!("{} [={}]", s, tri_str(self.kc.eval(e)))
    }

    /// Help text lines for a node.
    pub fn help_lines(&self, n: NodeId) -> Vec<String> {
        let node = self.kc.node(n);
        let mut v = Vec::new();
        let help = node.help.clone().unwrap_or_default();
        match node.kind {
            NodeKind::Symbol(s) => {
                let sym = self.kc.sym(s);
                v.push(format!("Symbol: {}", sym.name));
                v.push(format!("Type: {}", sym.orig_type));
                v.push(format!("Value: {}", self.kc.sym_str(s)));
                if let Some((p, _)) = &node.prompt {
                    v.push(format!("Prompt: {}", p));
                }
                if let Some(st) = status_line(&help) {
                    v.push(format!("Status: {}", st));
                }
                v.push(format!("Location: {}", self.location(n)));
                v.push(format!("Defined at {}:{}", node.filename, node.linenr));
                v.push(format!(
                    "Depends on: {}",
                    self.expr_with_values(&sym.direct_dep)
                ));
                if let Some((lo, hi)) = self.kc.active_range(s) {
                    let f = |x: i128| {
                        if sym.orig_type == SymType::Hex {
                            py_hex(x)
                        } else {
                            x.to_string()
                        }
                    };
                    v.push(format!("Range: [{}, {}]", f(lo), f(hi)));
                }
                let list = |items: &[(SymId, Expr)]| -> Vec<String> {
                    items
                        .iter()
                        .map(|(t, c)| {
                            if *c == Expr::Sym(self.kc.y) {
                                format!("{} [={}]", self.kc.sym(*t).name, self.kc.sym_str(*t))
                            } else {
                                format!(
                                    "{} [={}] if {}",
                                    self.kc.sym(*t).name,
                                    self.kc.sym_str(*t),
                                    self.kc.expr_str(c)
                                )
                            }
                        })
                        .collect()
                };
                let sel = list(&sym.selects);
                if !sel.is_empty() {
                    v.push(format!("Selects: {}", sel.join(", ")));
                }
                let imp = list(&sym.implies);
                if !imp.is_empty() {
                    v.push(format!("Implies: {}", imp.join(", ")));
                }
                let rev = |e: &Expr| -> Vec<String> {
                    if *e == Expr::Sym(self.kc.n) {
                        return Vec::new();
                    }
                    split_expr(e, true)
                        .into_iter()
                        .map(|x| format!("{} [={}]", self.kc.expr_str(x), tri_str(self.kc.eval(x))))
                        .collect()
                };
                let sb = rev(&sym.rev_dep);
                if !sb.is_empty() {
                    v.push(format!("Selected by: {}", sb.join(" || ")));
                }
                let ib = rev(&sym.weak_rev_dep);
                if !ib.is_empty() {
                    v.push(format!("Implied by: {}", ib.join(" || ")));
                }
            }
            NodeKind::Choice(c) => {
                v.push(format!("Choice: {}", self.prompt(n)));
                v.push(format!("Mode: {}", tri_str(self.kc.choice_tri(c))));
                if let Some(s) = self.kc.choice_selection(c) {
                    v.push(format!("Selection: {}", self.kc.sym(s).name));
                }
                if let Some(st) = status_line(&help) {
                    v.push(format!("Status: {}", st));
                }
                v.push(format!("Location: {}", self.location(n)));
                v.push(format!("Depends on: {}", self.expr_with_values(&node.dep)));
            }
            _ => {
                v.push(self.prompt(n));
                v.push(format!("Location: {}", self.location(n)));
                v.push(format!("Depends on: {}", self.expr_with_values(&node.dep)));
            }
        }
        v.push(String::new());
        if help.is_empty() {
            v.push("There is no help available for this option.".into());
        } else {
            v.extend(help.lines().map(|l| l.to_string()));
        }
        v
    }

    /// Moves the menu view to the node (used when picking a search hit).
    fn jump_to(&mut self, n: NodeId) {
        // Build the chain of submenus leading to n.
        let mut chain = Vec::new();
        let mut cur = self.kc.node(n).parent;
        while let Some(p) = cur {
            if p == self.kc.top || self.is_submenu(p) {
                chain.push(p);
            }
            cur = self.kc.node(p).parent;
        }
        chain.reverse();
        self.stack = chain.into_iter().map(|p| (p, 0)).collect();
        if self.stack.is_empty() {
            self.stack.push((self.kc.top, 0));
        }
        if let Some(i) = self.entries().iter().position(|e| e.node == n) {
            self.set_cursor(i);
        }
    }

    /// Feeds one key to the state machine.
    pub fn handle_key(&mut self, key: Key) -> Action {
        match self.mode.clone() {
            Mode::ConfirmExit => match key {
                Key::Char('y') | Key::Char('Y') => {
                    self.save();
                    if self.dirty {
                        self.mode = Mode::Menu;
                        Action::None
                    } else {
                        Action::Quit
                    }
                }
                Key::Char('n') | Key::Char('N') => Action::Quit,
                Key::Esc => {
                    self.mode = Mode::Menu;
                    Action::None
                }
                _ => Action::None,
            },
            Mode::Help { lines, scroll } => {
                match key {
                    Key::Down | Key::Char('j') => {
                        self.mode = Mode::Help {
                            scroll: (scroll + 1).min(lines.len().saturating_sub(1)),
                            lines,
                        }
                    }
                    Key::Up | Key::Char('k') => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_sub(1),
                            lines,
                        }
                    }
                    _ => self.mode = Mode::Menu,
                }
                Action::None
            }
            Mode::Input { node, mut buf, .. } => {
                let s = match self.kc.node(node).kind {
                    NodeKind::Symbol(s) => s,
                    _ => {
                        self.mode = Mode::Menu;
                        return Action::None;
                    }
                };
                match key {
                    Key::Esc => self.mode = Mode::Menu,
                    Key::Enter => {
                        let buf = buf.trim().to_string();
                        if let Some(err) = self.validate(s, &buf) {
                            self.mode = Mode::Input {
                                node,
                                buf,
                                error: Some(err),
                            };
                        } else {
                            if self.kc.sym_str(s) != buf || self.kc.sym(s).user_value.is_none() {
                                self.kc.set_value(s, &buf);
                                self.changed();
                            }
                            self.mode = Mode::Menu;
                        }
                    }
                    Key::Backspace => {
                        buf.pop();
                        self.mode = Mode::Input {
                            node,
                            buf,
                            error: None,
                        };
                    }
                    Key::Char(c) => {
                        buf.push(c);
                        self.mode = Mode::Input {
                            node,
                            buf,
                            error: None,
                        };
                    }
                    _ => {}
                }
                Action::None
            }
            Mode::Search {
                mut query,
                editing,
                sel,
            } => {
                let hits = self.search(&query);
                match key {
                    Key::Esc => self.mode = Mode::Menu,
                    Key::Enter => {
                        if editing {
                            self.mode = Mode::Search {
                                query,
                                editing: false,
                                sel: 0,
                            };
                        } else if let Some(&n) = hits.get(sel) {
                            self.mode = Mode::Menu;
                            if self.node_visible(n) {
                                self.jump_to(n);
                            } else {
                                self.status = "that symbol is currently hidden".into();
                            }
                        }
                    }
                    Key::Down if !hits.is_empty() => {
                        self.mode = Mode::Search {
                            query,
                            editing: false,
                            sel: (sel + 1).min(hits.len() - 1),
                        }
                    }
                    Key::Up => {
                        self.mode = Mode::Search {
                            query,
                            editing: false,
                            sel: sel.saturating_sub(1),
                        }
                    }
                    Key::Backspace if editing => {
                        query.pop();
                        self.mode = Mode::Search {
                            query,
                            editing,
                            sel: 0,
                        };
                    }
                    Key::Char(c) if editing => {
                        query.push(c);
                        self.mode = Mode::Search {
                            query,
                            editing,
                            sel: 0,
                        };
                    }
                    Key::Char('/') => {
                        self.mode = Mode::Search {
                            query,
                            editing: true,
                            sel: 0,
                        }
                    }
                    Key::Char('?') => {
                        if let Some(&n) = hits.get(sel) {
                            self.mode = Mode::Help {
                                lines: self.help_lines(n),
                                scroll: 0,
                            };
                        }
                    }
                    _ => {}
                }
                Action::None
            }
            Mode::Menu => {
                let entries = self.entries();
                let cur = self.cursor().min(entries.len().saturating_sub(1));
                self.set_cursor(cur);
                let sel = entries.get(cur).map(|e| e.node);
                match key {
                    Key::Up | Key::Char('k') => self.set_cursor(cur.saturating_sub(1)),
                    Key::Down | Key::Char('j') if cur + 1 < entries.len() => {
                        self.set_cursor(cur + 1)
                    }
                    Key::PageUp => self.set_cursor(cur.saturating_sub(10)),
                    Key::PageDown => {
                        self.set_cursor((cur + 10).min(entries.len().saturating_sub(1)))
                    }
                    Key::Home => self.set_cursor(0),
                    Key::End => self.set_cursor(entries.len().saturating_sub(1)),
                    Key::Enter | Key::Right => {
                        if let Some(n) = sel {
                            self.enter(n);
                        }
                    }
                    Key::Char(' ') => {
                        if let Some(n) = sel {
                            if matches!(self.kc.node(n).kind, NodeKind::Menu)
                                || (matches!(self.kc.node(n).kind, NodeKind::Choice(_))
                                    && !self
                                        .kc
                                        .choice(match self.kc.node(n).kind {
                                            NodeKind::Choice(c) => c,
                                            _ => unreachable!(),
                                        })
                                        .is_optional)
                            {
                                self.enter(n);
                            } else {
                                self.toggle(n);
                            }
                        }
                    }
                    Key::Char('y') | Key::Char('n') | Key::Char('m') => {
                        if let Some(NodeKind::Symbol(s)) = sel.map(|n| self.kc.node(n).kind) {
                            let want = match key {
                                Key::Char('y') => 2,
                                Key::Char('m') => 1,
                                _ => 0,
                            };
                            if self.kc.sym(s).choice.is_none()
                                && self.kc.assignable(s).contains(&want)
                            {
                                if self.kc.sym_tri(s) != want {
                                    self.kc.set_value(s, tri_str(want));
                                    self.changed();
                                }
                            } else if self.kc.sym(s).choice.is_some() && want == 2 {
                                self.toggle(sel.unwrap());
                            }
                        }
                    }
                    Key::Esc | Key::Backspace | Key::Left => return self.go_up(),
                    Key::Char('q') | Key::Char('Q') => return self.request_quit(),
                    Key::Char('s') | Key::Char('S') => self.save(),
                    Key::Char('/') => {
                        self.mode = Mode::Search {
                            query: String::new(),
                            editing: true,
                            sel: 0,
                        }
                    }
                    Key::Char('?') | Key::Char('h') => {
                        if let Some(n) = sel {
                            self.mode = Mode::Help {
                                lines: self.help_lines(n),
                                scroll: 0,
                            };
                        }
                    }
                    _ => {}
                }
                Action::None
            }
        }
    }
}

/// The text after a `Status:` line in a help text (or a `# status:`
/// attribute rendered into the help), if any.
pub fn status_line(help: &str) -> Option<String> {
    help.lines().find_map(|l| {
        let t = l.trim();
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("status:") {
            Some(t["status:".len()..].trim().to_string())
        } else if lower.starts_with("# status:") {
            Some(t["# status:".len()..].trim().to_string())
        } else {
            None
        }
    })
}

// ----------------------------------------------------------------------
// ratatui front end
// ----------------------------------------------------------------------

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

fn map_key(code: KeyCode) -> Option<Key> {
    Some(match code {
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Char(c) => Key::Char(c),
        _ => return None,
    })
}

/// Runs the interactive menuconfig until the user quits.
pub fn run_tui(kc: Kconfig, config_path: &Path, header: &str) -> anyhow::Result<()> {
    let mut app = App::new(kc, config_path, header);
    let mut terminal = ratatui::init();
    let res = (|| -> anyhow::Result<()> {
        loop {
            terminal.draw(|f| draw(f, &app))?;
            if let Event::Key(k) = event::read()? {
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                if let Some(key) = map_key(k.code) {
                    if app.handle_key(key) == Action::Quit {
                        return Ok(());
                    }
                }
            }
        }
    })();
    ratatui::restore();
    // Warnings produced while editing (e.g. selects with unmet deps).
    for w in app.kc.take_warnings() {
        eprintln!("{}", w);
    }
    res
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(area);
    let entries = app.entries();
    let items: Vec<ListItem> = entries
        .iter()
        .map(|e| ListItem::new(format!("{}{}", "    ".repeat(e.depth), e.text)))
        .collect();
    let title = format!(" {} ", app.title());
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title(title))
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = ListState::default();
    if !entries.is_empty() {
        state.select(Some(app.cursor().min(entries.len() - 1)));
    }
    f.render_stateful_widget(list, main, &mut state);
    let help =
        "<Enter> select  <Space> toggle  <Esc> back  </> search  <?> help  <s> save  <q> quit";
    let st = if app.status.is_empty() {
        format!("{}{}", if app.dirty { "[modified] " } else { "" }, help)
    } else {
        app.status.clone()
    };
    f.render_widget(Paragraph::new(st), status);

    match &app.mode {
        Mode::Menu => {}
        Mode::ConfirmExit => {
            let r = centered(area, 40, 3);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new("Save changes? (y/n)").block(Block::default().borders(Borders::ALL)),
                r,
            );
        }
        Mode::Input { node, buf, error } => {
            let r = centered(area, 60, 6);
            f.render_widget(Clear, r);
            let mut lines = vec![Line::from(format!("> {}_", buf))];
            if let Some(e) = error {
                lines.push(Line::from(format!("error: {}", e)));
            }
            let title = format!(" {} ", app.prompt(*node));
            f.render_widget(
                Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
                r,
            );
        }
        Mode::Help { lines, scroll } => {
            let r = centered(
                area,
                area.width.saturating_sub(4),
                area.height.saturating_sub(2),
            );
            f.render_widget(Clear, r);
            let text: Vec<Line> = lines
                .iter()
                .skip(*scroll)
                .map(|l| Line::from(l.clone()))
                .collect();
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL).title(" Help ")),
                r,
            );
        }
        Mode::Search {
            query,
            editing,
            sel,
        } => {
            let r = centered(
                area,
                area.width.saturating_sub(4),
                area.height.saturating_sub(2),
            );
            f.render_widget(Clear, r);
            let hits = app.search(query);
            let mut lines = vec![Line::from(format!(
                "Search: {}{}",
                query,
                if *editing { "_" } else { "" }
            ))];
            lines.push(Line::from(format!("{} result(s)", hits.len())));
            for (i, n) in hits.iter().enumerate() {
                for (j, l) in app.search_lines(*n).into_iter().enumerate() {
                    let prefix = if j == 0 && i == *sel && !*editing {
                        "> "
                    } else {
                        "  "
                    };
                    lines.push(Line::from(format!("{}{}", prefix, l)));
                }
            }
            // Keep the selected hit on screen.
            let per = 4usize;
            let skip = (*sel * per).saturating_sub((r.height as usize).saturating_sub(6));
            let text: Vec<Line> = lines
                .iter()
                .take(2)
                .cloned()
                .chain(lines.iter().skip(2 + skip).cloned())
                .collect();
            f.render_widget(
                Paragraph::new(text)
                    .block(Block::default().borders(Borders::ALL).title(" Search ")),
                r,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        let root =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/menuconfig_tree");
        let kc = Kconfig::load_with_arch(&root, "aarch64").unwrap();
        App::new(kc, Path::new("/nonexistent/.config"), "")
    }

    fn texts(a: &App) -> Vec<String> {
        a.entries().into_iter().map(|e| e.text).collect()
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line("Foo.\n\nStatus: Experimental\n"),
            Some("Experimental".into())
        );
        assert_eq!(status_line("# status: supported"), Some("supported".into()));
        assert_eq!(status_line("no status here"), None);
    }

    #[test]
    fn navigation_toggle_and_hidden_symbols() {
        let mut a = app();
        let t = texts(&a);
        assert_eq!(t[0], "[ ] Foo feature");
        assert!(!t.iter().any(|x| x.contains("Secret")), "{:?}", t);
        // Space toggles FOO; Numbers then shows BAR.
        a.handle_key(Key::Char(' '));
        assert_eq!(texts(&a)[0], "[*] Foo feature");
        assert!(a.dirty);
        a.handle_key(Key::Down);
        a.handle_key(Key::Enter);
        assert_eq!(texts(&a), vec!["(10) Bar count", "(tessera) Label"]);
        // Invalid and out-of-range input is rejected.
        a.handle_key(Key::Enter);
        for _ in 0..2 {
            a.handle_key(Key::Backspace);
        }
        a.handle_key(Key::Char('x'));
        a.handle_key(Key::Enter);
        assert!(
            matches!(&a.mode, Mode::Input { error: Some(e), .. } if e.contains("not a valid int"))
        );
        a.handle_key(Key::Backspace);
        a.handle_key(Key::Char('7'));
        a.handle_key(Key::Enter);
        assert_eq!(a.mode, Mode::Menu);
        assert_eq!(texts(&a)[0], "(7) Bar count");
        // Esc goes up; q with unsaved changes asks first.
        assert_eq!(a.handle_key(Key::Esc), Action::None);
        assert_eq!(a.stack.len(), 1);
        assert_eq!(a.handle_key(Key::Char('q')), Action::None);
        assert_eq!(a.mode, Mode::ConfirmExit);
        assert_eq!(a.handle_key(Key::Char('n')), Action::Quit);
    }

    #[test]
    fn search_finds_symbols_with_location_and_deps() {
        let a = app();
        let hits = a.search("bar");
        assert_eq!(hits.len(), 1);
        let lines = a.search_lines(hits[0]);
        // Invisible int with unmet deps has no value (kconfiglib semantics).
        assert_eq!(lines[0], "Symbol: BAR [=]");
        assert!(lines
            .iter()
            .any(|l| l.contains("Location: Menuconfig test tree > Numbers")));
        assert!(lines.iter().any(|l| l.contains("Depends on: FOO [=n]")));
        assert!(lines.iter().any(|l| l.contains("currently hidden")));
    }
}
