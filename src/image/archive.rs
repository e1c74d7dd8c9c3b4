//! Image archives: `save` to a docker-archive (manifest.json + config +
//! uncompressed layer tars, what `docker load`/`podman load` read) or an
//! oci-archive (a tarred OCI layout), and `load` of either. Archives being
//! loaded are hostile: they are extracted with the safe layer unpacker and
//! every blob is checked against its digest (docker-archive layers against
//! the config's diff_ids).

use crate::image::config::{descriptor, manifest};
use crate::image::{DiffId, Digest, Reference};
use crate::layer::{self, Compression, UnpackOptions};
use crate::store::{ImageRecord, Store, StoreError};
use oci_spec::image::{ImageConfiguration, ImageIndex, MediaType};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

/// Errors from saving or loading archives.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("{0}: invalid JSON: {1}")]
    Json(String, serde_json::Error),
    #[error("archive is neither a docker-archive (manifest.json) nor an oci-archive (index.json + oci-layout)")]
    UnknownFormat,
    #[error("layer {layer} has diff_id {actual} but the image config says {expected}")]
    DiffIdMismatch {
        layer: String,
        expected: String,
        actual: String,
    },
    #[error("image metadata: {0}")]
    Config(#[from] crate::image::config::ConfigError),
}

/// Archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    #[default]
    DockerArchive,
    OciArchive,
}

impl std::str::FromStr for ArchiveFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "docker-archive" | "docker" => Ok(ArchiveFormat::DockerArchive),
            "oci-archive" | "oci" => Ok(ArchiveFormat::OciArchive),
            o => Err(format!(
                "unknown archive format {o:?}: use docker-archive or oci-archive"
            )),
        }
    }
}

/// One entry of a docker-archive's manifest.json.
#[derive(Serialize, Deserialize, Debug)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> ArchiveError {
    let what = what.to_string();
    move |e| ArchiveError::Io(what, e)
}

fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(bytes.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, bytes).map_err(io_err(path))
}

fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    mut f: File,
) -> Result<(), ArchiveError> {
    let len = f.metadata().map_err(io_err(path))?.len();
    f.rewind().map_err(io_err(path))?;
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(len);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, f.take(len))
        .map_err(io_err(path))
}

/// Writes `images` to `out` as one archive.
pub fn save(
    store: &Store,
    images: &[ImageRecord],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut b = tar::Builder::new(out);
    match format {
        ArchiveFormat::DockerArchive => save_docker(store, images, &mut b)?,
        ArchiveFormat::OciArchive => save_oci(store, images, &mut b)?,
    }
    let mut out = b.into_inner().map_err(io_err("archive"))?;
    out.flush().map_err(io_err("archive"))
}

fn save_docker<W: Write>(
    store: &Store,
    images: &[ImageRecord],
    b: &mut tar::Builder<W>,
) -> Result<(), ArchiveError> {
    let mut entries = Vec::new();
    let mut written: Vec<String> = Vec::new();
    for rec in images {
        let config_name = format!("{}.json", rec.id.hex());
        if !written.contains(&config_name) {
            append_bytes(b, &config_name, &store.read_blob(&rec.id)?)?;
            written.push(config_name.clone());
        }
        let diffs = crate::image::config::diff_ids(&rec.config);
        let mut layers = Vec::new();
        for (desc, diff) in rec.manifest.layers().iter().zip(&diffs) {
            let name = format!("{}/layer.tar", diff.0.hex());
            if !written.contains(&name) {
                let digest = Digest::from_oci(desc.digest())
                    .map_err(|_| StoreError::BlobMissing(desc.digest().to_string()))?;
                let mut tmp = store.temp_file()?;
                let mut stream =
                    layer::open_layer_stream(io::BufReader::new(store.open_blob(&digest)?))
                        .map_err(io_err(&name))?;
                io::copy(&mut stream, tmp.as_file_mut()).map_err(io_err(&name))?;
                append_file(b, &name, tmp.reopen().map_err(io_err(&name))?)?;
                written.push(name.clone());
            }
            layers.push(name);
        }
        let tags: Vec<String> = rec
            .names
            .iter()
            .filter(|n| n.tag().is_some())
            .map(|n| n.familiar())
            .collect();
        entries.push(DockerManifestEntry {
            config: config_name,
            repo_tags: Some(tags),
            layers,
        });
    }
    let json =
        serde_json::to_vec(&entries).map_err(|e| ArchiveError::Json("manifest.json".into(), e))?;
    append_bytes(b, "manifest.json", &json)
}

