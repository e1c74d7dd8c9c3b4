//! The persistent cache index: one JSON record per key in
//! `ROOT/gc-roots/cache/<key>.json`. A record holds the step's result: the
//! image config after the step (a blob) and every layer of that image
//! (blobs), so a hit is a complete image without its parents' records.
//!
//! Records double as store gc roots: their `blobs` and `chains` fields follow
//! the store's gc-roots schema, so `Store::gc` never deletes what the cache
//! references. One file per key keeps concurrent builds independent: a put
//! is an atomic replace (temp file, fsync, rename), so two processes writing
//! the same key both leave a whole record, and kill -9 leaves the old or the
//! new record, never a torn one. Last use is the record file's mtime
//! (touched on a hit, no rewrite and no fsync: losing it in a crash only
//! makes LRU slightly less exact). Records whose blobs went missing are
//! misses, not errors.

use super::export::ImportedCache;
use super::metadata::MetadataRecord;
use super::{CacheError, CacheKey};
use crate::image::config::descriptor;
use crate::image::{ChainId, DiffId, Digest};
use crate::store::{fsutil, Store};
use oci_spec::image::{Descriptor, ImageConfiguration, MediaType};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where records live, relative to the store root.
pub const RECORDS_DIR: &str = "gc-roots/cache";

/// One layer of a cached result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
}

impl LayerRef {
    /// From a stored layer's descriptor and diff_id.
    pub fn new(desc: &Descriptor, diff_id: &DiffId) -> Result<LayerRef, CacheError> {
        let digest = Digest::from_oci(desc.digest()).map_err(|e| CacheError::Corrupt {
            path: "layer descriptor".into(),
            why: e.to_string(),
        })?;
        Ok(LayerRef {
            media_type: desc.media_type().to_string(),
            digest,
            size: desc.size(),
            diff_id: diff_id.0.clone(),
        })
    }

    /// The OCI descriptor for a manifest.
    pub fn descriptor(&self) -> Descriptor {
        descriptor(
            MediaType::from(self.media_type.as_str()),
            &self.digest,
            self.size,
        )
    }
}

/// What a step produced, as the executor hands it to [`Cache::put`].
#[derive(Clone, Debug)]
pub struct StepResult<'a> {
    /// The image config after the step: the bytes of its blob, stored as
    /// given, so fields oci-spec's `ImageConfiguration` drops (Healthcheck,
    /// OnBuild, Shell) come back on a hit.
    pub config_json: &'a [u8],
    /// All layers of the image after the step, bottom first, already stored.
    pub layers: Vec<LayerRef>,
    /// True when the step made the top layer (RUN, COPY, ADD, WORKDIR...).
    pub new_layer: bool,
    /// For people: `[build 2/4] RUN make`.
    pub description: String,
}

/// A stored cache entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CacheRecord {
    pub key: CacheKey,
    /// The config blob of the image after the step.
    pub config: Digest,
    pub config_size: u64,
    pub layers: Vec<LayerRef>,
    pub new_layer: bool,
    pub description: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// gc roots (store schema): every blob above.
    pub blobs: Vec<Digest>,
    /// gc roots (store schema): the chain ids of the layers, so the unpacked
    /// layers stay for the next build.
    pub chains: Vec<Digest>,
    /// Seconds since the epoch; from the file's mtime, not stored.
    #[serde(skip)]
    pub last_used: u64,
}

impl CacheRecord {
    /// Bytes this step added: its own layer (if it made one) and its config.
    pub fn size(&self) -> u64 {
        let layer = match (self.new_layer, self.layers.last()) {
            (true, Some(l)) => l.size,
            _ => 0,
        };
        layer + self.config_size
    }
}

/// A hit: everything needed to continue the build from this step.
#[derive(Clone, Debug)]
pub struct CacheHit {
    pub record: CacheRecord,
    /// The config, as oci-spec reads it (fields it lacks are dropped).
    pub config: ImageConfiguration,
    /// The config blob as stored, every field kept.
    pub config_json: Vec<u8>,
    pub layers: Vec<Descriptor>,
}

