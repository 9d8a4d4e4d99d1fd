//! The rows of the support matrix the aarch64 guest code answers for.

use linkme::distributed_slice;
use tessera_core::registry::{Status, SupportRow, CORE_SUPPORT};

#[distributed_slice(CORE_SUPPORT)]
static ARCH_ROWS: &[SupportRow] = &[
    SupportRow {
        section: "Guest Type",
        feature: "ARM",
        qualifier: None,
        status: Status::Experimental,
        tests: &[
            "scenario:guest-one",
            "scenario:guest-two",
            "scenario:guest-attack",
            "scenario:guest-crash",
            "scenario:guest-cpu-max",
            "scenario:guest-irq",
            "scenario:linux-one",
            "scenario:linux-two",
            "scenario:linux-xen",
            "scenario:xen-abi",
            "scenario:zcu102-guest-irq",
            "scenario:zcu102-guests",
            "scenario:zcu102-linux",
            "unit:tessera-arch-aarch64::vgic::v2::tests::linux_style_probe_and_setup",
            "unit:tessera-arch-aarch64::vgic::v2::tests::sgir_filters_and_sources",
            "unit:tessera-arch-aarch64::vgic::v2::tests::hostile_accesses_read_zero_and_change_nothing",
            "unit:tessera-core::xen::tests::multicall_runs_each_entry_and_control_calls_refuse_a_domu",
            "unit:tessera-core::xen::tests::xen_version_answers_as_xen_4_20_does_for_a_domu",
            "unit:tessera-core::xen::tests::event_channels_bind_send_mask_and_close_as_2_level",
            "unit:tessera-core::xen::tests::fifo_init_control_expand_array_and_set_priority_errors",
            "unit:tessera-core::xen::tests::fifo_queues_link_head_to_tail_and_raise_the_upcall_once",
            "unit:tessera-core::xen::tests::fifo_masked_ports_are_linked_only_when_unmasked",
            "unit:tessera-core::xen::tests::fifo_pending_ports_without_a_page_are_raised_when_it_comes",
            "unit:tessera-core::xen::tests::fifo_reset_goes_back_to_2_level",
            "unit:tessera-core::xen::tests::fifo_events_from_another_domain_are_queued",
            "unit:tessera-core::xen::tests::shared_info_and_grant_frames_map_once_each",
            "unit:tessera-core::xen::tests::vcpu_info_and_runstate_registration",
        ],
        note: "AArch64 guests at EL1 with their own stage 2, PSCI 1.1, sanitised ID registers and trapped debug/PMU/set-way, a virtual GIC of the host's version (GICv3 on QEMU virt; on a GICv2 host such as xlnx-zcu102 an emulated GICv2 distributor with the hardware's GICV frame mapped at the guest's GICC, at most 8 vCPUs) and the virtual and (emulated) physical timers; Debian's arm64 Linux 6.1 boots to userspace on both. With xen,enhanced = \"no-xenstore\", Xen's guest ABI: HVC 0xEA1 hypercalls (xen_version, console_io, sched_op, memory_op, vcpu_op, vm_assist, hvm_op, physdev_op, multicall, the control calls' refusals), shared_info, event channels (2-level and FIFO, within and between domains, static xen,evtchn-v1 pairs), grant tables v1 (frames, map/unmap into stage 2 with page references, copy); Linux finds Xen 4.20 and initialises grant tables and events; the conformance suite matches Debian's Xen 4.20 but for version strings. No xenstore, no grant transfer/swap.",
    },
    SupportRow {
        section: "Dom0less",
        feature: "",
        qualifier: Some("ARM"),
        status: Status::Experimental,
        tests: &[
            "scenario:guest-one",
            "scenario:guest-refused",
            "scenario:guest-partial-dt",
            "unit:tessera-core::dom0less::tests::unbuilt_features_are_refused",
        ],
        note: "memory, cpus, vpl011, kernel/ramdisk/partial device tree modules, the p2m pool size, domain-cpupool, xen,enhanced = \"no-xenstore\" and xen,evtchn-v1 static event channels; every property of a feature not built yet (static memory, direct-map, grant-table limits, shared memory, passthrough, xen,enhanced = \"enabled\"...) is refused by name. Domains start together once all are built.",
    },
    SupportRow {
        section: "Virtual Hardware, Hypervisor",
        feature: "ARM: Guest Device Tree support",
        qualifier: None,
        status: Status::Experimental,
        tests: &["scenario:guest-one", "unit:tessera-arch-aarch64::guest::dtgen::tests::every_node_as_xen_builds_it", "unit:tessera-arch-aarch64::guest::dtgen::tests::gicv2_hosts_give_a_gic_400_node"],
        note: "Each domain gets the tree Xen's dom0less builder makes (memory, cpus, psci, GICv3 or GICv2 as the host has, timer, sbsa-uart), plus its partial tree's /aliases and /passthrough.",
    },
    SupportRow {
        section: "Scalability",
        feature: "Super page support",
        qualifier: Some("ARM"),
        status: Status::Experimental,
        tests: &["unit:tessera-arch-aarch64::pagetable::tests::stage2_walk_starts_at_level_1_and_every_table_is_found_for_freeing"],
        note: "Stage 2 maps guest RAM with 1 GiB and 2 MiB blocks where the allocation is aligned.",
    },
];
