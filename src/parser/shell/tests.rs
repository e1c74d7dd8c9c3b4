//! Unit tests for what BuildKit's data files do not cover: pattern
//! modifiers, `?` messages, the backtick escape, matches, raw quotes,
//! skip-unset and robustness against hostile input.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn word(source: &str, pairs: &[(&str, &str)]) -> Result<String, ShellError> {
    Lexer::new('\\').process_word(source, &env(pairs))
}

fn ok(source: &str, pairs: &[(&str, &str)]) -> String {
    word(source, pairs).unwrap_or_else(|err| panic!("{source:?} failed: {err}"))
}

#[test]
fn trim_prefix_and_suffix_with_globs() {
    let v = [("V", "src/main/app.tar.gz")];
    assert_eq!(ok("${V#*/}", &v), "main/app.tar.gz");
    assert_eq!(ok("${V##*/}", &v), "app.tar.gz");
    assert_eq!(ok("${V%.*}", &v), "src/main/app.tar");
    assert_eq!(ok("${V%%.*}", &v), "src/main/app");
    assert_eq!(ok("${V#???}", &v), "/main/app.tar.gz");
    assert_eq!(ok("${V%.??}", &v), "src/main/app.tar");
    assert_eq!(ok("${V#[a-z]}", &v), "rc/main/app.tar.gz");
    assert_eq!(ok("${V##[a-z]*[!a-z]}", &v), "gz");
    assert_eq!(ok("${V#[![:alpha:]]}", &v), "src/main/app.tar.gz");
    assert_eq!(ok("${V#nomatch}", &v), "src/main/app.tar.gz");
    assert_eq!(ok("${V#}", &v), "src/main/app.tar.gz");
    assert_eq!(ok("${V#*}", &v), "src/main/app.tar.gz");
    assert_eq!(ok("${V##*}", &v), "");
    assert_eq!(ok("${V%%*}", &v), "");
    assert_eq!(ok("${UNSET#*}", &v), "");
}

#[test]
fn escaped_glob_characters_are_literal() {
    let v = [("V", "**a*b?c[d]")];
    assert_eq!(ok("${V#\\*}", &v), "*a*b?c[d]");
    assert_eq!(ok("${V##\\*}", &v), "*a*b?c[d]");
    assert_eq!(ok("${V##*\\*}", &v), "b?c[d]");
    assert_eq!(ok("${V%\\?*}", &v), "**a*b");
    assert_eq!(ok("${V%\\[d\\]}", &v), "**a*b?c");
    // An unterminated bracket is an ordinary character.
    assert_eq!(ok("${V%[d]}", &[("V", "x[d]")]), "x[d]");
    assert_eq!(ok("${V#x[}", &[("V", "x[d]")]), "d]");
    // `\}` gets the brace past `${...}`; the pattern sees a plain `}`.
    assert_eq!(ok("${V%\\}}", &[("V", "{a}")]), "{a");
    // A pattern ending in a lone backslash (from a variable) is invalid.
    let err = word("${V#$P}", &[("V", "a"), ("P", "x\\")]);
    assert!(
        matches!(err, Err(ShellError::InvalidPattern { .. })),
        "{err:?}"
    );
}

#[test]
fn patterns_come_from_expanded_variables() {
    let v = [("V", "a-b-c"), ("P", "*-"), ("L", "\\*")];
    assert_eq!(ok("${V#$P}", &v), "b-c");
    assert_eq!(ok("${V##$P}", &v), "c");
    assert_eq!(ok("${V#$L}", &[("V", "*x"), ("L", "\\*")]), "x");
}

