//! The sandbox every RUN step and `rbuild run` executes in: new mount, PID,
//! UTS, IPC, cgroup and (unless host) network namespaces, an overlayfs root,
//! docker's /proc masks, /dev and /sys, docker's capabilities and a seccomp
//! filter, cgroup limits, and a tiny PID 1 that reaps zombies.
//!
//! Public surface: [`Spec`] in, [`run`] (foreground), [`start`] (detached,
//! returns a [`Handle`]) and [`exec`] (enter a running sandbox). The
//! submodules split the work by concern; `cgroups`, `network` and `runtime`
//! (external OCI runtimes) are independent building blocks.

mod caps;
pub mod cgroups;
mod channel;
mod error;
mod etc_files;
mod exec;
mod handle;
mod init;
mod launch;
mod mounts;
pub mod network;
mod output;
mod overlay;
mod plan;
mod process;
mod rootless;
pub mod runtime;
mod seccomp;
mod signals;
mod spec;
mod status;
mod sys;
pub mod user;

pub use error::SandboxError;
pub use exec::{exec, exec_start, ExecHandle, ExecSpec};
pub use handle::{start, Handle};
pub use spec::{Mount, MountKind, RootFs, Spec, StdioMode, User, DEFAULT_PATH};
pub use status::ExitStatus;

/// Which output stream a chunk of bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// The result of a finished sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub status: ExitStatus,
    /// Paths (absolute, inside) that the sandbox created in the root as
    /// mount points (mount targets, /etc/hosts, /etc/resolv.conf,
    /// /etc/hostname and their missing parent directories; cwd is not one),
    /// parents before children. With an Overlay root they exist in the upper
    /// dir afterwards; delete them in reverse order before committing.
    pub created_mountpoints: Vec<String>,
    /// Things the user should know (limits not applied rootless, network
    /// fallback), already logged with `log::warn!`.
    pub warnings: Vec<String>,
}

/// Foreground run (RUN steps): blocks until the process tree is gone and
/// everything is cleaned up. With [`StdioMode::Piped`], output is streamed
/// to `on_output` as it comes.
pub fn run(
    spec: &Spec,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<RunOutcome, SandboxError> {
    let mut launched = launch::launch(spec, false)?;
    launched.pump_output(on_output)?;
    launched.wait()
}

/// The signal (SIGINT/SIGTERM) that made rbuild stop its sandboxes, if
/// any: the CLI should exit once the current step returned.
pub fn interrupted() -> Option<i32> {
    signals::interrupted()
}
