//! Board families: each platform crate registers a [`Platform`] matched by
//! the device tree's root `compatible`. Platforms differ only in their
//! crates and defconfigs; the device tree stays the source of truth.

use linkme::distributed_slice;

use crate::fdt::Fdt;

pub struct Platform {
    pub name: &'static str,
    pub compatible: &'static [&'static str],
}

/// Every platform linked into this image.
#[distributed_slice]
pub static PLATFORMS: [Platform];

/// The platform whose compatible the root node lists first.
pub fn detect<'a>(platforms: &'a [Platform], fdt: &Fdt) -> Option<&'a Platform> {
    fdt.root()
        .compatible()
        .find_map(|c| platforms.iter().find(|p| p.compatible.contains(&c)))
}
