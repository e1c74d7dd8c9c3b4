//! Helpers shared by integration tests: locating the real-world Dockerfile
//! corpus, which lives outside the repository.

use std::path::PathBuf;

/// The corpus Dockerfiles (`$RBUILD_SHARED/corpus/real-dockerfiles/*/Dockerfile`,
/// default `<repo>/../shared`), sorted. `None` when the corpus is absent; the
/// caller then skips, except under `CI=true`, where this panics.
pub fn corpus_dockerfiles() -> Option<Vec<PathBuf>> {
    let shared = std::env::var_os("RBUILD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("corpus/real-dockerfiles");
    if !dir.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "corpus not found at {}: set RBUILD_SHARED to the folder holding corpus/real-dockerfiles",
            dir.display()
        );
        eprintln!(
            "skipping: corpus not found at {} (set RBUILD_SHARED)",
            dir.display()
        );
        return None;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path().join("Dockerfile")))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() > 100,
        "corpus looks incomplete: {} files",
        files.len()
    );
    Some(files)
}
