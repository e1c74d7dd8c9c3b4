//! The persistent cache index with real processes: put/lookup round trips,
//! records that lost a blob are misses, store gc keeps what the cache
//! references, two processes putting at once both land, and a writer killed
//! with SIGKILL at random moments leaves only whole records. The children
//! are this test binary re-run on the ignored `child_putter`.

mod cache_support;

use cache_support::{key, put_step};
use rbuild::cache::Cache;
use rbuild::store::Store;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

const ROOT_ENV: &str = "RBUILD_TEST_CACHE_ROOT";
const NAME_ENV: &str = "RBUILD_TEST_CACHE_NAME";
const COUNT_ENV: &str = "RBUILD_TEST_CACHE_COUNT";

/// Child entry point: puts COUNT (default: endless) steps of chain NAME.
#[test]
#[ignore = "helper process for the tests below"]
fn child_putter() {
    let (Some(root), Ok(name)) = (std::env::var_os(ROOT_ENV), std::env::var(NAME_ENV)) else {
        return;
    };
    let count: usize = std::env::var(COUNT_ENV)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(usize::MAX);
    let store = Store::open(Path::new(&root)).expect("open store");
    let cache = Cache::open(&store).expect("open cache");
    for i in 0..count {
        // Keys repeat every 50 puts, so records are also replaced under load.
        put_step(&cache, &key(&name, i % 50), &format!("{name} {i}"));
    }
}

fn spawn_putter(root: &Path, name: &str, count: Option<usize>) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--ignored",
        "--exact",
        "child_putter",
        "--test-threads=1",
        "-q",
    ])
    .env(ROOT_ENV, root)
    .env(NAME_ENV, name)
    .stdout(std::process::Stdio::null());
    if let Some(c) = count {
        cmd.env(COUNT_ENV, c.to_string());
    }
    cmd.spawn().expect("spawn child")
}

#[test]
fn a_record_keeps_config_fields_oci_spec_drops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let layer = cache_support::stored_layer(&store, "x");
    let mut config =
        serde_json::to_value(rbuild::image::config::empty_config(std::time::UNIX_EPOCH))
            .expect("config");
    config["rootfs"]["diff_ids"] = serde_json::json!([layer.diff_id.to_string()]);
    config["config"] = serde_json::json!({
        "Env": ["A=1"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000u64},
        "OnBuild": ["RUN echo child"],
        "Shell": ["/bin/bash", "-c"],
    });
    let bytes = serde_json::to_vec(&config).expect("JSON");
    let k = key("extras", 0);
    cache
        .put(
            &k,
            &rbuild::cache::StepResult {
                config_json: &bytes,
                layers: vec![layer],
                new_layer: false,
                description: "HEALTHCHECK".into(),
            },
        )
        .expect("put");
    let hit = cache.lookup(&k).expect("lookup").expect("hit");
    assert_eq!(hit.config_json, bytes, "the blob is kept byte for byte");
    let back: serde_json::Value = serde_json::from_slice(&hit.config_json).expect("JSON");
    assert_eq!(back["config"]["Shell"], config["config"]["Shell"]);
    assert_eq!(back["config"]["OnBuild"], config["config"]["OnBuild"]);
    assert_eq!(
        back["config"]["Healthcheck"],
        config["config"]["Healthcheck"]
    );
    // Not a config at all: refused, not stored.
    let err = cache.put(
        &key("extras", 1),
        &rbuild::cache::StepResult {
            config_json: b"[1, 2]",
            layers: Vec::new(),
            new_layer: false,
            description: String::new(),
        },
    );
    assert!(err.is_err(), "a non-config was recorded");
}

#[test]
fn put_then_lookup_hits_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = key("a", 1);
    let rec = {
        let store = Store::open(dir.path()).expect("store");
        let cache = Cache::open(&store).expect("cache");
        assert!(cache.lookup(&k).expect("lookup").is_none());
        put_step(&cache, &k, "hello")
    };
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let hit = cache
        .lookup(&k)
        .expect("lookup")
        .expect("a hit after reopen");
    assert_eq!(hit.record.config, rec.config);
    assert_eq!(hit.layers.len(), 1);
    assert_eq!(hit.config.rootfs().diff_ids().len(), 1);
    assert!(cache.lookup(&key("a", 2)).expect("lookup").is_none());
    assert_eq!(cache.list().expect("list").len(), 1);
}

#[test]
fn gc_keeps_cached_blobs_and_a_lost_blob_is_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let k = key("gc", 1);
    let rec = put_step(&cache, &k, "kept by the cache");
    let stats = store.gc().expect("gc");
    assert!(stats.ran);
    assert_eq!(stats.blobs_removed, 0, "gc removed a blob the cache uses");
    assert!(cache.lookup(&k).expect("lookup").is_some());
    std::fs::remove_file(store.blob_path(&rec.layers[0].digest)).expect("rm blob");
    assert!(cache.lookup(&k).expect("lookup").is_none());
    // Once the record is gone, gc frees its config.
    assert!(cache.remove(&k).expect("remove"));
    let stats = store.gc().expect("gc");
    assert_eq!(stats.blobs_removed, 1);
    assert!(!store.has_blob(&rec.config));
}

#[test]
fn two_processes_put_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path()).expect("create store"));
    let a = spawn_putter(dir.path(), "one", Some(60));
    let b = spawn_putter(dir.path(), "two", Some(60));
    for mut c in [a, b] {
        assert!(c.wait().expect("wait").success(), "a putter failed");
    }
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    assert_eq!(cache.list().expect("list").len(), 100);
    for name in ["one", "two"] {
        for i in 0..50 {
            assert!(
                cache.lookup(&key(name, i)).expect("lookup").is_some(),
                "{name} {i} missing"
            );
        }
    }
}

#[test]
fn kill_9_mid_write_leaves_a_readable_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path()).expect("create store"));
    let records_dir = dir.path().join(rbuild::cache::index::RECORDS_DIR);
    let count = || {
        std::fs::read_dir(&records_dir)
            .map(|d| d.count())
            .unwrap_or(0)
    };
    for round in 0..8u64 {
        let before = count();
        let mut child = spawn_putter(dir.path(), "crash", None);
        // Wait until the writer is busy (a record more than before, or it
        // replaced one: the count saturates at 50 keys), then let varying
        // delays land the kill at different points of a put.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while count() <= before && before < 50 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis((round * 37) % 120));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let files = count();
    let records = cache.list().expect("list");
    assert!(!records.is_empty(), "the writer never got to put anything");
    assert_eq!(records.len(), files, "a record file is not whole JSON");
    for r in &records {
        // Blobs are written before the record, so every record is a hit.
        assert!(cache.lookup(&r.key).expect("lookup").is_some());
    }
}
