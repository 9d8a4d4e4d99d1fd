//! Real Linux guests for the QEMU scenarios: Debian's arm64 kernel as a raw
//! arm64 Image, and small busybox initramfs archives. Both come from Debian
//! packages that apt downloads (never installs) into target/debian/, where
//! the results are cached.
//!
//! What Debian ships: `boot/vmlinuz-<ver>-arm64` in `linux-image-<ver>-arm64`
//! is an uncompressed arm64 Image with an EFI stub ("MZ" at 0, "ARM\x64" at
//! 0x38; CONFIG_EFI_ZBOOT is off), in bookworm's 6.1 as in the 6.12
//! backports, so it is used as it is. Gzip-compressed Images and EFI zboot
//! images with a gzip payload are unpacked too (by the small inflater
//! below), should that change.
//!
//! Outputs: target/debian/linux-Image, linux-version (the kernel release,
//! as `uname -r` prints it), linux-package (package and version, the cache
//! key), zynqmp-zcu102-rev1.0.dtb (when the package has it), busybox, and
//! initramfs-<name>.cpio (newc, uncompressed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use anyhow::{bail, ensure, Context, Result};

use crate::{elf, util};

const ARCH: &str = "arm64";
const KERNEL_META: &str = "linux-image-arm64";
const BUSYBOX_PACKAGE: &str = "busybox-static";
const ZCU102_DTB: &str = "zynqmp-zcu102-rev1.0.dtb";

/// The busybox applets linked in /bin of every initramfs.
pub const APPLETS: &[&str] = &[
    "sh", "mount", "umount", "poweroff", "reboot", "echo", "cat", "ls", "uname", "dmesg", "sleep",
    "nproc", "mkdir", "grep",
];

/// An /init that reports the kernel release and the CPU count on the
/// console, then powers the machine off.
pub const INIT_POWEROFF: &str = r#"#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "TESSERA-LINUX-USERSPACE: $(uname -r) cpus=$(nproc)" > /dev/console
poweroff -f
"#;

/// An /init that also lists /proc/interrupts (which interrupt controller
/// driver took which lines, and how often they fired), then powers off.
pub const INIT_INTERRUPTS: &str = r#"#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "TESSERA-LINUX-USERSPACE: $(uname -r) cpus=$(nproc)" > /dev/console
cat /proc/interrupts > /dev/console
poweroff -f
"#;

/// The demo's init: a shell on the console; leaving it powers the domain
/// off.
pub const INIT_SHELL: &str = r#"#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "TESSERA-LINUX-USERSPACE: $(uname -r) cpus=$(nproc)" > /dev/console
echo "A busybox shell: 'exit' powers this domain off; CTRL-a three times moves the console input on." > /dev/console
sh </dev/console >/dev/console 2>&1
poweroff -f
"#;

/// The /init an `initramfs:NAME` ramdisk runs: a script, or (bench) the
/// executable `cargo xtask bench` times Linux with.
pub fn init_script(name: &str) -> Result<Vec<u8>> {
    match name {
        "poweroff" => Ok(INIT_POWEROFF.as_bytes().to_vec()),
        "shell" => Ok(INIT_SHELL.as_bytes().to_vec()),
        "interrupts" => Ok(INIT_INTERRUPTS.as_bytes().to_vec()),
        "bench" => Ok(crate::hvbench::init_elf()),
        other => bail!("unknown initramfs '{other}' (poweroff, shell, interrupts, bench)"),
    }
}

fn cache_dir() -> PathBuf {
    util::root().join("target/debian")
}

/// Serialises the apt work and the cache of concurrent callers.
fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Debian's arm64 kernel (what `linux-image-arm64` depends on) as a raw
/// arm64 Image: target/debian/linux-Image. Downloads only when apt resolves
/// another version than the cached one; offline, a cached Image is used.
/// Asks apt once per process (about a second).
pub fn kernel() -> Result<PathBuf> {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    let _guard = lock();
    if let Some(p) = DONE.get().filter(|p| p.exists()) {
        return Ok(p.clone());
    }
    let image = fetch_kernel()?;
    let _ = DONE.set(image.clone());
    Ok(image)
}

fn fetch_kernel() -> Result<PathBuf> {
    let dir = cache_dir();
    let image = dir.join("linux-Image");
    let stamp_file = dir.join("linux-package");
    let cached = (image.exists() && dir.join("linux-version").exists())
        .then(|| read_trimmed(&stamp_file))
        .flatten();
    let Some(pkg) = resolve("the Linux kernel", cached.as_deref(), resolve_kernel)? else {
        return Ok(image);
    };
    let release = pkg.release()?;
    eprintln!(
        "xtask: fetching {}:{ARCH} {} from Debian",
        pkg.name, pkg.version
    );
    std::fs::create_dir_all(&dir)?;
    let x = fetch_deb(&pkg, &dir)?;
    let vmlinuz = x.join(format!("boot/vmlinuz-{release}"));
    let data = std::fs::read(&vmlinuz)
        .with_context(|| format!("{} has no boot/vmlinuz-{release}", pkg.name))?;
    let (raw, format) = raw_image(data)?;
    elf::check_image_header(&raw)?;
    eprintln!(
        "xtask: boot/vmlinuz-{release} is {format}; Image: {} bytes",
        raw.len()
    );
    let dtb_src = x.join(format!("usr/lib/linux-image-{release}/xilinx/{ZCU102_DTB}"));
    let dtb = dir.join(ZCU102_DTB);
    if dtb_src.exists() {
        write_atomic(&dtb, &std::fs::read(&dtb_src)?)?;
    } else {
        let _ = std::fs::remove_file(&dtb);
    }
    write_atomic(&image, &raw)?;
    write_atomic(
        &dir.join("linux-version"),
        format!("{release}\n").as_bytes(),
    )?;
    // The cache key last: it marks the outputs complete.
    write_atomic(&stamp_file, format!("{}\n", pkg.stamp()).as_bytes())?;
    std::fs::remove_dir_all(&x)?;
    Ok(image)
}