#[test]
fn replace_first_and_all() {
    let v = [("V", "/usr/local/lib/local")];
    assert_eq!(ok("${V/local/opt}", &v), "/usr/opt/lib/local");
    assert_eq!(ok("${V//local/opt}", &v), "/usr/opt/lib/opt");
    assert_eq!(ok("${V/l*l/X}", &v), "/usr/X");
    assert_eq!(ok("${V//l?/X}", &v), "/usr/XcaXXb/Xcal");
    assert_eq!(ok("${V//[aeiou]/}", &v), "/sr/lcl/lb/lcl");
    assert_eq!(ok("${V//\\//:}", &v), ":usr:local:lib:local");
    assert_eq!(ok("${V/nothing/X}", &v), "/usr/local/lib/local");
    assert_eq!(
        ok(
            "${V/$P/$R}",
            &[("V", "http://x"), ("P", "http:"), ("R", "https:")]
        ),
        "https://x"
    );
    assert_eq!(ok("${UNSET/a/b}", &v), "");
    // Leftmost match wins, then the longest one starting there.
    assert_eq!(ok("${V/b*c/X}", &[("V", "abcbc")]), "aX");
    assert_eq!(ok("${V/[bc]*/X}", &[("V", "abcbc")]), "aX");
    // An empty pattern matches the empty string, as in BuildKit's Go regexp.
    assert_eq!(ok("${V/$E/-}", &[("V", "ab"), ("E", "")]), "-ab");
    assert_eq!(ok("${V///}", &[("V", "ab")]), "ab");
    assert_eq!(
        word("${V//}", &[("V", "ab")]),
        Err(ShellError::MissingSlash)
    );
    assert_eq!(
        word("${V/a/b", &[("V", "ab")]),
        Err(ShellError::MissingBrace)
    );
}

#[test]
fn replacement_keeps_escapes_like_buildkit() {
    // BuildKit processes pattern and replacement with raw escapes, so an
    // escaped slash stays escaped in the replacement.
    assert_eq!(ok("${V//\\//\\/}", &[("V", "/a/b")]), "\\/a\\/b");
}

#[test]
fn required_variable_messages() {
    let unset = word("${V?}", &[]).unwrap_err();
    assert_eq!(unset.to_string(), "V: is not allowed to be unset");
    let empty = word("${V:?}", &[("V", "")]).unwrap_err();
    assert_eq!(empty.to_string(), "V: is not allowed to be empty");
    let unset_colon = word("${V:?}", &[]).unwrap_err();
    assert_eq!(unset_colon.to_string(), "V: is not allowed to be unset");
    let custom = word("${V:?set V to the $WHAT}", &[("WHAT", "version")]).unwrap_err();
    assert_eq!(custom.to_string(), "V: set V to the version");
    assert_eq!(
        custom,
        ShellError::Required {
            name: "V".into(),
            message: "set V to the version".into()
        }
    );
    let custom_unset = word("${V?need V}", &[]).unwrap_err();
    assert_eq!(custom_unset.to_string(), "V: need V");
    assert_eq!(ok("${V?need V}", &[("V", "")]), "");
    assert_eq!(ok("${V:?need V}", &[("V", "x")]), "x");
}

#[test]
fn dash_and_plus_without_colon_treat_empty_as_set() {
    let v = [("E", "")];
    assert_eq!(ok("[${E-d}][${E:-d}][${U-d}]", &v), "[][d][d]");
    assert_eq!(ok("[${E+p}][${E:+p}][${U+p}]", &v), "[p][][]");
}

#[test]
fn error_messages_follow_buildkit() {
    let cases = [
        (
            "\"abc",
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            "'abc",
            "unexpected end of statement while looking for matching single-quote",
        ),
        ("${}", "syntax error: bad substitution"),
        ("${V", "syntax error: missing '}'"),
        ("${V:-x", "syntax error: missing '}'"),
        ("${V:=x}", "unsupported modifier (:=) in substitution"),
        ("${V=x}", "unsupported modifier (=) in substitution"),
        ("${.}", "unsupported modifier (.) in substitution"),
    ];
    for (source, message) in cases {
        let err = word(source, &[("V", "v")]).unwrap_err();
        assert_eq!(err.to_string(), message, "for {source:?}");
    }
}

