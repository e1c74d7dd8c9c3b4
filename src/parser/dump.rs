//! BuildKit's AST dump (`Node.Dump()`), the format of the conformance
//! `result` files: one `(keyword ["--flag"] "arg" ...)` line per instruction,
//! strings quoted like Go's `strconv.Quote`. Heredoc bodies, comments and
//! directives do not appear. It does not parse anything.

use super::ast::{Dockerfile, Node};
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

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
    if c.is_ascii() {
        // Fast path: the category table lookup is slow for long arguments.
        return (' '..='~').contains(&c);
    }
    !matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator
    )
}

/// Appends `s` quoted like Go's `strconv.Quote`.
pub fn push_go_quoted(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    // Runs of characters that need no escaping are copied in one go; plain
    // ASCII is recognised byte-wise (this matters for megabyte arguments).
    let mut run_start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let width = c.len_utf8();
        if b >= 0x80 && is_go_printable(c) {
            i += width;
            continue;
        }
        out.push_str(s.get(run_start..i).unwrap_or_default());
        push_escaped(out, c);
        i += width;
        run_start = i;
    }
    out.push_str(s.get(run_start..).unwrap_or_default());
    out.push('"');
}

/// Appends `value` as `digits` lower-case hex digits.
fn push_hex(out: &mut String, value: u32, digits: u32) {
    for shift in (0..digits).rev() {
        let nibble = (value >> (shift * 4)) & 0xf;
        out.push(char::from_digit(nibble, 16).unwrap_or('0'));
    }
}

/// The Go escape of one character that is a quote, a backslash or not printable.
fn push_escaped(out: &mut String, c: char) {
    let code = c as u32;
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ if code < 0x20 || code == 0x7f => {
            out.push_str("\\x");
            push_hex(out, code, 2);
        }
        _ if code < 0x10000 => {
            out.push_str("\\u");
            push_hex(out, code, 4);
        }
        _ => {
            out.push_str("\\U");
            push_hex(out, code, 8);
        }
    }
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
