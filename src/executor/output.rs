//! Build outputs besides the store (`-o`): `type=image` (the store, the
//! default), `type=oci,dest=DIR|FILE.tar`, `type=docker,dest=FILE.tar`,
//! `type=tar,dest=FILE` and `type=local,dest=DIR` (the final filesystem).
//! OCI layout directories name the image by its tag in
//! `org.opencontainers.image.ref.name` (as BuildKit's oci exporter does, so
//! `skopeo inspect oci:DIR:TAG` finds it) and by its full name in
//! `io.containerd.image.name`.

use super::mounts::OverlayView;
use super::workspace::Workspace;
use super::{BuildResult, ExecError};
use crate::image::archive::{save, ArchiveFormat};
use crate::image::Digest;
use crate::layer::{write_tar, DiffOptions};
use crate::store::Store;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One `-o` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The store (always written); `name=` adds names (comma-free, one per `name=`).
    Image(Vec<String>),
    Oci(PathBuf),
    Docker(PathBuf),
    /// The final filesystem as a tar (`-` for stdout).
    Tar(PathBuf),
    /// The final filesystem copied into a directory.
    Local(PathBuf),
}

impl Output {
    /// Parses `type=T,dest=D` (or a bare path: `type=local`; `-`: tar to stdout), as buildx.
    pub fn parse(spec: &str) -> Result<Output, ExecError> {
        if !spec.contains('=') {
            return Ok(if spec == "-" {
                Output::Tar(PathBuf::from("-"))
            } else {
                Output::Local(PathBuf::from(spec))
            });
        }
        let mut kind = None;
        let mut dest = None;
        let mut names = Vec::new();
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("type", t)) => kind = Some(t.to_string()),
                Some(("dest", d)) => dest = Some(PathBuf::from(d)),
                Some(("name", n)) => names.push(n.to_string()),
                Some((_, _)) => {}
                None => {
                    return Err(ExecError::Output(format!(
                        "invalid output {spec:?}: {field:?} is not key=value"
                    )))
                }
            }
        }
        let need = |d: Option<PathBuf>, t: &str| {
            d.ok_or_else(|| ExecError::Output(format!("output type={t} needs dest=PATH")))
        };
        match kind.as_deref() {
            // type=registry is the store plus a push, which the CLI does.
            Some("image") | Some("registry") | None => Ok(Output::Image(names)),
            Some("oci") => Ok(Output::Oci(need(dest, "oci")?)),
            Some("docker") => Ok(Output::Docker(need(dest, "docker")?)),
            Some("tar") => Ok(Output::Tar(need(dest, "tar")?)),
            Some("local") => Ok(Output::Local(need(dest, "local")?)),
            Some(t) => Err(ExecError::Output(format!(
                "unknown output type {t:?}: use image, oci, docker, tar or local"
            ))),
        }
    }
}

/// Writes one output of a finished build.
pub fn write(store: &Store, result: &BuildResult, out: &Output) -> Result<(), ExecError> {
    let err = |what: &Path, e: &dyn std::fmt::Display| {
        ExecError::Output(format!("{}: {e}", what.display()))
    };
    match out {
        Output::Image(_) => Ok(()),
        Output::Docker(dest) => save_archive(store, result, ArchiveFormat::DockerArchive, dest),
        Output::Oci(dest)
            if dest.extension().is_some_and(|e| e == "tar") || dest.as_os_str() == "-" =>
        {
            save_archive(store, result, ArchiveFormat::OciArchive, dest)
        }
        Output::Oci(dest) => oci_dir(store, result, dest),
        Output::Tar(dest) => {
            let ws = Workspace::new(store.tmp_dir())?;
            let lowers = result.state.lower_dirs(store)?;
            let view = OverlayView::read_only(&lowers, &ws.empty(), &ws.merged())?;
            let opts = DiffOptions::default();
            let res = if dest.as_os_str() == "-" {
                let mut w = std::io::BufWriter::new(std::io::stdout().lock());
                write_tar(view.path(), &opts, &mut w)
                    .map_err(ExecError::from)
                    .and_then(|()| w.flush().map_err(|e| err(dest, &e)))
            } else {
                let f = fs::File::create(dest).map_err(|e| err(dest, &e))?;
                let mut w = std::io::BufWriter::new(f);
                write_tar(view.path(), &opts, &mut w)
                    .map_err(ExecError::from)
                    .and_then(|()| w.flush().map_err(|e| err(dest, &e)))
            };
            view.unmount()?;
            res
        }
        Output::Local(dest) => {
            let ws = Workspace::new(store.tmp_dir())?;
            let lowers = result.state.lower_dirs(store)?;
            let view = OverlayView::read_only(&lowers, &ws.empty(), &ws.merged())?;
            fs::create_dir_all(dest).map_err(|e| err(dest, &e))?;
            let mut copier = super::fsops::Copier::new(super::fsops::CopyRules {
                owner: None,
                keep_owner: true,
                keep_hardlinks: true,
                chmod: None,
                ignore: None,
                exclude: None,
            });
            let mut res = Ok(());
            let entries = fs::read_dir(view.path()).map_err(|e| err(dest, &e))?;
            for e in entries.flatten() {
                res = copier.copy(&e.path(), &dest.join(e.file_name()), "", "");
                if res.is_err() {
                    break;
                }
            }
            view.unmount()?;
            res
        }
    }
}

