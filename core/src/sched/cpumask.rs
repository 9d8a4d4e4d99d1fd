//! Sets of physical CPUs (Xen's `cpumask_t`): affinities, a pool's pCPUs,
//! the pCPUs a scheduler wants rescheduled.
//!
//! One `u128` covers Kconfig's whole NR_CPUS range (1..128), so a mask is
//! `Copy`, needs no allocation and set operations are single instructions.

use core::fmt;

/// A set of pCPU indices below [`CpuMask::CAPACITY`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuMask(u128);

// A configuration with more CPUs than a mask can name must not build.
const _: () = assert!(crate::config::NR_CPUS <= CpuMask::CAPACITY);

impl CpuMask {
    /// The largest number of pCPUs a mask can hold (Kconfig NR_CPUS max).
    pub const CAPACITY: usize = 128;

    /// No pCPU.
    pub const fn empty() -> Self {
        CpuMask(0)
    }
    /// Every pCPU a mask can name: "no restriction" as an affinity.
    pub const fn all() -> Self {
        CpuMask(u128::MAX)
    }
    /// pCPUs `0..n` (all of them when `n` is at least the capacity).
    pub const fn first_n(n: usize) -> Self {
        if n >= Self::CAPACITY {
            CpuMask(u128::MAX)
        } else {
            CpuMask((1u128 << n) - 1)
        }
    }
    /// Just `cpu`; empty when `cpu` is out of range, so a bad index from
    /// outside can never alias another pCPU.
    pub const fn single(cpu: usize) -> Self {
        if cpu < Self::CAPACITY {
            CpuMask(1u128 << cpu)
        } else {
            CpuMask(0)
        }
    }
    /// The listed pCPUs; out-of-range indices are left out.
    pub fn from_cpus(cpus: &[usize]) -> Self {
        cpus.iter()
            .fold(Self::empty(), |m, &c| m.or(Self::single(c)))
    }
    /// The raw bits (bit n = pCPU n).
    pub const fn bits(self) -> u128 {
        self.0
    }
    /// Adds `cpu`; returns false when it is out of range.
    pub fn set(&mut self, cpu: usize) -> bool {
        let b = Self::single(cpu);
        self.0 |= b.0;
        b.0 != 0
    }
    /// Removes `cpu` (a no-op when out of range).
    pub fn clear(&mut self, cpu: usize) {
        self.0 &= !Self::single(cpu).0;
    }
    /// Is `cpu` in the set?
    pub const fn contains(self, cpu: usize) -> bool {
        self.0 & Self::single(cpu).0 != 0
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Number of pCPUs in the set.
    pub const fn count(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The lowest pCPU in the set.
    pub const fn first(self) -> Option<usize> {
        if self.0 == 0 {
            None
        } else {
            Some(self.0.trailing_zeros() as usize)
        }
    }
    /// The first pCPU after `cpu`, wrapping around (Xen's `cpumask_cycle`),
    /// for policies that spread work round-robin.
    pub fn cycle(self, cpu: usize) -> Option<usize> {
        let above = if cpu + 1 >= Self::CAPACITY {
            0
        } else {
            self.0 & !((1u128 << (cpu + 1)) - 1)
        };
        CpuMask(above).first().or_else(|| self.first())
    }
    pub const fn and(self, o: Self) -> Self {
        CpuMask(self.0 & o.0)
    }
    pub const fn or(self, o: Self) -> Self {
        CpuMask(self.0 | o.0)
    }
    /// The pCPUs of `self` that are not in `o`.
    pub const fn and_not(self, o: Self) -> Self {
        CpuMask(self.0 & !o.0)
    }
    pub const fn intersects(self, o: Self) -> bool {
        self.0 & o.0 != 0
    }
    /// Is every pCPU of `self` in `o`?
    pub const fn is_subset_of(self, o: Self) -> bool {
        self.0 & !o.0 == 0
    }
    /// The pCPUs in ascending order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        core::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let cpu = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(cpu)
        })
    }
}

/// Xen's `%*pbl` list form: `0-3,6`; `none` for the empty set so that a
/// message never ends in a blank.
impl fmt::Display for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut sep = "";
        let mut it = self.iter().peekable();
        while let Some(start) = it.next() {
            let mut end = start;
            while it.peek() == Some(&(end + 1)) {
                end += 1;
                it.next();
            }
            if end == start {
                write!(f, "{sep}{start}")?;
            } else {
                write!(f, "{sep}{start}-{end}")?;
            }
            sep = ",";
        }
        Ok(())
    }
}

impl fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuMask({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::vec::Vec;

    #[test]
    fn set_operations_and_list_form() {
        let mut m = CpuMask::from_cpus(&[0, 1, 2, 3, 6, 127, 128]);
        assert_eq!(format!("{m}"), "0-3,6,127");
        assert_eq!(m.count(), 6);
        assert!(!m.set(200));
        m.clear(127);
        m.clear(1000);
        assert_eq!(m.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 6]);
        assert_eq!(m.cycle(3), Some(6));
        assert_eq!(m.cycle(6), Some(0));
        assert_eq!(m.cycle(127), Some(0));
        assert_eq!(
            CpuMask::first_n(4).and_not(CpuMask::single(1)),
            CpuMask::from_cpus(&[0, 2, 3])
        );
        assert!(CpuMask::first_n(2).is_subset_of(m));
        assert_eq!(format!("{}", CpuMask::empty()), "none");
        assert_eq!(CpuMask::first_n(500), CpuMask::all());
        assert_eq!(CpuMask::empty().first(), None);
        assert_eq!(CpuMask::single(128), CpuMask::empty());
    }
}
