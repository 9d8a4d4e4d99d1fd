//! Device trees for scenarios: QEMU's own (dumped with `dumpdtb`), and
//! deliberately broken copies to prove that bad input gets a clear error.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::qemu::Machine;

/// Dumps the DTB QEMU generates for `m`.
pub fn dump_qemu_dtb(m: &Machine, out: &Path) -> Result<Vec<u8>> {
    let status = Command::new("qemu-system-aarch64")
        .args(["-M", &format!("{},dumpdtb={}", m.machine, out.display())])
        .args([
            "-cpu",
            &m.cpu,
            "-smp",
            &m.smp.to_string(),
            "-m",
            &m.memory,
            "-display",
            "none",
        ])
        .status()
        .context("running qemu-system-aarch64 dumpdtb")?;
    if !status.success() {
        bail!("QEMU could not dump its device tree");
    }
    Ok(std::fs::read(out)?)
}

fn be32(d: &[u8], o: usize) -> Result<u32> {
    Ok(u32::from_be_bytes(
        d.get(o..o + 4).context("DTB truncated")?.try_into()?,
    ))
}

/// Offset (in the blob) of the first property of the node named `node`.
fn first_property_of(blob: &[u8], node: &str) -> Result<usize> {
    let off_struct = be32(blob, 8)? as usize;
    let mut off = off_struct;
    let mut in_target = false;
    loop {
        match be32(blob, off)? {
            1 => {
                let name_start = off + 4;
                let len = blob[name_start..]
                    .iter()
                    .position(|&b| b == 0)
                    .context("unterminated name")?;
                let name = std::str::from_utf8(&blob[name_start..name_start + len])?;
                in_target = name == node;
                off = (name_start + len + 1 + 3) & !3;
            }
            2 => off += 4,
            3 => {
                if in_target {
                    return Ok(off);
                }
                let len = be32(blob, off + 4)? as usize;
                off = (off + 12 + len + 3) & !3;
            }
            4 => off += 4,
            _ => bail!("node {node} not found"),
        }
    }
}

/// Drops the free space QEMU pads its tree with (its `-dtb` loader doubles
/// the file size, and a tree over 2 MiB is refused on its own account).
fn pack(blob: &[u8]) -> Result<Vec<u8>> {
    let end = [(8, 36), (12, 32)] // (off_dt_struct, size_dt_struct), (off_dt_strings, size_dt_strings)
        .iter()
        .map(|&(o, s)| Ok(be32(blob, o)? as usize + be32(blob, s)? as usize))
        .collect::<Result<Vec<usize>>>()?
        .into_iter()
        .max()
        .unwrap();
    let mut out = blob
        .get(..end)
        .context("DTB blocks outside the file")?
        .to_vec();
    out[4..8].copy_from_slice(&(end as u32).to_be_bytes());
    Ok(out)
}

/// Applies a corruption named in a scenario:
/// - `bad-string-offset:<node>`: the node's first property names a string
///   far outside the strings block.
pub fn corrupt(blob: &[u8], kind: &str) -> Result<Vec<u8>> {
    let mut out = pack(blob)?;
    match kind.split_once(':') {
        Some(("bad-string-offset", node)) => {
            let p = first_property_of(&out, node)?;
            out[p + 8..p + 12].copy_from_slice(&0x00ff_fff0u32.to_be_bytes());
        }
        _ => bail!("unknown dtb corruption {kind}"),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_lands_in_the_named_node_of_a_packed_tree() {
        let blob =
            std::fs::read(crate::util::root().join("tests/fixtures/qemu-virt-gicv3-smp4.dtb"))
                .unwrap();
        let bad = corrupt(&blob, "bad-string-offset:pl061@9030000").unwrap();
        assert!(bad.len() < blob.len(), "padding dropped");
        assert_eq!(be32(&bad, 4).unwrap() as usize, bad.len());
        let p = first_property_of(&bad, "pl061@9030000").unwrap();
        assert_eq!(be32(&bad, p + 8).unwrap(), 0x00ff_fff0);
        assert!(corrupt(&blob, "bad-string-offset:nonexistent").is_err());
        assert!(corrupt(&blob, "mystery").is_err());
    }
}
