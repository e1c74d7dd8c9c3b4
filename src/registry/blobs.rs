//! Moving one blob: download into a temp file while hashing it, check digest
//! and size, then rename it into place (store or OCI layout dir), so nothing
//! partial or corrupt is ever visible; upload from a file (after a HEAD
//! existence check and an optional cross-repository mount). Retries restart
//! the blob from scratch.

use super::manifest::Blob;
use super::progress::BlobBar;
use super::transport::Remote;
use super::RegistryError;
use crate::image::Digest;
use crate::store::Store;
use futures_util::StreamExt;
use oci_spec::image::MediaType;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where downloaded blobs go.
pub(crate) enum BlobSink<'a> {
    Store(&'a Store),
    /// An OCI layout directory (`DIR/blobs/sha256/<hex>`).
    Dir(PathBuf),
}

impl BlobSink<'_> {
    pub fn path(&self, d: &Digest) -> PathBuf {
        match self {
            BlobSink::Store(s) => s.blob_path(d),
            BlobSink::Dir(dir) => dir.join("blobs/sha256").join(d.hex()),
        }
    }

    pub fn has(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    fn temp(&self) -> Result<tempfile::NamedTempFile, RegistryError> {
        match self {
            BlobSink::Store(s) => Ok(s.temp_file()?),
            BlobSink::Dir(dir) => {
                let blobs = dir.join("blobs/sha256");
                std::fs::create_dir_all(&blobs).map_err(|e| RegistryError::io(&blobs, e))?;
                tempfile::Builder::new()
                    .prefix(".partial-")
                    .tempfile_in(&blobs)
                    .map_err(|e| RegistryError::io(&blobs, e))
            }
        }
    }

    fn commit(
        &self,
        tmp: tempfile::NamedTempFile,
        d: &Digest,
        size: u64,
    ) -> Result<(), RegistryError> {
        match self {
            BlobSink::Store(s) => {
                s.commit_blob(
                    tmp,
                    MediaType::Other("application/octet-stream".into()),
                    d,
                    size,
                )?;
            }
            BlobSink::Dir(_) => {
                let dest = self.path(d);
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| RegistryError::io(tmp.path(), e))?;
                tmp.persist(&dest)
                    .map_err(|e| RegistryError::io(&dest, e.error))?;
            }
        }
        Ok(())
    }

    /// Stores small content already in memory, after checking its digest.
    pub fn put_bytes(&self, bytes: &[u8], d: &Digest, what: &str) -> Result<(), RegistryError> {
        let actual = Digest::of_bytes(bytes);
        if &actual != d {
            return Err(RegistryError::DigestMismatch {
                what: what.to_string(),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        if self.has(d) {
            return Ok(());
        }
        let mut tmp = self.temp()?;
        tmp.write_all(bytes)
            .map_err(|e| RegistryError::io(tmp.path(), e))?;
        self.commit(tmp, d, bytes.len() as u64)
    }
}

/// Downloads `blob` from `repo` into `sink` (skipped when already there).
pub(crate) async fn fetch(
    remote: &Remote,
    repo: &oci_client::Reference,
    blob: &Blob,
    sink: &BlobSink<'_>,
    bar: &BlobBar,
) -> Result<bool, RegistryError> {
    if sink.has(&blob.digest) {
        bar.finish("Already exists");
        return Ok(false);
    }
    let res = remote
        .retry(|| async {
            bar.reset();
            fetch_once(remote, repo, blob, sink, bar).await
        })
        .await;
    match &res {
        Ok(()) => bar.finish("Pull complete"),
        Err(_) => bar.fail(),
    }
    res.map(|_| true)
}

async fn fetch_once(
    remote: &Remote,
    repo: &oci_client::Reference,
    blob: &Blob,
    sink: &BlobSink<'_>,
    bar: &BlobBar,
) -> Result<(), RegistryError> {
    let what = format!("blob {}", blob.digest);
    let mismatch = |actual: String| RegistryError::DigestMismatch {
        what: what.clone(),
        expected: blob.digest.to_string(),
        actual,
    };
    let tmp = sink.temp()?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
    let mut stream = remote
        .client
        .pull_blob_stream(repo, blob.digest.as_str())
        .await
        .map_err(|e| remote.error(&what, e))?;
    // oci-client's stream hashes as it goes and turns a mismatch at the end
    // into an error item: one hash pass, and nothing is committed before it.
    let mut received: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let digest_error = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<oci_client::errors::DigestError>());
                return Err(match digest_error {
                    Some(oci_client::errors::DigestError::VerificationError { actual, .. }) => {
                        mismatch(actual.clone())
                    }
                    Some(other) => RegistryError::Transport {
                        registry: remote.registry.clone(),
                        message: format!("{what}: {other}"),
                    },
                    None => RegistryError::Unavailable {
                        registry: remote.registry.clone(),
                        message: format!(
                            "{what}: download interrupted after {received} bytes: {e}"
                        ),
                    },
                });
            }
        };
        received += chunk.len() as u64;
        if received > blob.size {
            return Err(RegistryError::SizeMismatch {
                what,
                expected: blob.size,
                actual: received,
            });
        }
        out.write_all(&chunk)
            .map_err(|e| RegistryError::io(sink.path(&blob.digest), e))?;
        bar.inc(chunk.len() as u64);
    }
    if received != blob.size {
        return Err(RegistryError::Unavailable {
            registry: remote.registry.clone(),
            message: format!(
                "{what}: download ended early: {received} of {} bytes",
                blob.size
            ),
        });
    }
    let tmp = out
        .into_inner()
        .map_err(|e| RegistryError::io(sink.path(&blob.digest), e.into_error()))?;
    sink.commit(tmp, &blob.digest, received)
}

