//! Cache export and import for CI (`--cache-to type=local,dest=DIR[,mode=min|max]`,
//! `--cache-from type=local,src=DIR`), as an OCI image layout a registry
//! could serve as is:
//!
//! ```text
//! DIR/oci-layout
//! DIR/index.json            one manifest, annotated ref.name "cache"
//! DIR/blobs/sha256/<hex>    the manifest, the cache config, every layer and
//!                           image config the records use
//! ```
//! The manifest's config is the cache config (media type
//! [`CACHE_CONFIG_MEDIA_TYPE`]): `{"records": [CacheRecord...]}`, the same
//! records as the local index. Keys come from content only, so an export made
//! on one machine hits on another. Exporting into an existing layout merges
//! (new records win). Import reads the records; blobs are copied (and
//! verified against their digests) into the store only on a hit.
//! [`export_build`] picks the keys by mode (min: the final stage's steps,
//! which the caller names; max: every step the build used).

use super::index::{Cache, CacheRecord};
use super::{CacheError, CacheKey};
use crate::image::config::{canonical_json, descriptor, manifest};
use crate::image::Digest;
use crate::store::{fsutil, Store};
use oci_spec::image::{ImageIndex, ImageManifest, MediaType};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Media type of the cache config blob.
pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.rbuild.cache.config.v1+json";

/// `mode=` of `--cache-to`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheExportMode {
    /// Only the steps of the final image (the default, as in buildx).
    #[default]
    Min,
    /// Every step of every stage built.
    Max,
}

/// One `--cache-to` or `--cache-from` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOption {
    Export {
        dest: PathBuf,
        mode: CacheExportMode,
    },
    Import {
        src: PathBuf,
    },
}

