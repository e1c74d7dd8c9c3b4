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

#[test]
fn plain_expansion() {
    assert_eq!(word("a${X}b", &[("X", "1")]).as_deref(), Ok("a1b"));
}
