//! Copying files for COPY/ADD with docker's rules: directories merge into
//! existing ones, files and links replace what is there, modes and mtimes are
//! kept, owners are set by `--chown` (or 0:0 for context files, kept for
//! files from stages), `--chmod` applies to every copied entry, hardlinks
//! within one copy stay hardlinks, xattrs are kept. `.dockerignore` and
//! `--exclude` filter what a directory copy takes. Destination paths are
//! resolved by the caller, inside the target root.

use super::chmod::Chmod;
use super::ExecError;
use crate::context::DockerIgnore;
use nix::sys::stat::{utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How entries are written.
pub struct CopyRules<'a> {
    /// `--chown` uid/gid; `None` keeps the source owner when `keep_owner`,
    /// else 0:0.
    pub owner: Option<(u32, u32)>,
    pub keep_owner: bool,
    /// Keep hardlinks between copied files as hardlinks (BuildKit does for
    /// `--from` sources, not for context files).
    pub keep_hardlinks: bool,
    pub chmod: Option<&'a Chmod>,
    /// The context's .dockerignore (paths relative to the context root).
    pub ignore: Option<&'a DockerIgnore>,
    /// `--exclude` patterns (paths relative to the copied source).
    pub exclude: Option<&'a DockerIgnore>,
}

/// Copies trees by [`CopyRules`], remembering inodes for hardlinks.
pub struct Copier<'a> {
    rules: CopyRules<'a>,
    links: HashMap<(u64, u64), PathBuf>,
    /// Entries written so far.
    pub entries: u64,
}

impl<'a> Copier<'a> {
    pub fn new(rules: CopyRules<'a>) -> Copier<'a> {
        Copier {
            rules,
            links: HashMap::new(),
            entries: 0,
        }
    }

    /// Copies `src` to `dst` (the path it gets, not its parent). `ctx_rel`
    /// is `src`'s path relative to the context (for .dockerignore), `src_rel`
    /// its path below the copied source (for --exclude; "" for the source).
    pub fn copy(
        &mut self,
        src: &Path,
        dst: &Path,
        ctx_rel: &str,
        src_rel: &str,
    ) -> Result<(), ExecError> {
        let meta = fs::symlink_metadata(src).map_err(|e| ExecError::io(src, e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            match fs::symlink_metadata(dst) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(dst).map_err(|e| ExecError::io(dst, e))?;
                    fs::create_dir(dst).map_err(|e| ExecError::io(dst, e))?;
                }
                Err(_) => fs::create_dir(dst).map_err(|e| ExecError::io(dst, e))?,
            }
            let mut names: Vec<_> = fs::read_dir(src)
                .map_err(|e| ExecError::io(src, e))?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            for name in names {
                let n = name.to_string_lossy();
                let child_ctx = join_rel(ctx_rel, &n);
                let child_src = join_rel(src_rel, &n);
                let child = src.join(&name);
                let is_dir = fs::symlink_metadata(&child)
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                if self.skipped(&child_ctx, &child_src, is_dir) {
                    continue;
                }
                self.copy(&child, &dst.join(&name), &child_ctx, &child_src)?;
            }
            self.finish(&meta, src, dst, true)?;
            return Ok(());
        }
        if let Ok(existing) = fs::symlink_metadata(dst) {
            if existing.is_dir() {
                return Err(ExecError::Copy(format!(
                    "cannot replace directory {} with a non-directory",
                    dst.display()
                )));
            }
            fs::remove_file(dst).map_err(|e| ExecError::io(dst, e))?;
        }
        if self.rules.keep_hardlinks && meta.nlink() > 1 && !ft.is_symlink() {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, dst).map_err(|e| ExecError::io(dst, e))?;
                self.entries += 1;
                return Ok(());
            }
            self.links
                .insert((meta.dev(), meta.ino()), dst.to_path_buf());
        }
        if ft.is_symlink() {
            let target = fs::read_link(src).map_err(|e| ExecError::io(src, e))?;
            std::os::unix::fs::symlink(&target, dst).map_err(|e| ExecError::io(dst, e))?;
        } else if ft.is_file() {
            fs::copy(src, dst).map_err(|e| ExecError::io(dst, e))?;
        } else {
            let kind = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
            nix::sys::stat::mknod(
                dst,
                kind,
                Mode::from_bits_truncate(meta.mode() & 0o7777),
                meta.rdev(),
            )
            .map_err(|e| ExecError::io(dst, e.into()))?;
        }
        self.finish(&meta, src, dst, false)
    }

    /// Copies one entry of a source directory, unless .dockerignore or
    /// `--exclude` leaves it out.
    pub fn copy_child(
        &mut self,
        src: &Path,
        dst: &Path,
        ctx_rel: &str,
        src_rel: &str,
    ) -> Result<(), ExecError> {
        let is_dir = fs::symlink_metadata(src)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if self.skipped(ctx_rel, src_rel, is_dir) {
            return Ok(());
        }
        self.copy(src, dst, ctx_rel, src_rel)
    }

    fn skipped(&self, ctx_rel: &str, src_rel: &str, is_dir: bool) -> bool {
        let hit = |ig: &DockerIgnore, rel: &str| {
            ig.is_excluded(rel) && !(is_dir && ig.dir_may_contain_included(rel))
        };
        self.rules.ignore.is_some_and(|ig| hit(ig, ctx_rel))
            || self.rules.exclude.is_some_and(|ig| hit(ig, src_rel))
    }

    /// Owner, mode, xattrs and times of a written entry.
    fn finish(
        &mut self,
        meta: &fs::Metadata,
        src: &Path,
        dst: &Path,
        is_dir: bool,
    ) -> Result<(), ExecError> {
        self.entries += 1;
        let (uid, gid) = match self.rules.owner {
            Some(o) => o,
            None if self.rules.keep_owner => (meta.uid(), meta.gid()),
            None => (0, 0),
        };
        std::os::unix::fs::lchown(dst, Some(uid), Some(gid)).map_err(|e| ExecError::io(dst, e))?;
        let is_link = meta.file_type().is_symlink();
        if !is_link {
            let mode = match self.rules.chmod {
                Some(c) => c.apply(meta.mode(), is_dir),
                None => meta.mode() & 0o7777,
            };
            fs::set_permissions(dst, fs::Permissions::from_mode(mode))
                .map_err(|e| ExecError::io(dst, e))?;
        }
        copy_xattrs_from(src, dst);
        let t = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
        utimensat(
            nix::fcntl::AT_FDCWD,
            dst,
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| ExecError::io(dst, e.into()))
    }
}

