//! The sandbox every RUN step and `rbuild run` executes in: new mount, PID,
//! UTS, IPC, cgroup and (unless host) network namespaces, an overlayfs root,
//! docker's /proc masks, /dev and /sys, docker's capabilities and a seccomp
//! filter, cgroup limits, and a tiny PID 1 that reaps zombies.
//!
//! Public surface: [`Spec`] in, [`run`] (foreground), [`start`] (detached,
//! returns a [`Handle`]) and [`exec`] (enter a running sandbox). The
//! submodules split the work by concern; `cgroups`, `network` and `runtime`
//! (external OCI runtimes) are independent building blocks.
//!
//! How the child is made (a design choice): rbuild is multi-threaded, so
//! the sandbox init is created with a raw clone(2) (new namespaces, no
//! glibc fork handlers) and, until it execs the command, runs only
//! async-signal-safe code: every string, path, file content and the
//! compiled seccomp program are prepared before the clone (plan.rs), the
//! child uses raw syscalls on stack buffers (sys.rs) and reports errors as
//! fixed-size records. No re-exec of the rbuild binary: that costs a few
//! ms per RUN and does not work from test binaries or library users.
//!
//! Order inside: clone3 into the cgroup2 group (mount, PID, UTS, IPC, net
//! unless host, user when rootless) -> the init joins its v1 groups itself
//! (no cgroup.procs write: that waits for an RCU grace period) -> parent
//! writes id maps, sends "go", starts the network helper -> init builds the
//! mounts (mounts/), pivots, sets hostname and lo, unshares its cgroup
//! namespace, forks the main process, which drops privileges (process.rs)
//! and execs once the network helper is ready -> init reaps until the main
//! process exits, then kills the rest.

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
pub use overlay::mount_options as overlay_mount_options;
/// For other fork-like children (the runner's background `rm`).
pub(crate) use signals::{block_all_signals, restore_signals};
pub use spec::{Mount, MountKind, RootFs, Spec, StdioMode, User, DEFAULT_PATH};
pub use status::ExitStatus;
pub(crate) use sys::clone_process;

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

/// Kills every running sandbox tree (their `run`/`wait` then clean up and
/// return [`SandboxError::Interrupted`]). Async-signal-safe; for a CLI
/// that installs its own SIGINT/SIGTERM handler over the sandbox's.
pub fn interrupt_all(signal: i32) -> bool {
    signals::interrupt_all(signal)
}
