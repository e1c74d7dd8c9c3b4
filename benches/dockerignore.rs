//! Throughput of the `.dockerignore` matcher on a synthetic context of 60k
//! paths, one-shot (`is_excluded`) and walk-style (`matches_with_parent`).
//! Run: `cargo bench --bench dockerignore`. Prints ns per path; no asserts.

use rbuild::context::{DockerIgnore, ParentMatches};
use std::hint::black_box;
use std::time::Instant;

/// Directories first, then their files, like a depth-first walk.
fn synthetic_tree() -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let tops = ["src", "node_modules", "build", "docs", ".git", "vendor"];
    for top in tops {
        out.push((top.to_string(), 0));
        for a in 0..20 {
            let dir_a = format!("{top}/pkg{a}");
            out.push((dir_a.clone(), 1));
            for b in 0..10 {
                let dir_b = format!("{dir_a}/mod{b}");
                out.push((dir_b.clone(), 2));
                for f in 0..45 {
                    let ext = ["go", "rs", "log", "tmp", "md"][f % 5];
                    out.push((format!("{dir_b}/file{f}.{ext}"), 3));
                }
            }
        }
    }
    out
}

fn bench(name: &str, patterns: &[&str], paths: &[(String, usize)]) {
    let ignore = DockerIgnore::from_patterns(patterns).expect("patterns compile");
    let rounds = 3;
    let start = Instant::now();
    let mut excluded = 0usize;
    for _ in 0..rounds {
        for (p, _) in paths {
            excluded += usize::from(ignore.is_excluded(black_box(p)));
        }
    }
    let one_shot = start.elapsed().as_nanos() as f64 / (rounds * paths.len()) as f64;

    let start = Instant::now();
    for _ in 0..rounds {
        // Parent results per depth, as a depth-first walker keeps them.
        let mut stack: Vec<ParentMatches> = Vec::new();
        for (p, depth) in paths {
            stack.truncate(*depth);
            let parent = stack.last().cloned().unwrap_or_default();
            let (m, info) = ignore.matches_with_parent(black_box(p), &parent);
            black_box(m);
            stack.push(info);
        }
    }
    let walk = start.elapsed().as_nanos() as f64 / (rounds * paths.len()) as f64;
    println!(
        "{name:<12} {} paths, {} excluded: is_excluded {one_shot:.0} ns/path, walk {walk:.0} ns/path",
        paths.len(),
        excluded / rounds
    );
}

fn main() {
    let paths = synthetic_tree();
    bench("simple", &["node_modules", ".git", "build"], &paths);
    bench(
        "globs",
        &["**/*.log", "**/*.tmp", "docs/**/*.md", "vendor/*/mod[0-4]"],
        &paths,
    );
    bench(
        "exceptions",
        &["**", "!src/**", "src/**/*.tmp", "!src/pkg1/**"],
        &paths,
    );
}
