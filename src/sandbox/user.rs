//! Resolves a Dockerfile `USER` / `--user` string ("name", "name:group",
//! "uid", "uid:gid", "name:gid", "uid:group") against the text of the
//! image's /etc/passwd and /etc/group, following docker's rules
//! (moby/sys/user `GetExecUser`): a numeric part is always an id, the first
//! matching entry wins, a numeric id without an entry is accepted, and when
//! no group is given the user's primary gid plus every group listing the
//! user by name become the credentials.
//!
//! Pure functions: the caller reads the files (None when missing). No NSS,
//! no LDAP, no host lookups.

use super::spec::User;

/// Largest uid/gid docker accepts.
const MAX_ID: i64 = i32::MAX as i64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    #[error("invalid user {spec:?}: uids and gids must be in range 0-{MAX_ID}")]
    OutOfRange { spec: String },
}

/// One /etc/passwd line (only the fields we use).
#[derive(Debug)]
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

/// One /etc/group line.
#[derive(Debug)]
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Resolves `user` ("" means root, as when no USER is set).
pub fn resolve(user: &str, passwd: Option<&str>, group: Option<&str>) -> Result<User, UserError> {
    let mut parts = user.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let user_num = parse_id(user_arg);
    let group_num = parse_id(group_arg);
    let out_of_range = || UserError::OutOfRange {
        spec: user.to_string(),
    };

    let passwd_entries = passwd.map(parse_passwd).unwrap_or_default();
    let found = passwd_entries.iter().find(|entry| match user_num {
        _ if user_arg.is_empty() => entry.uid == 0,
        Some(uid) => i64::from(entry.uid) == uid,
        None => entry.name == user_arg,
    });
    let mut resolved = User::root();
    let matched_name = match found {
        Some(entry) => {
            resolved.uid = entry.uid;
            resolved.gid = entry.gid;
            Some(entry.name)
        }
        None if user_arg.is_empty() => None,
        None => {
            let uid = user_num.ok_or_else(|| UserError::UnknownUser(user_arg.to_string()))?;
            resolved.uid = to_id(uid).ok_or_else(out_of_range)?;
            None
        }
    };

    let group_entries = group.map(parse_group).unwrap_or_default();
    if !group_arg.is_empty() {
        // An explicit group replaces the primary gid; no supplementary groups.
        let found = group_entries.iter().find(|entry| match group_num {
            Some(gid) => i64::from(entry.gid) == gid,
            None => entry.name == group_arg,
        });
        resolved.gid = match found {
            Some(entry) => entry.gid,
            None => {
                let gid =
                    group_num.ok_or_else(|| UserError::UnknownGroup(group_arg.to_string()))?;
                to_id(gid).ok_or_else(out_of_range)?
            }
        };
    } else if let Some(name) = matched_name {
        resolved.additional_gids = group_entries
            .iter()
            .filter(|entry| entry.members.contains(&name))
            .map(|entry| entry.gid)
            .collect();
    }
    Ok(resolved)
}

/// Reads a user/group argument as a number the way Go's Atoi does (an
/// optional sign, decimal digits); None when it is a name.
fn parse_id(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too large to fit: still numeric, and out of range.
    Some(text.parse::<i64>().unwrap_or(i64::MAX))
}

fn to_id(value: i64) -> Option<u32> {
    if (0..=MAX_ID).contains(&value) {
        u32::try_from(value).ok()
    } else {
        None
    }
}

/// Non-empty lines split on ':' (surrounding whitespace trimmed); comment
/// lines and lines without enough fields are skipped.
fn fields(text: &str, min: usize) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').collect::<Vec<_>>())
        .filter(move |fields| fields.len() >= min)
}

/// Malformed ids make the line unusable rather than mapping it to uid 0.
fn parse_passwd(text: &str) -> Vec<PasswdEntry<'_>> {
    fields(text, 4)
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry<'_>> {
    fields(text, 3)
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first()?,
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|list| {
                        list.split(',')
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        # a comment\n\
        daemon:x:1:1::/:/bin/false\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        app:x:1001:1001:duplicate:/:/bin/sh\n\
        broken:x:notanumber:5::/:/bin/sh\n\
        1234:x:4321:4321::/:/bin/sh\n";
    const GROUP: &str = "root:x:0:root\n\
        bin:x:1:root,bin,daemon\n\
        app:x:1000:\n\
        dev:x:2000:app, daemon\n\
        ops:x:2001:someone,app\n\
        staff:x:50:\n";

    fn user(uid: u32, gid: u32, additional_gids: &[u32]) -> User {
        User {
            uid,
            gid,
            additional_gids: additional_gids.to_vec(),
        }
    }

    fn ok(spec: &str) -> User {
        resolve(spec, Some(PASSWD), Some(GROUP)).expect(spec)
    }

    #[test]
    fn names_use_primary_and_supplementary_groups() {
        assert_eq!(ok("app"), user(1000, 1000, &[2000, 2001]));
        assert_eq!(ok("root"), user(0, 0, &[0, 1]));
        assert_eq!(ok(""), user(0, 0, &[0, 1]));
        assert_eq!(ok("daemon"), user(1, 1, &[1, 2000]));
    }

    #[test]
    fn numeric_parts_are_ids() {
        assert_eq!(ok("1000"), user(1000, 1000, &[2000, 2001]));
        assert_eq!(ok("1000:50"), user(1000, 50, &[]));
        assert_eq!(ok("4321"), user(4321, 4321, &[]));
        // An all-digit name is never looked up by name.
        assert_eq!(ok("1234"), user(1234, 0, &[]));
        assert_eq!(ok("5555:6666"), user(5555, 6666, &[]));
        assert_eq!(ok("5555"), user(5555, 0, &[]));
    }

    #[test]
    fn explicit_groups_drop_supplementary_ones() {
        assert_eq!(ok("app:staff"), user(1000, 50, &[]));
        assert_eq!(ok("app:7"), user(1000, 7, &[]));
        assert_eq!(ok("0:app"), user(0, 1000, &[]));
    }

    #[test]
    fn first_entry_wins() {
        assert_eq!(ok("app").uid, 1000);
    }

    #[test]
    fn unknown_names_use_dockers_wording() {
        let err = resolve("nosuch", Some(PASSWD), Some(GROUP)).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        let err = resolve("app:nogroup", Some(PASSWD), Some(GROUP)).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert!(resolve("broken", Some(PASSWD), Some(GROUP)).is_err());
    }

    #[test]
    fn missing_files_allow_only_numbers() {
        assert_eq!(resolve("", None, None).expect("root"), User::root());
        assert_eq!(
            resolve("10:20", None, None).expect("ids"),
            user(10, 20, &[])
        );
        assert!(matches!(
            resolve("app", None, None),
            Err(UserError::UnknownUser(name)) if name == "app"
        ));
    }

    #[test]
    fn ids_out_of_range_are_refused() {
        for spec in ["-1", "2147483648", "99999999999999999999999", "0:-5"] {
            assert!(
                matches!(
                    resolve(spec, Some(PASSWD), Some(GROUP)),
                    Err(UserError::OutOfRange { .. })
                ),
                "{spec}"
            );
        }
        assert_eq!(ok("2147483647").uid, 2147483647);
    }
}
