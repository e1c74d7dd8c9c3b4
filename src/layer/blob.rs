//! Compressed layer blobs in one pass: the tar stream is hashed (diff_id)
//! before compression and the compressed stream is hashed and counted
//! (digest, size) on its way to the output file. gzip output is reproducible
//! (no name, mtime 0); big layers are gzipped on all cores ([`super::pgzip`]).

use super::diff::{write_tar, DiffOptions};
use super::LayerError;
use crate::image::digest::{DiffId, Digest, HashingWriter};
use oci_spec::image::MediaType;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::str::FromStr;

/// How layer blobs are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// gzip at the fastest level (the default: fast and universally accepted).
    #[default]
    Gzip,
    /// zstd at its default level.
    Zstd,
    /// Plain tar.
    None,
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        }
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Compression, String> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" | "uncompressed" => Ok(Compression::None),
            other => Err(format!(
                "unknown compression {other:?}: use gzip, zstd or none"
            )),
        }
    }
}

/// What one pass over a layer produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerBlob {
    /// sha256 of the uncompressed tar.
    pub diff_id: DiffId,
    /// sha256 of the blob as written.
    pub digest: Digest,
    /// Size of the blob as written.
    pub size: u64,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
    pub media_type: MediaType,
}

/// Writes the layer tar of `dir` to `out`, compressed; returns the identities.
pub fn write_layer_blob<W: Write + Send + 'static>(
    dir: &Path,
    opts: &DiffOptions,
    compression: Compression,
    out: W,
) -> Result<(W, LayerBlob), LayerError> {
    encode(compression, out, |w| write_tar(dir, opts, w))
}

/// Compresses an existing uncompressed tar stream (`rbuild import`, `load`).
pub fn compress_tar_stream<W: Write + Send + 'static>(
    mut tar: impl Read,
    compression: Compression,
    out: W,
) -> Result<(W, LayerBlob), LayerError> {
    encode(compression, out, |w| {
        io::copy(&mut tar, w)
            .map(|_| ())
            .map_err(LayerError::Archive)
    })
}

type TarFn<'a> = dyn FnOnce(&mut dyn Write) -> Result<(), LayerError> + 'a;

fn encode<W: Write + Send + 'static>(
    compression: Compression,
    out: W,
    produce: impl FnOnce(&mut dyn Write) -> Result<(), LayerError>,
) -> Result<(W, LayerBlob), LayerError> {
    let io_err = |e| LayerError::io("<layer blob>", e);
    let buffered = BufWriter::with_capacity(1 << 20, out);
    let produce: Box<TarFn> = Box::new(produce);
    let (buffered, diff_id, tar_size, digest, size) = match compression {
        Compression::Gzip => {
            let enc = super::pgzip::ParallelGzWriter::new(HashingWriter::new(buffered));
            let (enc, d, n) = run(enc, produce)?;
            let (buffered, digest, size) = enc.finish().map_err(io_err)?.finish();
            (buffered, d, n, digest, size)
        }
        Compression::Zstd => {
            let enc = zstd::Encoder::new(HashingWriter::new(buffered), 0).map_err(io_err)?;
            let (enc, d, n) = run(enc, produce)?;
            let (buffered, digest, size) = enc.finish().map_err(io_err)?.finish();
            (buffered, d, n, digest, size)
        }
        // The blob is the tar: one hash serves as diff_id and digest.
        Compression::None => {
            let (buffered, d, n) = run(buffered, produce)?;
            (buffered, d.clone(), n, d, n)
        }
    };
    let out = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
    let blob = LayerBlob {
        diff_id: DiffId(diff_id),
        digest,
        size,
        tar_size,
        media_type: compression.media_type(),
    };
    Ok((out, blob))
}

fn run<E: Write>(enc: E, produce: Box<TarFn>) -> Result<(E, Digest, u64), LayerError> {
    let mut tar = HashingWriter::new(enc);
    produce(&mut tar)?;
    tar.flush().map_err(|e| LayerError::io("<layer blob>", e))?;
    Ok(tar.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_header_is_reproducible_and_digests_match() {
        let tar = vec![0u8; 2048];
        let (gz, blob) = compress_tar_stream(&tar[..], Compression::Gzip, Vec::new()).unwrap();
        // ID1 ID2 CM FLG MTIME(4): no FNAME flag, zero mtime.
        assert_eq!(gz.get(..8), Some(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0][..]));
        assert_eq!(blob.digest, Digest::of_bytes(&gz));
        assert_eq!(blob.diff_id.0, Digest::of_bytes(&tar));
        assert_eq!((blob.size, blob.tar_size), (gz.len() as u64, 2048));
        let (zst, zblob) = compress_tar_stream(&tar[..], Compression::Zstd, Vec::new()).unwrap();
        assert_eq!(zst.get(..4), Some(&[0x28, 0xb5, 0x2f, 0xfd][..]));
        assert_eq!(zblob.diff_id, blob.diff_id);
        assert_eq!(zblob.media_type, MediaType::ImageLayerZstd);
    }
}
