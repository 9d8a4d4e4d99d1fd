//! Unit tests for the parser and the evaluator.

use std::path::PathBuf;

use crate::*;

/// Writes `files` (path, contents) into a fresh temp dir and returns it.
fn tree(files: &[(&str, &str)]) -> PathBuf {
    let dir = crate::conformance::tempdir("kconfig-unit").unwrap();
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    dir
}

fn load(src: &str) -> Kconfig {
    let dir = tree(&[("Kconfig", src)]);
    let kc = Kconfig::load_with_arch(&dir, "aarch64").unwrap_or_else(|e| panic!("{}", e));
    std::fs::remove_dir_all(dir).ok();
    kc
}

fn load_err(src: &str) -> String {
    let dir = tree(&[("Kconfig", src)]);
    let e = Kconfig::load_with_arch(&dir, "aarch64").expect_err("expected a load error");
    std::fs::remove_dir_all(dir).ok();
    e.to_string()
}

fn val(kc: &Kconfig, name: &str) -> String {
    kc.sym_str(
        kc.sym_by_name(name)
            .unwrap_or_else(|| panic!("no symbol {}", name)),
    )
}

fn with_config(kc: &mut Kconfig, text: &str) {
    kc.load_config_text(text, ".config", true);
}

// ---------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------

#[test]
fn syntax_error_reports_file_line_and_expectation() {
    let e = load_err("config A\n\tbool \"a\"\n\nconfig B\n\tbool \"b\"\n\tdepends on A &&\n");
    assert!(e.starts_with("Kconfig:6: expected an expression"), "{}", e);

    let e = load_err("config A\n\tbool \"a\"\n\tdepends A\n");
    assert!(
        e.starts_with("Kconfig:3: expected 'on' after 'depends'"),
        "{}",
        e
    );

    let e = load_err("menu \"m\"\nconfig A\n\tbool \"a\"\n");
    assert!(
        e.contains("Kconfig:3: expected 'endmenu' before end of file"),
        "{}",
        e
    );

    let e = load_err("config A\n\tbool \"a\" if (B\n");
    assert!(e.starts_with("Kconfig:2: expected ')'"), "{}", e);

    let e = load_err("endif\n");
    assert!(
        e.starts_with("Kconfig:1: 'endif' without a matching 'if'"),
        "{}",
        e
    );

    let e = load_err("config\n");
    assert!(
        e.starts_with("Kconfig:1: expected a symbol name after 'config'"),
        "{}",
        e
    );

    let e = load_err("config A\n\tbool \"a\" extra\n");
    assert!(
        e.starts_with("Kconfig:2: expected 'if' or end of line"),
        "{}",
        e
    );

    let e = load_err("config A\n\tint \"a\"\n\trange 1\n");
    assert!(e.starts_with("Kconfig:3: expected an upper bound"), "{}", e);

    let e = load_err("config A\n\tbool \"unterminated\n");
    assert!(e.starts_with("Kconfig:2: expected closing quote"), "{}", e);
}

