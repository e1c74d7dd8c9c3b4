//! Manifest kinds as registries serve them: OCI image manifest and index,
//! Docker v2 schema 2 manifest and manifest list (schema 1 is recognized only
//! to be refused), the platform choice from an index, the blobs a manifest
//! references, and conversion between OCI and Docker media types for push.
//! Pure functions over bytes; no I/O.

use super::RegistryError;
use crate::image::Digest;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Every manifest type we ask for (schema 1 too, so we can refuse it by name).
pub const ACCEPT: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_LIST,
    DOCKER_V1_SIGNED,
    DOCKER_V1,
];

/// The manifest format to push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    Oci,
    Docker,
}

impl FromStr for ManifestFormat {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, RegistryError> {
        match s {
            "oci" => Ok(ManifestFormat::Oci),
            "docker" | "v2s2" => Ok(ManifestFormat::Docker),
            other => Err(RegistryError::Invalid(format!(
                "unknown manifest format {other:?}: use oci or docker"
            ))),
        }
    }
}

/// A target platform: `os/arch[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on (arm64 implies variant v8, as containerd).
    pub fn host() -> Platform {
        let arch = crate::image::config::host_arch().to_string();
        let variant = match arch.as_str() {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            os: "linux".into(),
            arch,
            variant,
        }
    }

    pub(crate) fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let variant_ok = match (&self.variant, variant) {
            (None, _) => true,
            (Some(w), Some(v)) => w == v,
            // arm64 images often omit the (only) v8 variant.
            (Some(w), None) => self.arch == "arm64" && w == "v8",
        };
        self.os == os && self.arch == arch && variant_ok
    }
}

impl FromStr for Platform {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || RegistryError::BadPlatform(s.to_string());
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let norm_arch = |a: &str| match a {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            other => other.to_string(),
        };
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: os.to_string(),
                arch: norm_arch(arch),
                variant: None,
            }),
            [os, arch, variant] => Ok(Platform {
                os: os.to_string(),
                arch: norm_arch(arch),
                variant: Some(variant.to_string()),
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A descriptor as found in a manifest.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// A parsed manifest.
#[derive(Debug)]
pub enum Parsed {
    Image {
        config: Blob,
        layers: Vec<Blob>,
    },
    Index {
        manifests: Vec<(Blob, Option<PlatformOf>)>,
    },
}

/// The platform fields of an index entry.
#[derive(Clone, Debug)]
pub struct PlatformOf {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

/// The media type of a manifest: its `mediaType` field, else the HTTP
/// Content-Type, else (no field, schemaVersion 2) OCI by shape.
pub fn media_type_of(
    bytes: &[u8],
    content_type: Option<&str>,
    what: &str,
) -> Result<String, RegistryError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| RegistryError::ManifestInvalid {
        reference: what.to_string(),
        why: format!("not JSON ({e})"),
    })?;
    if v.get("schemaVersion").and_then(Value::as_i64) == Some(1) {
        return Err(RegistryError::Schema1 {
            reference: what.to_string(),
        });
    }
    if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
        return Ok(mt.to_string());
    }
    if let Some(ct) = content_type.filter(|c| ACCEPT.contains(c)) {
        return Ok(ct.to_string());
    }
    Ok(if v.get("manifests").is_some() {
        OCI_INDEX.to_string()
    } else {
        OCI_MANIFEST.to_string()
    })
}

/// Parses a manifest of media type `media_type`.
pub fn parse(bytes: &[u8], media_type: &str, what: &str) -> Result<Parsed, RegistryError> {
    let invalid = |why: String| RegistryError::ManifestInvalid {
        reference: what.to_string(),
        why,
    };
    let v: Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON ({e})")))?;
    match media_type {
        DOCKER_V1 | DOCKER_V1_SIGNED => Err(RegistryError::Schema1 {
            reference: what.to_string(),
        }),
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = blob(v.get("config"), what)?;
            let layers = v
                .get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("no layers array".into()))?
                .iter()
                .map(|l| blob(Some(l), what))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Parsed::Image { config, layers })
        }
        OCI_INDEX | DOCKER_LIST => {
            let list = v
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("no manifests array".into()))?;
            let mut manifests = Vec::new();
            for m in list {
                let b = blob(Some(m), what)?;
                let p = m.get("platform").map(|p| PlatformOf {
                    os: str_field(p, "os"),
                    arch: str_field(p, "architecture"),
                    variant: p.get("variant").and_then(Value::as_str).map(str::to_string),
                });
                manifests.push((b, p));
            }
            Ok(Parsed::Index { manifests })
        }
        other => Err(RegistryError::UnsupportedMediaType {
            reference: what.to_string(),
            media_type: other.to_string(),
        }),
    }
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn blob(v: Option<&Value>, what: &str) -> Result<Blob, RegistryError> {
    let invalid = |why: &str| RegistryError::ManifestInvalid {
        reference: what.to_string(),
        why: why.to_string(),
    };
    let v = v.ok_or_else(|| invalid("missing descriptor"))?;
    let digest = v
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("descriptor without digest"))?
        .parse::<Digest>()?;
    let size = v
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("descriptor without a valid size"))?;
    Ok(Blob {
        media_type: str_field(v, "mediaType"),
        digest,
        size,
    })
}

