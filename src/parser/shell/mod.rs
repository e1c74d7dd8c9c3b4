//! Dockerfile shell-word processing, the equivalent of BuildKit's
//! `frontend/dockerfile/shell` package: quote removal, the escape character,
//! `$VAR` / `${VAR...}` expansion and whitespace field splitting of one
//! instruction word.
//!
//! Supported: `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`,
//! `${VAR+w}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#p}`, `${VAR##p}`,
//! `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}` (glob patterns, see
//! [`pattern`]). Positional and special parameters (`$1`, `$@`, ...) are
//! never set. This module does not run commands (no `$(...)` or backticks),
//! does not assign (`${VAR:=w}` is an error) and knows nothing about which
//! instruction a word came from; callers add file/line context to errors.
//!
//! Deliberate differences from BuildKit: `[...]` bracket expressions work
//! in patterns as in POSIX shells (BuildKit matches `[` literally, so
//! `${V#[ab]}` differs) and any character may be escaped there (BuildKit
//! rejects `\x` other than `\*`, `\?`, `\\`); a `$` in a `/` replacement is
//! plain text (Go's regexp would treat `$1` as a group); with
//! [`Lexer::skip_unset`], `${UNSET//p/r}` is given back with both slashes.

mod expand;
pub mod pattern;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use expand::{MAX_NESTING, MAX_WORD_BYTES};

/// Where variable values come from.
pub trait Env {
    /// The value of `name`, or `None` when it is unset (set-but-empty is
    /// `Some("")`).
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Env for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// An ordered list of definitions; the last entry with the name wins, like
/// a Dockerfile's `ENV`/`ARG` history.
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

/// Lets a borrowed slice be passed as `&dyn Env` (`&pairs.as_slice()`).
impl Env for &[(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        (**self).lookup(name)
    }
}

impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn lookup(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Which variable names a word referred to, split by whether the
/// environment had them (feeds the UndefinedVar lint).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    pub matched: BTreeSet<String>,
    pub unmatched: BTreeSet<String>,
}

/// Why a word could not be processed. Messages follow BuildKit's.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum ShellError {
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(char),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR?msg}` / `${VAR:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("variable substitutions nested more than {0} levels deep")]
    TooDeep(usize),
    #[error("a substitution's result is larger than {0} bytes")]
    TooLong(usize),
}

/// Processes Dockerfile words. Cheap to build and copy; holds no state
/// between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    skip_unset: bool,
}

/// Uses the default escape character, a backslash.
impl Default for Lexer {
    fn default() -> Lexer {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// A lexer using `escape` (`\` or `` ` `` from the `# escape=`
    /// directive) as its escape character.
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            skip_unset: false,
        }
    }

    /// Keep quote characters in the output (BuildKit `RawQuotes`).
    pub fn raw_quotes(self, yes: bool) -> Lexer {
        Lexer {
            raw_quotes: yes,
            ..self
        }
    }

    /// Leave references to unset variables as written, e.g. `$UNSET` or
    /// `${UNSET:-x}` (BuildKit `SkipUnsetEnv`).
    pub fn skip_unset(self, yes: bool) -> Lexer {
        Lexer {
            skip_unset: yes,
            ..self
        }
    }

    /// The escape character this lexer uses.
    pub fn escape(&self) -> char {
        self.escape
    }

    fn options(&self) -> expand::Options {
        expand::Options {
            escape: self.escape,
            raw_quotes: self.raw_quotes,
            skip_unset: self.skip_unset,
        }
    }

    /// Expands `word` into one string; whitespace from expansions is kept.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        Ok(expand::expand(word, env, self.options(), false)?.word)
    }

    /// Expands `word` and splits it into fields: unquoted expansions and
    /// unquoted whitespace separate fields, quoted text never does.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        Ok(expand::expand(word, env, self.options(), true)?.fields)
    }

    /// Like [`Lexer::process_word`], also reporting which variable names
    /// were found and which were not.
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<(String, Matches), ShellError> {
        let expansion = expand::expand(word, env, self.options(), false)?;
        Ok((expansion.word, expansion.matches))
    }
}
