//! Helpers for the cache tests: a stored one-file layer and a step result
//! on top of it, as the executor would produce them.

#![allow(dead_code)]

use rbuild::cache::{Cache, CacheKey, CacheRecord, KeyBuilder, LayerRef, StepResult};
use rbuild::image::config::{canonical_json, empty_config, push_history};
use rbuild::image::Digest;
use rbuild::layer::Compression;
use rbuild::store::Store;
use std::time::UNIX_EPOCH;

/// Stores a layer holding one file `data` with `content`.
pub fn stored_layer(store: &Store, content: &str) -> LayerRef {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "data", content.as_bytes())
        .expect("tar");
    let tar = tar.into_inner().expect("tar");
    let (desc, blob) = store
        .put_layer_from_tar(&tar[..], Compression::Gzip)
        .expect("store layer");
    LayerRef::new(&desc, &blob.diff_id).expect("layer ref")
}

/// A key for test step `n` of chain `name`.
pub fn key(name: &str, n: usize) -> CacheKey {
    KeyBuilder::child(&KeyBuilder::base_image(
        &Digest::of_bytes(name.as_bytes()),
        "linux/amd64",
    ))
    .instruction_text("RUN", &[&format!("step {n}")])
    .build()
}

/// Runs a fake step: stores a layer with `content` and records it under `key`.
pub fn put_step(cache: &Cache, key: &CacheKey, content: &str) -> CacheRecord {
    let layer = stored_layer(cache.store(), content);
    let mut config = empty_config(UNIX_EPOCH);
    let diff = rbuild::image::DiffId(layer.diff_id.clone());
    push_history(&mut config, Some(&diff), UNIX_EPOCH, "RUN step", None).expect("history");
    cache
        .put(
            key,
            &StepResult {
                config_json: &canonical_json(&config).expect("config JSON"),
                layers: vec![layer],
                new_layer: true,
                description: format!("RUN {content}"),
            },
        )
        .expect("put")
}
