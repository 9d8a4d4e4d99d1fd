//! SUPPORT.md, generated from the plugin registry in Xen's format and
//! keyed on (section, feature, qualifier) of Xen 4.20's matrix, which the
//! project keeps as data in support/xen-4.20-features.tsv.
//!
//! The registry is read from a host build of the image crate with every
//! plugin linked (`tessera-catalog`). `--check` fails when SUPPORT.md is
//! or plugins/Kconfig (generated too: the UNSUPPORTED gates) are
//! stale, when a row names a feature not in the matrix or is claimed twice,
//! when a status above Experimental names no test, when a named test does
//! not exist, and when a plugin's Kconfig gate disagrees with its status.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::config::{self, PluginCrate};
use crate::util;

type Key = (String, String, String);

struct MatrixRow {
    key: Key,
    xen_status: String,
}

#[derive(Debug, Clone)]
struct Claim {
    owner: String,
    status: String,
    tests: Vec<String>,
    note: String,
}

struct Catalog {
    plugins: Vec<(String, String, String)>, // feature, kconfig, status
    claims: Vec<(Key, Claim)>,
}

fn matrix() -> Result<Vec<MatrixRow>> {
    let path = util::root().join("support/xen-4.20-features.tsv");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [sec, feat, qual, st] = f[..] else {
            bail!(
                "{}:{}: expected 4 tab-separated fields",
                path.display(),
                i + 1
            );
        };
        rows.push(MatrixRow {
            key: (sec.into(), feat.into(), qual.into()),
            xen_status: st.into(),
        });
    }
    Ok(rows)
}

fn catalog(plugins: &[PluginCrate]) -> Result<Catalog> {
    let features: Vec<&str> = plugins.iter().map(|p| p.feature.as_str()).collect();
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(util::root()).args([
        "run",
        "--quiet",
        "-p",
        "tessera",
        "--bin",
        "tessera-catalog",
    ]);
    if !features.is_empty() {
        c.args(["--features", &features.join(",")]);
    }
    let out = c.output().context("running tessera-catalog")?;
    if !out.status.success() {
        bail!(
            "tessera-catalog failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut cat = Catalog {
        plugins: vec![],
        claims: vec![],
    };
    for line in String::from_utf8(out.stdout)?.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[..] {
            ["plugin", name, kconfig, status, _summary] => {
                cat.plugins
                    .push((name.into(), kconfig.into(), status.into()))
            }
            ["row", owner, sec, feat, qual, status, tests, note] => cat.claims.push((
                (sec.into(), feat.into(), qual.into()),
                Claim {
                    owner: owner.into(),
                    status: status.into(),
                    tests: tests
                        .split(',')
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect(),
                    note: note.into(),
                },
            )),
            _ => bail!("unexpected catalog line: {line}"),
        }
    }
    Ok(cat)
}

const ABOVE_EXPERIMENTAL: [&str; 3] = [
    "Tech Preview",
    "Supported, not security supported",
    "Supported",
];

/// Does the named test exist?
fn test_exists(name: &str) -> Result<bool> {
    let root = util::root();
    if let Some(s) = name.strip_prefix("scenario:") {
        return Ok(root
            .join("tests/scenarios")
            .join(format!("{s}.toml"))
            .exists());
    }
    if let Some(u) = name.strip_prefix("unit:") {
        let (krate, path) = u.split_once("::").context("unit:<crate>::<path>")?;
        let func = path.rsplit("::").next().unwrap_or(path);
        let dir = crate_dir(krate)?.with_context(|| format!("no workspace crate {krate}"))?;
        let needle = format!("fn {func}(");
        return Ok(walk_rs(&dir)
            .iter()
            .any(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains(&needle))));
    }
    bail!("test name {name} is neither scenario:<name> nor unit:<crate>::<path>")
}

fn crate_dir(name: &str) -> Result<Option<std::path::PathBuf>> {
    let root = util::root();
    let ws = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let members: Vec<String> = ws
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('"') && l.ends_with("\","))
        .map(|l| l.trim_matches(|c| c == '"' || c == ',').to_string())
        .collect();
    for m in members {
        let manifest =
            std::fs::read_to_string(root.join(&m).join("Cargo.toml")).unwrap_or_default();
        if manifest
            .lines()
            .any(|l| l.trim() == format!("name = \"{name}\""))
        {
            return Ok(Some(root.join(m)));
        }
    }
    Ok(None)
}

