//! Deferred deletion of a removed container's directory (records, log,
//! overlay upper and work dirs): it is renamed into `STORE/trash/` (one
//! atomic step: the container is gone for `ps`, names and ID prefixes at
//! once) and deleted by a detached `rm -rf`, so `rm` and `run --rm` do not
//! wait while the filesystem frees every block (on an ext4 mounted with
//! `discard`, each freed block can be a synchronous discard request).
//! What a killed remover leaves is deleted once older than a minute.
//!
//! It does not decide what to remove, and never follows symlinks (rm -rf
//! and remove_dir_all do not).

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Entries younger than this may still be in the hands of their remover.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Removes `dir` (a missing one is fine): moved into `trash` and deleted in
/// the background, or deleted here when it cannot be moved or no `rm` can
/// be started.
pub fn remove_dir(trash: &Path, dir: &Path) -> std::io::Result<()> {
    let Some(name) = dir.file_name() else {
        return fs::remove_dir_all(dir);
    };
    if let Err(e) = fs::create_dir_all(trash) {
        log::debug!("no trash dir {}: {e}", trash.display());
        return remove_now(dir);
    }
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let target = trash.join(format!(
        "{}-{}-{nanos}",
        name.to_string_lossy(),
        std::process::id()
    ));
    match fs::rename(dir, &target) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        // Another filesystem, or a permission problem: the slow way.
        Err(_) => return remove_now(dir),
    }
    if !spawn_remover(&target) {
        return remove_now(&target);
    }
    Ok(())
}

fn remove_now(dir: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Starts a detached `rm -rf -- target` (own process group, stdio on
/// /dev/null, empty environment) without waiting for it to exec: a
/// posix_spawn (what std's Command does) blocks until the child's execve
/// is done, which takes milliseconds when the CPUs are busy. The child is
/// a fork-like raw clone (no glibc fork handlers, this process is
/// multi-threaded) that only makes async-signal-safe calls; it is reaped
/// on a thread while this process lives.
fn spawn_remover(target: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let Some(rm) = ["/usr/bin/rm", "/bin/rm"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        return false;
    };
    let (Ok(path), Ok(target)) = (
        CString::new(rm),
        CString::new(target.as_os_str().as_bytes()),
    ) else {
        return false;
    };
    let argv = [
        path.as_ptr(),
        c"-rf".as_ptr(),
        c"--".as_ptr(),
        target.as_ptr(),
        std::ptr::null(),
    ];
    let envp = [std::ptr::null::<libc::c_char>()];
    let Ok(null) = fs::File::options().read(true).write(true).open("/dev/null") else {
        return false;
    };
    let null = std::os::fd::AsRawFd::as_raw_fd(&null);
    // No handler of ours may run in the child before execve: signals stay
    // blocked around the clone, and the child clears its mask itself.
    let old = crate::sandbox::block_all_signals();
    let pid = crate::sandbox::clone_process(0);
    if let Ok(0) = pid {
        // SAFETY: the child of a fork-like clone of this (multi-threaded)
        // process makes only async-signal-safe calls before execve; argv
        // and envp are its copies of this memory.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::setpgid(0, 0);
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    crate::sandbox::restore_signals(&old);
    let pid = match pid {
        Ok(pid) => pid,
        Err(e) => {
            log::debug!("starting rm: {e}");
            return false;
        }
    };
    std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    });
    true
}

/// Deletes trash entries older than a minute (their remover was killed).
pub fn remove_stale(trash: &Path) {
    let Ok(entries) = fs::read_dir(trash) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old {
            let _ = remove_now(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_dirs_vanish_at_once_and_are_deleted() {
        let tmp = tempfile::tempdir().expect("tmp");
        let trash = tmp.path().join("trash");
        let dir = tmp.path().join("c1");
        fs::create_dir_all(dir.join("upper/etc")).expect("mkdir");
        fs::write(dir.join("state.json"), "{}").expect("write");
        remove_dir(&trash, &dir).expect("remove");
        assert!(!dir.exists());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fs::read_dir(&trash).expect("trash").count() > 0 {
            assert!(std::time::Instant::now() < deadline, "trash not emptied");
            std::thread::sleep(Duration::from_millis(10));
        }
        // A missing directory is not an error.
        remove_dir(&trash, &dir).expect("remove again");
    }

    #[test]
    fn only_old_trash_is_stale() {
        let tmp = tempfile::tempdir().expect("tmp");
        let fresh = tmp.path().join("fresh");
        fs::create_dir_all(fresh.join("x")).expect("mkdir");
        remove_stale(tmp.path());
        assert!(fresh.exists());
    }
}
