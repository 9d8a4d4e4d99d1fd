//! `.config` reading and writing (Linux format, kconfiglib behaviour).

use std::path::Path;

use crate::model::*;
use crate::Kconfig;

const PREFIX: &str = "CONFIG_";

/// Splits `CONFIG_NAME=value` (name: anything but '=').
fn match_set(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(PREFIX)?;
    let eq = rest.find('=')?;
    if eq == 0 {
        return None;
    }
    Some((&rest[..eq], &rest[eq + 1..]))
}

/// Matches `# CONFIG_NAME is not set` (anchored at the start only, like
/// the C tools' regex).
fn match_unset(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("# ")?.strip_prefix(PREFIX)?;
    let end = rest.find(' ').unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    if rest[end..].starts_with(" is not set") {
        Some(&rest[..end])
    } else {
        None
    }
}

/// Matches a quoted .config string value at the start of `val`; returns
/// the raw (still escaped) contents.
fn match_conf_string(val: &str) -> Option<&str> {
    let rest = val.strip_prefix('"')?;
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() {
                    return None;
                }
                // Skip the escaped character (may be multi-byte).
                let ch = rest[i + 1..].chars().next().unwrap();
                i += 1 + ch.len_utf8();
            }
            b'"' => return Some(&rest[..i]),
            _ => i += 1,
        }
    }
    None
}

impl Kconfig {
    fn warn_at(&self, file: &str, line: usize, msg: String) {
        self.push_warning(Warning {
            file: Some(file.to_string()),
            line: Some(line),
            msg,
        });
    }

    /// Sets the user value of a symbol, like kconfiglib's
    /// `Symbol.set_value()`: "n"/"m"/"y" for bool/tristate, the text for
    /// int/hex/string. Invalid values are ignored with a warning and false
    /// is returned. Setting a choice member to y makes it the choice's user
    /// selection.
    pub fn set_value(&mut self, s: SymId, value: &str) -> bool {
        let sym = &self.syms[s.idx()];
        let t = sym.orig_type;
        let tri = match value {
            "n" => Some(0u8),
            "m" => Some(1),
            "y" => Some(2),
            _ => None,
        };
        let uv = match tri {
            Some(v) if t.is_bool_tristate() => UserValue::Tri(v),
            _ => UserValue::Str(value.to_string()),
        };
        if sym.user_value.as_ref() == Some(&uv) && sym.choice.is_none() {
            self.was_set[s.idx()] = true;
            return true;
        }
        let valid = match (&uv, t) {
            (UserValue::Tri(v), SymType::Bool) => *v == 0 || *v == 2,
            (UserValue::Tri(_), SymType::Tristate) => true,
            (UserValue::Str(_), SymType::String) => true,
            (UserValue::Str(v), SymType::Int) => py_int(v, 10).is_some(),
            (UserValue::Str(v), SymType::Hex) => py_int(v, 16).is_some_and(|n| n >= 0),
            _ => false,
        };
        if !valid {
            let shown = match &uv {
                UserValue::Tri(v) => tri_str(*v).to_string(),
                UserValue::Str(v) => format!("'{}'", v),
            };
            let msg = format!(
                "the value {} is invalid for {}, which has type {} -- assignment ignored",
                shown,
                self.sym_name_and_loc(s),
                t
            );
            self.warn_eval(msg);
            return false;
        }
        let is_y = uv == UserValue::Tri(2);
        self.syms[s.idx()].user_value = Some(uv);
        self.was_set[s.idx()] = true;
        match self.syms[s.idx()].choice {
            Some(c) if is_y => {
                self.choices[c.idx()].user_selection = Some(s);
                self.choice_was_set[c.idx()] = true;
            }
            _ => {
                if !self.sym_has_prompt(s) && self.warn_assign_no_prompt {
                    let msg = format!(
                        "{} has no prompt, meaning user values have no effect on it",
                        self.sym_name_and_loc(s)
                    );
                    self.warn_eval(msg);
                }
            }
        }
        self.invalidate();
        true
    }

    /// Removes the user value of a symbol.
    pub fn unset_value(&mut self, s: SymId) {
        if self.syms[s.idx()].user_value.is_some() {
            self.syms[s.idx()].user_value = None;
            self.invalidate();
        }
    }

