//! The kernel filesystems of a sandbox: /proc (a new instance for the new
//! PID namespace) and /sys (read-only), with docker's masked paths (an
//! empty read-only tmpfs over directories, /dev/null over files) and
//! read-only paths, from moby's oci/defaults.go.
//!
//! Child side, fork-safe.

use super::resolve::{self, Fd};
use super::{fail, SetupResult};
use crate::sandbox::plan::{Plan, Step, TARGET_PROC, TARGET_SYS};
use crate::sandbox::sys;
use std::ffi::CStr;

/// docker's MaskedPaths (relative to the root).
pub const MASKED_PATHS: [&CStr; 12] = [
    c"proc/asound",
    c"proc/acpi",
    c"proc/interrupts",
    c"proc/kcore",
    c"proc/keys",
    c"proc/latency_stats",
    c"proc/timer_list",
    c"proc/timer_stats",
    c"proc/sched_debug",
    c"proc/scsi",
    c"sys/firmware",
    c"sys/devices/virtual/powercap",
];

/// docker's ReadonlyPaths.
pub const READONLY_PATHS: [&CStr; 5] = [
    c"proc/bus",
    c"proc/fs",
    c"proc/irq",
    c"proc/sys",
    c"proc/sysrq-trigger",
];

const NOSUID_NODEV_NOEXEC: libc::c_ulong =
    (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;

pub fn mount_proc(plan: &Plan, root: i32, created: &mut dyn FnMut(&[u8])) -> SetupResult<()> {
    let target = resolve::ensure_dir(root, &plan.targets[TARGET_PROC], created)
        .map_err(fail(Step::Proc, 0))?;
    sys::mount(
        Some(c"proc"),
        target.path().as_cstr(),
        Some(c"proc"),
        NOSUID_NODEV_NOEXEC,
        None,
    )
    .map_err(fail(Step::Proc, 0))
}

pub fn mount_sys(plan: &Plan, root: i32, created: &mut dyn FnMut(&[u8])) -> SetupResult<()> {
    let target = resolve::ensure_dir(root, &plan.targets[TARGET_SYS], created)
        .map_err(fail(Step::Sys, 0))?;
    let flags = NOSUID_NODEV_NOEXEC | libc::MS_RDONLY as libc::c_ulong;
    match sys::mount(
        Some(c"sysfs"),
        target.path().as_cstr(),
        Some(c"sysfs"),
        flags,
        None,
    ) {
        Ok(()) => Ok(()),
        // Rootless with the host's network namespace: sysfs cannot be
        // mounted, bind the host's read-only instead (as runc does).
        Err(libc::EPERM) if plan.user_ns => {
            let bind = (libc::MS_BIND | libc::MS_REC) as libc::c_ulong;
            sys::mount(Some(c"/sys"), target.path().as_cstr(), None, bind, None)
                .map_err(fail(Step::Sys, 0))?;
            let mounted = resolve::open(root, &plan.targets[TARGET_SYS], libc::O_PATH)
                .map_err(fail(Step::Sys, 0))?;
            sys::mount_setattr(mounted.raw(), sys::MOUNT_ATTR_RDONLY, true)
                .map_err(fail(Step::Sys, 0))
        }
        Err(e) => Err(fail(Step::Sys, 0)(e)),
    }
}

/// /sys/fs/cgroup: the sandbox's own cgroup directories, read-only, as
/// docker shows them (a tmpfs with one directory per v1 hierarchy, or the
/// cgroup v2 directory itself). Nothing when the sandbox has no cgroup.
pub fn mount_cgroup_view(plan: &Plan, root: i32) -> SetupResult<()> {
    if plan.cgroup_view.is_empty() {
        return Ok(());
    }
    let err = fail(Step::Sys, 0);
    let target = match resolve::open(root, c"sys/fs/cgroup", libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        // A kernel without the mount point in sysfs: nothing to show.
        Err(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    let bind = (libc::MS_BIND | libc::MS_REC) as libc::c_ulong;
    if let [(name, dir)] = plan.cgroup_view.as_slice() {
        if name.is_empty() {
            sys::mount(Some(dir), target.path().as_cstr(), None, bind, None).map_err(&err)?;
            let mounted = resolve::open(root, c"sys/fs/cgroup", libc::O_PATH).map_err(&err)?;
            return sys::mount_setattr(mounted.raw(), sys::MOUNT_ATTR_RDONLY, true).map_err(err);
        }
    }
    sys::mount(
        Some(c"tmpfs"),
        target.path().as_cstr(),
        Some(c"tmpfs"),
        NOSUID_NODEV_NOEXEC,
        Some(c"mode=755,size=64k"),
    )
    .map_err(&err)?;
    drop(target);
    let tmpfs =
        resolve::open(root, c"sys/fs/cgroup", libc::O_PATH | libc::O_DIRECTORY).map_err(&err)?;
    for (name, dir) in &plan.cgroup_view {
        sys::mkdirat(tmpfs.raw(), name, 0o755).map_err(&err)?;
        let sub = Fd(sys::openat(
            tmpfs.raw(),
            name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(&err)?);
        sys::mount(Some(dir), sub.path().as_cstr(), None, bind, None).map_err(&err)?;
    }
    sys::mount_setattr(tmpfs.raw(), sys::MOUNT_ATTR_RDONLY, true).map_err(err)
}

/// Applies docker's masked and read-only paths; missing ones are skipped.
pub fn mask_paths(root: i32) -> SetupResult<()> {
    for (index, path) in MASKED_PATHS.iter().enumerate() {
        let Some(fd) = open_existing(root, path).map_err(fail(Step::Mask, index))? else {
            continue;
        };
        let is_dir = sys::file_type(fd.raw()).map_err(fail(Step::Mask, index))? == libc::S_IFDIR;
        let result = if is_dir {
            let flags = NOSUID_NODEV_NOEXEC | libc::MS_RDONLY as libc::c_ulong;
            sys::mount(
                Some(c"tmpfs"),
                fd.path().as_cstr(),
                Some(c"tmpfs"),
                flags,
                Some(c"size=4k,nr_inodes=1,mode=0555"),
            )
        } else {
            let flags = libc::MS_BIND as libc::c_ulong;
            sys::mount(Some(c"/dev/null"), fd.path().as_cstr(), None, flags, None)
        };
        result.map_err(fail(Step::Mask, index))?;
    }
    for (index, path) in READONLY_PATHS.iter().enumerate() {
        let Some(fd) = open_existing(root, path).map_err(fail(Step::ReadonlyPath, index))? else {
            continue;
        };
        let bind = (libc::MS_BIND | libc::MS_REC) as libc::c_ulong;
        let here = fd.path();
        sys::mount(Some(here.as_cstr()), here.as_cstr(), None, bind, None)
            .map_err(fail(Step::ReadonlyPath, index))?;
        let mounted = resolve::open(root, path, libc::O_PATH | libc::O_NOFOLLOW)
            .map_err(fail(Step::ReadonlyPath, index))?;
        sys::mount_setattr(mounted.raw(), sys::MOUNT_ATTR_RDONLY, true)
            .map_err(fail(Step::ReadonlyPath, index))?;
    }
    Ok(())
}

fn open_existing(root: i32, path: &CStr) -> Result<Option<Fd>, sys::Errno> {
    match resolve::open(root, path, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => Ok(Some(fd)),
        Err(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
