//! Nothing leaks: after 100 sandboxes (with limits, so each gets a
//! cgroup) the host's mount table and the cgroups of this process are what
//! they were before (only those parts: other users of this shared host
//! change the rest meanwhile) and no child process is left; and a SIGINT to a
//! process running a sandbox kills the sandbox tree and removes its cgroup.

mod common_cg;
mod sandbox_support;

use rbuild::sandbox::cgroups::Limits;
use sandbox_support::{ready, rootfs, run, shell};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const CHILD_ENV: &str = "RBUILD_SANDBOX_SIGINT_CHILD";

/// Every directory of the cgroup filesystems below this process's own
/// groups (where rbuild creates its groups).
fn all_cgroups() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    out.insert(entry.path());
                    walk(&entry.path(), out);
                }
            }
        }
    }
    let mut tree = BTreeSet::new();
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("own cgroup");
    for line in own.lines() {
        let mut fields = line.splitn(3, ':');
        let controllers = fields.nth(1).unwrap_or("");
        let path = fields.next().unwrap_or("/").trim_start_matches('/');
        let mount = match controllers {
            "" => "unified",
            c => c.split(',').next().unwrap_or(c).trim_start_matches("name="),
        };
        for base in [
            Path::new("/sys/fs/cgroup").join(mount),
            PathBuf::from("/sys/fs/cgroup"),
        ] {
            let dir = base.join(path);
            if dir.join("cgroup.procs").exists() {
                walk(&dir, &mut tree);
                break;
            }
        }
    }
    tree
}

/// Mount table lines that could come from a sandbox (its shared mount
/// point and staging dirs, its rootfs), without the per-mount ids. Other
/// users of this shared host may mount unrelated things meanwhile.
fn mounts(rootfs: &Path) -> BTreeSet<String> {
    let rootfs = rootfs.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter(|l| l.contains("rbuild") || l.contains(&rootfs))
        .map(|l| l.split(' ').skip(3).collect::<Vec<_>>().join(" "))
        .collect()
}

/// This process's sandbox cgroups.
fn own_groups() -> BTreeSet<PathBuf> {
    let own = format!("/sandbox-{}-", std::process::id());
    all_cgroups()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&own))
        .collect()
}

fn children_of(pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
        if after.split(' ').nth(1) == Some(&pid.to_string()) {
            found.push(stat);
        }
    }
    found
}

#[test]
fn hundred_runs_leave_no_mounts_cgroups_or_processes() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "sleep 1000 & echo $$");
    spec.limits = Limits {
        memory: Some(256 << 20),
        pids: Some(100),
        ..Limits::default()
    };
    // One run first: the shared mount-point dirs and rbuild's parent
    // cgroup are created once and may stay.
    run(&spec);
    let mounts_before = mounts(&root);
    let cgroups_before = own_groups();
    assert_eq!(cgroups_before, BTreeSet::new());
    // While a sandbox runs, its group exists and its mounts stay private.
    let running = rbuild::sandbox::start(&spec).expect("start");
    assert!(!own_groups().is_empty(), "the sandbox has no cgroup");
    assert_eq!(
        mounts(&root),
        mounts_before,
        "sandbox mounts leak to the host"
    );
    running
        .kill(nix::sys::signal::Signal::SIGKILL)
        .expect("kill");
    running.wait().expect("wait");
    for _ in 0..100 {
        let ran = run(&spec);
        assert!(ran.status().success(), "{}", ran.stderr);
    }
    assert_eq!(mounts(&root), mounts_before, "mount table changed");
    assert_eq!(own_groups(), cgroups_before, "cgroup tree changed");
    assert_eq!(children_of(std::process::id()), Vec::<String>::new());
}

