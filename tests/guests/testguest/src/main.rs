//! Tessera test guest: a bare-metal aarch64 kernel that runs at EL1 as a
//! Xen-style dom0less domU, checks the hypervisor from the inside and
//! prints PASS/FAIL lines on its UART. See README.md.
//!
//! It runs with the MMU and data cache off (all memory is Device-nGnRnE to
//! it, so every access is naturally aligned: the softfloat target is
//! strict-align, and the assembly only uses aligned accesses).

#![no_std]
#![no_main]

mod arch;
mod attack;
mod bench;
mod boot;
mod checks;
mod exc;
mod fdt;
mod gic;
mod mmio;
mod out;
mod psci;
mod spin;
mod uart;
mod xen;

use fdt::{prop_str, Fdt, Node, Walk};

/// Most CPU nodes we record.
pub const MAX_CPUS: usize = 16;

/// What the run knows about its world.
pub struct Env {
    pub fdt: Option<Fdt<'static>>,
    pub dtb: u64,
    /// Where the Image runs (its header).
    pub base: u64,
    pub bootargs: &'static [u8],
    /// `reg` of each enabled /cpus/cpu node (MPIDR affinity).
    pub cpus: [u64; MAX_CPUS],
    pub ncpus: usize,
}

impl Env {
    /// Value of `key=` in bootargs.
    pub fn arg(&self, key: &str) -> Option<&'static [u8]> {
        self.bootargs
            .split(|c| c.is_ascii_whitespace())
            .filter_map(|w| {
                let eq = w.iter().position(|&c| c == b'=')?;
                (&w[..eq] == key.as_bytes()).then(|| &w[eq + 1..])
            })
            .last()
    }

    /// Numeric `key=` (decimal, or hex with 0x).
    pub fn arg_num(&self, key: &str) -> Option<u64> {
        parse_num(self.arg(key)?)
    }

    /// Whether `skip=a,b,..` names the check.
    pub fn skipped(&self, name: &str) -> bool {
        self.arg("skip")
            .is_some_and(|v| v.split(|&c| c == b',').any(|x| x == name.as_bytes()))
    }

    pub fn mode(&self) -> &'static [u8] {
        self.arg("mode").unwrap_or(b"normal")
    }
}

pub fn parse_num(s: &[u8]) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix(b"0x").or_else(|| s.strip_prefix(b"0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)? as u64;
        v = v.checked_mul(radix as u64)?.checked_add(d)?;
    }
    Some(v)
}

/// The UART the device tree points at: /chosen/stdout-path first, then the
/// first arm,sbsa-uart, then the first arm,pl011.
fn find_uart(fdt: &Fdt<'static>) -> Option<u64> {
    let is_uart = |n: &Node| n.is_compatible(b"arm,sbsa-uart") || n.is_compatible(b"arm,pl011");
    let from_stdout = || -> Option<u64> {
        let chosen = fdt.find_path(b"/chosen")?;
        let sp = prop_str(chosen.prop(b"stdout-path")?);
        let sp = sp.split(|&c| c == b':').next()?;
        let node = if sp.starts_with(b"/") {
            fdt.find_path(sp)?
        } else {
            let alias = fdt.find_path(b"/aliases")?.prop(sp)?;
            fdt.find_path(prop_str(alias))?
        };
        is_uart(&node).then(|| node.reg(0).map(|r| r.0))?
    };
    from_stdout()
        .or_else(|| fdt.find_compatible(b"arm,sbsa-uart")?.reg(0).map(|r| r.0))
        .or_else(|| fdt.find_compatible(b"arm,pl011")?.reg(0).map(|r| r.0))
}

/// Enabled cpu nodes under /cpus, in document order.
fn find_cpus(fdt: &Fdt<'static>, out: &mut [u64; MAX_CPUS]) -> usize {
    let mut n = 0;
    let _ = fdt.walk(|node, path| {
        if path.len() == 3
            && path[1] == b"cpus"
            && node.device_type() == Some(b"cpu")
            && node.is_enabled()
        {
            if n < MAX_CPUS {
                out[n] = node.reg(0).map_or(u64::MAX, |r| r.0);
            }
            n += 1;
        }
        Walk::Continue
    });
    n
}

