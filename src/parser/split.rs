//! Per-instruction argument splitting, following BuildKit's dispatch table
//! (`line_parsers.go`): whitespace lists (FROM, EXPOSE), maybe-JSON lists
//! (ADD, COPY, VOLUME), maybe-JSON commands (RUN, CMD, ENTRYPOINT, SHELL),
//! key/value pairs (ENV, LABEL), ARG words, HEALTHCHECK, single strings.
//! ONBUILD is handled by the caller (it nests a whole instruction). Nothing
//! here expands variables or removes quotes.

use super::json::{parse_json_args, JsonArgs, JsonArgsError};

/// The arguments of one instruction, as BuildKit's dump shows them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SplitArgs {
    pub args: Vec<String>,
    /// True when the arguments came from a JSON string array.
    pub json_form: bool,
}

/// Why the arguments are malformed (the caller adds the line).
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum SplitError {
    #[error(transparent)]
    Json(#[from] JsonArgsError),
    #[error("{0} must have two arguments")]
    MissingValue(&'static str),
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
}

/// BuildKit's `[\t\v\f\r ]`, the separator of whitespace-delimited lists.
fn is_list_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits the arguments `rest` (flags removed, trimmed) of instruction
/// `keyword` (lower-case). `escape` is the directive's escape token.
pub fn split_args(keyword: &str, rest: &str, escape: char) -> Result<SplitArgs, SplitError> {
    match keyword {
        "from" | "expose" => Ok(plain(whitespace_list(rest))),
        "add" | "copy" | "volume" => maybe_json_list(rest),
        "run" | "cmd" | "entrypoint" | "shell" => maybe_json(rest),
        "env" => name_values(rest, "ENV", escape).map(plain),
        "label" => name_values(rest, "LABEL", escape).map(plain),
        "arg" => Ok(plain(parse_words(rest, escape))),
        "healthcheck" => health_config(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => Ok(plain(if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest.to_string()]
        })),
        // Unknown instructions keep one empty argument node in BuildKit.
        _ => Ok(plain(vec![String::new()])),
    }
}

fn plain(args: Vec<String>) -> SplitArgs {
    SplitArgs {
        args,
        json_form: false,
    }
}

fn whitespace_list(rest: &str) -> Vec<String> {
    rest.split(is_list_space)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn maybe_json_list(rest: &str) -> Result<SplitArgs, SplitError> {
    match parse_json_args(rest)? {
        JsonArgs::Strings(args) => Ok(SplitArgs {
            args,
            json_form: true,
        }),
        JsonArgs::NotJson => Ok(plain(whitespace_list(rest))),
    }
}

fn maybe_json(rest: &str) -> Result<SplitArgs, SplitError> {
    if rest.is_empty() {
        return Ok(SplitArgs::default());
    }
    match parse_json_args(rest)? {
        JsonArgs::Strings(args) => Ok(SplitArgs {
            args,
            json_form: true,
        }),
        JsonArgs::NotJson => Ok(plain(vec![rest.to_string()])),
    }
}

/// `unicode.IsSpace(rune(b))` for a single byte (HEALTHCHECK scans bytes).
fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// Slices `s` at byte positions that BuildKit may place inside a character.
fn lossy_slice(s: &str, from: usize, to: usize) -> String {
    match s.get(from..to) {
        Some(part) => part.to_string(),
        None => {
            String::from_utf8_lossy(s.as_bytes().get(from..to).unwrap_or_default()).into_owned()
        }
    }
}

/// `HEALTHCHECK [flags] TYPE rest`: the type word, then `rest` like CMD.
fn health_config(rest: &str) -> Result<SplitArgs, SplitError> {
    let bytes = rest.as_bytes();
    let sep = bytes
        .iter()
        .position(|&b| is_space_byte(b))
        .unwrap_or(bytes.len());
    if sep == 0 {
        return Ok(SplitArgs::default());
    }
    let next = bytes
        .iter()
        .skip(sep)
        .position(|&b| !is_space_byte(b))
        .map_or(bytes.len(), |i| sep + i);
    let command = lossy_slice(rest, next, bytes.len());
    let mut split = maybe_json(&command)?;
    split.args.insert(0, lossy_slice(rest, 0, sep));
    Ok(split)
}

/// ENV/LABEL: legacy `KEY value` (triple key, value, "") or `k=v ...`
/// (triples key, value, "=").
fn name_values(
    rest: &str,
    instruction: &'static str,
    escape: char,
) -> Result<Vec<String>, SplitError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some((key, value)) = rest.split_once(is_list_space) else {
            return Err(SplitError::MissingValue(instruction));
        };
        let value = value.trim_start_matches(is_list_space);
        return Ok(vec![key.to_string(), value.to_string(), String::new()]);
    }
    let mut args = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(SplitError::MissingEquals(word));
        };
        args.push(key.to_string());
        args.push(value.to_string());
        args.push("=".to_string());
    }
    Ok(args)
}

/// Quote-aware words, quotes and escapes kept (BuildKit `parseWords`).
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                match chars.next() {
                    // An escape token at the very end is dropped.
                    None => continue,
                    Some(next) => {
                        word.push(ch);
                        word.push(next);
                        continue;
                    }
                }
            }
            word.push(ch);
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            match chars.next() {
                None => {
                    phase = Phase::Word;
                    continue;
                }
                Some(next) => {
                    word.push(ch);
                    word.push(next);
                    continue;
                }
            }
        }
        word.push(ch);
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(keyword: &str, rest: &str) -> Vec<String> {
        split_args(keyword, rest, '\\')
            .map(|s| s.args)
            .unwrap_or_default()
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            parse_words("abc=\"123 456\" def", '\\'),
            vec!["abc=\"123 456\"", "def"]
        );
        assert_eq!(parse_words("a=b\\ c d", '\\'), vec!["a=b\\ c", "d"]);
        assert_eq!(parse_words("a='x\\'y'", '\\'), vec!["a='x\\'y'"]);
        assert_eq!(parse_words("\"\"", '\\'), vec!["\"\""]);
        assert_eq!(parse_words("a \\", '\\'), vec!["a"]);
    }

    #[test]
    fn per_instruction() {
        assert_eq!(args("env", "a b c"), vec!["a", "b c", ""]);
        assert_eq!(args("env", "a=b c=d"), vec!["a", "b", "=", "c", "d", "="]);
        assert!(split_args("env", "PATH", '\\').is_err());
        assert!(split_args("label", "a=b c", '\\').is_err());
        assert_eq!(args("healthcheck", "CMD  [\"a\"]"), vec!["CMD", "a"]);
        assert_eq!(args("healthcheck", "NONE"), vec!["NONE"]);
        assert_eq!(args("from", "a  \tb"), vec!["a", "b"]);
        assert_eq!(args("foo", "x y"), vec![""]);
        assert_eq!(args("user", ""), Vec::<String>::new());
    }
}
