//! The expansion engine behind [`super::Lexer`]: one pass over a word that
//! removes quotes, applies the escape character, expands `$VAR` / `${...}`
//! and (optionally) splits the result into fields.
//!
//! It follows BuildKit's `shell.Lex` scanner step by step, including its
//! quirks (for example the words of `#`, `%` and `/` modifiers keep their
//! escape characters so the pattern code sees them). It does not run
//! commands, expand `~`, or do arithmetic, and field splitting only happens
//! on whitespace.

use super::pattern::Pattern;
use super::{Env, Matches, ShellError};

/// How deep `${a:-${b:-...}}` may nest. Each level costs a few recursive
/// stack frames (about 6 KiB unoptimised, far less optimised); real
/// Dockerfiles nest two or three levels, so this is generous while keeping
/// the worst case well inside a 1 MiB stack.
pub const MAX_NESTING: usize = 64;

/// Largest result of one `${V/p/r}` substitution. Far above any real
/// Dockerfile word, low enough that nested replacements (whose size
/// multiplies per level) fail fast instead of exhausting memory.
pub const MAX_WORD_BYTES: usize = 64 << 20;

/// Options fixed for one run of the engine.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub escape: char,
    pub raw_quotes: bool,
    pub skip_unset: bool,
}

/// What a run produced.
pub struct Expansion {
    pub word: String,
    pub fields: Vec<String>,
    pub matches: Matches,
}

/// Runs the engine over `source`. `split` asks for the field list too.
pub fn expand(
    source: &str,
    env: &dyn Env,
    options: Options,
    split: bool,
) -> Result<Expansion, ShellError> {
    let mut engine = Engine {
        source,
        pos: 0,
        env,
        options,
        raw_escapes: false,
        depth: 0,
        matches: Matches::default(),
    };
    let (word, fields) = engine.process_until(None, false, split)?;
    Ok(Expansion {
        word,
        fields,
        matches: engine.matches,
    })
}

/// Accumulates fields the way BuildKit's `wordsStruct` does: expansion
/// results split on whitespace, quoted and escaped text never does.
#[derive(Default)]
struct Fields {
    done: Vec<String>,
    current: String,
    in_field: bool,
}

impl Fields {
    fn push_splittable(&mut self, c: char) {
        if !c.is_whitespace() {
            self.push_literal(c);
        } else if self.in_field && !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
            self.in_field = false;
        }
    }

    fn push_literal(&mut self, c: char) {
        self.current.push(c);
        self.in_field = true;
    }

    fn push_splittable_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push_splittable(c));
    }

    fn push_literal_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.in_field = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

struct Engine<'a> {
    source: &'a str,
    /// Byte offset of the next unread character.
    pos: usize,
    env: &'a dyn Env,
    options: Options,
    /// Keep escape characters in the output (pattern words).
    raw_escapes: bool,
    depth: usize,
    matches: Matches,
}

