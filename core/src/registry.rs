//! The plugin registry and init stages.
//!
//! Every plugin crate registers one [`Plugin`] descriptor in [`PLUGINS`]: its
//! name (the cargo feature), its Kconfig symbol, its support status, the
//! rows of the support matrix it answers for (with the tests that prove
//! them), and an optional init/exit pair run at an explicit [`InitStage`].
//! `linkme` gives no order, so init order is (stage, name); a failed init
//! rolls back the ones before it in reverse.

use core::fmt;

use linkme::distributed_slice;

/// Tessera's support levels, in the order of SUPPORT.md's definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    NotImplemented,
    Experimental,
    TechPreview,
    SupportedNotSecuritySupported,
    Supported,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::NotImplemented => "Not implemented",
            Status::Experimental => "Experimental",
            Status::TechPreview => "Tech Preview",
            Status::SupportedNotSecuritySupported => "Supported, not security supported",
            Status::Supported => "Supported",
        }
    }
    /// Statuses above Experimental must name the tests that earn them.
    pub const fn needs_tests(self) -> bool {
        matches!(
            self,
            Status::TechPreview | Status::SupportedNotSecuritySupported | Status::Supported
        )
    }
    /// Below Supported a feature is only offered with UNSUPPORTED=y.
    pub const fn needs_unsupported(self) -> bool {
        !matches!(
            self,
            Status::Supported | Status::SupportedNotSecuritySupported
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the support matrix (keyed like Xen's SUPPORT.md: section,
/// feature, qualifier) with Tessera's status and the tests that prove it.
/// Tests are named `scenario:<name>` (a file under tests/scenarios) or
/// `unit:<crate>::<path::to::test>`.
#[derive(Debug)]
pub struct SupportRow {
    pub section: &'static str,
    pub feature: &'static str,
    pub qualifier: Option<&'static str>,
    pub status: Status,
    pub tests: &'static [&'static str],
    /// One line shown under the status (what works, what is missing).
    pub note: &'static str,
}

/// When an init runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum InitStage {
    /// Before secondary CPUs start (drivers the boot CPU needs).
    PreSmp = 0,
    /// After every CPU is online.
    Smp = 1,
    /// Last: policies that need everything else (schedulers, XSM).
    Late = 2,
}

/// Why an init failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError(pub &'static str);

/// Init and exit of a plugin.
pub struct Init {
    pub stage: InitStage,
    pub init: fn() -> Result<(), InitError>,
    /// Undoes `init`; runs in reverse order when a later init fails.
    pub exit: Option<fn()>,
}

/// A linked plugin.
pub struct Plugin {
    /// The cargo feature (`uart-pl011`).
    pub name: &'static str,
    /// The Kconfig symbol (`UART_PL011`).
    pub kconfig: &'static str,
    pub summary: &'static str,
    pub status: Status,
    pub support: &'static [SupportRow],
    pub init: Option<Init>,
}

/// Metadata of every linked plugin.
#[distributed_slice]
pub static PLUGINS: [Plugin];

/// Rows of the matrix that core itself answers for (no plugin needed).
#[distributed_slice]
pub static CORE_SUPPORT: [&'static [SupportRow]];

/// What happened when the inits ran.
#[derive(Debug, PartialEq, Eq)]
pub enum InitOutcome<'a> {
    Ok {
        ran: usize,
    },
    /// `failed` returned `error`; `rolled_back` exits ran, newest first.
    Failed {
        failed: &'a str,
        error: InitError,
        rolled_back: usize,
    },
}

/// Runs the inits of `plugins` in (stage, name) order, up to and including
/// `upto`, skipping those already run (`done` counts them). On failure the
/// inits that ran are undone in reverse and the failure is returned.
pub fn run_inits<'a>(
    plugins: &'a [Plugin],
    upto: InitStage,
    done: &mut alloc::vec::Vec<&'a str>,
) -> InitOutcome<'a> {
    let mut order: alloc::vec::Vec<&Plugin> = plugins.iter().filter(|p| p.init.is_some()).collect();
    order.sort_by_key(|p| (p.init.as_ref().map(|i| i.stage), p.name));
    let mut ran = 0;
    for p in order {
        let init = p.init.as_ref().expect("filtered");
        if init.stage > upto || done.contains(&p.name) {
            continue;
        }
        match (init.init)() {
            Ok(()) => {
                done.push(p.name);
                ran += 1;
            }
            Err(error) => {
                let mut rolled_back = 0;
                while let Some(name) = done.pop() {
                    if let Some(exit) = plugins
                        .iter()
                        .find(|q| q.name == name)
                        .and_then(|q| q.init.as_ref()?.exit)
                    {
                        exit();
                    }
                    rolled_back += 1;
                }
                return InitOutcome::Failed {
                    failed: p.name,
                    error,
                    rolled_back,
                };
            }
        }
    }
    InitOutcome::Ok { ran }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin::Mutex;
    use std::vec::Vec;

    static LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

    fn plugin(
        name: &'static str,
        stage: InitStage,
        init: fn() -> Result<(), InitError>,
        exit: fn(),
    ) -> Plugin {
        Plugin {
            name,
            kconfig: "X",
            summary: "",
            status: Status::Experimental,
            support: &[],
            init: Some(Init {
                stage,
                init,
                exit: Some(exit),
            }),
        }
    }

    #[test]
    fn inits_run_by_stage_and_roll_back_in_reverse() {
        LOG.lock().clear();
        let plugins = [
            plugin(
                "c-late",
                InitStage::Late,
                || Err(InitError("no hardware")),
                || LOG.lock().push("exit c"),
            ),
            plugin(
                "b",
                InitStage::PreSmp,
                || {
                    LOG.lock().push("init b");
                    Ok(())
                },
                || LOG.lock().push("exit b"),
            ),
            plugin(
                "a",
                InitStage::Smp,
                || {
                    LOG.lock().push("init a");
                    Ok(())
                },
                || LOG.lock().push("exit a"),
            ),
        ];
        let mut done = Vec::new();
        assert_eq!(
            run_inits(&plugins, InitStage::PreSmp, &mut done),
            InitOutcome::Ok { ran: 1 }
        );
        assert_eq!(
            run_inits(&plugins, InitStage::Smp, &mut done),
            InitOutcome::Ok { ran: 1 }
        );
        let out = run_inits(&plugins, InitStage::Late, &mut done);
        assert_eq!(
            out,
            InitOutcome::Failed {
                failed: "c-late",
                error: InitError("no hardware"),
                rolled_back: 2
            }
        );
        assert_eq!(*LOG.lock(), ["init b", "init a", "exit a", "exit b"]);
        assert!(done.is_empty());
    }

    #[test]
    fn status_gates() {
        assert!(Status::Experimental.needs_unsupported());
        assert!(!Status::Supported.needs_unsupported());
        assert!(!Status::Experimental.needs_tests());
        assert!(Status::TechPreview.needs_tests());
    }
}
