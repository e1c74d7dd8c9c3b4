//! One `.dockerignore` pattern, compiled the way moby/patternmatcher does:
//! Go `filepath.Match` syntax plus `**`, turned into an exact, prefix or
//! suffix comparison when possible and into an anchored regex otherwise.
//! Patterns arrive already cleaned; this module does no file reading and
//! knows nothing about exceptions' order (see [`super::dockerignore`]).

use regex::Regex;

/// How a pattern is matched; the cheap kinds avoid a regex, as Docker does.
#[derive(Debug)]
pub(super) enum MatchKind {
    /// The whole path equals the cleaned pattern.
    Exact,
    /// The path starts with this (pattern `foo**`, `foo/**`).
    Prefix(String),
    /// The path ends with this, or equals it minus a leading `/` (`**/foo`).
    Suffix(String),
    Regex(Regex),
}

#[derive(Debug)]
pub(super) struct Pattern {
    /// `!pattern`: an exception that re-includes what it matches.
    pub(super) exclusion: bool,
    /// The cleaned pattern text, without the `!`.
    pub(super) cleaned: String,
    pub(super) kind: MatchKind,
}

impl Pattern {
    pub(super) fn matches(&self, path: &str) -> bool {
        match &self.kind {
            MatchKind::Exact => path == self.cleaned,
            MatchKind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            MatchKind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix
                        .strip_prefix('/')
                        .is_some_and(|without_slash| path == without_slash)
            }
            MatchKind::Regex(re) => re.is_match(path),
        }
    }

    /// True when the pattern matches `path` or any of its parent directories.
    pub(super) fn matches_self_or_parent(&self, path: &str) -> bool {
        if self.matches(path) {
            return true;
        }
        // Every proper ancestor: "a", "a/b", ... (not the path itself).
        path.match_indices('/')
            .any(|(slash, _)| self.matches(&path[..slash]))
    }
}

/// `foo/**` and `foo/*` -> `foo`, as BuildKit's walker compares prefixes.
pub(super) fn without_trailing_glob(pattern: &str) -> &str {
    let pattern = pattern.strip_suffix("/**").unwrap_or(pattern);
    pattern.strip_suffix("/*").unwrap_or(pattern)
}

pub(super) fn contains_wildcards(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Translates one cleaned pattern the way moby/patternmatcher does: literal
/// patterns compare as strings, `foo**` and `**foo` as prefix/suffix, and
/// everything else becomes an anchored regex.
pub(super) fn compile_pattern(pattern: &str) -> Result<MatchKind, String> {
    check_go_syntax(pattern)?;
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut detected = Detected::Exact;
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut first = true;
    while let Some(ch) = chars.next() {
        let at_start = std::mem::replace(&mut first, false);
        match ch {
            '*' if !in_class => {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    // `**/` is treated as `**`.
                    if chars.peek() == Some(&'/') {
                        chars.next();
                    }
                    if chars.peek().is_none() {
                        // Trailing `**` accepts everything below, like .gitignore.
                        if detected == Detected::Exact {
                            detected = Detected::Prefix;
                        } else {
                            re.push_str(".*");
                            detected = Detected::Regex;
                        }
                    } else {
                        // Any number of directories, including none.
                        re.push_str("(.*/)?");
                        detected = Detected::Regex;
                    }
                    if at_start {
                        detected = Detected::Suffix;
                    }
                } else {
                    re.push_str("[^/]*");
                    detected = Detected::Regex;
                }
            }
            '?' if !in_class => {
                re.push_str("[^/]");
                detected = Detected::Regex;
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    detected = Detected::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                if in_class && ch == '[' {
                    // Go treats `[` inside a class as a literal; Rust would nest.
                    re.push_str("\\[");
                } else {
                    re.push(ch);
                    if ch == '[' {
                        in_class = true;
                        if chars.peek() == Some(&'^') {
                            chars.next();
                            re.push('^');
                        }
                        // A `]` right after `[` or `[^` is a Go syntax error;
                        // let it through so the regex compiler rejects `[]`.
                    } else {
                        in_class = false;
                    }
                }
                detected = Detected::Regex;
            }
            // Regex metacharacters that mean nothing in filepath.Match, plus
            // the class operators Rust's regex has and Go's has not.
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '&' | '~' if in_class => {
                re.push('\\');
                re.push(ch);
            }
            _ => re.push(ch),
        }
    }
    match detected {
        Detected::Exact => Ok(MatchKind::Exact),
        Detected::Prefix => {
            let prefix = pattern.strip_suffix("**").unwrap_or(pattern);
            Ok(MatchKind::Prefix(prefix.to_string()))
        }
        Detected::Suffix => {
            let suffix = pattern.get(2..).unwrap_or("");
            Ok(MatchKind::Suffix(suffix.to_string()))
        }
        Detected::Regex => {
            re.push('$');
            Regex::new(&re)
                .map(MatchKind::Regex)
                .map_err(|e| format!("not a valid match pattern ({e})"))
        }
    }
}

/// Rejects what Go's `filepath.Match` rejects (Docker validates every
/// pattern with it): a trailing `\`, and character classes that are empty,
/// unclosed, or have a range end that is missing, `-` or `]` unescaped.
fn check_go_syntax(pattern: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("syntax error in pattern: {why}"));
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return bad("trailing backslash"),
            '[' => {
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                let mut ranges = 0usize;
                loop {
                    if ranges > 0 && chars.peek() == Some(&']') {
                        chars.next();
                        break;
                    }
                    // One class member: a character or a `lo-hi` range.
                    for end in 0..2 {
                        match chars.next() {
                            None => return bad("unclosed character class"),
                            Some('-' | ']') => {
                                return bad("misplaced '-' or ']' in character class")
                            }
                            Some('\\') => {
                                if chars.next().is_none() {
                                    return bad("trailing backslash");
                                }
                            }
                            Some(_) => {}
                        }
                        if chars.peek().is_none() {
                            return bad("unclosed character class");
                        }
                        if end == 0 && chars.peek() == Some(&'-') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    ranges += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
