//! The hypervisor command line (`/chosen/xen,xen-bootargs`), with Xen's
//! syntax and parameter names: space-separated `name`, `name=value`,
//! `no-name` (boolean false). Every parameter is an entry of the [`PARAMS`]
//! registry, declared next to the code that uses it. An unknown parameter or
//! a bad value is warned about and the default kept; nothing here is fatal.

use core::fmt;

use linkme::distributed_slice;

/// What a parameter does with its value.
pub enum ParamKind {
    /// `name`, `name=<bool>`, `no-name`.
    Bool(fn(bool)),
    /// `name=value`; the parser returns an error text for a bad value.
    Value(fn(&str) -> Result<(), &'static str>),
}

/// One command-line parameter.
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub help: &'static str,
}

/// Every command-line parameter of this image.
#[distributed_slice]
pub static PARAMS: [Param];

/// A problem found while parsing; reported as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdlineIssue<'a> {
    Unknown(&'a str),
    BadValue {
        name: &'a str,
        value: &'a str,
        why: &'static str,
    },
    MissingValue(&'a str),
}

impl fmt::Display for CmdlineIssue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineIssue::Unknown(n) => write!(f, "unknown parameter '{n}' ignored"),
            CmdlineIssue::BadValue { name, value, why } => {
                write!(f, "bad value '{value}' for '{name}' ({why}); default kept")
            }
            CmdlineIssue::MissingValue(n) => write!(f, "parameter '{n}' needs a value; ignored"),
        }
    }
}

/// Parses Xen's boolean spellings.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "yes" | "on" | "true" | "enable" => Some(true),
        "0" | "no" | "off" | "false" | "disable" => Some(false),
        _ => None,
    }
}

/// Parses `cmdline` against `params`, applying each value and calling
/// `issue` for every problem. Only printable ASCII is accepted; anything
/// else is reported and skipped.
pub fn parse<'a>(cmdline: &'a str, params: &[Param], mut issue: impl FnMut(CmdlineIssue<'a>)) {
    for token in cmdline.split_ascii_whitespace() {
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            issue(CmdlineIssue::BadValue {
                name: "?",
                value: token,
                why: "not printable ASCII",
            });
            continue;
        }
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (token, None),
        };
        // Xen treats '-' and '_' in names alike.
        let matches = |p: &&Param, n: &str| {
            p.name.len() == n.len()
                && p.name
                    .bytes()
                    .zip(n.bytes())
                    .all(|(a, b)| a == b || (a == b'_' && b == b'-') || (a == b'-' && b == b'_'))
        };
        if let Some(p) = params.iter().find(|p| matches(p, name)) {
            match (&p.kind, value) {
                (ParamKind::Bool(set), None) => set(true),
                (ParamKind::Bool(set), Some(v)) => match parse_bool(v) {
                    Some(b) => set(b),
                    None => issue(CmdlineIssue::BadValue {
                        name,
                        value: v,
                        why: "not a boolean",
                    }),
                },
                (ParamKind::Value(set), Some(v)) => {
                    if let Err(why) = set(v) {
                        issue(CmdlineIssue::BadValue {
                            name,
                            value: v,
                            why,
                        });
                    }
                }
                (ParamKind::Value(_), None) => issue(CmdlineIssue::MissingValue(name)),
            }
            continue;
        }
        if let Some(rest) = name.strip_prefix("no-") {
            if let Some(p) = params.iter().find(|p| matches(p, rest)) {
                if let (ParamKind::Bool(set), None) = (&p.kind, value) {
                    set(false);
                    continue;
                }
            }
        }
        issue(CmdlineIssue::Unknown(name));
    }
}

/// Parses against the registry and warns on the console.
pub fn parse_registered(cmdline: &str) {
    parse(cmdline, &PARAMS, |i| warn!("command line: {i}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::vec::Vec;

    static FLAG: AtomicBool = AtomicBool::new(false);
    static NUM: AtomicU32 = AtomicU32::new(0);

    fn params() -> [Param; 2] {
        [
            Param {
                name: "sync_console",
                kind: ParamKind::Bool(|b| FLAG.store(b, Ordering::SeqCst)),
                help: "",
            },
            Param {
                name: "level",
                kind: ParamKind::Value(|v| {
                    let n: u32 = v.parse().map_err(|_| "not a number")?;
                    NUM.store(n, Ordering::SeqCst);
                    Ok(())
                }),
                help: "",
            },
        ]
    }

    #[test]
    fn parses_xen_syntax_and_reports_problems() {
        let mut issues = Vec::new();
        parse(
            "sync-console level=7 bogus=1 level=x level \x01",
            &params(),
            |i| issues.push(std::format!("{i}")),
        );
        assert!(FLAG.load(Ordering::SeqCst));
        assert_eq!(NUM.load(Ordering::SeqCst), 7);
        assert_eq!(
            issues,
            [
                "unknown parameter 'bogus' ignored",
                "bad value 'x' for 'level' (not a number); default kept",
                "parameter 'level' needs a value; ignored",
                "bad value '\u{1}' for '?' (not printable ASCII); default kept",
            ]
        );
        parse("no-sync_console", &params(), |_| {
            panic!("no issue expected")
        });
        assert!(!FLAG.load(Ordering::SeqCst));
        parse("sync_console=maybe", &params(), |i| {
            assert!(matches!(i, CmdlineIssue::BadValue { .. }))
        });
    }
}
