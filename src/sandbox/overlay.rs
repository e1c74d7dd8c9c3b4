//! The root filesystem part of a plan: a bind of a plain directory, or the
//! overlayfs mount options for the layers (escaped; relative to their
//! common ancestor when the absolute list would not fit the kernel's one
//! page of options, as docker's overlay2 driver does), with
//! index/redirect_dir/metacopy off so upper dirs stay plain layer diffs,
//! and userxattr inside a user namespace.
//!
//! Parent side; no mounting here.

use super::plan::{cstring, path_cstring, RootPlan};
use super::spec::RootFs;
use super::SandboxError;
use std::path::{Path, PathBuf};

/// The kernel takes at most one page of mount options.
const MAX_MOUNT_DATA: usize = 4000;

/// `volatile`: overlayfs skips every sync of the upper dir (its unmount
/// then does not flush the upper filesystem); only for upper dirs thrown
/// away afterwards, as a crash leaves them unusable.
pub fn root_plan(root: &RootFs, user_ns: bool, volatile: bool) -> Result<RootPlan, SandboxError> {
    match root {
        RootFs::Dir(dir) => {
            if !dir.is_dir() {
                return Err(SandboxError::InvalidSpec(format!(
                    "root directory {} does not exist",
                    dir.display()
                )));
            }
            Ok(RootPlan::Bind(path_cstring(dir)?))
        }
        RootFs::Overlay { lower, upper, work } => {
            if lower.is_empty() {
                return Err(SandboxError::InvalidSpec(
                    "an overlay root needs at least one lower layer directory".into(),
                ));
            }
            for dir in lower.iter().chain([upper, work]) {
                if !dir.is_dir() {
                    return Err(SandboxError::InvalidSpec(format!(
                        "overlay directory {} does not exist",
                        dir.display()
                    )));
                }
            }
            let data = overlay_data(lower, upper, work, None, user_ns, volatile);
            if data.len() <= MAX_MOUNT_DATA {
                return Ok(RootPlan::Overlay {
                    chdir: None,
                    data: cstring(data)?,
                });
            }
            // Too long for one page: use paths relative to the deepest
            // common ancestor, as docker's overlay2 driver does.
            let base = common_ancestor(lower.iter().chain([upper, work]));
            let data = overlay_data(lower, upper, work, Some(&base), user_ns, volatile);
            if data.len() > MAX_MOUNT_DATA {
                return Err(SandboxError::InvalidSpec(format!(
                    "{} layers give overlay options of {} bytes, more than the kernel's one page; \
                     use fewer layers or shorter store paths",
                    lower.len(),
                    data.len()
                )));
            }
            Ok(RootPlan::Overlay {
                chdir: Some(path_cstring(&base)?),
                data: cstring(data)?,
            })
        }
    }
}

/// overlayfs mount options (absolute paths) for mounting `lower` (top-most
/// first) with `upper` and `work` outside a sandbox, e.g. as the rootfs
/// handed to an external OCI runtime.
pub fn mount_options(lower: &[PathBuf], upper: &Path, work: &Path) -> Result<String, SandboxError> {
    let data = overlay_data(lower, upper, work, None, false, false);
    if data.len() > MAX_MOUNT_DATA {
        return Err(SandboxError::InvalidSpec(format!(
            "{} layers give overlay options of {} bytes, more than the kernel's one page; \
             use fewer layers or a shorter store path",
            lower.len(),
            data.len()
        )));
    }
    Ok(data)
}

fn overlay_data(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    base: Option<&Path>,
    user_ns: bool,
    volatile: bool,
) -> String {
    let show = |p: &Path| {
        let p = base.and_then(|b| p.strip_prefix(b).ok()).unwrap_or(p);
        escape_overlay(&p.to_string_lossy())
    };
    let lowers: Vec<String> = lower.iter().map(|p| show(p)).collect();
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={},index=off",
        lowers.join(":"),
        show(upper),
        show(work)
    );
    // userxattr already implies no redirects and no metacopy (and refuses
    // the explicit options).
    data.push_str(if user_ns {
        ",userxattr"
    } else {
        ",redirect_dir=off,metacopy=off"
    });
    if volatile {
        data.push_str(",volatile");
    }
    data
}

/// overlayfs splits options on ',' and layers on ':'; '\' escapes both.
fn escape_overlay(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn common_ancestor<'a>(mut paths: impl Iterator<Item = &'a PathBuf>) -> PathBuf {
    let Some(first) = paths.next() else {
        return PathBuf::from("/");
    };
    let mut base = first.parent().unwrap_or(first).to_path_buf();
    for path in paths {
        while !path.starts_with(&base) {
            if !base.pop() {
                return PathBuf::from("/");
            }
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_escape_and_shorten() {
        let lower = vec![PathBuf::from("/s/l/a:b"), PathBuf::from("/s/l/c")];
        let data = overlay_data(
            &lower,
            Path::new("/s/u"),
            Path::new("/s/w"),
            None,
            false,
            false,
        );
        assert!(
            data.starts_with("lowerdir=/s/l/a\\:b:/s/l/c,upperdir=/s/u,workdir=/s/w"),
            "{data}"
        );
        let base = common_ancestor(lower.iter());
        assert_eq!(base, PathBuf::from("/s/l"));
        let data = overlay_data(
            &lower,
            Path::new("/s/l/u"),
            Path::new("/s/l/w"),
            Some(&base),
            true,
            false,
        );
        assert!(
            data.starts_with("lowerdir=a\\:b:c,upperdir=u,workdir=w"),
            "{data}"
        );
        assert!(data.ends_with(",userxattr"));
        let data = overlay_data(
            &lower,
            Path::new("/s/u"),
            Path::new("/s/w"),
            None,
            false,
            true,
        );
        assert!(data.ends_with(",metacopy=off,volatile"), "{data}");
    }
}
