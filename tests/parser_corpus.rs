//! Every real-world Dockerfile of the shared corpus
//! (`$RBUILD_SHARED/corpus/real-dockerfiles/*/Dockerfile`, default
//! `<repo>/../shared`) must parse without error. When the corpus is missing
//! the test fails under CI=true and is skipped (with a note) otherwise.

use std::path::PathBuf;

fn shared_dir() -> PathBuf {
    match std::env::var_os("RBUILD_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

#[test]
fn corpus_dockerfiles_parse() {
    let corpus = shared_dir().join("corpus/real-dockerfiles");
    let Ok(entries) = std::fs::read_dir(&corpus) else {
        let note = format!(
            "corpus folder {} is missing (set RBUILD_SHARED)",
            corpus.display()
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{note}");
        eprintln!("SKIP corpus_dockerfiles_parse: {note}");
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("Dockerfile"))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no */Dockerfile under {}",
        corpus.display()
    );
    let mut failures = Vec::new();
    let (mut instructions, mut heredocs) = (0, 0);
    for file in &files {
        let src = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        match rbuild::parser::parse(&src) {
            Ok(df) => {
                instructions += df.nodes.len();
                heredocs += df.nodes.iter().map(|n| n.heredocs.len()).sum::<usize>();
                // The dump must be producible for every file (one line per node).
                assert_eq!(
                    rbuild::parser::dump(&df).lines().count(),
                    df.nodes.len(),
                    "{}",
                    file.display()
                );
            }
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    eprintln!(
        "parsed {} corpus files: {instructions} instructions, {heredocs} heredocs",
        files.len()
    );
}
