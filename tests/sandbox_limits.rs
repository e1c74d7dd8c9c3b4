//! Resource limits through the real cgroups of this host: an allocation
//! over the memory limit is reported as out of memory (137), a fork bomb
//! stays inside its pids limit, a CPU quota is applied, and every process
//! of a sandbox is in its group in every cgroup hierarchy.

mod common_cg;
mod sandbox_support;

use rbuild::sandbox::cgroups::Limits;
use rbuild::sandbox::ExitStatus;
use sandbox_support::{ready, rootfs, run, shell};

#[test]
fn allocating_200mb_under_64mb_is_out_of_memory() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "dd if=/dev/zero of=/dev/null bs=200M count=1");
    spec.limits = Limits {
        memory: Some(64 << 20),
        ..Limits::default()
    };
    let ran = run(&spec);
    assert_eq!(
        ran.status(),
        ExitStatus::OutOfMemory {
            limit: Some(64 << 20)
        },
        "{}{}",
        ran.stdout,
        ran.stderr
    );
    assert_eq!(ran.status().code(), 137);
    assert_eq!(
        ran.status().to_string(),
        "killed: out of memory (limit 64 MiB)"
    );
}

#[test]
fn fork_bomb_is_contained_by_the_pids_limit() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "bomb() { bomb | bomb & bomb; }; bomb 2>/dev/null");
    spec.limits = Limits {
        pids: Some(64),
        ..Limits::default()
    };
    let handle = rbuild::sandbox::start(&spec).expect("start");
    let pids_dir = handle
        .cgroup()
        .expect("cgroup")
        .hierarchy_dirs()
        .into_iter()
        .map(|(_, dir)| dir)
        .find(|dir| dir.join("pids.max").exists())
        .expect("pids controller");
    assert_eq!(
        std::fs::read_to_string(pids_dir.join("pids.max"))
            .expect("max")
            .trim(),
        "64"
    );
    // Wait until the kernel refused forks at the limit ("max N" events).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut refused = 0;
    let mut peak = 0;
    while refused == 0 && std::time::Instant::now() < deadline {
        let events = std::fs::read_to_string(pids_dir.join("pids.events")).unwrap_or_default();
        refused = events
            .lines()
            .find_map(|l| l.strip_prefix("max "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let current: u64 = std::fs::read_to_string(pids_dir.join("pids.current"))
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        peak = peak.max(current);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        refused > 0,
        "the bomb never reached the limit (peak {peak})"
    );
    assert!(peak <= 64, "{peak} processes under a limit of 64");
    // The host keeps working while the bomb runs.
    let host = std::process::Command::new("true")
        .status()
        .expect("fork on the host");
    assert!(host.success());
    handle
        .kill(nix::sys::signal::Signal::SIGKILL)
        .expect("kill");
    handle.wait().expect("wait");
    assert!(!pids_dir.exists(), "cgroup left behind");
}

#[test]
fn cpu_quota_is_applied() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "sleep 100");
    spec.limits = Limits {
        cpus: Some(1.5),
        ..Limits::default()
    };
    let handle = rbuild::sandbox::start(&spec).expect("start");
    let dirs = handle.cgroup().expect("cgroup").hierarchy_dirs();
    let quota = dirs
        .iter()
        .find_map(|(name, dir)| {
            let v1 = std::fs::read_to_string(dir.join("cpu.cfs_quota_us")).ok();
            let v2 = std::fs::read_to_string(dir.join("cpu.max")).ok();
            (name.contains("cpu")).then_some(()).and(v1).or(v2)
        })
        .unwrap_or_else(|| panic!("no cpu controller in {dirs:?}"));
    assert!(
        quota.trim() == "150000" || quota.trim() == "150000 100000",
        "{quota}"
    );
    // The sandbox's processes are in that group.
    let procs_file = dirs
        .iter()
        .map(|(_, d)| d.join("cgroup.procs"))
        .find(|p| p.exists())
        .expect("cgroup.procs");
    let procs = std::fs::read_to_string(procs_file).expect("procs");
    assert!(
        procs.lines().any(|p| p == handle.pid.to_string()),
        "{procs}"
    );
    handle
        .kill(nix::sys::signal::Signal::SIGKILL)
        .expect("kill");
    let outcome = handle.wait().expect("wait");
    assert_eq!(outcome.status, ExitStatus::Signal(9));
    assert!(!dirs.iter().any(|(_, d)| d.exists()), "cgroup left behind");
}

#[test]
fn the_sandbox_sees_its_own_cgroup_read_only() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(
        &root,
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
         echo 1000 > /sys/fs/cgroup/pids/pids.max 2>/dev/null && echo WROTE; \
         echo 1000 > /sys/fs/cgroup/pids.max 2>/dev/null && echo WROTE; true",
    );
    spec.limits = Limits {
        pids: Some(77),
        ..Limits::default()
    };
    let ran = run(&spec);
    assert_eq!(ran.stdout, "77\n", "{}", ran.stderr);
}

/// The init joins its v1 groups itself (a "0" written to `tasks`) and is
/// cloned into its cgroup2 group: every hierarchy must list the init and
/// the processes it started, with or without limits.
#[test]
fn every_process_is_in_every_hierarchy_of_the_group() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    for limits in [
        Limits::default(),
        Limits {
            pids: Some(50),
            memory: Some(256 << 20),
            ..Limits::default()
        },
    ] {
        let mut spec = shell(&root, "sleep 100 & sleep 100");
        spec.limits = limits;
        let handle = rbuild::sandbox::start(&spec).expect("start");
        let dirs = handle.cgroup().expect("cgroup").hierarchy_dirs();
        assert!(!dirs.is_empty());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for (name, dir) in &dirs {
            // sh and its two sleeps appear once sh has forked them.
            let procs = loop {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("procs");
                if procs.lines().count() >= 3 || std::time::Instant::now() > deadline {
                    break procs;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            };
            assert!(
                procs.lines().any(|p| p == handle.pid.to_string()),
                "init {} not in {name} {}: {procs}",
                handle.pid,
                dir.display()
            );
            assert!(procs.lines().count() >= 3, "{name}: {procs}");
        }
        handle
            .kill(nix::sys::signal::Signal::SIGKILL)
            .expect("kill");
        handle.wait().expect("wait");
        assert!(!dirs.iter().any(|(_, d)| d.exists()), "cgroup left behind");
    }
}
