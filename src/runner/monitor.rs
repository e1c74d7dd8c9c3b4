//! The monitor of one container (podman's conmon, in-process): starts the
//! sandbox, records the state (pid, start and exit times, exit code), copies
//! the container's stdout/stderr into the json log (and, attached, to the
//! caller's terminal), forwards SIGINT/SIGTERM/SIGHUP it receives to the
//! container, applies the restart policy, and removes `--rm` containers.
//!
//! The caller holds the container's monitor lock for as long as this runs:
//! `run -d`/`start` run it in a detached `rbuild container-monitor` process,
//! a foreground `run` in the CLI process itself.

use super::logs::LogWriter;
use super::record::{Container, Status};
use super::volumes::Volumes;
use super::{health, launch, proc, time, tty, ContainerStore, RunnerError};
use crate::sandbox::{self, StdioMode};
use crate::store::Store;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// Where the container's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// Only to the log (detached).
    Log,
    /// To the log and to this process's stdout/stderr (foreground run).
    Tee,
    /// The container uses this process's stdin/stdout/stderr directly
    /// (`-i`/`-t`); nothing is logged.
    Direct,
}

/// How the first start went, for the caller waiting on a detached monitor.
pub type StartReport = Result<(), (i32, String)>;

/// Host PID that received signals are forwarded to (0: none yet).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Forwards SIGINT, SIGTERM and SIGHUP to the container from now on
/// (handlers reset to default in exec'd children, so nothing leaks in).
fn install_forwarding() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that only calls kill(2).
        unsafe {
            libc::signal(sig, forward_signal as *const () as libc::sighandler_t);
        }
    }
}

fn dup(fd: RawFd) -> Result<OwnedFd, RunnerError> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd number has no memory effects; the new fd is owned here.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(RunnerError::io("dup", std::io::Error::last_os_error()));
    }
    // SAFETY: n is a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

fn dup2(from: RawFd, to: RawFd) -> Result<(), RunnerError> {
    // SAFETY: dup2 replaces `to` (0, 1 or 2 here) with a copy of `from`.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(RunnerError::io("dup2", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn pipe() -> Result<(File, OwnedFd), RunnerError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RunnerError::io("pipe", e.into()))?;
    Ok((File::from(r), w))
}

/// Copies one output pipe into the log (and maybe a terminal fd).
fn pump(
    mut from: File,
    log: std::path::PathBuf,
    stream: &'static str,
    tee: Option<File>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut writer = LogWriter::open(&log, stream).ok();
        let mut tee = tee;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let chunk = buf.get(..n).unwrap_or_default();
            if let Some(t) = tee.as_mut() {
                if t.write_all(chunk).is_err() {
                    tee = None;
                }
            }
            if let Some(w) = writer.as_mut() {
                let _ = w.write(chunk);
            }
        }
        if let Some(w) = writer.as_mut() {
            let _ = w.flush();
        }
    })
}

/// Everything the monitor works with.
pub struct Monitor<'a> {
    pub store: &'a Store,
    pub containers: &'a ContainerStore,
    pub volumes: &'a Volumes,
    pub id: String,
    pub attach: Attach,
}