#[test]
fn backtick_escape() {
    let lexer = Lexer::new('`');
    let e = env(&[("X", "1")]);
    let run = |s: &str| lexer.process_word(s, &e);
    assert_eq!(run("a`$X").as_deref(), Ok("a$X"));
    assert_eq!(run("C:\\dir\\$X").as_deref(), Ok("C:\\dir\\1"));
    assert_eq!(run("\"q`\"q\"").as_deref(), Ok("q\"q"));
    assert_eq!(run("\"a\\\"").as_deref(), Ok("a\\"));
    assert_eq!(run("a``b").as_deref(), Ok("a`b"));
    assert_eq!(run("end`").as_deref(), Ok("end"));
    assert_eq!(
        lexer.process_words("a` b c", &e),
        Ok(vec!["a b".into(), "c".into()])
    );
    assert_eq!(lexer.escape(), '`');
    assert_eq!(Lexer::default(), Lexer::new('\\'));
}

#[test]
fn matches_report_found_and_missing_names() {
    let e = env(&[("FOO", "x"), ("EMPTY", "")]);
    let (out, found) = Lexer::new('\\')
        .process_word_with_matches("$FOO ${EMPTY:-d} ${MISSING:-${ALSO}} $1 '$QUOTED'", &e)
        .unwrap();
    assert_eq!(out, "x d   $QUOTED");
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(found.matched, names(&["EMPTY", "FOO"]));
    assert_eq!(found.unmatched, names(&["1", "ALSO", "MISSING"]));
    let (_, none) = Lexer::new('\\')
        .process_word_with_matches("plain", &e)
        .unwrap();
    assert_eq!(none, Matches::default());
}

#[test]
fn raw_quotes_keep_quote_characters() {
    let lexer = Lexer::new('\\').raw_quotes(true);
    let e = env(&[("X", "a b")]);
    assert_eq!(
        lexer.process_word("\"$X\"'$X'", &e).as_deref(),
        Ok("\"a b\"'$X'")
    );
    assert_eq!(
        lexer.process_words("k=\"$X\" $X", &e),
        Ok(vec!["k=\"a b\"".into(), "a".into(), "b".into()])
    );
}

#[test]
fn skip_unset_leaves_references_alone() {
    let lexer = Lexer::new('\\').skip_unset(true);
    let e = env(&[("SET", "s")]);
    let cases = [
        ("$U", "$U"),
        ("${U}", "${U}"),
        ("${U:-d}", "${U:-d}"),
        ("${U-$SET}", "${U-s}"),
        ("${U:?msg}", "${U:?msg}"),
        ("${U#x*}", "${U#x*}"),
        ("${U%%x}", "${U%%x}"),
        ("${U/a/b}", "${U/a/b}"),
        ("${U//a/b}", "${U//a/b}"),
        ("$SET${SET:+p}", "sp"),
    ];
    for (source, expected) in cases {
        assert_eq!(
            lexer.process_word(source, &e).as_deref(),
            Ok(expected),
            "for {source:?}"
        );
    }
}

#[test]
fn env_implementations_agree() {
    let pairs = vec![
        ("A".to_string(), "first".to_string()),
        ("A".to_string(), "last".to_string()),
    ];
    let lexer = Lexer::new('\\');
    assert_eq!(lexer.process_word("$A", &pairs).as_deref(), Ok("last"));
    assert_eq!(
        lexer.process_word("$A", &pairs.as_slice()).as_deref(),
        Ok("last")
    );
    let tree: BTreeMap<String, String> = pairs.iter().cloned().collect();
    assert_eq!(lexer.process_word("$A", &tree).as_deref(), Ok("last"));
    let func = |name: &str| (name == "A").then(|| "fn".to_string());
    assert_eq!(lexer.process_word("$A$B", &func).as_deref(), Ok("fn"));
}

/// A 64-bit linear congruential generator: deterministic inputs, no crate.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let levels = 100_000;
    let source = format!("{}x{}", "${a:-".repeat(levels), "}".repeat(levels));
    let quoted = format!("{}x{}", "\"${a:-".repeat(levels), "}\"".repeat(levels));
    // Half the default 2 MiB thread stack: the depth bound must leave a
    // margin even in unoptimised builds (about 6 KiB per level there).
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let e = env(&[]);
            let lexer = Lexer::new('\\');
            let shallow = format!(
                "{}x{}",
                "${a:-".repeat(MAX_NESTING),
                "}".repeat(MAX_NESTING)
            );
            (
                lexer.process_word(&source, &e),
                lexer.process_word(&quoted, &e),
                lexer.process_word(&shallow, &e),
            )
        })
        .unwrap();
    let (deep, deep_quoted, shallow) = handle.join().unwrap();
    assert_eq!(deep, Err(ShellError::TooDeep(MAX_NESTING)));
    assert_eq!(deep_quoted, Err(ShellError::TooDeep(MAX_NESTING)));
    assert_eq!(shallow.as_deref(), Ok("x"));
}

