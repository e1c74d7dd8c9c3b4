//! Crash-safe file primitives for the store: atomic replace (temp file in the
//! same directory tree, fsync, rename, fsync the directory), flock helpers,
//! and the per-process temp directory whose lock file tells later processes
//! whether its owner is still alive (so stale temp entries can be removed).

use super::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Opens (creating) a lock file.
pub fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io(path, e))
}

/// `flock(2)` on `file` with `op` (`LOCK_SH`, `LOCK_EX`, maybe `| LOCK_NB`).
/// Returns `Ok(false)` when a non-blocking request would block.
pub fn flock(file: &File, op: libc::c_int) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock on a valid open fd has no memory-safety preconditions.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// An exclusive lock held until dropped (closing the file releases it).
pub struct LockGuard {
    _file: File,
}

/// Takes an exclusive lock on `path`, waiting for it.
pub fn lock_exclusive(path: &Path) -> Result<LockGuard, StoreError> {
    let file = open_lock_file(path)?;
    flock(&file, libc::LOCK_EX).map_err(|e| StoreError::io(path, e))?;
    Ok(LockGuard { _file: file })
}

/// fsyncs a directory so a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Renames `from` to `to` and makes it durable.
pub fn durable_rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    fs::rename(from, to).map_err(|e| StoreError::io(to, e))?;
    match to.parent() {
        Some(p) => fsync_dir(p),
        None => Ok(()),
    }
}

/// Makes a finished temp file durable and renames it to `to` (same filesystem).
pub fn persist(tmp: tempfile::NamedTempFile, to: &Path) -> Result<(), StoreError> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| StoreError::io(tmp.path(), e))?;
    tmp.persist(to).map_err(|e| StoreError::io(to, e.error))?;
    match to.parent() {
        Some(p) => fsync_dir(p),
        None => Ok(()),
    }
}

/// Writes `bytes` to `path` atomically: readers see the old or the new file whole.
pub fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp =
        tempfile::NamedTempFile::new_in(tmp_dir).map_err(|e| StoreError::io(tmp_dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| StoreError::io(tmp.path(), e))?;
    persist(tmp, path)
}

/// This process's private directory under the store's `tmp/`, alive while
/// it is flocked (the lock dies with the process, even on kill -9). It is
/// made on first use: a command that writes nothing (a no-op rebuild, `ps`)
/// neither creates nor deletes it.
pub struct ProcessTmp {
    dir: PathBuf,
    /// The flocked dir once created; `None` inside when creating it failed
    /// (then every use fails with an error naming `dir`).
    lock: std::sync::OnceLock<Option<File>>,
}

/// Entries younger than this are never treated as stale: their creator may
/// not have locked them yet.
const STALE_AFTER: Duration = Duration::from_secs(60);

impl ProcessTmp {
    /// Names `tmp/<pid>-<nanos>-<n>/` (created and locked on first use).
    pub fn new(tmp_root: &Path) -> ProcessTmp {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        // The counter keeps two stores opened at once by one process apart.
        static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = tmp_root.join(format!("{}-{nanos}-{n}", std::process::id()));
        ProcessTmp {
            dir,
            lock: std::sync::OnceLock::new(),
        }
    }

    /// The directory, created and locked if this is its first use.
    pub fn path(&self) -> &Path {
        self.lock.get_or_init(|| {
            let created = fs::create_dir(&self.dir).and_then(|()| {
                let lock = File::open(&self.dir)?;
                flock(&lock, libc::LOCK_EX)?;
                Ok(lock)
            });
            created
                .inspect_err(|e| log::warn!("{}: {e}", self.dir.display()))
                .ok()
        });
        &self.dir
    }
}

impl Drop for ProcessTmp {
    fn drop(&mut self) {
        if matches!(self.lock.get(), Some(Some(_))) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes entries under `tmp_root` whose owning process is gone (unlocked
/// and older than a minute). Returns how many were removed.
pub fn clean_stale_tmp(tmp_root: &Path) -> Result<usize, StoreError> {
    let mut removed = 0;
    let rd = fs::read_dir(tmp_root).map_err(|e| StoreError::io(tmp_root, e))?;
    let now = SystemTime::now();
    for entry in rd.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age < STALE_AFTER {
            continue;
        }
        if meta.is_dir() {
            let Ok(dir) = File::open(&path) else { continue };
            if flock(&dir, libc::LOCK_EX | libc::LOCK_NB).unwrap_or(false)
                && fs::remove_dir_all(&path).is_ok()
            {
                removed += 1;
            }
        } else if fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