/// The release of the cached kernel (`uname -r` in the guest), e.g.
/// "6.1.0-56-arm64"; call [`kernel`] first.
#[allow(dead_code)]
pub fn kernel_release() -> Result<String> {
    let f = cache_dir().join("linux-version");
    read_trimmed(&f).with_context(|| format!("no {}: run linux::kernel() first", f.display()))
}

/// A board device tree the kernel package ships, as cached next to the
/// kernel (today the ZynqMP ZCU102 rev1.0 one); call [`kernel`] first.
pub fn packaged_dtb(file: &str) -> Result<PathBuf> {
    ensure!(
        file == ZCU102_DTB,
        "only {ZCU102_DTB} is taken from the kernel package, not {file}"
    );
    let p = cache_dir().join(file);
    ensure!(
        p.exists(),
        "the cached kernel package has no xilinx/{file} (target/debian)"
    );
    Ok(p)
}

/// A newc initramfs with busybox (from Debian's `busybox-static:arm64`) and
/// `init_script` as /init: target/debian/initramfs-<name>.cpio. A script
/// without a `#!` line gets `#!/bin/sh`; an ELF executable goes in as it is.
pub fn initramfs(name: &str, init_script: &[u8]) -> Result<PathBuf> {
    ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "bad initramfs name '{name}' (letters, digits, - _ . only)"
    );
    let _guard = lock();
    let busybox = std::fs::read(busybox()?)?;
    let archive = initramfs_archive(&busybox, init_script);
    let out = cache_dir().join(format!("initramfs-{name}.cpio"));
    if std::fs::read(&out).ok().as_deref() != Some(&archive[..]) {
        write_atomic(&out, &archive)?;
    }
    Ok(out)
}

/// target/debian/busybox, the static arm64 busybox (apt asked once per
/// process). The caller holds the lock.
fn busybox() -> Result<PathBuf> {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = DONE.get().filter(|p| p.exists()) {
        return Ok(p.clone());
    }
    let bin = fetch_busybox()?;
    let _ = DONE.set(bin.clone());
    Ok(bin)
}

fn fetch_busybox() -> Result<PathBuf> {
    let dir = cache_dir();
    let bin = dir.join("busybox");
    let stamp_file = dir.join("busybox-package");
    let cached = bin.exists().then(|| read_trimmed(&stamp_file)).flatten();
    let Some(pkg) = resolve("busybox", cached.as_deref(), || {
        let show = apt_show(BUSYBOX_PACKAGE)?;
        Ok(Pkg {
            name: BUSYBOX_PACKAGE.into(),
            version: field(&show, "Version")
                .context("no Version in apt-cache show busybox-static")?
                .into(),
        })
    })?
    else {
        return Ok(bin);
    };
    eprintln!(
        "xtask: fetching {}:{ARCH} {} from Debian",
        pkg.name, pkg.version
    );
    std::fs::create_dir_all(&dir)?;
    let x = fetch_deb(&pkg, &dir)?;
    let data = std::fs::read(x.join("bin/busybox")).context("busybox-static has no bin/busybox")?;
    ensure!(
        data.starts_with(b"\x7fELF") && data.get(18..20) == Some(&183u16.to_le_bytes()[..]),
        "bin/busybox is not an aarch64 ELF"
    );
    write_atomic(&bin, &data)?;
    write_atomic(&stamp_file, format!("{}\n", pkg.stamp()).as_bytes())?;
    std::fs::remove_dir_all(&x)?;
    Ok(bin)
}

// ---------------------------------------------------------------------------
// apt

/// A concrete binary package of the arm64 architecture.
#[derive(Debug, PartialEq)]
struct Pkg {
    name: String,
    version: String,
}

impl Pkg {
    /// What the cache records: "linux-image-6.1.0-56-arm64:arm64 6.1.192-2".
    fn stamp(&self) -> String {
        format!("{}:{ARCH} {}", self.name, self.version)
    }
    /// "linux-image-6.1.0-56-arm64" -> "6.1.0-56-arm64".
    fn release(&self) -> Result<&str> {
        self.name
            .strip_prefix("linux-image-")
            .filter(|r| !r.is_empty())
            .with_context(|| format!("{} is not a linux-image package", self.name))
    }
}

/// What to download, or None when the cache (`cached`, its stamp) is
/// current, or when apt cannot answer and there is a cache. Asks the apt
/// lists we have first; when they disagree with the cache (or know nothing)
/// updates them, once per process.
fn resolve(
    what: &str,
    cached: Option<&str>,
    resolve: impl Fn() -> Result<Pkg>,
) -> Result<Option<Pkg>> {
    if let (Ok(p), Some(c)) = (resolve(), cached) {
        if p.stamp() == c {
            return Ok(None);
        }
    }
    match prepare_apt().and_then(|()| resolve()) {
        Ok(p) if Some(p.stamp().as_str()) == cached => Ok(None),
        Ok(p) => Ok(Some(p)),
        Err(e) if cached.is_some() => {
            eprintln!("xtask: cannot ask apt about {what} ({e:#}); using the cached copy");
            Ok(None)
        }
        Err(e) => Err(e.context(format!("resolving {what} with apt"))),
    }
}

/// The package `linux-image-arm64:arm64` depends on, at its candidate
/// version.
fn resolve_kernel() -> Result<Pkg> {
    let show = apt_show(KERNEL_META)?;
    let (name, version) = kernel_dependency(&show)?;
    let version = match version {
        Some(v) => v,
        None => field(&apt_show(&name)?, "Version")
            .with_context(|| format!("no Version in apt-cache show {name}"))?
            .to_string(),
    };
    Ok(Pkg { name, version })
}

