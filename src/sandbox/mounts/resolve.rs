//! Path resolution inside the new root, safe against hostile images:
//! every lookup goes through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
//! relative to the root's fd, so a symlink to /etc/passwd or /proc/1/root
//! in the image resolves to the image's own files, never the host's.
//! Missing directories and files are created (0755 dirs, 0644 files), also
//! behind dangling symlinks (followed inside the root, like runc's
//! securejoin), and reported so the engine can delete them before
//! committing a layer.
//!
//! Fork-safe: fixed stack buffers, no allocation.

use crate::sandbox::sys::{self, SysResult};
use std::ffi::CStr;

const PATH_MAX: usize = 4096;
/// Symlinks followed while creating one path (the kernel's limit).
const MAX_HOPS: usize = 40;

/// An fd closed on drop (child side).
pub struct Fd(pub i32);

impl Fd {
    pub fn raw(&self) -> i32 {
        self.0
    }

    pub fn path(&self) -> sys::FdPath {
        sys::FdPath::new(self.0)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            sys::close(self.0);
        }
    }
}

/// A path being built on the stack.
struct PathBuf {
    bytes: [u8; PATH_MAX],
    len: usize,
}

impl PathBuf {
    fn new() -> PathBuf {
        PathBuf {
            bytes: [0; PATH_MAX],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Appends the components of `part`, dropping "" and "." and applying
    /// ".." lexically (it cannot go above the root).
    fn push_clean(&mut self, part: &[u8]) -> SysResult<()> {
        for component in part.split(|b| *b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
                    let cut = self
                        .as_bytes()
                        .iter()
                        .rposition(|b| *b == b'/')
                        .unwrap_or(0);
                    self.len = cut;
                }
                name => {
                    let extra = name.len() + usize::from(self.len > 0);
                    if self.len + extra >= PATH_MAX {
                        return Err(libc::ENAMETOOLONG);
                    }
                    if self.len > 0 {
                        self.bytes[self.len] = b'/';
                        self.len += 1;
                    }
                    self.bytes[self.len..self.len + name.len()].copy_from_slice(name);
                    self.len += name.len();
                }
            }
        }
        Ok(())
    }
}

/// `bytes` plus a NUL in `buf`, as a C string.
fn with_nul<'b>(buf: &'b mut [u8; PATH_MAX], bytes: &[u8]) -> SysResult<&'b CStr> {
    if bytes.len() >= PATH_MAX {
        return Err(libc::ENAMETOOLONG);
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[bytes.len()] = 0;
    CStr::from_bytes_with_nul(&buf[..=bytes.len()]).map_err(|_| libc::EINVAL)
}

fn open_bytes(root: i32, path: &[u8], flags: i32) -> SysResult<Fd> {
    let mut buf = [0u8; PATH_MAX];
    let path = if path.is_empty() { b"." as &[u8] } else { path };
    sys::open_in_root(root, with_nul(&mut buf, path)?, flags).map(Fd)
}

/// Opens `path` (relative to `root`, "" for the root itself) with `flags`.
pub fn open(root: i32, path: &CStr, flags: i32) -> SysResult<Fd> {
    open_bytes(root, path.to_bytes(), flags)
}

/// Where a symlink found at `link_dir`/`name` with content `link` leads,
/// followed by `rest`: the new path to create.
fn redirect(link_dir: &[u8], link: &[u8], rest: &[u8]) -> SysResult<PathBuf> {
    let mut next = PathBuf::new();
    if !link.starts_with(b"/") {
        next.push_clean(link_dir)?;
    }
    next.push_clean(link)?;
    next.push_clean(rest)?;
    Ok(next)
}

/// The target of symlink `name` in `dir`, or None when it is no symlink.
fn read_link<'b>(dir: i32, name: &[u8], out: &'b mut [u8; PATH_MAX]) -> Option<&'b [u8]> {
    let mut name_buf = [0u8; PATH_MAX];
    let name = with_nul(&mut name_buf, name).ok()?;
    // SAFETY: readlinkat writes at most out.len() bytes into out.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), out.as_mut_ptr().cast(), out.len()) };
    if n <= 0 || n as usize >= out.len() {
        return None;
    }
    Some(&out[..n as usize])
}

// Boxing would allocate, which the child must not do.
#[allow(clippy::large_enum_variant)]
enum Walk {
    Done(Fd),
    /// Creation hit a dangling symlink: continue with this path.
    Redirect(PathBuf),
}

