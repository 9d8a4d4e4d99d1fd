//! The 'd' debug key: the registers of every pCPU, as Xen's "dump
//! registers" key. The key arrives by the console's interrupt on CPU0,
//! which dumps what its interrupt interrupted; every other online CPU
//! gets a cross-call (the call-function SGI, `smp::call_on`) and dumps
//! itself, in its own interrupt context: the hypervisor's registers when
//! it was idle or waiting at EL2, the guest's when it was running one.

use core::fmt;
use core::sync::atomic::Ordering;

use tessera_core::config::NR_CPUS;

use super::vcpu::VcpuContext;
use super::vectors::TrapFrame;
use super::{guest, percpu, smp};
use crate::esr::Esr;

/// What an interrupt interrupted, for the duration of its handler.
#[derive(Clone, Copy)]
pub enum Interrupted {
    /// Hypervisor code at EL2 (an idle or waiting CPU): the registers
    /// the IRQ vector saved.
    El2(*const TrapFrame),
    /// A guest: its vCPU context (general registers, PC and PSTATE as the
    /// exit saved them; its EL1 registers are still live on the CPU).
    Guest(*const VcpuContext),
}

/// Records what this CPU's interrupt interrupted until the guard drops
/// (the end of the interrupt's handling).
pub struct Recorded(());

pub fn record(from: Interrupted) -> Recorded {
    let me = percpu::this_cpu();
    let (addr, guest) = match from {
        Interrupted::El2(f) => (f as usize, false),
        Interrupted::Guest(c) => (c as usize, true),
    };
    me.irq_from_guest.store(guest, Ordering::Relaxed);
    me.irq_regs.store(addr, Ordering::Relaxed);
    Recorded(())
}

impl Drop for Recorded {
    fn drop(&mut self) {
        percpu::this_cpu().irq_regs.store(0, Ordering::Relaxed);
    }
}

/// The registers this CPU's current interrupt interrupted, if it is
/// handling one.
enum Regs<'a> {
    El2(&'a TrapFrame),
    Guest(&'a VcpuContext),
}

fn with_interrupted<R>(f: impl FnOnce(Option<Regs<'_>>) -> R) -> R {
    let me = percpu::this_cpu();
    let addr = me.irq_regs.load(Ordering::Relaxed);
    if addr == 0 {
        return f(None);
    }
    // SAFETY: `irq_regs` is set by `record` on this CPU to the frame or
    // vCPU context of the interrupt it is handling, which lives (on this
    // CPU's stack, or as the loaded vCPU's context) until the handler
    // returns and the guard clears it; only this CPU reads it, from
    // inside that handler (interrupts stay masked while it runs), and
    // the handler only reads the registers.
    let regs = unsafe {
        if me.irq_from_guest.load(Ordering::Relaxed) {
            Regs::Guest(&*(addr as *const VcpuContext))
        } else {
            Regs::El2(&*(addr as *const TrapFrame))
        }
    };
    f(Some(regs))
}

/// PSTATE's mode field, named.
fn mode(pstate: u64) -> &'static str {
    if pstate & 0x10 != 0 {
        return "AArch32";
    }
    match pstate & 0xf {
        0b0000 => "EL0t",
        0b0100 => "EL1t",
        0b0101 => "EL1h",
        0b1000 => "EL2t",
        0b1001 => "EL2h",
        _ => "?",
    }
}

struct Gprs<'a>(&'a [u64; 31]);

