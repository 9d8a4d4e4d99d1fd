//! The rows of the support matrix core itself answers for.

use linkme::distributed_slice;

use crate::registry::{Status, SupportRow, CORE_SUPPORT};

#[distributed_slice(CORE_SUPPORT)]
static CORE_ROWS: &[SupportRow] = &[
    SupportRow {
        section: "Host Architecture",
        feature: "ARM v8",
        qualifier: Some("Xen in AArch64 mode"),
        status: Status::Experimental,
        tests: &["scenario:boot-banner", "scenario:boot-cpu-max", "scenario:boot-uboot", "scenario:guest-one", "scenario:zcu102-boot", "scenario:zcu102-linux"],
        note: "Tessera boots at EL2 (non-VHE) on QEMU virt (Cortex-A57, GICv3) and on QEMU's xlnx-zcu102 (ZynqMP: Cortex-A53, GIC-400 GICv2, RAM from 0, the board's own device tree), brings every CPU online, runs dom0less domains (the test guest and Debian's Linux) and powers off when they end.",
    },
    SupportRow {
        section: "Host hardware support",
        feature: "Physical Memory",
        qualifier: Some("Arm64"),
        status: Status::Experimental,
        tests: &["unit:tessera-core::mm::frame::tests::alloc_split_free_coalesce", "scenario:boot-banner", "scenario:zcu102-boot"],
        note: "Frame table and buddy allocator over the device tree's memory banks; tested with 1 GiB at 1 GiB (QEMU virt) and 2 GiB from address 0 (xlnx-zcu102).",
    },
    SupportRow {
        section: "Host hardware support",
        feature: "Physical CPUs",
        qualifier: Some("ARM"),
        status: Status::Experimental,
        tests: &["scenario:boot-banner", "scenario:zcu102-boot"],
        note: "Up to NR_CPUS (Kconfig, at most 128) started through PSCI; tested with 4 (Cortex-A57 on QEMU virt, Cortex-A53 on xlnx-zcu102).",
    },
    SupportRow {
        section: "Host hardware support",
        feature: "ARM/GICv3",
        qualifier: Some("Arm64"),
        status: Status::Experimental,
        tests: &["scenario:boot-banner", "scenario:guest-irq", "scenario:linux-one", "scenario:linux-beside-gic-attack"],
        note: "Host driver: distributor, redistributors, SGIs, SPIs routed to their owner and the timer PPIs; guests get an emulated GICv3 (distributor, redistributors, ICC system registers, list registers). No ITS/LPIs. (Xen's matrix has no GICv2 row: the GICv2 host driver and vGICv2, tested on xlnx-zcu102, are described under Guest Type ARM and in docs/architecture.md.)",
    },
    SupportRow {
        section: "Static Event Channel",
        feature: "",
        qualifier: Some("ARM"),
        status: Status::Experimental,
        tests: &[
            "unit:tessera-core::dom0less::tests::static_event_channels_pair_up_across_domains",
            "unit:tessera-core::xen::tests::static_channels_are_bound_before_the_domains_run",
            "unit:tessera-core::xen::tests::interdomain_channels_connect_two_domains_and_survive_one_ending",
            "scenario:xen-pair",
        ],
        note: "xen,evtchn-v1 sub-nodes of xen,enhanced domains (xen,evtchn = <port &peer>) are paired across domains before anything is built and bound before the domains start; broken pairs are refused by node. dom0's static channels do not apply (no dom0).",
    },
    SupportRow {
        section: "Resource Management",
        feature: "CPU Pools",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "unit:tessera-core::sched::tests::boot_pools::xen_second_example_gives_three_pools_with_the_boot_pcpu_in_pool_0",
            "unit:tessera-core::sched::tests::boot_pools::bad_pool_nodes_are_refused_by_name",
            "unit:tessera-core::sched::tests::boot_pools::boot_pools_get_their_schedulers_and_keep_domains_on_their_pcpus",
            "unit:tessera-core::dom0less::tests::scheduling_properties_are_read_and_checked",
            "scenario:sched-weights-credit",
            "scenario:sched-weights-credit2",
            "scenario:guest-pool-refused",
        ],
        note: "Boot-time pools from Xen's xen,cpupool nodes (cpupool-cpus, cpupool-sched, domain-cpupool; the boot pCPU's pool is Pool-0, unnamed pCPUs form one more pool), each with its own scheduler instance; per-domain tessera, scheduling properties (docs/bindings/scheduling.md). No runtime pool create/destroy/move (needs the toolstack).",
    },
    SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Hypervisor ‘debug keys’",
        qualifier: None,
        status: Status::Experimental,
        tests: &["scenario:debug-keys"],
        note: "CTRL-a three times moves console input to the hypervisor; 'h' help, 'm' memory, 'q' domains/vCPUs/interrupts, 'r' scheduler, 'd' registers of every pCPU (and of the guest it runs; the other pCPUs answer a call-function SGI). Keys register through a distributed slice, so plugins can add their own.",
    },
    SupportRow {
        section: "Debugging, analysis, and crash post-mortem",
        feature: "Hypervisor synchronous console output (sync_console)",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "scenario:boot-bad-cmdline",
            "scenario:guest-two",
            "unit:tessera-core::console::tests::sync_console_writes_through_after_what_was_queued",
            "unit:tessera-core::console::tests::buffered_output_waits_for_the_interrupt_and_loses_nothing",
            "unit:tessera-core::console::tests::emergency_output_masks_the_uart_and_writes_the_queue_first",
        ],
        note: "Without it, console output is queued in the UART driver's transmit ring and sent by its transmit interrupt (a full ring makes the writer wait, nothing is dropped); with it, every message is written out polled and sent before the writer goes on, and boot warns that this is for debugging. Panics, fatal exceptions and power-off write the queue out first.",
    },
];
