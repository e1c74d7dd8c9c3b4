//! Runs slirp4netns for one network namespace: it creates tap0 inside (MTU
//! 65520, 10.0.2.100/24, default route via 10.0.2.2, DNS at 10.0.2.3),
//! reports readiness on a pipe, adds port forwards through its JSON API
//! socket, and exits when its exit pipe reports EOF: when we close it, or,
//! given a lifeline, when the namespace's process exits. It runs in its own
//! process group, so a signal to ours (Ctrl-C) does not stop it early, and
//! it ignores SIGPIPE, so our death does not either. The API socket (and
//! its directory) exists only when asked for: creating and removing it
//! costs block allocations on the start and exit paths.
//!
//! `--disable-host-loopback` keeps the sandbox from reaching services bound
//! to the host's 127.0.0.1 through the gateway address.

use super::{NetworkError, PortForward};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const HELPER: &str = "slirp4netns";
/// slirp4netns's built-in resolver address (forwards to the host's).
pub const DNS_ADDRESS: &str = "10.0.2.3";
/// API directories are `<temp dir>/rbuild-slirp-<creator pid>-<n>`.
const DIR_PREFIX: &str = "rbuild-slirp-";
/// How long slirp4netns may take to configure the namespace.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Slirp {
    /// None once handed to the background reaper.
    child: Option<Child>,
    /// Closing this tells slirp4netns to exit (None with a lifeline).
    exit_pipe: Option<OwnedFd>,
    /// The API socket's directory, when started with one.
    api_dir: Option<PathBuf>,
}

impl Slirp {
    /// `lifeline`: the read end of a pipe whose write end the namespace's
    /// process holds; slirp4netns then exits with that process instead of
    /// with us. `with_api`: start the API socket (for port forwards).
    /// `report_ready`: where slirp4netns writes its one ready byte instead
    /// of to us; this then returns without waiting for it.
    pub fn start(
        binary: &Path,
        pid: i32,
        lifeline: Option<OwnedFd>,
        with_api: bool,
        report_ready: Option<OwnedFd>,
    ) -> Result<Slirp, NetworkError> {
        let api_dir = if with_api { Some(private_dir()?) } else { None };
        let (ready_read, ready_write) = match report_ready {
            Some(write) => (None, write),
            None => {
                let (read, write) = pipe()?;
                (Some(read), write)
            }
        };
        let (exit_read, exit_write) = match lifeline {
            Some(read) => (read, None),
            None => {
                let (read, write) = pipe()?;
                (read, Some(write))
            }
        };
        // The child ends are passed by number and made inheritable just for
        // the spawn: with no pre_exec hook, std spawns with posix_spawn
        // (vfork-like) instead of copying this process's page tables, which
        // takes milliseconds on the container's start path. Another thread
        // spawning at the same moment could inherit them too; that only
        // delays noticing a helper that dies before it is ready.
        inheritable(&ready_write)?;
        inheritable(&exit_read)?;
        let mut command = Command::new(binary);
        command.args(["--configure", "--mtu=65520", "--disable-host-loopback"]);
        if let Some(dir) = &api_dir {
            command.arg("--api-socket").arg(dir.join("api.sock"));
        }
        command
            .arg(format!("--ready-fd={}", ready_write.as_raw_fd()))
            .arg(format!("--exit-fd={}", exit_read.as_raw_fd()))
            .arg(pid.to_string())
            .arg("tap0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let spawned = command.spawn();
        // Our copies must close so EOF on the ready pipe means "it died".
        drop(ready_write);
        drop(exit_read);
        let child = spawned.map_err(|source| NetworkError::Spawn {
            helper: HELPER,
            source,
        })?;
        let mut slirp = Slirp {
            child: Some(child),
            exit_pipe: exit_write,
            api_dir,
        };
        let Some(ready_read) = ready_read else {
            return Ok(slirp);
        };
        if let Err(detail) = wait_ready(&ready_read) {
            let stderr = slirp.stop_and_collect_stderr();
            return Err(NetworkError::NotReady {
                helper: HELPER,
                pid,
                detail: format!("{detail}{}", stderr_suffix(&stderr)),
            });
        }
        Ok(slirp)
    }

    /// `add_hostfwd` over the API socket: host_addr:host_port -> 10.0.2.100:port.
    pub fn add_hostfwd(&mut self, forward: &PortForward) -> Result<(), NetworkError> {
        let request = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": forward.proto.as_str(),
                "host_addr": forward.host_ip.to_string(),
                "host_port": forward.host_port,
                "guest_port": forward.container_port,
            }
        });
        let fail = |detail: String| NetworkError::PortForward {
            forward: forward.to_string(),
            detail,
        };
        let Some(dir) = &self.api_dir else {
            return Err(fail("slirp4netns was started without an API socket".into()));
        };
        let mut stream =
            UnixStream::connect(dir.join("api.sock")).map_err(|e| fail(e.to_string()))?;
        stream
            .set_read_timeout(Some(READY_TIMEOUT))
            .map_err(|e| fail(e.to_string()))?;
        stream
            .write_all(request.to_string().as_bytes())
            .and_then(|()| stream.shutdown(std::net::Shutdown::Write))
            .map_err(|e| fail(e.to_string()))?;
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .map_err(|e| fail(e.to_string()))?;
        let reply: serde_json::Value =
            serde_json::from_str(&reply).map_err(|e| fail(format!("bad reply {reply:?}: {e}")))?;
        if let Some(error) = reply.get("error") {
            return Err(fail(error.to_string()));
        }
        Ok(())
    }

    /// Closes the exit pipe, waits briefly, then SIGKILLs; returns stderr.
    /// For a failed start, where its output explains the failure.
    fn stop_and_collect_stderr(&mut self) -> String {
        let asked_to_exit = self.exit_pipe.take().is_some();
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        if !asked_to_exit {
            // Tied to the namespace's process, which still runs.
            let _ = child.kill();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        stderr
    }
}

