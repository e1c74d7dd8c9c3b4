//! Shared helpers for the build tests: a busybox base image imported into a
//! fresh store with `rbuild import` (from Debian's busybox-static), running
//! `rbuild build` on a context written by the test, and exporting the result
//! (`-o type=local`) to look at its files. Tests need root and busybox; they
//! fail under CI=true when either is missing, and skip otherwise.
#![allow(dead_code)]

pub mod dockerd;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// True when the test can run (root, busybox, tar); else fails under CI or skips.
pub fn ready(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let bb = busybox_path().is_some();
    if root && bb {
        return true;
    }
    let why = if root {
        "busybox (busybox-static)"
    } else {
        "root"
    };
    assert!(
        !ci(),
        "{test}: needs {why} (CI=true); run scripts/install-deps.sh as root"
    );
    eprintln!("SKIP {test}: needs {why}");
    false
}

/// True when `tool` is on PATH; else fails under CI or skips.
pub fn has_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if !found {
        assert!(
            !ci(),
            "{test}: needs {tool} (CI=true); run scripts/install-deps.sh"
        );
        eprintln!("SKIP {test}: {tool} not installed");
    }
    found
}

fn busybox_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|p| p.join("busybox"))
        .find(|p| p.is_file())
}

/// A test's world: a temp dir with a store and a context.
pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    /// A fresh store holding `localhost/busybox:latest` (busybox-static, its
    /// applets, /etc/passwd with root, daemon and app (1000), /etc/group).
    pub fn new() -> World {
        let w = World::empty();
        w.make_base_tar();
        w.import_base(&w.base_tar(), None);
        w
    }

    /// As [`World::new`], the base image imported with `SOURCE_DATE_EPOCH=epoch`.
    pub fn with_epoch(epoch: &str) -> World {
        let w = World::empty();
        w.make_base_tar();
        w.import_base(&w.base_tar(), Some(epoch));
        w
    }

    /// A fresh store whose base image is imported from `tar` (another
    /// world's [`World::base_tar`]), with `SOURCE_DATE_EPOCH=epoch` when
    /// given, so two worlds can hold the same base image.
    pub fn with_base(tar: &Path, epoch: Option<&str>) -> World {
        let w = World::empty();
        w.import_base(tar, epoch);
        w
    }

    fn empty() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let w = World { dir };
        fs::create_dir_all(w.ctx()).expect("context dir");
        w
    }

    /// The busybox rootfs tar this world's base image came from.
    pub fn base_tar(&self) -> PathBuf {
        self.dir.path().join("busybox.tar")
    }

    fn make_base_tar(&self) {
        let w = self;
        let rootfs = w.dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "root", "usr/bin", "home/app"] {
            fs::create_dir_all(rootfs.join(d)).expect("rootfs dir");
        }
        fs::set_permissions(
            rootfs.join("tmp"),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .expect("chmod tmp");
        let bb = busybox_path().expect("busybox");
        fs::copy(&bb, rootfs.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(&bb)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for app in String::from_utf8_lossy(&list.stdout).lines() {
            if app != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(app));
            }
        }
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .expect("passwd");
        fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\ndaemon:x:1:\napp:x:1000:\nstaff:x:50:app\n",
        )
        .expect("group");
        let tar = w.base_tar();
        let out = Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .expect("tar");
        assert!(
            out.status.success(),
            "tar: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `rbuild import` of `tar` as `localhost/busybox:latest`.
    fn import_base(&self, tar: &Path, epoch: Option<&str>) {
        let mut cmd = self.rbuild();
        if let Some(e) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", e);
        }
        let out = cmd
            .args([
                "import",
                "-c",
                "CMD [\"/bin/sh\"]",
                "-c",
                "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            ])
            .arg(tar)
            .arg("localhost/busybox:latest")
            .output()
            .expect("rbuild import");
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn ctx(&self) -> PathBuf {
        self.dir.path().join("ctx")
    }

    /// `rbuild --root STORE`.
    pub fn rbuild(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rbuild"));
        c.arg("--root").arg(self.store());
        c
    }

    /// Writes a context file (parents created).
    pub fn file(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.ctx().join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, contents).expect("write");
        p
    }

    /// Runs `rbuild build --progress plain ARGS CTX` with `dockerfile` as the Dockerfile.
    pub fn build_output(&self, dockerfile: &str, args: &[&str]) -> Output {
        fs::write(self.ctx().join("Dockerfile"), dockerfile).expect("Dockerfile");
        self.rbuild()
            .args(["build", "--progress", "plain"])
            .args(args)
            .arg(self.ctx())
            .output()
            .expect("rbuild build")
    }

    /// Builds and asserts success; returns stderr (progress).
    pub fn build(&self, dockerfile: &str, args: &[&str]) -> String {
        let out = self.build_output(dockerfile, args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "build failed:\n{err}");
        err
    }

    /// Builds and asserts failure; returns stderr.
    pub fn build_fails(&self, dockerfile: &str, args: &[&str]) -> String {
        let out = self.build_output(dockerfile, args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "build should fail with 1:\n{err}"
        );
        err
    }

    /// Builds `dockerfile` and exports the final filesystem; returns its dir.
    pub fn build_fs(&self, dockerfile: &str, args: &[&str]) -> PathBuf {
        let out = self.dir.path().join(format!("out-{}", rand_suffix()));
        let spec = format!("type=local,dest={}", out.display());
        let mut all = vec!["-o", spec.as_str()];
        all.extend_from_slice(args);
        self.build(dockerfile, &all);
        out
    }

    /// `rbuild inspect NAME` as JSON.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self
            .rbuild()
            .args(["inspect", name])
            .output()
            .expect("inspect");
        assert!(
            out.status.success(),
            "inspect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
        v[0].clone()
    }

    /// The raw config blob of an image (with the fields OCI lacks).
    pub fn raw_config(&self, name: &str) -> serde_json::Value {
        let id = self.inspect(name)["Id"].as_str().expect("Id").to_string();
        let hex = id.trim_start_matches("sha256:");
        let bytes = fs::read(self.store().join("blobs/sha256").join(hex)).expect("config blob");
        serde_json::from_slice(&bytes).expect("config JSON")
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

/// (mode & 07777, uid, gid) of a path (not following links).
pub fn stat(p: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

/// File contents as a string.
pub fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
