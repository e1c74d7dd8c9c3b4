//! /dev of a sandbox: a tmpfs with docker's device nodes (null, zero, full,
//! random, urandom, tty; created with mknod as root, bind-mounted from the
//! host in a user namespace where mknod is not allowed), a new-instance
//! devpts with /dev/ptmx, /dev/shm, /dev/mqueue and the /proc/self/fd
//! links.
//!
//! Child side, fork-safe.

use super::resolve::{self, Fd};
use super::{fail, SetupResult};
use crate::sandbox::plan::{Plan, Step, TARGET_DEV};
use crate::sandbox::sys;
use std::ffi::CStr;

/// (name, major, minor, host path) of docker's default devices.
pub const DEVICES: [(&CStr, u32, u32, &CStr); 6] = [
    (c"null", 1, 3, c"/dev/null"),
    (c"zero", 1, 5, c"/dev/zero"),
    (c"full", 1, 7, c"/dev/full"),
    (c"random", 1, 8, c"/dev/random"),
    (c"urandom", 1, 9, c"/dev/urandom"),
    (c"tty", 5, 0, c"/dev/tty"),
];

const LINKS: [(&CStr, &CStr); 5] = [
    (c"fd", c"/proc/self/fd"),
    (c"stdin", c"/proc/self/fd/0"),
    (c"stdout", c"/proc/self/fd/1"),
    (c"stderr", c"/proc/self/fd/2"),
    (c"ptmx", c"pts/ptmx"),
];

pub fn mount_dev(plan: &Plan, root: i32, created: &mut dyn FnMut(&[u8])) -> SetupResult<()> {
    let err = fail(Step::Dev, 0);
    let target = resolve::ensure_dir(root, &plan.targets[TARGET_DEV], created).map_err(&err)?;
    sys::mount(
        Some(c"tmpfs"),
        target.path().as_cstr(),
        Some(c"tmpfs"),
        (libc::MS_NOSUID | libc::MS_STRICTATIME) as libc::c_ulong,
        Some(c"mode=755,size=65536k"),
    )
    .map_err(&err)?;
    drop(target);
    let dev = resolve::open(
        root,
        &plan.targets[TARGET_DEV],
        libc::O_PATH | libc::O_DIRECTORY,
    )
    .map_err(&err)?;
    for (index, (name, major, minor, host)) in DEVICES.iter().enumerate() {
        make_device(plan, &dev, name, libc::makedev(*major, *minor), host)
            .map_err(fail(Step::DevNode, index))?;
    }
    let nosuid_noexec = (libc::MS_NOSUID | libc::MS_NOEXEC) as libc::c_ulong;
    let all = nosuid_noexec | libc::MS_NODEV as libc::c_ulong;
    mount_dir(
        &dev,
        c"pts",
        c"devpts",
        nosuid_noexec,
        Some(&plan.devpts_data),
    )
    .map_err(&err)?;
    mount_dir(&dev, c"shm", c"tmpfs", all, Some(c"mode=1777,size=65536k")).map_err(&err)?;
    mount_dir(&dev, c"mqueue", c"mqueue", all, None).map_err(&err)?;
    for (name, target) in LINKS {
        sys::symlinkat(target, dev.raw(), name).map_err(&err)?;
    }
    Ok(())
}

fn make_device(
    plan: &Plan,
    dev: &Fd,
    name: &CStr,
    number: libc::dev_t,
    host: &CStr,
) -> sys::SysResult<()> {
    if !plan.user_ns {
        return sys::mknodat(dev.raw(), name, libc::S_IFCHR | 0o666, number);
    }
    let file = sys::openat(
        dev.raw(),
        name,
        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
        0o666,
    )?;
    sys::close(file);
    let target = Fd(sys::openat(
        dev.raw(),
        name,
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
    )?);
    sys::mount(
        Some(host),
        target.path().as_cstr(),
        None,
        libc::MS_BIND as libc::c_ulong,
        None,
    )
}

/// mkdir `name` in /dev and mount `fstype` on it.
fn mount_dir(
    dev: &Fd,
    name: &CStr,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> sys::SysResult<()> {
    sys::mkdirat(dev.raw(), name, 0o755)?;
    let dir = Fd(sys::openat(
        dev.raw(),
        name,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )?);
    sys::mount(
        Some(fstype),
        dir.path().as_cstr(),
        Some(fstype),
        flags,
        data,
    )
}
