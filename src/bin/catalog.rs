//! Prints the registry of a host build that links every plugin: what
//! `cargo xtask support` turns into SUPPORT.md. One record per line,
//! tab-separated: `plugin` and `row` records.
use tessera::core_::registry::{SupportRow, CORE_SUPPORT, PLUGINS};

fn row(owner: &str, r: &SupportRow) {
    println!(
        "row\t{owner}\t{}\t{}\t{}\t{}\t{}\t{}",
        r.section,
        r.feature,
        r.qualifier.unwrap_or(""),
        r.status.as_str(),
        r.tests.join(","),
        r.note
    );
}

fn main() {
    for p in PLUGINS.iter() {
        println!(
            "plugin\t{}\t{}\t{}\t{}",
            p.name,
            p.kconfig,
            p.status.as_str(),
            p.summary
        );
        for r in p.support {
            row(p.name, r);
        }
    }
    for rows in CORE_SUPPORT.iter() {
        for r in *rows {
            row("core", r);
        }
    }
}