fn save_archive(
    store: &Store,
    result: &BuildResult,
    format: ArchiveFormat,
    dest: &Path,
) -> Result<(), ExecError> {
    let recs = std::slice::from_ref(&result.record);
    let fail = |e: &dyn std::fmt::Display| ExecError::Output(format!("{}: {e}", dest.display()));
    if dest.as_os_str() == "-" {
        let w = std::io::BufWriter::new(std::io::stdout().lock());
        return save(store, recs, format, w).map_err(|e| fail(&e));
    }
    let tmp = dest.with_extension("rbuild-partial");
    let f = fs::File::create(&tmp).map_err(|e| fail(&e))?;
    save(store, recs, format, std::io::BufWriter::new(f)).map_err(|e| fail(&e))?;
    fs::rename(&tmp, dest).map_err(|e| fail(&e))
}

/// Writes (or adds to) an OCI image layout directory.
fn oci_dir(store: &Store, result: &BuildResult, dest: &Path) -> Result<(), ExecError> {
    let rec = &result.record;
    let blobs = dest.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(|e| ExecError::io(&blobs, e))?;
    let mut digests: Vec<Digest> = vec![rec.manifest_digest.clone(), rec.id.clone()];
    for l in rec.manifest.layers() {
        digests.push(Digest::from_oci(l.digest()).map_err(|e| ExecError::Output(e.to_string()))?);
    }
    for d in &digests {
        let to = blobs.join(d.hex());
        if !to.exists() {
            fs::copy(store.blob_path(d), &to).map_err(|e| ExecError::io(&to, e))?;
            // Store blobs are private (0600); a layout is meant to be shared.
            fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .map_err(|e| ExecError::io(&to, e))?;
        }
    }
    let layout = dest.join("oci-layout");
    fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(|e| ExecError::io(&layout, e))?;
    let index_path = dest.join("index.json");
    let mut manifests: Vec<serde_json::Value> = fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("manifests").cloned())
        .and_then(|m| serde_json::from_value(m).ok())
        .unwrap_or_default();
    let mut entry =
        serde_json::to_value(&rec.manifest_desc).map_err(|e| ExecError::Output(e.to_string()))?;
    let (tag, full) = match rec.names.first() {
        Some(n) => (n.tag().unwrap_or("latest").to_string(), n.to_string()),
        None => ("latest".to_string(), String::new()),
    };
    let mut ann = serde_json::json!({ "org.opencontainers.image.ref.name": tag });
    if !full.is_empty() {
        ann["io.containerd.image.name"] = serde_json::json!(full);
    }
    entry["annotations"] = ann;
    // A tag names one image: drop an older entry with the same tag.
    manifests.retain(|m| {
        m["annotations"]["org.opencontainers.image.ref.name"] != serde_json::json!(tag)
    });
    manifests.push(entry);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    fs::write(&index_path, index.to_string()).map_err(|e| ExecError::io(&index_path, e))
}
