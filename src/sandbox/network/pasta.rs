//! Runs pasta (from the passt package) for one network namespace: it copies
//! the host's addresses and routes into the namespace and forwards the given
//! ports. It runs in the foreground as our child (so we can reap it); it
//! writes its pid file once the namespace is configured, which is our ready
//! signal. Stopped with SIGKILL on drop: pasta is PID 1 of its own PID
//! namespace, where a SIGTERM without a handler is ignored.
//!
//! Limits: pasta takes port forwards only at start, and the packaged version
//! (2023) can only join a namespace that has its own user namespace when run
//! as root, so it is the fallback when slirp4netns is missing.

use super::{NetworkError, PortForward, Protocol};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HELPER: &str = "pasta";
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Pasta {
    child: Child,
    dir: PathBuf,
}

impl Pasta {
    pub fn start(binary: &Path, pid: i32, forwards: &[PortForward]) -> Result<Pasta, NetworkError> {
        let dir = std::env::temp_dir().join(format!("rbuild-pasta-{}-{pid}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let io_err = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| NetworkError::Io { op, path, source }
        };
        std::fs::create_dir(&dir).map_err(io_err("mkdir", &dir))?;
        let pid_file = dir.join("pasta.pid");
        let log = dir.join("stderr");
        let stderr = std::fs::File::create(&log).map_err(io_err("create", &log))?;
        let mut command = Command::new(binary);
        // As root pasta would switch to "nobody", which cannot open the
        // target's namespaces; --no-map-gw keeps host loopback unreachable.
        command
            .args(["--foreground", "--quiet", "--config-net", "--no-map-gw"])
            .args(["--runas", "0", "-T", "none", "-U", "none"])
            .arg("--pid")
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
        command
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn().map_err(|source| NetworkError::Spawn {
            helper: HELPER,
            source,
        })?;
        let mut pasta = Pasta { child, dir };
        if let Err(detail) = pasta.wait_ready(&pid_file) {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(NetworkError::NotReady {
                helper: HELPER,
                pid,
                detail: format!("{detail}; its output: {}", output.trim()),
            });
        }
        Ok(pasta)
    }

    fn wait_ready(&mut self, pid_file: &Path) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if std::fs::metadata(pid_file).is_ok_and(|m| m.len() > 0) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited with {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!("not ready within {READY_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Pasta {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
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
