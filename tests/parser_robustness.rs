//! Hostile and huge inputs: the parser must return (success or a clean
//! error), never panic or overflow the stack, and stay linear. These tests
//! check outcomes only (no timing asserts); each runs in well under a second
//! or two in a debug build.

use rbuild::parser::{dump, parse};

const TEN_MB: usize = 10 * 1024 * 1024;
const TWO_MB: usize = 2 * 1024 * 1024;

/// Parses and, on success, dumps (the dump must not panic either).
fn run(src: &[u8]) -> Result<usize, String> {
    match parse(src) {
        Ok(df) => {
            let text = dump(&df);
            assert_eq!(text.lines().count(), df.nodes.len());
            Ok(df.nodes.len())
        }
        Err(e) => {
            assert!(e.line() >= 1, "error without a line: {e}");
            Err(e.to_string())
        }
    }
}

#[test]
fn continuation_of_100k_lines() {
    let mut src = String::from("FROM a\nRUN start \\\n");
    for i in 0..100_000 {
        src.push_str(if i % 10 == 0 {
            "  # comment \\\n"
        } else {
            "  && part \\\n"
        });
    }
    src.push_str("  end\nUSER me\n");
    let df = parse(src.as_bytes()).expect("parses");
    assert_eq!(df.nodes.len(), 3);
    assert_eq!(
        (df.nodes[1].span.start_line, df.nodes[1].span.end_line),
        (2, 100_003)
    );
    assert!(df.nodes[1].args[0].ends_with("&& part   end"));
    // Blank continuation lines: one warning for the instruction, not 100k.
    let blanks = format!("FROM a\nRUN x \\\n{}y\n", "   \n".repeat(100_000));
    let df = parse(blanks.as_bytes()).expect("parses");
    assert_eq!(df.warnings.len(), 1);
}

#[test]
fn ten_thousand_heredocs() {
    let mut src = String::from("FROM a\n");
    for i in 0..10_000 {
        src.push_str(&format!("RUN <<EOF{i}\necho {i}\nEOF{i}\n"));
    }
    let df = parse(src.as_bytes()).expect("parses");
    assert_eq!(df.nodes.len(), 10_001);
    assert_eq!(df.nodes[10_000].heredocs[0].content, "echo 9999\n");
    // 10,000 heredocs announced on one line, bodies read in order.
    let mut line = String::from("FROM a\nCOPY");
    let mut bodies = String::new();
    for i in 0..10_000 {
        line.push_str(&format!(" <<E{i}"));
        bodies.push_str(&format!("body {i}\nE{i}\n"));
    }
    let src = format!("{line} /dst\n{bodies}");
    let df = parse(src.as_bytes()).expect("parses");
    assert_eq!(df.nodes[1].heredocs.len(), 10_000);
    assert_eq!(df.nodes[1].heredocs[1234].content, "body 1234\n");
    assert_eq!(df.nodes[1].span.end_line, 2 + 20_000);
    // Never terminated: a clean error naming the instruction's line.
    let src = format!("FROM a\nRUN <<EOF\n{}", "x\n".repeat(100_000));
    assert!(run(src.as_bytes()).is_err_and(|e| e.starts_with("line 2:")));
}

