//! Shared helpers for the layer/store/image CLI tests: root/tool gating (fail
//! under CI=true, skip otherwise) and a tree snapshot that compares two
//! directories by everything a layer must carry.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// True when running as root; otherwise fails under CI=true or prints why the test is skipped.
pub fn need_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(!ci(), "{test}: needs root (CI=true)");
    eprintln!("SKIP {test}: needs root");
    false
}

/// True when `tool` is on PATH; otherwise fails under CI=true or prints why the test is skipped.
pub fn need_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    assert!(
        !ci(),
        "{test}: needs the {tool} tool (CI=true); run scripts/install-deps.sh"
    );
    eprintln!("SKIP {test}: {tool} not installed");
    false
}

/// Everything about one path that a layer round trip must preserve.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Option<i64>,
    pub content: Vec<u8>,
    pub rdev: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// For files with several links: the first path (sorted) sharing the inode.
    pub link_group: Option<String>,
}

/// Snapshot of every path below `root` (not the root itself).
pub fn snapshot(root: &Path, with_dir_mtimes: bool) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    walk(root, root, with_dir_mtimes, &mut out, &mut inodes);
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    dm: bool,
    out: &mut BTreeMap<String, Node>,
    inodes: &mut BTreeMap<u64, String>,
) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let (kind, content) = if ft.is_dir() {
            ("dir", Vec::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            )
        } else if ft.is_file() {
            ("file", std::fs::read(&p).unwrap())
        } else if ft.is_char_device() {
            ("char", Vec::new())
        } else if ft.is_block_device() {
            ("block", Vec::new())
        } else {
            ("fifo", Vec::new())
        };
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(&p)
            .map(|names| {
                names
                    .filter_map(|n| n.to_str().map(str::to_string))
                    .filter_map(|n| xattr::get(&p, &n).ok().flatten().map(|v| (n, v)))
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        let link_group = (ft.is_file() && m.nlink() > 1)
            .then(|| inodes.entry(m.ino()).or_insert(rel.clone()).clone());
        let mtime = if ft.is_dir() && !dm {
            None
        } else {
            Some(m.mtime())
        };
        out.insert(
            rel,
            Node {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                mtime,
                content,
                rdev: m.rdev(),
                xattrs,
                link_group,
            },
        );
        if ft.is_dir() {
            walk(root, &p, dm, out, inodes);
        }
    }
}

/// Runs a command, panicking with its output on failure.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Commits an image made of one stored layer under `names`.
pub fn commit_one_layer(
    store: &rbuild::store::Store,
    layer: (oci_spec::image::Descriptor, rbuild::layer::LayerBlob),
    names: &[&str],
) -> rbuild::store::ImageRecord {
    let now = std::time::SystemTime::now();
    let mut cfg = rbuild::image::config::empty_config(now);
    rbuild::image::config::push_history(&mut cfg, Some(&layer.1.diff_id), now, "test", None)
        .unwrap();
    let names: Vec<rbuild::image::Reference> = names
        .iter()
        .map(|n| rbuild::image::Reference::parse(n).unwrap())
        .collect();
    store.put_image(&cfg, vec![layer.0], &names).unwrap()
}
