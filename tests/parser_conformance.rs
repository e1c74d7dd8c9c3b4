//! BuildKit parser conformance: every `testdata/buildkit/parser-testfiles/*`
//! case must dump byte for byte like BuildKit's `result`, every
//! `parser-negative/*` case must be rejected, and `testfile-line` must give
//! BuildKit's line ranges. See testdata/buildkit/SOURCE.md for the format.

use std::fs;
use std::path::{Path, PathBuf};

fn data_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/buildkit")
        .join(sub)
}

fn case_dirs(sub: &str) -> Vec<PathBuf> {
    let dir = data_dir(sub);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// A line-by-line diff of expected vs actual, for the failure message.
fn diff(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for i in 0..exp.len().max(act.len()) {
        let (e, a) = (exp.get(i), act.get(i));
        if e != a {
            out.push_str(&format!(
                "  line {}:\n    - {}\n    + {}\n",
                i + 1,
                e.unwrap_or(&"<none>"),
                a.unwrap_or(&"<none>")
            ));
        }
    }
    if out.is_empty() && expected != actual {
        out.push_str("  (only trailing newlines differ)\n");
    }
    out
}

#[test]
fn positive_cases_dump_like_buildkit() {
    let cases = case_dirs("parser-testfiles");
    assert_eq!(cases.len(), 33, "expected the 33 upstream cases");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = fs::read(case.join("Dockerfile")).expect("Dockerfile readable");
        let expected = fs::read_to_string(case.join("result")).expect("result readable");
        match rbuild::parser::parse(&src) {
            Err(err) => failures.push(format!("{name}: parse failed: {err}")),
            Ok(df) => {
                let actual = rbuild::parser::dump(&df);
                if actual != expected {
                    failures.push(format!(
                        "{name}: dump differs\n{}",
                        diff(&expected, &actual)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn negative_cases_are_rejected() {
    let cases = case_dirs("parser-negative");
    assert_eq!(cases.len(), 4, "expected the 4 upstream negative cases");
    for case in &cases {
        let src = fs::read(case.join("Dockerfile")).expect("Dockerfile readable");
        let outcome = rbuild::parser::parse(&src);
        assert!(
            outcome.is_err(),
            "{} parsed but must fail: {:?}",
            case.display(),
            outcome
        );
    }
}

#[test]
fn negative_cases_say_why() {
    let read = |name: &str| {
        fs::read(data_dir("parser-negative").join(name).join("Dockerfile")).expect("readable")
    };
    let message = |name: &str| {
        rbuild::parser::parse(&read(name))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(message("empty_dockerfile").contains("no instructions"));
    assert!(message("only_comments").contains("no instructions"));
    assert!(message("env_no_value").contains("ENV must have two arguments"));
    assert!(message("shykes-nested-json").contains("strings only"));
    let err = rbuild::parser::parse(&read("env_no_value")).expect_err("must fail");
    assert!(err.line() >= 1);
}

#[test]
fn testfile_line_ranges() {
    let src = fs::read(data_dir("shell/testfile-line/Dockerfile")).expect("readable");
    let df = rbuild::parser::parse(&src).expect("testfile-line parses");
    assert_eq!(
        (df.span.start_line, df.span.end_line),
        (5, 31),
        "root range"
    );
    let ranges: Vec<(usize, usize)> = df
        .nodes
        .iter()
        .map(|n| (n.span.start_line, n.span.end_line))
        .collect();
    assert_eq!(ranges, vec![(5, 5), (11, 12), (17, 31)]);
}
