//! `cargo xtask build`: configuration -> cargo features + constants ->
//! bare-metal build -> flat arm64 Image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::{self, Config};
use crate::{elf, toolchain, util};

pub const TARGET: &str = "aarch64-unknown-none-softfloat";

/// A built image.
pub struct Image {
    pub config: Config,
    pub path: PathBuf,
    pub elf: PathBuf,
    pub image_size: u64,
}

/// Builds the image for `base` + `fragments`.
pub fn build(base: &Path, fragments: &[String], variant: &str) -> Result<Image> {
    let tc = toolchain::toolchain()?;
    let cfg = config::resolve(base, fragments, variant)?;
    let root = util::root();
    let target_dir = root.join("target/image");
    let mut c = tc.cargo();
    c.current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "tessera",
            "--bin",
            "tessera",
            "--target",
            TARGET,
        ])
        .args(["-Zbuild-std=core,alloc", "--no-default-features"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("TESSERA_CONFIG_RS", &cfg.config_rs);
    if !cfg.features.is_empty() {
        c.args(["--features", &cfg.features.join(",")]);
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("XTASK_QUIET").is_some() {
        c.arg("--quiet");
    }
    util::run(&mut c).with_context(|| format!("building configuration {}", cfg.name))?;
    let elf_path = target_dir.join(TARGET).join("release/tessera");
    let data = std::fs::read(&elf_path)?;
    let flat = elf::flat_image(&data)?;
    let image_size = elf::check_image_header(&flat)?;
    let out = cfg.dir.join("tessera.bin");
    std::fs::write(&out, &flat)?;
    let elf_copy = cfg.dir.join("tessera.elf");
    std::fs::copy(&elf_path, &elf_copy)?;
    Ok(Image {
        config: cfg,
        path: out,
        elf: elf_copy,
        image_size,
    })
}

pub fn cmd_build(args: &[String]) -> Result<()> {
    let o = util::Opts::parse(args, &["config", "out"], &[])?;
    let base = PathBuf::from(o.value("config").unwrap_or(config::DEFAULT_CONFIG));
    let img = build(&base, &[], "")?;
    let path = match o.value("out") {
        Some(out) => {
            std::fs::copy(&img.path, out)?;
            PathBuf::from(out)
        }
        None => img.path.clone(),
    };
    eprintln!(
        "xtask: {} from {} ({} bytes in the file, {} with BSS); features: {}",
        img.config.name,
        img.config.dot_config.display(),
        std::fs::metadata(&path)?.len(),
        img.image_size,
        if img.config.features.is_empty() {
            "none".into()
        } else {
            img.config.features.join(",")
        }
    );
    let _ = &img.elf;
    println!("{}", path.display());
    Ok(())
}
