//! External OCI runtimes (crun and runc) running a busybox rootfs from a
//! bundle rbuild wrote: output and exit code, limits seen from inside, user,
//! hostname, read-only rootfs and private networking; no state left behind.

mod common_cg;

use common_cg::{busybox, busybox_rootfs, fix_hybrid_cgroups_for_crun, require_root, require_tool};
use rbuild::sandbox::cgroups::Limits;
use rbuild::sandbox::network::NetworkMode;
use rbuild::sandbox::runtime::{
    resolve_runtime, run_with_runtime_output, BundleSpec, RuntimeError,
};
use std::path::Path;

fn sh(rootfs: &Path, script: &str) -> BundleSpec {
    let mut spec = BundleSpec::new(rootfs, vec!["/bin/sh".into(), "-c".into(), script.into()]);
    spec.network = NetworkMode::None;
    spec
}

fn run(runtime: &Path, spec: &BundleSpec) -> (i32, String, String) {
    let output = run_with_runtime_output(runtime, spec).expect("runtime run");
    (
        output.code,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn exercise(runtime_name: &str) {
    let (true, Some(_), Some(_)) = (require_root(), busybox(), require_tool(runtime_name)) else {
        return;
    };
    fix_hybrid_cgroups_for_crun();
    let runtime = resolve_runtime(runtime_name).expect("resolve runtime");
    let temp = tempfile::tempdir().expect("tempdir");
    let rootfs = temp.path().join("rootfs");
    busybox_rootfs(&rootfs).expect("busybox rootfs");

    let (code, stdout, stderr) = run(&runtime, &sh(&rootfs, "echo hi; exit 3"));
    assert_eq!((code, stdout.as_str()), (3, "hi\n"), "stderr: {stderr}");

    let mut limited = sh(
        &rootfs,
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
         cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
         cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max",
    );
    limited.limits = Limits {
        memory: Some(64 << 20),
        cpus: Some(1.5),
        pids: Some(50),
        ..Limits::default()
    };
    let (code, stdout, stderr) = run(&runtime, &limited);
    assert_eq!(code, 0, "stderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"67108864"), "{stdout}");
    assert_eq!(lines.get(1), Some(&"50"), "{stdout}");
    assert!(
        matches!(lines.get(2), Some(&"150000") | Some(&"150000 100000")),
        "{stdout}"
    );

    let mut identity = sh(
        &rootfs,
        "id -u; id -g; hostname; cat /etc/hostname; touch /x || echo readonly",
    );
    identity.uid = 1000;
    identity.gid = 1000;
    identity.hostname = Some("box1".into());
    identity.readonly_rootfs = true;
    let (code, stdout, stderr) = run(&runtime, &identity);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(
        stdout, "1000\n1000\nbox1\nbox1\nreadonly\n",
        "stderr: {stderr}"
    );
    assert!(!rootfs.join("x").exists());
}

#[test]
fn crun_runs_busybox_bundle() {
    exercise("crun");
}

#[test]
fn runc_runs_busybox_bundle() {
    exercise("runc");
}

#[test]
fn private_network_through_runtime() {
    let (true, Some(_), Some(_), Some(_)) = (
        require_root(),
        busybox(),
        require_tool("runc"),
        require_tool("slirp4netns"),
    ) else {
        return;
    };
    let runtime = resolve_runtime("runc").expect("resolve runc");
    let temp = tempfile::tempdir().expect("tempdir");
    let rootfs = temp.path().join("rootfs");
    busybox_rootfs(&rootfs).expect("busybox rootfs");
    let mut spec = sh(
        &rootfs,
        "ip -4 addr show tap0; ip route; cat /etc/resolv.conf",
    );
    spec.network = NetworkMode::Private;
    let (code, stdout, stderr) = run(&runtime, &spec);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("inet 10.0.2.100/24"), "{stdout}");
    assert!(stdout.contains("default via 10.0.2.2"), "{stdout}");
    assert!(stdout.contains("nameserver 10.0.2.3"), "{stdout}");
}

#[test]
fn unknown_runtime_is_a_clear_error() {
    let err = resolve_runtime("no-such-runtime-xyz").expect_err("missing runtime");
    assert!(matches!(err, RuntimeError::NotFound(_)));
    assert!(err.to_string().contains("crun, runc or a path"), "{err}");
    let err = resolve_runtime("/nonexistent/crun").expect_err("missing path");
    assert!(err.to_string().contains("/nonexistent/crun"), "{err}");
}