#[test]
fn syntax_error_in_sourced_file_names_that_file() {
    let dir = tree(&[
        ("Kconfig", "source \"sub/$(SRCARCH).kconfig\"\n"),
        ("sub/aarch64.kconfig", "config X\n\tbool \"x\"\n\tselect\n"),
    ]);
    let e = Kconfig::load_with_arch(&dir, "aarch64")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("sub/aarch64.kconfig:3: expected a symbol name"),
        "{}",
        e
    );
    let e = Kconfig::load_with_arch(&dir, "riscv")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Kconfig:1: 'sub/riscv.kconfig' not found"),
        "{}",
        e
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn recursive_source_is_an_error() {
    let dir = tree(&[("Kconfig", "source \"a\"\n"), ("a", "source \"Kconfig\"\n")]);
    let e = Kconfig::load_with_arch(&dir, "aarch64")
        .unwrap_err()
        .to_string();
    assert!(e.contains("recursive 'source'"), "{}", e);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn help_text_rules() {
    let kc = load("config A\n\tbool \"a\"\n\thelp\n\t  First line.\n\n\t    Indented.\n\t  Last.\n\nconfig B\n\tbool \"b\"\n");
    let a = kc.sym_by_name("A").unwrap();
    let help = kc.node(kc.sym(a).nodes[0]).help.clone().unwrap();
    assert_eq!(help, "First line.\n\n  Indented.\nLast.");
    // B is parsed after the help text, with the right line number.
    let b = kc.sym_by_name("B").unwrap();
    assert_eq!(kc.node(kc.sym(b).nodes[0]).linenr, 9);
}

#[test]
fn preprocessor_variables_and_macros() {
    let kc = load(
        "A := one\nB = $(A)-two\nB += three\nFN = [$(1)|$(2)]\nconfig S\n\tstring \"s\"\n\tdefault \"$(B) $(FN,x,y) $(SRCARCH) $(filename):$(lineno)\"\n",
    );
    assert_eq!(val(&kc, "S"), "one-two three [x|y] aarch64 Kconfig:7");
}

#[test]
fn expression_parsing_and_printing() {
    let kc = load("config A\n\tbool \"a\"\n\tdepends on (B || C) && !D && E = \"x\" || F >= 3\n");
    let a = kc.sym_by_name("A").unwrap();
    // kconfiglib's expr_str parenthesizes && operands of ||.
    assert_eq!(
        kc.expr_str(&kc.sym(a).direct_dep),
        "((B || C) && !D && E = \"x\") || F >= 3"
    );
}

#[test]
fn menus_ifs_and_implicit_submenus() {
    let kc = load(
        "menu \"M\"\n\tdepends on X\nconfig A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\n\tdepends on A\nif Y\nconfig C\n\tbool \"c\"\n\tdepends on A\nendif\nendmenu\nconfig X\n\tbool \"x\"\nconfig Y\n\tbool \"y\"\n",
    );
    let a = kc.sym_by_name("A").unwrap();
    let b = kc.sym_by_name("B").unwrap();
    let c = kc.sym_by_name("C").unwrap();
    assert_eq!(kc.expr_str(&kc.sym(b).direct_dep), "A && X");
    assert_eq!(kc.expr_str(&kc.sym(c).direct_dep), "A && Y && X");
    // B directly follows A and depends on it: A's implicit submenu. C is
    // separated from A by the `if` block, so it is not (same as kconfiglib).
    let parent = |s: SymId| kc.node(kc.node(kc.sym(s).nodes[0]).parent.unwrap()).kind;
    assert_eq!(parent(b), NodeKind::Symbol(a));
    assert_eq!(parent(c), NodeKind::Menu);
}

#[test]
fn quoted_unquoted_prompt_warns() {
    let kc = load("config A\n\tbool unquoted\n");
    let w = kc.take_warnings();
    assert!(
        w.iter().any(|w| w.msg.contains("quotes recommended")),
        "{:?}",
        w
    );
}

#[test]
fn dependency_loop_is_an_error() {
    let e = load_err(
        "config A\n\tbool \"a\"\n\tdepends on B\nconfig B\n\tbool \"b\"\n\tdepends on A\n",
    );
    assert!(e.contains("dependency loop"), "{}", e);
}

// ---------------------------------------------------------------------
// Evaluator
// ---------------------------------------------------------------------

#[test]
fn defaults_and_default_if() {
    let mut kc = load("config A\n\tbool \"a\"\nconfig B\n\tbool\n\tdefault y if A\n\tdefault n\nconfig C\n\tint\n\tdefault 5 if A\n\tdefault 7\n");
    assert_eq!(val(&kc, "B"), "n");
    assert_eq!(val(&kc, "C"), "7");
    with_config(&mut kc, "CONFIG_A=y\n");
    assert_eq!(val(&kc, "B"), "y");
    assert_eq!(val(&kc, "C"), "5");
}

#[test]
fn user_values_only_for_visible_symbols() {
    let mut kc = load("config A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\n\tdepends on A\n");
    with_config(&mut kc, "CONFIG_B=y\n");
    assert_eq!(val(&kc, "B"), "n");
    with_config(&mut kc, "CONFIG_A=y\nCONFIG_B=y\n");
    assert_eq!(val(&kc, "B"), "y");
}

#[test]
fn select_forces_value_despite_unmet_deps_and_warns() {
    let mut kc = load("config D\n\tbool \"d\"\nconfig T\n\tbool \"t\"\n\tdepends on D\nconfig S\n\tbool \"s\"\n\tselect T\n");
    with_config(&mut kc, "CONFIG_S=y\n");
    assert_eq!(val(&kc, "T"), "y");
    let cfg = kc.config_text("");
    assert!(cfg.contains("CONFIG_T=y"), "{}", cfg);
    let w = kc.take_warnings();
    assert!(
        w.iter().any(|w| w
            .msg
            .contains("T (defined at Kconfig:3) has direct dependencies D with value n")),
        "{:?}",
        w
    );
}

#[test]
fn imply_is_weak() {
    let mut kc = load("config I\n\tbool \"i\"\n\timply T\nconfig T\n\tbool \"t\"\n\tdepends on D\nconfig D\n\tbool \"d\"\n");
    with_config(&mut kc, "CONFIG_I=y\n");
    assert_eq!(val(&kc, "T"), "n", "imply does not override unmet deps");
    with_config(&mut kc, "CONFIG_I=y\nCONFIG_D=y\n");
    assert_eq!(val(&kc, "T"), "y");
    with_config(&mut kc, "CONFIG_I=y\nCONFIG_D=y\n# CONFIG_T is not set\n");
    assert_eq!(val(&kc, "T"), "n", "user value n wins over imply");
}

#[test]
fn relations() {
    let kc = load(
        "config I\n\tint\n\tdefault 10\nconfig H\n\thex\n\tdefault 0x20\nconfig S\n\tstring\n\tdefault \"abc\"\n\
config EQ\n\tdef_bool I = 10\nconfig LT\n\tdef_bool I < 9\nconfig GEH\n\tdef_bool H >= 0x1f\n\
config SLT\n\tdef_bool S < \"abd\"\nconfig SNE\n\tdef_bool S != \"abc\"\nconfig NUMSTR\n\tdef_bool I > \"9\"\n",
    );
    assert_eq!(val(&kc, "EQ"), "y");
    assert_eq!(val(&kc, "LT"), "n");
    assert_eq!(val(&kc, "GEH"), "y");
    assert_eq!(val(&kc, "SLT"), "y");
    assert_eq!(val(&kc, "SNE"), "n");
    // 10 > 9 numerically (a string compare would say "10" < "9").
    assert_eq!(val(&kc, "NUMSTR"), "y");
}

#[test]
fn ranges_clamp_defaults_and_reject_user_values() {
    let mut kc = load("config R\n\tint \"r\"\n\trange 1 10\n\tdefault 20\nconfig H\n\thex \"h\"\n\trange 0x10 0x20\n\tdefault 0x18\n");
    assert_eq!(val(&kc, "R"), "10");
    with_config(&mut kc, "CONFIG_R=5\nCONFIG_H=0x40\n");
    assert_eq!(val(&kc, "R"), "5");
    assert_eq!(val(&kc, "H"), "0x18");
    let w = kc.take_warnings();
    assert!(
        w.iter()
            .any(|w| w.msg.contains("user value 0x40 on the hex symbol H")),
        "{:?}",
        w
    );
    with_config(&mut kc, "CONFIG_R=50\n");
    assert_eq!(
        val(&kc, "R"),
        "10",
        "out of range user value falls back to the clamped default"
    );
}

#[test]
fn choices() {
    let src = "config X\n\tbool \"x\"\nchoice\n\tprompt \"c\"\n\tdefault B if X\nconfig A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\nconfig C\n\tbool \"c\"\n\tdepends on X\nendchoice\n\
choice\n\tprompt \"opt\"\n\toptional\nconfig O1\n\tbool \"o1\"\nconfig O2\n\tbool \"o2\"\nendchoice\n";
    let mut kc = load(src);
    assert_eq!(val(&kc, "A"), "y", "first visible symbol");
    assert_eq!(val(&kc, "O1"), "n", "optional choice defaults to n mode");
    with_config(&mut kc, "CONFIG_X=y\n");
    assert_eq!(val(&kc, "B"), "y", "default if");
    with_config(&mut kc, "CONFIG_X=y\nCONFIG_C=y\nCONFIG_O2=y\n");
    assert_eq!(val(&kc, "C"), "y");
    assert_eq!(val(&kc, "B"), "n");
    assert_eq!(val(&kc, "O2"), "y");
    with_config(&mut kc, "CONFIG_C=y\n");
    assert_eq!(val(&kc, "A"), "y", "invisible user selection is ignored");
}

#[test]
fn visible_if_limits_visibility_but_not_defaults() {
    let mut kc = load("config E\n\tbool \"e\"\nmenu \"m\"\n\tvisible if E\nconfig V\n\tbool \"v\"\n\tdefault y\nconfig W\n\tbool \"w\"\nendmenu\n");
    assert_eq!(val(&kc, "V"), "y");
    with_config(&mut kc, "# CONFIG_V is not set\nCONFIG_W=y\n");
    assert_eq!(val(&kc, "V"), "y");
    assert_eq!(val(&kc, "W"), "n");
    with_config(&mut kc, "CONFIG_E=y\n# CONFIG_V is not set\nCONFIG_W=y\n");
    assert_eq!(val(&kc, "V"), "n");
    assert_eq!(val(&kc, "W"), "y");
}

#[test]
fn tristate_needs_modules() {
    let mut kc =
        load("config MODULES\n\tbool \"modules\"\nconfig T\n\ttristate \"t\"\n\tdefault m\n");
    assert_eq!(val(&kc, "T"), "y", "m is promoted to y without MODULES");
    with_config(&mut kc, "CONFIG_MODULES=y\n");
    assert_eq!(val(&kc, "T"), "m");
}

// ---------------------------------------------------------------------
// .config I/O
// ---------------------------------------------------------------------

#[test]
fn config_io_and_warnings() {
    let mut kc = load(
        "menu \"Menu\"\nconfig A\n\tbool \"a\"\nconfig S\n\tstring \"s\"\nconfig I\n\tint \"i\"\nconfig H\n\thex \"h\"\nendmenu\ncomment \"C\"\nconfig B\n\tbool\n",
    );
    with_config(
        &mut kc,
        "CONFIG_A=y\nCONFIG_S=\"x \\\"q\\\" \\\\\"\nCONFIG_I=abc\nCONFIG_H=0x1F\nCONFIG_NOPE=y\ngarbage\n",
    );
    let text = kc.config_text("# header\n");
    assert_eq!(
        text,
        "# header\n\n#\n# Menu\n#\nCONFIG_A=y\nCONFIG_S=\"x \\\"q\\\" \\\\\"\nCONFIG_I=\nCONFIG_H=0x1F\n# end of Menu\n\n#\n# C\n#\n"
    );
    assert_eq!(val(&kc, "S"), "x \"q\" \\");
    let w: Vec<String> = kc.take_warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with(".config:3: warning: the value 'abc' is invalid for I")),
        "{:?}",
        w
    );
    assert!(
        w.iter().any(|w| w.starts_with(
            ".config:5: warning: attempt to assign the value 'y' to the undefined symbol NOPE"
        )),
        "{:?}",
        w
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with(".config:6: warning: ignoring malformed line 'garbage'")),
        "{:?}",
        w
    );
    // Minimal config: only non-default values.
    assert_eq!(
        kc.min_config_text(""),
        "CONFIG_A=y\nCONFIG_S=\"x \\\"q\\\" \\\\\"\nCONFIG_H=0x1F\n"
    );
}

