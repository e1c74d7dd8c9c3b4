//! The image a stage is building, step by step: the OCI config (plus the
//! config fields OCI lacks and BuildKit keeps: Healthcheck, OnBuild, Shell),
//! the layer descriptors, and where those layers are unpacked. It does not
//! run steps; it records their results.

use super::ExecError;
use crate::image::config::{empty_config, push_history};
use crate::image::{ChainId, DiffId, Digest};
use crate::layer::LayerBlob;
use crate::store::{ImageRecord, Store};
use oci_spec::image::{Config, Descriptor, ImageConfiguration};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::SystemTime;

/// Config fields Docker/BuildKit write and the OCI spec does not define,
/// kept as the raw JSON docker and podman read back.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// `config.Healthcheck`: `{"Test": [...], "Interval": ns, ...}`.
    pub healthcheck: Option<Value>,
    /// `config.OnBuild`: trigger instructions as text.
    pub on_build: Vec<String>,
    /// `config.Shell`.
    pub shell: Option<Vec<String>>,
}

/// A stage's image in progress.
#[derive(Clone, Debug)]
pub struct ImageState {
    /// The config without its runtime part (oci-spec gives no mutable
    /// access to it), see `runtime`.
    pub config: ImageConfiguration,
    /// The runtime config (`config.config`): Env, Cmd, User, ...
    pub runtime: Config,
    pub extras: Extras,
    pub layers: Vec<Descriptor>,
    /// The manifest digest of the base image (`None` for scratch).
    pub base_manifest: Option<Digest>,
}

/// The history comment BuildKit writes on every entry.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

impl ImageState {
    /// `FROM scratch`.
    pub fn scratch(created: SystemTime) -> ImageState {
        ImageState {
            config: empty_config(created),
            runtime: Config::default(),
            extras: Extras::default(),
            layers: Vec::new(),
            base_manifest: None,
        }
    }

    /// `FROM image` for an image in the store.
    pub fn from_record(store: &Store, rec: &ImageRecord) -> Result<ImageState, ExecError> {
        let raw: Value = store.read_json(&rec.id)?;
        Ok(ImageState::from_parts(
            rec.config.clone(),
            &raw,
            rec.manifest.layers().clone(),
            Some(rec.manifest_digest.clone()),
        ))
    }

    /// The state a config blob (as [`ImageState::config_json`] writes it)
    /// and its layers describe: `config` as oci-spec read it, `raw` the
    /// same blob as JSON for the fields oci-spec drops.
    pub fn from_parts(
        config: ImageConfiguration,
        raw: &Value,
        layers: Vec<Descriptor>,
        base_manifest: Option<Digest>,
    ) -> ImageState {
        let cfg = raw.get("config").or_else(|| raw.get("Config"));
        let field = |k: &str| cfg.and_then(|c| c.get(k)).filter(|v| !v.is_null()).cloned();
        let extras = Extras {
            healthcheck: field("Healthcheck"),
            on_build: field("OnBuild")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            shell: field("Shell").and_then(|v| serde_json::from_value(v).ok()),
        };
        let mut config = config;
        let runtime = config.config().clone().unwrap_or_default();
        config.set_config(None);
        ImageState {
            runtime,
            config,
            extras,
            layers,
            base_manifest,
        }
    }

    /// The runtime config, to change it.
    pub fn runtime(&mut self) -> &mut Config {
        &mut self.runtime
    }

    /// The runtime config, read-only.
    pub fn runtime_ref(&self) -> &Config {
        &self.runtime
    }

    /// The whole OCI config (runtime part included).
    pub fn full_config(&self) -> ImageConfiguration {
        let mut c = self.config.clone();
        c.set_config(Some(self.runtime.clone()));
        c
    }

    /// The working directory (`/` when unset).
    pub fn workdir(&self) -> String {
        self.runtime
            .working_dir()
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_string())
    }

    /// The shell for shell-form commands.
    pub fn shell(&self) -> Vec<String> {
        self.extras
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// The image ENV as (key, value) pairs.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.runtime
            .env()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect()
    }

    /// Records a metadata-only step.
    pub fn add_empty(&mut self, created: SystemTime, created_by: &str) -> Result<(), ExecError> {
        push_history(
            &mut self.config,
            None,
            created,
            created_by,
            Some(HISTORY_COMMENT),
        )?;
        Ok(())
    }

    /// Records a step that produced a layer.
    pub fn add_layer(
        &mut self,
        desc: Descriptor,
        blob: &LayerBlob,
        created: SystemTime,
        created_by: &str,
    ) -> Result<(), ExecError> {
        push_history(
            &mut self.config,
            Some(&blob.diff_id),
            created,
            created_by,
            Some(HISTORY_COMMENT),
        )?;
        self.layers.push(desc);
        Ok(())
    }

    /// The layers' diff_ids.
    pub fn diff_ids(&self) -> Vec<DiffId> {
        crate::image::config::diff_ids(&self.config)
    }

    /// The chain id of the top layer (`None` for an empty image).
    pub fn top_chain(&self) -> Option<ChainId> {
        ChainId::all(&self.diff_ids()).pop()
    }

    /// Unpacks (once, in the store) every layer and returns the dirs top-most
    /// first, as overlayfs `lowerdir=` wants them.
    pub fn lower_dirs(&self, store: &Store) -> Result<Vec<PathBuf>, ExecError> {
        let mut dirs =
            store.unpack_layers("the image being built", &self.diff_ids(), &self.layers)?;
        dirs.reverse();
        Ok(dirs)
    }

    /// The config JSON as written to the store: the OCI config with the
    /// extra fields merged into `config`, keys sorted.
    pub fn config_json(&self) -> Result<Vec<u8>, ExecError> {
        let mut v = serde_json::to_value(self.full_config())
            .map_err(crate::image::config::ConfigError::from)?;
        if let Some(obj) = v.as_object_mut() {
            let cfg = obj
                .entry("config")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(c) = cfg.as_object_mut() {
                if let Some(h) = &self.extras.healthcheck {
                    c.insert("Healthcheck".into(), h.clone());
                }
                if !self.extras.on_build.is_empty() {
                    c.insert("OnBuild".into(), serde_json::json!(self.extras.on_build));
                }
                if let Some(s) = &self.extras.shell {
                    c.insert("Shell".into(), serde_json::json!(s));
                }
            }
        }
        Ok(serde_json::to_vec(&v).map_err(crate::image::config::ConfigError::from)?)
    }
}
