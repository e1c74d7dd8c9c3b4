//! Turns one logical line into a [`Node`]: keyword, flags, arguments, and the
//! nested trigger of ONBUILD (BuildKit `newNodeFromLine` + `splitCommand`).
//! Spans and heredoc bodies are filled in by the caller.

use super::ast::{Node, Span};
use super::error::ParseError;
use super::flags::extract_flags;
use super::split::split_args;

/// BuildKit's `[\t\v\f\r ]`, which separates the keyword from the rest.
fn is_keyword_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits a logical line into (keyword as written, rest after the separator).
fn split_keyword(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.split_once(is_keyword_space) {
        Some((keyword, rest)) => (keyword, rest.trim_start_matches(is_keyword_space)),
        None => (line, ""),
    }
}

/// Builds the node for `line`; `line_no` is where the instruction starts (for
/// errors only).
pub fn node_from_line(line: &str, escape: char, line_no: usize) -> Result<Node, ParseError> {
    build(line, escape, line_no, true)
}

fn build(line: &str, escape: char, line_no: usize, top_level: bool) -> Result<Node, ParseError> {
    let (keyword_raw, after_keyword) = split_keyword(line);
    let (rest, flags) = extract_flags(after_keyword);
    let rest = rest.trim();
    let keyword = keyword_raw.to_lowercase();
    let mut node = Node {
        keyword,
        keyword_raw: keyword_raw.to_string(),
        original: line.to_string(),
        flags,
        args: Vec::new(),
        nested: None,
        json_form: false,
        heredocs: Vec::new(),
        span: Span::default(),
    };
    let fail = |message: String| ParseError::Instruction {
        line: line_no,
        message,
    };
    if node.keyword == "onbuild" {
        if rest.is_empty() {
            return Ok(node);
        }
        if !top_level {
            return Err(fail(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string(),
            ));
        }
        let (trigger, _) = split_keyword(rest);
        match trigger.to_lowercase().as_str() {
            "onbuild" => {
                return Err(fail(
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string(),
                ))
            }
            "from" | "maintainer" => {
                return Err(fail(format!(
                    "{} isn't allowed as an ONBUILD trigger",
                    trigger.to_uppercase()
                )))
            }
            _ => {}
        }
        let nested = build(rest, escape, line_no, false)?;
        node.nested = Some(Box::new(nested));
        return Ok(node);
    }
    let split = split_args(&node.keyword, rest, escape)
        .map_err(|err| fail(format!("{}: {err}", node.keyword.to_uppercase())))?;
    node.args = split.args;
    node.json_form = split.json_form;
    Ok(node)
}

/// Whether heredoc bodies follow this instruction: RUN/COPY/ADD in shell
/// form, also as an ONBUILD trigger.
pub fn can_contain_heredoc(node: &Node) -> bool {
    let target = match (&node.nested, node.keyword.as_str()) {
        (Some(nested), "onbuild") => nested,
        _ => node,
    };
    matches!(target.keyword.as_str(), "run" | "copy" | "add") && !target.json_form
}