    /// Sets the mode of a choice ("n", "m" or "y").
    pub fn set_choice_value(&mut self, c: ChoiceId, value: &str) -> bool {
        let v = match value {
            "n" => 0u8,
            "m" => 1,
            "y" => 2,
            _ => {
                let msg = format!(
                    "the value '{}' is invalid for {}, which has type {} -- assignment ignored",
                    value,
                    self.choice_name_and_loc(c),
                    self.choices[c.idx()].orig_type
                );
                self.warn_eval(msg);
                return false;
            }
        };
        if self.choices[c.idx()].user_value == Some(v) {
            self.choice_was_set[c.idx()] = true;
            return true;
        }
        let valid = match self.choices[c.idx()].orig_type {
            SymType::Bool => v != 1,
            SymType::Tristate => true,
            _ => false,
        };
        if !valid {
            let msg = format!(
                "the value {} is invalid for {}, which has type {} -- assignment ignored",
                tri_str(v),
                self.choice_name_and_loc(c),
                self.choices[c.idx()].orig_type
            );
            self.warn_eval(msg);
            return false;
        }
        self.choices[c.idx()].user_value = Some(v);
        self.choice_was_set[c.idx()] = true;
        self.invalidate();
        true
    }

    /// Removes the user mode and user selection of a choice.
    pub fn unset_choice_value(&mut self, c: ChoiceId) {
        let ch = &mut self.choices[c.idx()];
        if ch.user_value.is_some() || ch.user_selection.is_some() {
            ch.user_value = None;
            ch.user_selection = None;
            self.invalidate();
        }
    }

    /// Clears all user values (symbols and choices).
    pub fn unset_all(&mut self) {
        for s in &mut self.syms {
            s.user_value = None;
        }
        for c in &mut self.choices {
            c.user_value = None;
            c.user_selection = None;
        }
        self.invalidate();
    }

