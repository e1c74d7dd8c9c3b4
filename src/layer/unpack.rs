//! Applying an OCI layer (tar, gzip, zstd, bzip2 or xz, detected by magic) onto a
//! directory, treating every entry as hostile: paths are cleaned and resolved
//! inside the root ([`super::safe`]), hardlinks may only point at files inside
//! the root and never follow symlinks, whiteouts are applied (Flatten) or
//! turned into overlayfs whiteouts (OverlayLower), device nodes are only
//! created when allowed. Ownership is applied when running as root.

use super::entry::{is_overlay_xattr, PAX_XATTR_PREFIX};
use super::safe::{clean_components, join, proc_path, Root};
use super::{
    LayerError, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, USER_OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX,
};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, mknodat, utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where a layer is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnpackMode {
    /// Onto a directory holding the lower layers' result: whiteouts delete.
    #[default]
    Flatten,
    /// Into its own directory used as an overlayfs lower dir: whiteouts become
    /// char 0:0 devices and opaque markers become the opaque xattr.
    OverlayLower,
}

/// How a layer is applied.
#[derive(Clone, Debug)]
pub struct UnpackOptions {
    pub mode: UnpackMode,
    /// Create char/block device nodes (else they are skipped with a warning).
    pub allow_devices: bool,
    /// Apply uid/gid from the archive (default: when running as root).
    pub chown: bool,
    /// Use `user.overlay.opaque` instead of `trusted.overlay.opaque` (for
    /// overlay mounts with the `userxattr` option).
    pub userxattr: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            mode: UnpackMode::Flatten,
            allow_devices: false,
            chown: nix::unistd::geteuid().is_root(),
            userxattr: false,
        }
    }
}

/// Counts from one unpack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    pub skipped: u64,
}

/// Wraps `reader` in the right decompressor, detected by magic bytes.
pub fn open_layer_stream<'a>(mut reader: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut head = Vec::with_capacity(4);
    (&mut reader).take(4).read_to_end(&mut head)?;
    let whole = io::Cursor::new(head.clone()).chain(reader);
    Ok(match head.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::Decoder::new(whole)?),
        [b'B', b'Z', b'h', ..] => Box::new(bzip2::read::MultiBzDecoder::new(whole)),
        [0xfd, b'7', b'z', b'X'] => Box::new(liblzma::read::XzDecoder::new_multi_decoder(whole)),
        _ => Box::new(whole),
    })
}

struct Unpacker<'o> {
    root: Root,
    opts: &'o UnpackOptions,
    /// Paths written by this layer; whiteouts only remove lower content.
    written: HashSet<PathBuf>,
    /// Directory mtimes, applied last (creating children changes them).
    dir_times: Vec<(Vec<OsString>, u64)>,
    stats: UnpackStats,
}