fn walk_rs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.ends_with("target") {
                out.extend(walk_rs(&p));
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// Menu titles of plugin groups (plugins/<group>/).
const GROUP_TITLES: &[(&str, &str)] = &[
    ("uart", "Host serial consoles"),
    ("sched", "Schedulers"),
    ("xsm", "Security modules (XSM)"),
    ("iommu", "IOMMUs"),
    ("vuart", "Emulated UARTs for domains"),
];

/// plugins/Kconfig: sources every plugin's fragment, each inside
/// `if UNSUPPORTED` when its declared status is below Supported. The gate
/// is generated from the registry, so status and Kconfig cannot drift.
fn generate_plugins_kconfig(plugins: &[PluginCrate], cat: &Catalog) -> String {
    let mut out = String::from(
        "# Generated by `cargo xtask support` from the plugin registry: do not edit.\n\
         # A plugin whose status is below Supported is offered only with UNSUPPORTED=y.\n",
    );
    let root = util::root();
    let mut groups: Vec<String> = plugins
        .iter()
        .filter_map(|p| p.dir.parent()?.file_name()?.to_str().map(String::from))
        .collect();
    groups.dedup();
    for g in groups {
        let title = GROUP_TITLES
            .iter()
            .find(|(n, _)| *n == g)
            .map(|(_, t)| t.to_string())
            .unwrap_or_else(|| g.clone());
        let _ = write!(out, "\nmenu \"{title}\"\n");
        for p in plugins.iter().filter(|p| {
            p.dir
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str())
                == Some(&g)
        }) {
            let rel = p.dir.strip_prefix(&root).unwrap_or(&p.dir).join("Kconfig");
            let status = cat
                .plugins
                .iter()
                .find(|(f, _, _)| f == &p.feature)
                .map(|(_, _, s)| s.as_str())
                .unwrap_or("Not implemented");
            if status.starts_with("Supported") {
                let _ = writeln!(out, "source \"{}\"", rel.display());
            } else {
                let _ = writeln!(
                    out,
                    "if UNSUPPORTED # {}: {status}\nsource \"{}\"\nendif",
                    p.feature,
                    rel.display()
                );
            }
        }
        out += "endmenu\n";
    }
    out
}