/// `apt-cache show --no-all-versions <package>:arm64`: the candidate's
/// stanza.
fn apt_show(package: &str) -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", &format!("{package}:{ARCH}")])
        .env("LC_ALL", "C")
        .output()
        .context("cannot run apt-cache (is this a Debian host?)")?;
    ensure!(
        out.status.success(),
        "apt-cache show {package}:{ARCH} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A one-line field of the first stanza of `apt-cache show` output.
pub(crate) fn field<'a>(show: &'a str, name: &str) -> Option<&'a str> {
    show.lines()
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// The `linux-image-<ver>-arm64` in the Depends of `linux-image-arm64`, and
/// the version it pins (`(= 6.1.192-2)`) if any.
fn kernel_dependency(show: &str) -> Result<(String, Option<String>)> {
    let deps = field(show, "Depends").context("no Depends in apt-cache show linux-image-arm64")?;
    for alt in deps.split([',', '|']) {
        let alt = alt.trim();
        let (name, rest) = alt.split_once(' ').unwrap_or((alt, ""));
        let name = name.split(':').next().unwrap_or(name);
        if name.starts_with("linux-image-") && name.ends_with("-arm64") && name != KERNEL_META {
            let version = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.trim().strip_prefix('='))
                .map(|v| v.trim().to_string());
            return Ok((name.to_string(), version));
        }
    }
    bail!("linux-image-arm64 depends on no linux-image-*-arm64 package (Depends: {deps})")
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn stdout_of(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    ensure!(out.status.success(), "{:?} failed", cmd.get_program());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Makes dpkg know arm64 packages and, as root, updates the apt lists (once
/// per process).
fn prepare_apt() -> Result<()> {
    static UPDATED: AtomicBool = AtomicBool::new(false);
    if UPDATED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let native = stdout_of(Command::new("dpkg").arg("--print-architecture"))?;
    let foreign = stdout_of(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    let root = is_root();
    if native.trim() != ARCH && !foreign.lines().any(|l| l.trim() == ARCH) {
        ensure!(
            root,
            "dpkg does not know {ARCH} packages: as root, run \
             `dpkg --add-architecture {ARCH} && apt-get update`"
        );
        eprintln!("xtask: dpkg --add-architecture {ARCH}");
        util::run(Command::new("dpkg").args(["--add-architecture", ARCH]))?;
    }
    if root {
        eprintln!("xtask: apt-get update");
        util::run(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    UPDATED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Downloads `pkg` (never installs it) and unpacks it with `dpkg-deb -x`
/// into target/debian/extract-<name>, which it returns.
fn fetch_deb(pkg: &Pkg, dir: &Path) -> Result<PathBuf> {
    let debs = dir.join("debs");
    let _ = std::fs::remove_dir_all(&debs);
    std::fs::create_dir_all(&debs)?;
    let mut c = Command::new("apt-get");
    c.current_dir(&debs).arg("-q");
    if is_root() {
        // Else apt warns that its _apt user cannot write here.
        c.args(["-o", "APT::Sandbox::User=root"]);
    }
    c.args(["download", &format!("{}:{ARCH}={}", pkg.name, pkg.version)]);
    util::run(&mut c).with_context(|| format!("downloading {}", pkg.stamp()))?;
    let deb = std::fs::read_dir(&debs)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download left no .deb in {}", debs.display()))?;
    let x = dir.join(format!("extract-{}", pkg.name));
    let _ = std::fs::remove_dir_all(&x);
    util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x))
        .with_context(|| format!("unpacking {}", deb.display()))?;
    std::fs::remove_dir_all(&debs)?;
    Ok(x)
}

pub(crate) fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Writes through a temporary file and a rename, so that readers never see
/// half a file.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// initramfs: newc cpio

/// A newc ("070701") cpio archive being written.
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn new() -> Cpio {
        Cpio {
            out: vec![],
            ino: 0,
        }
    }

    fn pad4(&mut self) {
        let padded = self.out.len().next_multiple_of(4);
        self.out.resize(padded, 0);
    }

    /// One entry: a 110-byte header, the name with its NUL, padding to 4
    /// bytes, the data, padding to 4 bytes.
    fn entry(&mut self, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        let ino = if name == "TRAILER!!!" {
            0
        } else {
            self.ino += 1;
            self.ino
        };
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad4();
        self.out.extend_from_slice(data);
        self.pad4();
    }

    fn dir(&mut self, name: &str, perm: u32) {
        self.entry(name, 0o040000 | perm, 2, (0, 0), &[]);
    }
    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, 1, (0, 0), data);
    }
    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, 1, (0, 0), target.as_bytes());
    }
    fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, 0o020000 | perm, 1, (major, minor), &[]);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[]);
        self.out
    }
}

/// The initramfs: the directories, /dev/console (so the kernel can open
/// the console before devtmpfs), /bin/busybox and its applet links, /init.
fn initramfs_archive(busybox: &[u8], init_script: &[u8]) -> Vec<u8> {
    let mut c = Cpio::new();
    for d in ["bin", "sbin", "dev", "proc", "sys", "etc"] {
        c.dir(d, 0o755);
    }
    c.dir("tmp", 0o1777);
    c.char_dev("dev/console", 0o600, 5, 1);
    c.file("bin/busybox", 0o755, busybox);
    for a in APPLETS {
        c.symlink(&format!("bin/{a}"), "busybox");
    }
    let script = if init_script.starts_with(b"#!") || init_script.starts_with(b"\x7fELF") {
        init_script.to_vec()
    } else {
        [&b"#!/bin/sh\n"[..], init_script].concat()
    };
    c.file("init", 0o755, &script);
    c.finish()
}

// ---------------------------------------------------------------------------
// Kernel image formats

const IMAGE_MAGIC: &[u8] = b"ARM\x64";

