//! Shared helpers for the cgroups/network/runtime integration tests: root
//! and tool requirements (fail under CI=true, skip with a reason otherwise),
//! unique names, and a busybox rootfs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// True when the test can run; otherwise prints why and returns false, or
/// panics when CI=true (CI must run every test).
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

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn require_root() -> bool {
    require(is_root(), "must run as root (real cgroups and namespaces)")
}

/// Finds a tool in PATH or the sbin directories.
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub fn require_tool(name: &str) -> Option<PathBuf> {
    let found = tool(name);
    if require(
        found.is_some(),
        &format!("{name} is not installed (scripts/install-deps.sh)"),
    ) {
        found
    } else {
        None
    }
}

/// A name unique across parallel tests and test processes.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The static busybox binary tests use for tiny commands.
pub fn busybox() -> Option<PathBuf> {
    let path = PathBuf::from("/bin/busybox");
    if require(
        path.is_file(),
        "/bin/busybox is missing (apt-get install busybox-static)",
    ) {
        Some(path)
    } else {
        None
    }
}

/// Builds a minimal rootfs: /bin/busybox plus applet symlinks and the
/// directories a runtime mounts onto.
pub fn busybox_rootfs(dir: &Path) -> std::io::Result<()> {
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox"))?;
    for applet in [
        "sh", "echo", "ls", "sleep", "nc", "ip", "ifconfig", "route", "id", "hostname", "grep",
        "head", "true", "false", "wc", "cat", "touch", "tr",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet))?;
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\n")?;
    // Targets for the runtime's /etc binds.
    for file in ["hostname", "hosts", "resolv.conf"] {
        std::fs::write(dir.join("etc").join(file), "")?;
    }
    Ok(())
}

/// crun 1.8 refuses hybrid cgroups where cgroup2 still owns hugetlb (this
/// VM): give hugetlb a v1 hierarchy, as /work/shared/peers/common.sh does.
/// Idempotent; a no-op on pure v1/v2 hosts.
pub fn fix_hybrid_cgroups_for_crun() {
    let unified = Path::new("/sys/fs/cgroup/unified");
    let owned = std::fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default();
    if owned.trim().is_empty() {
        return;
    }
    let hugetlb = Path::new("/sys/fs/cgroup/hugetlb");
    let _ = std::fs::create_dir_all(hugetlb);
    let status = std::process::Command::new("mount")
        .args(["-t", "cgroup", "-o", "hugetlb", "cgroup"])
        .arg(hugetlb)
        .status();
    let owned = std::fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default();
    assert!(
        owned.trim().is_empty(),
        "could not move hugetlb off cgroup2 for crun (mount: {status:?}); cgroup2 still owns {owned:?}"
    );
}

/// Runs test `name` of the current test binary as `uid:gid` (no
/// supplementary groups) with the environment variable `env` set, and
/// returns whether it passed and its output. The binary is copied where
/// any user can execute it, since the target dir may not be.
pub fn run_test_as(
    uid: u32,
    gid: u32,
    name: &str,
    env: (&str, &std::ffi::OsStr),
) -> (bool, String) {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let binary = dir.path().join("rootless-test");
    std::fs::copy(std::env::current_exe().expect("current exe"), &binary)
        .expect("copy test binary");
    // Another test thread may fork while the copy's write fd is open; its
    // child holds the fd until it execs, and exec of the copy then fails
    // with ETXTBSY. That window is short: retry.
    for attempt in 0.. {
        let mut command = std::process::Command::new(&binary);
        command
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(env.0, env.1)
            .env_remove("XDG_RUNTIME_DIR")
            .current_dir(dir.path());
        // SAFETY: setgroups/setgid/setuid are plain syscalls.
        unsafe {
            command.pre_exec(move || {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match command.output() {
            Ok(output) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                return (output.status.success() && text.contains("1 passed"), text);
            }
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 50 => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("run test binary as {uid}:{gid}: {e}"),
        }
    }
    unreachable!("the retry loop returns or panics")
}
