//! Xen's errno values (`xen/include/public/errno.h`); hypercalls return
//! them negated.

pub const EPERM: i64 = 1;
pub const ENOENT: i64 = 2;
pub const ESRCH: i64 = 3;
pub const ENXIO: i64 = 6;
pub const E2BIG: i64 = 7;
pub const EAGAIN: i64 = 11;
pub const ENOMEM: i64 = 12;
pub const EACCES: i64 = 13;
pub const EFAULT: i64 = 14;
pub const EBUSY: i64 = 16;
pub const EEXIST: i64 = 17;
pub const EINVAL: i64 = 22;
pub const ENOSPC: i64 = 28;
pub const EDOM: i64 = 33;
pub const ENOSYS: i64 = 38;
pub const EOPNOTSUPP: i64 = 95;
pub const ENOBUFS: i64 = 105;
