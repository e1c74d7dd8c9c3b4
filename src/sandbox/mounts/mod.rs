//! The sandbox's mount namespace, built by its init before pivot_root:
//! the root (overlay or bind) on the shared mount point, /proc with
//! docker's masks, /dev, read-only /sys, the generated /etc files, and the
//! spec's mounts, in that order; then pivot_root with the old root
//! detached. Everything is mounted in the new, private mount namespace and
//! disappears with it.
//!
//! Child side, fork-safe (see sys.rs). Mount targets are resolved inside
//! the root with openat2 (resolve.rs) and mounted through /proc/self/fd.

mod dev;
mod extra;
mod kernel;
pub mod resolve;
mod rootfs;

pub use dev::DEVICES;
pub use kernel::{MASKED_PATHS, READONLY_PATHS};

use super::plan::{Plan, Step};
use super::sys::Errno;

/// A failed setup step: which one, an index within it, the errno.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub step: Step,
    pub index: u32,
    pub errno: Errno,
}

pub type SetupResult<T> = Result<T, Failure>;

pub fn fail(step: Step, index: usize) -> impl Fn(Errno) -> Failure {
    move |errno| Failure {
        step,
        index: index as u32,
        errno,
    }
}

/// Builds the whole filesystem view and pivots into it. `resolv` is the
/// /etc/resolv.conf content when it came with the go message;
/// `created(path)` reports each mount point created in the root.
pub fn setup(
    plan: &Plan,
    resolv: Option<&[u8]>,
    created: &mut dyn FnMut(&[u8]),
) -> SetupResult<()> {
    let root = rootfs::mount_root(plan)?;
    let staging = extra::mount_staging(plan)?;
    kernel::mount_proc(plan, root.raw(), created)?;
    dev::mount_dev(plan, root.raw(), created)?;
    kernel::mount_sys(plan, root.raw(), created)?;
    kernel::mount_cgroup_view(plan, root.raw())?;
    kernel::mask_paths(root.raw())?;
    extra::etc_files(plan, root.raw(), staging.raw(), resolv, created)?;
    extra::spec_mounts(plan, root.raw(), staging.raw(), created)?;
    drop(staging);
    rootfs::finish_and_pivot(plan, root)
}
