//! Foreground runs of a container with an external OCI runtime
//! (`run --runtime crun|runc|PATH`): the container's overlay (image layers
//! plus its own upper dir) is mounted on a private directory under its
//! runtime dir, handed to [`crate::sandbox::runtime`] as the bundle's
//! rootfs, and unmounted when the runtime returns, whatever happened. The
//! state records the start and the exit code as for built-in runs.
//!
//! Not here: detached runs, exec/attach into such containers, log capture
//! (the output goes straight to the caller), volumes and bind mounts (the
//! bundle writer takes none); each is refused with a clear error.

use super::record::{Container, Status};
use super::{launch, time, ContainerStore, RunnerError};
use crate::sandbox::runtime::{self, BundleSpec};
use crate::sandbox::{RootFs, StdioMode};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// The overlay mounted for the runtime; unmounted (lazily, so a leftover
/// process cannot keep it) and its directory removed on drop.
struct MountedRoot(PathBuf);

impl MountedRoot {
    fn mount(dir: PathBuf, options: &str) -> Result<MountedRoot, RunnerError> {
        std::fs::create_dir_all(&dir).map_err(|e| RunnerError::io(&dir, e))?;
        nix::mount::mount(
            Some("overlay"),
            &dir,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(options),
        )
        .map_err(|e| RunnerError::io(&dir, e.into()))?;
        Ok(MountedRoot(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for MountedRoot {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH) {
            log::warn!("unmounting {}: {e}", self.0.display());
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Runs `c` once with its `--runtime` in the foreground (stdio inherited)
/// and returns the exit code (128+N for death by signal N).
pub fn run_foreground(
    store: &Store,
    containers: &ContainerStore,
    c: &Container,
) -> Result<i32, RunnerError> {
    let cfg = &c.config;
    let runtime = runtime::resolve_runtime(&cfg.host.runtime)?;
    if !cfg.mounts.is_empty() {
        return Err(RunnerError::RuntimeUnsupported(
            "volumes and bind mounts (-v, --mount, image VOLUMEs)".into(),
        ));
    }
    let ports = launch::allocate_ports(&cfg.name, &cfg.host.port_bindings)?;
    let spec = launch::spec(store, containers, c, &ports, StdioMode::Inherit)?;
    let RootFs::Overlay { lower, upper, work } = &spec.root else {
        return Err(RunnerError::RuntimeUnsupported(
            "a root filesystem that is not an overlay".into(),
        ));
    };
    let options = crate::sandbox::overlay_mount_options(lower, upper, work)?;
    let rootfs = MountedRoot::mount(containers.run_dir(c.id())?.join("rootfs"), &options)?;
    let mut bundle = BundleSpec::new(rootfs.path(), spec.args.clone());
    bundle.env = spec.env.clone();
    bundle.cwd = spec.cwd.clone();
    bundle.uid = spec.user.uid;
    bundle.gid = spec.user.gid;
    bundle.additional_gids = spec.user.additional_gids.clone();
    bundle.hostname = Some(spec.hostname.clone());
    bundle.limits = spec.limits.clone();
    bundle.readonly_rootfs = spec.readonly_rootfs;
    bundle.network = spec.network;
    bundle.port_forwards = spec.port_forwards.clone();
    bundle.interactive = cfg.open_stdin;
    bundle.no_new_privileges = spec.no_new_privileges;
    containers.update_state(c.id(), |s| {
        s.status = Status::Running;
        s.pid = 0;
        s.started_at = time::now_rfc3339();
        s.finished_at = String::new();
        s.error = String::new();
        s.exit_code = 0;
        s.ports = ports.clone();
    })?;
    let outcome = runtime::run_with_runtime(&runtime, &bundle);
    drop(rootfs);
    let (code, error) = match &outcome {
        Ok(code) => (*code, String::new()),
        Err(e) => (125, e.to_string()),
    };
    containers.update_state(c.id(), |s| {
        s.status = Status::Exited;
        s.exit_code = code;
        s.error = error;
        s.finished_at = time::now_rfc3339();
    })?;
    Ok(outcome?)
}
