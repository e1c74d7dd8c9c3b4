//! What `rbuild build` does with registries besides base images (those are
//! the executor's): `--push` (or `-o type=registry`) pushes every `-t` name
//! at the end, and `--cache-from` / `--cache-to type=registry,ref=...` move
//! the build cache through a registry. The work is `rbuild::registry`'s and
//! `rbuild::cache`'s; this file checks the options and reports through the
//! build's progress.

use anyhow::{bail, Context as _, Result};
use rbuild::cache::CacheExportMode;
use rbuild::image::Reference;
use rbuild::progress::Progress;
use rbuild::registry::{self, ProgressMode, PullOptions, PushOptions, RegistryOptions};
use rbuild::store::Store;
use std::path::PathBuf;

/// True when the build's result goes to a registry: `--push`, or an
/// `-o type=registry[,...]` / `-o type=image,push=true` output.
pub fn wants_push(push_flag: bool, outputs: &[String]) -> bool {
    push_flag
        || outputs.iter().any(|o| {
            let fields: Vec<&str> = o.split(',').map(str::trim).collect();
            fields.contains(&"type=registry") || fields.contains(&"push=true")
        })
}

/// Fails before the build when a push could not happen (buildx's rule).
pub fn check_push(tags: &[Reference]) -> Result<()> {
    if tags.is_empty() {
        bail!("--push: a tag is needed when pushing to a registry: add -t REGISTRY/NAME:TAG");
    }
    Ok(())
}

/// Pushes the built image (stored under `tags`) to each tag, one progress step per tag. Returns
/// `(tag, manifest digest)` per pushed tag.
pub fn push_tags(
    store: &Store,
    tags: &[Reference],
    conn: &RegistryOptions,
    progress: &Progress,
) -> Result<Vec<(Reference, String)>> {
    let opts = PushOptions {
        registry: RegistryOptions {
            progress: ProgressMode::Quiet,
            ..conn.clone()
        },
        ..PushOptions::default()
    };
    let mut pushed = Vec::new();
    for tag in tags {
        let mut step = progress.step(format!("pushing {tag}"));
        match registry::push(store, &tag.to_string(), tag, &opts) {
            Ok(r) => {
                step.log(&format!(
                    "pushed {tag}@{} ({} bytes manifest)",
                    r.digest, r.size
                ));
                step.done();
                pushed.push((tag.clone(), r.digest.to_string()));
            }
            Err(e) => {
                let msg = format!("pushing {tag}: {e}");
                step.error(&msg);
                bail!(msg);
            }
        }
    }
    Ok(pushed)
}

/// The `type=registry` entries of `--cache-from` / `--cache-to`. Each goes
/// through a cache layout (`rbuild::cache::export`'s format) in a temporary
/// directory: pulled before the build with [`registry::pull_layout`] and
/// pushed after it with [`registry::push_layout`]. The executor sees plain
/// local imports and an export of those directories ([`RegistryCache::wire`]).
pub struct RegistryCache {
    /// The `--cache-from` values that are not `type=registry`.
    pub local_from: Vec<String>,
    /// The `--cache-to` values that are not `type=registry`.
    pub local_to: Vec<String>,
    imports: Vec<RegistryLayout>,
    exports: Vec<RegistryLayout>,
    /// Keeps the layout directories until the build is done.
    _layout_dirs: Vec<tempfile::TempDir>,
}

/// One `type=registry,ref=REF[,mode=min|max][,ignore-error=true]` and its layout dir.
struct RegistryLayout {
    reference: Reference,
    mode: CacheExportMode,
    ignore_error: bool,
    dir: PathBuf,
}

impl RegistryCache {
    /// Splits the cache options; registry ones get a directory under the
    /// store's temp dir.
    pub fn prepare(store: &Store, from: &[String], to: &[String]) -> Result<RegistryCache> {
        let mut rc = RegistryCache {
            local_from: Vec::new(),
            local_to: Vec::new(),
            imports: Vec::new(),
            exports: Vec::new(),
            _layout_dirs: Vec::new(),
        };
        for (flag, specs) in [("--cache-from", from), ("--cache-to", to)] {
            for spec in specs {
                let Some(mut layout) = parse_registry_spec(flag, spec)? else {
                    match flag {
                        "--cache-from" => rc.local_from.push(spec.clone()),
                        _ => rc.local_to.push(spec.clone()),
                    }
                    continue;
                };
                let dir = tempfile::Builder::new()
                    .prefix("registry-cache-")
                    .tempdir_in(store.tmp_dir())
                    .context("creating a directory for the registry cache")?;
                layout.dir = dir.path().to_path_buf();
                rc._layout_dirs.push(dir);
                match flag {
                    "--cache-from" => rc.imports.push(layout),
                    _ => rc.exports.push(layout),
                }
            }
        }
        Ok(rc)
    }

