//! `--chown`, USER and mount `uid`/`gid` values as ids, resolved with
//! [`crate::sandbox::user::resolve`] against the image's /etc/passwd and
//! /etc/group (read inside the image root, never following links out of it).

use super::sources::resolve_in_root;
use super::ExecError;
use crate::sandbox::User;
use std::path::Path;

/// Resolves `spec` (`user`, `user:group`, `uid:gid`, ...) for the image
/// rooted at `root`.
pub fn resolve_user(root: &Path, spec: &str) -> Result<User, ExecError> {
    let read = |p: &str| -> Option<String> {
        let path = resolve_in_root(root, p, true).ok()?;
        std::fs::read_to_string(path).ok()
    };
    let passwd = read("/etc/passwd");
    let group = read("/etc/group");
    crate::sandbox::user::resolve(spec, passwd.as_deref(), group.as_deref())
        .map_err(|e| ExecError::Copy(e.to_string()))
}

/// The uid and gid `spec` gives (COPY --chown ownership).
pub fn resolve_owner(root: &Path, spec: &str) -> Result<(u32, u32), ExecError> {
    let u = resolve_user(root, spec)?;
    Ok((u.uid, u.gid))
}

/// [`resolve_owner`] for an image given by its unpacked layers (top-most
/// first), for `COPY --link`, whose target is an empty directory.
pub fn resolve_owner_in_layers(
    lowers: &[std::path::PathBuf],
    spec: &str,
) -> Result<(u32, u32), ExecError> {
    let passwd = super::run::read_from_layers(lowers, "/etc/passwd");
    let group = super::run::read_from_layers(lowers, "/etc/group");
    let u = crate::sandbox::user::resolve(spec, passwd.as_deref(), group.as_deref())
        .map_err(|e| ExecError::Copy(e.to_string()))?;
    Ok((u.uid, u.gid))
}
