//! Garbage collection: deletes blobs and unpacked layers no indexed image
//! and no gc root refers to, and stale temp entries. A gc root is any
//! `ROOT/gc-roots/<owner>/<name>.json` file with `blobs` and `chains` arrays
//! of digests (other fields ignored); the build cache keeps its records
//! there. Runs only when no other process has the
//! store open (it needs gc.lock exclusively), so it never deletes what a
//! concurrent build has written but not yet indexed.

use super::fsutil::{self, flock};
use super::{Store, StoreError};
use crate::image::config::diff_ids;
use crate::image::{ChainId, Digest};
use std::collections::HashSet;
use std::fs;

/// What one collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// False when another process had the store open and nothing was done.
    pub ran: bool,
    pub blobs_removed: usize,
    pub layers_removed: usize,
    pub bytes_freed: u64,
}

impl Store {
    /// Collects garbage if no other process uses the store.
    pub fn gc(&self) -> Result<GcStats, StoreError> {
        self.gc_keeping(&HashSet::new(), &HashSet::new())
    }

    /// Like [`Store::gc`] but also keeps `blobs` and `chains` (e.g. the build
    /// cache's references).
    pub fn gc_keeping(
        &self,
        blobs: &HashSet<Digest>,
        chains: &HashSet<ChainId>,
    ) -> Result<GcStats, StoreError> {
        let gc_path = self.lock_path("gc.lock");
        // Upgrade our shared hold to exclusive; flock may drop the shared lock
        // on failure, so take it back either way.
        let exclusive = flock(&self.gc_lock, libc::LOCK_EX | libc::LOCK_NB)
            .map_err(|e| StoreError::io(&gc_path, e))?;
        let result = if exclusive {
            self.collect(blobs, chains)
        } else {
            Ok(GcStats::default())
        };
        flock(&self.gc_lock, libc::LOCK_SH).map_err(|e| StoreError::io(&gc_path, e))?;
        result
    }

    fn collect(
        &self,
        keep_blobs: &HashSet<Digest>,
        keep_chains: &HashSet<ChainId>,
    ) -> Result<GcStats, StoreError> {
        let _index = fsutil::lock_exclusive(&self.lock_path("index.lock"))?;
        let mut stats = GcStats {
            ran: true,
            ..Default::default()
        };
        let mut live: HashSet<String> = keep_blobs.iter().map(|d| d.hex().to_string()).collect();
        let mut live_chains: HashSet<String> =
            keep_chains.iter().map(|c| c.0.hex().to_string()).collect();
        self.read_gc_roots(&mut live, &mut live_chains)?;
        let entries = self.read_index()?;
        for e in &entries {
            let Some(md) = e.manifest_digest() else {
                continue;
            };
            live.insert(md.hex().to_string());
            let Ok(rec) = self.load_record(&entries, &e.desc) else {
                continue;
            };
            live.insert(rec.id.hex().to_string());
            for l in rec.manifest.layers() {
                if let Ok(d) = Digest::from_oci(l.digest()) {
                    live.insert(d.hex().to_string());
                }
            }
            for c in ChainId::all(&diff_ids(&rec.config)) {
                live_chains.insert(c.0.hex().to_string());
            }
        }
        let blobs = self.root.join("blobs/sha256");
        for entry in fs::read_dir(&blobs)
            .map_err(|e| StoreError::io(&blobs, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if fs::remove_file(entry.path()).is_ok() {
                    stats.blobs_removed += 1;
                    stats.bytes_freed += size;
                }
            }
        }
        let layers = self.root.join("layers");
        for entry in fs::read_dir(&layers)
            .map_err(|e| StoreError::io(&layers, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !live_chains.contains(&name) {
                // Rename out of sight first so a half-deleted dir is never visible.
                let doomed = self.tmp_dir().join(format!("gc-{name}"));
                if fs::rename(entry.path(), &doomed).is_ok() {
                    let _ = fs::remove_dir_all(&doomed);
                    stats.layers_removed += 1;
                }
            }
        }
        fsutil::clean_stale_tmp(&self.root.join("tmp"))?;
        Ok(stats)
    }

    /// Adds the blobs and chains named by every gc root file (hex digits).
    fn read_gc_roots(
        &self,
        blobs: &mut HashSet<String>,
        chains: &mut HashSet<String>,
    ) -> Result<(), StoreError> {
        #[derive(serde::Deserialize)]
        struct Root {
            #[serde(default)]
            blobs: Vec<Digest>,
            #[serde(default)]
            chains: Vec<Digest>,
        }
        let dir = self.root.join(GC_ROOTS_DIR);
        let Ok(owners) = fs::read_dir(&dir) else {
            return Ok(());
        };
        for owner in owners.flatten() {
            let Ok(files) = fs::read_dir(owner.path()) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                if path.extension() != Some(std::ffi::OsStr::new("json")) {
                    continue;
                }
                let bytes = match fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(&path, e)),
                };
                // A root that cannot be read stops gc: deleting what it may
                // protect cannot be undone.
                let root: Root = serde_json::from_slice(&bytes).map_err(|e| StoreError::Json {
                    path: path.display().to_string(),
                    source: e,
                })?;
                blobs.extend(root.blobs.iter().map(|d| d.hex().to_string()));
                chains.extend(root.chains.iter().map(|d| d.hex().to_string()));
            }
        }
        Ok(())
    }
}

/// Directory of gc root files, relative to the store root.
pub const GC_ROOTS_DIR: &str = "gc-roots";
