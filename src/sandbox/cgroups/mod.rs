//! Resource limits for sandboxed processes through Linux control groups.
//!
//! [`Cgroup::create`] detects at run time whether the host uses cgroup v2,
//! v1 or the hybrid layout (v1 controllers plus a mostly empty cgroup2 mount)
//! and creates `<own cgroup>/rbuild/<name>` (v1, nested under this process's
//! cgroup in each hierarchy so outer limits keep applying) or
//! `<v2 root or delegated subtree>/rbuild/<name>` (v2). It applies docker's
//! `--memory`, `--memory-swap`, `--cpus` and `--pids-limit`, reports OOM kills
//! and usage, and removes every directory on destroy or drop.
//!
//! It does not launch processes (the sandbox core adds pids), nor set
//! devices/blkio/cpuset limits.

mod fs;
pub mod layout;
mod memory;
mod v1;
mod v2;

pub use memory::parse_memory;

use layout::Layout;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the directory that groups all rbuild groups under a parent.
const PARENT_DIR: &str = "rbuild";

/// CFS period used for `--cpus` (docker's).
const CPU_PERIOD_US: u64 = 100_000;

/// Resource limits in docker's units: bytes, bytes of memory+swap (-1 for
/// unlimited swap), CPUs (fractional), and a pid count (<= 0 for unlimited).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub memory: Option<u64>,
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

impl Limits {
    /// True when no limit is requested (the caller may skip cgroups).
    pub fn is_empty(&self) -> bool {
        self == &Limits::default()
    }
}

/// Usage figures for `rbuild stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub memory_usage: u64,
    pub memory_limit: Option<u64>,
    pub cpu_usage_ns: u64,
    pub pids_current: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup filesystem is mounted (nothing of type cgroup or cgroup2 in /proc/self/mountinfo); mount one or run without resource limits")]
    NotMounted,
    /// Limits cannot be applied as this user; callers may turn this into a
    /// warning and run without limits.
    #[error("cannot apply resource limits rootless here: {reason}")]
    RootlessUnsupported { reason: String },
    #[error(
        "invalid cgroup name {0:?}: use letters, digits, '-', '_' and '.', at most 200 characters"
    )]
    InvalidName(String),
    #[error("invalid memory size {input:?}: {reason} (examples: 1048576, 512k, 64m, 1.5g)")]
    InvalidMemory { input: String, reason: String },
    #[error("invalid resource limit: {0}")]
    InvalidLimit(String),
    #[error("the {controller} cgroup controller is not available (checked {path}); this limit cannot be applied on this host")]
    ControllerMissing { controller: String, path: PathBuf },
    #[error("cgroup {0} already exists and is in use; pick another name")]
    AlreadyExists(PathBuf),
    #[error("processes in {path} did not exit within {timeout:?} of SIGKILL")]
    NotEmpty { path: PathBuf, timeout: Duration },
    #[error("unexpected content {content:?} in {path}")]
    Unexpected { path: PathBuf, content: String },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Memory+swap (docker's `--memory-swap` meaning) to apply with a memory
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SwapTotal {
    Unlimited,
    Bytes(u64),
}

/// Validates docker's memory flags: swap needs memory, must be at least
/// memory or -1; unset means as much swap as memory (a 2x total).
fn memory_and_swap(limits: &Limits) -> Result<Option<(u64, SwapTotal)>, CgroupError> {
    let Some(memory) = limits.memory else {
        if matches!(limits.memory_swap, Some(s) if s != -1) {
            return Err(CgroupError::InvalidLimit(
                "--memory-swap needs --memory to be set as well".into(),
            ));
        }
        return Ok(None);
    };
    let swap = match limits.memory_swap {
        Some(-1) => SwapTotal::Unlimited,
        Some(total) => SwapTotal::Bytes(
            u64::try_from(total)
                .ok()
                .filter(|t| *t >= memory)
                .ok_or_else(|| {
                    CgroupError::InvalidLimit(format!(
                        "--memory-swap ({total}) must be at least --memory ({memory}), or -1 for unlimited swap"
                    ))
                })?,
        ),
        None => SwapTotal::Bytes(memory.saturating_mul(2)),
    };
    Ok(Some((memory, swap)))
}

/// `--cpus` as a CFS (quota, period) pair: 1.5 CPUs = 150000/100000 µs.
fn cpu_quota(cpus: Option<f64>) -> Result<Option<(u64, u64)>, CgroupError> {
    let Some(cpus) = cpus else { return Ok(None) };
    if !cpus.is_finite() || cpus <= 0.0 || cpus > 1_000_000.0 {
        return Err(CgroupError::InvalidLimit(format!(
            "--cpus {cpus} must be a positive number of CPUs such as 0.5 or 2"
        )));
    }
    // At least 1 ms per period: the kernel refuses smaller quotas.
    let quota = ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000);
    Ok(Some((quota, CPU_PERIOD_US)))
}

