//! Pruning the build cache: `until` removes only records unused for that
//! long, `keep-storage` removes least recently used records first until the
//! cache fits, the default keeps records whose result is a stored image and
//! `all` removes those too; freed blobs go with the store gc. Also the CLI:
//! `rbuild prune`, `builder prune` and `system df` on a real store.

mod cache_support;

use cache_support::{key, put_step};
use rbuild::cache::index::RECORDS_DIR;
use rbuild::cache::{prune, Cache, CacheKey, PruneOptions};
use rbuild::image::Reference;
use rbuild::store::Store;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// Makes `key` look last used `ago` ago.
fn age(root: &Path, key: &CacheKey, ago: Duration) {
    let path = root.join(RECORDS_DIR).join(format!("{}.json", key.hex()));
    let f = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("record file");
    f.set_modified(SystemTime::now() - ago).expect("set mtime");
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn until_removes_only_old_records_and_gc_frees_their_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let old = put_step(&cache, &key("p", 0), "old");
    put_step(&cache, &key("p", 1), "new");
    age(dir.path(), &old.key, 48 * HOUR);
    let opts = PruneOptions {
        until: Some(24 * HOUR),
        ..Default::default()
    };
    let report = prune(&cache, &opts).expect("prune");
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].key, old.key);
    assert!(report.gc_ran && report.bytes_freed > 0);
    assert!(!store.has_blob(&old.layers[0].digest));
    assert!(cache.lookup(&key("p", 1)).expect("lookup").is_some());
}

#[test]
fn keep_storage_removes_least_recently_used_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let recs: Vec<_> = (0..4)
        .map(|i| put_step(&cache, &key("lru", i), &format!("content {i}").repeat(100)))
        .collect();
    // Use order, oldest first: 2, 0, 3, 1.
    for (k, hours) in [(2, 40), (0, 30), (3, 20), (1, 10)] {
        age(dir.path(), &recs[k].key, hours * HOUR);
    }
    // A lookup is a use: record 2 becomes the newest.
    assert!(cache.lookup(&recs[2].key).expect("lookup").is_some());
    let total: u64 = recs.iter().map(|r| r.size()).sum();
    let limit = total - recs[0].size() - recs[3].size();
    let opts = PruneOptions {
        keep_storage: Some(limit),
        ..Default::default()
    };
    let report = prune(&cache, &opts).expect("prune");
    let mut removed: Vec<_> = report.removed.iter().map(|r| r.key.clone()).collect();
    removed.sort();
    let mut want = vec![recs[0].key.clone(), recs[3].key.clone()];
    want.sort();
    assert_eq!(removed, want);
    assert_eq!(cache.list().expect("list").len(), 2);
}

#[test]
fn default_keeps_image_results_and_all_removes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let final_step = put_step(&cache, &key("img", 1), "final");
    put_step(&cache, &key("img", 0), "intermediate");
    let hit = cache.lookup(&final_step.key).expect("lookup").expect("hit");
    let name = Reference::parse("localhost/pruned:1").expect("ref");
    store
        .put_image(&hit.config, hit.layers.clone(), &[name])
        .expect("image");
    // A metadata step after it (same layers, other config) is in use too.
    let mut later_config = hit.config.clone();
    later_config.set_author(Some("a metadata step".into()));
    cache
        .put(
            &key("img", 2),
            &rbuild::cache::StepResult {
                config_json: &rbuild::image::config::canonical_json(&later_config)
                    .expect("config JSON"),
                layers: hit.record.layers.clone(),
                new_layer: false,
                description: "USER nobody".into(),
            },
        )
        .expect("put");
    let du = rbuild::cache::disk_usage(&cache).expect("df");
    assert_eq!((du.cache.total, du.cache.active), (3, 2));
    assert_eq!((du.images.total, du.images.active), (1, 1));
    assert_eq!(du.images.reclaimable, 0);
    assert!(du.cache.reclaimable > 0 && du.cache.reclaimable < du.cache.size);
    let report = prune(&cache, &PruneOptions::default()).expect("prune");
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].key, key("img", 0));
    assert_eq!(cache.list().expect("list").len(), 2);
    let report = prune(
        &cache,
        &PruneOptions {
            all: true,
            ..Default::default()
        },
    )
    .expect("prune");
    assert_eq!(report.removed.len(), 2);
    assert!(cache.list().expect("list").is_empty());
    // The image keeps its blobs.
    store
        .resolve("localhost/pruned:1")
        .expect("image still there");
    assert!(store.has_blob(&final_step.layers[0].digest));
}

#[test]
fn a_corrupt_record_blocks_gc_until_prune_removes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let cache = Cache::open(&store).expect("cache");
    let good = put_step(&cache, &key("bad", 0), "good");
    let junk = dir
        .path()
        .join(RECORDS_DIR)
        .join(format!("{}.json", "0".repeat(64)));
    std::fs::write(&junk, b"{ not json").expect("write junk");
    let e = store
        .gc()
        .expect_err("gc must not guess what a broken root protects");
    assert!(e.to_string().contains(&"0".repeat(64)), "{e}");
    assert_eq!(
        cache.list().expect("list").len(),
        1,
        "the good record is still listed"
    );
    let report = prune(&cache, &PruneOptions::default()).expect("prune");
    assert_eq!(report.unreadable_removed, 1);
    assert!(report.gc_ran);
    assert!(
        !report.removed.is_empty(),
        "the dangling good record goes too"
    );
    assert!(!junk.exists());
    assert!(!store.has_blob(&good.config));
}

fn rbuild(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rbuild");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn cli_prune_and_system_df() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("store");
        let cache = Cache::open(&store).expect("cache");
        let old = put_step(&cache, &key("cli", 0), "old");
        put_step(&cache, &key("cli", 1), "new");
        age(dir.path(), &old.key, 30 * HOUR);
    }
    let (ok, df) = rbuild(dir.path(), &["system", "df"]);
    assert!(ok, "{df}");
    let cache_line = df
        .lines()
        .find(|l| l.starts_with("Build Cache"))
        .unwrap_or_else(|| panic!("{df}"));
    assert_eq!(cache_line.split_whitespace().nth(2), Some("2"), "{df}");
    let (ok, text) = rbuild(dir.path(), &["prune"]);
    assert!(
        !ok && text.contains("-f"),
        "prune without -f must ask: {text}"
    );
    let (ok, text) = rbuild(
        dir.path(),
        &["builder", "prune", "-f", "--filter", "until=24h"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("Total reclaimed space"), "{text}");
    assert!(
        text.contains(key("cli", 0).hex().get(..25).unwrap_or("")),
        "{text}"
    );
    let (ok, text) = rbuild(dir.path(), &["prune", "-af"]);
    assert!(ok, "{text}");
    let (_, df) = rbuild(dir.path(), &["system", "df"]);
    assert!(
        df.lines()
            .any(|l| l.starts_with("Build Cache") && l.split_whitespace().nth(2) == Some("0")),
        "{df}"
    );
    let (ok, text) = rbuild(dir.path(), &["prune", "-f", "--filter", "label=x"]);
    assert!(!ok && text.contains("until="), "{text}");
}