#[test]
fn sigint_kills_the_sandbox_and_removes_its_cgroup() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        // Child side: run a sandbox until the parent interrupts us.
        let mut spec = shell(Path::new(&root), "echo $$ > /dev/null; sleep 1000");
        spec.limits = Limits {
            pids: Some(50),
            ..Limits::default()
        };
        let result = rbuild::sandbox::run(&spec, &mut |_, _| {});
        println!("child result: {result:?}");
        assert!(
            matches!(result, Err(rbuild::sandbox::SandboxError::Interrupted(2))),
            "{result:?}"
        );
        assert_eq!(rbuild::sandbox::interrupted(), Some(2));
        return;
    }
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "sigint_kills_the_sandbox_and_removes_its_cgroup",
            "--nocapture",
        ])
        .env(CHILD_ENV, &root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child");
    let child_pid = child.id();
    // Wait until the sandbox's sleep runs (a grandchild of the child).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut init = None;
    while init.is_none() && std::time::Instant::now() < deadline {
        init = children_of(child_pid)
            .into_iter()
            .find(|stat| stat.contains("(rbuild-init)"))
            .and_then(|stat| stat.split(' ').next().and_then(|p| p.parse::<i32>().ok()));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let init = init.expect("sandbox init never appeared");
    let sleeper = deadline_find(|| children_of(init as u32).into_iter().next());
    let sleeper_pid: i32 = sleeper
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("pid");
    let groups_before = all_cgroups();
    let own = groups_before
        .iter()
        .filter(|p| {
            p.to_string_lossy()
                .contains(&format!("sandbox-{child_pid}-"))
        })
        .count();
    assert!(own > 0, "no cgroup for the sandbox");
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child_pid as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().expect("wait child");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {text}");
    for pid in [init, sleeper_pid] {
        // SAFETY: kill with signal 0 only checks existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "process {pid} survived the interrupt");
    }
    let left = all_cgroups()
        .into_iter()
        .filter(|p| {
            p.to_string_lossy()
                .contains(&format!("sandbox-{child_pid}-"))
        })
        .count();
    assert_eq!(left, 0, "cgroup left behind");
}

fn deadline_find(mut find: impl FnMut() -> Option<String>) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(found) = find() {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A group left behind by a creator that died with SIGKILL (no daemon
/// cleans up after it) is removed by the next sandbox that gets a group;
/// a group whose creator is alive is kept.
#[test]
fn stale_groups_of_dead_creators_are_removed() {
    if !ready() {
        return;
    }
    let limits = Limits {
        pids: Some(100),
        ..Limits::default()
    };
    // Where sandbox groups live, from a probe group of our own.
    let probe = rbuild::sandbox::cgroups::Cgroup::create(
        &format!("stale-probe-{}", std::process::id()),
        &limits,
    )
    .expect("probe cgroup");
    let parents: BTreeSet<PathBuf> = probe
        .hierarchy_dirs()
        .into_iter()
        .filter_map(|(_, d)| d.parent().map(Path::to_path_buf))
        .collect();
    probe.destroy().expect("destroy probe");
    let mut dead = std::process::Command::new("true").spawn().expect("true");
    let dead_pid = dead.id();
    dead.wait().expect("wait");
    let stale: Vec<PathBuf> = parents
        .iter()
        .map(|p| p.join(format!("sandbox-{dead_pid}-7")))
        .collect();
    let alive: Vec<PathBuf> = parents
        .iter()
        .map(|p| p.join(format!("sandbox-{}-9999", std::process::id())))
        .collect();
    for d in stale.iter().chain(&alive) {
        std::fs::create_dir(d).expect("mkdir stale group");
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "true");
    spec.limits = limits;
    assert!(run(&spec).status().success());
    let left: Vec<&PathBuf> = stale.iter().filter(|d| d.exists()).collect();
    let kept = alive.iter().all(|d| d.exists());
    for d in stale.iter().chain(&alive) {
        let _ = std::fs::remove_dir(d);
    }
    assert!(left.is_empty(), "stale groups left: {left:?}");
    assert!(kept, "a live creator's group was removed");
}