#[test]
fn symbols_iterator_for_cargo_bridge() {
    let kc = load("config A\n\tbool \"a\"\n\tdefault y\nconfig N\n\tint\n\tdefault 3\n");
    let v: Vec<SymbolInfo> = kc.symbols().collect();
    assert_eq!(v.len(), 2);
    assert_eq!(
        (
            v[0].name.as_str(),
            v[0].ty,
            v[0].value.as_str(),
            v[0].has_prompt
        ),
        ("A", SymType::Bool, "y", true)
    );
    assert_eq!(
        (
            v[1].name.as_str(),
            v[1].ty,
            v[1].value.as_str(),
            v[1].has_prompt
        ),
        ("N", SymType::Int, "3", false)
    );
}

#[test]
fn randconfig_is_deterministic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let mut a = Kconfig::load_with_arch(&dir, "aarch64").unwrap();
    let mut b = a.clone();
    let mut c = a.clone();
    a.randconfig(7);
    b.randconfig(7);
    c.randconfig(8);
    assert_eq!(a.config_text(""), b.config_text(""));
    assert_ne!(a.config_text(""), c.config_text(""));
    // The result is a fixed point: reloading it changes nothing.
    let text = a.config_text("");
    let mut d = a.clone();
    d.load_config_text(&text, "x", true);
    assert_eq!(d.config_text(""), text);
}
