//! Context hashing throughput, side by side with `sha256sum` on the same
//! files in one run: a synthetic context (default 4,000 files, ~400 MB of
//! mixed sizes; `RBUILD_BENCH_FILES`, `RBUILD_BENCH_MB` change it) is read
//! once to warm the page cache, then hashed alternately by
//! `rbuild::cache::hash_selection` (empty metadata record, so every file is
//! read), by one `sha256sum` process, and by `sha256sum` on all cores
//! (`xargs -P`), 5 rounds each. Prints median MB/s and the ratios, plus the
//! time of a rehash that the metadata record makes read-free, in memory and
//! as the next build sees it (record loaded from the store).
//! Run: `cargo bench --bench context_hash`. No asserts.

use rbuild::cache::{hash_selection, MetadataRecord, Selection};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Files of sizes cycling over 1 KB .. 1 MB, plus a few 16 MB ones, adding
/// up to about `total_mb`. Content is pseudo-random (not compressible).
fn make_context(root: &Path, files: u64, total_mb: u64) -> (Vec<String>, u64) {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let budget = total_mb << 20;
    let big = 8u64.min(files / 10);
    let small_sizes = [1 << 10, 8 << 10, 64 << 10, 256 << 10, 1 << 20];
    let mut paths = Vec::new();
    let mut total = 0;
    for i in 0..files {
        let dir = root.join(format!("d{}", i % 50));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let size = if i < big {
            16 << 20
        } else {
            let left = budget.saturating_sub(total) / (files - i).max(1);
            small_sizes[(i % 5) as usize].min(left.max(1024) * 2)
        };
        let mut data = vec![0u8; size as usize];
        for chunk in data.chunks_mut(8) {
            let v = next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        let rel = format!("d{}/f{i}.bin", i % 50);
        std::fs::write(root.join(&rel), &data).expect("write");
        total += size;
        paths.push(rel);
    }
    (paths, total)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn sha256sum(root: &Path, list: &Path, parallel: usize) -> Duration {
    let start = Instant::now();
    let status = Command::new("xargs")
        .current_dir(root)
        .args(["-0", "-a"])
        .arg(list)
        .args(["-P", &parallel.to_string(), "-n", "500", "sha256sum"])
        .stdout(Stdio::null())
        .status()
        .expect("run xargs sha256sum (coreutils)");
    assert!(status.success(), "sha256sum failed");
    start.elapsed()
}

fn main() {
    let files = env_num("RBUILD_BENCH_FILES", 4000);
    let mb = env_num("RBUILD_BENCH_MB", 400);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ctx");
    let (paths, total) = make_context(&root, files, mb);
    let list = dir.path().join("files.lst");
    let mut f = std::fs::File::create(&list).expect("list");
    for p in &paths {
        f.write_all(p.as_bytes()).expect("list");
        f.write_all(b"\0").expect("list");
    }
    drop(f);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let sel = Selection::context(&root, vec![".".into()], None);
    // Warm the page cache: this measures hashing, not the disk.
    sha256sum(&root, &list, 1);
    let (mut ours, mut one, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        let (_, stats) = hash_selection(&sel, &MetadataRecord::in_memory()).expect("hash");
        ours.push(start.elapsed());
        assert_eq!(stats.files_read, paths.len());
        one.push(sha256sum(&root, &list, 1));
        all.push(sha256sum(&root, &list, cores));
    }
    let mut rec = MetadataRecord::in_memory();
    rec.set_racy_window(Duration::ZERO);
    hash_selection(&sel, &rec).expect("hash");
    let start = Instant::now();
    let (_, stats) = hash_selection(&sel, &rec).expect("rehash");
    let rehash = start.elapsed();
    // The next build in a new process: load the persisted record, rehash, save.
    let store_dir = dir.path().join("store");
    let store = rbuild::store::Store::open(&store_dir).expect("store");
    let mut first = MetadataRecord::load(&store, &root).expect("load");
    first.set_racy_window(Duration::ZERO);
    hash_selection(&sel, &first).expect("hash");
    first.save(&store).expect("save");
    let start = Instant::now();
    let loaded = MetadataRecord::load(&store, &root).expect("load");
    let load_time = start.elapsed();
    let (_, next) = hash_selection(&sel, &loaded).expect("rehash");
    let next_build = start.elapsed();
    let mbs = |d: Duration| total as f64 / (1 << 20) as f64 / d.as_secs_f64();
    let (o, s1, sn) = (median(ours), median(one), median(all));
    println!(
        "context: {} files, {:.0} MB, page cache warm, {cores} cores, median of 5",
        paths.len(),
        total as f64 / (1 << 20) as f64
    );
    println!(
        "rbuild hash_selection ({cores} threads): {:8.1} MB/s  {:?}",
        mbs(o),
        o
    );
    println!(
        "sha256sum, 1 process:           {:8.1} MB/s  {:?}",
        mbs(s1),
        s1
    );
    println!(
        "sha256sum, xargs -P {cores}:          {:8.1} MB/s  {:?}",
        mbs(sn),
        sn
    );
    println!(
        "ratio rbuild / sha256sum (1 process):  {:.2}",
        mbs(o) / mbs(s1)
    );
    println!(
        "ratio rbuild / sha256sum (-P {cores}):        {:.2}",
        mbs(o) / mbs(sn)
    );
    println!(
        "rehash with metadata record: {:?} ({} files reused, {} read)",
        rehash, stats.files_reused, stats.files_read
    );
    println!(
        "next build (load persisted record + rehash): {next_build:?} (load {load_time:?}, {} reused)",
        next.files_reused
    );
}
