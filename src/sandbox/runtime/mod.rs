//! Runs a rootfs with an external OCI runtime (`--runtime crun|runc|PATH`):
//! writes an OCI bundle (config.json) and drives `RUNTIME run`.

use crate::sandbox::cgroups::Limits;
use crate::sandbox::network::NetworkMode;
use std::path::{Path, PathBuf};

/// What to run: the rootfs directory and the process inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSpec {
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: Option<String>,
    pub limits: Limits,
    pub readonly_rootfs: bool,
    pub network: NetworkMode,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("OCI runtime {0:?} not found: give crun, runc or a path to an OCI runtime binary")]
    NotFound(String),
    #[error("not implemented yet")]
    Unimplemented,
}

/// Runs `bundle` with `runtime`, stdio inherited; returns the exit code.
pub fn run_with_runtime(_runtime: &Path, _bundle: &BundleSpec) -> Result<i32, RuntimeError> {
    Err(RuntimeError::Unimplemented)
}
