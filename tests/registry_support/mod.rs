//! Shared helpers for the registry tests: the real distribution 2.8 server
//! (Debian's docker-registry) on a free 127.0.0.1 port (plain, TLS + htpasswd,
//! or token auth), a tiny HTTP proxy that damages answers on purpose, a
//! busybox rootfs tarball, and the rbuild binary with an isolated Docker
//! config directory.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// True when every tool is on PATH; otherwise fails under CI=true or skips.
pub fn need_tools(test: &str, tools: &[&str]) -> bool {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            assert!(
                !ci(),
                "{test}: needs the {tool} tool (CI=true); run scripts/install-deps.sh"
            );
            eprintln!("SKIP {test}: {tool} not installed");
            return false;
        }
    }
    true
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a free port on 127.0.0.1")
}

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns stdout+stderr.
pub fn run_fail(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{cmd:?} should have failed: {text}");
    text
}

/// The rbuild binary on store `root`, with a private Docker config dir.
pub fn rbuild(root: &Path, docker_config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    c.arg("--root")
        .arg(root)
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("RBUILD_INSECURE_REGISTRIES")
        .env_remove("DOCKER_DEFAULT_PLATFORM");
    c
}

/// A busybox rootfs tarball with a few applets.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|p| p.join("busybox"))
        .find(|p| p.is_file())
        .expect("busybox on PATH");
    std::fs::copy(&bb, root.join("bin/busybox")).unwrap();
    for app in ["sh", "ls", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(app)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let out = dir.join("busybox.tar");
    run(Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&out)
        .arg("."));
    out
}

/// How the registry authenticates.
pub enum Auth {
    None,
    /// TLS (self-signed CA written to `dir/certs/ca.crt`) + htpasswd Basic.
    TlsBasic {
        user: String,
        pass: String,
    },
    /// Token auth trusting the certificate at `cert` (PEM).
    Token {
        realm: String,
        service: String,
        issuer: String,
        cert: PathBuf,
    },
}

/// A running docker-registry; killed on drop.
pub struct Registry {
    pub port: u16,
    pub dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    tls: bool,
}

impl Registry {
    pub fn start(dir: &Path, auth: Auth) -> Registry {
        let port = free_port();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            data.display()
        );
        let mut tls = false;
        match auth {
            Auth::None => {}
            Auth::TlsBasic { user, pass } => {
                let certs = dir.join("certs");
                std::fs::create_dir_all(&certs).unwrap();
                // A CA and a server certificate it signs (rustls, like browsers,
                // refuses a CA certificate used directly as the server's).
                let (ca_key, ca) = (dir.join("ca.key"), certs.join("ca.crt"));
                run(Command::new("openssl")
                    .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
                    .args(["-days", "2", "-subj", "/CN=rbuild test CA", "-keyout"])
                    .arg(&ca_key)
                    .arg("-out")
                    .arg(&ca));
                let (key, csr, crt) = (
                    dir.join("tls.key"),
                    dir.join("tls.csr"),
                    dir.join("tls.crt"),
                );
                run(Command::new("openssl")
                    .args(["req", "-newkey", "rsa:2048", "-nodes", "-sha256"])
                    .args(["-subj", "/CN=127.0.0.1", "-keyout"])
                    .arg(&key)
                    .arg("-out")
                    .arg(&csr));
                let ext = dir.join("san.ext");
                std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
                run(Command::new("openssl")
                    .args(["x509", "-req", "-sha256", "-days", "2", "-in"])
                    .arg(&csr)
                    .arg("-CA")
                    .arg(&ca)
                    .arg("-CAkey")
                    .arg(&ca_key)
                    .args(["-CAcreateserial", "-extfile"])
                    .arg(&ext)
                    .arg("-out")
                    .arg(&crt));
                let htpasswd = dir.join("htpasswd");
                run(Command::new("htpasswd")
                    .arg("-Bbc")
                    .arg(&htpasswd)
                    .arg(&user)
                    .arg(&pass));
                cfg.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: rbuild-test\n    path: {}\n",
                    crt.display(),
                    key.display(),
                    htpasswd.display()
                ));
                tls = true;
            }
            Auth::Token {
                realm,
                service,
                issuer,
                cert,
            } => {
                cfg.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    cert.display()
                ));
            }
        }
        let config = dir.join("config.yml");
        std::fs::write(&config, cfg).unwrap();
        let mut r = Registry {
            port,
            dir: dir.to_path_buf(),
            config,
            child: None,
            tls,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// The server's log (errors and the access log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// Stops the server (SIGKILL) without removing its data.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the proxy does to answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Flip the last byte of every blob body.
    CorruptBlobs,
    /// Serve HTML instead of manifests (and drop their digest header).
    NotJsonManifests,
    /// Serve a Docker schema 1 manifest instead of the real one.
    Schema1Manifests,
    /// Send half of the first big blob, then kill the registry (pid) and close.
    KillRegistryMidBlob(i32),
    /// Answer the first blob GET with 503 and cut the second one short;
    /// pass everything else through (a flaky registry).
    FlakyBlobs,
}

