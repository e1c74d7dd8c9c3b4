//! `rbuild image prune` (dangling images, `-a`, `--filter until=/label=`,
//! the confirmation prompt) and the `rbuild image SUBCOMMAND` spelling of
//! the image commands, end to end through the binary on small imported
//! images (no root needed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn rbuild(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    c.arg("--root").arg(root);
    c
}

/// Runs, asserts success, returns stdout.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A one-file rootfs tar whose content is `text`.
fn tarball(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join(format!("{}.tar", text.len()));
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "data.txt", text.as_bytes()).unwrap();
    b.finish().unwrap();
    path
}

/// `rbuild import` of a tar with `text`, named `name` if given, created at
/// `epoch` (SOURCE_DATE_EPOCH) if given; returns the image ID.
fn import(root: &Path, dir: &Path, text: &str, name: Option<&str>, epoch: Option<&str>) -> String {
    let tar = tarball(dir, text);
    let mut cmd = rbuild(root);
    if let Some(e) = epoch {
        cmd.env("SOURCE_DATE_EPOCH", e);
    }
    cmd.args(["image", "import", "-c", "LABEL team=a"]).arg(tar);
    if let Some(n) = name {
        cmd.arg(n);
    }
    ok(&mut cmd).trim().to_string()
}

fn ids(root: &Path) -> Vec<String> {
    ok(rbuild(root).args(["image", "ls", "-q", "--no-trunc"]))
        .lines()
        .map(str::to_string)
        .collect()
}

fn prune(root: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = rbuild(root)
        .args(["image", "prune"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prune failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn prune_dangling_all_until_and_label() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let old = import(&root, t.path(), "one", Some("x:1"), None);
    // x:1 moves to a new image: the old one is dangling now.
    let new = import(&root, t.path(), "two!", Some("x:1"), None);
    let anonymous = import(&root, t.path(), "three", None, None);
    let kept = import(&root, t.path(), "four!!", Some("keep:1"), None);
    assert_eq!(ids(&root).len(), 4);

    // Without -f it asks; "n" keeps everything.
    assert_eq!(
        prune(&root, &[], "n\n"),
        "",
        "declined prune printed output"
    );
    assert_eq!(ids(&root).len(), 4);

    let out = prune(&root, &[], "y\n");
    assert!(out.starts_with("Deleted Images:\n"), "{out}");
    assert!(out.contains(&format!("deleted: {old}")), "{out}");
    assert!(out.contains(&format!("deleted: {anonymous}")), "{out}");
    assert!(!out.contains(&new) && !out.contains(&kept), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    let mut left = ids(&root);
    left.sort();
    let mut want = vec![new.clone(), kept.clone()];
    want.sort();
    assert_eq!(left, want);
    // Their blobs are gone too.
    let blob = |id: &str| root.join("blobs/sha256").join(&id["sha256:".len()..]);
    assert!(!blob(&old).exists() && blob(&new).exists());

    // until: only images created before the cutoff.
    let ancient = import(&root, t.path(), "five!!!", None, Some("1000000000"));
    let recent = import(&root, t.path(), "six!!!!!", None, None);
    let out = prune(&root, &["-f", "--filter", "until=24h"], "");
    assert!(out.contains(&format!("deleted: {ancient}")), "{out}");
    assert!(!out.contains(&recent), "{out}");
    assert!(ids(&root).contains(&recent));

    // label!=: images with the label are kept.
    let out = prune(&root, &["-f", "--filter", "label!=team=a"], "");
    assert_eq!(out.trim(), "Total reclaimed space: 0B");
    let out = prune(&root, &["-f", "--filter", "label=team=a"], "");
    assert!(out.contains(&format!("deleted: {recent}")), "{out}");

    // -a: tagged images go too, names first.
    let out = prune(&root, &["-a", "-f"], "");
    assert!(out.contains("untagged: x:1"), "{out}");
    assert!(out.contains("untagged: keep:1"), "{out}");
    assert!(out.contains(&format!("deleted: {kept}")), "{out}");
    assert!(ids(&root).is_empty());

    let bad = rbuild(&root)
        .args(["image", "prune", "-f", "--filter", "until=soon"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("until"));
}

#[test]
fn image_management_commands() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let id = import(&root, t.path(), "hello", Some("m:1"), None);
    ok(rbuild(&root).args(["image", "tag", "m:1", "m:2"]));
    let ls = ok(rbuild(&root).args(["image", "ls"]));
    assert!(ls.starts_with("REPOSITORY"), "{ls}");
    assert!(
        ls.contains("m ") && ls.contains("1 ") && ls.contains("2 "),
        "{ls}"
    );
    assert_eq!(
        ok(rbuild(&root).args(["image", "list", "-q"]))
            .lines()
            .count(),
        1
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(rbuild(&root).args(["image", "inspect", "m:2"]))).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    let history = ok(rbuild(&root).args(["image", "history", "-q", "--no-trunc", "m:1"]));
    assert_eq!(history.lines().next(), Some(id.as_str()));
    let archive = t.path().join("m.tar");
    ok(rbuild(&root)
        .args(["image", "save", "-o"])
        .arg(&archive)
        .arg("m:1"));
    let rm = ok(rbuild(&root).args(["image", "rm", "m:2"]));
    assert_eq!(rm.trim(), "Untagged: m:2");
    let rm = ok(rbuild(&root).args(["image", "remove", "m:1"]));
    assert!(rm.contains(&format!("Deleted: {id}")), "{rm}");
    assert!(ids(&root).is_empty());
    let loaded = ok(rbuild(&root).args(["image", "load", "-i"]).arg(&archive));
    assert!(loaded.contains("Loaded image: m:1"), "{loaded}");
    assert_eq!(ids(&root), vec![id]);
    // `image` alone is a usage error, as in docker.
    let out = rbuild(&root).arg("image").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
