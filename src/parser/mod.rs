//! The Dockerfile front end: bytes -> [`ast::Dockerfile`] (BuildKit-compatible
//! syntax tree). It does not expand variables, resolve images or touch the
//! filesystem; later stages of the front end do that.
//!
//! [`parse`] follows BuildKit's `parser.Parse`: directives at the top, logical
//! lines assembled from continuations (comments and blank lines inside them
//! skipped), each instruction split into keyword, flags and arguments, and
//! heredoc bodies read after RUN/COPY/ADD lines. [`dump`] prints the tree in
//! BuildKit's test format.

pub mod args;
pub mod ast;
pub mod diagnostic;
mod directives;
mod dump;
mod error;
mod flags;
mod heredoc;
pub mod instructions;
mod json;
mod lines;
mod node;
pub mod shell;
mod split;
pub mod stages;

pub use directives::DirectiveError;
pub use dump::{dump, dump_node, go_quote};
pub use error::ParseError;

use ast::{Dockerfile, ParseWarning, Span};
use directives::DirectiveScanner;
use lines::{
    is_blank, is_comment, physical_lines, trim_continuation, trim_leading_whitespace, trim_newline,
};

const UTF8_BOM: char = '\u{feff}';

/// Parses a Dockerfile. Fails on non-UTF-8 input, bad directives, malformed
/// arguments (ENV without value, JSON arrays of non-strings, forbidden ONBUILD
/// triggers), unterminated heredocs, and files without instructions.
pub fn parse(src: &[u8]) -> Result<Dockerfile, ParseError> {
    let text = std::str::from_utf8(src).map_err(|err| ParseError::InvalidUtf8 {
        line: lines::line_of_offset(src, err.valid_up_to()),
        offset: err.valid_up_to(),
    })?;
    let mut scanner = DirectiveScanner::default();
    let mut physical = physical_lines(text);
    let mut current_line = 0usize;
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut logical = String::new();

    while let Some(mut raw) = physical.next() {
        if current_line == 0 {
            raw = raw.strip_prefix(UTF8_BOM).unwrap_or(raw);
        }
        current_line += 1;
        let trimmed_newline = trim_newline(raw);
        let first = trim_leading_whitespace(trimmed_newline);
        let indent = trimmed_newline.len() - first.len();
        let column = trimmed_newline
            .get(..indent)
            .map_or(0, |s| s.chars().count())
            + 1;
        if !scanner.is_done() {
            scanner
                .scan_line(first)
                .map_err(|err| ParseError::Directive {
                    line: current_line,
                    message: err.to_string(),
                })?;
        }
        let first = if is_comment(first) { "" } else { first };
        let start_line = current_line;
        let (part, mut end_of_line) = trim_continuation(first, scanner.directives.escape);
        if end_of_line && part.is_empty() {
            continue;
        }
        logical.clear();
        logical.push_str(part);

        let mut has_empty_continuation = false;
        while !end_of_line {
            let Some(raw) = physical.next() else { break };
            current_line += 1;
            if is_comment(raw) {
                continue;
            }
            if is_blank(raw) {
                has_empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(trim_newline(raw), scanner.directives.escape);
            end_of_line = eol;
            logical.push_str(part);
        }
        if has_empty_continuation {
            warnings.push(ParseWarning {
                rule: "NoEmptyContinuation",
                message: format!(
                    "Empty continuation line found in: {}; empty continuation lines will become errors in a future release",
                    preview(&logical)
                ),
                line: current_line,
            });
        }

        let mut node = node::node_from_line(&logical, scanner.directives.escape, start_line)?;
        if node::can_contain_heredoc(&node) && logical.contains("<<") {
            let mut docs =
                heredoc::heredocs_from_line(&logical).map_err(|err| ParseError::Instruction {
                    line: start_line,
                    message: err.to_string(),
                })?;
            for doc in &mut docs {
                read_heredoc_body(doc, &mut physical, &mut current_line, start_line)?;
            }
            if let Some(nested) = node.nested.as_mut() {
                nested.heredocs.clone_from(&docs);
            }
            node.heredocs = docs;
        }
        let span = Span {
            start_line,
            end_line: current_line,
            column,
        };
        node.span = span;
        if let Some(nested) = node.nested.as_mut() {
            nested.span = span;
        }
        nodes.push(node);
    }

    let (Some(first), Some(last)) = (nodes.first(), nodes.last()) else {
        return Err(ParseError::NoInstructions {
            line: current_line.max(1),
        });
    };
    let span = Span {
        start_line: first.span.start_line,
        end_line: last.span.end_line,
        column: 1,
    };
    Ok(Dockerfile {
        directives: scanner.directives,
        nodes,
        warnings,
        span,
    })
}

/// Reads body lines up to the delimiter line (leading tabs ignored for `<<-`).
/// The body keeps its line endings; for `<<-` its leading tabs are removed.
fn read_heredoc_body<'a>(
    doc: &mut ast::Heredoc,
    physical: &mut impl Iterator<Item = &'a str>,
    current_line: &mut usize,
    start_line: usize,
) -> Result<(), ParseError> {
    let mut content = String::new();
    for raw in physical.by_ref() {
        *current_line += 1;
        let mut candidate = trim_newline(raw);
        if doc.chomp {
            candidate = candidate.trim_start_matches('\t');
        }
        if candidate == doc.name {
            doc.content = if doc.chomp {
                heredoc::chomp_tabs(&content)
            } else {
                content
            };
            return Ok(());
        }
        content.push_str(raw);
    }
    Err(ParseError::UnterminatedHeredoc {
        line: start_line,
        name: doc.name.clone(),
    })
}

/// The start of a logical line, for messages (lines can be megabytes long).
fn preview(line: &str) -> String {
    const MAX_CHARS: usize = 80;
    let mut chars = line.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}
