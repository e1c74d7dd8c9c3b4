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

/// A 64-bit linear congruential generator: deterministic cases, no crate.
fn lcg(state: &mut u64) -> usize {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*state >> 33) as usize
}

/// BuildKit has no data file for `#`, `##`, `%`, `%%`, `/`, `//`, so the
/// reference here is bash itself: random glob patterns over random values
/// must give what bash gives (`LC_ALL=C`, so ranges are byte ranges).
#[test]
fn glob_modifiers_match_bash() {
    let bash = std::path::Path::new("/bin/bash");
    if !bash.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "/bin/bash is required for this test on CI (apt-get install bash)"
        );
        eprintln!("skipping glob_modifiers_match_bash: /bin/bash not found");
        return;
    }
    let atoms = [
        "a", "b", "c", "*", "?", "[ab]", "[!a]", "[b-c]", "[^c]", "\\*",
    ];
    let ops = ["#", "##", "%", "%%", "/", "//"];
    let mut state = 42;
    let mut script = String::from("set -u\n");
    let mut cases = Vec::new();
    for _ in 0..600 {
        let value: String = (0..1 + lcg(&mut state) % 8)
            .map(|_| ["a", "b", "c", "*"][lcg(&mut state) % 4])
            .collect();
        let pattern: String = (0..1 + lcg(&mut state) % 4)
            .map(|_| atoms[lcg(&mut state) % atoms.len()])
            .collect();
        let op = ops[lcg(&mut state) % ops.len()];
        let tail = if op.starts_with('/') { "/X" } else { "" };
        script.push_str(&format!(
            "v='{value}'; p='{pattern}'; printf '%s\\n' \"${{v{op}$p{tail}}}\"\n"
        ));
        cases.push((value, format!("${{V{op}{pattern}{tail}}}")));
    }
    let output = std::process::Command::new(bash)
        .arg("-c")
        .arg(&script)
        .env("LC_ALL", "C")
        .output()
        .expect("run bash");
    assert!(output.status.success(), "bash failed: {output:?}");
    let stdout = String::from_utf8(output.stdout).expect("bash output is UTF-8");
    let expected: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        expected.len(),
        cases.len(),
        "bash printed a wrong number of lines"
    );
    let lexer = Lexer::new('\\');
    let mut failures = Vec::new();
    for ((value, source), want) in cases.iter().zip(&expected) {
        let env = vec![("V".to_string(), value.clone())];
        let got = lexer.process_word(source, &env);
        if got.as_deref() != Ok(*want) {
            failures.push(format!("V={value:?} {source}: got {got:?}, bash {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from bash:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
