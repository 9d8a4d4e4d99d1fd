//! Xen Security Modules: the policy hook every privileged operation asks.
//! Core's always-present default is the dummy policy of Xen's
//! `include/xsm/dummy.h`: each call site names a default action, decided
//! from who is calling and on whom. Plugins (SILO, FLASK) register in
//! [`XSM_POLICIES`] and override hooks; a hook they do not override falls
//! back to the dummy decision.

use linkme::distributed_slice;

/// Xen's errno for a refused operation.
pub const EPERM: i32 = 1;

/// The default actions of Xen's dummy policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Always allowed.
    Hook,
    /// The caller acts on itself, or is privileged.
    Target,
    /// The caller is the device model of the target, or privileged.
    DmPriv,
    /// The caller is the xenstore domain, or privileged.
    XsPriv,
    /// Only the control domain.
    Priv,
}

/// What the policy needs to know about a domain.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub id: u16,
    pub is_privileged: bool,
    pub is_xenstore: bool,
    /// The domain this one is device model for.
    pub target: Option<u16>,
}

/// The dummy policy's decision (`xsm_default_action`).
pub fn default_action(action: Action, src: &Subject, target: Option<&Subject>) -> Result<(), i32> {
    let privileged = src.is_privileged;
    let ok = match action {
        Action::Hook => true,
        Action::Target => target.is_some_and(|t| t.id == src.id) || privileged || dm(src, target),
        Action::DmPriv => dm(src, target) || privileged,
        Action::XsPriv => src.is_xenstore || privileged,
        Action::Priv => privileged,
    };
    if ok {
        Ok(())
    } else {
        Err(-EPERM)
    }
}

fn dm(src: &Subject, target: Option<&Subject>) -> bool {
    matches!((src.target, target), (Some(t), Some(d)) if t == d.id)
}

/// A security policy. Every hook defaults to the dummy decision.
pub trait XsmPolicy: Sync {
    fn name(&self) -> &'static str;
    /// The generic hook: `action` is the call site's default.
    fn check(&self, action: Action, src: &Subject, target: Option<&Subject>) -> Result<(), i32> {
        default_action(action, src, target)
    }
}

/// The dummy policy itself.
pub struct Dummy;

impl XsmPolicy for Dummy {
    fn name(&self) -> &'static str {
        "dummy"
    }
}

/// Policies from plugins (`xsm=` chooses; dummy when none matches).
#[distributed_slice]
pub static XSM_POLICIES: [&'static dyn XsmPolicy];

/// The policy named `name`, or the dummy one.
pub fn select(name: &str) -> &'static dyn XsmPolicy {
    XSM_POLICIES
        .iter()
        .copied()
        .find(|p| p.name() == name)
        .unwrap_or(&Dummy)
}

impl Subject {
    /// A dom0less domU: no privilege, not xenstore, nobody's device model.
    pub const fn domu(id: u16) -> Self {
        Subject {
            id,
            is_privileged: false,
            is_xenstore: false,
            target: None,
        }
    }
}

/// The hook before every hypercall (Xen checks per operation; the
/// families ask [`target`] and [`privileged`] where Xen's handlers do).
/// The dummy policy lets every domain make every call this image has.
pub fn hypercall_allowed(domid: u16, _nr: u64) -> Result<(), i64> {
    select("")
        .check(Action::Hook, &Subject::domu(domid), None)
        .map_err(i64::from)
}

/// XSM_TARGET: `src` acting on domain `target`.
pub fn target(src: u16, target: u16) -> Result<(), i64> {
    select("")
        .check(
            Action::Target,
            &Subject::domu(src),
            Some(&Subject::domu(target)),
        )
        .map_err(i64::from)
}

/// XSM_PRIV: operations only the control domain may do. Dom0less domUs
/// are never privileged.
pub fn privileged(src: u16) -> Result<(), i64> {
    select("")
        .check(Action::Priv, &Subject::domu(src), None)
        .map_err(i64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOM0: Subject = Subject {
        id: 0,
        is_privileged: true,
        is_xenstore: false,
        target: None,
    };
    const D1: Subject = Subject {
        id: 1,
        is_privileged: false,
        is_xenstore: false,
        target: None,
    };
    const D2: Subject = Subject {
        id: 2,
        is_privileged: false,
        is_xenstore: false,
        target: None,
    };
    const DM: Subject = Subject {
        id: 3,
        is_privileged: false,
        is_xenstore: false,
        target: Some(1),
    };

    #[test]
    fn dummy_policy_matches_xens_defaults() {
        assert_eq!(default_action(Action::Hook, &D1, Some(&D2)), Ok(()));
        assert_eq!(default_action(Action::Target, &D1, Some(&D1)), Ok(()));
        assert_eq!(default_action(Action::Target, &D1, Some(&D2)), Err(-EPERM));
        assert_eq!(default_action(Action::Target, &DOM0, Some(&D2)), Ok(()));
        assert_eq!(default_action(Action::DmPriv, &DM, Some(&D1)), Ok(()));
        assert_eq!(default_action(Action::DmPriv, &DM, Some(&D2)), Err(-EPERM));
        assert_eq!(default_action(Action::Priv, &D1, None), Err(-EPERM));
        assert_eq!(default_action(Action::Priv, &DOM0, None), Ok(()));
        assert_eq!(select("nonexistent").name(), "dummy");
    }
}
