//! Content-addressed blobs: `blobs/sha256/<hex>`. A blob is written to the
//! process temp dir, hashed on the way, checked against the expected digest,
//! fsynced and renamed into place, so a visible blob always matches its name.
//! Layer blobs are written with direct I/O ([`super::direct`]).

use super::direct::DirectWriter;
use super::{fsutil, Store, StoreError};
use crate::image::config::descriptor;
use crate::image::digest::{Digest, HashingWriter};
use crate::layer::{self, Compression, DiffOptions, LayerBlob};
use oci_spec::image::{Descriptor, MediaType};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

impl Store {
    /// Where the blob with digest `d` lives (whether or not it exists).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        blob_path_in(&self.root, d)
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Stores `bytes`; returns its descriptor.
    pub fn put_blob_bytes(
        &self,
        media_type: MediaType,
        bytes: &[u8],
    ) -> Result<Descriptor, StoreError> {
        self.put_blob_from_reader(media_type, bytes, None)
    }

    /// Stores everything `reader` yields; fails without storing anything if
    /// `expected` is given and does not match.
    pub fn put_blob_from_reader(
        &self,
        media_type: MediaType,
        mut reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<Descriptor, StoreError> {
        let tmp = self.temp_file()?;
        let mut w = HashingWriter::new(io::BufWriter::new(tmp));
        io::copy(&mut reader, &mut w).map_err(|e| StoreError::io(self.tmp_dir(), e))?;
        w.flush().map_err(|e| StoreError::io(self.tmp_dir(), e))?;
        let (buf, digest, size) = w.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| StoreError::io(self.tmp_dir(), e.into_error()))?;
        if let Some(exp) = expected {
            if exp != &digest {
                return Err(StoreError::DigestMismatch {
                    expected: exp.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        self.commit_blob(tmp, media_type, &digest, size)
    }

    /// Stores a copy of the file at `path`.
    pub fn put_blob_from_file(
        &self,
        media_type: MediaType,
        path: &Path,
        expected: Option<&Digest>,
    ) -> Result<Descriptor, StoreError> {
        let f = File::open(path).map_err(|e| StoreError::io(path, e))?;
        self.put_blob_from_reader(media_type, f, expected)
    }

    /// Moves a temp file (from [`Store::temp_file`]) whose digest and size the
    /// caller computed while writing it into the blob store.
    pub fn commit_blob(
        &self,
        tmp: tempfile::NamedTempFile,
        media_type: MediaType,
        digest: &Digest,
        size: u64,
    ) -> Result<Descriptor, StoreError> {
        commit_blob_at(&self.root, tmp, media_type, digest, size)
    }

    /// A handle that writes layer blobs into this store from any thread.
    pub fn layer_writer(&self) -> LayerWriter {
        LayerWriter {
            root: self.root.clone(),
            tmp: self.tmp_dir().to_path_buf(),
        }
    }

    /// Writes the layer for `dir` straight into the store.
    pub fn put_layer_from_dir(
        &self,
        dir: &Path,
        opts: &DiffOptions,
        compression: Compression,
    ) -> Result<(Descriptor, LayerBlob), StoreError> {
        self.layer_writer()
            .put_layer_from_dir(dir, opts, compression)
    }

    /// Stores an uncompressed layer tar stream, compressing it.
    pub fn put_layer_from_tar(
        &self,
        tar: impl Read,
        compression: Compression,
    ) -> Result<(Descriptor, LayerBlob), StoreError> {
        self.layer_writer().put_layer_from_tar(tar, compression)
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File, StoreError> {
        File::open(self.blob_path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing(d.to_string()),
            _ => StoreError::io(self.blob_path(d), e),
        })
    }

    /// Reads a whole blob (for small ones: manifests, configs).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut buf)
            .map_err(|e| StoreError::io(self.blob_path(d), e))?;
        Ok(buf)
    }

    /// Reads and parses a JSON blob.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, d: &Digest) -> Result<T, StoreError> {
        let bytes = self.read_blob(d)?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Json {
            path: self.blob_path(d).display().to_string(),
            source: e,
        })
    }

    /// Re-hashes a blob and checks it against its name.
    pub fn verify_blob(&self, d: &Digest) -> Result<(), StoreError> {
        let (actual, _) = crate::image::digest::digest_reader(self.open_blob(d)?)
            .map_err(|e| StoreError::io(self.blob_path(d), e))?;
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }
}

/// Where the blob `d` of the store at `root` lives.
fn blob_path_in(root: &Path, d: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(d.hex())
}

fn commit_blob_at(
    root: &Path,
    tmp: tempfile::NamedTempFile,
    media_type: MediaType,
    digest: &Digest,
    size: u64,
) -> Result<Descriptor, StoreError> {
    let dest = blob_path_in(root, digest);
    if !dest.exists() {
        fsutil::persist(tmp, &dest)?;
    }
    Ok(descriptor(media_type, digest, size))
}

/// Writes layer blobs into a store; owned, so a build can commit a layer on
/// another thread while its next step runs. Valid while the [`Store`] it
/// came from is open (its temp dir goes with it).
#[derive(Clone, Debug)]
pub struct LayerWriter {
    root: PathBuf,
    tmp: PathBuf,
}

impl LayerWriter {
    fn temp_file(&self) -> Result<DirectWriter<tempfile::NamedTempFile>, StoreError> {
        tempfile::NamedTempFile::new_in(&self.tmp)
            .map(DirectWriter::new)
            .map_err(|e| StoreError::io(&self.tmp, e))
    }

    fn commit(
        &self,
        tmp: DirectWriter<tempfile::NamedTempFile>,
        blob: LayerBlob,
    ) -> Result<(Descriptor, LayerBlob), StoreError> {
        let tmp = tmp.finish().map_err(|e| StoreError::io(&self.tmp, e))?;
        let desc = commit_blob_at(
            &self.root,
            tmp,
            blob.media_type.clone(),
            &blob.digest,
            blob.size,
        )?;
        Ok((desc, blob))
    }

    /// Writes the layer for `dir` straight into the store.
    pub fn put_layer_from_dir(
        &self,
        dir: &Path,
        opts: &DiffOptions,
        compression: Compression,
    ) -> Result<(Descriptor, LayerBlob), StoreError> {
        let (tmp, blob) = layer::write_layer_blob(dir, opts, compression, self.temp_file()?)?;
        self.commit(tmp, blob)
    }

    /// Stores an uncompressed layer tar stream, compressing it.
    pub fn put_layer_from_tar(
        &self,
        tar: impl Read,
        compression: Compression,
    ) -> Result<(Descriptor, LayerBlob), StoreError> {
        let (tmp, blob) = layer::compress_tar_stream(tar, compression, self.temp_file()?)?;
        self.commit(tmp, blob)
    }
}
