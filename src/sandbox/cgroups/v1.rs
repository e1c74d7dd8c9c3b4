//! The cgroup v1 driver (also used for the hybrid layout): one directory per
//! controller hierarchy, plus one in the cgroup2 mount when there is one so a
//! cgroup namespace of the sandbox sees a consistent unified view.
//!
//! The freezer controller, when mounted, makes kill_all race-free: the group
//! is frozen, every member gets SIGKILL, then it is thawed so they can die.

use super::fs::{self, EMPTY_TIMEOUT};
use super::{CgroupError, CgroupStats, Limits, SwapTotal};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A group: controller name -> directory, and the unified directory if any.
#[derive(Debug)]
pub struct V1Group {
    pub dirs: BTreeMap<String, PathBuf>,
    pub unified: Option<PathBuf>,
}

/// (controller, file, value) writes that express `limits` on v1, in order.
/// memory.memsw.limit_in_bytes is memory+swap like docker's --memory-swap and
/// must come after memory.limit_in_bytes (the kernel keeps memsw >= memory).
pub fn settings(limits: &Limits) -> Result<Vec<(&'static str, &'static str, String)>, CgroupError> {
    let mut out = Vec::new();
    if let Some((memory, swap)) = super::memory_and_swap(limits)? {
        out.push(("memory", "memory.limit_in_bytes", memory.to_string()));
        let total = match swap {
            SwapTotal::Unlimited => "-1".to_string(),
            SwapTotal::Bytes(total) => total.to_string(),
        };
        out.push(("memory", "memory.memsw.limit_in_bytes", total));
    }
    if let Some((quota, period)) = super::cpu_quota(limits.cpus)? {
        out.push(("cpu", "cpu.cfs_period_us", period.to_string()));
        out.push(("cpu", "cpu.cfs_quota_us", quota.to_string()));
    }
    if let Some(pids) = limits.pids {
        out.push(("pids", "pids.max", super::v2::pids_value(pids)));
    }
    Ok(out)
}

impl V1Group {
    /// Creates `<own>/rbuild/<name>` in every mounted controller of
    /// `controllers` (and in `unified`), then applies the limits.
    pub fn create(
        controllers: &BTreeMap<String, PathBuf>,
        unified: Option<&Path>,
        name: &str,
        limits: &Limits,
    ) -> Result<V1Group, CgroupError> {
        let settings = settings(limits)?;
        if let Some((controller, _, _)) = settings
            .iter()
            .find(|(c, _, _)| !controllers.contains_key(*c))
        {
            return Err(CgroupError::ControllerMissing {
                controller: controller.to_string(),
                path: PathBuf::from("/proc/self/mountinfo"),
            });
        }
        let mut group = V1Group {
            dirs: BTreeMap::new(),
            unified: None,
        };
        // On any failure the partial group is removed by destroy.
        let result = (|| {
            for (controller, own) in controllers {
                let dir = fs::create_group_dir(own, name, |_| Ok(()))?;
                group.dirs.insert(controller.clone(), dir);
            }
            if let Some(own) = unified {
                group.unified = Some(fs::create_group_dir(own, name, |_| Ok(()))?);
            }
            for (controller, file, value) in &settings {
                let Some(dir) = group.dirs.get(*controller) else {
                    continue;
                };
                let path = dir.join(file);
                // Swap accounting can be off (no memsw files): only an
                // explicit --memory-swap must then fail.
                if limits.memory_swap.is_none() && file.contains("memsw") && !path.exists() {
                    continue;
                }
                fs::write(&path, value)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(group),
            Err(e) => {
                let _ = group.destroy();
                Err(e)
            }
        }
    }

    pub fn procs_paths(&self) -> Vec<PathBuf> {
        self.dirs
            .values()
            .chain(self.unified.iter())
            .map(|d| fs::procs_file(d))
            .collect()
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    /// memory.oom_control has counted kills ("oom_kill N") since Linux 4.13;
    /// older kernels only say whether the group is currently under OOM.
    pub fn oom_killed(&self) -> bool {
        let Some(memory) = self.dir("memory") else {
            return false;
        };
        let control = memory.join("memory.oom_control");
        match fs::keyed_value(&control, "oom_kill") {
            Some(kills) => kills > 0,
            None => fs::keyed_value(&control, "under_oom").is_some_and(|n| n > 0),
        }
    }

    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        let mut stats = CgroupStats::default();
        if let Some(memory) = self.dir("memory") {
            stats.memory_usage = fs::read_u64(&memory.join("memory.usage_in_bytes"))?;
            // The kernel reports "unlimited" as i64::MAX rounded down to the
            // page size (which varies); no real limit comes near 2^62.
            let limit = fs::read_u64(&memory.join("memory.limit_in_bytes"))?;
            stats.memory_limit = (limit < 1 << 62).then_some(limit);
        }
        if let Some(cpuacct) = self.dir("cpuacct") {
            stats.cpu_usage_ns = fs::read_u64(&cpuacct.join("cpuacct.usage"))?;
        }
        if let Some(pids) = self.dir("pids") {
            stats.pids_current = fs::read_u64(&pids.join("pids.current"))?;
        }
        Ok(stats)
    }

    pub fn kill_all(&self) -> Result<(), CgroupError> {
        // Any controller's cgroup.procs lists every member: all hierarchies
        // got the same pids via add_pid.
        let Some(procs) = self.procs_paths().into_iter().next() else {
            return Ok(());
        };
        if fs::pids(&procs).is_empty() {
            return Ok(());
        }
        let Some(freezer) = self.dir("freezer") else {
            return fs::kill_until_empty(&procs, EMPTY_TIMEOUT);
        };
        let state = freezer.join("freezer.state");
        let frozen = fs::write(&state, "FROZEN").is_ok() && wait_frozen(&state);
        for pid in fs::pids(&procs) {
            // SAFETY: plain syscall on a pid listed as a member of our group.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if frozen {
            let _ = fs::write(&state, "THAWED");
        }
        fs::kill_until_empty(&procs, EMPTY_TIMEOUT)
    }

    pub fn destroy(&self) -> Result<(), CgroupError> {
        let killed = self.kill_all();
        let mut removed = Ok(());
        for dir in self.dirs.values().chain(self.unified.iter()) {
            let result = fs::remove_dir_retry(dir, EMPTY_TIMEOUT);
            if let Some(parent) = dir.parent() {
                fs::remove_parent_if_empty(parent);
            }
            removed = removed.and(result);
        }
        killed.and(removed)
    }
}

/// Freezing is asynchronous on v1: FREEZING until every task stopped.
fn wait_frozen(state: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if fs::read(state).is_ok_and(|s| s == "FROZEN") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_map_to_v1_files() {
        let limits = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            cpus: Some(1.5),
            pids: Some(64),
        };
        let written = settings(&limits).expect("settings");
        assert_eq!(
            written,
            vec![
                ("memory", "memory.limit_in_bytes", "67108864".to_string()),
                ("memory", "memory.memsw.limit_in_bytes", "-1".to_string()),
                ("cpu", "cpu.cfs_period_us", "100000".to_string()),
                ("cpu", "cpu.cfs_quota_us", "150000".to_string()),
                ("pids", "pids.max", "64".to_string()),
            ]
        );
    }
}
