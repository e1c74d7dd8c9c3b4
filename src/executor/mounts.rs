//! Overlay views of an image's filesystem for the executor's own work
//! (COPY/ADD into a layer, reading `COPY --from` sources): a read-write
//! overlay (lowers + fresh upper) or a read-only one (lowers only), mounted in
//! this process's private mount namespace and unmounted on drop. RUN steps do
//! not use this: the sandbox mounts its own overlay.

use super::ExecError;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// Moves this process into a private mount namespace (once, before any
/// thread starts) so that the overlays mounted here vanish with the process
/// even after kill -9, and never show up in the host's mount table.
pub fn enter_private_mount_namespace() -> Result<(), ExecError> {
    // SAFETY: unshare takes flags only; called before the build starts threads.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(ExecError::Mount(format!(
            "unshare(CLONE_NEWNS): {} (rbuild build needs root)",
            std::io::Error::last_os_error()
        )));
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| ExecError::Mount(format!("making / private: {e}")))
}

/// A mounted overlay; unmounted (lazily) when dropped.
pub struct OverlayView {
    merged: PathBuf,
    mounted: bool,
}

impl OverlayView {
    /// Mounts `lowers` (top-most first) read-only at `merged`. No lowers (an
    /// empty image) gives `empty` (an empty dir) as the only lower.
    pub fn read_only(
        lowers: &[PathBuf],
        empty: &Path,
        merged: &Path,
    ) -> Result<OverlayView, ExecError> {
        std::fs::create_dir_all(merged).map_err(|e| ExecError::io(merged, e))?;
        let mut lowers = lowers.to_vec();
        if lowers.is_empty() {
            lowers.push(empty.to_path_buf());
        }
        // A single lower is not accepted read-only by older kernels; add the empty dir.
        if lowers.len() == 1 {
            lowers.push(empty.to_path_buf());
        }
        let opts = format!("lowerdir={}", join_lowers(&lowers)?);
        Self::mount_overlay(&opts, merged, MsFlags::MS_RDONLY)
    }

    /// Mounts `lowers` (top-most first) with `upper`/`work` at `merged`.
    pub fn read_write(
        lowers: &[PathBuf],
        empty: &Path,
        upper: &Path,
        work: &Path,
        merged: &Path,
    ) -> Result<OverlayView, ExecError> {
        for d in [upper, work, merged] {
            std::fs::create_dir_all(d).map_err(|e| ExecError::io(d, e))?;
        }
        let mut lowers = lowers.to_vec();
        if lowers.is_empty() {
            lowers.push(empty.to_path_buf());
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            join_lowers(&lowers)?,
            escape(upper)?,
            escape(work)?
        );
        Self::mount_overlay(&opts, merged, MsFlags::empty())
    }

    fn mount_overlay(opts: &str, merged: &Path, flags: MsFlags) -> Result<OverlayView, ExecError> {
        if opts.len() >= 4000 {
            return Err(ExecError::Mount(format!(
                "too many layers for one overlay mount ({} bytes of options); squash the base image",
                opts.len()
            )));
        }
        mount(Some("overlay"), merged, Some("overlay"), flags, Some(opts)).map_err(|e| {
            ExecError::Mount(format!(
                "overlay at {}: {e} (options {opts})",
                merged.display()
            ))
        })?;
        Ok(OverlayView {
            merged: merged.to_path_buf(),
            mounted: true,
        })
    }

    /// The merged root.
    pub fn path(&self) -> &Path {
        &self.merged
    }

    /// Unmounts now, reporting errors (drop only logs them).
    pub fn unmount(mut self) -> Result<(), ExecError> {
        self.mounted = false;
        umount2(&self.merged, MntFlags::empty())
            .map_err(|e| ExecError::Mount(format!("unmounting {}: {e}", self.merged.display())))
    }
}

impl Drop for OverlayView {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = umount2(&self.merged, MntFlags::MNT_DETACH) {
                log::warn!("unmounting {}: {e}", self.merged.display());
            }
        }
    }
}

fn join_lowers(lowers: &[PathBuf]) -> Result<String, ExecError> {
    let parts: Result<Vec<String>, ExecError> = lowers.iter().map(|p| escape(p)).collect();
    Ok(parts?.join(":"))
}

/// overlayfs option values cannot hold `,` or `:` unescaped; store paths never do.
fn escape(p: &Path) -> Result<String, ExecError> {
    let s = p
        .to_str()
        .ok_or_else(|| ExecError::Mount(format!("path is not UTF-8: {}", p.display())))?;
    if s.contains([',', ':']) {
        return Err(ExecError::Mount(format!(
            "path {s} holds ',' or ':', which overlay options cannot express; use another --root"
        )));
    }
    Ok(s.to_string())
}