fn save_oci<W: Write>(
    store: &Store,
    images: &[ImageRecord],
    b: &mut tar::Builder<W>,
) -> Result<(), ArchiveError> {
    append_bytes(b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut written: Vec<Digest> = Vec::new();
    let mut manifests = Vec::new();
    for rec in images {
        let mut blobs = vec![rec.manifest_digest.clone(), rec.id.clone()];
        for l in rec.manifest.layers() {
            blobs.push(
                Digest::from_oci(l.digest())
                    .map_err(|_| StoreError::BlobMissing(l.digest().to_string()))?,
            );
        }
        for d in blobs {
            if !written.contains(&d) {
                append_file(
                    b,
                    &format!("blobs/sha256/{}", d.hex()),
                    store.open_blob(&d)?,
                )?;
                written.push(d);
            }
        }
        if rec.names.is_empty() {
            manifests.push(
                serde_json::to_value(&rec.manifest_desc)
                    .map_err(|e| ArchiveError::Json("index.json".into(), e))?,
            );
        }
        for n in &rec.names {
            let mut desc = serde_json::to_value(&rec.manifest_desc)
                .map_err(|e| ArchiveError::Json("index.json".into(), e))?;
            desc["annotations"] =
                serde_json::json!({ "org.opencontainers.image.ref.name": n.to_string() });
            manifests.push(desc);
        }
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": MediaType::ImageIndex.to_string(), "manifests": manifests});
    append_bytes(b, "index.json", index.to_string().as_bytes())
}

/// Loads every image of the archive read from `input` into the store.
pub fn load(
    store: &Store,
    input: impl Read,
    compression: Compression,
) -> Result<Vec<ImageRecord>, ArchiveError> {
    let dir = tempfile::tempdir_in(store.tmp_dir()).map_err(io_err(store.tmp_dir().display()))?;
    let opts = UnpackOptions {
        chown: false,
        ..Default::default()
    };
    layer::unpack_layer(input, dir.path(), &opts)?;
    let root = dir.path();
    if root.join("manifest.json").is_file() {
        load_docker(store, root, compression)
    } else if root.join("index.json").is_file() && root.join("oci-layout").is_file() {
        load_oci(store, root)
    } else {
        Err(ArchiveError::UnknownFormat)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ArchiveError> {
    let bytes = std::fs::read(path).map_err(io_err(path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Json(path.display().to_string(), e))
}

/// Joins an archive-relative name under `root`, refusing to leave it.
fn inside(root: &Path, name: &str) -> std::path::PathBuf {
    root.join(crate::layer::safe::join(
        &crate::layer::safe::clean_components(name.as_bytes()),
    ))
}

fn load_docker(
    store: &Store,
    root: &Path,
    compression: Compression,
) -> Result<Vec<ImageRecord>, ArchiveError> {
    let entries: Vec<DockerManifestEntry> = read_json(&root.join("manifest.json"))?;
    let mut out = Vec::new();
    for e in entries {
        let config_path = inside(root, &e.config);
        let config_desc = store.put_blob_from_file(MediaType::ImageConfig, &config_path, None)?;
        let config: ImageConfiguration = read_json(&config_path)?;
        let expected = crate::image::config::diff_ids(&config);
        let mut layers = Vec::new();
        for (i, name) in e.layers.iter().enumerate() {
            let f = File::open(inside(root, name)).map_err(io_err(name))?;
            let stream = layer::open_layer_stream(io::BufReader::new(f)).map_err(io_err(name))?;
            let (desc, blob) = store.put_layer_from_tar(stream, compression)?;
            let want: Option<&DiffId> = expected.get(i);
            if want != Some(&blob.diff_id) {
                return Err(ArchiveError::DiffIdMismatch {
                    layer: name.clone(),
                    expected: want
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "no layer".into()),
                    actual: blob.diff_id.to_string(),
                });
            }
            layers.push(desc);
        }
        let m = manifest(config_desc, layers)?;
        let bytes = crate::image::config::canonical_json(&m)?;
        let mdesc = store.put_blob_bytes(MediaType::ImageManifest, &bytes)?;
        let names: Vec<Reference> = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Reference::parse(t).ok())
            .collect();
        out.push(store.index_manifest(&mdesc, &names)?);
    }
    Ok(out)
}

fn load_oci(store: &Store, root: &Path) -> Result<Vec<ImageRecord>, ArchiveError> {
    let index: ImageIndex = read_json(&root.join("index.json"))?;
    // One image per manifest, with every name the index gives it.
    let mut images: Vec<(Digest, u64, Vec<Reference>)> = Vec::new();
    for desc in index.manifests() {
        let md = Digest::from_oci(desc.digest())
            .map_err(|_| StoreError::BlobMissing(desc.digest().to_string()))?;
        let name = desc
            .annotations()
            .as_ref()
            .and_then(|a| a.get("org.opencontainers.image.ref.name"))
            .and_then(|n| Reference::parse(n).ok());
        match images.iter_mut().find(|(d, _, _)| d == &md) {
            Some((_, _, names)) => names.extend(name),
            None => images.push((md, desc.size(), name.into_iter().collect())),
        }
    }
    let blob_dir = root.join("blobs/sha256");
    let mut out = Vec::new();
    for (md, size, names) in images {
        let mpath = blob_dir.join(md.hex());
        store.put_blob_from_file(MediaType::ImageManifest, &mpath, Some(&md))?;
        let m: oci_spec::image::ImageManifest = read_json(&mpath)?;
        for d in std::iter::once(m.config()).chain(m.layers()) {
            let dd = Digest::from_oci(d.digest())
                .map_err(|_| StoreError::BlobMissing(d.digest().to_string()))?;
            store.put_blob_from_file(
                d.media_type().clone(),
                &blob_dir.join(dd.hex()),
                Some(&dd),
            )?;
        }
        let plain = descriptor(MediaType::ImageManifest, &md, size);
        out.push(store.index_manifest(&plain, &names)?);
    }
    Ok(out)
}
