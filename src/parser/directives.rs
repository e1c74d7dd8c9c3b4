//! Parser directives (`# syntax=`, `# escape=`, `# check=`) at the top of a
//! Dockerfile, with BuildKit's quirks: keys are case-insensitive, any order,
//! each at most once; the first line that is not a known directive (a blank
//! line, an ordinary comment, an instruction, an unknown key) ends the
//! directive block for good. It does not interpret `syntax` or `check` values.

use super::ast::Directives;

/// Why a directive line was rejected (the caller adds the line number).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DirectiveError {
    #[error("only one {0} parser directive can be used")]
    Duplicate(String),
    #[error(
        "invalid escape token '{0}' does not match ` or \\; use `# escape=\\` or `# escape=``"
    )]
    InvalidEscape(String),
}

/// Scans lines for directives until the block ends.
#[derive(Debug, Default)]
pub struct DirectiveScanner {
    pub directives: Directives,
    done: bool,
    seen_syntax: bool,
    seen_escape: bool,
    seen_check: bool,
}

/// RE2's `\s`: `[\t\n\f\r ]` (no vertical tab).
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Matches `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` and returns the
/// key and value.
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches(is_re_space);
    let key_len = rest
        .char_indices()
        .find(|&(i, c)| {
            if i == 0 {
                !c.is_ascii_alphabetic()
            } else {
                !c.is_ascii_alphanumeric()
            }
        })
        .map_or(rest.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, rest) = rest.split_at(key_len);
    let after_eq = rest.trim_start_matches(is_re_space).strip_prefix('=')?;
    if after_eq.is_empty() {
        return None;
    }
    let value = after_eq.trim_matches(is_re_space);
    if value.is_empty() {
        // `(.+?)` must take one character: with only blanks after `=`, the
        // lazy group ends up holding the last of them.
        let last = after_eq.char_indices().next_back().map_or(0, |(i, _)| i);
        return Some((key, after_eq.get(last..).unwrap_or_default()));
    }
    Some((key, value))
}

impl DirectiveScanner {
    /// True once the directive block has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Looks at one line (newline and leading blanks already trimmed).
    /// Returns true when the line was a directive.
    pub fn scan_line(&mut self, line: &str) -> Result<bool, DirectiveError> {
        if self.done {
            return Ok(false);
        }
        let Some((key, value)) = match_directive(line) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        let seen = match key.as_str() {
            "syntax" => &mut self.seen_syntax,
            "escape" => &mut self.seen_escape,
            "check" => &mut self.seen_check,
            _ => {
                self.done = true;
                return Ok(false);
            }
        };
        if *seen {
            return Err(DirectiveError::Duplicate(key));
        }
        *seen = true;
        match key.as_str() {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => return Err(DirectiveError::InvalidEscape(other.to_string())),
                };
            }
            "syntax" => self.directives.syntax = Some(value.to_string()),
            _ => self.directives.check = Some(value.to_string()),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_the_go_regexp() {
        assert_eq!(match_directive("# escape = `"), Some(("escape", "`")));
        assert_eq!(
            match_directive("#Syntax=docker/dockerfile:1  "),
            Some(("Syntax", "docker/dockerfile:1"))
        );
        assert_eq!(
            match_directive("# check=skip=A;error=true"),
            Some(("check", "skip=A;error=true"))
        );
        assert_eq!(match_directive("# escape=  "), Some(("escape", " ")));
        assert_eq!(match_directive("# escape="), None);
        assert_eq!(match_directive("# 1x=y"), None);
        assert_eq!(match_directive("# just a comment"), None);
        assert_eq!(match_directive("FROM x"), None);
    }

    #[test]
    fn block_rules() {
        let mut d = DirectiveScanner::default();
        assert_eq!(d.scan_line("# ESCAPE=`"), Ok(true));
        assert_eq!(d.scan_line("# syntax=x"), Ok(true));
        assert!(matches!(
            d.scan_line("# Escape=\\"),
            Err(DirectiveError::Duplicate(_))
        ));
        let mut d = DirectiveScanner::default();
        assert!(matches!(
            d.scan_line("# escape=x"),
            Err(DirectiveError::InvalidEscape(_))
        ));
        let mut d = DirectiveScanner::default();
        assert_eq!(d.scan_line("# hello"), Ok(false));
        assert_eq!(d.scan_line("# escape=`"), Ok(false));
        assert_eq!(d.directives.escape, '\\');
    }
}
