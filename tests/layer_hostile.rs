//! Hostile layer archives: every trick to write outside the target — `..`,
//! absolute paths, symlinked parents (absolute and relative), hardlinks out
//! or to symlinks pointing out, whiteout name games — must leave everything
//! outside the target untouched. Also: duplicates, file<->dir replacement.

mod layer_support;

use layer_support::snapshot;
use rbuild::layer::{unpack_layer, UnpackMode, UnpackOptions};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Builds a tar byte by byte so names can hold `..` and absolute paths (the
/// tar crate's safe setters refuse them).
#[derive(Default)]
struct RawTar(Vec<u8>);

impl RawTar {
    fn entry(mut self, name: &str, kind: u8, link: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_old();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_mode(if kind == b'5' { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }
    fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, b'0', "", data)
    }
    fn dir(self, name: &str) -> Self {
        self.entry(name, b'5', "", b"")
    }
    fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name, b'2', target, b"")
    }
    fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name, b'1', target, b"")
    }
    fn bytes(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

struct Scene {
    _t: tempfile::TempDir,
    top: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().to_path_buf();
        let (root, outside) = (top.join("root"), top.join("outside"));
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"s").unwrap();
        Scene {
            _t: t,
            top,
            root,
            outside,
        }
    }
    fn abs(&self, rel: &str) -> String {
        self.outside.join(rel).display().to_string()
    }
    /// Applies `tar` in both modes in turn and checks that nothing outside
    /// the root changed, whatever the result; returns the Flatten result.
    fn apply(&self, tar: &[u8]) -> Result<(), String> {
        let before = snapshot(&self.top.join("outside"), true);
        let mut result = Ok(());
        for mode in [UnpackMode::Flatten, UnpackMode::OverlayLower] {
            let opts = UnpackOptions {
                mode,
                ..Default::default()
            };
            let r = unpack_layer(tar, &self.root, &opts)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert_eq!(
                snapshot(&self.outside, true),
                before,
                "{mode:?}: something outside the root changed"
            );
            let tops: Vec<_> = fs::read_dir(&self.top)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                tops.len(),
                2,
                "{mode:?}: new entries next to the root: {tops:?}"
            );
            assert_eq!(
                fs::metadata(self.outside.join("secret")).unwrap().nlink(),
                1,
                "{mode:?}: secret got linked"
            );
            if mode == UnpackMode::Flatten {
                result = r;
            }
        }
        result
    }
    fn read(&self, rel: &str) -> Option<Vec<u8>> {
        fs::read(self.root.join(rel)).ok()
    }
}

#[test]
fn dotdot_paths_are_clamped_to_the_root() {
    let s = Scene::new();
    s.apply(
        &RawTar::default()
            .file("../outside/pwned", b"x")
            .file("a/../../../../b", b"y")
            .bytes(),
    )
    .unwrap();
    assert_eq!(s.read("outside/pwned").as_deref(), Some(&b"x"[..]));
    assert_eq!(s.read("b").as_deref(), Some(&b"y"[..]));
}

#[test]
fn absolute_paths_land_inside_the_root() {
    let s = Scene::new();
    let abs = s.abs("pwned-abs");
    s.apply(&RawTar::default().file(&abs, b"x").bytes())
        .unwrap();
    assert!(s.root.join(abs.trim_start_matches('/')).is_file());
}

#[test]
fn symlinked_parent_to_an_absolute_dir_is_resolved_inside() {
    let s = Scene::new();
    let tar = RawTar::default()
        .symlink("a", &s.outside.display().to_string())
        .file("a/pwned", b"x")
        .bytes();
    let _ = s.apply(&tar); // refusing is fine; writing outside is not
    assert!(!s.outside.join("pwned").exists());
    let etc = RawTar::default()
        .symlink("e", "/etc")
        .file("e/rbuild-hostile-test", b"x")
        .bytes();
    let _ = s.apply(&etc);
    assert!(!Path::new("/etc/rbuild-hostile-test").exists());
}

#[test]
fn symlinked_parent_climbing_up_stays_inside() {
    let s = Scene::new();
    s.apply(
        &RawTar::default()
            .symlink("b", "../../..")
            .file("b/pwned-rel", b"x")
            .bytes(),
    )
    .unwrap();
    assert_eq!(s.read("pwned-rel").as_deref(), Some(&b"x"[..]));
    s.apply(
        &RawTar::default()
            .symlink("c", "../outside")
            .file("c/pwned2", b"x")
            .bytes(),
    )
    .ok();
    assert!(!s.outside.join("pwned2").exists());
}

#[test]
fn hardlinks_cannot_reach_outside() {
    let s = Scene::new();
    assert!(s
        .apply(&RawTar::default().hardlink("h", &s.abs("secret")).bytes())
        .is_err());
    assert!(s
        .apply(
            &RawTar::default()
                .hardlink("h2", "../outside/secret")
                .bytes()
        )
        .is_err());
    assert!(s
        .apply(&RawTar::default().hardlink("h4", "/etc/shadow").bytes())
        .is_err());
    // A hardlink to a symlink that points out links the symlink itself;
    // later entries with those names replace them rather than write through.
    let tar = RawTar::default()
        .symlink("s", &s.abs("secret"))
        .hardlink("h3", "s")
        .file("h3", b"pwned")
        .file("s", b"pwned")
        .bytes();
    s.apply(&tar).unwrap();
    assert_eq!(fs::read(s.outside.join("secret")).unwrap(), b"s");
    assert_eq!(s.read("h3").as_deref(), Some(&b"pwned"[..]));
}

#[test]
fn whiteout_name_tricks_are_harmless() {
    let s = Scene::new();
    fs::write(s.root.join("victim"), b"v").unwrap();
    for tar in [
        RawTar::default().file(".wh...", b"").bytes(),
        RawTar::default().file(".wh.", b"").bytes(),
        RawTar::default().file("../.wh.outside", b"").bytes(),
        RawTar::default()
            .symlink("dl", &s.outside.display().to_string())
            .file("dl/.wh.secret", b"")
            .bytes(),
        RawTar::default()
            .symlink("dl2", "../outside")
            .file("dl2/.wh..wh..opq", b"")
            .bytes(),
    ] {
        let _ = s.apply(&tar);
    }
    assert!(s.outside.join("secret").is_file());
    assert!(
        s.root.join("victim").is_file(),
        "malformed whiteouts must not delete siblings"
    );
    let real = RawTar::default().file(".wh.victim", b"").bytes();
    unpack_layer(&real[..], &s.root, &UnpackOptions::default()).unwrap();
    assert!(
        !s.root.join("victim").exists(),
        "a real whiteout in flatten mode deletes"
    );
}

#[test]
fn duplicates_and_type_changes_take_the_last_entry() {
    let s = Scene::new();
    let tar = RawTar::default()
        .file("dup", b"one")
        .file("dup", b"two")
        .dir("d")
        .file("d/inner", b"i")
        .file("d", b"now a file")
        .file("f", b"file")
        .dir("f")
        .file("f/child", b"c")
        .symlink("l", &s.outside.display().to_string())
        .dir("l")
        .bytes();
    let opts = UnpackOptions::default();
    unpack_layer(&tar[..], &s.root, &opts).unwrap();
    assert_eq!(s.read("dup").as_deref(), Some(&b"two"[..]));
    assert_eq!(s.read("d").as_deref(), Some(&b"now a file"[..]));
    assert_eq!(s.read("f/child").as_deref(), Some(&b"c"[..]));
    assert!(fs::symlink_metadata(s.root.join("l")).unwrap().is_dir());
    assert!(s.outside.join("secret").is_file());
}
