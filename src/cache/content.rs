//! Content hashes of exactly what a COPY/ADD (or a bind mount) selects: the
//! sources after `.dockerignore`, `--exclude` and wildcard matching. Per entry
//! the hash covers its path relative to the selected source (plus the matched
//! source path relative to the root), type, permission bits, uid/gid as they
//! will be written, size, content and symlink target; never mtime, inode, or
//! the root's absolute host path, so the same files hash the same anywhere.
//!
//! Files are read on all cores with `std::thread::scope` and a shared work
//! counter: the work is a flat list of independent files, so no pool crate
//! is needed. A [`MetadataRecord`] lets unchanged files skip the read.
//! Symlinks inside a selected directory are hashed as links (COPY writes
//! them as links); a symlinked *source path* is resolved inside the root.
//! Xattrs are hashed as COPY writes them (names sorted, overlayfs' own
//! left out, [`crate::layer::read_xattrs`]), and so is hardlink grouping: a
//! file that shares its inode with an earlier entry of the selection names
//! that entry (by its label, never the inode number), so linking or
//! unlinking two files with equal content changes the hash. Non-UTF-8 names
//! are read and kept distinct (escaped).

use super::metadata::{FileStamp, MetadataRecord};
use super::CacheError;
use crate::context::{clean_path, DockerIgnore};
use crate::image::Digest;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The digest of a selection of files.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContentHash(pub Digest);

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whose uid/gid the copied files get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// All entries get these ids (`--chown`, or 0:0 for context files).
    Fixed { uid: u32, gid: u32 },
    /// Entries keep their own ids (`COPY --from` a stage or image).
    Preserve,
}

/// What to hash: sources under `root`, as a COPY/ADD names them.
#[derive(Clone, Debug)]
pub struct Selection<'a> {
    /// The context directory, or a stage's root filesystem.
    pub root: &'a Path,
    /// Source paths relative to `root`, as written (wildcards allowed).
    pub sources: Vec<String>,
    /// `--exclude` patterns, matched against paths relative to each source.
    pub exclude: Vec<String>,
    /// The context's `.dockerignore` (paths relative to `root`).
    pub ignore: Option<&'a DockerIgnore>,
    pub owner: Ownership,
    /// `--chmod` as octal bits applied to every entry, when given.
    pub chmod: Option<u32>,
}

impl<'a> Selection<'a> {
    /// Context files as COPY writes them by default: owned by 0:0.
    pub fn context(root: &'a Path, sources: Vec<String>, ignore: Option<&'a DockerIgnore>) -> Self {
        Selection {
            root,
            sources,
            exclude: Vec::new(),
            ignore,
            owner: Ownership::Fixed { uid: 0, gid: 0 },
            chmod: None,
        }
    }
}

/// Counters of one [`hash_selection`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashStats {
    pub entries: usize,
    pub files_read: usize,
    pub files_reused: usize,
    pub bytes_read: u64,
}

#[derive(Debug)]
enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
    Device(char, u64),
    Fifo,
}

#[derive(Debug)]
struct Entry {
    /// Where to read it.
    full: PathBuf,
    /// Root-relative path as text (the metadata record's key).
    root_rel: String,
    /// What the hash says: `<matched source>\0<path under it>`.
    label: String,
    kind: Kind,
    meta: fs::Metadata,
    /// `name=hex(value);` per xattr, sorted by name.
    xattrs: String,
}

