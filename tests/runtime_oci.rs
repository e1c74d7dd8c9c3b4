//! External OCI runtimes (crun and runc) running a busybox rootfs from a
//! bundle rbuild wrote: output and exit code, limits seen from inside, user,
//! hostname, read-only rootfs and private networking; no state left behind.

mod common_cg;

use common_cg::{busybox, busybox_rootfs, fix_hybrid_cgroups_for_crun, require_root, require_tool};
use rbuild::sandbox::cgroups::Limits;
use rbuild::sandbox::network::{NetworkMode, PortForward, Protocol};
use rbuild::sandbox::runtime::{
    resolve_runtime, run_with_runtime_output, BundleSpec, RuntimeError,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

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
    // The memory limit is enforced: the OOM-killed process (PID 1 of the
    // container) is reported shell-style, 128 + SIGKILL.
    let mut hungry = sh(
        &rootfs,
        "v=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    );
    hungry.limits = Limits {
        memory: Some(32 << 20),
        memory_swap: Some(32 << 20),
        ..Limits::default()
    };
    let (code, stdout, stderr) = run(&runtime, &hungry);
    assert_eq!((code, stdout.as_str()), (137, ""), "stderr: {stderr}");

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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // Serves one connection on port 80, then reports its network.
    let mut spec = sh(
        &rootfs,
        "echo hi-from-container | nc -l -p 80; ip -4 addr show tap0; ip route; cat /etc/resolv.conf",
    );
    spec.network = NetworkMode::Private;
    spec.port_forwards = vec![PortForward {
        proto: Protocol::Tcp,
        host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        host_port: port,
        container_port: 80,
    }];
    let client = std::thread::spawn(move || fetch_with_retry(port));
    let (code, stdout, stderr) = run(&runtime, &spec);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("inet 10.0.2.100/24"), "{stdout}");
    assert!(stdout.contains("default via 10.0.2.2"), "{stdout}");
    assert!(stdout.contains("nameserver 10.0.2.3"), "{stdout}");
    let reply = client.join().expect("client thread");
    assert_eq!(reply.trim(), "hi-from-container");
}

/// Connects until the container's listener answers (bounded to 20 s).
fn fetch_with_retry(port: u16) -> String {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply)?;
            Ok(reply)
        });
        match attempt {
            Ok(reply) if !reply.is_empty() => return reply,
            _ if Instant::now() > deadline => return format!("no reply: {attempt:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn unknown_runtime_is_a_clear_error() {
    let err = resolve_runtime("no-such-runtime-xyz").expect_err("missing runtime");
    assert!(matches!(err, RuntimeError::NotFound(_)));
    assert!(err.to_string().contains("crun, runc or a path"), "{err}");
    let err = resolve_runtime("/nonexistent/crun").expect_err("missing path");
    assert!(err.to_string().contains("/nonexistent/crun"), "{err}");
}

/// Writes an executable shell script standing in for a runtime binary.
fn fake_runtime(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write fake runtime");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn runtime_protocol_exit_code_and_cleanup() {
    let temp = tempfile::tempdir().expect("tempdir");
    let rootfs = temp.path().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir rootfs");
    let log = temp.path().join("calls");
    // `run --bundle DIR ID`: the bundle must hold config.json while running.
    let body = format!(
        "echo \"$@\" >> {log}\n\
         if [ \"$1\" = run ]; then\n\
           [ \"$2\" = --bundle ] && [ -f \"$3/config.json\" ] || exit 99\n\
           echo \"$3\" > {log}.bundle\n\
           echo out; echo err >&2; exit 42\n\
         fi\n\
         exit 0",
        log = log.display()
    );
    let runtime = fake_runtime(temp.path(), "fakeruntime", &body);
    let mut spec = BundleSpec::new(&rootfs, vec!["/bin/true".into()]);
    spec.network = NetworkMode::None;
    let output = run_with_runtime_output(&runtime, &spec).expect("run fake runtime");
    assert_eq!(output.code, 42);
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");
    let calls = std::fs::read_to_string(&log).expect("calls");
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let id = calls[0].rsplit(' ').next().expect("id");
    assert!(id.starts_with("rbuild-"), "{id}");
    assert_eq!(calls[1], format!("delete -f {id}"));
    let bundle = std::fs::read_to_string(format!("{}.bundle", log.display())).expect("bundle");
    assert!(!Path::new(bundle.trim()).exists(), "bundle dir not removed");
}

#[test]
fn crun_hybrid_failure_is_explained() {
    let temp = tempfile::tempdir().expect("tempdir");
    let rootfs = temp.path().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir rootfs");
    let runtime = fake_runtime(
        temp.path(),
        "crun",
        "[ \"$1\" = run ] && echo 'crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2' >&2 && exit 1\nexit 0",
    );
    let mut spec = BundleSpec::new(&rootfs, vec!["/bin/true".into()]);
    spec.network = NetworkMode::None;
    let err = run_with_runtime_output(&runtime, &spec).expect_err("hybrid failure");
    assert!(
        matches!(err, RuntimeError::CrunHybridCgroups { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("mount -t cgroup -o hugetlb"), "{text}");
    assert!(text.contains("--runtime runc"), "{text}");
}
