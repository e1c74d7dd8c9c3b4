//! Errors of typed-instruction parsing: what is wrong ([`ErrorKind`]) and
//! where ([`InstructionError`]: line and column). Messages follow BuildKit's
//! wording so users can search them; conversion to a [`Diagnostic`] adds the
//! file name.

use crate::parser::diagnostic::Diagnostic;
use thiserror::Error;

/// What is wrong with an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    #[error("unknown instruction: {name}{}", did_you_mean(.hint))]
    UnknownInstruction { name: String, hint: Option<String> },
    #[error("unknown flag --{flag} for {instruction}{}", did_you_mean(.hint))]
    UnknownFlag {
        flag: String,
        instruction: String,
        hint: Option<String>,
    },
    #[error("duplicate flag specified: --{0}")]
    DuplicateFlag(String),
    #[error("missing a value on flag: --{0}")]
    MissingFlagValue(String),
    #[error("expecting boolean value for flag --{flag}, not: {value}")]
    BadBoolFlag { flag: String, value: String },
    #[error("flag should start with --: {0}")]
    FlagSyntax(String),
    /// Wrong number or shape of arguments (`COPY requires at least two arguments...`).
    #[error("{0}")]
    Arguments(String),
    /// A `RUN --mount` option is wrong.
    #[error("invalid --mount: {0}")]
    Mount(String),
    /// Any other invalid value (durations, network modes, stage names...).
    #[error("{0}")]
    Invalid(String),
    /// An instruction that needs a stage came before the first FROM.
    #[error("no build stage in current context: {0} before the first FROM")]
    NoStage(String),
    #[error("file with no instructions")]
    NoInstructions,
    /// Variable expansion failed (`${X:?message}` and malformed substitutions).
    #[error("failed to expand {word:?}: {message}")]
    Expansion { word: String, message: String },
}

fn did_you_mean(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(" (did you mean {h}?)"),
        None => String::new(),
    }
}

/// An [`ErrorKind`] at a place in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("dockerfile parse error on line {line}: {kind}")]
pub struct InstructionError {
    /// 1-based line of the instruction (or of the flag, when known).
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    pub kind: ErrorKind,
}

impl InstructionError {
    pub fn new(line: usize, column: usize, kind: ErrorKind) -> Self {
        InstructionError { line, column, kind }
    }
}

impl From<InstructionError> for Diagnostic {
    fn from(e: InstructionError) -> Self {
        Diagnostic::error(e.line, e.column, e.kind.to_string())
    }
}
