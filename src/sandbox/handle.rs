//! Detached sandboxes for the runner: [`start`] returns a [`Handle`] once
//! the main process runs; the handle exposes the init's host pid, its
//! namespace paths, its cgroup, the output pipes or pty master, and waits
//! for or signals the sandbox. Dropping a handle kills the sandbox.
//!
//! The launch itself is launch.rs.

use super::cgroups::Cgroup;
use super::launch::{self, Launched};
use super::{OutputStream, RunOutcome, SandboxError, Spec};
use nix::sys::signal::Signal;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// The namespaces every sandbox has ("net" only without host networking).
const NAMESPACES: [&str; 7] = ["mnt", "pid", "uts", "ipc", "net", "cgroup", "user"];

/// Detached start (runner): returns once the process runs. The sandbox is
/// not tied to the calling thread; it is killed when the handle is dropped.
pub fn start(spec: &Spec) -> Result<Handle, SandboxError> {
    let launched = launch::launch(spec, true)?;
    let pid = launched.pid;
    let namespaces = NAMESPACES
        .iter()
        .map(|name| {
            (
                name.to_string(),
                PathBuf::from(format!("/proc/{pid}/ns/{name}")),
            )
        })
        .collect();
    Ok(Handle {
        pid,
        namespaces,
        launched,
    })
}

/// A sandbox started with [`start`].
pub struct Handle {
    /// Host pid of the sandbox init (PID 1 inside).
    pub pid: i32,
    /// (kind, /proc/PID/ns/KIND) of the sandbox's namespaces.
    pub namespaces: Vec<(String, PathBuf)>,
    launched: Launched,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("pid", &self.pid).finish()
    }
}

impl Handle {
    /// The sandbox's cgroup (None rootless without a delegated cgroup).
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.launched.cgroup()
    }

    /// Mount points the sandbox created in its root (see [`RunOutcome`]).
    pub fn created_mountpoints(&self) -> &[String] {
        &self.launched.created
    }

    /// The pty master with [`StdioMode::Pty`](super::StdioMode::Pty).
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.launched.pty_master.take()
    }

    /// The read ends of stdout and stderr with
    /// [`StdioMode::Piped`](super::StdioMode::Piped).
    pub fn take_output(&mut self) -> (Option<OwnedFd>, Option<OwnedFd>) {
        (self.launched.stdout.take(), self.launched.stderr.take())
    }

    /// Sends `signal` to the sandbox init, which forwards it to the main
    /// process (SIGKILL kills the whole tree at once).
    pub fn kill(&self, signal: Signal) -> Result<(), SandboxError> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal)
            .map_err(|e| SandboxError::sys("signal the sandbox init", e))
    }

    /// Streams output not taken yet to `on_output`, then waits.
    pub fn wait_with_output(
        mut self,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
    ) -> Result<RunOutcome, SandboxError> {
        self.launched.pump_output(on_output)?;
        self.launched.wait()
    }

    /// Blocks until the sandbox is gone and cleaned up; output not taken
    /// is read and dropped so the process never blocks on a full pipe.
    pub fn wait(self) -> Result<RunOutcome, SandboxError> {
        self.wait_with_output(&mut |_, _| {})
    }
}
