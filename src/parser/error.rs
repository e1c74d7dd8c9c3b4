//! The error type of the raw Dockerfile parser. Every error carries the
//! 1-based line where the offending instruction (or directive) starts, so the
//! CLI can point at it; it does not know the file name (the caller adds it).

/// Why a Dockerfile could not be turned into a syntax tree.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The input is not UTF-8 text.
    #[error("line {line}: the Dockerfile is not valid UTF-8 (byte {offset} of the file); save it as UTF-8")]
    InvalidUtf8 { line: usize, offset: usize },

    /// No instruction at all (empty file, or only comments and directives).
    #[error(
        "line {line}: file with no instructions; a Dockerfile needs at least a FROM instruction"
    )]
    NoInstructions { line: usize },

    /// A parser directive at the top of the file is repeated or has a bad value.
    #[error("line {line}: {message}")]
    Directive { line: usize, message: String },

    /// An instruction's arguments are malformed (ENV without value, JSON array
    /// with a non-string element, a forbidden ONBUILD trigger, ...).
    #[error("line {line}: {message}")]
    Instruction { line: usize, message: String },

    /// A heredoc body was not closed by its delimiter before the end of the file.
    #[error("line {line}: unterminated heredoc: no line `{name}` closes the heredoc started here")]
    UnterminatedHeredoc { line: usize, name: String },
}

impl ParseError {
    /// The 1-based line the error refers to.
    pub fn line(&self) -> usize {
        match self {
            ParseError::InvalidUtf8 { line, .. }
            | ParseError::NoInstructions { line }
            | ParseError::Directive { line, .. }
            | ParseError::Instruction { line, .. }
            | ParseError::UnterminatedHeredoc { line, .. } => *line,
        }
    }

    /// The message without the `line N:` prefix.
    pub fn message(&self) -> String {
        let full = self.to_string();
        match full.split_once(": ") {
            Some((_, rest)) => rest.to_string(),
            None => full,
        }
    }
}
