//! Base images of a build (`FROM IMAGE`, `COPY --from=IMAGE`,
//! `RUN --mount=from=IMAGE`): found in the store, or pulled through
//! [`crate::registry`] when missing, as `docker build` does. `--pull`
//! re-resolves each name in its registry (one HEAD request) and pulls only
//! when the digest there differs from the stored image; `name@sha256:...`
//! is verified against the content. Each name is resolved once per build
//! (stages that share a base wait for one pull), and the digest it resolved
//! to is kept for the build's record.
//!
//! It does not pick stages (the caller checks stage names first) nor compute
//! cache keys (the key of a base is its manifest digest, from the record).

use super::ExecError;
use crate::image::{Digest, Reference};
use crate::registry::{self, Platform, PullOptions, RegistryOptions};
use crate::store::{ImageRecord, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How base images are found: the `--pull` policy and how registries are reached.
#[derive(Clone, Debug, Default)]
pub struct BasePolicy {
    /// `--pull`: re-resolve every registry image, even one in the store.
    pub pull: bool,
    /// Connection settings (TLS, insecure registries, credentials); the
    /// progress mode is ignored (pulls report through the build's progress).
    pub registry: RegistryOptions,
}

/// A base image as the build resolved it.
#[derive(Clone, Debug)]
pub struct ResolvedBase {
    /// The name as the Dockerfile wrote it (after ARG expansion).
    pub name: String,
    /// `repo[:tag]@digest`: the registry digest it resolved to (an index's
    /// for a multi-platform image), or the stored manifest's when it was
    /// used from the store without asking a registry.
    pub pinned: String,
}

/// The base images of one build, each resolved once.
#[derive(Default)]
pub(super) struct BaseImages {
    /// By (name, platform); the lock is held during a pull so that two
    /// stages with the same base pull it once.
    resolved: Mutex<BTreeMap<(String, String), (ImageRecord, ResolvedBase)>>,
}

impl BaseImages {
    /// The stored image `name` stands for, pulled first when needed.
    /// `platform`: the stage's `FROM --platform` or the build's `--platform`
    /// (`None`: the host's, and a single-platform image is taken as is).
    /// `log` receives progress lines (what is resolved and pulled).
    pub fn resolve(
        &self,
        store: &Store,
        policy: &BasePolicy,
        name: &str,
        platform: Option<&str>,
        log: &mut dyn FnMut(&str),
    ) -> Result<ImageRecord, ExecError> {
        let slot = (name.to_string(), platform.unwrap_or_default().to_string());
        let mut resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((rec, _)) = resolved.get(&slot) {
            return Ok(rec.clone());
        }
        let (rec, base) = find_or_pull(store, policy, name, platform, log)?;
        resolved.insert(slot, (rec.clone(), base));
        Ok(rec)
    }

    /// Every base resolved so far, sorted by name.
    pub fn list(&self) -> Vec<ResolvedBase> {
        let resolved = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<ResolvedBase> = resolved.values().map(|(_, b)| b.clone()).collect();
        out.dedup_by(|a, b| a.name == b.name && a.pinned == b.pinned);
        out
    }
}

fn find_or_pull(
    store: &Store,
    policy: &BasePolicy,
    name: &str,
    platform: Option<&str>,
    log: &mut dyn FnMut(&str),
) -> Result<(ImageRecord, ResolvedBase), ExecError> {
    let local = match store.resolve(name) {
        Ok(rec) => Some(rec),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let pinned_local = |rec: &ImageRecord| ResolvedBase {
        name: name.to_string(),
        // An ID prefix also parses as a name: only a name the image has counts.
        pinned: match Reference::parse(name) {
            Ok(r) if r.digest().is_some() || rec.names.contains(&r) => {
                pinned(&r, &rec.manifest_digest)
            }
            _ => rec.manifest_digest.to_string(),
        },
    };
    // A digest reference names its content: the store's copy is that content.
    let pinned_by_name = Reference::parse(name).is_ok_and(|r| r.digest().is_some());
    match local {
        Some(rec) if !policy.pull || pinned_by_name => {
            let base = pinned_local(&rec);
            return Ok((rec, base));
        }
        _ => {}
    }
    let stored = local.is_some();
    let reference = Reference::parse(name).map_err(|e| {
        ExecError::BaseImage(format!(
            "base image {name:?} is not in the local store and is not a valid image reference to pull: {e}"
        ))
    })?;
    let opts = PullOptions {
        registry: RegistryOptions {
            progress: registry::ProgressMode::Quiet,
            ..policy.registry.clone()
        },
        platform: platform
            .map(|p| p.parse::<Platform>())
            .transpose()
            .map_err(|e| pull_error(name, stored, &e))?,
        max_concurrent: 0,
    };
    let mut wanted = reference.clone();
    if reference.digest().is_none() {
        log(&format!("resolve {reference}"));
        let remote = registry::resolve_digest(&reference, &opts.registry)
            .map_err(|e| pull_error(name, stored, &e))?;
        if let Some(rec) = local.filter(|r| r.manifest_digest == remote) {
            log(&format!("{} is up to date", pinned(&reference, &remote)));
            let base = ResolvedBase {
                name: name.to_string(),
                pinned: pinned(&reference, &remote),
            };
            return Ok((rec, base));
        }
        // Pull exactly what was resolved (a tag may move meanwhile); a
        // multi-platform image already stored is then served from the store.
        wanted = with_tag_and_digest(&reference, &remote)?;
    }
    log(&format!("pulling {wanted}"));
    let pulled =
        registry::pull_resolved(store, &wanted, &opts).map_err(|e| pull_error(name, stored, &e))?;
    let layers = pulled.record.manifest.layers().len();
    log(&format!(
        "pulled {} ({layers} layer{}, {})",
        pulled.digest,
        if layers == 1 { "" } else { "s" },
        crate::image::human::size(pulled.record.size)
    ));
    let base = ResolvedBase {
        name: name.to_string(),
        pinned: pinned(&reference, &pulled.digest),
    };
    Ok((pulled.record, base))
}

/// `repo[:tag]@digest` for the record.
fn pinned(r: &Reference, d: &Digest) -> String {
    match r.tag() {
        Some(t) => format!("{}:{t}@{d}", r.repository()),
        None => format!("{}@{d}", r.repository()),
    }
}

/// `repo:tag@digest`, so the pull is by digest and the tag still names the result.
fn with_tag_and_digest(r: &Reference, d: &Digest) -> Result<Reference, ExecError> {
    let text = pinned(r, d);
    Reference::parse(&text).map_err(|e| ExecError::BaseImage(format!("{text}: {e}")))
}

fn pull_error(name: &str, stored: bool, e: &registry::RegistryError) -> ExecError {
    let why = if stored {
        "--pull: re-resolving it in its registry failed"
    } else {
        "it is not in the local store and pulling it failed"
    };
    ExecError::BaseImage(format!("base image {name:?}: {why}: {e}"))
}