/// Picks the manifest for `want` from an index (attestation entries, whose
/// platform is unknown/unknown, never match).
pub fn select_platform<'a>(
    manifests: &'a [(Blob, Option<PlatformOf>)],
    want: &Platform,
    what: &str,
) -> Result<&'a Blob, RegistryError> {
    let hit = manifests.iter().find(|(_, p)| {
        p.as_ref()
            .is_some_and(|p| want.matches(&p.os, &p.arch, p.variant.as_deref()))
    });
    match hit {
        Some((b, _)) => Ok(b),
        None => {
            let available: Vec<String> = manifests
                .iter()
                .filter_map(|(_, p)| p.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| match &p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.arch),
                    None => format!("{}/{}", p.os, p.arch),
                })
                .collect();
            Err(RegistryError::NoPlatform {
                reference: what.to_string(),
                wanted: want.to_string(),
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available.join(", ")
                },
            })
        }
    }
}

/// The manifest `bytes` (an image manifest of any supported type) rewritten
/// to `format`'s media types; `None` when it already has them.
pub fn convert(
    bytes: &[u8],
    format: ManifestFormat,
    what: &str,
) -> Result<Option<Vec<u8>>, RegistryError> {
    let mut v: Value =
        serde_json::from_slice(bytes).map_err(|e| RegistryError::ManifestInvalid {
            reference: what.to_string(),
            why: format!("not JSON ({e})"),
        })?;
    let current = media_type_of(bytes, None, what)?;
    let target = match format {
        ManifestFormat::Oci => OCI_MANIFEST,
        ManifestFormat::Docker => DOCKER_MANIFEST,
    };
    if current == target {
        return Ok(None);
    }
    if current != OCI_MANIFEST && current != DOCKER_MANIFEST {
        return Err(RegistryError::UnsupportedMediaType {
            reference: what.to_string(),
            media_type: current,
        });
    }
    v["mediaType"] = Value::String(target.to_string());
    if let Some(c) = v.get_mut("config") {
        c["mediaType"] = Value::String(
            match format {
                ManifestFormat::Oci => OCI_CONFIG,
                ManifestFormat::Docker => DOCKER_CONFIG,
            }
            .to_string(),
        );
    }
    if let Some(layers) = v.get_mut("layers").and_then(Value::as_array_mut) {
        for l in layers {
            let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
            let new = layer_media_type(mt, format).ok_or_else(|| {
                RegistryError::UnsupportedMediaType {
                    reference: format!("{what} (layer for --format {format:?})"),
                    media_type: mt.to_string(),
                }
            })?;
            l["mediaType"] = Value::String(new.to_string());
        }
    }
    if format == ManifestFormat::Docker {
        if let Some(obj) = v.as_object_mut() {
            obj.remove("annotations");
            obj.remove("artifactType");
            obj.remove("subject");
        }
    }
    let out = serde_json::to_vec(&v).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    Ok(Some(out))
}

fn layer_media_type(mt: &str, format: ManifestFormat) -> Option<&'static str> {
    let kind = match mt {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => "tar",
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => "gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.docker.image.rootfs.diff.tar.zstd" => "zstd",
        _ => return None,
    };
    Some(match (format, kind) {
        (ManifestFormat::Oci, "tar") => "application/vnd.oci.image.layer.v1.tar",
        (ManifestFormat::Oci, "gzip") => "application/vnd.oci.image.layer.v1.tar+gzip",
        (ManifestFormat::Oci, _) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (ManifestFormat::Docker, "tar") => "application/vnd.docker.image.rootfs.diff.tar",
        (ManifestFormat::Docker, "gzip") => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        // Docker v2s2 has no zstd layer type; containerd accepts this one.
        (ManifestFormat::Docker, _) => "application/vnd.docker.image.rootfs.diff.tar.zstd",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        let p: Platform = "linux/arm64/v8"
            .parse()
            .unwrap_or_else(|_| Platform::host());
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//x".parse::<Platform>().is_err());
        assert!(p.matches("linux", "arm64", None));
        assert!(!p.matches("linux", "amd64", None));
    }

    #[test]
    fn schema1_refused_and_garbage_rejected() {
        let s1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        assert!(matches!(
            media_type_of(s1, None, "x"),
            Err(RegistryError::Schema1 { .. })
        ));
        assert!(matches!(
            media_type_of(b"<html>", None, "x"),
            Err(RegistryError::ManifestInvalid { .. })
        ));
    }

    #[test]
    fn converts_to_docker_and_back() {
        let d = Digest::of_bytes(b"x");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{d}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":1}}]}}"#
        );
        let docker = convert(m.as_bytes(), ManifestFormat::Docker, "x")
            .ok()
            .flatten();
        let docker = docker.unwrap_or_default();
        assert_eq!(
            media_type_of(&docker, None, "x").ok().as_deref(),
            Some(DOCKER_MANIFEST)
        );
        let back = convert(&docker, ManifestFormat::Oci, "x")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(matches!(
            parse(&back, OCI_MANIFEST, "x"),
            Ok(Parsed::Image { .. })
        ));
    }
}
