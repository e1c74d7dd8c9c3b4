//! Runs pasta (from the passt package) for one network namespace: it copies
//! the host's addresses and routes into the namespace and forwards the given
//! ports. pasta forks into the background once the namespace is configured;
//! we keep its pid (from its pid file) and SIGTERM it on drop.
//!
//! Limits: pasta takes port forwards only at start, and the packaged version
//! (2023) can only join a namespace that has its own user namespace, so it
//! is the fallback when slirp4netns is missing.

use super::{NetworkError, PortForward, Protocol};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HELPER: &str = "pasta";

pub struct Pasta {
    pid: i32,
    pid_file: PathBuf,
}

impl Pasta {
    pub fn start(binary: &Path, pid: i32, forwards: &[PortForward]) -> Result<Pasta, NetworkError> {
        let pid_file =
            std::env::temp_dir().join(format!("rbuild-pasta-{}-{pid}.pid", std::process::id()));
        let mut command = Command::new(binary);
        // As root pasta would switch to "nobody", which cannot open the
        // target's namespaces; --no-map-gw keeps host loopback unreachable.
        command
            .args(["--quiet", "--config-net", "--no-map-gw", "--runas", "0"])
            .args(["-T", "none", "-U", "none"])
            .arg("-P")
            .arg(&pid_file);
        for proto in [Protocol::Tcp, Protocol::Udp] {
            let flag = if proto == Protocol::Tcp { "-t" } else { "-u" };
            let specs: Vec<String> = forwards
                .iter()
                .filter(|f| f.proto == proto)
                .map(|f| format!("{}/{}:{}", f.host_ip, f.host_port, f.container_port))
                .collect();
            if specs.is_empty() {
                command.args([flag, "none"]);
            }
            for spec in specs {
                command.args([flag, &spec]);
            }
        }
        command.arg(pid.to_string()).stdin(Stdio::null());
        let output = command.output().map_err(|source| NetworkError::Spawn {
            helper: HELPER,
            source,
        })?;
        let started = read_pid(&pid_file, Duration::from_secs(2));
        match (output.status.success(), started) {
            (true, Some(daemon)) => Ok(Pasta {
                pid: daemon,
                pid_file,
            }),
            _ => {
                if let Some(daemon) = started {
                    // SAFETY: plain kill of the daemon pasta reported.
                    unsafe { libc::kill(daemon, libc::SIGTERM) };
                }
                let _ = std::fs::remove_file(&pid_file);
                Err(NetworkError::NotReady {
                    helper: HELPER,
                    pid,
                    detail: format!(
                        "{}: {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ),
                })
            }
        }
    }
}

impl Drop for Pasta {
    fn drop(&mut self) {
        // SAFETY: plain kill of the daemon we started (it is not our child,
        // so there is nothing to reap).
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

fn read_pid(pid_file: &Path, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return Some(pid);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// pasta copies the host's addressing, so the host's non-loopback resolvers
/// are reachable from the namespace as they are.
pub fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    host.lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some("nameserver")
                && words
                    .next()
                    .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|a| !a.is_loopback())
        })
        .map(|line| format!("{line}\n"))
        .collect()
}
