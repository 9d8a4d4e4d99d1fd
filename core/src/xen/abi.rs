//! Numbers and layouts of Xen's public ABI on Arm64 (xen/include/public,
//! Xen 4.20) that the hypercall families share.

/// `XEN_HYPERCALL_TAG`: the HVC immediate of a hypercall.
pub const HYPERCALL_TAG: u16 = 0xea1;

/// Hypercall numbers (`__HYPERVISOR_*`, public/xen.h).
pub mod nr {
    pub const PLATFORM_OP: u64 = 7;
    pub const MEMORY_OP: u64 = 12;
    pub const MULTICALL: u64 = 13;
    pub const XEN_VERSION: u64 = 17;
    pub const CONSOLE_IO: u64 = 18;
    pub const GRANT_TABLE_OP: u64 = 20;
    pub const VM_ASSIST: u64 = 21;
    pub const VCPU_OP: u64 = 24;
    pub const SCHED_OP: u64 = 29;
    pub const EVENT_CHANNEL_OP: u64 = 32;
    pub const PHYSDEV_OP: u64 = 33;
    pub const HVM_OP: u64 = 34;
    pub const SYSCTL: u64 = 35;
    pub const DOMCTL: u64 = 36;
    pub const HYPFS_OP: u64 = 42;
}

/// `DOMID_SELF`.
pub const DOMID_SELF: u16 = 0x7ff0;

/// Xen 4.20.
pub const VERSION_MAJOR: u32 = 4;
pub const VERSION_MINOR: u32 = 20;

/// Guest physical layout (public/arch-arm.h).
pub const GUEST_GNTTAB_BASE: u64 = 0x3800_0000;
pub const GUEST_GNTTAB_SIZE: u64 = 0x0100_0000;
/// The event-channel upcall PPI (`GUEST_EVTCHN_PPI`).
pub const GUEST_EVTCHN_PPI: u32 = 31;

/// `struct vcpu_info` is 48 bytes on Arm: upcall_pending (u8) at 0,
/// evtchn_pending_sel (u64) at 8, vcpu_time_info at 16.
pub const VCPU_INFO_SIZE: u64 = 48;
/// `XEN_LEGACY_MAX_VCPUS`: vCPUs whose vcpu_info lives in shared_info.
pub const LEGACY_MAX_VCPUS: usize = 1;
/// Word offsets in shared_info: evtchn_pending[64] at byte 48,
/// evtchn_mask[64] at byte 560.
pub const SHINFO_PENDING_BYTE: usize = 48;
pub const SHINFO_MASK_BYTE: usize = 560;
/// `wc_version` (u32) at byte 1072, then wc_sec, wc_nsec, wc_sec_hi.
pub const SHINFO_WC_VERSION_BYTE: usize = 1072;

/// Little-endian field access in a copied-in struct.
pub fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
pub fn le32(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}
pub fn le64(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
