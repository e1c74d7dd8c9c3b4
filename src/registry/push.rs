//! `push`: a stored image (or any manifest tree whose blobs are files) to a
//! registry: every blob first (HEAD check, cross-repository mount from the
//! image's other names on the same registry, then monolithic or chunked
//! upload, in parallel), child manifests of an index next, the manifest
//! under the tag last, so a reader never sees a tag pointing at missing
//! content. `--format` rewrites the manifest's media types (OCI <-> Docker
//! v2s2); the blobs are the same bytes either way.

use super::blobs::upload;
use super::manifest::{self, Blob, Parsed};
use super::progress::Transfers;
use super::transport::Remote;
use super::{block_on, PushOptions, RegistryError};
use crate::image::{Digest, Reference};
use crate::store::Store;
use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;
use std::path::PathBuf;

/// What a push produced.
#[derive(Clone, Debug)]
pub struct PushResult {
    /// Digest of the manifest now under the destination tag.
    pub digest: Digest,
    pub media_type: String,
    /// Size of the manifest in bytes.
    pub size: u64,
}

/// Pushes the stored image `local` (name or ID) to `dest`.
pub fn push(
    store: &Store,
    local: &str,
    dest: &Reference,
    opts: &PushOptions,
) -> Result<PushResult, RegistryError> {
    let rec = store.resolve(local)?;
    let stored = store.read_blob(&rec.manifest_digest)?;
    let what = dest.to_string();
    let bytes = match opts.format {
        Some(f) => manifest::convert(&stored, f, &what)?.unwrap_or(stored),
        None => stored,
    };
    let mt = manifest::media_type_of(&bytes, None, &what)?;
    let mount_from: Vec<Reference> = rec
        .names
        .iter()
        .filter(|n| n.domain() == dest.domain() && n.path() != dest.path())
        .cloned()
        .collect();
    let root = store.root().to_path_buf();
    let blob_path = move |d: &Digest| root.join("blobs/sha256").join(d.hex());
    block_on(push_tree_async(
        &bytes,
        &mt,
        &blob_path,
        dest,
        &mount_from,
        opts,
    ))?
}

/// Connects and pushes a manifest (image or index) with all it references.
pub(crate) async fn push_tree_async(
    bytes: &[u8],
    media_type: &str,
    blob_path: &(dyn Fn(&Digest) -> PathBuf + Sync),
    dest: &Reference,
    mount_from: &[Reference],
    opts: &PushOptions,
) -> Result<PushResult, RegistryError> {
    let remote =
        Remote::connect(dest, &opts.registry, RegistryOperation::Push, opts.chunked).await?;
    let transfers = Transfers::new(opts.registry.progress);
    let oref = remote.oci_ref(dest);
    let mounts: Vec<oci_client::Reference> = mount_from.iter().map(|r| remote.oci_ref(r)).collect();
    transfers.line(&format!(
        "The push refers to repository [{}]",
        dest.repository()
    ));
    let ctx = Ctx {
        remote: &remote,
        oref: &oref,
        mounts: &mounts,
        blob_path,
        opts,
        transfers: &transfers,
        what: dest.to_string(),
    };
    let res = ctx.push_manifest_tree(bytes, media_type, true).await?;
    transfers.line(&format!(
        "{}: digest: {} size: {}",
        dest.tag().unwrap_or("latest"),
        res.digest,
        res.size
    ));
    Ok(res)
}

struct Ctx<'a> {
    remote: &'a Remote,
    oref: &'a oci_client::Reference,
    mounts: &'a [oci_client::Reference],
    blob_path: &'a (dyn Fn(&Digest) -> PathBuf + Sync),
    opts: &'a PushOptions,
    transfers: &'a Transfers,
    what: String,
}

impl Ctx<'_> {
    /// Pushes what `bytes` references, then `bytes` itself (under the tag
    /// when `top`, else by digest).
    async fn push_manifest_tree(
        &self,
        bytes: &[u8],
        media_type: &str,
        top: bool,
    ) -> Result<PushResult, RegistryError> {
        match manifest::parse(bytes, media_type, &self.what)? {
            Parsed::Image { config, layers } => {
                let blobs: Vec<Blob> = layers.into_iter().chain(std::iter::once(config)).collect();
                self.push_blobs(&blobs).await?;
            }
            Parsed::Index { manifests } => {
                for (child, _) in manifests {
                    let path = (self.blob_path)(&child.digest);
                    let cbytes = std::fs::read(&path).map_err(|e| RegistryError::io(&path, e))?;
                    let cmt =
                        manifest::media_type_of(&cbytes, Some(&child.media_type), &self.what)?;
                    Box::pin(self.push_manifest_tree(&cbytes, &cmt, false)).await?;
                }
            }
        }
        let digest = Digest::of_bytes(bytes);
        let target = if top {
            self.oref.clone()
        } else {
            self.oref.clone_with_digest(digest.to_string())
        };
        let content_type = reqwest::header::HeaderValue::from_str(media_type)
            .map_err(|_| RegistryError::Invalid(format!("bad media type {media_type:?}")))?;
        let what = format!("manifest {}", self.what);
        self.remote
            .retry(|| async {
                self.remote
                    .client
                    .push_manifest_raw(&target, bytes.to_vec(), content_type.clone())
                    .await
                    .map_err(|e| self.remote.error(&what, e))
            })
            .await?;
        Ok(PushResult {
            digest,
            media_type: media_type.to_string(),
            size: bytes.len() as u64,
        })
    }

    async fn push_blobs(&self, blobs: &[Blob]) -> Result<(), RegistryError> {
        let parallel = if self.opts.max_concurrent == 0 {
            3
        } else {
            self.opts.max_concurrent
        };
        futures_util::stream::iter(blobs.iter())
            .map(|b| async move {
                let path = (self.blob_path)(&b.digest);
                if !path.is_file() {
                    return Err(RegistryError::Invalid(format!(
                        "blob {} is missing locally ({}); cannot push {}",
                        b.digest,
                        path.display(),
                        self.what
                    )));
                }
                let bar = self.transfers.blob(b.digest.short(), b.size, "Pushing");
                upload(self.remote, self.oref, b, &path, self.mounts, bar).await
            })
            .buffer_unordered(parallel)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }
}
