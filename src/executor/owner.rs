//! `--chown` and USER values as uid/gid: numbers as they are, names looked
//! up in the image's /etc/passwd and /etc/group (read inside the image root,
//! never following links out of it).

use super::sources::resolve_in_root;
use super::ExecError;
use std::path::Path;

/// Resolves `spec` (`user`, `user:group`, `uid:gid`, ...) against the files
/// of the image rooted at `root`.
pub fn resolve_owner(root: &Path, spec: &str) -> Result<(u32, u32), ExecError> {
    let read = |p: &str| -> Option<String> {
        let path = resolve_in_root(root, p, true).ok()?;
        std::fs::read_to_string(path).ok()
    };
    let passwd = read("/etc/passwd");
    let group = read("/etc/group");
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(n) => (
            n,
            lookup(passwd.as_deref(), user, 2, 3)
                .map(|(g, _)| g)
                .unwrap_or(n),
        ),
        Err(_) => lookup(passwd.as_deref(), user, 0, 2).ok_or_else(|| {
            ExecError::Copy(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        })?,
    };
    let gid = match grp {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(group.as_deref(), g, 0, 2)
                .map(|(gid, _)| gid)
                .ok_or_else(|| {
                    ExecError::Copy(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    Ok((uid, gid))
}

/// Finds the line whose field `key_field` is `key`; returns fields
/// `key_field + 2` (the id) and `id_field + 1` parsed (passwd: uid, gid).
fn lookup(file: Option<&str>, key: &str, key_field: usize, id_field: usize) -> Option<(u32, u32)> {
    for line in file?.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.get(key_field) == Some(&key) {
            let id = f.get(id_field)?.parse().ok()?;
            let second = f
                .get(id_field + 1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(id);
            return Some((id, second));
        }
    }
    None
}
