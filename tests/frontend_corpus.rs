//! Runs every real-world Dockerfile of the shared corpus through typed
//! instruction parsing, the stage graph (default target and every named
//! stage as target) and the per-stage variable scope. All must succeed: they
//! build with BuildKit. Needs `$RBUILD_SHARED/corpus/real-dockerfiles`
//! (default `<repo>/../shared`); without it the test fails under CI=true and
//! is skipped otherwise.

use rbuild::parser::args::{BuildArgs, GlobalScope, Platform, Scope};
use rbuild::parser::instructions::{parse_dockerfile, Instruction};
use rbuild::parser::parse;
use rbuild::parser::stages::{stage_graph_of, BuildOptions};
use std::path::PathBuf;

fn corpus_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("RBUILD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("corpus/real-dockerfiles");
    dir.is_dir().then_some(dir)
}

#[test]
fn every_corpus_dockerfile_types_and_has_a_stage_graph() {
    let Some(dir) = corpus_dir() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "corpus missing: set RBUILD_SHARED to the folder holding corpus/real-dockerfiles"
        );
        eprintln!("skipped: corpus/real-dockerfiles not found (set RBUILD_SHARED)");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path().join("Dockerfile")))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() > 100,
        "expected the full corpus, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut stages_seen = 0;
    for file in &files {
        let bytes = std::fs::read(file).expect("read Dockerfile");
        let result = (|| -> Result<usize, String> {
            let raw = parse(&bytes).map_err(|e| format!("parse: {e}"))?;
            let typed = parse_dockerfile(&raw).map_err(|e| e.to_string())?;
            // Some files need `--build-arg` for meta ARGs without a default
            // (e.g. `ARG BASE` + `FROM $BASE`): give those a placeholder.
            let mut args = BuildArgs::new();
            for command in &typed.meta_args {
                if let Instruction::Arg(decls) = &command.instruction {
                    for decl in decls.iter().filter(|d| d.default.is_none()) {
                        args.set(&decl.key, "example.invalid/base:1");
                    }
                }
            }
            let defaults = BuildOptions {
                build_args: args.clone(),
                ..BuildOptions::default()
            };
            let graph = stage_graph_of(&typed, &defaults).map_err(|e| e.to_string())?;
            for stage in graph.stages.iter().filter_map(|s| s.name.clone()) {
                let opts = BuildOptions {
                    target: Some(stage),
                    ..defaults.clone()
                };
                stage_graph_of(&typed, &opts).map_err(|e| e.to_string())?;
            }
            let host = Platform::host();
            let global = GlobalScope::new(&typed.meta_args, &args, &host, &host, "", typed.escape)
                .map_err(|e| e.to_string())?;
            for stage in &typed.stages {
                let mut scope = Scope::new(&global, &args, Vec::new());
                for command in &stage.commands {
                    scope.step(command).map_err(|e| e.to_string())?;
                }
            }
            Ok(graph.stages.len())
        })();
        match result {
            Ok(n) => stages_seen += n,
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(stages_seen >= files.len());
}