impl Engine<'_> {
    fn peek(&self) -> Option<char> {
        self.source.get(self.pos..)?.chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.source.len()
    }

    /// Processes text until `stop` (consumed) or the end of input when
    /// `stop` is `None`. Returns the joined word and, if `split`, the fields.
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        split: bool,
    ) -> Result<(String, Vec<String>), ShellError> {
        let saved_raw = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.process_until_inner(stop, split);
        self.raw_escapes = saved_raw;
        result
    }

    fn process_until_inner(
        &mut self,
        stop: Option<char>,
        split: bool,
    ) -> Result<(String, Vec<String>), ShellError> {
        let mut word = String::new();
        let mut fields = Fields::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += c.len_utf8();
                return Ok((word, if split { fields.finish() } else { Vec::new() }));
            }
            match c {
                '$' => {
                    let value = self.process_dollar()?;
                    if split {
                        fields.push_splittable_str(&value);
                    }
                    word.push_str(&value);
                }
                '\'' | '"' => {
                    let value = if c == '\'' {
                        self.process_single_quote()?
                    } else {
                        self.process_double_quote()?
                    };
                    if split {
                        fields.push_literal_str(&value);
                    }
                    word.push_str(&value);
                }
                _ if c != self.options.escape => {
                    // Copy the whole run of ordinary characters at once.
                    let escape = self.options.escape;
                    let rest = self.source.get(self.pos..).unwrap_or_default();
                    let run_len = rest
                        .find(|ch| {
                            matches!(ch, '$' | '\'' | '"') || ch == escape || Some(ch) == stop
                        })
                        .unwrap_or(rest.len());
                    let run = rest.get(..run_len).unwrap_or_default();
                    self.pos += run_len;
                    if split {
                        fields.push_splittable_str(run);
                    }
                    word.push_str(run);
                }
                _ => {
                    self.pos += c.len_utf8();
                    if self.raw_escapes {
                        if split {
                            fields.push_literal(c);
                        }
                        word.push(c);
                    }
                    // A lone escape at the end of the input is dropped.
                    let Some(escaped) = self.next_char() else {
                        break;
                    };
                    if split {
                        fields.push_literal(escaped);
                    }
                    word.push(escaped);
                }
            }
        }
        match stop {
            Some(stop) => Err(ShellError::Unterminated(stop)),
            None => Ok((word, if split { fields.finish() } else { Vec::new() })),
        }
    }

    /// `'...'`: everything literal up to the next `'`; nothing escapes it.
    fn process_single_quote(&mut self) -> Result<String, ShellError> {
        let mut out = String::new();
        self.next_char();
        if self.options.raw_quotes {
            out.push('\'');
        }
        let rest = self.source.get(self.pos..).unwrap_or_default();
        let Some(len) = rest.find('\'') else {
            self.pos = self.source.len();
            return Err(ShellError::UnterminatedSingleQuote);
        };
        out.push_str(rest.get(..len).unwrap_or_default());
        self.pos += len + 1;
        if self.options.raw_quotes {
            out.push('\'');
        }
        Ok(out)
    }

    /// `"..."`: `$` expands; the escape character escapes only `"`, `$` and
    /// itself and is kept literally before anything else.
    fn process_double_quote(&mut self) -> Result<String, ShellError> {
        let mut out = String::new();
        self.next_char();
        if self.options.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(ShellError::UnterminatedDoubleQuote),
                Some('"') => {
                    self.next_char();
                    if self.options.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    out.push_str(&value);
                }
                Some(c) => {
                    self.pos += c.len_utf8();
                    if c == self.options.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            // The loop reports the missing closing quote.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == c => {
                                self.pos += next.len_utf8();
                                out.push(next);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// Looks a name up and records whether it was found.
    fn lookup(&mut self, name: &str) -> Option<String> {
        let value = self.env.lookup(name);
        let set = if value.is_some() {
            &mut self.matches.matched
        } else {
            &mut self.matches.unmatched
        };
        if !set.contains(name) {
            set.insert(name.to_owned());
        }
        value
    }

    /// A parameter name: a run of digits (positional), one special
    /// character, or letters/digits/underscores.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_numeric() => {
                while let Some(d) = self.peek().filter(|d| d.is_numeric()) {
                    self.pos += d.len_utf8();
                    name.push(d);
                }
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')) => {
                self.pos += 1;
                name.push(c);
            }
            _ => {
                while let Some(c) = self.peek().filter(|&c| c.is_alphanumeric() || c == '_') {
                    self.pos += c.len_utf8();
                    name.push(c);
                }
            }
        }
        name
    }

    /// Processes the word of a `${...}` modifier up to `stop`, turning a
    /// failure at the end of input into the missing-delimiter error.
    fn modifier_word(
        &mut self,
        stop: char,
        raw_escapes: bool,
        at_end_error: ShellError,
    ) -> Result<String, ShellError> {
        if self.depth >= MAX_NESTING {
            return Err(ShellError::TooDeep(MAX_NESTING));
        }
        self.depth += 1;
        let result = self.process_until(Some(stop), raw_escapes, false);
        self.depth -= 1;
        match result {
            Ok((word, _)) => Ok(word),
            Err(err @ ShellError::TooDeep(_)) => Err(err),
            Err(_) if self.at_end() => Err(at_end_error),
            Err(err) => Err(err),
        }
    }

    fn process_dollar(&mut self) -> Result<String, ShellError> {
        self.next_char();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.options.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next_char();
        match self.peek() {
            None => return Err(ShellError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ShellError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(op) = self.next_char() else {
            return Err(ShellError::MissingBrace);
        };
        match op {
            '}' => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.options.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => self.apply_modifier(name, op),
            '/' => self.apply_replace(name),
            other => Err(ShellError::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${name:-w}`, `${name+w}`, `${name:?msg}`, `${name#p}`, `${name%%p}`...
    /// with `first` the character right after the name.
    fn apply_modifier(&mut self, name: String, first: char) -> Result<String, ShellError> {
        let mut spelling = first.to_string();
        let null_is_unset = first == ':';
        let mut op = first;
        if null_is_unset {
            // BuildKit reads whatever follows the ':' as the operator.
            if let Some(c) = self.next_char() {
                spelling.push(c);
                op = c;
            }
        }
        let is_pattern = op == '#' || op == '%';
        let word = self.modifier_word('}', is_pattern, ShellError::MissingBrace)?;
        let value = self.lookup(&name);
        let Some(value) = value else {
            if self.options.skip_unset {
                return Ok(format!("${{{name}{spelling}{word}}}"));
            }
            return match op {
                '-' => Ok(word),
                '+' => Ok(String::new()),
                '?' => Err(required(name, word, "is not allowed to be unset")),
                '#' | '%' => Ok(String::new()),
                _ => Err(ShellError::UnsupportedModifier(spelling)),
            };
        };
        let empty = null_is_unset && value.is_empty();
        match op {
            '-' => Ok(if empty { word } else { value }),
            '+' => Ok(if empty { String::new() } else { word }),
            '?' if empty => Err(required(name, word, "is not allowed to be empty")),
            '?' => Ok(value),
            '#' | '%' => trim(&value, &word, op),
            _ => Err(ShellError::UnsupportedModifier(spelling)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn apply_replace(&mut self, name: String) -> Result<String, ShellError> {
        let all = self.peek() == Some('/');
        if all {
            self.next_char();
        }
        let pattern = self.modifier_word('/', true, ShellError::MissingSlash)?;
        let replacement = self.modifier_word('}', true, ShellError::MissingBrace)?;
        let Some(value) = self.lookup(&name) else {
            if self.options.skip_unset {
                let slashes = if all { "//" } else { "/" };
                return Ok(format!("${{{name}{slashes}{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let compiled = compile(&pattern)?;
        compiled
            .replace(&value, &replacement, all, MAX_WORD_BYTES)
            .ok_or(ShellError::TooLong(MAX_WORD_BYTES))
    }
}

fn required(name: String, word: String, default: &str) -> ShellError {
    let message = if word.is_empty() {
        default.to_owned()
    } else {
        word
    };
    ShellError::Required { name, message }
}

fn compile(pattern: &str) -> Result<Pattern, ShellError> {
    Pattern::compile(pattern).map_err(|err| ShellError::InvalidPattern {
        pattern: pattern.to_owned(),
        reason: err.to_string(),
    })
}

/// `#`/`##` (op `#`) and `%`/`%%` (op `%`): a doubled operator arrives as
/// the first character of `word` and asks for the longest match.
fn trim(value: &str, word: &str, op: char) -> Result<String, ShellError> {
    let (longest, pattern) = match word.strip_prefix(op) {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let compiled = compile(pattern)?;
    let kept = if op == '#' {
        compiled
            .match_prefix(value, longest)
            .and_then(|end| value.get(end..))
    } else {
        compiled
            .match_suffix(value, longest)
            .and_then(|start| value.get(..start))
    };
    Ok(kept.unwrap_or(value).to_owned())
}