/// `hold_ms=`: how long to stay up after the tally before powering off
/// (scenarios that must switch console focus while this domain lives).
static HOLD_MS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// `hold_domid=`: hold only until that domain is gone (Xen ABI needed).
static HOLD_DOMID: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Prints the tally, asks PSCI to power the domain off, and stays down.
pub fn finish() -> ! {
    say!("done, {} passed, {} failed", out::passed(), out::failed());
    let hold = HOLD_MS.load(core::sync::atomic::Ordering::Relaxed);
    if hold != 0 {
        let end = arch::deadline_ms(hold);
        match HOLD_DOMID.load(core::sync::atomic::Ordering::Relaxed) {
            0 => while !arch::past(end) {},
            d => xen::hold_for(d, end),
        }
    }
    xen::maybe_shutdown();
    let r = psci::hvc(psci::SYSTEM_OFF, 0, 0, 0);
    match r {
        Ok(v) => say!("SYSTEM_OFF returned {:#x}", v),
        Err(f) => say!("SYSTEM_OFF raised {}", out::FaultText(f)),
    }
    loop {
        arch::wfi();
    }
}

#[no_mangle]
extern "C" fn testguest_main(dtb: u64, base: u64, cntpct: u64, cntvct: u64) -> ! {
    bench::entry(cntpct, cntvct);
    let blob = mmio::dtb_slice(dtb);
    let parsed = blob.map(Fdt::new);
    let fdt = match parsed {
        Some(Ok(f)) if f.validate().is_ok() => Some(f),
        _ => None,
    };
    uart::set_base(fdt.as_ref().and_then(find_uart).unwrap_or(uart::XEN_VPL011));
    arch::unmask_serror();

    let mut env = Env {
        fdt,
        dtb,
        base,
        bootargs: b"",
        cpus: [0; MAX_CPUS],
        ncpus: 0,
    };
    if let Some(f) = &env.fdt {
        env.bootargs = f
            .find_path(b"/chosen")
            .and_then(|c| c.prop(b"bootargs"))
            .map_or(&b""[..], prop_str);
        env.ncpus = find_cpus(f, &mut env.cpus);
    }
    HOLD_MS.store(env.arg_num("hold_ms").unwrap_or(0), core::sync::atomic::Ordering::Relaxed);
    HOLD_DOMID.store(env.arg_num("hold_domid").unwrap_or(0), core::sync::atomic::Ordering::Relaxed);
    say!("start (cpus {}, mode {})", env.ncpus, out::BStr(env.mode()));
    say!("info image {:#x} dtb {:#x} uart {:#x} el {}", base, dtb, uart::base(),
         arch::current_el());
    say!("info bootargs \"{}\"", out::BStr(&env.bootargs[..env.bootargs.len().min(60)]));
    if env.fdt.is_none() {
        let why = match parsed {
            None => "no FDT header at x0",
            Some(Err(e)) => e,
            Some(Ok(_)) => "structure block malformed",
        };
        fail!("dt", "{} (x0 {:#x})", why, dtb);
        finish();
    }
    match env.mode() {
        b"normal" => {
            checks::run(&env);
            if env.arg("irq") == Some(b"1") && gic::present(&env) {
                gic::run(&env);
            }
        }
        b"irq" => gic::run(&env),
        b"spin" => spin::run(&env),
        b"attack" => {
            attack::run(&env);
            gic::hostile(&env);
        }
        b"gic-attack" => gic::attack_alone(&env),
        b"xen" => xen::run(&env),
        b"xen-pair" => xen::run_other(&env, false),
        b"fuzz" => xen::run_other(&env, true),
        b"bench" => bench::run(&env),
        b"crash" => attack::crash(&env),
        b"reset" => {
            say!("resetting now");
            psci::system_reset_now()
        }
        m => fail!("mode", "unknown mode \"{}\"", out::BStr(m)),
    }
    let stray = exc::STRAY.load(core::sync::atomic::Ordering::Relaxed);
    if stray != 0 {
        fail!("stray-exceptions", "{} asynchronous exceptions nobody asked for", stray);
    }
    finish()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    fail!("panic", "{}", info.message());
    if let Some(l) = info.location() {
        say!("panic at {}:{}", l.file(), l.line());
    }
    finish()
}
