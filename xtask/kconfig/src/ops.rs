//! Whole-configuration operations: allyes/allno/rand config, listnewconfig.

use crate::model::*;
use crate::Kconfig;

/// Small deterministic PRNG (SplitMix64), so randconfig needs no crates.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

impl Kconfig {
    /// allnoconfig: every symbol gets user value n (y for
    /// `option allnoconfig_y` symbols), as kconfiglib's allnoconfig.py.
    pub fn allnoconfig(&mut self) {
        let saved = std::mem::take(&mut *self.warnings.borrow_mut());
        for i in 0..self.unique_defined.len() {
            let s = self.unique_defined[i];
            // kconfiglib passes 0/2 (not strings), which only bool/tristate
            // symbols accept.
            if !self.syms[s.idx()].orig_type.is_bool_tristate() {
                continue;
            }
            let v = if self.syms[s.idx()].is_allnoconfig_y {
                "y"
            } else {
                "n"
            };
            self.set_value(s, v);
        }
        *self.warnings.borrow_mut() = saved;
    }

    /// allyesconfig: every symbol gets user value y (m for choice members,
    /// so that tristate choices can be in m mode), every choice mode y.
    pub fn allyesconfig(&mut self) {
        let saved = std::mem::take(&mut *self.warnings.borrow_mut());
        for i in 0..self.unique_defined.len() {
            let s = self.unique_defined[i];
            if !self.syms[s.idx()].orig_type.is_bool_tristate() {
                continue;
            }
            let v = if self.syms[s.idx()].choice.is_some() {
                "m"
            } else {
                "y"
            };
            self.set_value(s, v);
        }
        for i in 0..self.unique_choices.len() {
            let c = self.unique_choices[i];
            self.set_choice_value(c, "y");
        }
        *self.warnings.borrow_mut() = saved;
    }

    /// randconfig: walks the symbols in menu order and gives every
    /// currently assignable bool/tristate a random value, and every visible
    /// choice a random mode and member. int/hex/string symbols keep their
    /// defaults. Deterministic for a given seed.
    pub fn randconfig(&mut self, seed: u64) {
        let mut rng = Rng::new(seed);
        self.unset_all();
        let saved = std::mem::take(&mut *self.warnings.borrow_mut());
        let order = self.menu_order_items();
        for item in order {
            match item {
                Item::Sym(s) => {
                    if self.syms[s.idx()].choice.is_some() {
                        continue;
                    }
                    let a = self.assignable(s);
                    if a.len() > 1 {
                        let v = a[rng.below(a.len() as u64) as usize];
                        self.set_value(s, tri_str(v));
                    }
                }
                Item::Choice(c) => {
                    let a = self.choice_assignable(c);
                    if a.is_empty() {
                        continue;
                    }
                    let mode = a[rng.below(a.len() as u64) as usize];
                    self.set_choice_value(c, tri_str(mode));
                    let syms = self.choices[c.idx()].syms.clone();
                    let visible: Vec<SymId> = syms
                        .iter()
                        .copied()
                        .filter(|&s| self.sym_vis(s) != 0)
                        .collect();
                    if mode == 2 {
                        if !visible.is_empty() {
                            let pick = visible[rng.below(visible.len() as u64) as usize];
                            self.set_value(pick, "y");
                        }
                    } else if mode == 1 {
                        for s in visible {
                            let v = if rng.chance(50) { "m" } else { "n" };
                            self.set_value(s, v);
                        }
                    }
                }
            }
        }
        *self.warnings.borrow_mut() = saved;
    }

    /// Symbols and choices in menu-tree order (each once).
    pub(crate) fn menu_order_items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let mut seen_s = vec![false; self.syms.len()];
        let mut seen_c = vec![false; self.choices.len()];
        let mut stack = Vec::new();
        if let Some(l) = self.nodes[self.top.idx()].list {
            stack.push(l);
        }
        // Pre-order walk using the list/next links.
        fn walk(
            kc: &Kconfig,
            n: Option<NodeId>,
            out: &mut Vec<Item>,
            ss: &mut [bool],
            sc: &mut [bool],
        ) {
            let mut cur = n;
            while let Some(c) = cur {
                match kc.nodes[c.idx()].kind {
                    NodeKind::Symbol(s) if !ss[s.idx()] => {
                        ss[s.idx()] = true;
                        out.push(Item::Sym(s));
                    }
                    NodeKind::Choice(ch) if !sc[ch.idx()] => {
                        sc[ch.idx()] = true;
                        out.push(Item::Choice(ch));
                    }
                    _ => {}
                }
                walk(kc, kc.nodes[c.idx()].list, out, ss, sc);
                cur = kc.nodes[c.idx()].next;
            }
        }
        walk(self, stack.pop(), &mut out, &mut seen_s, &mut seen_c);
        out
    }

    /// listnewconfig: symbols without a user value that the user could
    /// change, as `CONFIG_X=value` lines (kconfiglib's listnewconfig.py).
    pub fn list_new_config(&self) -> Vec<String> {
        let mut out = Vec::new();
        for &s in &self.unique_defined {
            let sym = &self.syms[s.idx()];
            if sym.user_value.is_some() {
                continue;
            }
            let vis = self.sym_vis(s);
            let interesting = self.assignable(s).len() > 1
                || (vis != 0
                    && (matches!(sym.orig_type, SymType::Int | SymType::Hex | SymType::String)
                        || sym.choice.is_some()));
            if !interesting {
                continue;
            }
            let line = if sym.orig_type.is_bool_tristate() {
                format!("CONFIG_{}={}", sym.name, tri_str(self.sym_tri(s)))
            } else {
                self.config_string(s).trim_end().to_string()
            };
            out.push(line);
        }
        out
    }
}
