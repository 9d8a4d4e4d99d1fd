//! Boot-time CPU pools from the device tree: Xen's `xen,cpupool` binding
//! (docs/misc/arm/device-tree/cpupools.txt, Xen 4.20).
//!
//! Each `/chosen` child compatible with `"xen,cpupool"` is one pool:
//! `cpupool-cpus` lists phandles of `/cpus` nodes (never empty),
//! `cpupool-sched` optionally names its scheduler by its `sched=` name.
//! Pool ids follow the nodes' order. The rules are Xen's
//! (common/sched/boot-cpupool.c):
//! - no pool node: every online pCPU is in Pool-0;
//! - online pCPUs no node names form one more pool, after the named ones;
//! - the pool holding the boot pCPU (index 0) becomes Pool-0, swapping ids
//!   (and schedulers) with the pool that had id 0;
//! - a pool without a scheduler uses Pool-0's `sched=` choice.
//!
//! Where Xen panics (a pCPU in two pools, a pCPU that is not online, a
//! scheduler this image does not have, a phandle that is not a cpu node)
//! this returns an error naming the node, and boot starts no domain rather
//! than running them on pCPUs nobody meant them to have.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::{find_scheduler, CpuMask, SchedulerOps};
use crate::fdt::{Fdt, Node};

/// The compatible of a pool node.
pub const CPUPOOL_COMPATIBLE: &str = "xen,cpupool";

/// One pool to create at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPool {
    /// Pool id (0 = Pool-0, the boot pCPU's).
    pub id: u32,
    /// The node that described it; `None` for the pool of unassigned pCPUs.
    pub node: Option<String>,
    /// `cpupool-sched`; `None` = Pool-0's scheduler choice (`sched=`).
    pub sched: Option<&'static dyn SchedulerOps>,
    pub cpus: CpuMask,
}

/// Every boot-time pool, ordered by id, and which node became which pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPools {
    pub pools: Vec<BootPool>,
    /// `(phandle, pool id)` of every pool node that has a phandle.
    phandles: Vec<(u32, u32)>,
}

impl BootPools {
    /// Xen's behaviour without pool nodes: Pool-0 holds every online pCPU.
    pub fn single(online: CpuMask) -> Self {
        BootPools {
            pools: alloc::vec![BootPool {
                id: 0,
                node: None,
                sched: None,
                cpus: online,
            }],
            phandles: Vec::new(),
        }
    }

    /// The pool a domain's `domain-cpupool = <phandle>` names.
    pub fn pool_of_phandle(&self, fdt: &Fdt, phandle: u32) -> Result<u32, PoolDtError> {
        if let Some(&(_, id)) = self.phandles.iter().find(|(p, _)| *p == phandle) {
            return Ok(id);
        }
        Err(match fdt.node_by_phandle(phandle) {
            Some(n) => PoolDtError::NotAPool {
                phandle,
                node: n.name().to_string(),
            },
            None => PoolDtError::NoSuchPhandle { phandle },
        })
    }
}

/// Why the pool nodes cannot be used; each names the node at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolDtError {
    /// `cpupool-cpus` is missing or empty.
    NoCpus { node: String },
    /// A property of the pool node is malformed.
    BadProperty {
        node: String,
        property: &'static str,
        why: &'static str,
    },
    /// A property nobody knows (the binding has three).
    UnknownProperty { node: String, property: String },
    /// A phandle in `cpupool-cpus` that leads nowhere or not to a cpu.
    NotACpu { node: String, phandle: u32 },
    /// A cpu node whose hardware id is no pCPU of this machine.
    NoSuchCpu {
        node: String,
        cpu_node: String,
        hwid: u64,
    },
    /// A pCPU named by two pools (or twice by one).
    CpuTwice { node: String, cpu: usize },
    /// A pool names a pCPU that did not come online.
    CpuOffline { node: String, cpu: usize },
    /// `cpupool-sched` names a scheduler this image does not have.
    UnknownScheduler {
        node: String,
        name: String,
        available: String,
    },
    /// `domain-cpupool` points at a node that is not a pool.
    NotAPool { phandle: u32, node: String },
    /// `domain-cpupool` points at no node.
    NoSuchPhandle { phandle: u32 },
}