/// A one-request-per-connection HTTP proxy to 127.0.0.1:`upstream`.
pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, damage: Damage) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let killed = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let killed = killed.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, damage, &killed);
                });
            }
        });
        Proxy { port, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Blob requests seen by [`Damage::FlakyBlobs`] proxies (one per test binary).
static FLAKY_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn read_head(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            break;
        }
        head.push(b[0]);
    }
    Ok(head)
}

fn serve(
    mut client: TcpStream,
    upstream: u16,
    damage: Damage,
    killed: &AtomicBool,
) -> std::io::Result<()> {
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut len = 0usize;
    let mut fwd = format!("{request_line}\r\n");
    for l in lines.filter(|l| !l.is_empty()) {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        fwd.push_str(l);
        fwd.push_str("\r\n");
    }
    fwd.push_str("Connection: close\r\n\r\n");
    let mut body = vec![0u8; len];
    client.read_exact(&mut body)?;
    if killed.load(Ordering::SeqCst) && matches!(damage, Damage::KillRegistryMidBlob(_)) {
        return Ok(());
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(fwd.as_bytes())?;
    up.write_all(&body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(resp.len());
    let (rhead, rbody) = resp.split_at(split);
    let rhead = String::from_utf8_lossy(rhead).into_owned();
    let ok = rhead.starts_with("HTTP/1.1 200");
    let is_blob = method == "GET" && path.contains("/blobs/sha256:") && ok;
    let is_manifest = method == "GET" && path.contains("/manifests/") && ok;
    match damage {
        Damage::CorruptBlobs if is_blob && !rbody.is_empty() => {
            let mut b = rbody.to_vec();
            if let Some(last) = b.last_mut() {
                *last ^= 0xff;
            }
            client.write_all(rhead.as_bytes())?;
            client.write_all(&b)?;
        }
        Damage::NotJsonManifests | Damage::Schema1Manifests if is_manifest => {
            let junk: &[u8] = if damage == Damage::Schema1Manifests {
                br#"{"schemaVersion":1,"name":"bad/bb","tag":"1","architecture":"amd64","fsLayers":[],"history":[]}"#
            } else {
                b"<html><body>not a manifest</body></html>"
            };
            let mut h = String::new();
            for l in rhead.split("\r\n").filter(|l| !l.is_empty()) {
                let lower = l.to_ascii_lowercase();
                if lower.starts_with("content-length:")
                    || lower.starts_with("docker-content-digest:")
                {
                    continue;
                }
                h.push_str(l);
                h.push_str("\r\n");
            }
            h.push_str(&format!("Content-Length: {}\r\n\r\n", junk.len()));
            client.write_all(h.as_bytes())?;
            client.write_all(junk)?;
        }
        Damage::KillRegistryMidBlob(pid) if is_blob && rbody.len() > 4096 => {
            client.write_all(rhead.as_bytes())?;
            client.write_all(&rbody[..rbody.len() / 2])?;
            client.flush()?;
            killed.store(true, Ordering::SeqCst);
            // SAFETY: plain kill(2) of the registry child this test started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = client.shutdown(std::net::Shutdown::Both);
        }
        Damage::FlakyBlobs if is_blob && rbody.len() > 4096 => {
            let n = FLAKY_COUNT.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                client.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )?;
            } else if n == 1 {
                client.write_all(rhead.as_bytes())?;
                client.write_all(&rbody[..rbody.len() / 3])?;
                let _ = client.shutdown(std::net::Shutdown::Both);
            } else {
                client.write_all(&resp)?;
            }
        }
        _ => {
            client.write_all(&resp)?;
        }
    }
    Ok(())
}

/// The files under `store/blobs/sha256`.
pub fn blob_names(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.join("blobs/sha256"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Regular files left in the store's temp dirs.
pub fn temp_files(store: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(store.join("tmp")) else {
        return out;
    };
    for d in rd.filter_map(|e| e.ok()) {
        if let Ok(inner) = std::fs::read_dir(d.path()) {
            out.extend(
                inner
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file()),
            );
        }
    }
    out
}
