//! Store behaviour: committing images, names (tag moves leave `<none>`
//! images), lookup by name / ID prefix / digest, removal and gc, unpacked
//! layers created once, and the OCI layout accepted by umoci, skopeo and
//! oci-image-tool.

mod layer_support;

use layer_support::{commit_one_layer, need_tool, run};
use rbuild::image::{ChainId, Reference};
use rbuild::layer::{Compression, DiffOptions};
use rbuild::store::{ImageRecord, Removed, Store};
use std::fs;
use std::path::Path;
use std::process::Command;

fn name(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

/// Commits a one-layer image whose only file holds `content`.
fn commit(store: &Store, content: &str, names: &[&str]) -> ImageRecord {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), content).unwrap();
    let (desc, blob) = store
        .put_layer_from_dir(dir.path(), &DiffOptions::default(), Compression::Gzip)
        .unwrap();
    commit_one_layer(store, (desc, blob), names)
}

#[test]
fn names_lookup_and_removal() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let a = commit(&store, "a", &["localhost/app:1"]);
    assert_eq!(store.resolve("localhost/app:1").unwrap().id, a.id);
    assert_eq!(store.resolve(&a.id.hex()[..8]).unwrap().id, a.id);
    assert_eq!(store.resolve(a.id.as_str()).unwrap().id, a.id);
    assert_eq!(
        store
            .resolve(&format!("localhost/app@{}", a.manifest_digest))
            .unwrap()
            .id,
        a.id
    );
    assert!(store.resolve("localhost/app:2").is_err());

    store.tag(&name("busybox"), &a.manifest_desc).unwrap();
    let rec = store.resolve("docker.io/library/busybox:latest").unwrap();
    assert_eq!(
        rec.names,
        vec![
            name("docker.io/library/busybox:latest"),
            name("localhost/app:1")
        ]
    );

    // Moving a name to a new image leaves the old one untagged, not lost.
    let b = commit(&store, "b", &["localhost/app:1"]);
    store.tag(&name("busybox"), &b.manifest_desc).unwrap();
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    let old = list.iter().find(|r| r.id == a.id).unwrap();
    assert!(old.names.is_empty());

    // A name with a second name: rmi by name untags only.
    assert_eq!(
        store.remove("busybox", false).unwrap(),
        vec![Removed::Untagged(name("busybox"))]
    );
    assert!(store.has_blob(&b.id));
    store.tag(&name("x:1"), &b.manifest_desc).unwrap();
    assert!(
        store.remove(&b.id.hex()[..12], false).is_err(),
        "several names need -f"
    );
    let removed = store.remove(&b.id.hex()[..12], true).unwrap();
    assert!(removed.contains(&Removed::Deleted(b.id.clone())));
    assert!(
        !store.has_blob(&b.id),
        "gc removed the deleted image's config"
    );
    assert!(store.has_blob(&a.id), "the untagged image is kept");
    let removed = store.remove(&a.id.hex()[..12], false).unwrap();
    assert_eq!(removed, vec![Removed::Deleted(a.id.clone())]);
    assert_eq!(
        fs::read_dir(t.path().join("blobs/sha256")).unwrap().count(),
        0
    );
}

#[test]
fn ambiguous_id_prefix_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(commit(&store, &format!("c{i}"), &[]).id);
    }
    // With 40 ids some share their first hex digit.
    let first = ids
        .iter()
        .map(|d| &d.hex()[..1])
        .find(|p| ids.iter().filter(|d| d.hex().starts_with(*p)).count() > 1);
    let p = first.unwrap();
    assert!(matches!(
        store.resolve(p),
        Err(rbuild::store::StoreError::Ambiguous(_))
    ));
}

#[test]
fn unpacked_layers_are_made_once_and_collected() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    let a = commit(&store, "hello", &["localhost/l:1"]);
    let dirs = store.unpack_image_layers(&a).unwrap();
    assert_eq!(fs::read(dirs[0].join("file")).unwrap(), b"hello");
    let chain = ChainId::all(&rbuild::image::config::diff_ids(&a.config));
    let mut calls = 0;
    let again = store
        .unpacked_layer(&chain[0], |_| {
            calls += 1;
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!((again, calls), (dirs[0].clone(), 0));
    store.remove("localhost/l:1", false).unwrap();
    assert!(
        store.layer_dir(&chain[0]).is_none(),
        "gc removed the unpacked layer"
    );
    assert_eq!(fs::read_dir(t.path().join("layers")).unwrap().count(), 0);
}

#[test]
fn layout_passes_oci_tools() {
    let test = "layout_passes_oci_tools";
    if !(need_tool(test, "umoci") && need_tool(test, "skopeo") && need_tool(test, "oci-image-tool"))
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    commit(&store, "one", &["localhost/tools:1", "quay.io/x/y:2"]);
    commit(&store, "two", &[]);
    let root = t.path().display().to_string();
    let ls = run(Command::new("umoci").args(["ls", "--layout", &root]));
    assert!(
        ls.contains("localhost/tools:1") && ls.contains("quay.io/x/y:2"),
        "{ls}"
    );
    let inspect =
        run(Command::new("skopeo").args(["inspect", &format!("oci:{root}:localhost/tools:1")]));
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Os"], "linux");
    // Debian's oci-image-tool has no `--type imageLayout`; `--type image` on a dir validates the layout.
    run(Command::new("oci-image-tool").args(["validate", "--type", "image", &root]));
    run(Command::new("oci-image-tool").args([
        "validate",
        "--type",
        "imageIndex",
        &format!("{root}/index.json"),
    ]));
    assert!(Path::new(&root).join("oci-layout").is_file());
}

#[test]
fn one_unpack_per_chain_id_across_store_handles() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let t = tempfile::tempdir().unwrap();
    let chain = ChainId(rbuild::image::Digest::of_bytes(b"some layer"));
    let calls = AtomicUsize::new(0);
    let dirs: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    // Separate Store handles take separate flocks, as separate processes do.
                    let store = Store::open(t.path()).unwrap();
                    store
                        .unpacked_layer(&chain, |dir| {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(200));
                            fs::write(dir.join("f"), b"x")
                        })
                        .unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the layer was unpacked more than once"
    );
    assert!(dirs.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(fs::read(dirs[0].join("f")).unwrap(), b"x");
}

#[test]
fn stale_temp_entries_of_dead_processes_are_removed() {
    let t = tempfile::tempdir().unwrap();
    let live = Store::open(t.path()).unwrap();
    let stale = t.path().join("tmp/999999-1");
    fs::create_dir_all(stale.join("layer-x/diff")).unwrap();
    let old = nix::sys::time::TimeSpec::new(1_000_000, 0);
    for p in [&stale, &live.tmp_dir().to_path_buf()] {
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            p.as_path(),
            &old,
            &old,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
    let _second = Store::open(t.path()).unwrap();
    assert!(!stale.exists(), "a dead process's temp dir is removed");
    assert!(live.tmp_dir().exists(), "a live process's temp dir is kept");
}
