//! `cp` between a container and the host. Every path inside the container
//! is resolved with `openat2(RESOLVE_IN_ROOT)` against the container's root
//! (the live root /proc/PID/root of a running container; for a stopped one
//! its upper dir, then its image layers top first), so a symlink in the
//! container can never lead outside it; copies into a container go through
//! the hostile-safe layer unpacker. A stopped container is read from the
//! first layer holding the path (whiteouts below it are not merged).

use super::volumes;
use super::RunnerError;
use crate::layer::{unpack_layer, UnpackMode, UnpackOptions};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use std::ffi::OsString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("Could not find the file {0} in container {1}")]
    NotFound(String, String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("copying into the container: {0}")]
    Unpack(String),
}

fn io(path: impl AsRef<Path>, e: impl Into<std::io::Error>) -> CopyError {
    CopyError::Io {
        path: path.as_ref().display().to_string(),
        source: e.into(),
    }
}

/// `path` inside the container as clean relative components.
fn rel(path: &str) -> PathBuf {
    let comps: Vec<OsString> = crate::layer::safe::clean_components(path.as_bytes());
    let p: PathBuf = comps.iter().collect();
    if p.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        p
    }
}

/// Opens `inside` under `root` without leaving it; the last component is
/// not followed (a symlink is copied as a symlink, as docker does).
fn open_in_root(root: &Path, inside: &Path) -> Result<Option<OwnedFd>, CopyError> {
    open_in_root_with(root, inside, OFlag::O_NOFOLLOW)
}

fn open_in_root_with(
    root: &Path,
    inside: &Path,
    extra: OFlag,
) -> Result<Option<OwnedFd>, CopyError> {
    let root_fd = openat2(
        nix::fcntl::AT_FDCWD,
        root,
        OpenHow::new().flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC),
    )
    .map_err(|e| io(root, e))?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | extra)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(&root_fd, inside, how) {
        Ok(fd) => Ok(Some(fd)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(io(root.join(inside), e)),
    }
}

/// Where a copy lands on a destination: into an existing directory under
/// the source's base name, else at the destination itself.
fn destination(dst: &Path, src_name: &std::ffi::OsStr) -> PathBuf {
    if dst.is_dir() {
        dst.join(src_name)
    } else {
        dst.to_path_buf()
    }
}

/// Copies `src` (inside the container) to `dst` on the host, looking in
/// `roots` in order. `container` names the container in errors.
pub fn copy_out(
    roots: &[PathBuf],
    src: &str,
    dst: &Path,
    container: &str,
) -> Result<(), CopyError> {
    let inside = rel(src);
    for root in roots {
        let Some(fd) = open_in_root(root, &inside)? else {
            continue;
        };
        let name = inside
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| OsString::from("root"));
        let target = destination(dst, &name);
        let magic = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let st = nix::sys::stat::fstat(&fd).map_err(|e| io(&magic, e))?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                fs::create_dir_all(&target).map_err(|e| io(&target, e))?;
                volumes::copy_tree(&magic, &target)
                    .map_err(|e| io(&target, std::io::Error::other(e.to_string())))?;
            }
            libc::S_IFLNK => {
                let link = nix::fcntl::readlinkat(&fd, "").map_err(|e| io(&magic, e))?;
                let _ = fs::remove_file(&target);
                std::os::unix::fs::symlink(&link, &target).map_err(|e| io(&target, e))?;
            }
            libc::S_IFREG => {
                fs::copy(&magic, &target).map_err(|e| io(&target, e))?;
            }
            _ => {
                return Err(io(
                    &inside,
                    std::io::Error::other("not a file, directory or symlink"),
                ))
            }
        }
        return Ok(());
    }
    Err(CopyError::NotFound(src.to_string(), container.to_string()))
}

/// Copies host `src` into the container at `dst` (under `root`: the live
/// root or the upper dir).
pub fn copy_in(src: &Path, root: &Path, dst: &str) -> Result<(), CopyError> {
    let meta = fs::symlink_metadata(src).map_err(|e| io(src, e))?;
    let inside = rel(dst);
    // A destination that is a symlink to a directory counts as that directory.
    let is_dir = match open_in_root_with(root, &inside, OFlag::empty())? {
        Some(fd) => nix::sys::stat::fstat(&fd)
            .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .unwrap_or(false),
        None => false,
    };
    let src_name = src
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| OsString::from("."));
    let target = if is_dir {
        inside.join(&src_name)
    } else {
        inside
    };
    let mut tar = tar::Builder::new(tempfile::tempfile().map_err(|e| io("temp file", e))?);
    tar.follow_symlinks(false);
    let added = if meta.is_dir() {
        tar.append_dir_all(&target, src)
    } else {
        tar.append_path_with_name(src, &target)
    };
    added.map_err(|e| io(src, e))?;
    let mut file = tar.into_inner().map_err(|e| io(src, e))?;
    std::io::Seek::rewind(&mut file).map_err(|e| io(src, e))?;
    let opts = UnpackOptions {
        mode: UnpackMode::Flatten,
        ..Default::default()
    };
    unpack_layer(std::io::BufReader::new(file), root, &opts)
        .map_err(|e| CopyError::Unpack(e.to_string()))?;
    Ok(())
}

impl From<CopyError> for RunnerError {
    fn from(e: CopyError) -> RunnerError {
        RunnerError::Copy(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_in_the_container_stay_inside() {
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path().join("root");
        fs::create_dir_all(root.join("etc")).expect("mk");
        fs::write(root.join("etc/secret"), "container\n").expect("w");
        // An absolute link that would point at the host's /etc on the host.
        std::os::unix::fs::symlink("/etc", root.join("hostetc")).expect("ln");
        let out = d.path().join("out");
        copy_out(std::slice::from_ref(&root), "/hostetc/secret", &out, "c").expect("copy out");
        assert_eq!(
            fs::read_to_string(&out).ok().as_deref(),
            Some("container\n")
        );
        let err = copy_out(std::slice::from_ref(&root), "/hostetc/hostname", &out, "c");
        assert!(matches!(err, Err(CopyError::NotFound(..))), "{err:?}");

        // Copy in through a symlinked directory: lands inside the root.
        let src = d.path().join("payload");
        fs::create_dir_all(src.join("sub")).expect("mk");
        fs::write(src.join("sub/f"), "data").expect("w");
        copy_in(&src, &root, "/hostetc").expect("copy in");
        assert_eq!(
            fs::read_to_string(root.join("etc/payload/sub/f"))
                .ok()
                .as_deref(),
            Some("data")
        );
        let back = d.path().join("back");
        fs::create_dir_all(&back).expect("mk");
        copy_out(std::slice::from_ref(&root), "/etc/payload", &back, "c").expect("dir out");
        assert!(back.join("payload/sub/f").is_file());
    }
}
