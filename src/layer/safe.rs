//! Root-confined path handling for applying hostile archives. Archive paths
//! are cleaned lexically (`..` clamped at the root, leading `/` and `.`
//! dropped, like containerd), and every directory is opened with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink anywhere on the way — `a -> /etc`,
//! `a -> ../../..` — resolves inside the root and never outside it. Files are
//! then created with `*at` calls relative to that directory fd.

use super::LayerError;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Splits a raw archive path into clean components: empty and `.` parts are
/// dropped and `..` removes the previous part (never going above the root).
pub fn clean_components(raw: &[u8]) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            p => out.push(OsStr::from_bytes(p).to_os_string()),
        }
    }
    out
}

/// Joins clean components into a relative path.
pub fn join(components: &[OsString]) -> PathBuf {
    components.iter().collect()
}

/// A directory that archive entries are confined to.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens `path` (which the caller trusts) as the confinement root.
    pub fn open(path: &Path) -> Result<Root, LayerError> {
        let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
        let fd = openat2(nix::fcntl::AT_FDCWD, path, how).map_err(|e| LayerError::sys(path, e))?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The root's own path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn resolve(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        openat2(&self.fd, rel, how)
    }

    /// Opens the directory at `components` inside the root. Missing
    /// directories are created (mode 0755) when `create` is set; `Ok(None)`
    /// when one is missing and `create` is not set.
    pub fn open_dir(
        &self,
        components: &[OsString],
        create: bool,
    ) -> Result<Option<OwnedFd>, LayerError> {
        let full = join(components);
        match self.resolve(&full) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(LayerError::sys(self.path.join(&full), e)),
        }
        if !create {
            return Ok(None);
        }
        // Walk down, creating what is missing; each step re-resolves from the root.
        let mut prefix = PathBuf::new();
        let mut fd = self
            .resolve(&prefix)
            .map_err(|e| LayerError::sys(&self.path, e))?;
        for comp in components {
            let next = prefix.join(comp);
            fd = match self.resolve(&next) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    match nix::sys::stat::mkdirat(
                        &fd,
                        comp.as_os_str(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(LayerError::sys(self.path.join(&next), e)),
                    }
                    self.resolve(&next)
                        .map_err(|e| LayerError::sys(self.path.join(&next), e))?
                }
                Err(e) => return Err(LayerError::sys(self.path.join(&next), e)),
            };
            prefix = next;
        }
        Ok(Some(fd))
    }
}

/// A path naming `name` inside the directory `dir_fd` through /proc, for the
/// few calls without an `*at` form (xattrs, recursive removal). The directory
/// part is the fd itself, so nothing on the way is re-resolved; `name` is a
/// single component and is not followed by the `l*` calls used with it.
pub fn proc_path(dir_fd: &OwnedFd, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir_fd.as_raw_fd()));
    if !name.is_empty() {
        p.push(name);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> String {
        join(&clean_components(s.as_bytes())).display().to_string()
    }

    #[test]
    fn cleaning_clamps_at_root() {
        assert_eq!(clean("../../etc/x"), "etc/x");
        assert_eq!(clean("/abs/./y"), "abs/y");
        assert_eq!(clean("a/../../b"), "b");
        assert_eq!(clean("./"), "");
        assert_eq!(clean("a//b/"), "a/b");
    }
}