/// Turns what Debian calls vmlinuz into a raw arm64 Image ("ARM\x64" at
/// 0x38), and says what it was.
fn raw_image(data: Vec<u8>) -> Result<(Vec<u8>, String)> {
    if data.get(0x38..0x3c) == Some(IMAGE_MAGIC) {
        let what = if data.starts_with(b"MZ") {
            "an uncompressed arm64 Image with an EFI stub"
        } else {
            "an uncompressed arm64 Image"
        };
        return Ok((data, what.into()));
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        let img = gunzip(&data).context("decompressing the gzip'd kernel")?;
        ensure!(
            img.get(0x38..0x3c) == Some(IMAGE_MAGIC),
            "the gzip'd kernel is not an arm64 Image"
        );
        return Ok((img, "a gzip-compressed arm64 Image".into()));
    }
    // EFI zboot (drivers/firmware/efi/libstub/zboot-header.S): "MZ", "zimg"
    // at 4, the payload's offset and size at 8 and 12, the compression
    // type as a C string at 0x18.
    if data.starts_with(b"MZ") && data.get(4..8) == Some(b"zimg") {
        let u32_at = |o: usize| -> Result<usize> {
            Ok(u32::from_le_bytes(
                data.get(o..o + 4)
                    .context("truncated zboot header")?
                    .try_into()?,
            ) as usize)
        };
        let (off, size) = (u32_at(8)?, u32_at(12)?);
        let comp_field = data.get(0x18..0x38).context("truncated zboot header")?;
        let comp = String::from_utf8_lossy(comp_field.split(|&b| b == 0).next().unwrap_or(&[]))
            .into_owned();
        let payload = data
            .get(off..off.saturating_add(size))
            .context("zboot payload outside the file")?;
        ensure!(
            comp == "gzip",
            "EFI zboot kernel with a {comp:?} payload: only gzip is supported"
        );
        let img = gunzip(payload).context("decompressing the zboot payload")?;
        ensure!(
            img.get(0x38..0x3c) == Some(IMAGE_MAGIC),
            "the zboot payload is not an arm64 Image"
        );
        return Ok((
            img,
            format!("an EFI zboot image (gzip payload of {size} bytes at {off:#x})"),
        ));
    }
    bail!(
        "unknown kernel format (starts {:02x?})",
        &data[..data.len().min(8)]
    )
}

fn crc32(data: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

/// The first member of a gzip file (RFC 1952), its CRC and size checked.
fn gunzip(data: &[u8]) -> Result<Vec<u8>> {
    ensure!(
        data.len() >= 18 && data.starts_with(&[0x1f, 0x8b]),
        "not gzip data"
    );
    ensure!(
        data[2] == 8,
        "gzip compression method {} is not deflate",
        data[2]
    );
    let flags = data[3];
    ensure!(flags & 0xe0 == 0, "reserved gzip flags set");
    let mut p = 10;
    if flags & 0x04 != 0 {
        let xlen = u16::from_le_bytes(
            data.get(p..p + 2)
                .context("truncated gzip header")?
                .try_into()?,
        );
        p += 2 + xlen as usize;
    }
    for flag in [0x08, 0x10] {
        // FNAME, FCOMMENT: NUL-terminated.
        if flags & flag != 0 {
            let rest = data.get(p..).context("truncated gzip header")?;
            p += rest
                .iter()
                .position(|&b| b == 0)
                .context("truncated gzip header")?
                + 1;
        }
    }
    if flags & 0x02 != 0 {
        p += 2; // FHCRC
    }
    let (out, used) = inflate(data.get(p..).context("truncated gzip header")?)?;
    let t = data
        .get(p + used..p + used + 8)
        .context("truncated gzip trailer")?;
    let crc = u32::from_le_bytes(t[..4].try_into()?);
    let size = u32::from_le_bytes(t[4..].try_into()?);
    ensure!(crc32(&out) == crc, "gzip CRC mismatch");
    ensure!(out.len() as u32 == size, "gzip size mismatch");
    Ok(out)
}

/// Reads a deflate stream's bits, LSB first, pulling bytes only as needed
/// (so that dropping the held bits aligns to the next byte).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    cnt: u32,
}

