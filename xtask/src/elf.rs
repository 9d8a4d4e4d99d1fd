//! Turns the linked ELF into the flat arm64 Image loaders expect, and
//! checks its header.

use anyhow::{bail, Context, Result};

fn u16_at(d: &[u8], o: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(
        d.get(o..o + 2).context("truncated ELF")?.try_into()?,
    ))
}
fn u32_at(d: &[u8], o: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(
        d.get(o..o + 4).context("truncated ELF")?.try_into()?,
    ))
}
fn u64_at(d: &[u8], o: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(
        d.get(o..o + 8).context("truncated ELF")?.try_into()?,
    ))
}

/// The loadable segments laid out from the lowest virtual address.
pub fn flat_image(elf: &[u8]) -> Result<Vec<u8>> {
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || u16_at(elf, 18)? != 183 {
        bail!("not a 64-bit aarch64 ELF");
    }
    let phoff = u64_at(elf, 0x20)? as usize;
    let phentsize = u16_at(elf, 0x36)? as usize;
    let phnum = u16_at(elf, 0x38)? as usize;
    let mut segs = vec![];
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        if u32_at(elf, p)? != 1 {
            continue; // PT_LOAD only
        }
        let off = u64_at(elf, p + 8)? as usize;
        let vaddr = u64_at(elf, p + 16)?;
        let filesz = u64_at(elf, p + 32)? as usize;
        if filesz > 0 {
            segs.push((
                vaddr,
                elf.get(off..off + filesz)
                    .context("segment outside the file")?,
            ));
        }
    }
    let base = segs
        .iter()
        .map(|s| s.0)
        .min()
        .context("no loadable segment")?;
    let end = segs.iter().map(|s| s.0 + s.1.len() as u64).max().unwrap();
    let mut out = vec![0u8; (end - base) as usize];
    for (va, data) in segs {
        let o = (va - base) as usize;
        out[o..o + data.len()].copy_from_slice(data);
    }
    Ok(out)
}

/// Checks the arm64 Image header: magic, and image_size covering the file.
pub fn check_image_header(img: &[u8]) -> Result<u64> {
    if img.get(0x38..0x3c) != Some(b"ARM\x64") {
        bail!("no arm64 Image magic at offset 0x38");
    }
    let image_size = u64_at(img, 0x10)?;
    if image_size < img.len() as u64 {
        bail!(
            "image_size {image_size:#x} smaller than the file ({:#x})",
            img.len()
        );
    }
    Ok(image_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(flat_image(b"not an elf at all").is_err());
        let mut img = vec![0u8; 0x40];
        assert!(check_image_header(&img).is_err());
        img[0x38..0x3c].copy_from_slice(b"ARM\x64");
        img[0x10] = 0x20; // image_size smaller than the file
        assert!(check_image_header(&img).is_err());
        img[0x10] = 0x80;
        assert_eq!(check_image_header(&img).unwrap(), 0x80);
    }
}
