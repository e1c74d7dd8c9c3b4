//! A dockerd of the test's own (Debian's docker.io), with its own data root,
//! exec root and socket under /tmp, bridge and iptables off, stopped on
//! drop; `docker()` is a client pointed at it with BuildKit on. Used by the
//! differential tests (BuildKit builds) and the interop tests (`docker load`
//! and `docker run` of rbuild's archives).

use std::path::PathBuf;
use std::process::{Child, Command};

/// Debian's docker.io client (this host has a newer client elsewhere on PATH).
pub const DOCKER: &str = "/usr/bin/docker";

/// True when dockerd and the docker.io client are installed; else fails
/// under CI=true or skips.
pub fn available(test: &str) -> bool {
    if !super::has_tool(test, "dockerd") {
        return false;
    }
    let client = std::path::Path::new(DOCKER).is_file();
    assert!(
        client || std::env::var("CI").as_deref() != Ok("true"),
        "{test}: needs {DOCKER} (docker.io) under CI=true"
    );
    if !client {
        eprintln!("SKIP {test}: {DOCKER} not installed");
    }
    client
}

/// A dockerd of our own, stopped on drop.
pub struct Dockerd {
    child: Child,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dockerd {
    pub fn start() -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("rbd-")
            .tempdir_in("/tmp")
            .unwrap();
        let sock = dir.path().join("d.sock");
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we pass.
        let nofile = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            lim.rlim_max
        } else {
            1024
        };
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .arg("--data-root")
            .arg(dir.path().join("root"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("pid"))
            .args([
                "--storage-driver",
                "overlay2",
                "--bridge=none",
                "--iptables=false",
                "--userland-proxy=false",
            ])
            .arg(format!("--default-ulimit=nofile={nofile}:{nofile}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let d = Dockerd {
            child,
            sock,
            _dir: dir,
        };
        for _ in 0..120 {
            if d.docker()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return d;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        let log = std::fs::read_to_string(d._dir.path().join("log")).unwrap_or_default();
        panic!("dockerd did not start:\n{log}");
    }

    pub fn docker(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_HOST", format!("unix://{}", self.sock.display()));
        c.env("DOCKER_BUILDKIT", "1");
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
