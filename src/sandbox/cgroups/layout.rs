//! Finds which cgroup hierarchies this process sees and where its own cgroup
//! lives in each, from the text of /proc/self/mountinfo and /proc/self/cgroup.
//!
//! Three layouts exist in the wild: pure cgroup v2 (one `cgroup2` mount owning
//! every controller), pure v1 (one `cgroup` mount per controller set) and the
//! "hybrid" layout (v1 controllers plus a `cgroup2` mount, usually at
//! /sys/fs/cgroup/unified, that owns no or few controllers). The parsing here
//! is pure so it is unit-tested on captured text; nothing is written.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The v1 controllers rbuild creates groups in when they are mounted:
/// memory/cpu/pids carry limits, cpuacct carries CPU usage for `stats`, and
/// freezer makes killing a forking process tree race-free.
pub const V1_CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "freezer"];

/// Which hierarchy set to drive, with this process's own cgroup directory in
/// each (limits nest under it so outer limits keep applying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Pure v2: `mount` is the cgroup2 mount point, `own` this process's
    /// cgroup directory under it.
    Unified { mount: PathBuf, own: PathBuf },
    /// v1 controllers (name -> own directory), plus the own directory in a
    /// cgroup2 mount when one exists (hybrid).
    Legacy {
        controllers: BTreeMap<String, PathBuf>,
        unified: Option<PathBuf>,
    },
}

/// One cgroup or cgroup2 line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupMount {
    mount_point: PathBuf,
    /// The path inside the hierarchy that is mounted (field 4), "/" normally.
    root: String,
    /// None for cgroup2; the controller list for v1 (from the super options).
    controllers: Option<Vec<String>>,
}

/// Detects the layout from mountinfo and /proc/self/cgroup text; None when no
/// usable cgroup mount exists.
pub fn detect(mountinfo: &str, self_cgroup: &str) -> Option<Layout> {
    let mounts: Vec<CgroupMount> = mountinfo.lines().filter_map(parse_mount_line).collect();
    let memberships = parse_self_cgroup(self_cgroup);
    let mut controllers = BTreeMap::new();
    for mount in &mounts {
        let Some(ctrls) = &mount.controllers else {
            continue;
        };
        for wanted in V1_CONTROLLERS {
            if ctrls.iter().any(|c| c == wanted) && !controllers.contains_key(wanted) {
                let own = memberships
                    .iter()
                    .find(|(names, _)| names.iter().any(|n| n == wanted))
                    .map(|(_, path)| path.as_str())
                    .unwrap_or("/");
                controllers.insert(wanted.to_string(), own_dir(mount, own));
            }
        }
    }
    let unified = mounts.iter().find(|m| m.controllers.is_none()).map(|m| {
        let own = memberships
            .iter()
            .find(|(names, _)| names.is_empty())
            .map(|(_, path)| path.as_str())
            .unwrap_or("/");
        (m.mount_point.clone(), own_dir(m, own))
    });
    let has_v1_limits = ["memory", "cpu", "pids"]
        .iter()
        .any(|c| controllers.contains_key(*c));
    if has_v1_limits {
        return Some(Layout::Legacy {
            controllers,
            unified: unified.map(|(_, own)| own),
        });
    }
    unified.map(|(mount, own)| Layout::Unified { mount, own })
}

/// Maps a membership path ("/a/b") to a directory under the mount, allowing
/// for a mount whose root is a subtree (bind-mounted or namespaced cgroupfs).
fn own_dir(mount: &CgroupMount, own: &str) -> PathBuf {
    let relative = if mount.root == "/" {
        own.trim_start_matches('/')
    } else {
        match own.strip_prefix(mount.root.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
            // Our cgroup is outside what is mounted: the mount point is the
            // closest directory we can see.
            _ => "",
        }
    };
    // "(deleted)" or ".." components never come from the kernel, but this
    // text is still input: refuse to walk upwards.
    if relative.split('/').any(|c| c == "..") {
        return mount.mount_point.clone();
    }
    if relative.is_empty() {
        mount.mount_point.clone()
    } else {
        mount.mount_point.join(relative)
    }
}