/// Opens directory `path` below `root`, creating missing components;
/// `created` gets each created path (relative to the root).
pub fn ensure_dir(root: i32, path: &CStr, created: &mut dyn FnMut(&[u8])) -> SysResult<Fd> {
    let mut current = PathBuf::new();
    current.push_clean(path.to_bytes())?;
    for _ in 0..MAX_HOPS {
        match walk_dirs(root, current.as_bytes(), created)? {
            Walk::Done(fd) => return Ok(fd),
            Walk::Redirect(next) => current = next,
        }
    }
    Err(libc::ELOOP)
}

fn walk_dirs(root: i32, bytes: &[u8], created: &mut dyn FnMut(&[u8])) -> SysResult<Walk> {
    const DIR: i32 = libc::O_PATH | libc::O_DIRECTORY;
    match open_bytes(root, bytes, DIR) {
        Ok(fd) => return Ok(Walk::Done(fd)),
        Err(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let mut parent = open_bytes(root, b"", DIR)?;
    let mut start = 0;
    loop {
        let end = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|b| *b == b'/'))
            .map_or(bytes.len(), |i| start + i);
        let prefix = bytes.get(..end).ok_or(libc::EINVAL)?;
        let fd = match open_bytes(root, prefix, DIR) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => {
                let name = bytes.get(start..end).ok_or(libc::EINVAL)?;
                let mut name_buf = [0u8; PATH_MAX];
                match sys::mkdirat(parent.raw(), with_nul(&mut name_buf, name)?, 0o755) {
                    Ok(()) => created(prefix),
                    Err(libc::EEXIST) => {
                        // Not a link: another sandbox on the same root
                        // created it meanwhile; it is opened below.
                        let mut link_buf = [0u8; PATH_MAX];
                        if let Some(link) = read_link(parent.raw(), name, &mut link_buf) {
                            let dir = bytes.get(..start.saturating_sub(1)).unwrap_or_default();
                            let rest = bytes.get(end..).unwrap_or_default();
                            return redirect(dir, link, rest).map(Walk::Redirect);
                        }
                    }
                    Err(e) => return Err(e),
                }
                open_bytes(root, prefix, DIR)?
            }
            Err(e) => return Err(e),
        };
        parent = fd;
        if end >= bytes.len() {
            return Ok(Walk::Done(parent));
        }
        start = end + 1;
    }
}

/// Opens `path` below `root` as an O_PATH fd to mount onto, creating an
/// empty file (and missing parents) when nothing is there.
pub fn ensure_file(root: i32, path: &CStr, created: &mut dyn FnMut(&[u8])) -> SysResult<Fd> {
    let mut current = PathBuf::new();
    current.push_clean(path.to_bytes())?;
    for _ in 0..MAX_HOPS {
        let bytes = current.as_bytes();
        match open_bytes(root, bytes, libc::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (dir, name) = match bytes.iter().rposition(|b| *b == b'/') {
            Some(slash) => (&bytes[..slash], &bytes[slash + 1..]),
            None => (&bytes[..0], bytes),
        };
        let mut dir_path = [0u8; PATH_MAX];
        let parent = ensure_dir(root, with_nul(&mut dir_path, dir)?, created)?;
        let mut name_buf = [0u8; PATH_MAX];
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
        match sys::openat(parent.raw(), with_nul(&mut name_buf, name)?, flags, 0o644) {
            Ok(fd) => {
                sys::close(fd);
                created(bytes);
                return open_bytes(root, bytes, libc::O_PATH);
            }
            Err(libc::EEXIST) => {
                // A dangling symlink: create what it points to instead;
                // anything else was created meanwhile by another sandbox
                // on the same root and is opened on the next round.
                let mut link_buf = [0u8; PATH_MAX];
                if let Some(link) = read_link(parent.raw(), name, &mut link_buf) {
                    current = redirect(dir, link, b"")?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(libc::ELOOP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(parts: &[&str]) -> String {
        let mut path = PathBuf::new();
        for part in parts {
            path.push_clean(part.as_bytes()).expect("push");
        }
        String::from_utf8_lossy(path.as_bytes()).into_owned()
    }

    #[test]
    fn paths_are_cleaned_lexically_inside_the_root() {
        assert_eq!(clean(&["a//b/./c"]), "a/b/c");
        assert_eq!(clean(&["a/b", "../../../../x"]), "x");
        assert_eq!(clean(&["/abs/", "/y/"]), "abs/y");
    }

    #[test]
    fn redirects_follow_relative_and_absolute_links() {
        let path = |p: PathBuf| String::from_utf8_lossy(p.as_bytes()).into_owned();
        assert_eq!(
            path(redirect(b"etc", b"../run/x", b"").expect("r")),
            "run/x"
        );
        assert_eq!(
            path(redirect(b"a/b", b"/tmp/t", b"/c/d").expect("r")),
            "tmp/t/c/d"
        );
        assert_eq!(path(redirect(b"", b"../../../..", b"/m").expect("r")), "m");
    }
}
