//! The per-context metadata record: for each file hashed before, its path
//! (relative to the context), size, mtime, inode and ctime, and the sha256
//! of its content. When all four still match, the file is not read again.
//! ctime is part of it because it cannot be set from user space: a rewrite
//! that keeps size and mtime (e.g. `touch -r`) still changes ctime.
//!
//! Persisted per context directory in `ROOT/cache/contexts/<id>.json`, where
//! id is a hash of the context's canonical host path. That path never goes
//! into a cache key; it only finds the record. Written atomically; a missing
//! or unreadable record just means every file is read once more.

use super::CacheError;
use crate::store::{fsutil, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file identity the content digest is trusted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    /// Nanoseconds since the epoch (i64 lasts until 2262).
    pub mtime_ns: i64,
    pub ino: u64,
    pub ctime_ns: i64,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ino: meta.ino(),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
        }
    }
}

/// On disk: one compact array per file, `[path, size, mtime_ns, ino,
/// ctime_ns, sha256 hex]` (a 50k-file context parses in milliseconds).
#[derive(Debug, Default, Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    files: Vec<(String, u64, i64, u64, i64, String)>,
}

const RECORD_VERSION: u32 = 1;

impl RecordFile {
    fn into_map(self) -> HashMap<String, (FileStamp, String)> {
        if self.version != RECORD_VERSION {
            return HashMap::new();
        }
        self.files
            .into_iter()
            .map(|(path, size, mtime_ns, ino, ctime_ns, hex)| {
                let stamp = FileStamp {
                    size,
                    mtime_ns,
                    ino,
                    ctime_ns,
                };
                (path, (stamp, hex))
            })
            .collect()
    }
}

/// Known content digests of one context, shared by the hashing threads.
#[derive(Debug)]
pub struct MetadataRecord {
    path: Option<PathBuf>,
    files: Mutex<HashMap<String, (FileStamp, String)>>,
    /// Files changed more recently than this are not remembered: a write in
    /// the same timestamp tick as our read could otherwise go unnoticed.
    racy_window: Duration,
    dirty: Mutex<bool>,
}

impl MetadataRecord {
    /// A record that remembers only for the life of this value.
    pub fn in_memory() -> MetadataRecord {
        MetadataRecord {
            path: None,
            files: Mutex::new(HashMap::new()),
            racy_window: Duration::from_secs(1),
            dirty: Mutex::new(false),
        }
    }

    /// Loads the record of `context_dir` from the store (empty when none).
    pub fn load(store: &Store, context_dir: &Path) -> Result<MetadataRecord, CacheError> {
        let canonical =
            std::fs::canonicalize(context_dir).map_err(|e| CacheError::io(context_dir, e))?;
        let id = crate::image::Digest::of_bytes(canonical.as_os_str().as_encoded_bytes());
        let dir = store.root().join("cache/contexts");
        std::fs::create_dir_all(&dir).map_err(|e| CacheError::io(&dir, e))?;
        let path = dir.join(format!("{}.json", id.hex()));
        let files = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<RecordFile>(&bytes) {
                Ok(r) => r.into_map(),
                Err(e) => {
                    log::warn!("{}: ignoring unreadable record: {e}", path.display());
                    HashMap::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(CacheError::io(&path, e)),
        };
        Ok(MetadataRecord {
            path: Some(path),
            files: Mutex::new(files),
            ..MetadataRecord::in_memory()
        })
    }

    /// Changes the racy window (default 1 s). Tests use zero.
    pub fn set_racy_window(&mut self, window: Duration) {
        self.racy_window = window;
    }

    /// The remembered digest (hex) of `rel` if its stamp still matches.
    pub fn lookup(&self, rel: &str, stamp: &FileStamp) -> Option<String> {
        let files = self.files.lock().ok()?;
        match files.get(rel) {
            Some((s, d)) if s == stamp => Some(d.clone()),
            _ => None,
        }
    }

    /// Remembers a digest, unless the file changed too recently to trust.
    pub fn remember(&self, rel: &str, stamp: FileStamp, digest_hex: &str) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let window = i64::try_from(self.racy_window.as_nanos()).unwrap_or(i64::MAX);
        if now.saturating_sub(stamp.ctime_ns.max(stamp.mtime_ns)) < window {
            return;
        }
        if let Ok(mut files) = self.files.lock() {
            files.insert(rel.to_string(), (stamp, digest_hex.to_string()));
        }
        if let Ok(mut d) = self.dirty.lock() {
            *d = true;
        }
    }

    /// Drops entries for paths not in `seen` (files deleted from the context).
    pub fn retain(&self, seen: &dyn Fn(&str) -> bool) {
        if let Ok(mut files) = self.files.lock() {
            let before = files.len();
            files.retain(|k, _| seen(k));
            if files.len() != before {
                if let Ok(mut d) = self.dirty.lock() {
                    *d = true;
                }
            }
        }
    }

    /// Number of remembered files.
    pub fn len(&self) -> usize {
        self.files.lock().map(|f| f.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the record back (atomically) if it changed.
    pub fn save(&self, store: &Store) -> Result<(), CacheError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dirty = self.dirty.lock().map(|d| *d).unwrap_or(true);
        if !dirty {
            return Ok(());
        }
        let files = match self.files.lock() {
            Ok(f) => f
                .iter()
                .map(|(p, (s, h))| (p.clone(), s.size, s.mtime_ns, s.ino, s.ctime_ns, h.clone()))
                .collect(),
            Err(_) => return Ok(()),
        };
        let record = RecordFile {
            version: RECORD_VERSION,
            files,
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| CacheError::Json {
            path: path.display().to_string(),
            source: e,
        })?;
        fsutil::write_atomic(store.tmp_dir(), path, &bytes)?;
        if let Ok(mut d) = self.dirty.lock() {
            *d = false;
        }
        Ok(())
    }
}
