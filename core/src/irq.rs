//! Who owns each physical interrupt: a hypervisor handler or a domain (with
//! the virtual interrupt it becomes, ready for passthrough). The interrupt
//! controller driver asks this table what to do with an INTID it does not
//! handle itself (its SGIs and timer PPIs).

use spin::Mutex;

/// Highest INTID in the table (SPIs end below the special INTIDs 1020+).
pub const MAX_INTID: usize = 1019;

/// The owner of a physical interrupt.
#[derive(Clone, Copy)]
pub enum Owner {
    Free,
    /// Handled by the hypervisor: a name for messages and the handler.
    Hypervisor {
        name: &'static str,
        handler: fn(),
    },
    /// Forwarded to domain `domid` as virtual interrupt `virq`.
    Domain {
        domid: u16,
        virq: u32,
    },
}

/// Why an interrupt cannot be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqError {
    OutOfRange(u32),
    Busy(u32),
}

impl core::fmt::Display for IrqError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IrqError::OutOfRange(i) => write!(f, "interrupt {i} out of range"),
            IrqError::Busy(i) => write!(f, "interrupt {i} already has an owner"),
        }
    }
}

static TABLE: Mutex<[Owner; MAX_INTID + 1]> = Mutex::new([Owner::Free; MAX_INTID + 1]);

/// Gives `intid` to `owner`; an interrupt has one owner at a time.
pub fn claim(intid: u32, owner: Owner) -> Result<(), IrqError> {
    let mut t = TABLE.lock();
    let slot = t
        .get_mut(intid as usize)
        .ok_or(IrqError::OutOfRange(intid))?;
    if !matches!(slot, Owner::Free) {
        return Err(IrqError::Busy(intid));
    }
    *slot = owner;
    Ok(())
}

/// Frees `intid`.
pub fn release(intid: u32) {
    if let Some(slot) = TABLE.lock().get_mut(intid as usize) {
        *slot = Owner::Free;
    }
}

/// The owner of `intid`.
pub fn owner(intid: u32) -> Owner {
    TABLE
        .lock()
        .get(intid as usize)
        .copied()
        .unwrap_or(Owner::Free)
}

/// Runs the hypervisor handler of `intid`; the domain owner if it is
/// forwarded; `Free` if nobody claimed it.
pub fn dispatch(intid: u32) -> Owner {
    let o = owner(intid);
    if let Owner::Hypervisor { handler, .. } = o {
        handler();
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU32, Ordering};

    static HITS: AtomicU32 = AtomicU32::new(0);

    #[test]
    fn one_owner_each_and_dispatch_runs_the_handler() {
        claim(
            100,
            Owner::Hypervisor {
                name: "test",
                handler: || {
                    HITS.fetch_add(1, Ordering::SeqCst);
                },
            },
        )
        .unwrap();
        assert_eq!(
            claim(
                100,
                Owner::Domain {
                    domid: 1,
                    virq: 100
                }
            ),
            Err(IrqError::Busy(100))
        );
        assert!(matches!(dispatch(100), Owner::Hypervisor { .. }));
        assert_eq!(HITS.load(Ordering::SeqCst), 1);
        release(100);
        claim(100, Owner::Domain { domid: 1, virq: 40 }).unwrap();
        assert!(matches!(
            dispatch(100),
            Owner::Domain { domid: 1, virq: 40 }
        ));
        assert_eq!(claim(5000, Owner::Free), Err(IrqError::OutOfRange(5000)));
        assert!(matches!(dispatch(101), Owner::Free));
        release(100);
    }
}
