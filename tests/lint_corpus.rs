//! The real-world Dockerfile corpus through the linter and through
//! `rbuild check`: nothing may crash, the lint rules and instruction typing
//! give no *errors* on files BuildKit builds (warnings are fine), and the CLI
//! always answers with a JSON report and exit code 0 or 1.

mod common;

use rbuild::context::DockerIgnore;
use rbuild::lint::{lint, LintOptions};
use rbuild::parser::instructions::parse_dockerfile;
use rbuild::parser::parse;
use std::path::Path;
use std::process::Command;

#[test]
fn corpus_lints_without_errors() {
    let Some(files) = common::corpus_dockerfiles() else {
        return;
    };
    let mut problems = Vec::new();
    let mut warnings = 0usize;
    for path in &files {
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
        let context = path.parent().unwrap_or(Path::new("."));
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
    eprintln!("{} files, {warnings} warnings", files.len());
    assert!(
        problems.is_empty(),
        "errors on files BuildKit accepts:\n{}",
        problems.join("\n")
    );
}

/// Errors the CLI may still report are the stage graph's (e.g. a global ARG
/// without default used as the base name, which BuildKit also rejects unless
/// `--build-arg` sets it); they are never rule findings.
#[test]
fn corpus_through_the_cli_never_crashes() {
    let Some(files) = common::corpus_dockerfiles() else {
        return;
    };
    for path in &files {
        let context = path.parent().unwrap_or(Path::new("."));
        let out = Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .arg("check")
            .arg("--format")
            .arg("json")
            .arg("-f")
            .arg(path)
            .arg(context)
            .output()
            .expect("run rbuild");
        let name = path.display();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "{name}: exit {code:?}: {out:?}"
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: stdout is not JSON ({e}): {out:?}"));
        let diagnostics = report["diagnostics"].as_array().expect("diagnostics array");
        for d in diagnostics {
            if d["severity"] == "error" {
                assert!(d["rule"].is_null(), "{name}: lint error {d}");
            }
        }
        let has_error = diagnostics.iter().any(|d| d["severity"] == "error");
        assert_eq!(code == Some(1), has_error, "{name}: exit code vs report");
    }
}
