//! The real-world Dockerfile corpus through parse + lint: nothing may panic,
//! and files BuildKit builds must get no *errors* (warnings are fine).
//! The corpus lives outside the repo: `$RBUILD_SHARED/corpus/real-dockerfiles`
//! (default `<repo>/../shared`).

use rbuild::context::DockerIgnore;
use rbuild::lint::{lint, LintOptions};
use rbuild::parser::instructions::parse_dockerfile;
use rbuild::parser::parse;
use std::path::PathBuf;

fn corpus_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("RBUILD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("corpus/real-dockerfiles");
    dir.is_dir().then_some(dir)
}

#[test]
fn corpus_lints_without_errors() {
    let Some(dir) = corpus_dir() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "corpus not found: set RBUILD_SHARED to the directory holding corpus/real-dockerfiles"
        );
        eprintln!("skipping: corpus not found (set RBUILD_SHARED)");
        return;
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path().join("Dockerfile")))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    assert!(
        entries.len() > 100,
        "corpus looks incomplete: {}",
        entries.len()
    );
    let mut problems = Vec::new();
    let mut warnings = 0usize;
    for path in &entries {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).expect("read corpus file");
        let df = match parse(&bytes) {
            Ok(df) => df,
            Err(e) => {
                problems.push(format!("{name}: parse: {e}"));
                continue;
            }
        };
        let parsed = match parse_dockerfile(&df) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        let context = path.parent().expect("corpus file has a parent");
        let ignore = DockerIgnore::load(context, Some(path)).expect("load .dockerignore");
        let opts = LintOptions {
            file: name.clone(),
            build_args: Default::default(),
            ignore: Some(&ignore),
        };
        for d in lint(&df, &parsed, &opts) {
            if d.is_error() {
                problems.push(d.to_string());
            } else {
                warnings += 1;
            }
        }
    }
    eprintln!("{} files, {warnings} warnings", entries.len());
    assert!(
        problems.is_empty(),
        "errors on files BuildKit accepts:\n{}",
        problems.join("\n")
    );
}
