//! What `rbuild build` does with registries besides base images (those are
//! the executor's): `--push` (or `-o type=registry`) pushes every `-t` name
//! at the end. The work is `rbuild::registry`'s; this file checks the
//! options and reports through the build's progress.

use anyhow::{bail, Result};
use rbuild::image::Reference;
use rbuild::progress::Progress;
use rbuild::registry::{self, ProgressMode, PushOptions, RegistryOptions};
use rbuild::store::Store;

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
