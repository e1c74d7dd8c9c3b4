//! BuildKit's AST dump (`Node.Dump()`), the format of the conformance
//! `result` files: one `(keyword ["--flag"] "arg" ...)` line per instruction,
//! strings quoted like Go's `strconv.Quote`. Heredoc bodies, comments and
//! directives do not appear. It does not parse anything.

use super::ast::{Dockerfile, Node};
use std::fmt::Write as _;
use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// The whole file: one line per instruction, each ending in `\n`.
pub fn dump(df: &Dockerfile) -> String {
    let mut out = String::new();
    for node in &df.nodes {
        out.push('(');
        out.push_str(&dump_node(node));
        out.push_str(")\n");
    }
    out
}

/// One instruction without its outer parentheses' line break, e.g.
/// `run "echo hi"` is returned as `run "echo hi"` inside `(...)`.
pub fn dump_node(n: &Node) -> String {
    let mut out = n.keyword.to_lowercase();
    if !n.flags.is_empty() {
        out.push_str(" [");
        for (i, flag) in n.flags.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push_go_quoted(&mut out, flag);
        }
        out.push(']');
    }
    if let Some(nested) = &n.nested {
        out.push_str(" (");
        out.push_str(&dump_node(nested));
        out.push(')');
    }
    for arg in &n.args {
        out.push(' ');
        push_go_quoted(&mut out, arg);
    }
    // BuildKit trims the dump; only an empty keyword can leave a blank.
    out.trim_matches(char::is_whitespace).to_string()
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols
/// and the ASCII space.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        Gc::Control
            | Gc::Format
            | Gc::Surrogate
            | Gc::PrivateUse
            | Gc::Unassigned
            | Gc::SpaceSeparator
            | Gc::LineSeparator
            | Gc::ParagraphSeparator
    )
}

/// Appends `s` quoted like Go's `strconv.Quote`.
pub fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_go_printable(c) => out.push(c),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// `s` quoted like Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_quoted(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            go_quote("\u{7}\u{8}\u{c}\n\r\t\u{b}\0\u{1f}\u{7f}"),
            r#""\a\b\f\n\r\t\v\x00\x1f\x7f""#
        );
        assert_eq!(go_quote("♥ é"), "\"♥ é\"");
        assert_eq!(
            go_quote("\u{a0}\u{85}\u{200b}\u{feff}"),
            r#""\u00a0\u0085\u200b\ufeff""#
        );
        assert_eq!(go_quote("\u{e0001}"), r#""\U000e0001""#);
        assert_eq!(go_quote("😀"), "\"😀\"");
    }
}
