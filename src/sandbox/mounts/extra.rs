//! The generated /etc files (hosts, hostname, resolv.conf) and the spec's
//! mounts (binds, tmpfs, secret files), in order. Generated and secret
//! files are written into a private tmpfs on the shared staging directory
//! (inside the sandbox's mount namespace only, never on disk) and
//! bind-mounted from there.
//!
//! Child side, fork-safe.

use super::resolve::{self, Fd};
use super::{fail, SetupResult};
use crate::sandbox::plan::{MountPlan, Plan, StagedFile, Step};
use crate::sandbox::sys::{self, SysResult};

pub fn mount_staging(plan: &Plan) -> SetupResult<Fd> {
    let err = fail(Step::Staging, 0);
    let flags = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;
    sys::mount(
        Some(c"tmpfs"),
        &plan.staging,
        Some(c"tmpfs"),
        flags,
        Some(c"mode=0700"),
    )
    .map_err(&err)?;
    sys::open(&plan.staging, libc::O_PATH | libc::O_DIRECTORY)
        .map(Fd)
        .map_err(&err)
}

pub fn etc_files(
    plan: &Plan,
    root: i32,
    staging: i32,
    resolv: Option<&[u8]>,
    created: &mut dyn FnMut(&[u8]),
) -> SetupResult<()> {
    for (index, file) in plan.etc.iter().enumerate() {
        // The last one is resolv.conf; its content may come with "go".
        let contents = match resolv {
            Some(text) if index + 1 == plan.etc.len() => text,
            _ => &file.contents,
        };
        bind_staged(plan, root, staging, file, contents, created)
            .map_err(fail(Step::EtcFile, file.target))?;
    }
    Ok(())
}

pub fn spec_mounts(
    plan: &Plan,
    root: i32,
    staging: i32,
    created: &mut dyn FnMut(&[u8]),
) -> SetupResult<()> {
    for mount in &plan.mounts {
        match mount {
            MountPlan::Bind {
                source,
                is_dir,
                readonly,
                target,
            } => {
                let err = fail(Step::Mount, *target);
                let path = &plan.targets[*target];
                let fd = if *is_dir {
                    resolve::ensure_dir(root, path, created)
                } else {
                    resolve::ensure_file(root, path, created)
                }
                .map_err(&err)?;
                let flags = (libc::MS_BIND | libc::MS_REC) as libc::c_ulong;
                sys::mount(Some(source), fd.path().as_cstr(), None, flags, None).map_err(&err)?;
                if *readonly {
                    make_readonly(root, path).map_err(&err)?;
                }
            }
            MountPlan::Tmpfs { data, target } => {
                let err = fail(Step::Mount, *target);
                let fd =
                    resolve::ensure_dir(root, &plan.targets[*target], created).map_err(&err)?;
                let flags = (libc::MS_NOSUID | libc::MS_NODEV) as libc::c_ulong;
                sys::mount(
                    Some(c"tmpfs"),
                    fd.path().as_cstr(),
                    Some(c"tmpfs"),
                    flags,
                    Some(data),
                )
                .map_err(&err)?;
            }
            MountPlan::File(file) => {
                bind_staged(plan, root, staging, file, &file.contents, created)
                    .map_err(fail(Step::Mount, file.target))?;
            }
        }
    }
    Ok(())
}

fn make_readonly(root: i32, path: &std::ffi::CStr) -> SysResult<()> {
    let mounted = resolve::open(root, path, libc::O_PATH)?;
    sys::mount_setattr(mounted.raw(), sys::MOUNT_ATTR_RDONLY, true)
}

/// Writes `contents` into the staging tmpfs and binds it on the target.
fn bind_staged(
    plan: &Plan,
    root: i32,
    staging: i32,
    file: &StagedFile,
    contents: &[u8],
    created: &mut dyn FnMut(&[u8]),
) -> SysResult<()> {
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
    let written = Fd(sys::openat(staging, &file.name, flags, 0o600)?);
    sys::write_all(written.raw(), contents)?;
    sys::fchown(written.raw(), file.uid, file.gid)?;
    sys::fchmod(written.raw(), file.mode)?;
    drop(written);
    let source = Fd(sys::openat(
        staging,
        &file.name,
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
    )?);
    let path = &plan.targets[file.target];
    let target = resolve::ensure_file(root, path, created)?;
    let flags = libc::MS_BIND as libc::c_ulong;
    sys::mount(
        Some(source.path().as_cstr()),
        target.path().as_cstr(),
        None,
        flags,
        None,
    )?;
    if file.readonly {
        make_readonly(root, path)?;
    }
    Ok(())
}