/// Parses one mountinfo line when it is a cgroup or cgroup2 mount:
/// `id parent maj:min root mount-point opts [optional...] - fstype source superopts`.
fn parse_mount_line(line: &str) -> Option<CgroupMount> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let root = unescape_octal(left.get(3)?);
    let mount_point = PathBuf::from(unescape_octal(left.get(4)?));
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let _source = right.next()?;
    let super_opts = right.next().unwrap_or("");
    let controllers = match fstype {
        "cgroup2" => None,
        "cgroup" => Some(
            super_opts
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                .map(str::to_string)
                .collect(),
        ),
        _ => return None,
    };
    Some(CgroupMount {
        mount_point,
        root,
        controllers,
    })
}

/// Parses `hierarchy-id:controller,list:/path` lines; the v2 entry has an empty
/// controller list.
fn parse_self_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let names = parts.next()?;
            let path = parts.next()?;
            let names = names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| n.strip_prefix("name=").unwrap_or(n).to_string())
                .collect();
            Some((names, path.to_string()))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        // from_str_radix rejects non-octal digits and values above 0o377.
        let escaped = tail
            .get(..3)
            .filter(|_| first == b'\\')
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                rest = tail.get(3..).unwrap_or_default();
            }
            None => {
                out.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the live layout of this process.
pub fn detect_current() -> std::io::Result<Option<Layout>> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let self_cgroup = std::fs::read_to_string("/proc/self/cgroup")?;
    Ok(detect(&mountinfo, &self_cgroup))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
1:cpu:/
0::/
";

    #[test]
    fn hybrid_uses_v1_controllers_and_unified_dir() {
        let layout = detect(HYBRID_MOUNTINFO, HYBRID_SELF).expect("layout");
        let Layout::Legacy {
            controllers,
            unified,
        } = layout
        else {
            panic!("expected legacy layout, got {layout:?}");
        };
        assert_eq!(
            controllers.get("memory"),
            Some(&PathBuf::from("/sys/fs/cgroup/memory/process_api/abc"))
        );
        assert_eq!(
            controllers.get("pids"),
            Some(&PathBuf::from("/sys/fs/cgroup/pids"))
        );
        assert!(controllers.contains_key("freezer"));
        assert!(!controllers.contains_key("systemd"));
        assert_eq!(unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn pure_v2_is_unified() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let layout = detect(
            mountinfo,
            "0::/user.slice/user-1000.slice/session-2.scope\n",
        );
        assert_eq!(
            layout,
            Some(Layout::Unified {
                mount: PathBuf::from("/sys/fs/cgroup"),
                own: PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"),
            })
        );
    }

    #[test]
    fn combined_v1_controllers_and_subtree_roots() {
        let mountinfo = "\
40 31 0:37 /docker/x /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 /docker/x /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory
";
        let own = "5:cpu,cpuacct:/docker/x/sub\n4:memory:/elsewhere\n";
        let Some(Layout::Legacy {
            controllers,
            unified,
        }) = detect(mountinfo, own)
        else {
            panic!("expected legacy layout");
        };
        assert_eq!(
            controllers.get("cpuacct"),
            Some(&PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/sub"))
        );
        assert_eq!(
            controllers.get("memory"),
            Some(&PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(unified, None);
    }

    #[test]
    fn no_cgroup_mounts_is_none() {
        assert_eq!(
            detect("1 0 0:1 / / rw - ext4 /dev/sda rw\n", "0::/\n"),
            None
        );
        assert_eq!(detect("garbage\n\n - \n", ""), None);
    }

    #[test]
    fn octal_escapes_and_dotdot_are_handled() {
        assert_eq!(unescape_octal(r"/a\040b"), "/a b");
        assert_eq!(unescape_octal(r"\04"), r"\04");
        assert_eq!(unescape_octal(r"\777\08x\134"), r"\777\08x\");
        let mount = CgroupMount {
            mount_point: PathBuf::from("/m"),
            root: "/".into(),
            controllers: None,
        };
        assert_eq!(own_dir(&mount, "/../etc"), PathBuf::from("/m"));
    }
}
