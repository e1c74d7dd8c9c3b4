//! COPY and ADD steps with docker's semantics: sources from the context (with
//! .dockerignore), another stage, or an image; wildcards; a directory copies
//! its contents; a destination ending in `/` (or several sources) is a
//! directory; relative destinations are under WORKDIR; missing parents are
//! created; `--chown`, `--chmod`, `--link` (a layer independent of the base),
//! `--parents`, `--exclude`; heredoc sources; ADD extracts local tar archives.
//! The layer is written straight from the sources: no sandbox runs.

use super::chmod::Chmod;
use super::fetch::{fetch, is_url, Fetched};
use super::fsops::{make_dirs, Copier, CopyRules};
use super::mounts::OverlayView;
use super::owner::{resolve_owner, resolve_owner_in_layers};
use super::sources::{find_sources, resolve_in_root, Source};
use super::stage::{finish_step, StageRunner};
use super::state::ImageState;
use super::workspace::Workspace;
use super::ExecError;
use crate::context::DockerIgnore;
use crate::layer::{open_layer_stream, unpack_layer, UnpackOptions};
use crate::parser::instructions::{Add, Command, Copy};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Runs one COPY (or ADD when `add` is set).
pub(super) fn copy_step(
    r: &mut StageRunner<'_, '_>,
    command: &Command,
    copy: &Copy,
    add: Option<&Add>,
) -> Result<(), ExecError> {
    let step = r.b.progress.step(r.step_name(command));
    let result = copy_inner(r, copy, add);
    finish_step(step, result)
}