impl fmt::Display for PoolDtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PoolDtError::*;
        match self {
            NoCpus { node } => write!(f, "cpupool {node}: cpupool-cpus is missing or empty"),
            BadProperty {
                node,
                property,
                why,
            } => write!(f, "cpupool {node}: {property} {why}"),
            UnknownProperty { node, property } => {
                write!(f, "cpupool {node}: unknown property {property}")
            }
            NotACpu { node, phandle } => write!(
                f,
                "cpupool {node}: cpupool-cpus phandle {phandle:#x} is not a cpu node"
            ),
            NoSuchCpu {
                node,
                cpu_node,
                hwid,
            } => write!(
                f,
                "cpupool {node}: {cpu_node} (hardware id {hwid:#x}) is no pCPU of this machine"
            ),
            CpuTwice { node, cpu } => {
                write!(f, "cpupool {node}: pCPU {cpu} is already in a cpupool")
            }
            CpuOffline { node, cpu } => {
                write!(f, "cpupool {node}: pCPU {cpu} is not online")
            }
            UnknownScheduler {
                node,
                name,
                available,
            } => write!(
                f,
                "cpupool {node}: no scheduler '{name}' in this image (it has:{available})"
            ),
            NotAPool { phandle, node } => write!(
                f,
                "domain-cpupool phandle {phandle:#x} is {node}, not a {CPUPOOL_COMPATIBLE} node"
            ),
            NoSuchPhandle { phandle } => {
                write!(f, "domain-cpupool phandle {phandle:#x} names no node")
            }
        }
    }
}

fn bad(node: &str, property: &'static str, why: &'static str) -> PoolDtError {
    PoolDtError::BadProperty {
        node: node.to_string(),
        property,
        why,
    }
}

/// The pCPU index of a cpu node, from its `reg` (the hardware id).
fn cpu_of_node(
    pool: &str,
    phandle: u32,
    cpu: Option<Node>,
    hwid: &dyn Fn(usize) -> Option<u64>,
    nr_cpus: usize,
) -> Result<usize, PoolDtError> {
    let not_cpu = || PoolDtError::NotACpu {
        node: pool.to_string(),
        phandle,
    };
    let cpu = cpu.ok_or_else(not_cpu)?;
    let is_cpu = cpu
        .property("device_type")
        .and_then(|p| p.as_str())
        .is_some_and(|t| t == "cpu");
    if !is_cpu {
        return Err(not_cpu());
    }
    let (id, _) = cpu.reg().next().ok_or_else(not_cpu)?;
    (0..nr_cpus)
        .find(|&i| hwid(i) == Some(id))
        .ok_or_else(|| PoolDtError::NoSuchCpu {
            node: pool.to_string(),
            cpu_node: cpu.name().to_string(),
            hwid: id,
        })
}

