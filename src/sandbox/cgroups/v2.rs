//! The cgroup v2 driver: one directory in the unified hierarchy, controllers
//! enabled through the parents' cgroup.subtree_control. Every path is derived
//! from a root passed in, so the file names and values are unit-tested on a
//! temporary directory tree (the kernel cannot be switched to v2 here).

use super::fs::{self, EMPTY_TIMEOUT};
use super::{CgroupError, CgroupStats, Limits, SwapTotal};
use std::path::{Path, PathBuf};

/// Controllers rbuild enables when the parent offers them (limits + stats).
const WANTED: [&str; 3] = ["cpu", "memory", "pids"];

/// A group at `<parent>/<name>`; `parent` is created if missing.
#[derive(Debug)]
pub struct V2Group {
    pub dir: PathBuf,
}

/// The files and values that express `limits` on v2, in write order.
/// `memory.swap.max` holds swap only (v1 and docker count memory+swap), and
/// follows docker: unset means as much swap as memory, -1 means unlimited.
pub fn settings(limits: &Limits) -> Result<Vec<(&'static str, String)>, CgroupError> {
    let mut out = Vec::new();
    if let Some((memory, swap)) = super::memory_and_swap(limits)? {
        out.push(("memory.max", memory.to_string()));
        let swap_only = match swap {
            SwapTotal::Unlimited => "max".to_string(),
            SwapTotal::Bytes(total) => total.saturating_sub(memory).to_string(),
        };
        out.push(("memory.swap.max", swap_only));
    }
    if let Some((quota, period)) = super::cpu_quota(limits.cpus)? {
        out.push(("cpu.max", format!("{quota} {period}")));
    }
    if let Some(pids) = limits.pids {
        out.push(("pids.max", pids_value(pids)));
    }
    Ok(out)
}

pub fn pids_value(pids: i64) -> String {
    if pids > 0 {
        pids.to_string()
    } else {
        "max".to_string()
    }
}

/// Controllers the limits need, for a clear error when the parent lacks one.
fn needed(limits: &Limits) -> Vec<&'static str> {
    let mut out = Vec::new();
    if limits.memory.is_some() {
        out.push("memory");
    }
    if limits.cpus.is_some() {
        out.push("cpu");
    }
    if limits.pids.is_some() {
        out.push("pids");
    }
    out
}

/// Enables the wanted controllers `dir` offers for its children; errors when
/// a controller a limit needs is not offered.
pub fn enable_controllers(dir: &Path, needed: &[&str]) -> Result<(), CgroupError> {
    let available = fs::read(&dir.join("cgroup.controllers"))?;
    let available: Vec<&str> = available.split_whitespace().collect();
    if let Some(missing) = needed.iter().find(|c| !available.contains(c)) {
        return Err(CgroupError::ControllerMissing {
            controller: missing.to_string(),
            path: dir.to_path_buf(),
        });
    }
    let control = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&control).unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = WANTED
        .iter()
        .filter(|c| available.contains(c) && !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::write(&control, &missing.join(" "))
}

impl V2Group {
    /// Creates `<base>/rbuild/<name>` with limits applied. `base` must offer
    /// the controllers (the hierarchy root, or a delegated subtree).
    pub fn create(base: &Path, name: &str, limits: &Limits) -> Result<V2Group, CgroupError> {
        let settings = settings(limits)?;
        let needed = needed(limits);
        enable_controllers(base, &needed)?;
        let dir = fs::create_group_dir(base, name, |parent| enable_controllers(parent, &needed))?;
        let group = V2Group { dir };
        for (file, value) in settings {
            let path = group.dir.join(file);
            // Swap accounting can be off: only an explicit --memory-swap
            // must then fail.
            if limits.memory_swap.is_none() && file == "memory.swap.max" && !path.exists() {
                continue;
            }
            if let Err(e) = fs::write(&path, &value) {
                let _ = group.destroy();
                return Err(e);
            }
        }
        Ok(group)
    }

    pub fn procs(&self) -> PathBuf {
        fs::procs_file(&self.dir)
    }