#[derive(Debug)]
enum Driver {
    V1(v1::V1Group),
    V2(v2::V2Group),
}

/// A control group owned by this process; dropped groups are destroyed
/// (their processes killed and directories removed) on a best-effort basis.
#[derive(Debug)]
pub struct Cgroup {
    driver: Option<Driver>,
    memory_limit: Option<u64>,
}

impl Cgroup {
    /// Creates the group `name` with `limits` applied, in whatever cgroup
    /// layout this host uses.
    pub fn create(name: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        validate_name(name)?;
        let layout = layout::detect_current()
            .map_err(|e| fs::io_err("read", Path::new("/proc/self/mountinfo"), e))?
            .ok_or(CgroupError::NotMounted)?;
        let rootless = !is_root();
        let driver = match layout {
            Layout::Legacy {
                controllers,
                unified,
            } => {
                if rootless {
                    return Err(CgroupError::RootlessUnsupported {
                        reason: "this host uses cgroup v1, which only root can write; run as root or on a cgroup v2 host with a delegated (systemd user) subtree".into(),
                    });
                }
                Driver::V1(v1::V1Group::create(
                    &controllers,
                    unified.as_deref(),
                    name,
                    limits,
                )?)
            }
            Layout::Unified { mount, own } => {
                let base = if rootless {
                    delegated_v2_base(&mount, &own)?
                } else {
                    mount
                };
                Driver::V2(v2::V2Group::create(&base, name, limits)?)
            }
        };
        Ok(Cgroup {
            driver: Some(driver),
            memory_limit: limits.memory,
        })
    }

    /// Creates a v2 group under an explicit hierarchy root (or delegated
    /// subtree) instead of the detected one; used to test the v2 driver on
    /// a directory tree and by callers that manage their own subtree.
    pub fn create_v2_under(
        root: &Path,
        name: &str,
        limits: &Limits,
    ) -> Result<Cgroup, CgroupError> {
        validate_name(name)?;
        Ok(Cgroup {
            driver: Some(Driver::V2(v2::V2Group::create(root, name, limits)?)),
            memory_limit: limits.memory,
        })
    }

