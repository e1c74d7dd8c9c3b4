//! Exec-form detection: is an instruction's argument text a JSON array of
//! strings? Mirrors BuildKit, which decodes the first JSON value with Go's
//! `encoding/json` and ignores whatever follows it. Invalid JSON is simply
//! "not JSON" (shell form); valid JSON with a non-string element is an error.
//!
//! Known differences from Go: a lone UTF-16 surrogate escape (`"\ud800"`) is
//! invalid for serde_json (Go decodes it to U+FFFD), so such an array is
//! taken as shell form. Deep nesting is safe: serde_json skips ignored
//! values without recursion (its recursion limit would give `TooDeep`).

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What the argument text turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonArgs {
    /// A JSON array whose elements are all strings (exec form).
    Strings(Vec<String>),
    /// Not a JSON array (shell form).
    NotJson,
}

/// Why a JSON array cannot be used.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum JsonArgsError {
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    #[error("the JSON array is nested too deeply")]
    TooDeep,
}

/// One element of the array: a string, or anything else (fully validated so
/// that a later syntax error still means "not JSON", as in Go).
enum Element {
    Str(String),
    Other,
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Element, E> {
        Ok(Element::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Element, E> {
        Ok(Element::Str(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Element, E> {
        Ok(Element::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Element, E> {
        Ok(Element::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Element, E> {
        Ok(Element::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Element, E> {
        Ok(Element::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Element, E> {
        Ok(Element::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Element::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Element::Other)
    }
}

impl<'de> de::Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Element, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

/// Parses `text` (leading white space allowed) as a JSON array of strings.
pub fn parse_json_args(text: &str) -> Result<JsonArgs, JsonArgsError> {
    let text = text.trim_start_matches(char::is_whitespace);
    if !text.starts_with('[') {
        return Ok(JsonArgs::NotJson);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    // Only the first value is read: trailing text is ignored, as Go's
    // json.Decoder.Decode does.
    let elements: Vec<Element> = match de::Deserialize::deserialize(&mut de) {
        Ok(elements) => elements,
        Err(err) if err.to_string().starts_with("recursion limit exceeded") => {
            return Err(JsonArgsError::TooDeep)
        }
        Err(_) => return Ok(JsonArgs::NotJson),
    };
    let mut strings = Vec::with_capacity(elements.len());
    for element in elements {
        match element {
            Element::Str(s) => strings.push(s),
            Element::Other => return Err(JsonArgsError::NotStringArray),
        }
    }
    Ok(JsonArgs::Strings(strings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Result<JsonArgs, JsonArgsError> {
        Ok(JsonArgs::Strings(v.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn go_decoder_semantics() {
        assert_eq!(parse_json_args("[]"), strings(&[]));
        assert_eq!(
            parse_json_args(" [\"a\", \"b\"] trailing"),
            strings(&["a", "b"])
        );
        assert_eq!(parse_json_args("[\"\\/\\u0000\"]"), strings(&["/\0"]));
        assert_eq!(parse_json_args("['a']"), Ok(JsonArgs::NotJson));
        assert_eq!(parse_json_args("[\"a\""), Ok(JsonArgs::NotJson));
        assert_eq!(parse_json_args("\"[]\""), Ok(JsonArgs::NotJson));
        assert_eq!(
            parse_json_args("[\"a\", [\"b\"]]"),
            Err(JsonArgsError::NotStringArray)
        );
        assert_eq!(parse_json_args("[1]"), Err(JsonArgsError::NotStringArray));
        assert_eq!(
            parse_json_args("[null]"),
            Err(JsonArgsError::NotStringArray)
        );
        assert_eq!(
            parse_json_args("[{\"a\": 1}]"),
            Err(JsonArgsError::NotStringArray)
        );
        // A syntax error after a non-string element still means "not JSON".
        assert_eq!(parse_json_args("[1, ]"), Ok(JsonArgs::NotJson));
        // serde_json skips ignored values without recursion, so depth is no
        // problem inside an element: valid is "not strings", unclosed is "not JSON".
        let deep = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_json_args(&deep), Err(JsonArgsError::NotStringArray));
        assert_eq!(parse_json_args(&"[".repeat(100_000)), Ok(JsonArgs::NotJson));
    }
}
