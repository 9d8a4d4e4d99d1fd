//! Small helpers: the workspace root, option parsing, running commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The workspace root (where Cargo.toml and Kconfig live).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Command-line options of one command: `--name value`, flags, positionals
/// and everything after `--`.
pub struct Opts {
    pub values: Vec<(String, String)>,
    pub flags: Vec<String>,
    pub positional: Vec<String>,
    pub trailing: Vec<String>,
}

impl Opts {
    /// `with_value` lists the options that take a value.
    pub fn parse(args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Opts> {
        let mut o = Opts {
            values: vec![],
            flags: vec![],
            positional: vec![],
            trailing: vec![],
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                o.trailing = it.cloned().collect();
                break;
            }
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (name, None),
                };
                if with_value.contains(&name) {
                    let v = match inline {
                        Some(v) => v,
                        None => it
                            .next()
                            .cloned()
                            .with_context(|| format!("--{name} needs a value"))?,
                    };
                    o.values.push((name.to_string(), v));
                } else if flags.contains(&name) {
                    o.flags.push(name.to_string());
                } else {
                    bail!("unknown option --{name}");
                }
            } else {
                o.positional.push(a.clone());
            }
        }
        Ok(o)
    }
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

/// Runs a command, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd.get_program());
    }
    Ok(())
}

/// FNV-1a, for short content hashes.
pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_values_flags_and_trailing() {
        let args: Vec<String> = [
            "--config",
            "a",
            "--scenario=x",
            "--scenario",
            "y",
            "--check",
            "pos",
            "--",
            "-smp",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = Opts::parse(&args, &["config", "scenario"], &["check"]).unwrap();
        assert_eq!(o.value("config"), Some("a"));
        assert_eq!(o.all("scenario"), ["x", "y"]);
        assert!(o.flag("check"));
        assert_eq!(o.positional, ["pos"]);
        assert_eq!(o.trailing, ["-smp", "2"]);
        assert!(Opts::parse(&["--bogus".to_string()], &[], &[]).is_err());
        assert!(Opts::parse(&["--config".to_string()], &["config"], &[]).is_err());
    }
}