impl Monitor<'_> {
    /// Runs the container until it is finished for good; `report` is called
    /// once, after the first start. Returns the last exit code.
    pub fn run(&self, report: &mut dyn FnMut(StartReport)) -> Result<i32, RunnerError> {
        install_forwarding();
        // Where fds 1 and 2 point between starts.
        let saved_out = dup(1)?;
        let saved_err = dup(2)?;
        let mut reported = false;
        let mut code;
        loop {
            let c = self.containers.load(&self.id)?;
            code = match self.start_once(&c, &saved_out, &saved_err, &mut |r| {
                if !reported {
                    reported = true;
                    report(r);
                }
            }) {
                Ok(code) => code,
                Err(code) => return self.finish(code),
            };
            let c = self.containers.load(&self.id)?;
            if !should_restart(&c, code) {
                break;
            }
            let n = c.state.restart_count;
            self.containers.update_state(&self.id, |s| {
                s.status = Status::Restarting;
                s.restart_count += 1;
            })?;
            // docker's backoff: 100 ms doubling, at most a minute.
            let delay = Duration::from_millis(100u64.saturating_mul(1 << n.min(10)));
            std::thread::sleep(delay.min(Duration::from_secs(60)));
            if self.containers.load(&self.id)?.state.stopped_by_user {
                self.containers
                    .update_state(&self.id, |s| s.status = Status::Exited)?;
                break;
            }
        }
        self.finish(code)
    }

    /// `--rm`: removes the container and its anonymous volumes.
    fn finish(&self, code: i32) -> Result<i32, RunnerError> {
        let c = self.containers.load(&self.id)?;
        if c.config.host.auto_remove {
            // An attached client still wants the code after the record is gone.
            if self.attach == Attach::Log {
                let _ = std::fs::write(self.containers.exit_code_path(&self.id), code.to_string());
            }
            remove_files(self.containers, self.volumes, &c, true)?;
        }
        Ok(code)
    }

    /// One start and wait. Err(code) when the start itself failed.
    fn start_once(
        &self,
        c: &Container,
        saved_out: &OwnedFd,
        saved_err: &OwnedFd,
        report: &mut dyn FnMut(StartReport),
    ) -> Result<i32, i32> {
        let fail = |me: &Self, code: i32, msg: String, report: &mut dyn FnMut(StartReport)| {
            let _ = me.containers.update_state(&me.id, |s| {
                s.status = Status::Exited;
                s.exit_code = code;
                s.error = msg.clone();
                s.pid = 0;
                s.finished_at = time::now_rfc3339();
            });
            report(Err((code, msg)));
            code
        };
        if !c.config.host.runtime.is_empty() {
            let e =
                RunnerError::RuntimeUnsupported("start (of a container created with it)".into());
            return Err(fail(self, 125, e.to_string(), report));
        }
        let ports = match launch::allocate_ports(&c.config.name, &c.config.host.port_bindings) {
            Ok(p) => p,
            Err(e) => return Err(fail(self, 125, e.to_string(), report)),
        };
        // A detached -t container gets a pty whose master the monitor serves
        // to attaching clients.
        let tty = c.config.tty && self.attach == Attach::Log;
        let stdio = if tty {
            StdioMode::Pty
        } else {
            StdioMode::Inherit
        };
        let spec = match launch::spec(self.store, self.containers, c, &ports, stdio) {
            Ok(s) => s,
            Err(e) => return Err(fail(self, 125, e.to_string(), report)),
        };
        let listener = match tty.then(|| self.attach_listener()).transpose() {
            Ok(l) => l,
            Err(e) => return Err(fail(self, 125, e.to_string(), report)),
        };
        let log = self.containers.log_path(&self.id);
        let mut pumps = Vec::new();
        let started = if self.attach == Attach::Direct || tty {
            sandbox::start(&spec)
        } else {
            let pipes = pipe().and_then(|o| pipe().map(|e| (o, e)));
            let ((out_r, out_w), (err_r, err_w)) = match pipes {
                Ok(p) => p,
                Err(e) => return Err(fail(self, 125, e.to_string(), report)),
            };
            let swapped = dup2(out_w.as_raw_fd(), 1).and_then(|_| dup2(err_w.as_raw_fd(), 2));
            let started = match swapped {
                Ok(()) => sandbox::start(&spec),
                Err(e) => Err(crate::sandbox::SandboxError::Sys {
                    op: "redirect output",
                    source: std::io::Error::other(e.to_string()),
                }),
            };
            let _ = dup2(saved_out.as_raw_fd(), 1);
            let _ = dup2(saved_err.as_raw_fd(), 2);
            drop((out_w, err_w));
            let tee = |fd: &OwnedFd| {
                (self.attach == Attach::Tee)
                    .then(|| dup(fd.as_raw_fd()).ok().map(File::from))
                    .flatten()
            };
            pumps.push(pump(out_r, log.clone(), "stdout", tee(saved_out)));
            pumps.push(pump(err_r, log.clone(), "stderr", tee(saved_err)));
            started
        };
        let mut handle = match started {
            Ok(h) => h,
            Err(e) => {
                for p in pumps {
                    let _ = p.join();
                }
                let code = launch::start_failure_code(&e);
                return Err(fail(self, code, e.to_string(), report));
            }
        };
        FORWARD_TO.store(handle.pid, Ordering::SeqCst);
        // The sandbox installs its own SIGINT/SIGTERM handler (kill the
        // sandbox) at its first start; a container's monitor forwards
        // instead, like docker's sig-proxy.
        install_forwarding();
        let ticks = proc::start_ticks(handle.pid).unwrap_or(0);
        let monitor_pid = std::process::id() as i32;
        let recorded = self.containers.update_state(&self.id, |s| {
            s.status = Status::Running;
            s.pid = handle.pid;
            s.pid_start_ticks = ticks;
            s.monitor_pid = monitor_pid;
            s.started_at = time::now_rfc3339();
            s.finished_at = String::new();
            s.error = String::new();
            s.exit_code = 0;
            s.oom_killed = false;
            s.ports = ports.clone();
            s.health = None;
        });
        if let Err(e) = recorded {
            let _ = handle.kill(nix::sys::signal::Signal::SIGKILL);
            let _ = handle.wait();
            return Err(fail(self, 125, e.to_string(), report));
        }
        if let (Some(listener), Some(master)) = (listener, handle.take_pty_master()) {
            let log = log.clone();
            // Not joined: it ends when the pty closes, which may be after
            // the init is reaped.
            std::thread::spawn(move || {
                let mut writer = LogWriter::open(&log, "stdout").ok();
                let _ = tty::serve(master, listener, &mut |bytes| {
                    if let Some(w) = writer.as_mut() {
                        let _ = w.write(bytes);
                    }
                });
                if let Some(w) = writer.as_mut() {
                    let _ = w.flush();
                }
            });
        }
        report(Ok(()));
        let stop_checks = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checker = c
            .config
            .healthcheck
            .as_ref()
            .and_then(health::HealthConfig::from_json)
            .and_then(|cfg| {
                health::spawn_checker(
                    self.containers.clone(),
                    self.id.clone(),
                    handle.pid,
                    cfg,
                    super::defaults::process_env(&c.config),
                    stop_checks.clone(),
                )
            });
        let outcome = handle.wait();
        stop_checks.store(true, Ordering::SeqCst);
        if let Some(t) = checker {
            let _ = t.join();
        }
        FORWARD_TO.store(0, Ordering::SeqCst);
        for p in pumps {
            let _ = p.join();
        }
        let (code, oom, error) = match outcome {
            Ok(o) => (
                o.status.code(),
                matches!(o.status, sandbox::ExitStatus::OutOfMemory { .. }),
                String::new(),
            ),
            Err(e) => (super::containers::LOST_EXIT_CODE, false, e.to_string()),
        };
        let _ = self.containers.update_state(&self.id, |s| {
            s.status = Status::Exited;
            s.pid = 0;
            s.exit_code = code;
            s.oom_killed = oom;
            s.error = error;
            s.finished_at = time::now_rfc3339();
        });
        Ok(code)
    }
}