/// Applies the layer read from `reader` (any supported compression) onto `target`.
pub fn unpack_layer(
    reader: impl Read,
    target: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, LayerError> {
    let stream = open_layer_stream(reader).map_err(LayerError::Archive)?;
    let mut archive = tar::Archive::new(stream);
    let mut u = Unpacker {
        root: Root::open(target)?,
        opts,
        written: HashSet::new(),
        dir_times: Vec::new(),
        stats: UnpackStats::default(),
    };
    for entry in archive.entries().map_err(LayerError::Archive)? {
        let mut entry = entry.map_err(LayerError::Archive)?;
        u.stats.entries += 1;
        u.apply(&mut entry)?;
    }
    // Deepest first so a parent's time is set after its children's.
    let mut times = std::mem::take(&mut u.dir_times);
    times.reverse();
    for (comps, mtime) in times {
        let Some((name, parent)) = comps.split_last() else {
            continue;
        };
        if let Some(pfd) = u.root.open_dir(parent, false)? {
            let t = TimeSpec::new(mtime as i64, 0);
            // The dir may have been replaced by a later entry; that is fine.
            let _ = utimensat(
                &pfd,
                name.as_os_str(),
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            );
        }
    }
    Ok(u.stats)
}

impl Unpacker<'_> {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), LayerError> {
        let raw = entry.path_bytes().into_owned();
        let comps = clean_components(&raw);
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let Some((name, parent)) = comps.split_last() else {
            return Ok(()); // the root itself: its metadata belongs to the caller
        };
        let name_bytes = name.as_bytes();
        if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(parent, name_bytes, &shown);
        }
        let rel = join(&comps);
        let pfd = self
            .root
            .open_dir(parent, true)?
            .ok_or_else(|| bad(&shown, "parent missing"))?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let xattrs = pax_xattrs(entry)?;
        let full = self.root.path().join(&rel);
        let sys = |e| LayerError::sys(&full, e);
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                let is_dir = matches!(fstat_kind(&pfd, name), Some(k) if k == SFlag::S_IFDIR);
                if !is_dir {
                    remove_any(&pfd, name, &full)?;
                    nix::sys::stat::mkdirat(
                        &pfd,
                        name.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .map_err(sys)?;
                }
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_any(&pfd, name, &full)?;
                let flags = OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                let fd = openat(
                    &pfd,
                    name.as_os_str(),
                    flags,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(sys)?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).map_err(|e| LayerError::io(&full, e))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(&shown, "symlink without target"))?;
                remove_any(&pfd, name, &full)?;
                symlinkat(OsStr::from_bytes(&target), &pfd, name.as_os_str()).map_err(sys)?;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(&shown, "hardlink without target"))?;
                self.hardlink(&pfd, name, &comps, &target, &shown)?;
                self.written.insert(rel);
                return Ok(()); // shares the target's inode and metadata
            }
            T::Char | T::Block | T::Fifo => {
                if kind != T::Fifo && !self.opts.allow_devices {
                    log::warn!("layer entry {shown:?}: skipping device node (devices not allowed)");
                    self.stats.skipped += 1;
                    return Ok(());
                }
                let (flag, dev) = match kind {
                    T::Char => (SFlag::S_IFCHR, device(&header)),
                    T::Block => (SFlag::S_IFBLK, device(&header)),
                    _ => (SFlag::S_IFIFO, 0),
                };
                remove_any(&pfd, name, &full)?;
                mknodat(
                    &pfd,
                    name.as_os_str(),
                    flag,
                    Mode::from_bits_truncate(0o600),
                    dev,
                )
                .map_err(sys)?;
            }
            other => {
                log::warn!("layer entry {shown:?}: skipping unsupported entry type {other:?}");
                self.stats.skipped += 1;
                return Ok(());
            }
        }
        self.set_metadata(&pfd, name, &header, &xattrs, &full)?;
        let mtime = header.mtime().unwrap_or(0);
        if kind == T::Directory {
            self.dir_times.push((comps.clone(), mtime));
        } else {
            let t = TimeSpec::new(mtime as i64, 0);
            utimensat(
                &pfd,
                name.as_os_str(),
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(sys)?;
        }
        self.written.insert(rel);
        Ok(())
    }

    fn set_metadata(
        &self,
        pfd: &OwnedFd,
        name: &OsStr,
        header: &tar::Header,
        xattrs: &[(String, Vec<u8>)],
        full: &Path,
    ) -> Result<(), LayerError> {
        let sys = |e| LayerError::sys(full, e);
        let is_symlink = header.entry_type() == tar::EntryType::Symlink;
        if self.opts.chown {
            let id = |v: io::Result<u64>| -> Result<u32, LayerError> {
                let v = v.map_err(LayerError::Archive)?;
                u32::try_from(v)
                    .map_err(|_| bad(&full.display().to_string(), "uid/gid out of range"))
            };
            let (uid, gid) = (id(header.uid())?, id(header.gid())?);
            fchownat(
                pfd,
                name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(sys)?;
        }
        if !is_symlink {
            // After chown, which clears setuid/setgid bits.
            let mode = header.mode().map_err(LayerError::Archive)? & 0o7777;
            fchmodat(
                pfd,
                name,
                Mode::from_bits_truncate(mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(sys)?;
        }
        // After chown, which clears security.capability.
        let path = proc_path(pfd, name);
        for (key, value) in xattrs {
            if let Err(e) = xattr::set(&path, key, value) {
                log::warn!("{}: cannot set xattr {key}: {e}", full.display());
            }
        }
        Ok(())
    }

    fn hardlink(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        comps: &[OsString],
        target: &[u8],
        shown: &str,
    ) -> Result<(), LayerError> {
        let tcomps = clean_components(target);
        let Some((tname, tparent)) = tcomps.split_last() else {
            return Err(bad(shown, "hardlink to the root"));
        };
        if tcomps == comps {
            return Ok(()); // a link to itself: nothing to do
        }
        let tfd = self.root.open_dir(tparent, false)?.ok_or_else(|| {
            bad(
                shown,
                "hardlink target's directory does not exist in the layer",
            )
        })?;
        let full = self.root.path().join(join(comps));
        remove_any(pfd, name, &full)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        linkat(&tfd, tname.as_os_str(), pfd, name, AtFlags::empty())
            .map_err(|e| LayerError::sys(&full, e))
    }

    fn whiteout(
        &mut self,
        parent: &[OsString],
        name: &[u8],
        shown: &str,
    ) -> Result<(), LayerError> {
        let opaque_xattr = if self.opts.userxattr {
            USER_OVERLAY_OPAQUE_XATTR
        } else {
            OVERLAY_OPAQUE_XATTR
        };
        if name == OPAQUE_MARKER.as_bytes() {
            let dir = self
                .root
                .open_dir(parent, true)?
                .ok_or_else(|| bad(shown, "opaque dir missing"))?;
            return match self.opts.mode {
                UnpackMode::OverlayLower => {
                    xattr::set_deref(proc_path(&dir, OsStr::new("")), opaque_xattr, b"y")
                        .map_err(|e| LayerError::io(self.root.path().join(join(parent)), e))
                }
                UnpackMode::Flatten => self.clear_lower_children(&dir, parent),
            };
        }
        let victim = name.get(WHITEOUT_PREFIX.len()..).unwrap_or_default();
        if victim.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return Ok(()); // other aufs metadata (.wh..wh.plnk etc.): not content
        }
        if victim.is_empty() || victim == b"." || victim == b".." {
            log::warn!("layer entry {shown:?}: ignoring malformed whiteout");
            self.stats.skipped += 1;
            return Ok(());
        }
        let victim = OsStr::from_bytes(victim);
        let mut vcomps = parent.to_vec();
        vcomps.push(victim.to_os_string());
        let full = self.root.path().join(join(&vcomps));
        match self.opts.mode {
            UnpackMode::Flatten => {
                if self.written.contains(&join(&vcomps)) {
                    return Ok(());
                }
                match self.root.open_dir(parent, false)? {
                    Some(pfd) => remove_any(&pfd, victim, &full),
                    None => Ok(()),
                }
            }
            UnpackMode::OverlayLower => {
                let pfd = self
                    .root
                    .open_dir(parent, true)?
                    .ok_or_else(|| bad(shown, "parent missing"))?;
                remove_any(&pfd, victim, &full)?;
                let dev = nix::sys::stat::makedev(0, 0);
                mknodat(&pfd, victim, SFlag::S_IFCHR, Mode::empty(), dev)
                    .map_err(|e| LayerError::sys(&full, e))
            }
        }
    }

    /// Flatten-mode opaque dir: removes every child not written by this layer.
    fn clear_lower_children(&self, dir: &OwnedFd, parent: &[OsString]) -> Result<(), LayerError> {
        let listing = proc_path(dir, OsStr::new(""));
        let rd = std::fs::read_dir(&listing).map_err(|e| LayerError::io(&listing, e))?;
        for child in rd {
            let child = child.map_err(|e| LayerError::io(&listing, e))?;
            let mut comps = parent.to_vec();
            comps.push(child.file_name());
            if !self.written.contains(&join(&comps)) {
                remove_any(
                    dir,
                    &child.file_name(),
                    &self.root.path().join(join(&comps)),
                )?;
            }
        }
        Ok(())
    }
}

fn bad(path: &str, why: &str) -> LayerError {
    LayerError::BadEntry {
        path: path.to_string(),
        why: why.to_string(),
    }
}

fn device(h: &tar::Header) -> u64 {
    let major = h.device_major().ok().flatten().unwrap_or(0);
    let minor = h.device_minor().ok().flatten().unwrap_or(0);
    nix::sys::stat::makedev(major.into(), minor.into())
}

/// The file type of `name` in `dir`, not following symlinks.
fn fstat_kind(dir: &OwnedFd, name: &OsStr) -> Option<SFlag> {
    let st = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    Some(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

/// Removes `name` from `dir` whatever it is (a directory recursively); no-op if absent.
fn remove_any(dir: &OwnedFd, name: &OsStr, full: &Path) -> Result<(), LayerError> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR) => {
            // std's remove_dir_all never follows symlinks inside the tree.
            std::fs::remove_dir_all(proc_path(dir, name)).map_err(|e| LayerError::io(full, e))
        }
        Err(e) => Err(LayerError::sys(full, e)),
    }
}

/// The xattrs carried in the entry's PAX header, minus overlayfs-internal ones.
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<R>) -> Result<Vec<(String, Vec<u8>)>, LayerError> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(LayerError::Archive)? {
        for ext in exts {
            let ext = ext.map_err(LayerError::Archive)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if !is_overlay_xattr(name) {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(out)
}