fn copy_inner(
    r: &mut StageRunner<'_, '_>,
    copy: &Copy,
    add: Option<&Add>,
) -> Result<(), ExecError> {
    let name = if add.is_some() { "ADD" } else { "COPY" };
    let chmod = copy
        .chmod
        .as_deref()
        .map(Chmod::parse)
        .transpose()
        .map_err(ExecError::Copy)?;
    let exclude = if copy.exclude.is_empty() {
        None
    } else {
        Some(
            DockerIgnore::from_patterns(copy.exclude.iter())
                .map_err(|e| ExecError::Copy(e.to_string()))?,
        )
    };
    if copy.sources.len() + copy.contents.len() > 1 && !copy.dest.ends_with('/') {
        return Err(ExecError::Copy(format!(
            "When using {name} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let ws = Workspace::new(r.b.store.tmp_dir())?;
    // ADD's URL sources, downloaded (usually already while computing the key).
    let mut url_sources: Vec<Source> = Vec::new();
    for s in copy.sources.iter().filter(|s| is_url(s)) {
        let Some(add) = add else {
            return Err(ExecError::Copy(format!(
                "COPY does not download URLs ({s}); use ADD"
            )));
        };
        let got = match r.fetched.get(s) {
            Some(f) => f.clone(),
            None => fetch(s, &ws.sub("download")?, add.checksum.as_deref())?,
        };
        prepare_download(&got)?;
        url_sources.push(Source {
            host: got.file.clone(),
            rel: got.name.clone(),
        });
    }

    // Where the sources are.
    let (source_view, source_root, what, keep_owner, ignore) = match copy.from.as_deref() {
        Some(from) => {
            let state = source_image(r, from)?;
            let lowers = state.lower_dirs(r.b.store)?;
            let view = OverlayView::read_only(&lowers, &ws.empty(), &ws.sub("from")?)?;
            let root = view.path().to_path_buf();
            (
                Some(view),
                root,
                format!("image or stage {from:?}"),
                true,
                None,
            )
        }
        None => {
            let ctx = &r.b.req.context;
            (
                None,
                ctx.dir().to_path_buf(),
                "build context".to_string(),
                false,
                Some(&ctx.ignore),
            )
        }
    };
    // Each source with the path `--parents` keeps under the destination.
    let mut sources: Vec<(Source, String)> = Vec::new();
    for s in copy.sources.iter().filter(|s| !is_url(s)) {
        let skip = parents_pivot_depth(s);
        for src in find_sources(&source_root, s, ignore, &what)? {
            let kept = src
                .rel
                .trim_start_matches('/')
                .split('/')
                .skip(skip)
                .collect::<Vec<_>>()
                .join("/");
            sources.push((src, kept));
        }
    }

    // Where they go.
    let workdir = r.state.workdir();
    let dest_is_dir = copy.dest.ends_with('/')
        || copy.dest.ends_with("/.")
        || copy.dest == "."
        || sources.len() + url_sources.len() + copy.contents.len() > 1;
    let dest = if copy.dest.starts_with('/') {
        copy.dest.clone()
    } else {
        format!("{workdir}/{}", copy.dest)
    };
    let dest = crate::context::clean_path(&dest);

    let (target_view, target_root) = if copy.link {
        (None, ws.upper())
    } else {
        let lowers = r.lower_dirs()?;
        let view =
            OverlayView::read_write(&lowers, &ws.empty(), &ws.upper(), &ws.work(), &ws.merged())?;
        let root = view.path().to_path_buf();
        (Some(view), root)
    };
    let result = (|| {
        let owner = match copy.chown.as_deref() {
            Some(spec) if !spec.is_empty() && copy.link => {
                Some(resolve_owner_in_layers(&r.lower_dirs()?, spec)?)
            }
            Some(spec) if !spec.is_empty() => Some(resolve_owner(&target_root, spec)?),
            _ => None,
        };
        let rules = CopyRules {
            owner,
            keep_owner,
            keep_hardlinks: keep_owner,
            chmod: chmod.as_ref(),
            ignore,
            exclude: exclude.as_ref(),
        };
        let mut copier = Copier::new(rules);
        let dest_host = resolve_in_root(&target_root, &dest, true)?;
        let dest_exists_as_dir = std::fs::metadata(&dest_host).is_ok_and(|m| m.is_dir());
        for (src, kept) in &sources {
            copy_source(
                &mut copier,
                src,
                &target_root,
                &dest_host,
                dest_is_dir || dest_exists_as_dir,
                copy.parents.then_some(kept.as_str()),
                add.is_some(),
                owner,
            )?;
        }
        for src in &url_sources {
            let into_dir = dest_is_dir || dest_exists_as_dir;
            copy_source(
                &mut copier,
                src,
                &target_root,
                &dest_host,
                into_dir,
                None,
                false,
                owner,
            )?;
        }
        for content in &copy.contents {
            let into_dir = dest_is_dir || dest_exists_as_dir;
            let file = if into_dir {
                dest_host.join(&content.path)
            } else {
                dest_host.clone()
            };
            write_heredoc(
                &target_root,
                &file,
                content.data.as_bytes(),
                owner,
                chmod.as_ref(),
            )?;
        }
        Ok::<(), ExecError>(())
    })();
    if let Some(v) = target_view {
        v.unmount()?;
    }
    if let Some(v) = source_view {
        v.unmount()?;
    }
    result?;
    let mut shown: Vec<String> = copy.sources.clone();
    shown.extend(copy.contents.iter().map(|c| format!("<<{}", c.path)));
    let created_by = format!("{name} {} {} # buildkit", shown.join(" "), copy.dest);
    r.commit_dir(&ws.upper(), !copy.link, Vec::new(), &created_by)
}

/// The image `--from` names: a stage (by name or index) or an image in the store.
/// The index of the stage `from` names (by index or name), if it names one.
pub(super) fn stage_index(r: &StageRunner<'_, '_>, from: &str) -> Option<usize> {
    if !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit()) {
        return from.parse().ok();
    }
    let lower = from.to_ascii_lowercase();
    r.b.graph
        .stages
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
        .map(|s| s.index)
}

/// The image `--from` names: a stage (by name or index) or an image in the store.
pub(super) fn source_image(r: &StageRunner<'_, '_>, from: &str) -> Result<ImageState, ExecError> {
    if let Some(i) = stage_index(r, from) {
        return Ok(r.b.stage_output(i)?.state.clone());
    }
    ImageState::from_record(r.b.store, &resolve_image(r, from)?)
}

/// The image (not a stage) `--from` names: from the store, or pulled (then
/// shown as a step of its own, as BuildKit shows image loads).
pub(super) fn resolve_image(
    r: &StageRunner<'_, '_>,
    from: &str,
) -> Result<crate::store::ImageRecord, ExecError> {
    let platform = r.b.req.platform.as_ref().map(|p| p.to_string());
    let progress = r.b.progress;
    let mut step: Option<crate::progress::Step> = None;
    let resolved = r.b.bases.resolve(
        r.b.store,
        &r.b.req.bases,
        from,
        platform.as_deref(),
        &mut |line| {
            step.get_or_insert_with(|| progress.step(format!("[internal] load image {from}")))
                .log(line)
        },
    );
    match (resolved, step) {
        (Ok(rec), step) => {
            if let Some(s) = step {
                s.done();
            }
            Ok(rec)
        }
        (Err(e), step) => {
            let e = ExecError::BaseImage(format!("--from={from}: no stage of that name; {e}"));
            if let Some(s) = step {
                s.error(&e.to_string());
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn copy_source(
    copier: &mut Copier<'_>,
    src: &Source,
    root: &Path,
    dest: &Path,
    dest_is_dir: bool,
    parents: Option<&str>,
    is_add: bool,
    owner: Option<(u32, u32)>,
) -> Result<(), ExecError> {
    let meta = std::fs::metadata(&src.host)
        .or_else(|_| std::fs::symlink_metadata(&src.host))
        .map_err(|e| ExecError::io(&src.host, e))?;
    let base_name = Path::new(&src.rel)
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_default();
    let under = |d: &Path| -> PathBuf {
        match parents {
            Some("" | ".") => d.to_path_buf(),
            Some(kept) => d.join(kept),
            None => d.join(&base_name),
        }
    };
    if is_add && meta.is_file() {
        if let Some(stream) = archive_stream(&src.host)? {
            make_dirs(root, dest, owner)?;
            let opts = UnpackOptions::default();
            unpack_layer(stream, dest, &opts)
                .map_err(|e| ExecError::Copy(format!("extracting {}: {e}", src.rel)))?;
            return Ok(());
        }
    }
    if meta.is_dir() {
        let target = if parents.is_some() {
            under(dest)
        } else {
            dest.to_path_buf()
        };
        make_dirs(root, &target, owner)?;
        let mut names: Vec<_> = std::fs::read_dir(&src.host)
            .map_err(|e| ExecError::io(&src.host, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let name = n.to_string_lossy().into_owned();
            let ctx_rel = if src.rel == "." {
                name.clone()
            } else {
                format!("{}/{name}", src.rel)
            };
            copier.copy_child(&src.host.join(&n), &target.join(&n), &ctx_rel, &name)?;
        }
        return Ok(());
    }
    let target = if dest_is_dir {
        under(dest)
    } else {
        dest.to_path_buf()
    };
    if let Some(parent) = target.parent() {
        make_dirs(root, parent, owner)?;
    }
    copier.copy(&src.host, &target, &src.rel, "")
}

/// `COPY --parents` keeps a source's path below its `/./` pivot (BuildKit's
/// form `app/./src/*.go`): the number of leading path components dropped,
/// 0 without a pivot. A leading `./` is not a pivot.
fn parents_pivot_depth(pattern: &str) -> usize {
    let mut p = pattern;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    match p.find("/./") {
        Some(i) => crate::context::clean_path(&p[..i])
            .trim_start_matches('/')
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .count(),
        None => 0,
    }
}

/// Downloaded files get mode 0600 and the server's Last-Modified time, as docker gives them.
fn prepare_download(got: &Fetched) -> Result<(), ExecError> {
    std::fs::set_permissions(&got.file, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| ExecError::io(&got.file, e))?;
    if let Some(t) = got.mtime {
        let ts = nix::sys::time::TimeSpec::new(super::fetch::epoch_secs(t), 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &got.file,
            &ts,
            &ts,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| ExecError::io(&got.file, e.into()))?;
    }
    Ok(())
}

/// A local file ADD should extract: a tar, plain or compressed with gzip,
/// bzip2, xz or zstd (detected by magic bytes, as docker does).
fn archive_stream(path: &Path) -> Result<Option<Box<dyn Read>>, ExecError> {
    let open = || -> Result<Box<dyn Read>, ExecError> {
        let f = std::fs::File::open(path).map_err(|e| ExecError::io(path, e))?;
        open_layer_stream(std::io::BufReader::new(f)).map_err(|e| ExecError::io(path, e))
    };
    let mut probe = open()?;
    let mut head = vec![0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match probe.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return Ok(None),
        }
    }
    let is_tar = got == 512 && head.get(257..262) == Some(b"ustar");
    if !is_tar {
        return Ok(None);
    }
    Ok(Some(open()?))
}

fn write_heredoc(
    root: &Path,
    file: &Path,
    data: &[u8],
    owner: Option<(u32, u32)>,
    chmod: Option<&Chmod>,
) -> Result<(), ExecError> {
    if let Some(parent) = file.parent() {
        make_dirs(root, parent, owner)?;
    }
    if std::fs::symlink_metadata(file).is_ok() {
        std::fs::remove_file(file).map_err(|e| ExecError::io(file, e))?;
    }
    std::fs::write(file, data).map_err(|e| ExecError::io(file, e))?;
    let mode = chmod.map_or(0o644, |c| c.apply(0o644, false));
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ExecError::io(file, e))?;
    let (uid, gid) = owner.unwrap_or((0, 0));
    std::os::unix::fs::lchown(file, Some(uid), Some(gid)).map_err(|e| ExecError::io(file, e))
}