    /// Moves `pid` (and its future children) into the group. Do it before
    /// the process unshares its cgroup namespace, whose root is the group
    /// the process is in at that moment.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for procs in self.procs_paths() {
            fs::write(&procs, &pid.to_string())?;
        }
        Ok(())
    }

    /// The cgroup2 directory of the group (the unified one on hybrid
    /// hosts), for a child created in it with clone3's CLONE_INTO_CGROUP.
    pub fn v2_dir(&self) -> Option<&Path> {
        match &self.driver {
            Some(Driver::V1(g)) => g.unified.as_deref(),
            Some(Driver::V2(g)) => Some(&g.dir),
            None => None,
        }
    }

    /// The v1 `tasks` files a single-threaded process joins by writing "0"
    /// (itself) into: recent kernels then skip the global lock whose RCU
    /// grace period makes a cgroup.procs write of a pid take ~10 ms
    /// (measured on 6.18: 0.7 ms against 7 ms); older ones take it anyway.
    pub fn v1_task_files(&self) -> Vec<PathBuf> {
        match &self.driver {
            Some(Driver::V1(g)) => g.dirs.values().map(|d| d.join("tasks")).collect(),
            _ => Vec::new(),
        }
    }

    /// Moves `pid` into the cgroup2 directory of the group only (what is
    /// left to do after a [`v1_task_files`](Self::v1_task_files) join).
    pub fn add_pid_v2(&self, pid: i32) -> Result<(), CgroupError> {
        match self.v2_dir() {
            Some(dir) => fs::write(&fs::procs_file(dir), &pid.to_string()),
            None => Ok(()),
        }
    }

    /// Every cgroup.procs file a process must be written to in order to
    /// join this group (one per v1 hierarchy, one on v2); for `exec`.
    pub fn procs_paths(&self) -> Vec<PathBuf> {
        match &self.driver {
            Some(Driver::V1(g)) => g.procs_paths(),
            Some(Driver::V2(g)) => vec![g.procs()],
            None => Vec::new(),
        }
    }

    /// The group's directories as (hierarchy, path): one per v1 controller
    /// ("memory", "cpu", ...) plus "unified" for the cgroup2 one on hybrid
    /// hosts, or a single ("unified", dir) on v2. For mounting a container's
    /// own view of /sys/fs/cgroup.
    pub fn hierarchy_dirs(&self) -> Vec<(String, PathBuf)> {
        match &self.driver {
            Some(Driver::V1(g)) => g
                .dirs
                .iter()
                .map(|(c, d)| (c.clone(), d.clone()))
                .chain(g.unified.iter().map(|d| ("unified".to_string(), d.clone())))
                .collect(),
            Some(Driver::V2(g)) => vec![("unified".to_string(), g.dir.clone())],
            None => Vec::new(),
        }
    }

    /// True when the kernel OOM-killed a process of this group.
    pub fn oom_killed(&self) -> bool {
        match &self.driver {
            Some(Driver::V1(g)) => g.oom_killed(),
            Some(Driver::V2(g)) => g.oom_killed(),
            None => false,
        }
    }

    /// The memory limit that was requested, for "killed: out of memory
    /// (limit 64 MiB)".
    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    /// "killed: out of memory (limit 64 MiB)" once the kernel OOM-killed a
    /// process of this group; what the sandbox prints before exiting 137.
    pub fn oom_message(&self) -> Option<String> {
        if !self.oom_killed() {
            return None;
        }
        Some(match self.memory_limit {
            Some(limit) => format!("killed: out of memory (limit {})", format_bytes(limit)),
            None => "killed: out of memory".to_string(),
        })
    }

    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        match &self.driver {
            Some(Driver::V1(g)) => g.stats(),
            Some(Driver::V2(g)) => g.stats(),
            None => Ok(CgroupStats::default()),
        }
    }

    /// SIGKILLs every process in the group and waits until it is empty.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        match &self.driver {
            Some(Driver::V1(g)) => g.kill_all(),
            Some(Driver::V2(g)) => g.kill_all(),
            None => Ok(()),
        }
    }

    /// Removes the empty groups beside this one that are named
    /// `PREFIX<pid>-...` after a process that no longer exists: what a
    /// creator killed with SIGKILL (or a lost monitor) left behind, since
    /// no daemon cleans up after it. A group that still has members, or
    /// whose creator is alive, is kept (rmdir fails on a non-empty group).
    pub fn remove_stale_siblings(&self, prefix: &str) {
        for (_, dir) in self.hierarchy_dirs() {
            if let Some(parent) = dir.parent() {
                fs::remove_stale_groups(parent, prefix);
            }
        }
    }

    /// Kills what is left, waits for the group to empty and removes its
    /// directories (and the shared parent when it became empty).
    pub fn destroy(mut self) -> Result<(), CgroupError> {
        self.destroy_inner()
    }

    fn destroy_inner(&mut self) -> Result<(), CgroupError> {
        match self.driver.take() {
            Some(Driver::V1(g)) => g.destroy(),
            Some(Driver::V2(g)) => g.destroy(),
            None => Ok(()),
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Err(e) = self.destroy_inner() {
            log::warn!("removing cgroup on drop: {e}");
        }
    }
}

/// Binary-unit size for messages: "64 MiB", "1.5 GiB", "512 B".
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let unit_name = UNITS.get(unit).copied().unwrap_or("B");
    if value.fract() == 0.0 {
        format!("{value:.0} {unit_name}")
    } else {
        let text = format!("{value:.2}");
        format!(
            "{} {unit_name}",
            text.trim_end_matches('0').trim_end_matches('.')
        )
    }
}