impl Slirp {
    /// SIGKILL and wait until the process is gone.
    pub fn stop(&mut self) {
        self.exit_pipe = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Slirp {
    /// The namespace it served is gone or going: SIGKILL (certain death,
    /// nothing to flush) and reap off the caller's path. Its exit tears
    /// down the tap device, which takes the kernel 10-30 ms; a container's
    /// exit code must not wait for that. A short-lived caller that exits
    /// first leaves the (already killed) process to be reaped by init.
    fn drop(&mut self) {
        self.exit_pipe = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            if !matches!(child.try_wait(), Ok(Some(_))) {
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
            }
        }
        if let Some(dir) = &self.api_dir {
            let _ = std::fs::remove_dir_all(dir);
            remove_stale_dirs();
        }
    }
}

/// Removes the API directories of creators that no longer exist (what a
/// killed monitor leaves; its slirp4netns, if still serving a container,
/// keeps working without them). Off the start path: runs on drop.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let creator = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        if let Some(pid) = creator {
            if pid > 0 && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its output: {stderr}")
    }
}

/// Waits for slirp4netns to write to its ready fd; EOF means it exited.
fn wait_ready(ready: &OwnedFd) -> Result<(), String> {
    let mut poll = libc::pollfd {
        fd: ready.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout_ms = READY_TIMEOUT.as_millis() as i32;
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut poll, 1, timeout_ms) };
    if n == 0 {
        return Err(format!("no ready signal within {READY_TIMEOUT:?}"));
    }
    if n < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    let mut byte = [0u8; 1];
    // SAFETY: reads at most one byte into a local buffer.
    let read = unsafe { libc::read(ready.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
    if read == 1 {
        Ok(())
    } else {
        Err("it exited before the network was configured".into())
    }
}

/// Clears close-on-exec on `fd` so a spawned child inherits it.
fn inheritable(fd: &OwnedFd) -> Result<(), NetworkError> {
    // SAFETY: F_SETFD on an fd we own; no memory is involved.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) } < 0 {
        return Err(NetworkError::Spawn {
            helper: HELPER,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// A close-on-exec pipe as (read, write).
fn pipe() -> Result<(OwnedFd, OwnedFd), NetworkError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(NetworkError::Spawn {
            helper: HELPER,
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A fresh 0700 directory for the API socket (unix socket paths are limited
/// to 108 bytes, so it lives directly in the temp dir).
fn private_dir() -> Result<PathBuf, NetworkError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "{DIR_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|source| NetworkError::Io {
            op: "mkdir",
            path: dir.clone(),
            source,
        })?;
    Ok(dir)
}

use std::os::unix::fs::DirBuilderExt;