/// Hashes the selection. `record` supplies and learns file digests.
pub fn hash_selection(
    sel: &Selection,
    record: &MetadataRecord,
) -> Result<(ContentHash, HashStats), CacheError> {
    let exclude = if sel.exclude.is_empty() {
        None
    } else {
        Some(
            DockerIgnore::from_patterns(sel.exclude.iter())
                .map_err(|e| CacheError::Source(format!("--exclude: {e}")))?,
        )
    };
    let mut entries = Vec::new();
    for src in &sel.sources {
        for (label, matched) in expand_source(sel, src)? {
            let start = entries.len();
            walk(sel, exclude.as_ref(), &label, &matched, &mut entries)?;
            if entries.len() == start {
                log::debug!("source {matched:?} selects nothing after exclusions");
            }
        }
    }
    let digests = digest_files(&entries, record)?;
    let mut stats = digests.1;
    stats.entries = entries.len();
    let mut h = Sha256::new();
    h.update(b"rbuild-content/v2\0");
    // (dev, inode) of multiply-linked files -> the label of the first entry.
    let mut links: std::collections::HashMap<(u64, u64), &str> = std::collections::HashMap::new();
    for (e, d) in entries.iter().zip(digests.0) {
        let link = if matches!(e.kind, Kind::File) && e.meta.nlink() > 1 {
            match links.entry((e.meta.dev(), e.meta.ino())) {
                std::collections::hash_map::Entry::Occupied(first) => *first.get(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(&e.label);
                    ""
                }
            }
        } else {
            ""
        };
        let (uid, gid) = match sel.owner {
            Ownership::Fixed { uid, gid } => (uid, gid),
            Ownership::Preserve => (e.meta.uid(), e.meta.gid()),
        };
        let mode = sel.chmod.unwrap_or(e.meta.mode() & 0o7777);
        let (ty, size, what) = match &e.kind {
            Kind::Dir => ("dir", 0, String::new()),
            Kind::File => ("file", e.meta.size(), d.unwrap_or_default()),
            Kind::Symlink(t) => ("symlink", 0, t.to_string_lossy().into_owned()),
            Kind::Device(c, rdev) => ("dev", 0, format!("{c}{rdev}")),
            Kind::Fifo => ("fifo", 0, String::new()),
        };
        let line = format!(
            "{}\0{ty}\0{mode:o}\0{uid}\0{gid}\0{size}\0{what}\0{}\0{link}\n",
            e.label, e.xattrs
        );
        h.update((line.len() as u64).to_le_bytes());
        h.update(line.as_bytes());
    }
    Ok((ContentHash(Digest::from_sha256(h.finalize().into())), stats))
}

/// The root-relative paths a source names: itself, or its wildcard matches
/// (sorted), each as (name as selected, path with symlinks resolved inside
/// the root). The name goes into the hash (it names what is written); the
/// resolved path is what is read. Errors name the source when nothing
/// exists or it is ignored.
fn expand_source(sel: &Selection, src: &str) -> Result<Vec<(String, String)>, CacheError> {
    let cleaned = clean_path(src.trim_start_matches('/'));
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(CacheError::Source(format!(
            "{src}: source is outside the build context"
        )));
    }
    let cleaned = if cleaned == "." {
        String::new()
    } else {
        cleaned
    };
    if !has_wildcard(&cleaned) {
        let resolved = resolve_in_root(sel.root, &cleaned)?;
        if !resolved.is_empty() && sel.ignore.is_some_and(|i| i.is_excluded(&resolved)) {
            return Err(CacheError::Source(format!(
                "{src}: excluded by .dockerignore; remove it from .dockerignore to copy it"
            )));
        }
        return Ok(vec![(cleaned, resolved)]);
    }
    // Walk from the longest wildcard-free directory prefix.
    let parts: Vec<&str> = cleaned.split('/').collect();
    let fixed = parts.iter().take_while(|p| !has_wildcard(p)).count();
    let prefix = parts.get(..fixed).unwrap_or_default().join("/");
    let matcher = DockerIgnore::from_patterns([cleaned.as_str()])
        .map_err(|e| CacheError::Source(format!("{src}: {e}")))?;
    let depth = parts.len() - fixed;
    let mut out = Vec::new();
    let base = resolve_in_root(sel.root, &prefix)?;
    collect_matches(sel, &matcher, &base, depth, &mut out)?;
    if out.is_empty() {
        return Err(CacheError::Source(format!(
            "{src}: no source files were specified (nothing matches)"
        )));
    }
    out.sort();
    out.into_iter()
        .map(|m| {
            let resolved = resolve_in_root(sel.root, &m)?;
            Ok((m, resolved))
        })
        .collect()
}

