//! The build cache's hooks in the executor: step keys (from
//! [`crate::cache::KeyBuilder`]) are chained through every instruction of a
//! stage; layer steps (WORKDIR, COPY, ADD, RUN) look their key up before
//! running and record their result after; metadata steps too (a record keeps
//! the whole config blob, Healthcheck, OnBuild and Shell included), so a hit
//! gives the same image a rerun would. `--no-cache` disables lookups, not
//! records (as BuildKit: the next build reuses what this one ran);
//! `--no-cache-filter` disables lookups for the named stages. `--cache-from`
//! caches are imported when the cache opens (a missing one is a warning),
//! `--cache-to` is written by [`BuildCache::export`] after the build.

use super::state::ImageState;
use super::ExecError;
use crate::cache::export::{export_build, import_local};
use crate::cache::CacheExportMode;
use crate::cache::{
    hash_selection, Cache, CacheHit, CacheKey, ContentHash, LayerRef, MetadataRecord, Ownership,
    Selection, StepResult,
};
use crate::context::DockerIgnore;
use crate::store::Store;
use std::path::{Path, PathBuf};

/// The cache as one build uses it.
pub(super) struct BuildCache<'s> {
    cache: Cache<'s>,
    record: Option<MetadataRecord>,
    /// `--no-cache`: every step runs; results are still recorded.
    no_lookups: bool,
    no_cache_stages: Vec<String>,
}

impl<'s> BuildCache<'s> {
    /// Opens the store's cache, the context's metadata record and the
    /// `--cache-from` imports (none with `no_cache`: nothing is looked up).
    pub fn open(
        store: &'s Store,
        context_dir: &Path,
        no_cache: bool,
        no_cache_stages: &[String],
        cache_from: &[PathBuf],
    ) -> Result<BuildCache<'s>, ExecError> {
        let mut cache =
            Cache::open(store).map_err(|e| ExecError::Run(format!("build cache: {e}")))?;
        let imports = if no_cache { &[][..] } else { cache_from };
        for src in imports {
            // The first CI run has no export yet: build without it, as buildx.
            if !src.join("index.json").exists() {
                log::warn!(
                    "--cache-from {}: no cache export there (yet); building without it",
                    src.display()
                );
                continue;
            }
            let imported = import_local(src)
                .map_err(|e| ExecError::Run(format!("--cache-from {}: {e}", src.display())))?;
            cache.add_import(imported);
        }
        let record = cache.context_record(context_dir).ok();
        Ok(BuildCache {
            cache,
            record,
            no_lookups: no_cache,
            no_cache_stages: no_cache_stages
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
        })
    }

    /// The stored result of `key`, unless the cache is off for `stage`.
    /// A broken record is a miss (logged), never a failed build.
    pub fn lookup(&self, stage: &str, key: &CacheKey) -> Option<CacheHit> {
        if self.no_lookups || self.no_cache_stages.iter().any(|s| s == stage) {
            return None;
        }
        match self.cache.lookup(key) {
            Ok(hit) => hit,
            Err(e) => {
                log::warn!("build cache lookup {}: {e}", key.short());
                None
            }
        }
    }

    /// Records a step's result (best effort: a failed record only costs a later rebuild).
    pub fn put(&self, key: &CacheKey, state: &ImageState, new_layer: bool, description: &str) {
        let diffs = state.diff_ids();
        let layers: Result<Vec<LayerRef>, _> = state
            .layers
            .iter()
            .zip(&diffs)
            .map(|(d, id)| LayerRef::new(d, id))
            .collect();
        let layers = match layers {
            Ok(l) => l,
            Err(e) => {
                log::warn!("build cache record {}: {e}", key.short());
                return;
            }
        };
        let config_json = match state.config_json() {
            Ok(c) => c,
            Err(e) => {
                log::warn!("build cache record {}: {e}", key.short());
                return;
            }
        };
        let result = StepResult {
            config_json: &config_json,
            layers,
            new_layer,
            description: description.to_string(),
        };
        if let Err(e) = self.cache.put(key, &result) {
            log::warn!("build cache record {}: {e}", key.short());
        }
    }

    /// The content hash of COPY/ADD sources in the context (files owned 0:0
    /// as COPY writes them; `--chown` is part of the instruction).
    pub fn context_hash(
        &self,
        root: &Path,
        sources: &[String],
        exclude: &[String],
        ignore: Option<&DockerIgnore>,
        chmod: Option<u32>,
    ) -> Result<ContentHash, ExecError> {
        let sel = Selection {
            root,
            sources: sources.to_vec(),
            exclude: exclude.to_vec(),
            ignore,
            owner: Ownership::Fixed { uid: 0, gid: 0 },
            chmod,
        };
        let memory;
        let record = match &self.record {
            Some(r) => r,
            None => {
                memory = MetadataRecord::in_memory();
                &memory
            }
        };
        let (hash, _) = hash_selection(&sel, record).map_err(|e| ExecError::Copy(e.to_string()))?;
        Ok(hash)
    }

    /// `--cache-to`: writes the target's step records (all used ones with
    /// mode=max) as a cache layout at `dest`.
    pub fn export(
        &self,
        dest: &Path,
        mode: CacheExportMode,
        target_keys: &[CacheKey],
    ) -> Result<(), ExecError> {
        export_build(&self.cache, dest, mode, target_keys)
            .map(|_| ())
            .map_err(|e| ExecError::Output(format!("--cache-to {}: {e}", dest.display())))
    }

    /// Saves what was learned about the context's files.
    pub fn finish(&self, store: &Store) {
        if let Some(r) = &self.record {
            if let Err(e) = r.save(store) {
                log::warn!("saving the context metadata record: {e}");
            }
        }
    }
}

/// Applies a cache hit: the whole image after the step (config, the fields
/// oci-spec lacks, layers), parsed as [`ImageState::from_record`] does.
pub(super) fn apply_hit(state: &mut ImageState, hit: CacheHit) -> Result<(), ExecError> {
    let raw: serde_json::Value = serde_json::from_slice(&hit.config_json)
        .map_err(|e| ExecError::Run(format!("cache record {}: {e}", hit.record.key.short())))?;
    let base = state.base_manifest.take();
    *state = ImageState::from_parts(hit.config, &raw, hit.layers, base);
    Ok(())
}
