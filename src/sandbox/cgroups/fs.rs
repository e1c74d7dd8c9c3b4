//! Small file operations on cgroupfs with errors that name the file, and the
//! kill/wait/rmdir loops shared by the v1 and v2 drivers.

use super::CgroupError;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long destroy waits for killed processes to leave a group.
pub const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);

pub fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> CgroupError {
    CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

pub fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|e| io_err("write", path, e))
}

pub fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| io_err("read", path, e))
}

pub fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = read(path)?;
    text.parse().map_err(|_| CgroupError::Unexpected {
        path: path.to_path_buf(),
        content: text,
    })
}

/// Value of `key N` in a flat-keyed file such as memory.events, cpu.stat or
/// memory.oom_control.
pub fn keyed_value(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Creates `dir`; an existing empty leftover (from a crashed run with the
/// same name) is removed and recreated, so limits start from defaults.
pub fn create_dir_fresh(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_dir(dir).map_err(|_| CgroupError::AlreadyExists(dir.to_path_buf()))?;
            std::fs::create_dir(dir).map_err(|e| io_err("mkdir", dir, e))
        }
        Err(e) => Err(io_err("mkdir", dir, e)),
    }
}

/// Creates the shared parent (`.../rbuild`); concurrent creators are fine.
pub fn create_parent(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(io_err("mkdir", dir, e)),
        _ => Ok(()),
    }
}

/// Creates `<base>/rbuild/<name>`, calling `prepare_parent` on the shared
/// parent first (v2 enables controllers there). Retried because a
/// concurrent destroy may remove the empty parent between the two mkdirs.
pub fn create_group_dir(
    base: &Path,
    name: &str,
    prepare_parent: impl Fn(&Path) -> Result<(), CgroupError>,
) -> Result<PathBuf, CgroupError> {
    let parent = base.join(super::PARENT_DIR);
    let dir = parent.join(name);
    let mut attempts = 0;
    loop {
        let created = create_parent(&parent)
            .and_then(|()| prepare_parent(&parent))
            .and_then(|()| create_dir_fresh(&dir));
        match created {
            Err(CgroupError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && attempts < 5 =>
            {
                attempts += 1
            }
            other => return other.map(|()| dir),
        }
    }
}

/// Removes the shared parent when it became empty; another group still in it
/// (EBUSY/ENOTEMPTY) is the normal case and not an error.
pub fn remove_parent_if_empty(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}

/// Removes the empty groups in `parent` named `PREFIX<pid>-...` whose
/// `pid` is gone (see `Cgroup::remove_stale_siblings`). Best effort.
pub fn remove_stale_groups(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
            .filter(|&p| p > 0)
        else {
            continue;
        };
        // SAFETY: signal 0 only checks that the pid exists.
        let gone = unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone && pids(&procs_file(&entry.path())).is_empty() {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// The pids listed in a cgroup.procs file (empty when it cannot be read,
/// e.g. the group is already gone).
pub fn pids(procs: &Path) -> Vec<i32> {
    std::fs::read_to_string(procs)
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// SIGKILLs every process listed in `procs` until it stays empty or the
/// timeout passes. Repeated because a process can fork between the read and
/// the kill (the pids limit bounds how long that can go on).
pub fn kill_until_empty(procs: &Path, timeout: Duration) -> Result<(), CgroupError> {
    let deadline = Instant::now() + timeout;
    loop {
        let pids = pids(procs);
        if pids.is_empty() {
            return Ok(());
        }
        for pid in pids {
            // SAFETY: plain syscall; the pid came from the kernel's list of
            // members of a group we own. ESRCH (already gone) is fine.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if Instant::now() > deadline {
            return Err(CgroupError::NotEmpty {
                path: procs.to_path_buf(),
                timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until `procs` lists no process.
pub fn wait_empty(procs: &Path, timeout: Duration) -> Result<(), CgroupError> {
    let deadline = Instant::now() + timeout;
    while !pids(procs).is_empty() {
        if Instant::now() > deadline {
            return Err(CgroupError::NotEmpty {
                path: procs.to_path_buf(),
                timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// rmdir with retries: the kernel answers EBUSY for a short while after the
/// last task exits. A directory that is already gone counts as removed.
pub fn remove_dir_retry(dir: &Path, timeout: Duration) -> Result<(), CgroupError> {
    let deadline = Instant::now() + timeout;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(io_err("rmdir", dir, e)),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

pub fn procs_file(dir: &Path) -> PathBuf {
    dir.join("cgroup.procs")
}
