//! `rbuild check` end to end: runs the built binary on real files and checks
//! exit codes (0 clean or warnings, 1 errors, 2 usage), the text report with
//! its caret, the JSON shape, `--dump-ast` against BuildKit's conformance
//! results, and `-f -` from stdin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn rbuild(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rbuild");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("wait for rbuild")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn context_with(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn clean_file_exits_zero_and_prints_nothing() {
    let ctx = context_with("FROM alpine\nCMD [\"sh\"]\n");
    let out = rbuild(&["check", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn warnings_exit_zero_with_text_and_caret() {
    let ctx = context_with("FROM alpine\n  MAINTAINER me\n");
    let out = rbuild(&["check", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let file = ctx.path().join("Dockerfile");
    let expected = format!(
        "{}:2:3: warning [MaintainerDeprecated]: Maintainer instruction is deprecated in favor of using label\n \
         2 |   MAINTAINER me\n   |   ^\n",
        file.display()
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn instruction_error_exits_one_naming_file_line_and_column() {
    let ctx = context_with("FROM alpine\nCOPY --chwon=1 a /b\n");
    let file = ctx.path().join("Dockerfile");
    let out = rbuild(
        &["check", "-f", path_str(&file), path_str(ctx.path())],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:2:6: error: ", file.display())),
        "{text}"
    );
    assert!(first.contains("--chown"), "{text}");
    assert!(text.ends_with("|      ^\n"), "{text}");
}

#[test]
fn parse_error_and_lint_error_exit_one() {
    let ctx = context_with("FROM alpine\nENV PATH\n");
    let out = rbuild(&["check", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains(":2: error: "), "{}", stdout(&out));

    let ctx = context_with("# check=error=true\nFROM alpine\nCMD echo hi\n");
    let out = rbuild(&["check", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("error [JSONArgsRecommended]"));
}

#[test]
fn usage_errors_exit_two() {
    let out = rbuild(&["check", "--format", "yaml", "."], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = rbuild(&["check", "--no-such-flag"], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn missing_and_non_utf8_files_are_clear_errors() {
    let ctx = tempfile::tempdir().expect("tempdir");
    let out = rbuild(&["check", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Dockerfile"), "{err}");

    std::fs::write(ctx.path().join("Dockerfile"), b"FROM alpine\nRUN \xff\n").expect("write");
    let out = rbuild(&["check", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("Dockerfile:2: error:") && text.contains("UTF-8"),
        "{text}"
    );
}

#[test]
fn json_report_has_stable_fields() {
    let ctx = context_with("FROM alpine AS Build\nCMD echo\n");
    let out = rbuild(&["check", "--format", "json", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let diags = v["diagnostics"].as_array().expect("diagnostics array");
    assert_eq!(diags.len(), 2, "{v}");
    let first = &diags[0];
    for key in ["severity", "rule", "message", "file", "line", "column"] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(first["severity"], "warning");
    assert_eq!(first["rule"], "StageNameCasing");
    assert_eq!(first["line"], 1);
    assert_eq!(diags[1]["rule"], "JSONArgsRecommended");
}

#[test]
fn json_report_includes_the_stage_graph() {
    let ctx = context_with(
        "FROM alpine AS base\nFROM base AS app\nCOPY --from=base /a /a\nFROM busybox AS other\n",
    );
    let out = rbuild(
        &[
            "check",
            "--format",
            "json",
            "--target",
            "app",
            path_str(ctx.path()),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["target"], 1, "{v}");
    let stages = v["stages"].as_array().expect("stages array");
    assert_eq!(stages.len(), 3);
    assert_eq!(stages[1]["name"], "app");
    assert_eq!(stages[1]["depends_on"], serde_json::json!([0]));
    assert_eq!(stages[0]["needed"], true);
    assert_eq!(stages[2]["needed"], false);
}

#[test]
fn stdin_dockerfile() {
    let out = rbuild(
        &["check", "-f", "-", "--format", "json"],
        Some("FROM alpine\nWORKDIR rel\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["diagnostics"][0]["rule"], "WorkdirRelativePath");
    assert_eq!(v["diagnostics"][0]["file"], "<stdin>");
}

#[test]
fn unknown_target_is_an_error() {
    let ctx = context_with("FROM alpine AS a\n");
    let out = rbuild(&["check", "--target", "b", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = rbuild(&["check", "--target", "a", path_str(ctx.path())], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn dump_ast_matches_buildkit_results() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/buildkit/parser-testfiles");
    for case in [
        "docker",
        "env",
        "escape",
        "health",
        "json",
        "continue-at-eof",
        "mail",
    ] {
        let dir = root.join(case);
        let expected = std::fs::read_to_string(dir.join("result")).expect("result file");
        let dockerfile = dir.join("Dockerfile");
        let out = rbuild(
            &[
                "check",
                "--dump-ast",
                "-f",
                path_str(&dockerfile),
                path_str(&dir),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{case}: {out:?}");
        assert_eq!(stdout(&out), expected, "{case}");
    }
}

#[test]
fn dump_ast_parse_error_exits_one() {
    let out = rbuild(
        &["check", "--dump-ast", "-f", "-"],
        Some("# only a comment\n"),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("error: "), "{}", stdout(&out));
}

#[test]
fn copy_ignored_file_uses_the_context_dockerignore() {
    let ctx = context_with("# check=experimental=all\nFROM alpine\nCOPY secret.env /\n");
    std::fs::write(ctx.path().join(".dockerignore"), "*.env\n").expect("write .dockerignore");
    let out = rbuild(&["check", "--format", "json", path_str(ctx.path())], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["diagnostics"][0]["rule"], "CopyIgnoredFile", "{v}");
}
