//! Device trees for scenarios: QEMU's own (dumped with `dumpdtb`), and
//! deliberately broken copies to prove that bad input gets a clear error.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::qemu::Machine;

/// Dumps the DTB QEMU generates for `m`.
pub fn dump_qemu_dtb(m: &Machine, out: &Path) -> Result<Vec<u8>> {
    // A -seed the machine runs with fixes the tree's rng-seed and
    // kaslr-seed too (cargo xtask bench).
    let seed: Vec<&String> = m
        .extra
        .windows(2)
        .filter(|w| w[0] == "-seed")
        .flatten()
        .collect();
    let status = Command::new("qemu-system-aarch64")
        .args(["-M", &format!("{},dumpdtb={}", m.machine, out.display())])
        .args(seed)
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

/// A boot-time domain a scenario adds under /chosen (Xen's dom0less
/// binding), with its modules loaded by QEMU's generic loader.
pub struct DomainNode {
    pub name: String,
    pub memory_kib: u64,
    pub cpus: u32,
    pub vpl011: bool,
    pub kernel: std::path::PathBuf,
    pub kernel_addr: u64,
    pub bootargs: String,
    /// Raw device-tree source lines added to the domain node.
    pub extra: Vec<String>,
    /// A partial device tree (`multiboot,device-tree`) and where it is loaded.
    pub partial: Option<(std::path::PathBuf, u64)>,
    /// A ramdisk (`multiboot,ramdisk`) and where it is loaded.
    pub ramdisk: Option<(std::path::PathBuf, u64)>,
}

/// Compiles device-tree source with dtc.
pub fn compile(dts: &str, out: &Path) -> Result<()> {
    let src = out.with_extension("dts");
    std::fs::write(&src, dts)?;
    let st = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(out)
        .arg(&src)
        .status()?;
    if !st.success() {
        bail!("dtc could not compile {}", src.display());
    }
    Ok(())
}

fn dts_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What a scenario's tree starts from and puts under /chosen besides the
/// domains.
pub struct Base<'a> {
    /// The board's tree; `None`: the one QEMU generates for the machine.
    pub file: Option<&'a Path>,
    pub xen_bootargs: &'a str,
    /// Raw lines under /chosen (cpupool nodes).
    pub chosen_extra: &'a [String],
}

/// QEMU's tree for `m` (or the board's, `base.file`) with
/// `xen,xen-bootargs` and the domains added under /chosen (through dtc, the
/// way Xen's ImageBuilder edits a board's tree).
pub fn with_domains(
    m: &Machine,
    dir: &Path,
    name: &str,
    base: &Base,
    domains: &[DomainNode],
) -> Result<std::path::PathBuf> {
    let from = match base.file {
        Some(f) => f.to_path_buf(),
        None => {
            let dumped = dir.join(format!("{name}.qemu.dtb"));
            dump_qemu_dtb(m, &dumped)?;
            dumped
        }
    };
    let dts = Command::new("dtc")
        .args(["-q", "-I", "dtb", "-O", "dts"])
        .arg(&from)
        .output()
        .context("running dtc")?;
    if !dts.status.success() {
        bail!(
            "dtc could not read {}: {}",
            from.display(),
            String::from_utf8_lossy(&dts.stderr)
        );
    }
    let mut src = String::from_utf8(dts.stdout)?;
    src += "\n/ {\n\tchosen {\n\t\t#address-cells = <0x2>;\n\t\t#size-cells = <0x2>;\n";
    // A board's tree carries Linux's bootargs: the hypervisor gets its own
    // (empty when the scenario gives none), as Xen's ImageBuilder writes.
    if !base.xen_bootargs.is_empty() || base.file.is_some() {
        let _ = writeln!(
            src,
            "\t\txen,xen-bootargs = {};",
            dts_string(base.xen_bootargs)
        );
    }
    let chosen_extra = base.chosen_extra;
    for line in chosen_extra {
        let _ = writeln!(src, "\t\t{line}");
    }
    for d in domains {
        let size = std::fs::metadata(&d.kernel)
            .with_context(|| format!("{}", d.kernel.display()))?
            .len();
        let _ = writeln!(src, "\t\t{} {{", d.name);
        let _ = writeln!(src, "\t\t\tcompatible = \"xen,domain\";");
        let _ = writeln!(
            src,
            "\t\t\t#address-cells = <0x2>;\n\t\t\t#size-cells = <0x2>;"
        );
        let _ = writeln!(src, "\t\t\tmemory = <0x0 {:#x}>;", d.memory_kib);
        let _ = writeln!(src, "\t\t\tcpus = <{:#x}>;", d.cpus);
        if d.vpl011 {
            let _ = writeln!(src, "\t\t\tvpl011;");
        }
        for line in &d.extra {
            let _ = writeln!(src, "\t\t\t{line}");
        }
        let _ = writeln!(src, "\t\t\tmodule@{:x} {{", d.kernel_addr);
        let _ = writeln!(
            src,
            "\t\t\t\tcompatible = \"multiboot,kernel\", \"multiboot,module\";"
        );
        let _ = writeln!(
            src,
            "\t\t\t\treg = <{:#x} {:#x} 0x0 {:#x}>;",
            d.kernel_addr >> 32,
            d.kernel_addr & 0xffff_ffff,
            size
        );
        if !d.bootargs.is_empty() {
            let _ = writeln!(src, "\t\t\t\tbootargs = {};", dts_string(&d.bootargs));
        }
        src += "\t\t\t};\n";
        if let Some((path, addr)) = &d.ramdisk {
            let size = std::fs::metadata(path)?.len();
            let _ = writeln!(src, "\t\t\tmodule@{addr:x} {{");
            let _ = writeln!(
                src,
                "\t\t\t\tcompatible = \"multiboot,ramdisk\", \"multiboot,module\";"
            );
            let _ = writeln!(
                src,
                "\t\t\t\treg = <{:#x} {:#x} 0x0 {:#x}>;",
                addr >> 32,
                addr & 0xffff_ffff,
                size
            );
            src += "\t\t\t};\n";
        }
        if let Some((path, addr)) = &d.partial {
            let size = std::fs::metadata(path)?.len();
            let _ = writeln!(src, "\t\t\tmodule@{addr:x} {{");
            let _ = writeln!(
                src,
                "\t\t\t\tcompatible = \"multiboot,device-tree\", \"multiboot,module\";"
            );
            let _ = writeln!(
                src,
                "\t\t\t\treg = <{:#x} {:#x} 0x0 {:#x}>;",
                addr >> 32,
                addr & 0xffff_ffff,
                size
            );
            src += "\t\t\t};\n";
        }
        src += "\t\t};\n";
    }
    src += "\t};\n};\n";
    let dts_path = dir.join(format!("{name}.dts"));
    std::fs::write(&dts_path, &src)?;
    let out = dir.join(format!("{name}.dtb"));
    let st = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(&out)
        .arg(&dts_path)
        .status()?;
    if !st.success() {
        bail!("dtc could not build {}", dts_path.display());
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
