//! Building OCI image configs and manifests: a fresh config for the host
//! platform, appending a layer (diff_id + history), a manifest over stored
//! blobs, and canonical JSON (sorted keys) so that equal content always gives
//! equal digests. It does not write anything; the store does that.

use super::digest::{DiffId, Digest};
use oci_spec::image::{
    Arch, Config, Descriptor, HistoryBuilder, ImageConfiguration, ImageManifest,
    ImageManifestBuilder, MediaType, Os, RootFs,
};
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors from building or serializing configs and manifests.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("serializing image JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("building image metadata: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("SOURCE_DATE_EPOCH={0:?} is not a number of seconds since 1970 (e.g. $(git log -1 --format=%ct))")]
    SourceDateEpoch(String),
}

/// The OCI name of the host architecture (`amd64`, `arm64`, ...).
pub fn host_arch() -> Arch {
    match std::env::consts::ARCH {
        "x86_64" => Arch::Amd64,
        "aarch64" => Arch::ARM64,
        "x86" => Arch::i386,
        "arm" => Arch::ARM,
        "riscv64" => Arch::RISCV64,
        "powerpc64" => Arch::PowerPC64,
        "s390x" => Arch::s390x,
        other => Arch::Other(other.to_string()),
    }
}

/// An RFC 3339 UTC timestamp for `t` (seconds precision), as image configs use.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
}

/// Parses an RFC 3339 timestamp as found in configs; `None` when absent or malformed.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('+').next().unwrap_or(s)).ok()
}

/// The creation time to record: `SOURCE_DATE_EPOCH` when given, else now.
pub fn creation_time(source_date_epoch: Option<i64>) -> SystemTime {
    match source_date_epoch {
        Some(s) => UNIX_EPOCH + std::time::Duration::from_secs(s.max(0) as u64),
        None => SystemTime::now(),
    }
}

/// `SOURCE_DATE_EPOCH` for a build: the build arg when given (`--build-arg
/// SOURCE_DATE_EPOCH=...`, as BuildKit), else the environment variable; an
/// empty value means unset. It then sets `created` ([`creation_time`]) and
/// clamps layer mtimes (`crate::layer::DiffOptions::source_date_epoch`).
pub fn source_date_epoch(build_arg: Option<&str>) -> Result<Option<i64>, ConfigError> {
    let value = match build_arg {
        Some(v) => v.to_string(),
        None => std::env::var("SOURCE_DATE_EPOCH").unwrap_or_default(),
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Some(n)),
        _ => Err(ConfigError::SourceDateEpoch(value.to_string())),
    }
}

/// A config with no layers for the host platform (`FROM scratch`).
pub fn empty_config(created: SystemTime) -> ImageConfiguration {
    let mut c = ImageConfiguration::default();
    c.set_architecture(host_arch());
    c.set_os(Os::Linux);
    c.set_created(Some(rfc3339(created)));
    c.set_rootfs(RootFs::default());
    c.set_config(Some(Config::default()));
    c.set_history(Some(Vec::new()));
    c
}

/// Appends a history entry; when `diff_id` is given also the layer's diff_id,
/// otherwise the entry is marked `empty_layer`.
pub fn push_history(
    config: &mut ImageConfiguration,
    diff_id: Option<&DiffId>,
    created: SystemTime,
    created_by: &str,
    comment: Option<&str>,
) -> Result<(), ConfigError> {
    let mut h = HistoryBuilder::default()
        .created(rfc3339(created))
        .created_by(created_by);
    if let Some(c) = comment {
        h = h.comment(c);
    }
    match diff_id {
        Some(d) => config.rootfs_mut().diff_ids_mut().push(d.to_string()),
        None => h = h.empty_layer(true),
    }
    let entry = h.build()?;
    match config.history_mut() {
        Some(list) => list.push(entry),
        None => {
            config.set_history(Some(vec![entry]));
        }
    }
    Ok(())
}

/// Serializes any image JSON with object keys sorted, so the bytes (and so
/// the digest) do not depend on hash-map iteration order.
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ConfigError> {
    // serde_json's Map is a BTreeMap (no `preserve_order` feature): sorted keys.
    let v = serde_json::to_value(value)?;
    Ok(serde_json::to_vec(&v)?)
}

/// A descriptor for a blob.
pub fn descriptor(media_type: MediaType, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(media_type, size, digest.to_oci())
}

/// An OCI image manifest over a config blob and layer blobs.
pub fn manifest(config: Descriptor, layers: Vec<Descriptor>) -> Result<ImageManifest, ConfigError> {
    Ok(ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()?)
}

/// The layer diff_ids of a config, parsed.
pub fn diff_ids(config: &ImageConfiguration) -> Vec<DiffId> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .filter_map(|s| s.parse().ok())
        .map(DiffId)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_is_stable_and_sorted() {
        let mut c = empty_config(UNIX_EPOCH);
        let mut cfg = Config::default();
        let labels = (0..20)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        cfg.set_labels(Some(labels));
        c.set_config(Some(cfg));
        let a = canonical_json(&c).ok();
        let b = canonical_json(&c.clone()).ok();
        assert_eq!(a, b);
        let text = String::from_utf8(a.unwrap_or_default()).unwrap_or_default();
        assert!(text.find("\"k0\"") < text.find("\"k1\""), "{text}");
        assert!(
            text.contains("\"created\":\"1970-01-01T00:00:00Z\""),
            "{text}"
        );
    }

    #[test]
    fn source_date_epoch_from_arg() {
        assert_eq!(
            source_date_epoch(Some("1700000000")).ok(),
            Some(Some(1_700_000_000))
        );
        assert_eq!(source_date_epoch(Some("")).ok(), Some(None));
        assert!(source_date_epoch(Some("yesterday")).is_err());
        assert!(source_date_epoch(Some("-5")).is_err());
    }

    #[test]
    fn time_round_trip() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert!(parse_rfc3339("2024-01-02T03:04:05.123456789Z").is_some());
    }
}
