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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    pub ctime_ns: i128,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RecordFile {
    /// rel path -> (stamp, content digest hex)
    files: HashMap<String, (FileStamp, String)>,
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
                Ok(r) => r.files,
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
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let window = self.racy_window.as_nanos() as i128;
        if now - stamp.ctime_ns.max(stamp.mtime_ns) < window {
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
            Ok(f) => f.clone(),
            Err(_) => return Ok(()),
        };
        let bytes = serde_json::to_vec(&RecordFile { files }).map_err(|e| CacheError::Json {
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
