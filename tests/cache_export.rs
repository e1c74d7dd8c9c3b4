//! Cache export and import through an OCI layout on disk: records exported
//! from one store hit in a fresh store (blobs copied and verified on hit),
//! exports merge, the layout is a valid OCI layout (index.json -> manifest
//! -> cache config, every blob matching its name), tampered blobs are
//! refused, and `--cache-to/--cache-from` values parse or fail clearly.

mod cache_support;

use cache_support::{key, put_step};
use rbuild::cache::export::{export_build, export_local, import_local};
use rbuild::cache::{parse_cache_option, Cache, CacheExportMode, CacheOption};
use rbuild::image::Digest;
use rbuild::store::Store;
use std::fs;
use std::path::{Path, PathBuf};

fn verify_layout(dir: &Path) {
    let layout = fs::read_to_string(dir.join("oci-layout")).expect("oci-layout");
    assert!(layout.contains("imageLayoutVersion"));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index")).expect("json");
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(1));
    for e in fs::read_dir(dir.join("blobs/sha256")).expect("blobs") {
        let e = e.expect("entry");
        let bytes = fs::read(e.path()).expect("read blob");
        assert_eq!(
            Digest::of_bytes(&bytes).hex(),
            e.file_name().to_string_lossy(),
            "blob does not match its name"
        );
    }
    let leftovers: Vec<_> = fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !["oci-layout", "index.json", "blobs"].contains(&n.to_string_lossy().as_ref()))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn export_then_import_into_a_fresh_store_hits_everything() {
    let a = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let keys: Vec<_> = (0..5).map(|i| key("exp", i)).collect();
    {
        let store = Store::open(a.path()).expect("store");
        let cache = Cache::open(&store).expect("cache");
        for (i, k) in keys.iter().enumerate() {
            put_step(&cache, k, &format!("layer {i}"));
        }
        let report = export_local(&cache, out.path(), &keys[..3]).expect("export");
        assert_eq!(report.records, 3);
        assert_eq!(report.blobs_copied, 6, "3 layers + 3 configs");
        // A second export merges with the first.
        let report = export_local(&cache, out.path(), &keys[3..]).expect("export");
        assert_eq!(report.records, 2);
    }
    verify_layout(out.path());
    let b = tempfile::tempdir().expect("tempdir");
    let store = Store::open(b.path()).expect("store");
    let mut cache = Cache::open(&store).expect("cache");
    assert!(cache.lookup(&keys[0]).expect("lookup").is_none());
    let imported = import_local(out.path()).expect("import");
    assert_eq!(imported.len(), 5);
    cache.add_import(imported);
    for k in &keys {
        let hit = cache
            .lookup(k)
            .expect("lookup")
            .expect("hit from the import");
        for l in &hit.record.layers {
            store.verify_blob(&l.digest).expect("copied blob verifies");
        }
    }
    // Hits were copied into the local cache: they survive without the import.
    let cache = Cache::open(&store).expect("cache");
    assert!(cache.lookup(&keys[4]).expect("lookup").is_some());
    assert!(cache.lookup(&key("exp", 99)).expect("lookup").is_none());
}

#[test]
fn mode_min_exports_the_target_and_max_everything_used() {
    let a = tempfile::tempdir().expect("tempdir");
    let store = Store::open(a.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let keys: Vec<_> = (0..4).map(|i| key("mode", i)).collect();
    for (i, k) in keys.iter().enumerate() {
        put_step(&cache, k, &format!("mode {i}"));
    }
    assert_eq!(cache.used_keys(), keys);
    let min = tempfile::tempdir().expect("tempdir");
    let r = export_build(&cache, min.path(), CacheExportMode::Min, &keys[2..]).expect("export");
    assert_eq!(r.records, 2);
    let max = tempfile::tempdir().expect("tempdir");
    let r = export_build(&cache, max.path(), CacheExportMode::Max, &keys[2..]).expect("export");
    assert_eq!(r.records, 4);
    let imported = import_local(min.path()).expect("import");
    let mut got: Vec<_> = imported.keys().cloned().collect();
    got.sort();
    let mut want = keys[2..].to_vec();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn tampered_blobs_are_refused() {
    let a = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let k = key("tamper", 0);
    let layer = {
        let store = Store::open(a.path()).expect("store");
        let cache = Cache::open(&store).expect("cache");
        let rec = put_step(&cache, &k, "genuine");
        export_local(&cache, out.path(), std::slice::from_ref(&k)).expect("export");
        rec.layers[0].digest.clone()
    };
    let blob: PathBuf = out.path().join("blobs/sha256").join(layer.hex());
    fs::write(&blob, b"evil").expect("tamper");
    let b = tempfile::tempdir().expect("tempdir");
    let store = Store::open(b.path()).expect("store");
    let mut cache = Cache::open(&store).expect("cache");
    cache.add_import(import_local(out.path()).expect("import"));
    let e = cache.lookup(&k).expect_err("tampered layer accepted");
    assert!(e.to_string().contains("does not match"), "{e}");
    assert!(!store.has_blob(&layer));
    // A layout that is not a cache export is named as such.
    let e = import_local(b.path()).expect_err("not a cache");
    assert!(e.to_string().contains("index.json"), "{e}");
}

#[test]
fn cache_options_parse() {
    assert_eq!(
        parse_cache_option("type=local,dest=/tmp/c,mode=max").ok(),
        Some(CacheOption::Export {
            dest: "/tmp/c".into(),
            mode: CacheExportMode::Max
        })
    );
    assert_eq!(
        parse_cache_option("type=local,dest=out").ok(),
        Some(CacheOption::Export {
            dest: "out".into(),
            mode: CacheExportMode::Min
        })
    );
    assert_eq!(
        parse_cache_option("type=local,src=/c").ok(),
        Some(CacheOption::Import { src: "/c".into() })
    );
    for (bad, says) in [
        ("type=registry,ref=x/y:cache", "not supported yet"),
        ("type=local", "missing dest"),
        ("type=local,dest=a,mode=all", "mode=all"),
        ("type=local,dest=a,colour=red", "unknown key"),
        ("user/app:cache", "not key=value"),
        ("dest=a", "missing type"),
    ] {
        let e = parse_cache_option(bad).expect_err(bad).to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}
