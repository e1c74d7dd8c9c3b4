//! `pull`: reference -> manifest (index resolved to the wanted platform) ->
//! config and layer blobs downloaded in parallel into the store -> manifest
//! blob -> index.json entry under the reference's name. The order means an
//! interrupted pull leaves at most some whole, verified blobs behind (which
//! the next pull skips) and never an image entry with missing parts.
//! Also `resolve_digest` (a tag's current digest, one HEAD request).

use super::blobs::{fetch, BlobSink};
use super::manifest::{self, Blob, Parsed, Platform};
use super::progress::Transfers;
use super::transport::Remote;
use super::{block_on, PullOptions, RegistryError, RegistryOptions};
use crate::image::config::descriptor;
use crate::image::{Digest, Reference};
use crate::store::{ImageRecord, Store};
use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;
use oci_spec::image::MediaType;

/// Pulls `reference` into `store` and names it (when the reference has a
/// tag); returns the stored image. A `name@sha256:` reference is verified
/// against the content, and served from the store without network access
/// when everything is already there.
pub fn pull(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<ImageRecord, RegistryError> {
    pull_resolved(store, reference, opts).map(|p| p.record)
}

/// The result of [`pull_resolved`].
#[derive(Clone, Debug)]
pub struct Pulled {
    pub record: ImageRecord,
    /// What the reference resolved to in the registry: the index digest for
    /// a multi-platform image (Docker's RepoDigest), else the manifest's.
    pub digest: Digest,
}

/// [`pull`], also returning the digest the reference resolved to, for
/// recording (`FROM name` pinned as `name@digest`) and `--pull` comparisons
/// with [`resolve_digest`].
pub fn pull_resolved(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Pulled, RegistryError> {
    if let Some(record) = pull_from_store(store, reference, opts)? {
        if let Some(d) = reference.digest() {
            return Ok(Pulled {
                record,
                digest: d.clone(),
            });
        }
    }
    block_on(pull_async(store, reference, opts))?
}

/// The digest `reference` currently points to in its registry (an index's
/// digest for a multi-platform image).
pub fn resolve_digest(
    reference: &Reference,
    opts: &RegistryOptions,
) -> Result<Digest, RegistryError> {
    block_on(async {
        let remote = Remote::connect(reference, opts, RegistryOperation::Pull, false).await?;
        let oref = remote.oci_ref(reference);
        let what = reference.to_string();
        let d = remote
            .retry(|| async {
                remote
                    .client
                    .fetch_manifest_digest(&oref, &remote.auth)
                    .await
                    .map_err(|e| remote.error(&what, e))
            })
            .await?;
        Ok(d.parse::<Digest>()?)
    })?
}

fn want_platform(opts: &PullOptions) -> Platform {
    opts.platform.clone().unwrap_or_else(Platform::host)
}

/// The store name: `repo:tag`, or for a digest-only reference `repo@digest`
/// (shown as `<none>` tag, as Docker lists such pulls).
fn names_for(reference: &Reference) -> Vec<Reference> {
    match reference.tag() {
        Some(t) => vec![reference.with_tag(t)],
        None => vec![reference.clone()],
    }
}

/// For `name@sha256:...`: the image from the store alone, if it is all there.
fn pull_from_store(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Option<ImageRecord>, RegistryError> {
    let Some(d) = reference.digest() else {
        return Ok(None);
    };
    let what = reference.to_string();
    let Ok(bytes) = store.read_blob(d) else {
        return Ok(None);
    };
    let mt = manifest::media_type_of(&bytes, None, &what)?;
    let (mbytes, mdigest, mt) = match manifest::parse(&bytes, &mt, &what)? {
        Parsed::Index { manifests } => {
            let b = manifest::select_platform(&manifests, &want_platform(opts), &what)?;
            let Ok(child) = store.read_blob(&b.digest) else {
                return Ok(None);
            };
            let cmt = manifest::media_type_of(&child, Some(&b.media_type), &what)?;
            (child, b.digest.clone(), cmt)
        }
        Parsed::Image { .. } => (bytes, d.clone(), mt),
    };
    let Parsed::Image { config, layers } = manifest::parse(&mbytes, &mt, &what)? else {
        return Ok(None);
    };
    if !std::iter::once(&config)
        .chain(&layers)
        .all(|b| store.has_blob(&b.digest))
    {
        return Ok(None);
    }
    let desc = descriptor(MediaType::from(mt.as_str()), &mdigest, mbytes.len() as u64);
    Ok(Some(store.index_manifest(&desc, &names_for(reference))?))
}

/// GETs a manifest and checks it against the digest it was asked by, if any.
async fn fetch_manifest(
    remote: &Remote,
    oref: &oci_client::Reference,
    what: &str,
) -> Result<(Vec<u8>, Digest), RegistryError> {
    let (bytes, _) = remote
        .retry(|| async {
            remote
                .client
                .pull_manifest_raw(oref, &remote.auth, manifest::ACCEPT)
                .await
                .map_err(|e| remote.error(what, e))
        })
        .await?;
    let actual = Digest::of_bytes(&bytes);
    if let Some(expected) = oref.digest() {
        if expected != actual.as_str() {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {what}"),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok((bytes.to_vec(), actual))
}

/// Resolves `oref` to one image manifest: (bytes, digest, media type, and
/// the index bytes+digest when it came through one).
pub(crate) async fn image_manifest(
    remote: &Remote,
    oref: &oci_client::Reference,
    platform: &Platform,
    what: &str,
) -> Result<(Vec<u8>, Digest, String, Option<(Vec<u8>, Digest)>), RegistryError> {
    let (bytes, digest) = fetch_manifest(remote, oref, what).await?;
    let mt = manifest::media_type_of(&bytes, None, what)?;
    match manifest::parse(&bytes, &mt, what)? {
        Parsed::Image { .. } => Ok((bytes, digest, mt, None)),
        Parsed::Index { manifests } => {
            let b = manifest::select_platform(&manifests, platform, what)?;
            let child = oref.clone_with_digest(b.digest.to_string());
            let (cbytes, cdigest) = fetch_manifest(remote, &child, what).await?;
            let cmt = manifest::media_type_of(&cbytes, Some(&b.media_type), what)?;
            Ok((cbytes, cdigest, cmt, Some((bytes, digest))))
        }
    }
}

async fn pull_async(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Pulled, RegistryError> {
    let what = reference.to_string();
    let remote = Remote::connect(reference, &opts.registry, RegistryOperation::Pull, false).await?;
    let oref = remote.oci_ref(reference);
    let transfers = Transfers::new(opts.registry.progress);
    let (mbytes, mdigest, mt, index) =
        image_manifest(&remote, &oref, &want_platform(opts), &what).await?;
    let Parsed::Image { config, layers } = manifest::parse(&mbytes, &mt, &what)? else {
        return Err(RegistryError::ManifestInvalid {
            reference: what,
            why: "an index entry points to another index".into(),
        });
    };
    transfers.line(&format!(
        "{}: Pulling from {}",
        reference.tag().unwrap_or(mdigest.as_str()),
        reference.familiar_repository()
    ));
    let sink = BlobSink::Store(store);
    if let (None, Some(want)) = (&index, &opts.platform) {
        // A single-platform image must match an explicit --platform (as Docker).
        let bar = transfers.blob(config.digest.short(), config.size, "Downloading");
        fetch(&remote, &oref, &config, &sink, &bar).await?;
        check_platform(&store.read_blob(&config.digest)?, want, &what)?;
    }
    let jobs: Vec<Blob> = std::iter::once(config).chain(layers).collect();
    let parallel = if opts.max_concurrent == 0 {
        3
    } else {
        opts.max_concurrent
    };
    futures_util::stream::iter(jobs.iter())
        .map(|b| {
            let bar = transfers.blob(b.digest.short(), b.size, "Downloading");
            let (remote, oref, sink) = (&remote, &oref, &sink);
            async move { fetch(remote, oref, b, sink, &bar).await }
        })
        .buffer_unordered(parallel)
        .try_collect::<Vec<bool>>()
        .await?;
    if let Some((ibytes, idigest)) = &index {
        sink.put_bytes(ibytes, idigest, &format!("index of {what}"))?;
    }
    sink.put_bytes(&mbytes, &mdigest, &format!("manifest of {what}"))?;
    let desc = descriptor(MediaType::from(mt.as_str()), &mdigest, mbytes.len() as u64);
    let rec = store.index_manifest(&desc, &names_for(reference))?;
    let digest = index.map(|(_, d)| d).unwrap_or(mdigest);
    transfers.line(&format!("Digest: {digest}"));
    Ok(Pulled {
        record: rec,
        digest,
    })
}

/// Fails when the image config's os/architecture(/variant) is not `want`.
fn check_platform(config: &[u8], want: &Platform, what: &str) -> Result<(), RegistryError> {
    let v: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| RegistryError::ManifestInvalid {
            reference: what.to_string(),
            why: format!("image config is not JSON ({e})"),
        })?;
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
    let variant = v.get("variant").and_then(serde_json::Value::as_str);
    if want.matches(field("os"), field("architecture"), variant) {
        return Ok(());
    }
    let actual = match variant {
        Some(var) => format!("{}/{}/{var}", field("os"), field("architecture")),
        None => format!("{}/{}", field("os"), field("architecture")),
    };
    Err(RegistryError::NoPlatform {
        reference: what.to_string(),
        wanted: want.to_string(),
        available: actual,
    })
}
