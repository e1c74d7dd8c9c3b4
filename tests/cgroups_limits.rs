//! Real cgroups on this host (v1, hybrid or v2, whatever is mounted): OOM
//! kills are detected, a fork bomb stays contained by the pids limit, the CPU
//! quota is written, and no group directory outlives destroy, drop or a
//! failed create.

mod common_cg;

use common_cg::{busybox, require_root, unique};
use rbuild::sandbox::cgroups::layout::{self, Layout};
use rbuild::sandbox::cgroups::{Cgroup, CgroupError, Limits};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `sh -c script` under busybox, blocked on stdin until the caller
/// moved it into a cgroup and released it.
fn spawn_gated(busybox: &PathBuf, script: &str) -> Child {
    Command::new(busybox)
        .args(["sh", "-c", &format!("read go; {script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn busybox sh")
}

fn release(child: &mut Child) {
    let stdin = child.stdin.as_mut().expect("piped stdin");
    stdin.write_all(b"go\n").expect("release child");
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Every directory a group called `name` could have, whatever the layout.
fn candidate_dirs(name: &str) -> Vec<PathBuf> {
    match layout::detect_current()
        .expect("read /proc")
        .expect("cgroups mounted")
    {
        Layout::Legacy {
            controllers,
            unified,
        } => controllers
            .values()
            .chain(unified.iter())
            .map(|own| own.join("rbuild").join(name))
            .collect(),
        Layout::Unified { mount, .. } => vec![mount.join("rbuild").join(name)],
    }
}

fn assert_gone(name: &str) {
    for dir in candidate_dirs(name) {
        assert!(!dir.exists(), "leaked cgroup directory {}", dir.display());
    }
}

#[test]
fn oom_kill_is_detected() {
    let (true, Some(busybox)) = (require_root(), busybox()) else {
        return;
    };
    let name = unique("oom");
    let limits = Limits {
        memory: Some(64 << 20),
        memory_swap: Some(64 << 20),
        ..Limits::default()
    };
    let group = Cgroup::create(&name, &limits).expect("create memory cgroup");
    assert_eq!(group.memory_limit(), Some(64 << 20));
    // Command substitution keeps 200 MB in the shell's memory.
    let mut child = spawn_gated(
        &busybox,
        "v=$(head -c 200000000 /dev/zero | tr '\\0' a); exit 0",
    );
    group.add_pid(child.id() as i32).expect("add pid");
    assert!(!group.oom_killed());
    assert_eq!(group.oom_message(), None);
    release(&mut child);
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("allocator finished");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "status {status:?}");
    assert!(group.oom_killed(), "oom kill not reported");
    assert_eq!(
        group.oom_message().as_deref(),
        Some("killed: out of memory (limit 64 MiB)")
    );
    let stats = group.stats().expect("stats");
    assert_eq!(stats.memory_limit, Some(64 << 20));
    group.destroy().expect("destroy");
    assert_gone(&name);
}

#[test]
fn fork_bomb_is_contained_by_pids_limit() {
    let (true, Some(busybox)) = (require_root(), busybox()) else {
        return;
    };
    let name = unique("bomb");
    let limits = Limits {
        pids: Some(64),
        ..Limits::default()
    };
    let group = Cgroup::create(&name, &limits).expect("create pids cgroup");
    let mut child = spawn_gated(&busybox, "bomb() { bomb | bomb & }; bomb; sleep 30");
    group.add_pid(child.id() as i32).expect("add pid");
    release(&mut child);
    // Let the bomb run into the limit.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut peak = 0;
    while Instant::now() < deadline {
        peak = peak.max(group.stats().expect("stats").pids_current);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(peak > 1, "the bomb did not fork at all (peak {peak})");
    assert!(peak <= 64, "pids limit exceeded: {peak}");
    group.destroy().expect("destroy kills the bomb");
    assert!(wait_timeout(&mut child, Duration::from_secs(5)).is_some());
    assert_gone(&name);
    // The host can still fork.
    let status = Command::new(&busybox)
        .arg("true")
        .status()
        .expect("host still forks");
    assert!(status.success());
}

#[test]
fn cpu_quota_and_membership_are_visible() {
    let (true, Some(busybox)) = (require_root(), busybox()) else {
        return;
    };
    let name = unique("cpu");
    let limits = Limits {
        cpus: Some(1.5),
        pids: Some(100),
        ..Limits::default()
    };
    let group = Cgroup::create(&name, &limits).expect("create cpu cgroup");
    let mut child = spawn_gated(&busybox, "sleep 30");
    group.add_pid(child.id() as i32).expect("add pid");
    let dirs: Vec<PathBuf> = group
        .procs_paths()
        .iter()
        .filter_map(|p| p.parent().map(PathBuf::from))
        .collect();
    let quota = dirs.iter().find_map(|d| {
        std::fs::read_to_string(d.join("cpu.cfs_quota_us"))
            .map(|q| format!("{} {}", q.trim(), "v1"))
            .or_else(|_| std::fs::read_to_string(d.join("cpu.max")).map(|q| q.trim().to_string()))
            .ok()
    });
    match quota.as_deref() {
        Some("150000 v1") | Some("150000 100000") => {}
        other => panic!("unexpected cpu quota {other:?}"),
    }
    let hierarchies = group.hierarchy_dirs();
    assert_eq!(hierarchies.len(), dirs.len());
    for (hierarchy, dir) in &hierarchies {
        assert!(
            dir.ends_with(format!("rbuild/{name}")),
            "{hierarchy}: {}",
            dir.display()
        );
        assert!(dirs.contains(dir));
    }
    let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).expect("read");
    assert!(
        membership.contains(&format!("/rbuild/{name}")),
        "{membership}"
    );
    // Usage is charged from the moment the member runs inside the group.
    release(&mut child);
    std::thread::sleep(Duration::from_millis(100));
    let stats = group.stats().expect("stats");
    assert_eq!(stats.pids_current, 1);
    assert!(stats.memory_usage > 0, "{stats:?}");
    assert!(stats.cpu_usage_ns > 0, "{stats:?}");
    assert_eq!(stats.memory_limit, None);
    // Drop alone must kill the member and remove the directories.
    drop(group);
    assert!(wait_timeout(&mut child, Duration::from_secs(5)).is_some());
    assert_gone(&name);
}

#[test]
fn failed_create_leaves_nothing() {
    if !require_root() {
        return;
    }
    let name = unique("fail");
    // Passes validation but the kernel refuses it (above PID_MAX_LIMIT).
    let limits = Limits {
        pids: Some(100_000_000),
        ..Limits::default()
    };
    let err = Cgroup::create(&name, &limits).expect_err("kernel rejects pids.max");
    assert!(matches!(err, CgroupError::Io { .. }), "{err}");
    assert!(err.to_string().contains("pids.max"), "{err}");
    assert_gone(&name);
    let err = Cgroup::create("../escape", &Limits::default()).expect_err("bad name");
    assert!(matches!(err, CgroupError::InvalidName(_)));
}

#[test]
fn hundred_create_destroy_cycles_leave_nothing() {
    let (true, Some(busybox)) = (require_root(), busybox()) else {
        return;
    };
    let limits = Limits {
        memory: Some(32 << 20),
        cpus: Some(0.5),
        pids: Some(16),
        ..Limits::default()
    };
    let mut names = Vec::new();
    for i in 0..100 {
        let name = unique("cycle");
        let group = Cgroup::create(&name, &limits).expect("create");
        if i % 10 == 0 {
            let mut child = spawn_gated(&busybox, "sleep 30");
            group.add_pid(child.id() as i32).expect("add pid");
            group.destroy().expect("destroy with a member");
            assert!(wait_timeout(&mut child, Duration::from_secs(5)).is_some());
        } else {
            group.destroy().expect("destroy");
        }
        names.push(name);
    }
    for name in names {
        assert_gone(&name);
    }
}

/// The v2 driver on the real cgroup2 mount (the hybrid host's unified
/// hierarchy has no limit controllers, so no limits): membership, the
/// atomic cgroup.kill of a whole process tree, and removal.
#[test]
fn v2_driver_kills_a_tree_on_the_real_cgroup2_mount() {
    let (true, Some(busybox)) = (require_root(), busybox()) else {
        return;
    };
    let unified = match layout::detect_current().expect("read /proc") {
        Some(Layout::Legacy {
            unified: Some(own), ..
        }) => own,
        Some(Layout::Unified { mount, .. }) => mount,
        _ => {
            eprintln!("skipping: no cgroup2 mount on this host");
            return;
        }
    };
    let name = unique("v2");
    let group = Cgroup::create_v2_under(&unified, &name, &Limits::default()).expect("create v2");
    let dir = unified.join("rbuild").join(&name);
    assert_eq!(group.procs_paths(), vec![dir.join("cgroup.procs")]);
    // Linux 5.14+ (non-root groups only); older kernels take the kill loop.
    eprintln!(
        "cgroup.kill available: {}",
        dir.join("cgroup.kill").exists()
    );
    let mut child = spawn_gated(&busybox, "sleep 30 & sleep 30 & wait");
    group.add_pid(child.id() as i32).expect("add pid");
    release(&mut child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(dir.join("cgroup.procs")).map_or(0, |p| p.lines().count()) < 3 {
        assert!(Instant::now() < deadline, "the tree did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).expect("read");
    assert!(
        membership.contains(&format!("0::/rbuild/{name}\n")),
        "{membership}"
    );
    group.destroy().expect("destroy via cgroup.kill");
    assert!(wait_timeout(&mut child, Duration::from_secs(5)).is_some());
    assert!(!dir.exists(), "leaked {}", dir.display());
}