/// Reads a file in `chunk`-sized pieces as a byte stream for upload.
fn file_stream(
    path: &Path,
    chunk: usize,
    bar: BlobBar,
) -> Result<
    impl futures_util::Stream<Item = Result<bytes::Bytes, oci_client::errors::OciDistributionError>>
        + Send
        + 'static,
    RegistryError,
> {
    let mut f = std::fs::File::open(path).map_err(|e| RegistryError::io(path, e))?;
    Ok(futures_util::stream::poll_fn(move |_| {
        let mut buf = vec![0u8; chunk];
        let mut filled = 0;
        while filled < chunk {
            match f.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return std::task::Poll::Ready(Some(Err(e.into()))),
            }
        }
        if filled == 0 {
            return std::task::Poll::Ready(None);
        }
        buf.truncate(filled);
        bar.inc(filled as u64);
        std::task::Poll::Ready(Some(Ok(bytes::Bytes::from(buf))))
    }))
}

/// Uploads the blob stored at `path` to `repo` unless the registry has it;
/// tries a cross-repository mount from each of `mount_from` first.
/// Returns what happened, for the progress line.
pub(crate) async fn upload(
    remote: &Remote,
    repo: &oci_client::Reference,
    blob: &Blob,
    path: &Path,
    mount_from: &[oci_client::Reference],
    bar: BlobBar,
) -> Result<&'static str, RegistryError> {
    let what = format!("blob {}", blob.digest);
    let digest = blob.digest.as_str();
    let exists = remote
        .retry(|| async {
            remote
                .client
                .blob_exists(repo, digest)
                .await
                .map_err(|e| remote.error(&what, e))
        })
        .await?;
    if exists {
        bar.finish("Layer already exists");
        return Ok("exists");
    }
    for src in mount_from {
        if src.repository() == repo.repository() {
            continue;
        }
        // A registry that does not offer the mount answers 202 and an upload
        // session instead, which oci-client reports as an error: fall through.
        if remote.client.mount_blob(repo, src, digest).await.is_ok() {
            bar.finish(&format!("Mounted from {}", src.repository()));
            return Ok("mounted");
        }
    }
    // Chunked: oci-client sends one PATCH per stream item; monolithic: the
    // items make up the body of a single PUT.
    let chunk = 1 << 20;
    let res = remote
        .retry(|| async {
            bar.reset();
            let stream = file_stream(path, chunk, bar.clone())?;
            remote
                .client
                .push_blob_stream(repo, stream, digest, Some(blob.size))
                .await
                .map_err(|e| remote.error(&what, e))
        })
        .await;
    match res {
        Ok(_) => {
            bar.finish("Pushed");
            Ok("pushed")
        }
        Err(e) => {
            bar.fail();
            Err(e)
        }
    }
}
