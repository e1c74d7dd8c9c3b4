//! Parser throughput on the shared corpus of real Dockerfiles
//! (`$RBUILD_SHARED/corpus/real-dockerfiles/*/Dockerfile`, default
//! `<repo>/../shared`). A plain timing harness: parses every file N times
//! (`PARSE_BENCH_ITERS`, default 200) and prints MB/s and files/s for
//! `parse` alone and for `parse` + `dump`. Run with `cargo bench --bench parse_corpus`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus_files() -> Vec<(PathBuf, Vec<u8>)> {
    let shared = std::env::var_os("RBUILD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("corpus/real-dockerfiles");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "corpus {} unreadable ({e}); set RBUILD_SHARED",
            dir.display()
        )
    });
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("Dockerfile"))
        .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
        .collect();
    files.sort();
    files
}

fn report(label: &str, elapsed: Duration, iters: usize, files: usize, bytes: usize) {
    let secs = elapsed.as_secs_f64();
    let mb = (bytes * iters) as f64 / 1e6;
    println!(
        "{label:<14} {iters} x {files} files ({:.2} MB) in {secs:.3} s: {:.1} MB/s, {:.0} files/s, {:.1} us/file",
        bytes as f64 / 1e6,
        mb / secs,
        (files * iters) as f64 / secs,
        secs * 1e6 / (files * iters) as f64,
    );
}

fn main() {
    let iters: usize = std::env::var("PARSE_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let files = corpus_files();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    // Warm up and check every file parses.
    for (path, src) in &files {
        if let Err(e) = rbuild::parser::parse(src) {
            panic!("{}: {e}", path.display());
        }
    }
    let start = Instant::now();
    let mut nodes = 0usize;
    for _ in 0..iters {
        for (_, src) in &files {
            nodes +=
                rbuild::parser::parse(std::hint::black_box(src)).map_or(0, |df| df.nodes.len());
        }
    }
    report("parse", start.elapsed(), iters, files.len(), bytes);
    let start = Instant::now();
    let mut out = 0usize;
    for _ in 0..iters {
        for (_, src) in &files {
            out += rbuild::parser::parse(std::hint::black_box(src))
                .map_or(0, |df| rbuild::parser::dump(&df).len());
        }
    }
    report("parse+dump", start.elapsed(), iters, files.len(), bytes);
    println!(
        "({} instructions, {} dump bytes per pass)",
        nodes / iters,
        out / iters
    );
}
