//! Rootless sandboxes, tested for real by re-running this test binary as
//! an unprivileged user (nobody): a user namespace maps the caller to root
//! inside, the sandbox works as with root, and limits that this host's
//! cgroups cannot delegate give a clear warning instead of failing.

mod common_cg;
mod sandbox_support;

use rbuild::sandbox::cgroups::Limits;
use rbuild::sandbox::ExitStatus;
use sandbox_support::{ready, run, shell};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const NOBODY: u32 = 65534;
const CHILD_ENV: &str = "RBUILD_SANDBOX_ROOTLESS_CHILD";

/// Runs test `name` of this binary as nobody with `CHILD_ENV=<rootfs>`.
fn run_as_nobody(name: &str, rootfs: &Path) -> (bool, String) {
    run_as((NOBODY, NOBODY), name, rootfs)
}

/// Runs test `name` of this binary as (uid, gid).
fn run_as((uid, gid): (u32, u32), name: &str, rootfs: &Path) -> (bool, String) {
    common_cg::run_test_as(uid, gid, name, (CHILD_ENV, rootfs.as_os_str()))
}

/// A rootfs owned by nobody (as a rootless user's own image store is), in
/// a directory nobody can enter.
fn shared_rootfs() -> (tempfile::TempDir, std::path::PathBuf) {
    shared_rootfs_for(NOBODY)
}

fn shared_rootfs_for(uid: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let root = dir.path().join("rootfs");
    sandbox_support::busybox_rootfs(&root);
    let status = Command::new("chown")
        .args(["-R", "-h", &format!("{uid}:{uid}")])
        .arg(&root)
        .status()
        .expect("chown");
    assert!(status.success());
    (dir, root)
}

#[test]
fn rootless_sandbox_maps_the_caller_to_root() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, NOBODY);
        let spec = shell(
            Path::new(&root),
            "id -u; cat /proc/self/uid_map; echo pid=$$; grep CapEff /proc/self/status; \
             wc -c < /proc/timer_list; ls /sys/class/net; touch /tmp/x && echo wrote",
        );
        let ran = run(&spec);
        println!("{}{}", ran.stdout, ran.stderr);
        assert!(ran.status().success(), "{}", ran.status());
        let lines: Vec<&str> = ran.stdout.lines().collect();
        assert_eq!(lines[0], "0");
        let map: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(map, ["0", "65534", "1"]);
        assert_eq!(lines[2], "pid=2");
        assert_eq!(lines[3], "CapEff:\t00000000a80425fb");
        assert_eq!(lines[4], "0");
        assert_eq!(lines[5], "lo");
        assert_eq!(lines[6], "wrote");
        return;
    }
    if !ready() {
        return;
    }
    let (_dir, root) = shared_rootfs();
    let (passed, output) = run_as_nobody("rootless_sandbox_maps_the_caller_to_root", &root);
    assert!(passed, "rootless child failed:\n{output}");
}

#[test]
fn rootless_limits_apply_or_warn() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        let mut spec = shell(Path::new(&root), "echo ran");
        spec.limits = Limits {
            memory: Some(64 << 20),
            pids: Some(32),
            ..Limits::default()
        };
        let ran = run(&spec);
        assert_eq!(ran.status(), ExitStatus::Code(0), "{}", ran.stderr);
        assert_eq!(ran.stdout, "ran\n");
        let v1 = matches!(
            rbuild::sandbox::cgroups::layout::detect_current(),
            Ok(Some(
                rbuild::sandbox::cgroups::layout::Layout::Legacy { .. }
            ))
        );
        if v1 {
            // cgroup v1 cannot be delegated: a warning, and the run goes on.
            assert_eq!(ran.outcome.warnings.len(), 1, "{:?}", ran.outcome.warnings);
            assert!(
                ran.outcome.warnings[0].contains("resource limits are not applied"),
                "{:?}",
                ran.outcome.warnings
            );
        }
        return;
    }
    if !ready() {
        return;
    }
    let (_dir, root) = shared_rootfs();
    let (passed, output) = run_as_nobody("rootless_limits_apply_or_warn", &root);
    assert!(passed, "rootless child failed:\n{output}");
}

#[test]
fn rootless_overlay_root_inside_the_user_namespace() {
    if let Ok(lower) = std::env::var(CHILD_ENV) {
        let lower = Path::new(&lower);
        let base = lower.parent().expect("parent");
        let (upper, work) = (base.join("upper"), base.join("work"));
        let mut spec = shell(lower, "echo layer > /tmp/new; rm /bin/true; cat /tmp/new");
        spec.root = rbuild::sandbox::RootFs::Overlay {
            lower: vec![lower.to_path_buf()],
            upper: upper.clone(),
            work,
        };
        let ran = run(&spec);
        assert!(ran.status().success(), "{}", ran.stderr);
        assert_eq!(ran.stdout, "layer\n");
        assert!(upper.join("tmp/new").is_file());
        assert!(lower.join("bin/true").exists(), "lower layer modified");
        return;
    }
    if !ready() {
        return;
    }
    let (dir, root) = shared_rootfs();
    for sub in ["upper", "work"] {
        std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        std::os::unix::fs::chown(dir.path().join(sub), Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let (passed, output) = run_as_nobody("rootless_overlay_root_inside_the_user_namespace", &root);
    assert!(passed, "rootless child failed:\n{output}");
}

const RANGE_USER: &str = "rbuildsbx";
const RANGE_START: u32 = 300_000;

/// A user of our own with a subordinate id range, as rootless setups have.
fn user_with_ranges() -> Option<(u32, u32)> {
    let useradd = common_cg::require_tool("useradd")?;
    common_cg::require_tool("newuidmap")?;
    let exists = Command::new("id").args(["-u", RANGE_USER]).output().ok()?;
    if !exists.status.success() {
        let status = Command::new(useradd)
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                RANGE_USER,
            ])
            .status()
            .ok()?;
        assert!(status.success(), "useradd {RANGE_USER} failed");
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !text
            .lines()
            .any(|l| l.starts_with(&format!("{RANGE_USER}:")))
        {
            let line = format!("{RANGE_USER}:{RANGE_START}:65536\n");
            std::fs::write(file, text + &line).expect("add subordinate range");
        }
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, RANGE_USER]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

#[test]
fn rootless_with_subordinate_ranges_maps_them() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        let ran = run(&shell(
            Path::new(&root),
            "cat /proc/self/uid_map /proc/self/gid_map; id",
        ));
        assert!(ran.status().success(), "{}", ran.stderr);
        let maps: Vec<Vec<String>> = ran
            .stdout
            .lines()
            .take(4)
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() }.to_string();
        assert_eq!(maps[0], ["0", me.as_str(), "1"], "{}", ran.stdout);
        assert_eq!(
            maps[1],
            ["1", &RANGE_START.to_string(), "65536"],
            "{}",
            ran.stdout
        );
        assert!(ran.stdout.contains("uid=0(root)"), "{}", ran.stdout);
        return;
    }
    if !ready() {
        return;
    }
    let Some(ids) = user_with_ranges() else {
        return;
    };
    let (_dir, root) = shared_rootfs_for(ids.0);
    let (passed, output) = run_as(ids, "rootless_with_subordinate_ranges_maps_them", &root);
    assert!(passed, "rootless child failed:\n{output}");
}