/// Reads the pool nodes under `/chosen` and lays the `online` pCPUs out
/// in pools. `hwid(i)` is pCPU `i`'s hardware id (MPIDR), `registry` the
/// image's schedulers (`cpupool-sched` must name one).
pub fn parse_boot_pools(
    fdt: &Fdt,
    registry: &[&'static dyn SchedulerOps],
    nr_cpus: usize,
    hwid: &dyn Fn(usize) -> Option<u64>,
    online: CpuMask,
) -> Result<BootPools, PoolDtError> {
    let Some(chosen) = fdt.find_node("/chosen") else {
        return Ok(BootPools::single(online));
    };
    // pCPU -> index of the node that claimed it.
    let mut owner: Vec<Option<usize>> = alloc::vec![None; nr_cpus];
    let mut named: Vec<(String, Option<&'static dyn SchedulerOps>, Option<u32>)> = Vec::new();
    for node in chosen.children() {
        if !node.is_compatible(CPUPOOL_COMPATIBLE) {
            continue;
        }
        let name = node.name();
        let mut sched = None;
        let mut phandle = None;
        let mut cpus: Option<Vec<u32>> = None;
        for p in node.properties() {
            match p.name {
                "compatible" | "name" => {}
                "phandle" | "linux,phandle" => {
                    phandle = Some(
                        p.as_u32()
                            .ok_or_else(|| bad(name, "phandle", "must be one cell"))?,
                    )
                }
                "cpupool-cpus" => {
                    if p.value.len() % 4 != 0 {
                        return Err(bad(name, "cpupool-cpus", "must be a list of phandles"));
                    }
                    cpus = Some(p.cells().collect());
                }
                "cpupool-sched" => {
                    let s = p
                        .as_str()
                        .ok_or_else(|| bad(name, "cpupool-sched", "must be one string"))?;
                    sched = Some(find_scheduler(registry, s).ok_or_else(|| {
                        let mut available = String::new();
                        for r in registry {
                            available.push(' ');
                            available.push_str(r.opt_name());
                        }
                        PoolDtError::UnknownScheduler {
                            node: name.to_string(),
                            name: s.to_string(),
                            available,
                        }
                    })?);
                }
                other => {
                    return Err(PoolDtError::UnknownProperty {
                        node: name.to_string(),
                        property: other.to_string(),
                    })
                }
            }
        }
        let cpus = cpus.filter(|c| !c.is_empty()).ok_or(PoolDtError::NoCpus {
            node: name.to_string(),
        })?;
        let index = named.len();
        for ph in cpus {
            let cpu = cpu_of_node(name, ph, fdt.node_by_phandle(ph), hwid, nr_cpus)?;
            if owner[cpu].is_some() {
                return Err(PoolDtError::CpuTwice {
                    node: name.to_string(),
                    cpu,
                });
            }
            if !online.contains(cpu) {
                return Err(PoolDtError::CpuOffline {
                    node: name.to_string(),
                    cpu,
                });
            }
            owner[cpu] = Some(index);
        }
        named.push((name.to_string(), sched, phandle));
    }
    if named.is_empty() {
        return Ok(BootPools::single(online));
    }

    // Ids in node order; the unassigned online pCPUs make one more pool.
    let mut pools: Vec<BootPool> = named
        .iter()
        .enumerate()
        .map(|(i, (node, sched, _))| BootPool {
            id: i as u32,
            node: Some(node.clone()),
            sched: *sched,
            cpus: CpuMask::empty(),
        })
        .collect();
    let mut extra = CpuMask::empty();
    for cpu in online.iter().filter(|&c| c < nr_cpus) {
        match owner[cpu] {
            Some(i) => {
                pools[i].cpus.set(cpu);
            }
            None => {
                extra.set(cpu);
            }
        }
    }
    if !extra.is_empty() {
        pools.push(BootPool {
            id: pools.len() as u32,
            node: None,
            sched: None,
            cpus: extra,
        });
    }
    // The boot pCPU's pool is Pool-0: swap ids with whoever had 0. Xen
    // swaps the schedulers with the ids, so each pool keeps its own; a
    // pool that named none uses `sched=` whatever its id.
    let boot = pools.iter().position(|p| p.cpus.contains(0)).unwrap_or(0);
    let id_of = |i: usize| -> u32 {
        match i {
            _ if i == boot => 0,
            0 => boot as u32,
            _ => i as u32,
        }
    };
    for (i, p) in pools.iter_mut().enumerate() {
        p.id = id_of(i);
    }
    pools.sort_by_key(|p| p.id);
    let phandles = named
        .iter()
        .enumerate()
        .filter_map(|(i, (_, _, ph))| Some(((*ph)?, id_of(i))))
        .collect();
    Ok(BootPools { pools, phandles })
}
