//! Helpers for the runner tests: the `rbuild` binary on a private store,
//! test images imported from a busybox rootfs (as tests/image_cli_import.rs
//! does), free ports, and root/tool requirements (fail under CI=true, skip
//! with a reason otherwise).
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn require(condition: bool, why: &str) -> bool {
    if condition {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("required for this test under CI=true: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Root plus busybox (for the images) and slirp4netns (for ports).
pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    require(
        root,
        "the runner tests need root (namespaces, overlay, cgroups)",
    ) && require(
        find_tool("busybox").is_some(),
        "busybox is not installed (apt-get install busybox-static)",
    )
}

/// True when `name` is installed; false (or a panic under CI=true) otherwise.
pub fn has_tool(name: &str) -> bool {
    require(
        find_tool(name).is_some(),
        &format!("{name} is not installed (scripts/install-deps.sh)"),
    )
}

/// This host's address on its default route (no packet is sent): what a
/// container on the private network reaches the host at.
pub fn external_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback()).then_some(ip)
}

/// A private store (and runtime dir) for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rbuild"));
        c.arg("--root").arg(self.root());
        c.env("RBUILD_RUNTIME_DIR", self.dir.path().join("run"));
        c.stdin(Stdio::null());
        c
    }

    /// Runs `rbuild ARGS`; returns (code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out: Output = self.cmd().args(args).output().expect("spawn rbuild");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `rbuild ARGS` and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, 0,
            "rbuild {args:?} failed:\nstdout: {out}\nstderr: {err}"
        );
        out
    }

    /// Imports a busybox rootfs (plus `files`, path -> (content, mode)) as
    /// image `name` with the `--change` instructions.
    pub fn image(&self, name: &str, files: &[(&str, &str, u32)], changes: &[&str]) {
        let rootfs = self
            .dir
            .path()
            .join(format!("rootfs-{}", name.replace([':', '/'], "_")));
        for d in ["bin", "etc", "tmp", "root", "www", "proc", "dev", "sys"] {
            fs::create_dir_all(rootfs.join(d)).expect("mkdir");
        }
        let bb = find_tool("busybox").expect("busybox");
        fs::copy(&bb, rootfs.join("bin/busybox")).expect("copy busybox");
        for app in [
            "sh", "ls", "cat", "echo", "env", "sleep", "true", "false", "id", "httpd", "ps",
            "hostname", "wget", "nc", "trap", "kill",
        ] {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(app));
        }
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n",
        )
        .expect("passwd");
        fs::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").expect("group");
        for (path, content, mode) in files {
            let p = rootfs.join(path.trim_start_matches('/'));
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(&p, content).expect("write");
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).expect("chmod");
        }
        let tar = self
            .dir
            .path()
            .join(format!("{}.tar", name.replace([':', '/'], "_")));
        let st = Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        let mut args: Vec<String> = vec!["import".into()];
        for c in changes {
            args.push("-c".into());
            args.push(c.to_string());
        }
        args.push(tar.display().to_string());
        args.push(name.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args);
    }

    /// The container's state.json in the store.
    pub fn state(&self, id: &str) -> serde_json::Value {
        let p = self.root().join("containers").join(id).join("state.json");
        serde_json::from_slice(&fs::read(&p).expect("state.json")).expect("json")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Leave nothing running behind a failed test.
        let (_, ids, _) = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in ids.lines() {
            let _ = self.run(&["rm", "-f", id]);
        }
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A plain HTTP GET to 127.0.0.1:port, retried while the server starts.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut last = String::new();
    for _ in 0..100 {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut body = String::new();
                    if s.read_to_string(&mut body).is_ok() && !body.is_empty() {
                        return body;
                    }
                }
                last = "empty reply".into();
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no HTTP answer on 127.0.0.1:{port}: {last}")
}

/// True when `pid` exists and is not a zombie (an orphaned container init
/// is reaped by whoever adopts it, maybe later).
pub fn is_running(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .map(|(_, r)| r.trim_start().chars().next());
    Path::new(&format!("/proc/{pid}")).exists() && state != Some(Some('Z')) && !stat.is_empty()
}