/// The generated file, and the problems found on the way.
fn generate() -> Result<(String, Vec<String>)> {
    let rows = matrix()?;
    let plugins = config::plugin_crates()?;
    let cat = catalog(&plugins)?;
    let mut problems = vec![];

    let mut claims: BTreeMap<Key, Claim> = BTreeMap::new();
    for (key, claim) in &cat.claims {
        if !rows.iter().any(|r| &r.key == key) {
            problems.push(format!(
                "{} claims {:?}, which is not a row of the matrix",
                claim.owner, key
            ));
        }
        if let Some(prev) = claims.insert(key.clone(), claim.clone()) {
            problems.push(format!(
                "{:?} is claimed by both {} and {}",
                key, prev.owner, claim.owner
            ));
        }
        if ABOVE_EXPERIMENTAL.contains(&claim.status.as_str()) && claim.tests.is_empty() {
            problems.push(format!(
                "{} claims {:?} as {} without naming a test",
                claim.owner, key, claim.status
            ));
        }
        for t in &claim.tests {
            if !test_exists(t)? {
                problems.push(format!(
                    "{} names test {t}, which does not exist",
                    claim.owner
                ));
            }
        }
    }
    // Plugin crates, Kconfig symbols and registry entries match one to one,
    // and the Kconfig gate follows the status.
    for p in &plugins {
        match cat.plugins.iter().find(|(f, _, _)| f == &p.feature) {
            None => problems.push(format!(
                "plugin crate {} (feature {}) registers no Plugin entry",
                p.dir.display(),
                p.feature
            )),
            Some((_, kconfig, status)) => {
                if kconfig != &p.symbol {
                    problems.push(format!(
                        "plugin {} registers Kconfig {kconfig} but its Kconfig defines {}",
                        p.feature, p.symbol
                    ));
                }
                let text = std::fs::read_to_string(p.dir.join("Kconfig"))?;
                if text.lines().any(|l| l.trim() == "depends on UNSUPPORTED") {
                    problems.push(format!(
                        "plugin {}: its UNSUPPORTED gate is generated into plugins/Kconfig; remove it from the fragment",
                        p.feature
                    ));
                }
                let prompt_ok = text.lines().any(|l| {
                    let t = l.trim_start();
                    t.starts_with("bool \"") && t.contains(&format!("({status})\""))
                });
                let help_ok = text
                    .lines()
                    .any(|l| l.trim() == format!("Status: {status}"));
                if !prompt_ok || !help_ok {
                    problems.push(format!(
                        "plugin {}: its Kconfig prompt must end in \"({status})\" and its help say \"Status: {status}\", as its registry entry does",
                        p.feature
                    ));
                }
            }
        }
    }
    for (feature, _, _) in &cat.plugins {
        if !plugins.iter().any(|p| &p.feature == feature) {
            problems.push(format!(
                "registry entry {feature} has no plugin crate under plugins/"
            ));
        }
    }

    let kconfig = generate_plugins_kconfig(&plugins, &cat);
    let kpath = util::root().join("plugins/Kconfig");
    if std::fs::read_to_string(&kpath).unwrap_or_default() != kconfig {
        if WRITE.load(std::sync::atomic::Ordering::Relaxed) {
            std::fs::write(&kpath, &kconfig)?;
        } else {
            problems.push("plugins/Kconfig is stale: run `cargo xtask support`".into());
        }
    }

    let mut out = String::new();
    out += "# Support statement for Tessera\n\n";
    out += "This file is generated by `cargo xtask support` from the plugin registry;\n";
    out += "edit the plugins' `SupportRow`s, not this file. It follows the grammar of\n";
    out += "Xen's SUPPORT.md and has one Status line for every row of Xen 4.20's\n";
    out += "feature matrix, keyed on section, feature and qualifier. A row no plugin\n";
    out += "answers for says `Not implemented`. Statuses were tested on QEMU's `virt`\n";
    out += "board (aarch64, TCG) unless a row says otherwise.\n\n";
    out += "# Release Support\n\n";
    let _ = writeln!(out, "    Tessera-Version: {}", env!("CARGO_PKG_VERSION"));
    out += "    Feature-Matrix: Xen 4.20\n    Security-Support: none yet (no feature is Supported)\n\n";
    out += "# Feature Support\n";
    let mut i = 0;
    while i < rows.len() {
        let sec = &rows[i].key.0;
        let _ = write!(out, "\n## {sec}\n");
        while i < rows.len() && &rows[i].key.0 == sec {
            let feat = rows[i].key.1.clone();
            let start = i;
            while i < rows.len() && &rows[i].key.0 == sec && rows[i].key.1 == feat {
                i += 1;
            }
            if !feat.is_empty() {
                let _ = write!(out, "\n### {feat}\n");
            }
            out += "\n";
            for r in &rows[start..i] {
                let status = claims
                    .get(&r.key)
                    .map(|c| c.status.as_str())
                    .unwrap_or("Not implemented");
                if r.key.2.is_empty() {
                    let _ = writeln!(out, "    Status: {status}");
                } else {
                    let _ = writeln!(out, "    Status, {}: {status}", r.key.2);
                }
            }
            for r in &rows[start..i] {
                if let Some(c) = claims.get(&r.key) {
                    let what = if r.key.2.is_empty() {
                        "This feature".to_string()
                    } else {
                        r.key.2.clone()
                    };
                    let _ = write!(
                        out,
                        "\n{what}: {} (provided by {}; Xen 4.20: {}).",
                        c.status, c.owner, r.xen_status
                    );
                    if !c.note.is_empty() {
                        let _ = write!(out, " {}", c.note);
                    }
                    if !c.tests.is_empty() {
                        let _ = write!(
                            out,
                            " Tests: {}.",
                            c.tests
                                .iter()
                                .map(|t| format!("`{t}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                    out += "\n";
                }
            }
        }
    }
    out += DEFINITIONS;
    Ok((out, problems))
}

const DEFINITIONS: &str = "
# Format and definitions

Each `###` heading is a feature; its indented `Status:` lines give Tessera's
status, one per qualifier (an architecture or an implementation). Text after
the Status lines qualifies them: which plugin provides the feature, Xen's own
status for comparison, what is missing, and the tests that back the status.

## Definition of Status labels

### Not implemented

Tessera has no code for this feature. Images do not offer it.

### Experimental

Code exists and runs in at least one test, but the feature is incomplete or
unproven. Offered only with `UNSUPPORTED=y`; not security supported.

### Tech Preview

Functionally complete and tested by the named QEMU scenarios, but not yet
hardened against hostile input or used in production. Offered only with
`UNSUPPORTED=y`; not security supported.

### Supported

Functionally complete, tested by the named QEMU scenarios and by
hostile-input tests, and security supported. `Supported, not security
supported` drops the last part.
";

pub fn check() -> Result<()> {
    let (text, problems) = generate()?;
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let path = util::root().join("SUPPORT.md");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != text {
        bail!("SUPPORT.md is stale: run `cargo xtask support`");
    }
    Ok(())
}

/// Set by `cargo xtask support` (not `--check`): write generated files.
static WRITE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn cmd_support(args: &[String]) -> Result<()> {
    let o = util::Opts::parse(args, &[], &["check"])?;
    WRITE.store(!o.flag("check"), std::sync::atomic::Ordering::Relaxed);
    if o.flag("check") {
        check()?;
        println!("SUPPORT.md is current and every claim is backed");
        return Ok(());
    }
    let (text, problems) = generate()?;
    std::fs::write(util::root().join("SUPPORT.md"), &text)?;
    let rows = text
        .lines()
        .filter(|l| l.trim_start().starts_with("Status"))
        .count();
    println!("SUPPORT.md written: {rows} status lines");
    for p in &problems {
        eprintln!("xtask: support: {p}");
    }
    if !problems.is_empty() {
        bail!("{} problem(s) in the registry", problems.len());
    }
    Ok(())
}