    /// Adds the layout dirs to the executor's local imports and export.
    /// The executor writes one export: with a `type=local` one too, that
    /// directory (and its mode) is what the registries get; else a
    /// temporary one, `mode=max` if any registry export asks for it.
    pub fn wire(
        &mut self,
        cache_from: &mut Vec<PathBuf>,
        cache_to: &mut Option<(PathBuf, CacheExportMode)>,
    ) {
        cache_from.extend(self.imports.iter().map(|l| l.dir.clone()));
        let Some(first) = self.exports.first() else {
            return;
        };
        let dir = match cache_to {
            Some((dest, _)) => dest.clone(),
            None => {
                let max = self.exports.iter().any(|l| l.mode == CacheExportMode::Max);
                let mode = if max {
                    CacheExportMode::Max
                } else {
                    CacheExportMode::Min
                };
                *cache_to = Some((first.dir.clone(), mode));
                first.dir.clone()
            }
        };
        for l in &mut self.exports {
            l.dir = dir.clone();
        }
    }

    /// Pulls each `--cache-from` registry cache. A cache that cannot be
    /// pulled (the first CI run has none) is a warning, as in buildx: the
    /// build goes on without it.
    pub fn import(&self, conn: &RegistryOptions, progress: &Progress) {
        let opts = PullOptions {
            registry: quiet(conn),
            ..PullOptions::default()
        };
        for l in &self.imports {
            let mut step = progress.step(format!("importing cache manifest from {}", l.reference));
            match registry::pull_layout(&l.reference, &l.dir, &opts) {
                Ok(d) => {
                    step.log(&format!("pulled {}@{d}", l.reference));
                    step.done();
                }
                Err(e) => {
                    step.log(&format!(
                        "WARNING: --cache-from {}: {e}; building without it",
                        l.reference
                    ));
                    // The layout may hold a partial pull: the executor skips
                    // a directory without index.json, which is written last.
                    step.done();
                }
            }
        }
    }

    /// Pushes each `--cache-to` registry cache (after a successful build).
    pub fn export(&self, conn: &RegistryOptions, progress: &Progress) -> Result<()> {
        let opts = PushOptions {
            registry: quiet(conn),
            ..PushOptions::default()
        };
        for l in &self.exports {
            let mut step = progress.step(format!("exporting cache to {}", l.reference));
            match registry::push_layout(&l.dir, &l.reference, &opts) {
                Ok(r) => {
                    step.log(&format!("pushed {}@{}", l.reference, r.digest));
                    step.done();
                }
                Err(e) if l.ignore_error => {
                    step.log(&format!(
                        "WARNING: --cache-to {}: {e} (ignore-error=true)",
                        l.reference
                    ));
                    step.done();
                }
                Err(e) => {
                    let msg = format!("--cache-to {}: {e}", l.reference);
                    step.error(&msg);
                    bail!(msg);
                }
            }
        }
        Ok(())
    }
}

fn quiet(conn: &RegistryOptions) -> RegistryOptions {
    RegistryOptions {
        progress: ProgressMode::Quiet,
        ..conn.clone()
    }
}

/// `Some` for a `type=registry` value (`ref=` required; `mode=` for
/// exports; `ignore-error=`; buildx's format keys accepted and ignored),
/// `None` for any other type.
fn parse_registry_spec(flag: &str, spec: &str) -> Result<Option<RegistryLayout>> {
    let fields: Vec<(&str, &str)> = spec
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| f.split_once('=').unwrap_or((f, "")))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    if !fields.contains(&("type", "registry")) {
        return Ok(None);
    }
    let (mut reference, mut mode, mut ignore_error) = (None, CacheExportMode::Min, false);
    for (k, v) in fields {
        match k {
            "type" => {}
            "ref" => {
                reference = Some(
                    Reference::parse(v)
                        .with_context(|| format!("{flag} {spec:?}: invalid ref {v:?}"))?,
                )
            }
            "mode" if flag == "--cache-to" => {
                mode = match v {
                    "min" => CacheExportMode::Min,
                    "max" => CacheExportMode::Max,
                    _ => bail!("{flag} {spec:?}: mode={v}: use min or max"),
                }
            }
            "ignore-error" => ignore_error = v == "true",
            "compression" | "compression-level" | "force-compression" | "oci-mediatypes"
            | "image-manifest" => {}
            _ => bail!("{flag} {spec:?}: unknown key {k:?} for type=registry"),
        }
    }
    let reference = reference
        .with_context(|| format!("{flag} {spec:?}: type=registry needs ref=REGISTRY/NAME:TAG"))?;
    Ok(Some(RegistryLayout {
        reference,
        mode,
        ignore_error,
        dir: PathBuf::new(),
    }))
}