impl serde::Serialize for CacheKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex())
    }
}

impl<'de> serde::Deserialize<'de> for CacheKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CacheKey, D::Error> {
        let s = String::deserialize(d)?;
        CacheKey::from_str(&s).map_err(serde::de::Error::custom)
    }
}

/// The build cache of one store.
pub struct Cache<'s> {
    store: &'s Store,
    dir: PathBuf,
    imports: Vec<ImportedCache>,
    /// Keys hit or put through this value, in order (for `mode=max` export).
    used: std::sync::Mutex<Vec<CacheKey>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<'s> Cache<'s> {
    /// Opens the cache of `store` (creating its directory).
    pub fn open(store: &'s Store) -> Result<Cache<'s>, CacheError> {
        let dir = store.root().join(RECORDS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| CacheError::io(&dir, e))?;
        Ok(Cache {
            store,
            dir,
            imports: Vec::new(),
            used: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Adds an imported cache (`--cache-from`): lookups that miss locally
    /// are tried there, and a hit copies its blobs into the store.
    pub fn add_import(&mut self, imported: ImportedCache) {
        self.imports.push(imported);
    }

    /// Every key this build hit or recorded, first use first, no repeats.
    pub fn used_keys(&self) -> Vec<CacheKey> {
        self.used.lock().map(|u| u.clone()).unwrap_or_default()
    }

    fn mark_used(&self, key: &CacheKey) {
        if let Ok(mut u) = self.used.lock() {
            if !u.contains(key) {
                u.push(key.clone());
            }
        }
    }

    fn record_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.hex()))
    }

    /// The record for `key` without checking its blobs or touching it.
    pub fn get(&self, key: &CacheKey) -> Result<Option<CacheRecord>, CacheError> {
        read_record(&self.record_path(key))
    }

    /// Looks `key` up: a hit needs the record and all its blobs. Marks the
    /// record used. Falls back to the imported caches.
    pub fn lookup(&self, key: &CacheKey) -> Result<Option<CacheHit>, CacheError> {
        if let Some(rec) = self.get(key)? {
            if let Some(hit) = self.complete(rec)? {
                let path = self.record_path(key);
                if let Ok(f) = std::fs::File::options().write(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                self.mark_used(key);
                return Ok(Some(hit));
            }
        }
        for imp in &self.imports {
            if let Some(rec) = imp.record(key) {
                imp.copy_blobs_into(self.store, &rec)?;
                self.write_record(&rec)?;
                if let Some(hit) = self.complete(rec)? {
                    self.mark_used(key);
                    return Ok(Some(hit));
                }
            }
        }
        Ok(None)
    }

    /// The hit for a record whose blobs are all present, else `None`.
    fn complete(&self, rec: CacheRecord) -> Result<Option<CacheHit>, CacheError> {
        if !self.store.has_blob(&rec.config)
            || rec.layers.iter().any(|l| !self.store.has_blob(&l.digest))
        {
            log::debug!("cache record {} lost a blob: miss", rec.key.short());
            return Ok(None);
        }
        let path = self.store.blob_path(&rec.config);
        let config_json = std::fs::read(&path).map_err(|e| CacheError::io(&path, e))?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_json).map_err(|e| CacheError::Json {
                path: path.display().to_string(),
                source: e,
            })?;
        let layers = rec.layers.iter().map(LayerRef::descriptor).collect();
        Ok(Some(CacheHit {
            record: rec,
            config,
            config_json,
            layers,
        }))
    }

    /// Records the result of a step. The layer blobs must already be in the
    /// store; the config is stored here.
    pub fn put(&self, key: &CacheKey, result: &StepResult) -> Result<CacheRecord, CacheError> {
        if let Err(e) = serde_json::from_slice::<ImageConfiguration>(result.config_json) {
            return Err(CacheError::Json {
                path: format!("config of cache record {}", key.short()),
                source: e,
            });
        }
        let desc = self
            .store
            .put_blob_bytes(MediaType::ImageConfig, result.config_json)?;
        for l in &result.layers {
            if !self.store.has_blob(&l.digest) {
                return Err(crate::store::StoreError::BlobMissing(l.digest.to_string()).into());
            }
        }
        let config = Digest::from_oci(desc.digest()).map_err(|e| CacheError::Corrupt {
            path: "config descriptor".into(),
            why: e.to_string(),
        })?;
        let rec = new_record(key, config, desc.size(), result);
        self.write_record(&rec)?;
        self.mark_used(key);
        Ok(rec)
    }

    pub(crate) fn write_record(&self, rec: &CacheRecord) -> Result<(), CacheError> {
        let path = self.record_path(&rec.key);
        let bytes = serde_json::to_vec(rec).map_err(|e| CacheError::Json {
            path: path.display().to_string(),
            source: e,
        })?;
        fsutil::write_atomic(self.store.tmp_dir(), &path, &bytes)?;
        Ok(())
    }

    /// Every record, oldest use first. Unreadable files are skipped with a
    /// warning (they cannot be produced by this code, but disks lie).
    pub fn list(&self) -> Result<Vec<CacheRecord>, CacheError> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(|e| CacheError::io(&self.dir, e))?;
        for entry in rd.flatten() {
            let path = entry.path();
            if path.extension() != Some(std::ffi::OsStr::new("json")) {
                continue;
            }
            match read_record(&path) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => log::warn!("skipping cache record: {e}"),
            }
        }
        out.sort_by(|a, b| (a.last_used, a.key.hex()).cmp(&(b.last_used, b.key.hex())));
        Ok(out)
    }

    /// Deletes record files that do not parse (a disk that lied; this code
    /// writes records atomically). Store gc refuses to run past them, since
    /// it cannot tell what they protect. Returns how many went.
    pub fn remove_unreadable(&self) -> Result<usize, CacheError> {
        let mut removed = 0;
        let rd = std::fs::read_dir(&self.dir).map_err(|e| CacheError::io(&self.dir, e))?;
        for entry in rd.flatten() {
            let path = entry.path();
            if path.extension() != Some(std::ffi::OsStr::new("json")) {
                continue;
            }
            if matches!(read_record(&path), Err(CacheError::Json { .. })) {
                log::warn!("{}: removing unreadable cache record", path.display());
                std::fs::remove_file(&path).map_err(|e| CacheError::io(&path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Deletes a record (its blobs go at the next store gc).
    pub fn remove(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let path = self.record_path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CacheError::io(&path, e)),
        }
    }

    /// The metadata record of a context directory (see [`MetadataRecord`]).
    pub fn context_record(&self, context_dir: &Path) -> Result<MetadataRecord, CacheError> {
        MetadataRecord::load(self.store, context_dir)
    }
}

pub(crate) fn new_record(
    key: &CacheKey,
    config: Digest,
    config_size: u64,
    result: &StepResult,
) -> CacheRecord {
    let diff_ids: Vec<DiffId> = result
        .layers
        .iter()
        .map(|l| DiffId(l.diff_id.clone()))
        .collect();
    let mut blobs = vec![config.clone()];
    blobs.extend(result.layers.iter().map(|l| l.digest.clone()));
    CacheRecord {
        key: key.clone(),
        config,
        config_size,
        layers: result.layers.clone(),
        new_layer: result.new_layer,
        description: result.description.clone(),
        created: now_secs(),
        blobs,
        chains: ChainId::all(&diff_ids).into_iter().map(|c| c.0).collect(),
        last_used: now_secs(),
    }
}

fn read_record(path: &Path) -> Result<Option<CacheRecord>, CacheError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::io(path, e)),
    };
    let mut rec: CacheRecord = serde_json::from_slice(&bytes).map_err(|e| CacheError::Json {
        path: path.display().to_string(),
        source: e,
    })?;
    rec.last_used = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(rec.created);
    Ok(Some(rec))
}