fn collect_matches(
    sel: &Selection,
    matcher: &DockerIgnore,
    rel_dir: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), CacheError> {
    let dir = sel.root.join(rel_dir);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in rd {
        let entry = entry.map_err(|e| CacheError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if rel_dir.is_empty() {
            name
        } else {
            format!("{rel_dir}/{name}")
        };
        if sel.ignore.is_some_and(|i| i.is_excluded(&rel)) {
            continue;
        }
        if matcher.is_excluded(&rel) {
            out.push(rel);
        } else if depth > 1 && entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_matches(sel, matcher, &rel, depth - 1, out)?;
        }
    }
    Ok(())
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Resolves symlinks in a root-relative path the way a chroot would: `..`
/// and absolute link targets stay inside `root`. Returns the resolved
/// root-relative path ("" for the root itself).
pub fn resolve_in_root(root: &Path, rel: &str) -> Result<String, CacheError> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: Vec<String> = rel
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .rev()
        .map(String::from)
        .collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        done.push(part);
        let here = root.join(done.join("/"));
        let meta = fs::symlink_metadata(&here).map_err(|e| {
            CacheError::Source(format!("{rel}: {e} (looked for {})", done.join("/")))
        })?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return Err(CacheError::Source(format!("{rel}: too many symlinks")));
            }
            let target = fs::read_link(&here).map_err(|e| CacheError::io(&here, e))?;
            done.pop();
            let t = target.to_string_lossy();
            if t.starts_with('/') {
                done.clear();
            }
            todo.extend(
                t.split('/')
                    .filter(|p| !p.is_empty() && *p != ".")
                    .rev()
                    .map(String::from),
            );
        }
    }
    Ok(done.join("/"))
}

/// Lists the entries of one matched source in sorted order (a directory:
/// itself and everything below, minus exclusions; a file: just itself).
fn walk(
    sel: &Selection,
    exclude: Option<&DockerIgnore>,
    label: &str,
    matched: &str,
    out: &mut Vec<Entry>,
) -> Result<(), CacheError> {
    let full = sel.root.join(matched);
    let meta = fs::symlink_metadata(&full).map_err(|e| CacheError::io(&full, e))?;
    if !meta.is_dir() {
        let name = label.rsplit('/').next().unwrap_or(label);
        if exclude.is_some_and(|x| x.is_excluded(name)) {
            return Ok(());
        }
        out.push(entry(&full, matched, format!("{label}\0{name}"), meta)?);
        return Ok(());
    }
    out.push(entry(&full, matched, format!("{label}\0."), meta)?);
    walk_dir(sel, exclude, label, matched, ("", &full), out)
}

fn walk_dir(
    sel: &Selection,
    exclude: Option<&DockerIgnore>,
    label: &str,
    matched: &str,
    (sub, dir): (&str, &Path),
    out: &mut Vec<Entry>,
) -> Result<(), CacheError> {
    let mut names: Vec<(String, fs::DirEntry)> = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| CacheError::io(dir, e))? {
        let e = e.map_err(|e| CacheError::io(dir, e))?;
        names.push((name_text(&e.file_name()), e));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, dirent) in names {
        let sub_rel = if sub.is_empty() {
            name.clone()
        } else {
            format!("{sub}/{name}")
        };
        let root_rel = if matched.is_empty() {
            sub_rel.clone()
        } else {
            format!("{matched}/{sub_rel}")
        };
        let full = dirent.path();
        // fstatat on the open directory: no full path walk per file.
        let meta = dirent.metadata().map_err(|e| CacheError::io(&full, e))?;
        let ignored = sel.ignore.is_some_and(|i| i.is_excluded(&root_rel))
            || exclude.is_some_and(|x| x.is_excluded(&sub_rel));
        if ignored {
            let may_hold = sel
                .ignore
                .is_some_and(|i| i.dir_may_contain_included(&root_rel))
                || exclude.is_some_and(|x| x.dir_may_contain_included(&sub_rel));
            if meta.is_dir() && may_hold {
                walk_dir(sel, exclude, label, matched, (&sub_rel, &full), out)?;
            }
            continue;
        }
        let is_dir = meta.is_dir();
        out.push(entry(
            &full,
            &root_rel,
            format!("{label}\0{sub_rel}"),
            meta,
        )?);
        if is_dir {
            walk_dir(sel, exclude, label, matched, (&sub_rel, &full), out)?;
        }
    }
    Ok(())
}