impl Bits<'_> {
    fn get(&mut self, n: u32) -> Result<u32> {
        while self.cnt < n {
            let b = *self.data.get(self.pos).context("truncated deflate data")?;
            self.pos += 1;
            self.buf |= (b as u64) << self.cnt;
            self.cnt += 8;
        }
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.cnt -= n;
        Ok(v)
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols
/// in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Huffman> {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        let mut left = 1i32;
        for &c in &count[1..] {
            left = (left << 1) - c as i32;
            ensure!(left >= 0, "over-subscribed Huffman code");
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[offs[l as usize] as usize] = sym as u16;
                offs[l as usize] += 1;
            }
        }
        Ok(Huffman { count, symbol })
    }

    fn decode(&self, bits: &mut Bits) -> Result<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for &count in &self.count[1..] {
            code |= bits.get(1)? as i32;
            let count = count as i32;
            if code - first < count {
                return Ok(self.symbol[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        bail!("invalid Huffman code in deflate data")
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// A raw deflate stream (RFC 1951): the data, and how many input bytes it
/// took.
fn inflate(data: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut bits = Bits {
        data,
        pos: 0,
        buf: 0,
        cnt: 0,
    };
    let mut out = Vec::with_capacity(data.len() * 3);
    loop {
        let last = bits.get(1)?;
        match bits.get(2)? {
            0 => {
                bits.buf = 0;
                bits.cnt = 0;
                let p = bits.pos;
                let h = data.get(p..p + 4).context("truncated stored block")?;
                let len = u16::from_le_bytes([h[0], h[1]]);
                ensure!(
                    len == !u16::from_le_bytes([h[2], h[3]]),
                    "bad stored block length"
                );
                let len = len as usize;
                out.extend_from_slice(
                    data.get(p + 4..p + 4 + len)
                        .context("truncated stored block")?,
                );
                bits.pos = p + 4 + len;
            }
            1 => {
                let mut l = [8u8; 288];
                l[144..256].fill(9);
                l[256..280].fill(7);
                let lit = Huffman::new(&l)?;
                let dist = Huffman::new(&[5u8; 30])?;
                codes(&mut bits, &mut out, &lit, &dist)?;
            }
            2 => {
                let (lit, dist) = dynamic_codes(&mut bits)?;
                codes(&mut bits, &mut out, &lit, &dist)?;
            }
            _ => bail!("invalid deflate block type"),
        }
        if last == 1 {
            return Ok((out, bits.pos));
        }
    }
}

fn dynamic_codes(bits: &mut Bits) -> Result<(Huffman, Huffman)> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let nlen = bits.get(5)? as usize + 257;
    let ndist = bits.get(5)? as usize + 1;
    let ncode = bits.get(4)? as usize + 4;
    ensure!(nlen <= 286 && ndist <= 30, "bad dynamic block counts");
    let mut cl = [0u8; 19];
    for &i in &ORDER[..ncode] {
        cl[i] = bits.get(3)? as u8;
    }
    let clcode = Huffman::new(&cl)?;
    let mut lengths = [0u8; 316];
    let mut i = 0;
    while i < nlen + ndist {
        let sym = clcode.decode(bits)?;
        if sym < 16 {
            lengths[i] = sym as u8;
            i += 1;
            continue;
        }
        let (value, repeat) = match sym {
            16 => {
                ensure!(i > 0, "repeated length with none before");
                (lengths[i - 1], 3 + bits.get(2)?)
            }
            17 => (0, 3 + bits.get(3)?),
            _ => (0, 11 + bits.get(7)?),
        };
        let repeat = repeat as usize;
        ensure!(i + repeat <= nlen + ndist, "too many code lengths");
        lengths[i..i + repeat].fill(value);
        i += repeat;
    }
    ensure!(lengths[256] != 0, "no end-of-block code");
    Ok((
        Huffman::new(&lengths[..nlen])?,
        Huffman::new(&lengths[nlen..nlen + ndist])?,
    ))
}

fn codes(bits: &mut Bits, out: &mut Vec<u8>, lit: &Huffman, dist: &Huffman) -> Result<()> {
    loop {
        let sym = lit.decode(bits)? as usize;
        if sym < 256 {
            out.push(sym as u8);
            continue;
        }
        if sym == 256 {
            return Ok(());
        }
        let s = sym - 257;
        ensure!(s < 29, "invalid length symbol");
        let len = LEN_BASE[s] as usize + bits.get(LEN_EXTRA[s] as u32)? as usize;
        let d = dist.decode(bits)? as usize;
        ensure!(d < 30, "invalid distance symbol");
        let d = DIST_BASE[d] as usize + bits.get(DIST_EXTRA[d] as u32)? as usize;
        ensure!(d <= out.len(), "distance too far back");
        let start = out.len() - d;
        for k in 0..len {
            let b = out[start + k];
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed newc entry.
    #[derive(Debug)]
    struct Entry {
        name: String,
        ino: u32,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: Vec<u8>,
    }

    /// Parses a newc archive strictly: magic, hex fields, NUL-terminated
    /// names, 4-byte alignment, a TRAILER!!! at the very end.
    fn parse_cpio(a: &[u8]) -> Vec<Entry> {
        let mut p = 0;
        let mut entries = vec![];
        loop {
            assert_eq!(p % 4, 0, "header at {p} not aligned");
            assert_eq!(&a[p..p + 6], b"070701", "magic at {p}");
            let f: Vec<u32> = (0..13)
                .map(|i| {
                    let s = std::str::from_utf8(&a[p + 6 + 8 * i..p + 14 + 8 * i]).unwrap();
                    assert!(s.bytes().all(|b| b.is_ascii_hexdigit()), "field {s}");
                    u32::from_str_radix(s, 16).unwrap()
                })
                .collect();
            let (namesize, filesize) = (f[11] as usize, f[6] as usize);
            assert_eq!(
                (f[2], f[3], f[5], f[12]),
                (0, 0, 0, 0),
                "uid gid mtime check"
            );
            let name_end = p + 110 + namesize;
            assert_eq!(a[name_end - 1], 0, "name not NUL-terminated");
            let name = std::str::from_utf8(&a[p + 110..name_end - 1])
                .unwrap()
                .to_string();
            let data_at = name_end.next_multiple_of(4);
            assert!(a[name_end..data_at].iter().all(|&b| b == 0), "name padding");
            let data_end = data_at + filesize;
            let next = data_end.next_multiple_of(4);
            assert!(a[data_end..next].iter().all(|&b| b == 0), "data padding");
            p = next;
            let e = Entry {
                name,
                ino: f[0],
                mode: f[1],
                nlink: f[4],
                rdev: (f[9], f[10]),
                data: a[data_at..data_end].to_vec(),
            };
            if e.name == "TRAILER!!!" {
                assert_eq!(p, a.len(), "bytes after the trailer");
                return entries;
            }
            entries.push(e);
        }
    }

    #[test]
    fn cpio_newc_round_trip() {
        let mut c = Cpio::new();
        c.dir("d", 0o755);
        c.file("d/f", 0o644, b"hello");
        c.file("e", 0o600, b"");
        c.symlink("d/l", "f");
        c.char_dev("c", 0o600, 5, 1);
        let a = c.finish();
        assert_eq!(a.len() % 4, 0);
        let e = parse_cpio(&a);
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["d", "d/f", "e", "d/l", "c"]);
        assert_eq!((e[0].mode, e[0].nlink), (0o040755, 2));
        assert_eq!((e[1].mode, &e[1].data[..]), (0o100644, &b"hello"[..]));
        assert_eq!((e[2].mode, e[2].data.len()), (0o100600, 0));
        assert_eq!((e[3].mode, &e[3].data[..]), (0o120777, &b"f"[..]));
        assert_eq!((e[4].mode, e[4].rdev), (0o020600, (5, 1)));
        let mut inos: Vec<u32> = e.iter().map(|e| e.ino).collect();
        inos.dedup();
        assert_eq!(inos, [1, 2, 3, 4, 5]);
        // The first header, byte for byte.
        assert_eq!(
            &a[..110],
            b"07070100000001000041ed00000000000000000000000200000000\
              00000000000000000000000000000000000000000000000200000000"
        );
        assert_eq!(&a[110..112], b"d\0");
    }

    #[test]
    fn initramfs_has_init_busybox_links_and_console() {
        let fake_busybox = b"\x7fELF fake busybox, 27 bytes";
        let a = initramfs_archive(fake_busybox, INIT_POWEROFF.as_bytes());
        let e = parse_cpio(&a);
        let get = |n: &str| {
            e.iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("no {n}"))
        };
        for d in ["bin", "sbin", "dev", "proc", "sys", "etc", "tmp"] {
            assert_eq!(get(d).mode & 0o170000, 0o040000, "{d}");
        }
        assert_eq!(get("tmp").mode, 0o041777);
        assert_eq!(
            (get("dev/console").mode, get("dev/console").rdev),
            (0o020600, (5, 1))
        );
        assert_eq!(get("bin/busybox").data, fake_busybox);
        assert_eq!(get("bin/busybox").mode, 0o100755);
        for a in [
            "sh", "mount", "poweroff", "echo", "cat", "ls", "uname", "dmesg", "sleep", "nproc",
        ] {
            let l = get(&format!("bin/{a}"));
            assert_eq!((l.mode, &l.data[..]), (0o120777, &b"busybox"[..]), "{a}");
        }
        let init = get("init");
        assert_eq!(init.mode, 0o100755);
        assert_eq!(init.data, INIT_POWEROFF.as_bytes());
        assert!(INIT_POWEROFF.contains("TESSERA-LINUX-USERSPACE: $(uname -r) cpus=$(nproc)"));
        // Parents come before what they hold.
        let pos = |n: &str| e.iter().position(|e| e.name == n).unwrap();
        assert!(pos("bin") < pos("bin/busybox") && pos("dev") < pos("dev/console"));
        // A script without #! gets one.
        let e = parse_cpio(&initramfs_archive(b"x", b"echo hi\n"));
        let init = e.iter().find(|e| e.name == "init").unwrap();
        assert_eq!(init.data, b"#!/bin/sh\necho hi\n");
        // An executable goes in as it is.
        let e = parse_cpio(&initramfs_archive(b"x", b"\x7fELF\x02"));
        let init = e.iter().find(|e| e.name == "init").unwrap();
        assert_eq!(init.data, b"\x7fELF\x02");
    }

    /// A fake Image header: "MZ", image_size 0x10000, "ARM\x64" at 0x38.
    fn fake_header() -> Vec<u8> {
        let mut h = vec![0u8; 0x40];
        h[..2].copy_from_slice(b"MZ");
        h[0x10..0x18].copy_from_slice(&0x10000u64.to_le_bytes());
        h[0x38..0x3c].copy_from_slice(IMAGE_MAGIC);
        h
    }

    fn fake_image_small() -> Vec<u8> {
        let mut v = fake_header();
        v.extend_from_slice(b"fake arm64 Image for Tessera\n");
        v
    }

    fn fake_image_text() -> Vec<u8> {
        let mut v = fake_header();
        for i in 0..20 {
            v.extend_from_slice(
                format!("line {i}: tessera fake kernel {}\n", i * i % 97).as_bytes(),
            );
        }
        v
    }

    /// `gzip -9 -c Image` of fake_image_small() (with its FNAME "Image"):
    /// fixed Huffman codes.
    const SMALL_GZ: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x08, 0x96, 0x1a, 0x07, 0x6b, 0x02, 0x03, 0x49, 0x6d, 0x61, 0x67, 0x65,
        0x00, 0xf3, 0x8d, 0x62, 0x40, 0x03, 0x8c, 0x0c, 0xc4, 0x00, 0xc7, 0x20, 0xdf, 0x14, 0x10,
        0x9d, 0x96, 0x98, 0x9d, 0xaa, 0x90, 0x58, 0x94, 0x6b, 0x66, 0xa2, 0xe0, 0x99, 0x9b, 0x98,
        0x9e, 0xaa, 0x90, 0x96, 0x5f, 0xa4, 0x10, 0x92, 0x5a, 0x5c, 0x9c, 0x5a, 0x94, 0xc8, 0x05,
        0x00, 0x1b, 0xc8, 0xad, 0xeb, 0x5d, 0x00, 0x00, 0x00,
    ];

    /// `gzip -9 -n` of fake_image_text(): dynamic Huffman codes.
    const TEXT_GZ_HEX: &str =
        "1f8b08000000000002038dd0b10e832010c671bbfa14f708c02948b73e808ba39b49af49a371d0be7f9a\
        966369ee4bcac2f00b70fcc7b9f95997e69f759bc6fb67df9ebb90bbd24bce538e851ecb2ab4cab1cb46\
        aefdaab7d5170db67645d9d65cb40337c7c2bdcda12f1c6d663d9dc060faf66073d4c1b3cd83feda8364\
        ac0c9a05bddda36a491d744b411d94ab0cca719d1ea48bf53c6897b5bc07f1b87e1fd44bae7d03875bb0\
        08b0020000";

    fn unhex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    /// A gzip member with one stored block, written by hand.
    fn stored_gzip(data: &[u8]) -> Vec<u8> {
        let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1];
        let len = data.len() as u16;
        g.extend_from_slice(&len.to_le_bytes());
        g.extend_from_slice(&(!len).to_le_bytes());
        g.extend_from_slice(data);
        g.extend_from_slice(&crc32(data).to_le_bytes());
        g.extend_from_slice(&(data.len() as u32).to_le_bytes());
        g
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn gunzip_fixed_dynamic_and_stored_blocks() {
        assert_eq!((SMALL_GZ[16] >> 1) & 3, 1, "sample uses fixed codes");
        assert_eq!(gunzip(SMALL_GZ).unwrap(), fake_image_small());
        let text_gz = unhex(TEXT_GZ_HEX);
        assert_eq!((text_gz[10] >> 1) & 3, 2, "sample uses dynamic codes");
        assert_eq!(gunzip(&text_gz).unwrap(), fake_image_text());
        let img = fake_image_text();
        assert_eq!(gunzip(&stored_gzip(&img)).unwrap(), img);
        // Trailing bytes after the member are ignored.
        let mut padded = SMALL_GZ.to_vec();
        padded.extend_from_slice(&[0; 7]);
        assert_eq!(gunzip(&padded).unwrap(), fake_image_small());
    }

    #[test]
    fn gunzip_refuses_corrupt_data() {
        let mut bad_crc = SMALL_GZ.to_vec();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert!(gunzip(&bad_crc).is_err());
        let mut bad_size = SMALL_GZ.to_vec();
        bad_size[n - 1] = 1;
        assert!(gunzip(&bad_size).is_err());
        assert!(gunzip(&SMALL_GZ[..40]).is_err());
        let mut bad_block = SMALL_GZ.to_vec();
        bad_block[16] |= 0b110; // block type 3
        assert!(gunzip(&bad_block).is_err());
        assert!(gunzip(b"plain text, not gzip at all").is_err());
    }

    /// Cross-checks the inflater against the system's gzip at several
    /// levels, when there is one.
    #[test]
    fn gunzip_agrees_with_system_gzip() {
        let mut data = fake_header();
        let mut x = 0x1234_5678u32;
        for i in 0..60_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Mostly compressible, with runs, repeats and noise.
            data.push(match i % 7 {
                0 => (x >> 24) as u8,
                1 | 2 => b'a' + (x % 4) as u8,
                _ => data[data.len() - 1 - (x % 300) as usize % data.len()],
            });
        }
        for level in ["-1", "-6", "-9"] {
            let mut child = match Command::new("gzip")
                .args([level, "-c"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
            {
                Ok(c) => c,
                Err(_) => return, // no gzip here
            };
            let mut stdin = child.stdin.take().unwrap();
            let input = data.clone();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(&input).unwrap();
            });
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap();
            assert!(out.status.success());
            assert_eq!(gunzip(&out.stdout).unwrap(), data, "gzip {level}");
        }
    }

    #[test]
    fn kernel_formats_raw_gzip_and_zboot() {
        let img = fake_image_small();
        let (raw, what) = raw_image(img.clone()).unwrap();
        assert_eq!(raw, img);
        assert!(
            what.contains("uncompressed") && what.contains("EFI stub"),
            "{what}"
        );
        let mut no_stub = img.clone();
        no_stub[..2].copy_from_slice(&[0x1f, 0x20]);
        assert_eq!(raw_image(no_stub).unwrap().1, "an uncompressed arm64 Image");

        let (raw, what) = raw_image(SMALL_GZ.to_vec()).unwrap();
        assert_eq!(raw, img);
        assert!(what.contains("gzip"), "{what}");
        assert!(elf::check_image_header(&raw).is_ok());

        // EFI zboot: payload at 0x80, "gzip" at 0x18, the PE magic at 0x38.
        let text = fake_image_text();
        let payload = unhex(TEXT_GZ_HEX);
        let mut z = vec![0u8; 0x80];
        z[..2].copy_from_slice(b"MZ");
        z[4..8].copy_from_slice(b"zimg");
        z[8..12].copy_from_slice(&0x80u32.to_le_bytes());
        z[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        z[0x18..0x1c].copy_from_slice(b"gzip");
        z[0x38..0x3c].copy_from_slice(&0x8182_23cdu32.to_le_bytes());
        z.extend_from_slice(&payload);
        z.extend_from_slice(&[0xaa; 16]); // the rest of the PE file
        let (raw, what) = raw_image(z.clone()).unwrap();
        assert_eq!(raw, text);
        assert!(what.contains("zboot"), "{what}");
        z[0x18..0x1c].copy_from_slice(b"zstd");
        let e = raw_image(z.clone()).unwrap_err().to_string();
        assert!(e.contains("zstd"), "{e}");
        z[0x18..0x1c].copy_from_slice(b"gzip");
        z[12..16].copy_from_slice(&0x10000u32.to_le_bytes());
        assert!(raw_image(z).is_err(), "payload past the end");

        assert!(raw_image(b"\x7fELF what is this".to_vec()).is_err());
        assert!(raw_image(vec![]).is_err());
        // gzip of something that is not an Image.
        assert!(raw_image(stored_gzip(b"not an image")).is_err());
    }

    /// `apt-cache show --no-all-versions linux-image-arm64:arm64` on
    /// bookworm with security and backports.
    const SHOW_META: &str = "\
Package: linux-image-arm64
Source: linux-signed-arm64 (6.1.192+2)
Version: 6.1.192-2
Installed-Size: 13
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: arm64
Provides: linux-latest-modules-6.1.0-56-arm64, wireguard-modules (= 1.0.0)
Depends: linux-image-6.1.0-56-arm64 (= 6.1.192-2)
Description-en: Linux for 64-bit ARMv8 machines (meta-package)
 This package depends on the latest Linux kernel and modules for use on
 ARMv8 machines.
Description-md5: 3a7a0f9b1a4b4a4a6a4b8a1e4e1e8a5d
Section: kernel
Priority: optional
Filename: pool/main/l/linux-signed-arm64/linux-image-arm64_6.1.192-2_arm64.deb
Size: 1480

";

    /// `apt-cache show` without --no-all-versions: backports first. Only
    /// the first stanza counts.
    const SHOW_TWO: &str = "\
Package: linux-image-arm64
Version: 6.12.95-1~bpo12+1
Depends: linux-image-6.12.95+deb12-arm64 (= 6.12.95-1~bpo12+1)

Package: linux-image-arm64
Version: 6.1.192-2
Depends: linux-image-6.1.0-56-arm64 (= 6.1.192-2)
";

    #[test]
    fn apt_kernel_dependency_and_version() {
        assert_eq!(field(SHOW_META, "Version"), Some("6.1.192-2"));
        assert_eq!(field(SHOW_META, "Architecture"), Some("arm64"));
        assert_eq!(field(SHOW_META, "Pre-Depends"), None);
        assert_eq!(
            kernel_dependency(SHOW_META).unwrap(),
            (
                "linux-image-6.1.0-56-arm64".to_string(),
                Some("6.1.192-2".to_string())
            )
        );
        assert_eq!(
            kernel_dependency(SHOW_TWO).unwrap(),
            (
                "linux-image-6.12.95+deb12-arm64".to_string(),
                Some("6.12.95-1~bpo12+1".to_string())
            )
        );
        // Arch-qualified, unversioned, behind other dependencies.
        let s =
            "Package: linux-image-arm64\nDepends: kmod, linux-image-6.1.0-50-arm64:arm64 | foo\n";
        assert_eq!(
            kernel_dependency(s).unwrap(),
            ("linux-image-6.1.0-50-arm64".to_string(), None)
        );
        assert!(kernel_dependency("Package: x\nDepends: linux-image-arm64, kmod\n").is_err());
        assert!(kernel_dependency("Package: x\n").is_err());

        let p = Pkg {
            name: "linux-image-6.1.0-56-arm64".into(),
            version: "6.1.192-2".into(),
        };
        assert_eq!(p.release().unwrap(), "6.1.0-56-arm64");
        assert_eq!(p.stamp(), "linux-image-6.1.0-56-arm64:arm64 6.1.192-2");
        let bb = Pkg {
            name: BUSYBOX_PACKAGE.into(),
            version: "1:1.35.0-4+deb12u1+b1".into(),
        };
        assert!(bb.release().is_err());
        assert_eq!(bb.stamp(), "busybox-static:arm64 1:1.35.0-4+deb12u1+b1");
    }

    /// Downloads Debian's kernel and busybox and builds
    /// target/debian/{linux-Image,initramfs-test.cpio}. Needs apt, the
    /// network (or a warm cache) and, the first time, root.
    #[test]
    #[ignore]
    fn linux_from_debian() {
        let image = kernel().unwrap();
        let data = std::fs::read(&image).unwrap();
        let size = elf::check_image_header(&data).unwrap();
        let release = kernel_release().unwrap();
        assert!(release.ends_with("-arm64"), "{release}");
        eprintln!(
            "Image {} bytes (image_size {size:#x}), release {release}, dtb {:?}",
            data.len(),
            packaged_dtb(ZCU102_DTB).ok()
        );
        // The inflater on a real kernel, gzip'd by the system's gzip.
        if let Ok(out) = Command::new("gzip").arg("-c").arg(&image).output() {
            let t = std::time::Instant::now();
            let (raw, what) = raw_image(out.stdout).unwrap();
            assert!(raw == data, "gunzip of the real Image differs");
            eprintln!("{what}: unpacked in {:.1} s", t.elapsed().as_secs_f64());
        }
        // Cached the second time round.
        let mtime = std::fs::metadata(&image).unwrap().modified().unwrap();
        kernel().unwrap();
        assert_eq!(
            std::fs::metadata(&image).unwrap().modified().unwrap(),
            mtime
        );

        let cpio = initramfs("test", INIT_POWEROFF.as_bytes()).unwrap();
        let e = parse_cpio(&std::fs::read(&cpio).unwrap());
        let bb = e.iter().find(|e| e.name == "bin/busybox").unwrap();
        assert!(bb.data.starts_with(b"\x7fELF") && bb.data.len() > 500_000);
        eprintln!(
            "{}: {} bytes",
            cpio.display(),
            std::fs::metadata(&cpio).unwrap().len()
        );
    }

    /// Boots linux_from_debian's outputs on plain QEMU (no hypervisor) and
    /// waits for the userspace line and the power-off.
    #[test]
    #[ignore]
    fn linux_boots_on_plain_qemu() {
        use std::io::Read;
        let image = kernel().unwrap();
        let cpio = initramfs("test", INIT_POWEROFF.as_bytes()).unwrap();
        let start = std::time::Instant::now();
        let mut child = Command::new("qemu-system-aarch64")
            .args([
                "-M",
                "virt",
                "-cpu",
                "cortex-a57",
                "-smp",
                "2",
                "-m",
                "512M",
            ])
            .args(["-nographic", "-no-reboot", "-kernel"])
            .arg(&image)
            .arg("-initrd")
            .arg(&cpio)
            .args(["-append", "console=ttyAMA0 rdinit=/init"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = vec![];
            let _ = stdout.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if start.elapsed().as_secs() > 180 {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let log = reader.join().unwrap();
        let want = format!(
            "TESSERA-LINUX-USERSPACE: {} cpus=2",
            kernel_release().unwrap()
        );
        eprintln!(
            "QEMU ran {:.1} s, exit {status:?}",
            start.elapsed().as_secs_f64()
        );
        assert!(log.contains(&want), "no '{want}' in:\n{log}");
        assert!(
            status.is_some_and(|s| s.success()),
            "QEMU did not power off:\n{log}"
        );
    }
}
