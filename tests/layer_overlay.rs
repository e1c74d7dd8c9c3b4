//! Whiteouts and opaque dirs made by a real overlayfs mount: deleting a
//! lower file and replacing a lower dir (rm -rf + mkdir) in the merged view,
//! then diffing the upper dir, must give `.wh.NAME` and `DIR/.wh..wh..opq`;
//! applying that layer (flattened, or as its own overlay lower dir under a
//! new mount) must reproduce the merged view.

mod layer_support;

use layer_support::{need_root, snapshot};
use nix::mount::{mount, umount, MsFlags};
use rbuild::layer::{
    unpack_layer, write_layer_blob, Compression, DiffOptions, UnpackMode, UnpackOptions,
};
use std::fs;
use std::path::Path;

fn overlay(lowers: &[&Path], upper: &Path, work: &Path, merged: &Path) {
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .unwrap();
}

fn read_only_overlay(lowers: &[&Path], merged: &Path) {
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!("lowerdir={}", lower.join(":"));
    mount(
        Some("overlay"),
        merged,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(data.as_str()),
    )
    .unwrap();
}

#[test]
fn overlay_whiteouts_and_opaque_dirs_round_trip() {
    if !need_root("overlay_whiteouts_and_opaque_dirs_round_trip") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = |n: &str| {
        let p = t.path().join(n);
        fs::create_dir_all(&p).unwrap();
        p
    };
    let (lower, upper, work, merged) = (d("lower"), d("upper"), d("work"), d("merged"));
    fs::write(lower.join("gone"), b"1").unwrap();
    fs::write(lower.join("keep"), b"2").unwrap();
    fs::create_dir_all(lower.join("dir/sub")).unwrap();
    fs::write(lower.join("dir/old"), b"3").unwrap();
    overlay(&[&lower], &upper, &work, &merged);
    let edit = std::panic::catch_unwind(|| {
        fs::remove_file(merged.join("gone")).unwrap();
        fs::remove_dir_all(merged.join("dir")).unwrap();
        fs::create_dir(merged.join("dir")).unwrap();
        fs::write(merged.join("dir/new"), b"4").unwrap();
        fs::write(merged.join("added"), b"5").unwrap();
    });
    let expected = snapshot(&merged, false);
    umount(&merged).unwrap();
    assert!(edit.is_ok(), "editing the overlay failed");

    let opts = DiffOptions {
        overlay_upper: true,
        ..Default::default()
    };
    let (bytes, _) = write_layer_blob(&upper, &opts, Compression::Gzip, Vec::new()).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [".wh.gone", "added", "dir", "dir/.wh..wh..opq", "dir/new"]
    );

    // Flatten: apply onto a copy of the lower dir.
    let flat = d("flat");
    let (lower_tar, _) = write_layer_blob(
        &lower,
        &DiffOptions::default(),
        Compression::None,
        Vec::new(),
    )
    .unwrap();
    unpack_layer(&lower_tar[..], &flat, &UnpackOptions::default()).unwrap();
    unpack_layer(&bytes[..], &flat, &UnpackOptions::default()).unwrap();
    assert_eq!(
        snapshot(&flat, false),
        expected,
        "flattened result differs from the merged view"
    );

    // OverlayLower: each layer its own dir, then a fresh overlay mount.
    let (l1, l2, view) = (d("l1"), d("l2"), d("view"));
    let lower_opts = UnpackOptions {
        mode: UnpackMode::OverlayLower,
        ..Default::default()
    };
    unpack_layer(&lower_tar[..], &l1, &lower_opts).unwrap();
    unpack_layer(&bytes[..], &l2, &lower_opts).unwrap();
    assert_eq!(
        xattr::get(l2.join("dir"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    read_only_overlay(&[&l2, &l1], &view);
    let got = snapshot(&view, false);
    umount(&view).unwrap();
    assert_eq!(
        got, expected,
        "overlay of unpacked lowers differs from the merged view"
    );
}
