//! The build engine: runs the stage graph of a Dockerfile (from
//! [`crate::parser::stages`]) into an image in the store. Stages the target
//! needs run in parallel as soon as the stages they use are done (`jobs` at a
//! time); each stage walks its instructions with the ARG/ENV scope of
//! [`crate::parser::args`], recording config changes and layers in an
//! [`state::ImageState`]. COPY/ADD write layers straight from their sources
//! ([`copy`]), RUN goes through the sandbox ([`run`]), outputs other than the
//! store are in [`output`]. It does not parse Dockerfiles or print anything
//! itself (progress goes to [`crate::progress`]).

mod base;
mod caching;
mod chmod;
mod commit;
mod context;
mod copy;
pub mod fetch;
mod fsops;
mod graph;
mod metadata;
mod mounts;
pub mod output;
mod owner;
mod pending;
mod run;
mod run_mounts;
mod sources;
mod stage;
pub mod state;
mod workspace;

pub use base::{BasePolicy, ResolvedBase};
pub use context::BuildContext;
pub use mounts::enter_private_mount_namespace;

use crate::image::Reference;
use crate::layer::Compression;
use crate::parser::args::{BuildArgs, Platform};
use crate::progress::Progress;
use crate::store::{ImageRecord, Store};

/// Errors of a build. Step failures carry the Dockerfile line.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("mount: {0}")]
    Mount(String),
    #[error("build context: {0}")]
    Context(String),
    #[error("{0}")]
    Copy(String),
    #[error("{0}")]
    Dockerfile(String),
    #[error("{0}")]
    BaseImage(String),
    #[error("{0}")]
    Run(String),
    #[error("{0}")]
    Output(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Config(#[from] crate::image::config::ConfigError),
    /// A step failed: `Dockerfile:LINE` and the instruction, then why.
    #[error("{file}:{line}: {instruction}: {source}")]
    Step {
        file: String,
        line: usize,
        instruction: String,
        source: Box<ExecError>,
    },
    #[error("canceled: another stage failed")]
    Canceled,
}

impl ExecError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> ExecError {
        ExecError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// A `--secret` value.
#[derive(Clone, Debug)]
pub struct Secret {
    pub id: String,
    pub value: Vec<u8>,
}

/// Everything a build needs besides the store.
pub struct BuildRequest {
    /// The Dockerfile's bytes and the name used in messages (`Dockerfile`).
    pub dockerfile: Vec<u8>,
    pub dockerfile_name: String,
    pub context: BuildContext,
    pub build_args: BuildArgs,
    pub target: Option<String>,
    pub platform: Option<Platform>,
    /// `--label` pairs, applied to the final image.
    pub labels: Vec<(String, String)>,
    /// `-t` names; none: the image is stored untagged.
    pub tags: Vec<Reference>,
    /// `--network` for RUN: `default`, `none` or `host`.
    pub network: String,
    pub secrets: Vec<Secret>,
    /// `--ssh default`: the agent socket to forward.
    pub ssh_socket: Option<std::path::PathBuf>,
    /// Parallel stages at most.
    pub jobs: usize,
    pub compression: Compression,
    pub source_date_epoch: Option<i64>,
    /// `--memory`, `--cpus`, `--pids-limit` for RUN steps, as given.
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// `--no-cache`: neither look up nor record steps.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages whose steps are not looked up.
    pub no_cache_filter: Vec<String>,
    /// `--pull` and registry settings for base images not in the store.
    pub bases: BasePolicy,
    /// `--cache-from type=local,src=DIR` layouts.
    pub cache_from: Vec<std::path::PathBuf>,
    /// `--cache-to type=local,dest=DIR[,mode=max]`.
    pub cache_to: Option<(std::path::PathBuf, crate::cache::CacheExportMode)>,
}

/// What a build produced.
pub struct BuildResult {
    /// The image in the store (tagged with the request's tags, if any).
    pub record: ImageRecord,
    /// The final stage's image state (config with extras, layers).
    pub state: state::ImageState,
    /// The base images used, with the digests they resolved to.
    pub base_images: Vec<ResolvedBase>,
}

/// Runs a build: every stage the target needs, then commits the target's
/// image to the store.
pub fn build(
    store: &Store,
    req: &BuildRequest,
    progress: &Progress,
) -> Result<BuildResult, ExecError> {
    graph::run(store, req, progress)
}
