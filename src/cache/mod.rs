//! The build cache, BuildKit's model: every step has a [`CacheKey`] computed
//! from its content inputs ([`key`], [`content`]); the [`Cache`] maps keys to
//! the step's result (the image config after the step and its layers, whose
//! blobs stay in the [`Store`](crate::store::Store)) and survives restarts
//! and concurrent builds ([`index`]). [`mod@prune`] removes records (LRU, age,
//! all) and reports disk usage; [`export`] writes and reads caches as OCI
//! image layouts (`--cache-to` / `--cache-from type=local`).
//!
//! How the executor uses it, step by step:
//! 1. `FROM`: `KeyBuilder::base_image(&manifest_digest, platform)` (or
//!    `scratch`, or the earlier stage's last key).
//! 2. Each step: `KeyBuilder::child(&parent).instruction(&expanded)`, plus
//!    `.env(...)` (ENV + ARGs in scope), `.option(...)` (user, workdir, shell,
//!    network, platform), `.sources(&hash)` for COPY/ADD (from
//!    [`content::hash_selection`] with the context's [`MetadataRecord`] from
//!    [`Cache::context_record`]), `.mount(...)`, `.url_content(...)`; then
//!    `.build()`.
//! 3. `cache.lookup(&key)?`: `Some(hit)` gives the config and layers to
//!    continue from (mark the step CACHED); `None`: run the step, store its
//!    blobs, then `cache.put(&key, &StepResult { .. })`. Metadata steps
//!    (ENV, LABEL, ...) are looked up and recorded too: a record keeps the
//!    whole config blob as the executor writes it, fields oci-spec lacks
//!    (Healthcheck, OnBuild, Shell) included ([`CacheHit::config_json`]).
//! 4. After the build: `record.save(store)` on the context's
//!    [`MetadataRecord`], so unchanged files are not read again next time.
//! 5. `--cache-from`: [`parse_cache_option`], then [`export::import_local`]
//!    and [`Cache::add_import`] before the build; `--cache-to` after it:
//!    [`export::export_build`] with the final stage's keys (mode=max adds
//!    every key the build used, [`Cache::used_keys`]).
//!
//! It does not run steps, resolve images, or print progress.

pub mod content;
pub mod export;
pub mod index;
pub mod key;
pub mod metadata;
pub mod prune;

pub use content::{hash_selection, ContentHash, HashStats, Ownership, Selection};
pub use export::{parse_cache_option, CacheExportMode, CacheOption};
pub use index::{Cache, CacheHit, CacheRecord, LayerRef, StepResult};
pub use key::{canonical_instruction, CacheKey, KeyBuilder};
pub use metadata::MetadataRecord;
pub use prune::{disk_usage, prune, DiskUsage, PruneOptions, PruneReport};

use crate::store::StoreError;
use std::path::Path;

/// Errors from the build cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image metadata: {0}")]
    Config(#[from] crate::image::config::ConfigError),
    /// A COPY/ADD source or bind source that cannot be selected.
    #[error("{0}")]
    Source(String),
    /// A malformed `--cache-to` / `--cache-from` / prune option.
    #[error("{0}")]
    Option(String),
    /// A cache directory or record that is not what it should be.
    #[error("{path}: {why}")]
    Corrupt { path: String, why: String },
}

impl CacheError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> CacheError {
        CacheError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