impl Monitor<'_> {
    /// The socket attaching clients connect to (`RUN/<id>/attach.sock`).
    fn attach_listener(&self) -> Result<UnixListener, RunnerError> {
        let path = attach_socket(self.containers, &self.id)?;
        let _ = std::fs::remove_file(&path);
        UnixListener::bind(&path).map_err(|e| RunnerError::io(&path, e))
    }
}

/// Where the monitor of `id` serves its pty.
pub fn attach_socket(
    containers: &ContainerStore,
    id: &str,
) -> Result<std::path::PathBuf, RunnerError> {
    Ok(containers.run_dir(id)?.join("attach.sock"))
}

/// docker's restart policies.
fn should_restart(c: &Container, code: i32) -> bool {
    if c.state.stopped_by_user {
        return false;
    }
    let p = &c.config.host.restart;
    match p.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => code != 0 && (p.max_retry == 0 || c.state.restart_count < p.max_retry),
        _ => false,
    }
}

/// Deletes a stopped container's files and, with `anonymous_volumes`, the
/// anonymous volumes only it used.
pub fn remove_files(
    containers: &ContainerStore,
    volumes: &Volumes,
    c: &Container,
    anonymous_volumes: bool,
) -> Result<(), RunnerError> {
    containers.remove(c.id())?;
    if anonymous_volumes {
        for m in c.config.mounts.iter().filter(|m| m.anonymous) {
            if let Err(e) = volumes.remove(&m.name, &[]) {
                log::warn!("removing anonymous volume {}: {e}", m.name);
            }
        }
    }
    Ok(())
}
