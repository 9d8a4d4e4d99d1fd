//! Guest kernels the scenarios boot: the test guest under tests/guests/
//! (built with the bare-metal toolchain into a flat arm64 Image).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::{elf, image, toolchain, util};

/// Builds tests/guests/<name> and returns its Image. A name with a `/` is
/// taken as a path to an existing Image instead.
pub fn image(name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        if !p.exists() {
            bail!("guest image {} does not exist", p.display());
        }
        return Ok(p);
    }
    let root = util::root();
    let dir = root.join("tests/guests").join(name);
    if !dir.join("Cargo.toml").exists() {
        bail!("no guest {name} under tests/guests");
    }
    let tc = toolchain::toolchain()?;
    let target_dir = root.join("target/guests");
    let mut c = tc.cargo();
    c.current_dir(&dir)
        .args(["build", "--release", "--target", image::TARGET])
        .args([
            "-Zbuild-std=core",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .args([
            "--config",
            &format!("target.{}.linker=\"ld.lld\"", image::TARGET),
        ])
        .env("CARGO_TARGET_DIR", &target_dir);
    if std::env::var_os("CI").is_some() {
        c.arg("--quiet");
    }
    util::run(&mut c).with_context(|| format!("building guest {name}"))?;
    let elf_path = target_dir.join(image::TARGET).join("release").join(name);
    let flat = elf::flat_image(&std::fs::read(&elf_path)?)?;
    elf::check_image_header(&flat)?;
    let out = target_dir.join(format!("{name}.bin"));
    std::fs::write(&out, flat)?;
    Ok(out)
}

#[allow(dead_code)]
pub fn exists(name: &str) -> bool {
    Path::new(
        &util::root()
            .join("tests/guests")
            .join(name)
            .join("Cargo.toml"),
    )
    .exists()
}
