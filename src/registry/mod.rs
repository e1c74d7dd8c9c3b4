//! OCI distribution-spec client: pull images into the [`Store`], push stored
//! images, resolve tags to digests, move arbitrary OCI layouts (for the
//! registry-backed build cache), log in/out and search.
//!
//! Built on `oci-client` (the ORAS project's client: tokio + reqwest with
//! rustls and the platform's trust roots). It already does what is fiddly to
//! get right — the WWW-Authenticate challenge, Bearer token fetch with
//! realm/service/scope, per-scope token caching with expiry and refresh,
//! Basic fallback, streaming blob GET with digest verification, monolithic
//! and chunked uploads, cross-repository mounts — so this module only adds
//! what rbuild needs around it: Docker's reference and credential rules,
//! insecure-registry handling, platform selection, schema 1 refusal, retries,
//! progress bars, and writing into the store atomically. Measured against
//! `skopeo copy` (benches/registry_pull.rs: 10 x 20 MiB gzip layers, local
//! distribution 2.8, medians of 5 interleaved runs, two sessions) it is
//! faster: pull 0.52-0.67x and push 0.53-0.56x of skopeo's time (pull 0.90 s
//! vs 1.72 s, push 1.96 s vs 3.67 s), so there was no reason to write a second
//! HTTP client. Its gaps are covered here: it reports a 202 "mount not
//! offered" as an error (we fall back to uploading), swallows token-fetch
//! errors on later requests (we authenticate up front so wrong passwords
//! fail clearly), and its stream digest check is the single hash pass.
//!
//! The store stays synchronous: each public call runs its own tokio runtime.
//! Credentials are never logged or put into errors: only registry host names
//! and repository paths are.
//!
//! Not here: unpacking layers (the store/layer modules), the build cache
//! format (the cache module calls [`push_layout`] / [`pull_layout`]).

mod blobs;
mod credentials;
mod layout;
mod login;
mod manifest;
mod progress;
mod pull;
mod push;
mod search;
mod transport;

pub use credentials::{Credentials, CredentialsError};
pub use layout::{pull_layout, push_layout};
pub use login::{login, logout};
pub use manifest::{ManifestFormat, Platform};
pub use pull::{pull, pull_resolved, resolve_digest, Pulled};
pub use push::{push, PushResult};
pub use search::{search, SearchResult};
pub use transport::default_insecure_registries;

use crate::image::digest::DigestError;
use crate::image::reference::ReferenceError;
use crate::store::StoreError;
use std::path::PathBuf;

/// Errors from talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("{registry}: authentication required or denied{detail}: check the user name and password, or run 'rbuild login {registry}'")]
    Unauthorized { registry: String, detail: String },
    #[error("{reference}: not found in the registry ({detail})")]
    NotFound { reference: String, detail: String },
    #[error("{reference}: invalid manifest: {why}")]
    ManifestInvalid { reference: String, why: String },
    #[error("{reference}: Docker image manifest schema 1 is deprecated and not supported; push the image again with a current client (schema 2 or OCI)")]
    Schema1 { reference: String },
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        reference: String,
        media_type: String,
    },
    #[error("{reference}: no image for platform {wanted} (available: {available})")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("{what}: content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{registry}: {message}")]
    Transport { registry: String, message: String },
    #[error("{registry}: {message} (the registry is unreachable or failing; try again later)")]
    Unavailable { registry: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64")]
    BadPlatform(String),
    #[error("{0}")]
    Invalid(String),
}

impl RegistryError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> RegistryError {
        RegistryError::Io {
            path: path.into(),
            source,
        }
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// One indicatif bar per blob on a terminal, one line per finished blob otherwise.
    #[default]
    Auto,
    /// Nothing.
    Quiet,
}

/// Connection settings shared by every operation.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Verify TLS certificates. `false` also allows plain HTTP (as podman's
    /// `--tls-verify=false`).
    pub tls_verify: bool,
    /// Registries (host[:port]) reached over plain HTTP when HTTPS fails, and
    /// without certificate verification. `None` means the defaults:
    /// `$RBUILD_INSECURE_REGISTRIES` (comma separated) if set, else
    /// localhost, 127.0.0.1 and ::1 (as Docker).
    pub insecure_registries: Option<Vec<String>>,
    /// Extra directory of CA certificates (`*.crt`, PEM), as skopeo's
    /// `--cert-dir`. /etc/docker/certs.d/HOST and /etc/containers/certs.d/HOST
    /// are always read too.
    pub cert_dir: Option<PathBuf>,
    /// Credentials to use instead of the Docker config file.
    pub credentials: Option<Credentials>,
    pub progress: ProgressMode,
    /// Attempts per request on connection errors and 5xx (at least 1).
    pub attempts: u32,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            insecure_registries: None,
            cert_dir: None,
            credentials: None,
            progress: ProgressMode::Auto,
            attempts: 4,
        }
    }
}

/// Options for [`pull`].
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    pub registry: RegistryOptions,
    /// The platform to pick from an index; `None` = the host's.
    pub platform: Option<Platform>,
    /// Parallel blob downloads (0 = default, 3 as Docker).
    pub max_concurrent: usize,
}

/// Options for [`push`].
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    pub registry: RegistryOptions,
    /// Manifest format to push: OCI (default) or Docker v2 schema 2.
    pub format: Option<ManifestFormat>,
    /// Upload each blob in chunks (PATCH per chunk) instead of one request.
    pub chunked: bool,
    /// Parallel blob uploads (0 = default, 3 as Docker).
    pub max_concurrent: usize,
}

/// Runs `fut` to completion on a runtime private to this call, so that the
/// callers (store, executor, CLI) stay synchronous.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, RegistryError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| RegistryError::io("tokio runtime", e))?;
    Ok(rt.block_on(fut))
}
