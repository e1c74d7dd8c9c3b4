//! Layer round trips: dir -> tar -> unpack gives the same tree (modes,
//! owners, mtimes, xattrs incl. security.capability, hardlinks, symlinks,
//! devices, long names), for every compression; output is deterministic and
//! SOURCE_DATE_EPOCH clamps mtimes; excluded paths stay out.

mod layer_support;

use layer_support::{need_root, snapshot};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use rbuild::layer::{unpack_layer, write_layer_blob, Compression, DiffOptions, UnpackOptions};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// A valid VFS_CAP_REVISION_2 security.capability value granting cap_net_bind_service.
fn cap_net_bind() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes()); // revision 2, effective
    v.extend_from_slice(&(1u32 << 10).to_le_bytes()); // permitted[0]
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable[0]
    v.extend_from_slice(&0u32.to_le_bytes()); // permitted[1]
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable[1]
    v
}

fn set_mtime(p: &Path, secs: i64) {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

/// Builds a tree with every kind of entry a layer must carry.
fn fixture(root: &Path, mtime: i64) {
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    xattr::set(
        root.join("bin/tool"),
        "security.capability",
        &cap_net_bind(),
    )
    .unwrap();
    fs::write(root.join("bin/other"), vec![7u8; 70_000]).unwrap();
    xattr::set(root.join("bin/other"), "user.note", b"hello").unwrap();
    fs::hard_link(root.join("bin/other"), root.join("etc/other-link")).unwrap();
    symlink("../bin/tool", root.join("etc/rel-link")).unwrap();
    symlink("/nonexistent/abs", root.join("etc/abs-link")).unwrap();
    fs::write(root.join("etc/owned"), b"x").unwrap();
    nix::unistd::chown(
        &root.join("etc/owned"),
        Some(1000.into()),
        Some(2000.into()),
    )
    .unwrap();
    fs::create_dir(root.join("private")).unwrap();
    fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o750)).unwrap();
    mknod(
        &root.join("private/null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .unwrap();
    nix::unistd::mkfifo(&root.join("private/pipe"), Mode::from_bits_truncate(0o644)).unwrap();
    let long_dir = root.join("d".repeat(90)).join("e".repeat(90));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("f".repeat(120)), b"long").unwrap();
    symlink("t".repeat(150), root.join("long-target")).unwrap();
    fs::write(root.join("etc/hosts"), b"").unwrap();
    for p in walk_all(root) {
        set_mtime(&p, mtime);
    }
}

fn walk_all(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk_all(&p));
        }
        out.push(p);
    }
    out
}

fn layer_bytes(
    dir: &Path,
    opts: &DiffOptions,
    c: Compression,
) -> (Vec<u8>, rbuild::layer::LayerBlob) {
    write_layer_blob(dir, opts, c, Vec::new()).unwrap()
}

#[test]
fn round_trip_preserves_every_kind_of_entry() {
    if !need_root("round_trip_preserves_every_kind_of_entry") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fixture(&src, 1_600_000_000);
    let want = snapshot(&src, true);
    assert_eq!(
        want["bin/other"].link_group,
        want["etc/other-link"].link_group
    );
    let mut diff_ids = Vec::new();
    for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let (bytes, blob) = layer_bytes(&src, &DiffOptions::default(), c);
        assert_eq!(
            blob.digest,
            rbuild::image::Digest::of_bytes(&bytes),
            "{c:?}: digest is of the blob"
        );
        assert_eq!(blob.size, bytes.len() as u64);
        diff_ids.push(blob.diff_id.clone());
        let dst = t.path().join(format!("dst-{c:?}"));
        fs::create_dir(&dst).unwrap();
        let opts = UnpackOptions {
            allow_devices: true,
            ..Default::default()
        };
        unpack_layer(&bytes[..], &dst, &opts).unwrap();
        let got = snapshot(&dst, true);
        assert_eq!(got, want, "{c:?}: unpacked tree differs");
    }
    assert!(
        diff_ids.windows(2).all(|w| w[0] == w[1]),
        "diff_id must not depend on compression"
    );
    // The uncompressed blob's digest is its diff_id.
    let (raw, blob) = layer_bytes(&src, &DiffOptions::default(), Compression::None);
    assert_eq!(blob.diff_id.0, rbuild::image::Digest::of_bytes(&raw));
}

#[test]
fn devices_skipped_unless_allowed() {
    if !need_root("devices_skipped_unless_allowed") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fixture(&src, 1_600_000_000);
    let (bytes, _) = layer_bytes(&src, &DiffOptions::default(), Compression::Gzip);
    let dst = t.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let stats = unpack_layer(&bytes[..], &dst, &UnpackOptions::default()).unwrap();
    assert_eq!(stats.skipped, 1);
    assert!(!dst.join("private/null").exists());
    assert!(
        dst.join("private/pipe").exists(),
        "fifos are always created"
    );
    let mode = fs::metadata(dst.join("bin/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o4755, "setuid bit kept");
}

#[test]
fn deterministic_and_clamped_to_source_date_epoch() {
    if !need_root("deterministic_and_clamped_to_source_date_epoch") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    fixture(&a, 1_700_000_000);
    fixture(&b, 1_700_000_500);
    let plain = DiffOptions::default();
    let (_, a1) = layer_bytes(&a, &plain, Compression::Gzip);
    let (_, a2) = layer_bytes(&a, &plain, Compression::Gzip);
    assert_eq!(a1, a2, "same tree twice, same blob");
    let (_, b1) = layer_bytes(&b, &plain, Compression::Gzip);
    assert_ne!(
        a1.diff_id, b1.diff_id,
        "different mtimes without clamping differ"
    );
    let epoch = DiffOptions {
        source_date_epoch: Some(1_000_000),
        ..Default::default()
    };
    let (ab, ca) = layer_bytes(&a, &epoch, Compression::Gzip);
    let (_, cb) = layer_bytes(&b, &epoch, Compression::Gzip);
    assert_eq!(ca, cb, "clamped mtimes give identical layers");
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&ab[..]));
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert!(h.mtime().unwrap() <= 1_000_000);
        assert!(h.username_bytes().is_none_or(|u| u.is_empty()), "no uname");
        assert!(h.groupname_bytes().is_none_or(|g| g.is_empty()), "no gname");
    }
}

#[test]
fn excluded_paths_stay_out() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hosts"), b"").unwrap();
    fs::write(src.join("etc/resolv.conf"), b"").unwrap();
    fs::write(src.join("etc/keep"), b"k").unwrap();
    let opts = DiffOptions {
        exclude: vec!["etc/hosts".into(), "etc/resolv.conf".into()],
        ..Default::default()
    };
    let (bytes, _) = layer_bytes(&src, &opts, Compression::None);
    let mut ar = tar::Archive::new(&bytes[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["etc", "etc/keep"]);
}
