//! The `RUN --mount`s as sandbox mounts: `cache` (a persistent directory per
//! id under the store, `sharing=shared|private|locked`), `bind` (from the
//! context or a stage/image, read-only unless `rw`, whose writes are then
//! discarded), `tmpfs`, `secret` (a file or env var with the secret's bytes,
//! never on disk in the image) and `ssh` (the agent socket). Nothing mounted
//! here is ever part of a layer.

use super::fsops::{Copier, CopyRules};
use super::mounts::OverlayView;
use super::sources::resolve_in_root;
use super::stage::StageRunner;
use super::workspace::Workspace;
use super::ExecError;
use crate::parser::instructions::{Mount as MountSpec, MountType, Run, Sharing};
use crate::sandbox::{Mount, MountKind};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Mounts ready for the sandbox, and what must live while it runs.
pub(super) struct PreparedMounts {
    pub mounts: Vec<Mount>,
    /// Extra environment (`SSH_AUTH_SOCK`, secrets with `env=`).
    pub env: Vec<String>,
    /// Secret bytes, to redact from logs.
    pub secret_values: Vec<Vec<u8>>,
    _views: Vec<OverlayView>,
    _locks: Vec<File>,
    _temps: Vec<tempfile::TempDir>,
}

pub(super) fn prepare_mounts(
    r: &StageRunner<'_, '_>,
    run: &Run,
    ws: &Workspace,
) -> Result<PreparedMounts, ExecError> {
    let mut p = PreparedMounts {
        mounts: Vec::new(),
        env: Vec::new(),
        secret_values: Vec::new(),
        _views: Vec::new(),
        _locks: Vec::new(),
        _temps: Vec::new(),
    };
    let workdir = r.state.workdir();
    let abs = |t: &str| -> String {
        if t.starts_with('/') {
            t.to_string()
        } else {
            crate::context::clean_path(&format!("{workdir}/{t}"))
        }
    };
    for (n, m) in run.mounts.iter().enumerate() {
        match m.kind {
            MountType::Tmpfs => p.mounts.push(Mount {
                target: abs(m.target.as_deref().unwrap_or_default()),
                kind: MountKind::Tmpfs { size: m.size },
            }),
            MountType::Cache => {
                let target = abs(m.target.as_deref().unwrap_or_default());
                let dir = cache_dir(r, m, &target, ws, n, &mut p)?;
                p.mounts.push(Mount {
                    target,
                    kind: MountKind::Bind {
                        source: dir,
                        readonly: m.read_only,
                    },
                });
            }
            MountType::Bind => {
                let target = abs(m.target.as_deref().unwrap_or_default());
                let (root, ignore) = match m.from.as_deref().filter(|f| !f.is_empty()) {
                    Some(from) => {
                        let state = super::copy::source_image(r, from)?;
                        let lowers = state.lower_dirs(r.b.store)?;
                        let view = OverlayView::read_only(
                            &lowers,
                            &ws.empty(),
                            &ws.sub(&format!("bind-{n}"))?,
                        )?;
                        let root = view.path().to_path_buf();
                        p._views.push(view);
                        (root, None)
                    }
                    None => (
                        r.b.req.context.dir().to_path_buf(),
                        Some(&r.b.req.context.ignore),
                    ),
                };
                let src_rel = m.source.as_deref().unwrap_or("/");
                let source = resolve_in_root(&root, src_rel, true)?;
                if std::fs::symlink_metadata(&source).is_err() {
                    return Err(ExecError::Run(format!(
                        "--mount=type=bind: source {src_rel:?} not found"
                    )));
                }
                // The context must not change, and excluded files stay hidden:
                // bind a filtered copy unless it is a read-only, unfiltered bind.
                let filtered = ignore.is_some_and(|i| !i.is_empty());
                let source = if m.read_only && !filtered {
                    source
                } else {
                    let tmp = tempfile::tempdir_in(r.b.store.tmp_dir())
                        .map_err(|e| ExecError::io(r.b.store.tmp_dir(), e))?;
                    let dst = tmp.path().join("data");
                    let mut copier = Copier::new(CopyRules {
                        owner: None,
                        keep_owner: true,
                        keep_hardlinks: true,
                        chmod: None,
                        ignore,
                        exclude: None,
                    });
                    let rel = crate::context::clean_path(src_rel)
                        .trim_start_matches('/')
                        .to_string();
                    copier.copy(&source, &dst, if rel.is_empty() { "." } else { &rel }, "")?;
                    p._temps.push(tmp);
                    dst
                };
                p.mounts.push(Mount {
                    target,
                    kind: MountKind::Bind {
                        source,
                        readonly: m.read_only,
                    },
                });
            }
            MountType::Secret => {
                let id =
                    m.id.clone()
                        .or_else(|| {
                            m.target
                                .as_deref()
                                .and_then(|t| t.rsplit('/').next())
                                .map(str::to_string)
                        })
                        .unwrap_or_default();
                let Some(secret) = r.b.req.secrets.iter().find(|s| s.id == id) else {
                    if m.required {
                        return Err(ExecError::Run(format!(
                            "secret {id} is required but was not given (use --secret id={id},src=FILE)"
                        )));
                    }
                    continue;
                };
                p.secret_values.push(secret.value.clone());
                if let Some(var) = &m.env {
                    p.env
                        .push(format!("{var}={}", String::from_utf8_lossy(&secret.value)));
                    if m.target.is_none() {
                        continue;
                    }
                }
                let target = m
                    .target
                    .clone()
                    .unwrap_or_else(|| format!("/run/secrets/{id}"));
                p.mounts.push(Mount {
                    target: abs(&target),
                    kind: MountKind::File {
                        contents: secret.value.clone(),
                        mode: m.mode.unwrap_or(0o400),
                        uid: m.uid.unwrap_or(0),
                        gid: m.gid.unwrap_or(0),
                    },
                });
            }
            MountType::Ssh => {
                let Some(sock) = r.b.req.ssh_socket.clone() else {
                    if m.required {
                        return Err(ExecError::Run(
                            "an ssh mount is required but no --ssh default was given".into(),
                        ));
                    }
                    continue;
                };
                let target = m
                    .target
                    .clone()
                    .unwrap_or_else(|| "/run/buildkit/ssh_agent.0".into());
                p.env.push(format!("SSH_AUTH_SOCK={target}"));
                p.mounts.push(Mount {
                    target: abs(&target),
                    kind: MountKind::Bind {
                        source: sock,
                        readonly: false,
                    },
                });
            }
        }
    }
    Ok(p)
}