impl fmt::Display for Gprs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in 0..8 {
            for col in 0..4 {
                let i = row * 4 + col;
                if i < 31 {
                    write!(f, "  x{:<2} {:#018x}", i, self.0[i])?;
                }
            }
            if row < 7 {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

fn gprs(x: &[u64; 31]) {
    let text = alloc::format!("{}", Gprs(x));
    for line in text.lines() {
        tessera_core::info!("{line}");
    }
}

/// Dumps this CPU: the host's EL2 state, and the guest's when the
/// interrupt came from one.
fn dump_this_cpu() {
    let cpu = percpu::this_cpu_index();
    tessera_core::info!("*** Dumping CPU{cpu} host state: ***");
    with_interrupted(|regs| {
        match regs {
            Some(Regs::El2(t)) => {
                tessera_core::info!(
                    "  in the hypervisor: PC {:#018x}  PSTATE {:#010x} ({})  SP {:#018x}",
                    t.elr,
                    t.spsr,
                    mode(t.spsr),
                    t as *const TrapFrame as usize + core::mem::size_of::<TrapFrame>()
                );
                gprs(&t.x);
            }
            Some(Regs::Guest(_)) => tessera_core::info!("  in a guest (below)"),
            None => tessera_core::info!("  not in an interrupt: no interrupted registers"),
        }
        tessera_core::info!(
            "  HCR_EL2 {:#018x}  VTTBR_EL2 {:#018x}  SCTLR_EL2 {:#010x}",
            mrs!("hcr_el2"),
            mrs!("vttbr_el2"),
            mrs!("sctlr_el2")
        );
        tessera_core::info!(
            "  last trap: ESR_EL2 {:#010x} ({})  FAR_EL2 {:#018x}  HPFAR_EL2 {:#018x}",
            mrs!("esr_el2"),
            Esr(mrs!("esr_el2")),
            mrs!("far_el2"),
            mrs!("hpfar_el2")
        );
        tessera_core::info!(
            "  TTBR0_EL2 {:#018x}  VBAR_EL2 {:#018x}  TPIDR_EL2 {:#018x}  CNTHP_CTL_EL2 {:#x}",
            mrs!("ttbr0_el2"),
            mrs!("vbar_el2"),
            mrs!("tpidr_el2"),
            mrs!("cnthp_ctl_el2")
        );
        if let Some(Regs::Guest(c)) = regs {
            let who = match guest::loaded(cpu) {
                Some((d, v)) => alloc::format!("d{d}v{v}"),
                None => alloc::string::String::from("unknown vCPU"),
            };
            tessera_core::info!("*** Dumping CPU{cpu} guest state ({who}): ***");
            tessera_core::info!(
                "  PC {:#018x}  PSTATE {:#010x} ({})  SP_EL1 {:#018x}  SP_EL0 {:#018x}",
                c.pc,
                c.pstate,
                mode(c.pstate),
                mrs!("sp_el1"),
                mrs!("sp_el0")
            );
            gprs(&c.x);
            tessera_core::info!(
                "  ELR_EL1 {:#018x}  SPSR_EL1 {:#010x}  ESR_EL1 {:#010x}  FAR_EL1 {:#018x}",
                mrs!("elr_el1"),
                mrs!("spsr_el1"),
                mrs!("esr_el1"),
                mrs!("far_el1")
            );
            tessera_core::info!(
                "  SCTLR_EL1 {:#010x}  TTBR0_EL1 {:#018x}  TTBR1_EL1 {:#018x}  VBAR_EL1 {:#018x}",
                mrs!("sctlr_el1"),
                mrs!("ttbr0_el1"),
                mrs!("ttbr1_el1"),
                mrs!("vbar_el1")
            );
        }
    });
}

/// How long a CPU gets to answer the dump's cross-call.
const ANSWER_NS: u64 = 100_000_000;

fn dump_all() {
    tessera_core::info!("'d' pressed: registers of each pCPU");
    dump_this_cpu();
    let me = percpu::this_cpu_index();
    for cpu in (0..NR_CPUS).filter(|&c| c != me && tessera_core::cpu::is_online(c)) {
        if let Err(e) = smp::call_on(cpu, dump_this_cpu, ANSWER_NS) {
            tessera_core::warn!(
                "CPU{cpu} did not answer the register dump within {} ms: {e}",
                ANSWER_NS / 1_000_000
            );
        }
    }
}

#[linkme::distributed_slice(tessera_core::debugkeys::DEBUG_KEYS)]
static DUMP_REGISTERS: tessera_core::debugkeys::DebugKey = tessera_core::debugkeys::DebugKey {
    key: b'd',
    description: "registers of each pCPU (and of the guest it runs)",
    handler: dump_all,
};
