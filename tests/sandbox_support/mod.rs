//! Helpers for the sandbox integration tests: a busybox-static rootfs with
//! every applet linked, and `run` wrappers that collect the output.
#![allow(dead_code)]

use rbuild::sandbox::{self, ExitStatus, OutputStream, RootFs, RunOutcome, Spec, StdioMode};
use std::path::{Path, PathBuf};

/// True when the test can run: root and busybox; under CI=true it panics
/// instead of skipping.
pub fn ready() -> bool {
    let root = crate::common_cg::require_root();
    root && crate::common_cg::busybox().is_some()
}

/// A minimal image: busybox with all its applets, /etc/passwd and group.
pub fn busybox_rootfs(dir: &Path) {
    for sub in ["bin", "etc", "root", "tmp", "home/app"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("copy busybox");
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
    )
    .expect("group");
    std::fs::set_permissions(
        dir.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod tmp");
}

/// A rootfs in a fresh temp dir (kept alive by the returned guard).
pub fn rootfs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    busybox_rootfs(&root);
    (dir, root)
}

/// A spec running `sh -c script` in `root` with network none.
pub fn shell(root: &Path, script: &str) -> Spec {
    let mut spec = Spec::new(
        RootFs::Dir(root.to_path_buf()),
        vec!["/bin/sh".into(), "-c".into(), script.into()],
    );
    spec.network = rbuild::sandbox::network::NetworkMode::None;
    spec.stdio = StdioMode::Piped;
    spec
}

pub struct Ran {
    pub outcome: RunOutcome,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn status(&self) -> ExitStatus {
        self.outcome.status
    }
}

pub fn run(spec: &Spec) -> Ran {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let outcome = sandbox::run(spec, &mut |stream, bytes| match stream {
        OutputStream::Stdout => stdout.extend_from_slice(bytes),
        OutputStream::Stderr => stderr.extend_from_slice(bytes),
    })
    .unwrap_or_else(|e| panic!("sandbox run of {:?} failed: {e}", spec.args));
    Ran {
        outcome,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `script` and returns its stdout, asserting success.
pub fn output_of(spec: &Spec) -> String {
    let ran = run(spec);
    assert!(
        ran.status().success(),
        "{:?} exited with {}: stdout {:?} stderr {:?}",
        spec.args,
        ran.status(),
        ran.stdout,
        ran.stderr
    );
    ran.stdout
}
