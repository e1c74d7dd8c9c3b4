//! Content digests: the `sha256:<hex>` [`Digest`] newtype, the layer identities
//! built on it ([`DiffId`], [`ChainId`]) and a [`HashingWriter`] that digests a
//! byte stream while passing it on. Only sha256 is supported, as in Docker and
//! BuildKit; other algorithms are rejected at parse time, not silently accepted.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// Errors from parsing a digest string.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    Invalid(String),
}

/// A sha256 content digest, always `sha256:` followed by 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }

    /// Wraps a finished sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(hash)))
    }

    /// Builds a digest from its 64 hex digits (without the `sha256:` prefix).
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest(format!("sha256:{hex}")))
        } else {
            Err(DigestError::Invalid(hex.to_string()))
        }
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        self.0.get(7..).unwrap_or_default()
    }

    /// The first 12 hex digits, as `docker images` shows IDs.
    pub fn short(&self) -> &str {
        self.hex().get(..12).unwrap_or_default()
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same digest as the `oci-spec` type, for descriptors.
    pub fn to_oci(&self) -> oci_spec::image::Digest {
        match oci_spec::image::Digest::from_str(&self.0) {
            Ok(d) => d,
            // `Digest` only ever holds a valid sha256 digest.
            Err(e) => unreachable!("invalid internal digest {}: {e}", self.0),
        }
    }

    /// Converts an `oci-spec` digest, rejecting non-sha256 algorithms.
    pub fn from_oci(d: &oci_spec::image::Digest) -> Result<Digest, DigestError> {
        d.as_ref().parse()
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        match s.strip_prefix("sha256:") {
            Some(hex) => Digest::from_hex(hex).map_err(|_| DigestError::Invalid(s.to_string())),
            None => Err(DigestError::Invalid(s.to_string())),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialized as the `sha256:<hex>` string (as in OCI JSON).
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Parsed and validated: a record on disk cannot smuggle in a path.
impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Digest of a layer's uncompressed tar (`rootfs.diff_ids` in the image config).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DiffId(pub Digest);

/// Identity of a stack of layers: `chain(L1) = diff(L1)`,
/// `chain(L1..Ln) = sha256(chain(L1..Ln-1) + " " + diff(Ln))` (OCI image spec).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainId(pub Digest);

impl ChainId {
    /// The chain id of `parent` with `diff` on top.
    pub fn child(parent: Option<&ChainId>, diff: &DiffId) -> ChainId {
        match parent {
            None => ChainId(diff.0.clone()),
            Some(p) => ChainId(Digest::of_bytes(format!("{} {}", p.0, diff.0).as_bytes())),
        }
    }

    /// The chain ids of every prefix of `diffs`, bottom layer first.
    pub fn all(diffs: &[DiffId]) -> Vec<ChainId> {
        let mut out: Vec<ChainId> = Vec::with_capacity(diffs.len());
        for d in diffs {
            let next = ChainId::child(out.last(), d);
            out.push(next);
        }
        out
    }
}

impl fmt::Display for DiffId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Returns the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest::from_sha256(self.hasher.finalize().into()),
            self.written,
        )
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or(buf);
        self.hasher.update(done);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Digest and size of everything `reader` yields.
pub fn digest_reader(mut reader: impl io::Read) -> io::Result<(Digest, u64)> {
    let mut w = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut w)?;
    let (_, d, n) = w.finish();
    Ok((d, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let d = Digest::of_bytes(b"");
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.as_str().parse::<Digest>().ok(), Some(d.clone()));
        assert!("sha512:abc".parse::<Digest>().is_err());
        assert!("sha256:ABC".parse::<Digest>().is_err());
        assert!(Digest::from_hex(&"g".repeat(64)).is_err());
        assert_eq!(d.to_oci().to_string(), d.to_string());
        assert_eq!(d.short(), "e3b0c44298fc");
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = DiffId(Digest::of_bytes(b"a"));
        let b = DiffId(Digest::of_bytes(b"b"));
        let chain = ChainId::all(&[a.clone(), b.clone()]);
        assert_eq!(chain[0].0, a.0);
        let expect = Digest::of_bytes(format!("{} {}", a.0, b.0).as_bytes());
        assert_eq!(chain[1].0, expect);
    }
}
