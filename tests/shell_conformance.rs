//! BuildKit shell-lexer conformance: runs every case of
//! `testdata/buildkit/shell/envVarTest` (single-word expansion) and
//! `testdata/buildkit/shell/wordsTest` (field splitting) through
//! `rbuild::parser::shell::Lexer`, following the file formats described in
//! `testdata/buildkit/SOURCE.md` sections 4 and 5. Windows-only (`W`) cases
//! are skipped: rbuild builds Linux images with case-sensitive names.

use std::collections::HashMap;
use std::path::PathBuf;

use rbuild::parser::shell::Lexer;

fn data_file(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "testdata/buildkit/shell", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

#[test]
fn env_var_test() {
    let source = data_file("envVarTest");
    let env: HashMap<String, String> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lexer = Lexer::new('\\');
    let mut failures = Vec::new();
    let mut ran = 0;
    for (index, raw_line) in source.lines().enumerate() {
        let line_no = index + 1;
        if raw_line.starts_with('#') {
            continue;
        }
        let line = raw_line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [platform, input, expected] = fields[..] else {
            panic!("envVarTest line {line_no}: expected 3 '|'-separated fields: {line:?}");
        };
        match platform {
            "A" | "U" => {}
            "W" => continue,
            other => panic!("envVarTest line {line_no}: bad platform tag {other:?}"),
        }
        ran += 1;
        let got = lexer.process_word(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(_), "error") => false,
            (Ok(word), want) => word == want,
            (Err(_), _) => false,
        };
        if !ok {
            failures.push(format!(
                "line {line_no}: input {input:?}: got {got:?}, expected {expected:?}"
            ));
        }
    }
    assert!(ran > 100, "only {ran} envVarTest cases ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} envVarTest cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn words_test() {
    let source = data_file("wordsTest");
    let lexer = Lexer::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (index, line) in source.lines().enumerate() {
        let line_no = index + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(definition) = line.strip_prefix("ENV ") {
            let definition = definition.trim_start_matches(' ');
            let (key, value) = definition.split_once('=').unwrap_or((definition, ""));
            env.push((key.to_string(), value.to_string()));
            continue;
        }
        let sides: Vec<&str> = line.split('|').collect();
        let [input, expected] = sides[..] else {
            panic!("wordsTest line {line_no}: expected exactly one '|': {line:?}");
        };
        let input = input.trim();
        let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
        ran += 1;
        let got = lexer.process_words(input, &env);
        let ok = match &got {
            Err(_) => expected == ["error"],
            Ok(words) => words == &expected,
        };
        if !ok {
            failures.push(format!(
                "line {line_no}: input {input:?}: got {got:?}, expected {expected:?}"
            ));
        }
    }
    assert!(ran > 20, "only {ran} wordsTest cases ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} wordsTest cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
