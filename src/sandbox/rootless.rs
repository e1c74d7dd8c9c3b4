//! Rootless sandboxes: the user namespace that maps the calling user to
//! root inside. With a range in /etc/subuid and /etc/subgid and the
//! newuidmap/newgidmap helpers installed, the range is mapped too (ids
//! 1..=count inside) and setgroups stays allowed; otherwise only the caller
//! is mapped (to 0) and setgroups is denied, as the kernel requires.
//!
//! Parent side only; it writes the maps of an already cloned child.

use super::SandboxError;
use crate::sandbox::network::find_in_path;
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Mapping {
    uid: u32,
    gid: u32,
    /// (first subordinate id, count) and the helper, when both exist.
    sub_uid: Option<((u32, u32), PathBuf)>,
    sub_gid: Option<((u32, u32), PathBuf)>,
}

impl Mapping {
    /// The mapping for the calling user.
    pub fn detect() -> Mapping {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let name = user_name(uid);
        let range = |file: &str, tool: &str| {
            let text = std::fs::read_to_string(file).ok()?;
            let range = subordinate_range(&text, uid, name.as_deref())?;
            Some((range, find_in_path(tool)?))
        };
        Mapping {
            uid,
            gid,
            sub_uid: range("/etc/subuid", "newuidmap"),
            sub_gid: range("/etc/subgid", "newgidmap"),
        }
    }

    /// True when more than the caller is mapped (setgroups allowed).
    pub fn has_ranges(&self) -> bool {
        self.sub_uid.is_some() && self.sub_gid.is_some()
    }

    /// Refuses users the mapping cannot represent, with what to do.
    pub fn check_user(&self, user: &super::User) -> Result<(), SandboxError> {
        let limit =
            |range: &Option<((u32, u32), PathBuf)>| range.as_ref().map_or(0, |((_, n), _)| *n);
        let (uid_max, gid_max) = (limit(&self.sub_uid), limit(&self.sub_gid));
        let bad_gid = std::iter::once(&user.gid)
            .chain(&user.additional_gids)
            .find(|gid| **gid > gid_max);
        if user.uid > uid_max || bad_gid.is_some() {
            return Err(SandboxError::Rootless(format!(
                "user {}:{} (groups {:?}) is not mapped in the rootless user namespace \
                 (ids up to {uid_max}:{gid_max} are); add ranges for this user to /etc/subuid \
                 and /etc/subgid and install newuidmap/newgidmap (package uidmap)",
                user.uid, user.gid, user.additional_gids
            )));
        }
        Ok(())
    }

    /// Writes the uid/gid maps of `pid`, a child in a new user namespace.
    pub fn apply(&self, pid: i32) -> Result<(), SandboxError> {
        if let (Some((uids, uid_tool)), Some((gids, gid_tool))) = (&self.sub_uid, &self.sub_gid) {
            run_map_tool(uid_tool, pid, self.uid, *uids)?;
            return run_map_tool(gid_tool, pid, self.gid, *gids);
        }
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let write = |name: &str, text: String| {
            std::fs::write(proc.join(name), text)
                .map_err(|e| SandboxError::io("write", proc.join(name), e))
        };
        write("uid_map", format!("0 {} 1\n", self.uid))?;
        write("setgroups", "deny\n".into())?;
        write("gid_map", format!("0 {} 1\n", self.gid))
    }
}

fn run_map_tool(
    tool: &PathBuf,
    pid: i32,
    own: u32,
    (start, count): (u32, u32),
) -> Result<(), SandboxError> {
    let output = Command::new(tool)
        .args([
            pid.to_string(),
            "0".into(),
            own.to_string(),
            "1".into(),
            "1".into(),
            start.to_string(),
            count.to_string(),
        ])
        .output()
        .map_err(|e| SandboxError::io("run", tool, e))?;
    if output.status.success() {
        return Ok(());
    }
    Err(SandboxError::Rootless(format!(
        "{} failed ({}): {}",
        tool.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// The login name of `uid` from /etc/passwd, for /etc/subuid lookups.
fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

/// The first `user:start:count` line of a subuid/subgid file for this user
/// (by name or number).
pub fn subordinate_range(text: &str, uid: u32, name: Option<&str>) -> Option<(u32, u32)> {
    let uid_text = uid.to_string();
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        if owner != uid_text && Some(owner) != name {
            return None;
        }
        let start = fields.next()?.parse().ok()?;
        let count: u32 = fields.next()?.parse().ok()?;
        (count > 0).then_some((start, count))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_users_are_refused_with_a_hint() {
        let single = Mapping {
            uid: 1000,
            gid: 1000,
            sub_uid: None,
            sub_gid: None,
        };
        assert!(single.check_user(&super::super::User::root()).is_ok());
        let app = super::super::User {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![],
        };
        let err = single.check_user(&app).expect_err("unmapped");
        assert!(err.to_string().contains("/etc/subuid"), "{err}");
        let ranges = Mapping {
            sub_uid: Some(((100000, 65536), PathBuf::from("/usr/bin/newuidmap"))),
            sub_gid: Some(((100000, 65536), PathBuf::from("/usr/bin/newgidmap"))),
            ..single
        };
        assert!(ranges.check_user(&app).is_ok());
        let outside = super::super::User {
            additional_gids: vec![70000],
            ..app
        };
        assert!(ranges.check_user(&outside).is_err());
    }

    #[test]
    fn subordinate_ranges_by_name_or_id() {
        let text = "alice:100000:65536\n1001:200000:1000\nbad:x:1\nzero:1:0\n";
        assert_eq!(
            subordinate_range(text, 5, Some("alice")),
            Some((100000, 65536))
        );
        assert_eq!(subordinate_range(text, 1001, None), Some((200000, 1000)));
        assert_eq!(subordinate_range(text, 7, Some("bad")), None);
        assert_eq!(subordinate_range(text, 7, Some("zero")), None);
    }
}
