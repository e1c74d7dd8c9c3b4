//! Physical-line handling, the way BuildKit's scanner sees a Dockerfile:
//! lines split at `\n` with the line ending kept (heredoc bodies need it),
//! newline trimming, comment and blank-line tests, and the escape-token line
//! continuation rule. It does not assemble logical lines (see `mod.rs`).

/// Splits `text` into physical lines, each keeping its `\n` (the last line
/// may lack one). An empty input gives no lines.
pub fn physical_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
}

/// Removes every trailing `\r` and `\n` (Go `bytes.TrimRight(s, "\r\n")`).
pub fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Removes leading Unicode white space (Go `unicode.IsSpace` and Rust
/// `char::is_whitespace` agree on the set).
pub fn trim_leading_whitespace(line: &str) -> &str {
    line.trim_start_matches(char::is_whitespace)
}

/// True when the first non-blank character is `#`.
pub fn is_comment(line: &str) -> bool {
    trim_leading_whitespace(line).starts_with('#')
}

/// True when the line holds nothing but white space.
pub fn is_blank(line: &str) -> bool {
    trim_leading_whitespace(trim_newline(line)).is_empty()
}

/// Applies BuildKit's continuation rule: a line ending in the escape token
/// followed only by spaces/tabs continues on the next line, unless that token
/// is itself preceded by the escape token (`foo \\` is not a continuation).
/// Returns the line without the token and trailing blanks, and whether the
/// logical line ends here.
pub fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before_escape) = body.strip_suffix(escape) else {
        return (line, true);
    };
    match before_escape.chars().next_back() {
        // The token alone on its line (after leading blanks were kept or not).
        None => (before_escape, false),
        Some(prev) if prev == escape => (line, true),
        Some(_) => (before_escape, false),
    }
}

/// The 1-based line number of byte `offset` in `src`.
pub fn line_of_offset(src: &[u8], offset: usize) -> usize {
    let end = offset.min(src.len());
    src.get(..end)
        .map_or(0, |head| head.iter().filter(|&&b| b == b'\n').count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("RUN a \\", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a \\  \t", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("RUN a \\\\", '\\'), ("RUN a \\\\", true));
        assert_eq!(trim_continuation("RUN a `", '`'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a \\", '`'), ("RUN a \\", true));
        assert_eq!(trim_continuation("RUN a", '\\'), ("RUN a", true));
    }

    #[test]
    fn lines_keep_endings() {
        let lines: Vec<&str> = physical_lines("a\r\nb\n\nc").collect();
        assert_eq!(lines, vec!["a\r\n", "b\n", "\n", "c"]);
        assert_eq!(trim_newline("a\r\n\r"), "a");
        assert_eq!(line_of_offset(b"a\nb\nc", 4), 3);
    }
}