#[test]
fn ten_megabyte_lines() {
    let big = "a".repeat(TEN_MB);
    for prefix in [
        "RUN ",
        "RUN <<EOF\nEOF\nRUN ",
        "ENV A=",
        "LABEL x ",
        "COPY --from=",
        "HEALTHCHECK CMD ",
        "FOO ",
    ] {
        let src = format!("FROM a\n{prefix}{big}\n");
        let instructions = 2 + prefix.matches("\nRUN").count();
        // Parse only: dumping 10 MB per case would dominate the test time.
        let parsed = parse(src.as_bytes())
            .map(|df| df.nodes.len())
            .map_err(|e| e.to_string());
        assert_eq!(parsed, Ok(instructions), "{prefix}");
    }
    // One dump of a 2 MB argument with characters that need escaping.
    let escaped = "a\"\\\u{a0}é".repeat(TWO_MB / 8);
    assert_eq!(run(format!("FROM a\nRUN {escaped}\n").as_bytes()), Ok(2));
    // Word-heavy lines are smaller (2 MB, a million words): each word is an
    // allocation, which is slow in unoptimized test builds.
    let words = "w ".repeat(TWO_MB / 2);
    for prefix in [
        "FROM ",
        "ARG ",
        "EXPOSE ",
        "VOLUME ",
        "LABEL a ",
        "COPY --a ",
    ] {
        assert!(
            run(format!("FROM a\n{prefix}{words}\n").as_bytes()).is_ok(),
            "{prefix}"
        );
    }
    let heredoc_line = format!("FROM a\nRUN <<E {words}\nE\n");
    assert_eq!(run(heredoc_line.as_bytes()), Ok(2));
    let flags = "--f=1 ".repeat(TWO_MB / 6);
    assert_eq!(run(format!("FROM a\nCOPY {flags} a b\n").as_bytes()), Ok(2));
    let quotes = "\"".repeat(TWO_MB);
    assert!(run(format!("FROM a\nENV A={quotes}\nRUN <<{quotes}\n").as_bytes()).is_ok());
    // No newline at all.
    assert!(run(format!("FROM {big}").as_bytes()).is_ok());
}

#[test]
fn deeply_nested_json_and_expansions() {
    let deep = "[".repeat(1_000_000);
    assert!(
        run(format!("FROM a\nCMD {deep}\n").as_bytes()).is_ok(),
        "unclosed: shell form"
    );
    let valid = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
    for keyword in ["CMD", "RUN", "COPY", "VOLUME", "HEALTHCHECK CMD"] {
        let outcome = run(format!("FROM a\n{keyword} {valid}\n").as_bytes());
        assert!(
            outcome.is_err_and(|e| e.contains("strings only")),
            "{keyword}"
        );
    }
    let nested_vars = "${a:-".repeat(200_000);
    assert!(run(format!("FROM a\nRUN <<EOF {nested_vars}\n").as_bytes()).is_ok());
    let onbuilds = "ONBUILD ".repeat(200_000);
    let outcome = run(format!("FROM a\n{onbuilds}RUN x\n").as_bytes());
    assert!(outcome.is_err_and(|e| e.contains("ONBUILD ONBUILD")));
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3_000 {
        let len = rng.below(400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = run(&bytes);
    }
}

#[test]
fn random_dockerfile_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "FROM ",
        "RUN ",
        "COPY ",
        "ADD ",
        "ONBUILD ",
        "ENV ",
        "LABEL ",
        "ARG ",
        "HEALTHCHECK ",
        "CMD ",
        "USER ",
        "\n",
        "\r\n",
        " ",
        "\t",
        "\\",
        "`",
        "\\\n",
        "# escape=`\n",
        "# syntax=x\n",
        "#",
        "<<",
        "<<-",
        "EOF",
        "\nEOF\n",
        "'",
        "\"",
        "[",
        "]",
        ",",
        "\"a\"",
        "1",
        "{",
        "}",
        "$",
        "${",
        ":-",
        "=",
        "--",
        "--mount=a",
        "-",
        "\u{a0}",
        "\u{85}",
        "\u{2800}",
        "é",
        "\u{feff}",
        "\0",
        "\u{7f}",
        "NONE",
        "<",
        "3",
        "\t\tEOF\n",
    ];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let count = rng.below(40);
        let src: String = (0..count)
            .map(|_| TOKENS[rng.below(TOKENS.len())])
            .collect();
        if run(src.as_bytes()).is_ok() {
            parsed += 1;
        }
    }
    // The soup must exercise the success paths too, not only errors.
    assert!(parsed > 1_000, "only {parsed} inputs parsed");
}