    pub fn oom_killed(&self) -> bool {
        fs::keyed_value(&self.dir.join("memory.events"), "oom_kill").is_some_and(|n| n > 0)
    }

    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        let memory_limit = match fs::read(&self.dir.join("memory.max"))?.as_str() {
            "max" => None,
            text => text.parse().ok(),
        };
        Ok(CgroupStats {
            memory_usage: fs::read_u64(&self.dir.join("memory.current"))?,
            memory_limit,
            cpu_usage_ns: fs::keyed_value(&self.dir.join("cpu.stat"), "usage_usec")
                .unwrap_or(0)
                .saturating_mul(1000),
            pids_current: fs::read_u64(&self.dir.join("pids.current")).unwrap_or(0),
        })
    }

    /// cgroup.kill (Linux 5.14+) kills atomically; older kernels get the loop.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() && fs::write(&kill, "1").is_ok() {
            return fs::wait_empty(&self.procs(), EMPTY_TIMEOUT);
        }
        fs::kill_until_empty(&self.procs(), EMPTY_TIMEOUT)
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        let killed = self.kill_all();
        let removed = fs::remove_dir_retry(&self.dir, EMPTY_TIMEOUT);
        if let Some(parent) = self.dir.parent() {
            fs::remove_parent_if_empty(parent);
        }
        killed.and(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root(controllers: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("cgroup.controllers"), controllers).expect("write");
        std::fs::write(root.path().join("cgroup.subtree_control"), "").expect("write");
        root
    }

    #[test]
    fn limits_map_to_v2_files() {
        let limits = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            cpus: Some(1.5),
            pids: Some(64),
        };
        let written = settings(&limits).expect("settings");
        assert_eq!(
            written,
            vec![
                ("memory.max", "67108864".to_string()),
                ("memory.swap.max", "67108864".to_string()),
                ("cpu.max", "150000 100000".to_string()),
                ("pids.max", "64".to_string()),
            ]
        );
        let unlimited_swap = Limits {
            memory: Some(1 << 20),
            memory_swap: Some(-1),
            pids: Some(0),
            ..Limits::default()
        };
        let unlimited = settings(&unlimited_swap).expect("settings");
        assert!(unlimited.contains(&("memory.swap.max", "max".to_string())));
        assert!(unlimited.contains(&("pids.max", "max".to_string())));
    }

    #[test]
    fn create_writes_files_and_enables_controllers() {
        let root = fake_root("cpuset cpu io memory hugetlb pids rdma misc");
        // The kernel creates these on mkdir; a plain directory does not.
        let parent = root.path().join("rbuild");
        std::fs::create_dir(&parent).expect("mkdir");
        std::fs::write(parent.join("cgroup.controllers"), "cpu memory pids").expect("write");
        let limits = Limits {
            memory: Some(1 << 30),
            cpus: Some(0.5),
            pids: Some(100),
            ..Limits::default()
        };
        let group = V2Group::create(root.path(), "job1", &limits).expect("create");
        let read = |p: &Path| std::fs::read_to_string(p).expect("read");
        assert_eq!(
            read(&root.path().join("cgroup.subtree_control")),
            "+cpu +memory +pids"
        );
        assert_eq!(
            read(&parent.join("cgroup.subtree_control")),
            "+cpu +memory +pids"
        );
        assert_eq!(read(&group.dir.join("memory.max")), "1073741824");
        assert_eq!(read(&group.dir.join("cpu.max")), "50000 100000");
        assert_eq!(read(&group.dir.join("pids.max")), "100");
        assert!(!group.dir.join("memory.swap.max").exists());
        std::fs::write(
            group.dir.join("memory.events"),
            "low 0\noom 2\noom_kill 1\n",
        )
        .expect("write");
        assert!(group.oom_killed());
        std::fs::write(group.dir.join("memory.events"), "oom 0\noom_kill 0\n").expect("write");
        assert!(!group.oom_killed());
    }

    #[test]
    fn missing_controller_is_a_clear_error() {
        let root = fake_root("cpu pids");
        let limits = Limits {
            memory: Some(1 << 20),
            ..Limits::default()
        };
        let err = V2Group::create(root.path(), "x", &limits).expect_err("no memory controller");
        assert!(err.to_string().contains("memory"), "{err}");
    }

    #[test]
    fn stats_read_v2_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let group = V2Group {
            dir: dir.path().to_path_buf(),
        };
        std::fs::write(dir.path().join("memory.max"), "max\n").expect("write");
        std::fs::write(dir.path().join("memory.current"), "4096\n").expect("write");
        std::fs::write(dir.path().join("cpu.stat"), "usage_usec 25\nuser_usec 20\n")
            .expect("write");
        std::fs::write(dir.path().join("pids.current"), "3\n").expect("write");
        let stats = group.stats().expect("stats");
        assert_eq!(
            stats,
            CgroupStats {
                memory_usage: 4096,
                memory_limit: None,
                cpu_usage_ns: 25_000,
                pids_current: 3
            }
        );
    }
}