/// The persistent directory of a cache mount, locked per `sharing`.
fn cache_dir(
    r: &StageRunner<'_, '_>,
    m: &MountSpec,
    target: &str,
    ws: &Workspace,
    n: usize,
    p: &mut PreparedMounts,
) -> Result<PathBuf, ExecError> {
    let id = m.id.clone().unwrap_or_else(|| target.to_string());
    let seed = match m.from.as_deref().filter(|f| !f.is_empty()) {
        Some(from) => Some(super::copy::source_image(r, from)?),
        None => None,
    };
    let source = m.source.as_deref().unwrap_or("/");
    let mut identity = id.clone();
    if let Some(s) = &seed {
        // BuildKit keys a seeded cache by its id and its base snapshot.
        let top = s.top_chain().map(|c| c.to_string()).unwrap_or_default();
        let source = crate::context::clean_path(&format!("/{source}"));
        identity.push_str(&format!("\0from={top}\0source={source}"));
    }
    let key = hex::encode(Sha256::digest(identity.as_bytes()));
    let base = r.b.store.root().join("cache-mounts");
    let dir = base.join(&key);
    if let (Some(state), false) = (&seed, dir.exists()) {
        seed_cache(r, state, source, &base, &dir, ws, n)?;
    }
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| ExecError::io(&dir, e))?;
        std::fs::set_permissions(
            &dir,
            std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
        )
        .map_err(|e| ExecError::io(&dir, e))?;
        std::os::unix::fs::chown(&dir, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
            .map_err(|e| ExecError::io(&dir, e))?;
    }
    let lock_path = base.join(format!("{key}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| ExecError::io(&lock_path, e))?;
    match m.sharing.unwrap_or(Sharing::Shared) {
        Sharing::Shared => Ok(dir),
        Sharing::Locked => {
            flock(&lock, libc::LOCK_EX).map_err(|e| ExecError::io(&lock_path, e))?;
            p._locks.push(lock);
            Ok(dir)
        }
        Sharing::Private => {
            // The first user gets the shared dir; concurrent ones a fresh one.
            if flock(&lock, libc::LOCK_EX | libc::LOCK_NB).is_ok() {
                p._locks.push(lock);
                Ok(dir)
            } else {
                let tmp = tempfile::tempdir_in(r.b.store.tmp_dir())
                    .map_err(|e| ExecError::io(r.b.store.tmp_dir(), e))?;
                let d = tmp.path().to_path_buf();
                p._temps.push(tmp);
                Ok(d)
            }
        }
    }
}

/// Makes `dir` a copy of `source` in `state`'s filesystem (owners, modes
/// and links kept), built beside it and renamed into place whole.
fn seed_cache(
    r: &StageRunner<'_, '_>,
    state: &super::state::ImageState,
    source: &str,
    base: &std::path::Path,
    dir: &std::path::Path,
    ws: &Workspace,
    n: usize,
) -> Result<(), ExecError> {
    std::fs::create_dir_all(base).map_err(|e| ExecError::io(base, e))?;
    let lowers = state.lower_dirs(r.b.store)?;
    let mut lower = lowers;
    if lower.is_empty() {
        lower.push(ws.empty());
    }
    let view = OverlayView::read_only(&lower, &ws.empty(), &ws.sub(&format!("cache-seed-{n}"))?)?;
    let from = resolve_in_root(view.path(), source, true)?;
    if !std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_dir()) {
        return Err(ExecError::Run(format!(
            "--mount=type=cache: source {source:?} is not a directory in the from= image"
        )));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".seed-")
        .tempdir_in(base)
        .map_err(|e| ExecError::io(base, e))?;
    let staged = tmp.path().join("d");
    let mut copier = Copier::new(CopyRules {
        owner: None,
        keep_owner: true,
        keep_hardlinks: true,
        chmod: None,
        ignore: None,
        exclude: None,
    });
    copier.copy(&from, &staged, ".", "")?;
    view.unmount()?;
    // Another build may have seeded it meanwhile: theirs wins, ours is dropped.
    if let Err(e) = std::fs::rename(&staged, dir) {
        if !dir.is_dir() {
            return Err(ExecError::io(dir, e));
        }
    }
    Ok(())
}

fn flock(f: &File, op: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(f), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