#[test]
fn random_input_never_panics() {
    let alphabet: Vec<char> = "${}:-+?#%/\\'\"` aZ_1*[]!.\u{e9}\u{D55C}\n"
        .chars()
        .collect();
    let e = env(&[("a", "v a l"), ("Z", ""), ("_1", "*")]);
    let mut state = 7;
    for round in 0..20_000 {
        let len = (lcg(&mut state) % 24) as usize;
        let source: String = (0..len)
            .map(|_| alphabet[(lcg(&mut state) as usize) % alphabet.len()])
            .collect();
        let escape = if round % 2 == 0 { '\\' } else { '`' };
        let lexer = Lexer::new(escape)
            .raw_quotes(round % 3 == 0)
            .skip_unset(round % 5 == 0);
        let joined = lexer.process_word(&source, &e);
        let fields = lexer.process_words(&source, &e);
        assert_eq!(joined.is_ok(), fields.is_ok(), "for {source:?}");
    }
    // Arbitrary bytes made valid UTF-8.
    for _ in 0..2_000 {
        let bytes: Vec<u8> = (0..64).map(|_| lcg(&mut state) as u8).collect();
        let source = String::from_utf8_lossy(&bytes);
        let _ = Lexer::new('\\').process_words(&source, &e);
    }
}

#[test]
fn ten_megabyte_words() {
    let big = "ab ".repeat(10 * 1024 * 1024 / 3);
    let e = env(&[("BIG", &big)]);
    let lexer = Lexer::new('\\');
    assert_eq!(lexer.process_word(&big, &e).map(|w| w.len()), Ok(big.len()));
    let fields = lexer.process_words("$BIG", &e).unwrap();
    assert_eq!(fields.len(), big.len() / 3);
    let quoted = format!("\"{big}\"");
    assert_eq!(
        lexer.process_word(&quoted, &e).map(|w| w.len()),
        Ok(big.len())
    );
    // `$$` is the (never set) special parameter `$`.
    let dollars = "$".repeat(2 * 1024 * 1024);
    assert_eq!(lexer.process_word(&dollars, &e).as_deref(), Ok(""));
}

#[test]
fn megabyte_values_through_patterns() {
    // 1 MiB keeps unoptimised test builds quick; the matcher is
    // O(text x pattern) with no backtracking, see benches for 10 MiB.
    let big = "ab ".repeat(1024 * 1024 / 3);
    let v = [("BIG", big.as_str())];
    assert_eq!(ok("${BIG%% *}", &v), "ab");
    assert_eq!(ok("${BIG% *}", &v).len(), big.len() - 1);
    assert_eq!(ok("${BIG#*b }", &v).len(), big.len() - 3);
    assert_eq!(ok("${BIG##*b }", &v), "");
    assert_eq!(ok("${BIG//b /-}", &v).len(), big.len() / 3 * 2);
    assert_eq!(ok("${BIG/*a/-}", &v), "-b ");
    // A pattern that never matches must not go quadratic either.
    assert_eq!(ok("${BIG//a*z/-}", &v).len(), big.len());
}

#[test]
fn nested_replacements_cannot_exhaust_memory() {
    // Found by `cargo fuzz run lexer`: each level multiplies the size, so 30
    // levels would need gigabytes. It must stop with an error instead.
    let word = format!("{}xx{}", "${A//?/".repeat(30), "}".repeat(30));
    let e = env(&[("A", "a b")]);
    let err = Lexer::new('\\').process_word(&word, &e).unwrap_err();
    assert_eq!(err, ShellError::TooLong(MAX_WORD_BYTES));
    // A few levels still work and give bash's answer.
    assert_eq!(ok("${A//?/${A//?/x}}", &[("A", "a b")]), "xxxxxxxxx");
}