    /// Loads a .config file. With `replace`, symbols not mentioned lose
    /// their user values (kconfiglib's `load_config(replace=True)`).
    pub fn load_config(&mut self, path: &Path, replace: bool) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("could not read '{}': {}", path.display(), e)))?;
        self.load_config_text(&text, &path.display().to_string(), replace);
        Ok(())
    }

    /// Like [`load_config`](Self::load_config), from text; `filename` is
    /// used in warnings.
    pub fn load_config_text(&mut self, text: &str, filename: &str, replace: bool) {
        self.warn_assign_no_prompt = false;
        if replace {
            self.missing_syms.clear();
            self.was_set = vec![false; self.syms.len()];
            self.choice_was_set = vec![false; self.choices.len()];
        }
        let text = text.replace("\r\n", "\n");
        for (i, raw) in text.split('\n').enumerate() {
            let linenr = i + 1;
            let line = raw.trim_end();
            let (sym, val) = if let Some((name, val)) = match_set(line) {
                let sym = match self.sym_map.get(name) {
                    Some(&s) if !self.syms[s.idx()].nodes.is_empty() => s,
                    _ => {
                        self.undef_assign(name, val, filename, linenr);
                        continue;
                    }
                };
                let t = self.syms[sym.idx()].orig_type;
                if t.is_bool_tristate() {
                    let ok = (t == SymType::Bool && (val.starts_with('y') || val.starts_with('n')))
                        || (t == SymType::Tristate
                            && (val.starts_with('y')
                                || val.starts_with('m')
                                || val.starts_with('n')));
                    if !ok {
                        let msg = format!(
                            "'{}' is not a valid value for the {} symbol {}. Assignment ignored.",
                            val,
                            t,
                            self.sym_name_and_loc(sym)
                        );
                        self.warn_at(filename, linenr, msg);
                        continue;
                    }
                    let v = val[..1].to_string();
                    if let (Some(c), true) = (self.syms[sym.idx()].choice, v != "n") {
                        if let Some(prev) = self.choices[c.idx()].user_value {
                            if tri_str(prev) != v {
                                self.warn_at(
                                    filename,
                                    linenr,
                                    "both m and y assigned to symbols within the same choice"
                                        .into(),
                                );
                            }
                        }
                        self.set_choice_value(c, &v);
                    }
                    (sym, v)
                } else if t == SymType::String {
                    match match_conf_string(val) {
                        Some(raw) => (sym, unescape(raw)),
                        None => {
                            let msg = format!(
                                "malformed string literal in assignment to {}. Assignment ignored.",
                                self.sym_name_and_loc(sym)
                            );
                            self.warn_at(filename, linenr, msg);
                            continue;
                        }
                    }
                } else {
                    (sym, val.to_string())
                }
            } else if let Some(name) = match_unset(line) {
                let sym = match self.sym_map.get(name) {
                    Some(&s) if !self.syms[s.idx()].nodes.is_empty() => s,
                    _ => {
                        self.undef_assign(name, "n", filename, linenr);
                        continue;
                    }
                };
                if !self.syms[sym.idx()].orig_type.is_bool_tristate() {
                    continue;
                }
                (sym, "n".to_string())
            } else {
                if !line.is_empty() && !line.trim_start().starts_with('#') {
                    self.warn_at(
                        filename,
                        linenr,
                        format!("ignoring malformed line '{}'", line),
                    );
                }
                continue;
            };
            if self.was_set[sym.idx()] {
                self.assigned_twice(sym, &val, filename, linenr);
            }
            // Warnings from set_value() (invalid values) get this location.
            let before = self.warnings.borrow().len();
            self.set_value(sym, &val);
            let mut ws = self.warnings.borrow_mut();
            for w in ws.iter_mut().skip(before) {
                if w.file.is_none() {
                    w.file = Some(filename.to_string());
                    w.line = Some(linenr);
                }
            }
        }
        if replace {
            for i in 0..self.unique_defined.len() {
                let s = self.unique_defined[i];
                if !self.was_set[s.idx()] {
                    self.unset_value(s);
                }
            }
            for i in 0..self.unique_choices.len() {
                let c = self.unique_choices[i];
                if !self.choice_was_set[c.idx()] {
                    self.unset_choice_value(c);
                }
            }
        }
        self.warn_assign_no_prompt = true;
    }

    fn undef_assign(&mut self, name: &str, val: &str, filename: &str, linenr: usize) {
        self.missing_syms.push((name.to_string(), val.to_string()));
        self.warn_at(
            filename,
            linenr,
            format!(
                "attempt to assign the value '{}' to the undefined symbol {}",
                val, name
            ),
        );
    }

    fn assigned_twice(&self, s: SymId, new_val: &str, filename: &str, linenr: usize) {
        let user = match &self.syms[s.idx()].user_value {
            Some(UserValue::Tri(v)) => tri_str(*v).to_string(),
            Some(UserValue::Str(v)) => v.clone(),
            None => "None".to_string(),
        };
        let msg = format!(
            "{} set more than once. Old value \"{}\", new value \"{}\".",
            self.sym_name_and_loc(s),
            user,
            new_val
        );
        self.warn_at(filename, linenr, msg);
    }

    /// The .config line for a symbol ("" if it is not written).
    pub fn config_string(&self, s: SymId) -> String {
        let val = self.sym_str(s);
        if !self.write_to_conf(s) {
            return String::new();
        }
        let sym = &self.syms[s.idx()];
        if sym.orig_type.is_bool_tristate() {
            if val != "n" {
                format!("{}{}={}\n", PREFIX, sym.name, val)
            } else {
                format!("# {}{} is not set\n", PREFIX, sym.name)
            }
        } else if sym.orig_type.is_int_hex() {
            format!("{}{}={}\n", PREFIX, sym.name, val)
        } else {
            format!("{}{}=\"{}\"\n", PREFIX, sym.name, escape(&val))
        }
    }

    /// The Linux-style header used by default for .config files.
    pub fn default_header(&self) -> String {
        format!(
            "#\n# Automatically generated file; DO NOT EDIT.\n# {}\n#\n",
            self.mainmenu_text()
        )
    }

    /// Full .config contents (kconfiglib `write_config` format) after
    /// `header`.
    pub fn config_text(&self, header: &str) -> String {
        let mut out = String::from(header);
        let mut visited = vec![false; self.syms.len()];
        let mut after_end_comment = false;
        let mut node = self.top;
        loop {
            let n = &self.nodes[node.idx()];
            if let Some(l) = n.list {
                node = l;
            } else if let Some(nx) = n.next {
                node = nx;
            } else {
                let mut cur = node;
                let mut found = None;
                while let Some(p) = self.nodes[cur.idx()].parent {
                    cur = p;
                    let pn = &self.nodes[cur.idx()];
                    if pn.kind == NodeKind::Menu
                        && cur != self.top
                        && self.eval(&pn.dep) != 0
                        && self.eval(&pn.visibility) != 0
                    {
                        out.push_str(&format!("# end of {}\n", pn.prompt.as_ref().unwrap().0));
                        after_end_comment = true;
                    }
                    if let Some(nx) = pn.next {
                        found = Some(nx);
                        break;
                    }
                }
                match found {
                    Some(nx) => node = nx,
                    None => return out,
                }
            }
            let n = &self.nodes[node.idx()];
            match n.kind {
                NodeKind::Symbol(s) => {
                    if visited[s.idx()] {
                        continue;
                    }
                    visited[s.idx()] = true;
                    let cs = self.config_string(s);
                    if cs.is_empty() {
                        continue;
                    }
                    if after_end_comment {
                        after_end_comment = false;
                        out.push('\n');
                    }
                    out.push_str(&cs);
                }
                NodeKind::Menu | NodeKind::Comment
                    if self.eval(&n.dep) != 0
                        && (n.kind == NodeKind::Comment || self.eval(&n.visibility) != 0) =>
                {
                    out.push_str(&format!("\n#\n# {}\n#\n", n.prompt.as_ref().unwrap().0));
                    after_end_comment = false;
                }
                _ => {}
            }
        }
    }

    /// Minimal configuration (savedefconfig / `write_min_config` format)
    /// after `header`.
    pub fn min_config_text(&self, header: &str) -> String {
        let mut out = String::from(header);
        for &s in &self.unique_defined {
            let sym = &self.syms[s.idx()];
            if sym.choice.is_none() && self.sym_vis(s) <= self.eval(&sym.rev_dep) {
                continue;
            }
            if self.sym_str(s) == self.str_default(s) {
                continue;
            }
            if let Some(c) = sym.choice {
                if !self.choices[c.idx()].is_optional
                    && self.choice_selection_from_defaults(c) == Some(s)
                    && sym.orig_type == SymType::Bool
                    && self.sym_tri(s) == 2
                {
                    continue;
                }
            }
            out.push_str(&self.config_string(s));
        }
        out
    }

    /// Writes the full configuration to `path` (keeping `path.old` if the
    /// file existed and changes). Returns a message like kconfiglib's.
    pub fn write_config(&self, path: &Path, header: &str) -> Result<String> {
        let text = self.config_text(header);
        if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
            return Ok(format!(
                "No change to configuration in '{}'",
                path.display()
            ));
        }
        if path.is_file() {
            let mut old = path.as_os_str().to_owned();
            old.push(".old");
            let _ = std::fs::copy(path, &old);
        }
        std::fs::write(path, text)
            .map_err(|e| Error::new(format!("could not write '{}': {}", path.display(), e)))?;
        Ok(format!("Configuration saved to '{}'", path.display()))
    }

    /// Writes the minimal configuration to `path`.
    pub fn write_min_config(&self, path: &Path, header: &str) -> Result<String> {
        let text = self.min_config_text(header);
        if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
            return Ok(format!(
                "No change to minimal configuration in '{}'",
                path.display()
            ));
        }
        std::fs::write(path, text)
            .map_err(|e| Error::new(format!("could not write '{}': {}", path.display(), e)))?;
        Ok(format!(
            "Minimal configuration saved to '{}'",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_matchers() {
        assert_eq!(match_set("CONFIG_FOO=y"), Some(("FOO", "y")));
        assert_eq!(match_set("CONFIG_FOO BAR=1=2"), Some(("FOO BAR", "1=2")));
        assert_eq!(match_set("CONFIG_=y"), None);
        assert_eq!(match_set("FOO=y"), None);
        assert_eq!(match_unset("# CONFIG_FOO is not set"), Some("FOO"));
        assert_eq!(match_unset("# CONFIG_FOO is not set, really"), Some("FOO"));
        assert_eq!(match_unset("# CONFIG_FOO is set"), None);
        assert_eq!(match_conf_string("\"a\\\"b\""), Some("a\\\"b"));
        assert_eq!(match_conf_string("\"abc\"junk"), Some("abc"));
        assert_eq!(match_conf_string("\"abc"), None);
        assert_eq!(match_conf_string("abc"), None);
    }
}