/// Copies the xattrs of `src` (not following links) to `dst`, except overlayfs' own.
pub fn copy_xattrs_from(src: &Path, dst: &Path) {
    let Ok(names) = xattr::list(src) else { return };
    for name in names {
        let n = name.to_string_lossy();
        if n.starts_with("trusted.overlay.") || n.starts_with("user.overlay.") {
            continue;
        }
        if let Ok(Some(v)) = xattr::get(src, &name) {
            if let Err(e) = xattr::set(dst, &name, &v) {
                log::debug!("xattr {n} on {}: {e}", dst.display());
            }
        }
    }
}

fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() || base == "." {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// Creates the missing directories of `dir` (an already root-resolved host
/// path below `root`), mode 0755, owned by `owner` (default 0:0).
pub fn make_dirs(root: &Path, dir: &Path, owner: Option<(u32, u32)>) -> Result<(), ExecError> {
    let rel = dir
        .strip_prefix(root)
        .map_err(|_| ExecError::Copy(format!("{} is outside the image root", dir.display())))?;
    let mut at = root.to_path_buf();
    for comp in rel.components() {
        at.push(comp);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ExecError::Copy(format!(
                    "cannot create directory /{}: a file of that name exists",
                    at.strip_prefix(root).unwrap_or(&at).display()
                )))
            }
            Err(_) => {
                fs::create_dir(&at).map_err(|e| ExecError::io(&at, e))?;
                fs::set_permissions(&at, fs::Permissions::from_mode(0o755))
                    .map_err(|e| ExecError::io(&at, e))?;
                let (uid, gid) = owner.unwrap_or((0, 0));
                std::os::unix::fs::lchown(&at, Some(uid), Some(gid))
                    .map_err(|e| ExecError::io(&at, e))?;
            }
        }
    }
    Ok(())
}
