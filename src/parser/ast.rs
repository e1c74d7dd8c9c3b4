//! The raw Dockerfile syntax tree, shaped like BuildKit's `parser.Node`:
//! one [`Node`] per instruction, with its keyword, flags, arguments, heredocs
//! and source span. Typed instructions are built from it elsewhere; this module
//! holds data only.

/// Where an instruction sits in its file. Lines are 1-based and inclusive;
/// the range covers continuation lines and the comments inside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start_line: usize,
    pub end_line: usize,
    /// 1-based column of the keyword's first character on `start_line`.
    pub column: usize,
}

/// A heredoc attached to RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, without quotes (`EOF`).
    pub name: String,
    /// The body, with a trailing newline per line; tabs already stripped for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted: the body is not variable-expanded.
    pub expand: bool,
    /// True for `<<-` (leading tabs stripped).
    pub chomp: bool,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The keyword, lower-cased (`from`, `run`, ...).
    pub keyword: String,
    /// The keyword exactly as written (for casing lints and messages).
    pub keyword_raw: String,
    /// The logical line as written, continuations joined, without heredoc bodies.
    pub original: String,
    /// Leading `--flag[=value]` words, with their `--` kept, quotes removed.
    pub flags: Vec<String>,
    /// The arguments as BuildKit's dump shows them (see the conformance data).
    pub args: Vec<String>,
    /// ONBUILD's nested instruction; `args` is then empty.
    pub nested: Option<Box<Node>>,
    /// True when the arguments came from a JSON string array (exec form).
    pub json_form: bool,
    pub heredocs: Vec<Heredoc>,
    pub span: Span,
}

/// A non-fatal finding of the parser (e.g. an empty continuation line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseWarning {
    /// Lint rule name, as BuildKit's build checks call it (e.g. `NoEmptyContinuation`).
    pub rule: &'static str,
    pub message: String,
    pub line: usize,
}

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `\` (default) or `` ` ``.
    pub escape: char,
    pub syntax: Option<String>,
    /// The raw `# check=` value (e.g. `skip=A,B;error=true`).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<ParseWarning>,
    /// First and last line of the instructions (BuildKit's root node range).
    pub span: Span,
}