/// Parses `type=local,dest=DIR[,mode=min|max]` (export) or
/// `type=local,src=DIR` (import).
pub fn parse_cache_option(s: &str) -> Result<CacheOption, CacheError> {
    let bad = |why: String| CacheError::Option(format!("cache option {s:?}: {why}"));
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(bad(format!(
                "{part:?} is not key=value (a registry reference as cache comes with registry support)"
            )));
        };
        if fields.insert(k.trim(), v.trim()).is_some() {
            return Err(bad(format!("{k} given twice")));
        }
    }
    match fields.remove("type") {
        Some("local") => {}
        Some(t @ ("registry" | "inline" | "gha" | "s3" | "azblob")) => {
            return Err(bad(format!(
                "cache type {t} is not supported yet; use type=local"
            )))
        }
        Some(t) => return Err(bad(format!("unknown cache type {t:?}; use type=local"))),
        None => return Err(bad("missing type=local".into())),
    }
    let mode = match fields.remove("mode") {
        None | Some("min") => CacheExportMode::Min,
        Some("max") => CacheExportMode::Max,
        Some(m) => return Err(bad(format!("mode={m}: use min or max"))),
    };
    let out = match (fields.remove("dest"), fields.remove("src")) {
        (Some(d), None) if !d.is_empty() => CacheOption::Export {
            dest: PathBuf::from(d),
            mode,
        },
        (None, Some(src)) if !src.is_empty() => CacheOption::Import {
            src: PathBuf::from(src),
        },
        (Some(_), Some(_)) => {
            return Err(bad("give dest= (export) or src= (import), not both".into()))
        }
        _ => return Err(bad("missing dest=DIR (export) or src=DIR (import)".into())),
    };
    // Options buildx accepts that make no difference here.
    for k in [
        "compression",
        "compression-level",
        "force-compression",
        "oci-mediatypes",
        "ignore-error",
        "digest",
        "tag",
    ] {
        fields.remove(k);
    }
    if let Some(k) = fields.keys().next() {
        return Err(bad(format!("unknown key {k:?}")));
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheConfig {
    records: Vec<CacheRecord>,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub records: usize,
    pub blobs_copied: usize,
    pub bytes_copied: u64,
}

/// Writes the records of `keys` (those present in the cache) into the OCI
/// layout at `dest`, merging with an export already there.
pub fn export_local(
    cache: &Cache,
    dest: &Path,
    keys: &[CacheKey],
) -> Result<ExportReport, CacheError> {
    let store = cache.store();
    let blobs_dir = dest.join("blobs/sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| CacheError::io(&blobs_dir, e))?;
    let mut merged: BTreeMap<CacheKey, CacheRecord> = match read_layout(dest) {
        Ok((_, cfg)) => cfg
            .records
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect(),
        Err(_) => BTreeMap::new(),
    };
    let mut report = ExportReport::default();
    for key in keys {
        let Some(rec) = cache.get(key)? else { continue };
        for d in &rec.blobs {
            if let Some(n) = copy_blob(&store.blob_path(d), dest, d)? {
                report.blobs_copied += 1;
                report.bytes_copied += n;
            }
        }
        merged.insert(rec.key.clone(), rec);
        report.records += 1;
    }
    let cfg = CacheConfig {
        records: merged.into_values().collect(),
    };
    let cfg_bytes = canonical_json(&cfg)?;
    let cfg_digest = write_blob(dest, &cfg_bytes)?;
    let mut layers = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in &cfg.records {
        if seen.insert(r.config.clone()) {
            layers.push(descriptor(MediaType::ImageConfig, &r.config, r.config_size));
        }
        for l in &r.layers {
            if seen.insert(l.digest.clone()) {
                layers.push(l.descriptor());
            }
        }
    }
    let config_desc = descriptor(
        MediaType::Other(CACHE_CONFIG_MEDIA_TYPE.into()),
        &cfg_digest,
        cfg_bytes.len() as u64,
    );
    let m = manifest(config_desc, layers)?;
    let m_bytes = canonical_json(&m)?;
    let m_digest = write_blob(dest, &m_bytes)?;
    let mut m_desc = descriptor(MediaType::ImageManifest, &m_digest, m_bytes.len() as u64);
    m_desc.set_annotations(Some(HashMap::from([(
        "org.opencontainers.image.ref.name".to_string(),
        "cache".to_string(),
    )])));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageIndex.to_string(),
        "manifests": [m_desc],
    });
    write_file_atomic(dest, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write_file_atomic(dest, "index.json", &canonical_json(&index)?)?;
    Ok(report)
}

/// `--cache-to` after a build: `mode=min` exports `target_keys` (the steps
/// of the final stage, as the executor knows them); `mode=max` also every
/// other key this build hit or recorded ([`Cache::used_keys`]).
pub fn export_build(
    cache: &Cache,
    dest: &Path,
    mode: CacheExportMode,
    target_keys: &[CacheKey],
) -> Result<ExportReport, CacheError> {
    let mut keys = target_keys.to_vec();
    if mode == CacheExportMode::Max {
        for k in cache.used_keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    export_local(cache, dest, &keys)
}

/// An imported cache (`--cache-from type=local,src=DIR`).
#[derive(Debug)]
pub struct ImportedCache {
    dir: PathBuf,
    records: HashMap<CacheKey, CacheRecord>,
}

/// Reads the layout at `src`. Fails with a message naming what is wrong.
pub fn import_local(src: &Path) -> Result<ImportedCache, CacheError> {
    let (_, cfg) = read_layout(src)?;
    Ok(ImportedCache {
        dir: src.to_path_buf(),
        records: cfg
            .records
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect(),
    })
}

impl ImportedCache {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &CacheKey> {
        self.records.keys()
    }

    pub(crate) fn record(&self, key: &CacheKey) -> Option<CacheRecord> {
        self.records.get(key).cloned()
    }

    /// Copies the record's blobs into `store`, each verified against its digest.
    pub(crate) fn copy_blobs_into(
        &self,
        store: &Store,
        rec: &CacheRecord,
    ) -> Result<(), CacheError> {
        for d in &rec.blobs {
            if store.has_blob(d) {
                continue;
            }
            let path = self.dir.join("blobs/sha256").join(d.hex());
            store.put_blob_from_file(
                MediaType::Other("application/octet-stream".into()),
                &path,
                Some(d),
            )?;
        }
        Ok(())
    }
}

fn read_layout(dir: &Path) -> Result<(ImageManifest, CacheConfig), CacheError> {
    let corrupt = |path: &Path, why: String| CacheError::Corrupt {
        path: path.display().to_string(),
        why,
    };
    let index_path = dir.join("index.json");
    let bytes = fs::read(&index_path).map_err(|e| CacheError::io(&index_path, e))?;
    let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| CacheError::Json {
        path: index_path.display().to_string(),
        source: e,
    })?;
    let Some(m_desc) = index.manifests().first() else {
        return Err(corrupt(
            &index_path,
            "no manifest: not a cache export".into(),
        ));
    };
    let m_digest =
        Digest::from_oci(m_desc.digest()).map_err(|e| corrupt(&index_path, e.to_string()))?;
    let m: ImageManifest = read_verified_json(dir, &m_digest)?;
    if m.config().media_type().to_string() != CACHE_CONFIG_MEDIA_TYPE {
        return Err(corrupt(
            &index_path,
            format!(
                "manifest config is {}, not a cache config",
                m.config().media_type()
            ),
        ));
    }
    let c_digest =
        Digest::from_oci(m.config().digest()).map_err(|e| corrupt(&index_path, e.to_string()))?;
    let cfg: CacheConfig = read_verified_json(dir, &c_digest)?;
    Ok((m, cfg))
}

fn read_verified_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    d: &Digest,
) -> Result<T, CacheError> {
    let path = dir.join("blobs/sha256").join(d.hex());
    let bytes = fs::read(&path).map_err(|e| CacheError::io(&path, e))?;
    let actual = Digest::of_bytes(&bytes);
    if &actual != d {
        return Err(CacheError::Corrupt {
            path: path.display().to_string(),
            why: format!("content is {actual}, not {d}"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| CacheError::Json {
        path: path.display().to_string(),
        source: e,
    })
}

/// Copies a blob file into `blobs_dir` unless present; returns bytes copied.
/// Temp files go in the layout's root (same filesystem, not in blobs/).
fn copy_blob(from: &Path, dest: &Path, d: &Digest) -> Result<Option<u64>, CacheError> {
    let to = dest.join("blobs/sha256").join(d.hex());
    if to.exists() {
        return Ok(None);
    }
    let tmp = tempfile::NamedTempFile::new_in(dest).map_err(|e| CacheError::io(dest, e))?;
    let mut src = fs::File::open(from).map_err(|e| CacheError::io(from, e))?;
    let n =
        std::io::copy(&mut src, &mut tmp.as_file()).map_err(|e| CacheError::io(tmp.path(), e))?;
    fsutil::persist(tmp, &to)?;
    Ok(Some(n))
}

fn write_blob(dest: &Path, bytes: &[u8]) -> Result<Digest, CacheError> {
    let d = Digest::of_bytes(bytes);
    let to = dest.join("blobs/sha256").join(d.hex());
    if !to.exists() {
        let mut tmp = tempfile::NamedTempFile::new_in(dest).map_err(|e| CacheError::io(dest, e))?;
        tmp.write_all(bytes)
            .map_err(|e| CacheError::io(tmp.path(), e))?;
        fsutil::persist(tmp, &to)?;
    }
    Ok(d)
}

fn write_file_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), CacheError> {
    Ok(fsutil::write_atomic(dir, &dir.join(name), bytes)?)
}
