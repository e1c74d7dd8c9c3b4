//! Directory -> OCI layer tar. Entries are sorted by path bytes (parents
//! before children), carry mode, uid/gid, mtime (optionally clamped to
//! SOURCE_DATE_EPOCH) and xattrs (PAX `SCHILY.xattr.*`), but no uname/gname,
//! atime or ctime, so the same tree always gives the same bytes. Files sharing
//! an inode become hardlink entries. In overlay-upper mode, overlayfs
//! whiteouts (char 0:0) become `.wh.NAME` and opaque dirs get `.wh..wh..opq`.
//! Symlinks are recorded, never followed. Sockets are skipped.

use super::entry::{is_overlay_opaque, major, minor, read_xattrs, PAX_XATTR_PREFIX};
use super::{LayerError, OPAQUE_MARKER, WHITEOUT_PREFIX};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How a directory is turned into a layer.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Paths (relative to the directory, e.g. `etc/hosts`) left out with
    /// everything below them: the caller lists the sandbox's bind-mount
    /// placeholders here.
    pub exclude: Vec<PathBuf>,
    /// Clamp every mtime to at most this many seconds since the epoch.
    pub source_date_epoch: Option<i64>,
    /// The directory is an overlayfs upper dir: convert whiteouts and opaque dirs.
    pub overlay_upper: bool,
}

enum Kind {
    Fs(Metadata),
    Whiteout,
    Opaque,
}

struct Item {
    rel: PathBuf,
    kind: Kind,
}

/// Writes the layer tar for `dir` into `out`.
pub fn write_tar(dir: &Path, opts: &DiffOptions, out: &mut dyn Write) -> Result<(), LayerError> {
    let mut items = Vec::new();
    collect(dir, Path::new(""), opts, &mut items)?;
    items.sort_by(|a, b| {
        a.rel
            .as_os_str()
            .as_bytes()
            .cmp(b.rel.as_os_str().as_bytes())
    });
    let mut builder = tar::Builder::new(out);
    let mut first_path_of_inode: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for item in &items {
        let full = dir.join(&item.rel);
        let err = |e| LayerError::io(&full, e);
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        match &item.kind {
            Kind::Whiteout | Kind::Opaque => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                builder
                    .append_data(&mut h, &item.rel, std::io::empty())
                    .map_err(err)?;
            }
            Kind::Fs(meta) => {
                let mtime = clamp(meta.mtime(), opts.source_date_epoch);
                h.set_mode(meta.mode() & 0o7777);
                h.set_uid(meta.uid().into());
                h.set_gid(meta.gid().into());
                h.set_mtime(mtime);
                let xattrs = read_xattrs(&full).map_err(err)?;
                if !xattrs.is_empty() {
                    let keys: Vec<(String, &[u8])> = xattrs
                        .iter()
                        .map(|(k, v)| (format!("{PAX_XATTR_PREFIX}{k}"), v.as_slice()))
                        .collect();
                    builder
                        .append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), *v)))
                        .map_err(err)?;
                }
                append_fs_entry(
                    &mut builder,
                    &mut h,
                    item,
                    meta,
                    &full,
                    &mut first_path_of_inode,
                )?;
            }
        }
    }
    builder.finish().map_err(|e| LayerError::io(dir, e))?;
    Ok(())
}

fn append_fs_entry(
    builder: &mut tar::Builder<&mut dyn Write>,
    h: &mut tar::Header,
    item: &Item,
    meta: &Metadata,
    full: &Path,
    inodes: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), LayerError> {
    let err = |e| LayerError::io(full, e);
    let ft = meta.file_type();
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        builder
            .append_data(h, &item.rel, std::io::empty())
            .map_err(err)
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let target = fs::read_link(full).map_err(err)?;
        builder.append_link(h, &item.rel, target).map_err(err)
    } else if ft.is_file() {
        if meta.nlink() > 1 {
            if let Some(first) = inodes.get(&(meta.dev(), meta.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                return builder.append_link(h, &item.rel, first).map_err(err);
            }
            inodes.insert((meta.dev(), meta.ino()), item.rel.clone());
        }
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(full)
            .map_err(err)?;
        // `take` keeps the header's size honest if the file grew meanwhile.
        let data = std::io::Read::take(file, meta.len());
        builder.append_data(h, &item.rel, data).map_err(err)
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        let t = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            tar::EntryType::Fifo
        };
        h.set_entry_type(t);
        if !ft.is_fifo() {
            h.set_device_major(major(meta.rdev())).map_err(err)?;
            h.set_device_minor(minor(meta.rdev())).map_err(err)?;
        }
        builder
            .append_data(h, &item.rel, std::io::empty())
            .map_err(err)
    } else {
        log::warn!(
            "{}: skipping socket (sockets cannot go into a layer)",
            full.display()
        );
        Ok(())
    }
}

fn clamp(mtime: i64, epoch: Option<i64>) -> u64 {
    let t = match epoch {
        Some(e) => mtime.min(e),
        None => mtime,
    };
    t.max(0) as u64
}

/// Walks `dir/rel` depth-first, pushing one item per entry (and synthetic
/// whiteout/opaque items in overlay mode).
fn collect(
    dir: &Path,
    rel: &Path,
    opts: &DiffOptions,
    out: &mut Vec<Item>,
) -> Result<(), LayerError> {
    let here = dir.join(rel);
    let rd = fs::read_dir(&here).map_err(|e| LayerError::io(&here, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| LayerError::io(&here, e))?;
        let name = entry.file_name();
        let child_rel = rel.join(&name);
        if opts.exclude.iter().any(|x| x == &child_rel) {
            continue;
        }
        let full = here.join(&name);
        let meta = fs::symlink_metadata(&full).map_err(|e| LayerError::io(&full, e))?;
        let ft = meta.file_type();
        if opts.overlay_upper && ft.is_char_device() && meta.rdev() == 0 {
            let mut wh = WHITEOUT_PREFIX.as_bytes().to_vec();
            wh.extend_from_slice(name.as_bytes());
            out.push(Item {
                rel: rel.join(OsStr::from_bytes(&wh)),
                kind: Kind::Whiteout,
            });
            continue;
        }
        let is_dir = ft.is_dir();
        if is_dir && opts.overlay_upper && is_overlay_opaque(&full) {
            out.push(Item {
                rel: child_rel.join(OPAQUE_MARKER),
                kind: Kind::Opaque,
            });
        }
        out.push(Item {
            rel: child_rel.clone(),
            kind: Kind::Fs(meta),
        });
        if is_dir {
            collect(dir, &child_rel, opts, out)?;
        }
    }
    Ok(())
}
