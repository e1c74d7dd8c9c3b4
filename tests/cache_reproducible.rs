//! Reproducible layers and images: committing the same directory twice, from
//! different places, with different mtimes, inodes and hardlink layouts
//! being equal, into two fresh stores with the same SOURCE_DATE_EPOCH gives
//! the same layer digest, config digest and manifest digest, bit for bit.
//! A different epoch or a content change gives different digests.

use rbuild::image::config::{creation_time, empty_config, push_history, source_date_epoch};
use rbuild::layer::{Compression, DiffOptions};
use rbuild::store::Store;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

const EPOCH: i64 = 1_600_000_000;

/// A tree with a long path (GNU long-name entry), a symlink, a hardlink,
/// an empty dir and an executable.
fn tree(root: &Path, mtime: SystemTime) {
    let long = root.join("a".repeat(60)).join("b".repeat(60));
    fs::create_dir_all(&long).expect("mkdir");
    fs::create_dir_all(root.join("empty")).expect("mkdir");
    fs::write(long.join("file.txt"), "deep\n").expect("write");
    fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::hard_link(root.join("run.sh"), root.join("run-link.sh")).expect("hardlink");
    std::os::unix::fs::symlink("run.sh", root.join("sym")).expect("symlink");
    for entry in walk(root) {
        if let Ok(f) = fs::File::open(&entry) {
            let _ = f.set_modified(mtime);
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Commits `dir` as a one-layer image into a fresh store; returns the
/// (layer digest, config digest, manifest digest).
fn commit(dir: &Path, epoch: i64) -> (String, String, String) {
    let root = tempfile::tempdir().expect("store dir");
    let store = Store::open(root.path()).expect("store");
    let opts = DiffOptions {
        source_date_epoch: Some(epoch),
        ..Default::default()
    };
    let (desc, blob) = store
        .put_layer_from_dir(dir, &opts, Compression::Gzip)
        .expect("layer");
    let created = creation_time(Some(epoch));
    let mut config = empty_config(created);
    push_history(&mut config, Some(&blob.diff_id), created, "COPY . /", None).expect("history");
    let rec = store.put_image(&config, vec![desc], &[]).expect("image");
    (
        blob.digest.to_string(),
        rec.id.to_string(),
        rec.manifest_digest.to_string(),
    )
}

#[test]
fn same_tree_same_epoch_same_digests() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    tree(a.path(), SystemTime::now());
    // Later mtimes, a different location and different inodes.
    tree(b.path(), SystemTime::now() + Duration::from_secs(3600));
    let first = commit(a.path(), EPOCH);
    assert_eq!(first, commit(a.path(), EPOCH), "same dir twice");
    assert_eq!(first, commit(b.path(), EPOCH), "same content elsewhere");
    let other_epoch = commit(a.path(), EPOCH + 1);
    assert_ne!(first.0, other_epoch.0);
    assert_ne!(first.1, other_epoch.1);
    fs::write(b.path().join("run.sh"), "#!/bin/sh\necho HI\n").expect("write");
    assert_ne!(first.0, commit(b.path(), EPOCH).0);
}

#[test]
fn epoch_comes_from_the_build_arg_before_the_environment() {
    assert_eq!(source_date_epoch(Some("42")).ok(), Some(Some(42)));
    let e = source_date_epoch(Some("soon")).expect_err("not a number");
    assert!(e.to_string().contains("SOURCE_DATE_EPOCH"), "{e}");
}