/// Group names become directory names: keep them to one safe component.
fn validate_name(name: &str) -> Result<(), CgroupError> {
    let valid = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(CgroupError::InvalidName(name.to_string()))
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// For a rootless v2 user (`mount` the cgroup2 mount point, `own` this
/// process's cgroup directory): the topmost ancestor of our own cgroup (below the
/// mount) that we may write, i.e. systemd's delegated `user@UID.service`.
/// Our own cgroup holds processes, so controllers cannot be enabled below it.
pub fn delegated_v2_base(mount: &Path, own: &Path) -> Result<PathBuf, CgroupError> {
    let writable = |dir: &Path| {
        let control = dir.join("cgroup.subtree_control");
        std::ffi::CString::new(control.as_os_str().as_encoded_bytes())
            // SAFETY: access only reads the NUL-terminated path.
            .map(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
            .unwrap_or(false)
    };
    own.ancestors()
        .filter(|dir| dir.starts_with(mount) && *dir != mount && *dir != own)
        .filter(|dir| writable(dir))
        .last()
        .map(Path::to_path_buf)
        .ok_or_else(|| CgroupError::RootlessUnsupported {
            reason: format!(
                "no delegated cgroup v2 subtree above {} is writable by this user (systemd delegates user@UID.service when the user session runs systemd --user)",
                own.display()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_become_cfs_quota() {
        assert_eq!(
            cpu_quota(Some(1.5)).expect("quota"),
            Some((150_000, 100_000))
        );
        assert_eq!(
            cpu_quota(Some(0.0001)).expect("quota"),
            Some((1000, 100_000))
        );
        assert_eq!(cpu_quota(None).expect("quota"), None);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(cpu_quota(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn swap_rules_follow_docker() {
        let limits = |memory, memory_swap| Limits {
            memory,
            memory_swap,
            ..Limits::default()
        };
        let ok = |l: Limits| memory_and_swap(&l).expect("valid");
        assert_eq!(ok(limits(Some(10), None)), Some((10, SwapTotal::Bytes(20))));
        assert_eq!(
            ok(limits(Some(10), Some(-1))),
            Some((10, SwapTotal::Unlimited))
        );
        assert_eq!(
            ok(limits(Some(10), Some(10))),
            Some((10, SwapTotal::Bytes(10)))
        );
        assert_eq!(ok(limits(None, Some(-1))), None);
        for bad in [
            limits(Some(10), Some(9)),
            limits(Some(10), Some(-2)),
            limits(None, Some(5)),
        ] {
            assert!(
                matches!(memory_and_swap(&bad), Err(CgroupError::InvalidLimit(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes_for_messages() {
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1000 << 10), "1000 KiB");
        assert_eq!(format_bytes(u64::MAX), "16384 PiB");
    }

    #[test]
    fn names_are_single_safe_components() {
        assert!(validate_name("build-1_step.2").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b", "ü"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn v2_group_under_explicit_root_is_removed_on_drop() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("cgroup.controllers"), "memory pids").expect("write");
        std::fs::create_dir(root.path().join(PARENT_DIR)).expect("mkdir");
        std::fs::write(
            root.path().join(PARENT_DIR).join("cgroup.controllers"),
            "memory pids",
        )
        .expect("write");
        let limits = Limits {
            pids: Some(10),
            ..Limits::default()
        };
        let group = Cgroup::create_v2_under(root.path(), "t", &limits).expect("create");
        let dir = root.path().join(PARENT_DIR).join("t");
        assert_eq!(
            std::fs::read_to_string(dir.join("pids.max")).expect("read"),
            "10"
        );
        assert_eq!(group.procs_paths(), vec![dir.join("cgroup.procs")]);
        // A plain directory with files cannot be rmdir'ed like cgroupfs
        // allows; remove the files so drop's rmdir can succeed.
        std::fs::remove_file(dir.join("pids.max")).expect("rm");
        drop(group);
        assert!(!dir.exists());
    }
}
