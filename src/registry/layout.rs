//! Arbitrary OCI layouts to and from a registry, for the registry-backed
//! build cache: [`push_layout`] pushes `DIR/index.json`'s manifest (or the
//! whole index when it lists several) with every blob under a tag;
//! [`pull_layout`] fetches a manifest tree (all platforms, no selection) into
//! a layout directory. Blobs are verified and renamed into place; index.json
//! is written last. It knows nothing about what the cache stores inside.

use super::blobs::{fetch, BlobSink};
use super::manifest::{self, Parsed};
use super::progress::Transfers;
use super::push::{push_tree_async, PushResult};
use super::transport::Remote;
use super::{block_on, PullOptions, PushOptions, RegistryError};
use crate::image::{Digest, Reference};
use oci_client::RegistryOperation;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Pushes the OCI layout at `dir` under `dest`; returns the pushed manifest.
pub fn push_layout(
    dir: &Path,
    dest: &Reference,
    opts: &PushOptions,
) -> Result<PushResult, RegistryError> {
    let index_path = dir.join("index.json");
    let index_bytes = std::fs::read(&index_path).map_err(|e| RegistryError::io(&index_path, e))?;
    let index: Value =
        serde_json::from_slice(&index_bytes).map_err(|e| RegistryError::ManifestInvalid {
            reference: index_path.display().to_string(),
            why: format!("not JSON ({e})"),
        })?;
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let blobs_dir = dir.join("blobs/sha256");
    let blob_path = move |d: &Digest| blobs_dir.join(d.hex());
    let (bytes, mt) = match manifests.as_slice() {
        [] => {
            return Err(RegistryError::Invalid(format!(
                "{}: no manifests to push",
                index_path.display()
            )))
        }
        [one] => {
            let d: Digest = one
                .get("digest")
                .and_then(Value::as_str)
                .unwrap_or("")
                .parse()?;
            let p = blob_path(&d);
            let bytes = std::fs::read(&p).map_err(|e| RegistryError::io(&p, e))?;
            let hint = one.get("mediaType").and_then(Value::as_str);
            let mt = manifest::media_type_of(&bytes, hint, &dest.to_string())?;
            (bytes, mt)
        }
        _ => {
            // index.json is itself an image index; drop the layout-only names.
            let mut idx = index.clone();
            if let Some(ms) = idx.get_mut("manifests").and_then(Value::as_array_mut) {
                for m in ms {
                    if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
                        a.remove("org.opencontainers.image.ref.name");
                    }
                }
            }
            idx["mediaType"] = Value::String(manifest::OCI_INDEX.to_string());
            let bytes =
                serde_json::to_vec(&idx).map_err(|e| RegistryError::Invalid(e.to_string()))?;
            (bytes, manifest::OCI_INDEX.to_string())
        }
    };
    block_on(push_tree_async(&bytes, &mt, &blob_path, dest, &[], opts))?
}

/// Pulls `src` (manifest or index, with everything it references) into the
/// OCI layout directory `dir` (created if needed); returns its digest.
pub fn pull_layout(
    src: &Reference,
    dir: &Path,
    opts: &PullOptions,
) -> Result<Digest, RegistryError> {
    block_on(pull_layout_async(src, dir, opts))?
}

async fn pull_layout_async(
    src: &Reference,
    dir: &Path,
    opts: &PullOptions,
) -> Result<Digest, RegistryError> {
    let what = src.to_string();
    let remote = Remote::connect(src, &opts.registry, RegistryOperation::Pull, false).await?;
    let oref = remote.oci_ref(src);
    let transfers = Transfers::new(opts.registry.progress);
    let sink = BlobSink::Dir(dir.to_path_buf());
    let (bytes, _) = remote
        .retry(|| async {
            remote
                .client
                .pull_manifest_raw(&oref, &remote.auth, manifest::ACCEPT)
                .await
                .map_err(|e| remote.error(&what, e))
        })
        .await?;
    let digest = Digest::of_bytes(&bytes);
    if let Some(expected) = src.digest() {
        if expected != &digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {what}"),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
    }
    let mt = manifest::media_type_of(&bytes, None, &what)?;
    fetch_tree(&remote, &oref, &bytes, &mt, &sink, &transfers, &what).await?;
    sink.put_bytes(&bytes, &digest, &format!("manifest {what}"))?;
    write_layout_index(dir, &mt, &digest, bytes.len() as u64, src)?;
    Ok(digest)
}

async fn fetch_tree(
    remote: &Remote,
    oref: &oci_client::Reference,
    bytes: &[u8],
    mt: &str,
    sink: &BlobSink<'_>,
    transfers: &Transfers,
    what: &str,
) -> Result<(), RegistryError> {
    match manifest::parse(bytes, mt, what)? {
        Parsed::Image { config, layers } => {
            for b in std::iter::once(&config).chain(&layers) {
                let bar = transfers.blob(b.digest.short(), b.size, "Downloading");
                fetch(remote, oref, b, sink, &bar).await?;
            }
        }
        Parsed::Index { manifests } => {
            for (child, _) in manifests {
                let cref = oref.clone_with_digest(child.digest.to_string());
                let (cbytes, _) = remote
                    .retry(|| async {
                        remote
                            .client
                            .pull_manifest_raw(&cref, &remote.auth, manifest::ACCEPT)
                            .await
                            .map_err(|e| remote.error(what, e))
                    })
                    .await?;
                let cmt = manifest::media_type_of(&cbytes, Some(&child.media_type), what)?;
                Box::pin(fetch_tree(
                    remote, oref, &cbytes, &cmt, sink, transfers, what,
                ))
                .await?;
                sink.put_bytes(&cbytes, &child.digest, &format!("manifest {what}"))?;
            }
        }
    }
    Ok(())
}

fn write_layout_index(
    dir: &Path,
    mt: &str,
    digest: &Digest,
    size: u64,
    src: &Reference,
) -> Result<(), RegistryError> {
    let mut desc = serde_json::json!({ "mediaType": mt, "digest": digest.as_str(), "size": size });
    if let Some(t) = src.tag() {
        desc["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": t });
    }
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": [desc] });
    write_file(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let text = serde_json::to_vec(&index).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    write_file(&dir.join("index.json"), &text)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let dir: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| RegistryError::io(&dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| RegistryError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| RegistryError::io(path, e.error))?;
    Ok(())
}
