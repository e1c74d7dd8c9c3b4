//! The root filesystem: a private mount namespace, the overlay (or bind) of
//! the root on the shared mount point, the working directory, the optional
//! read-only remount, and pivot_root into it with the old root detached.
//!
//! Child side, fork-safe.

use super::resolve::{self, Fd};
use super::{fail, SetupResult};
use crate::sandbox::plan::{Plan, RootPlan, Step};
use crate::sandbox::sys;

/// Makes every mount private (nothing propagates to or from the host) and
/// mounts the root; returns an fd of the new root.
pub fn mount_root(plan: &Plan) -> SetupResult<Fd> {
    let flags = (libc::MS_REC | libc::MS_PRIVATE) as libc::c_ulong;
    sys::mount(None, c"/", None, flags, None).map_err(fail(Step::Private, 0))?;
    match &plan.root {
        RootPlan::Overlay { chdir, data } => {
            if let Some(dir) = chdir {
                sys::chdir(dir).map_err(fail(Step::Root, 0))?;
            }
            sys::mount(
                Some(c"overlay"),
                &plan.mount_point,
                Some(c"overlay"),
                0,
                Some(data),
            )
            .map_err(fail(Step::Root, 0))?;
        }
        RootPlan::Bind(dir) => {
            let flags = (libc::MS_BIND | libc::MS_REC) as libc::c_ulong;
            sys::mount(Some(dir), &plan.mount_point, None, flags, None)
                .map_err(fail(Step::Root, 0))?;
        }
    }
    sys::open(&plan.mount_point, libc::O_PATH | libc::O_DIRECTORY)
        .map(Fd)
        .map_err(fail(Step::Root, 0))
}

/// Creates the working directory, applies a read-only root, and pivots.
pub fn finish_and_pivot(plan: &Plan, root: Fd) -> SetupResult<()> {
    drop(
        resolve::ensure_dir(root.raw(), &plan.cwd, &mut |_: &[u8]| {})
            .map_err(fail(Step::Cwd, 0))?,
    );
    if plan.readonly_root {
        sys::mount_setattr(root.raw(), sys::MOUNT_ATTR_RDONLY, false)
            .map_err(fail(Step::ReadonlyRoot, 0))?;
    }
    sys::fchdir(root.raw()).map_err(fail(Step::Pivot, 0))?;
    drop(root);
    sys::pivot_to_cwd().map_err(fail(Step::Pivot, 0))?;
    if !plan.cwd.is_empty() {
        sys::chdir(&plan.cwd).map_err(fail(Step::Cwd, 0))?;
    }
    Ok(())
}
