//! The error type of the sandbox core: what failed while preparing,
//! launching, entering or cleaning up a sandbox, with the thing involved
//! named. Errors of the child side arrive as a stage + errno record and are
//! turned into [`SandboxError::Setup`] by the parent.

use crate::sandbox::cgroups::CgroupError;
use crate::sandbox::network::NetworkError;
use crate::sandbox::user::UserError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot {op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    /// A step inside the new namespaces failed (`what` names the step and
    /// the path, e.g. "mount proc on /proc").
    #[error("sandbox setup failed: {what}: {source}")]
    Setup {
        what: String,
        source: std::io::Error,
    },
    #[error("the seccomp filter cannot be built: {0}")]
    Seccomp(String),
    #[error("rootless sandbox: {0}")]
    Rootless(String),
    #[error("cannot enter sandbox with init pid {pid}: {reason}")]
    Enter { pid: i32, reason: String },
    /// rbuild received this signal: the sandbox tree was killed and cleaned
    /// up; the caller should stop and exit.
    #[error("interrupted by signal {0}: the sandbox was stopped")]
    Interrupted(i32),
}

impl SandboxError {
    #[allow(dead_code)]
    pub(crate) fn sys(op: &'static str, source: impl Into<std::io::Error>) -> SandboxError {
        SandboxError::Sys {
            op,
            source: source.into(),
        }
    }

    #[allow(dead_code)]
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> SandboxError {
        SandboxError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