/// A file name as text: itself when UTF-8, else its bytes escaped after a
/// NUL (which no real name contains), so distinct names never collide.
fn name_text(name: &std::ffi::OsStr) -> String {
    match name.to_str() {
        Some(s) => s.to_string(),
        None => {
            use std::os::unix::ffi::OsStrExt;
            format!("\0{}", name.as_bytes().escape_ascii())
        }
    }
}

fn entry(
    full: &Path,
    root_rel: &str,
    label: String,
    meta: fs::Metadata,
) -> Result<Entry, CacheError> {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink(fs::read_link(full).map_err(|e| CacheError::io(full, e))?)
    } else if ft.is_char_device() {
        Kind::Device('c', meta.rdev())
    } else if ft.is_block_device() {
        Kind::Device('b', meta.rdev())
    } else if ft.is_fifo() {
        Kind::Fifo
    } else {
        return Err(CacheError::Source(format!(
            "{}: sockets cannot be copied into an image",
            full.display()
        )));
    };
    let mut xattrs = String::new();
    for (name, value) in crate::layer::read_xattrs(full).map_err(|e| CacheError::io(full, e))? {
        xattrs.push_str(&format!("{name}={};", hex::encode(value)));
    }
    Ok(Entry {
        full: full.to_path_buf(),
        root_rel: root_rel.to_string(),
        label,
        kind,
        meta,
        xattrs,
    })
}

/// (entry index, content digest hex, bytes read)
type FileDigest = (usize, String, u64);

/// Content digests (hex) of the regular files among `entries`, in order,
/// read on all cores; unchanged files come from `record`.
fn digest_files(
    entries: &[Entry],
    record: &MetadataRecord,
) -> Result<(Vec<Option<String>>, HashStats), CacheError> {
    let mut out: Vec<Option<String>> = vec![None; entries.len()];
    let mut stats = HashStats::default();
    let mut todo: Vec<usize> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if !matches!(e.kind, Kind::File) {
            continue;
        }
        match record.lookup(&e.root_rel, &FileStamp::of(&e.meta)) {
            Some(d) => {
                out[i] = Some(d);
                stats.files_reused += 1;
            }
            None => todo.push(i),
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(todo.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Vec<FileDigest>, CacheError>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut buf = vec![0u8; 1 << 20];
                    let mut done = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = todo.get(n) else { break };
                        let e = &entries[i];
                        let (hex, read) = hash_file(&e.full, &mut buf)?;
                        if read == e.meta.size() {
                            record.remember(&e.root_rel, FileStamp::of(&e.meta), &hex);
                        }
                        done.push((i, hex, read));
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(CacheError::Source("a hashing thread panicked".into())))
            })
            .collect()
    });
    for r in results {
        for (i, hex, read) in r? {
            out[i] = Some(hex);
            stats.files_read += 1;
            stats.bytes_read += read;
        }
    }
    Ok((out, stats))
}

fn hash_file(path: &Path, buf: &mut [u8]) -> Result<(String, u64), CacheError> {
    let mut f = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| CacheError::io(path, e))?;
    let mut h = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CacheError::io(path, e)),
        };
        h.update(buf.get(..n).unwrap_or_default());
        total += n as u64;
    }
    Ok((hex::encode(h.finalize()), total))
}
