//! Heredoc detection on an instruction line (`RUN <<EOF`, `COPY <<-"A" <<B /d`),
//! following BuildKit: the line is split into shell words (quotes, escapes and
//! `$VAR` kept raw, escape token always `\`), each word is matched against
//! `^(\d*)<<(-?)\s*([^<]*)$`, and the delimiter is lexed again with and
//! without quote removal; if the quote counts differ, the delimiter was quoted
//! and the body is not expanded. Reading the bodies is the caller's job.
//!
//! The word splitter here is a private, minimal copy of the shell lexer's
//! rules for an empty environment; it is not the general lexer
//! (`parser::shell`), which expands variables.

use super::ast::Heredoc;

/// Nesting limit for `${a:-${b:-...}}`; deeper input is treated as a lexing
/// error (BuildKit then finds no heredoc), which keeps the stack bounded.
const MAX_DEPTH: usize = 64;

/// A lexing failure (unterminated quote, bad `${`); details do not matter.
#[derive(Debug)]
struct LexError;

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    raw_quotes: bool,
    raw_escapes: bool,
    depth: usize,
}

/// Word accumulation as in BuildKit's `wordsStruct`.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

impl Lexer<'_> {
    fn process_words(
        src: &str,
        raw_quotes: bool,
        raw_escapes: bool,
    ) -> Result<Vec<String>, LexError> {
        let mut lexer = Lexer {
            chars: src.chars().peekable(),
            raw_quotes,
            raw_escapes,
            depth: 0,
        };
        lexer
            .process_stop_on(None, raw_escapes)
            .map(|(_, words)| words)
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), LexError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let outcome = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        outcome
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), LexError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(&ch) = self.chars.peek() {
            if Some(ch) == stop {
                self.chars.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let text = self.process_dollar()?;
                    result.push_str(&text);
                    words.add_string(&text);
                }
                '\'' | '"' | '<' => {
                    let text = match ch {
                        '\'' => self.process_single_quote()?,
                        '"' => self.process_double_quote()?,
                        _ => self.process_possible_heredoc(),
                    };
                    result.push_str(&text);
                    words.add_raw_string(&text);
                }
                _ => {
                    self.chars.next();
                    if ch == '\\' {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        let Some(next) = self.chars.next() else { break };
                        words.add_raw_char(next);
                        result.push(next);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if stop.is_some() {
            return Err(LexError);
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Result<String, LexError> {
        let mut result = String::new();
        let open = self.chars.next().ok_or(LexError)?;
        if self.raw_quotes {
            result.push(open);
        }
        loop {
            match self.chars.next() {
                None => return Err(LexError),
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, LexError> {
        let mut result = String::new();
        let open = self.chars.next().ok_or(LexError)?;
        if self.raw_quotes {
            result.push(open);
        }
        loop {
            match self.chars.peek().copied() {
                None => return Err(LexError),
                Some('"') => {
                    self.chars.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => result.push_str(&self.process_dollar()?),
                Some(_) => {
                    let mut ch = self.chars.next().ok_or(LexError)?;
                    if ch == '\\' {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.chars.peek() {
                            None => continue,
                            Some('"' | '$' | '\\') => ch = self.chars.next().ok_or(LexError)?,
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `<<` plus the blanks after it stay glued to the delimiter word.
    fn process_possible_heredoc(&mut self) -> String {
        self.chars.next();
        if self.chars.peek() != Some(&'<') {
            return "<".to_string();
        }
        self.chars.next();
        let mut text = "<<".to_string();
        while let Some(&c) = self.chars.peek() {
            if c != ' ' && c != '\t' {
                break;
            }
            text.push(c);
            self.chars.next();
        }
        text
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&ch) = self.chars.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(&d) = self.chars.peek() {
                    if !d.is_numeric() {
                        break;
                    }
                    name.push(d);
                    self.chars.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.chars.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.chars.next();
        }
        name
    }

    /// Every variable is unset, and unset variables are kept as written.
    fn process_dollar(&mut self) -> Result<String, LexError> {
        self.chars.next();
        if self.chars.peek() != Some(&'{') {
            let name = self.process_name();
            return Ok(format!("${name}"));
        }
        self.chars.next();
        match self.chars.peek() {
            None | Some('{' | '}' | ':') => return Err(LexError),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(ch) = self.chars.next() else {
            return Err(LexError);
        };
        let mut modifier = ch.to_string();
        let op = match ch {
            '}' => return Ok(format!("${{{name}}}")),
            ':' => {
                let op = self.chars.next().ok_or(LexError)?;
                modifier.push(op);
                op
            }
            '+' | '-' | '?' | '#' | '%' => ch,
            '/' => return self.process_replace(&name),
            _ => return Err(LexError),
        };
        let word = self.nested(Some('}'), op == '#' || op == '%')?;
        Ok(format!("${{{name}{modifier}{word}}}"))
    }

    fn process_replace(&mut self, name: &str) -> Result<String, LexError> {
        if self.chars.peek() == Some(&'/') {
            self.chars.next();
        }
        let pattern = self.nested(Some('/'), true)?;
        let replacement = self.nested(Some('}'), true)?;
        Ok(format!("${{{name}/{pattern}/{replacement}}}"))
    }

    fn nested(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<String, LexError> {
        if self.depth >= MAX_DEPTH {
            return Err(LexError);
        }
        self.depth += 1;
        let outcome = self
            .process_stop_on(stop, raw_escapes)
            .map(|(text, _)| text);
        self.depth -= 1;
        outcome
    }
}

/// RE2 `\s`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Why a heredoc delimiter is unusable (the caller adds the line).
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum HeredocError {
    #[error("invalid heredoc delimiter {0:?}: unterminated quote or bad ${{...}}")]
    BadDelimiter(String),
}

/// Matches one shell word against `^(\d*)<<(-?)\s*([^<]*)$` and builds the
/// heredoc (with an empty body).
pub fn parse_heredoc_word(word: &str) -> Result<Option<Heredoc>, HeredocError> {
    let after_fd = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(after) = after_fd.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let rest = after.trim_start_matches(is_re_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let bad = |_| HeredocError::BadDelimiter(rest.to_string());
    let words = Lexer::process_words(rest, false, false).map_err(bad)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = Lexer::process_words(rest, true, false).map_err(bad)?;
    let [raw_name] = raw.as_slice() else {
        return Err(HeredocError::BadDelimiter(rest.to_string()));
    };
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == quotes(raw_name),
        chomp,
    }))
}

/// The heredocs announced on an instruction line, in order. A line that the
/// shell lexer cannot split has none (as in BuildKit).
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, HeredocError> {
    let Ok(words) = Lexer::process_words(line, true, true) else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for word in &words {
        if let Some(doc) = parse_heredoc_word(word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Removes the leading tabs of every line (`<<-`).
pub fn chomp_tabs(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, bool, bool)> {
        heredocs_from_line(line)
            .unwrap_or_default()
            .into_iter()
            .map(|h| (h.name, h.expand, h.chomp))
            .collect()
    }

    #[test]
    fn detection() {
        let n = |s: &str, e, c| (s.to_string(), e, c);
        assert_eq!(names("RUN <<EOF"), vec![n("EOF", true, false)]);
        assert_eq!(names("RUN <<-EOF"), vec![n("EOF", true, true)]);
        assert_eq!(names("RUN <<'EOF'"), vec![n("EOF", false, false)]);
        assert_eq!(names("RUN <<\"EOF\" bash"), vec![n("EOF", false, false)]);
        assert_eq!(names("RUN 4<<EOF"), vec![n("EOF", true, false)]);
        assert_eq!(
            names("RUN <<EOF <<EOF2"),
            vec![n("EOF", true, false), n("EOF2", true, false)]
        );
        assert_eq!(names("RUN << EOF"), vec![n("EOF", true, false)]);
        assert_eq!(names("RUN <<eo\\'f"), vec![n("eo'f", true, false)]);
        assert_eq!(names("RUN <<eo'f'"), vec![n("eof", false, false)]);
        assert_eq!(names("RUN <<$EOF"), vec![n("$EOF", true, false)]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
        assert!(names("RUN <<<EOF").is_empty());
        assert!(names("RUN <<- EOF").is_empty());
        assert!(names("RUN echo 'unterminated <<EOF").is_empty());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let line = format!("RUN <<EOF {}", "${a:-".repeat(10_000));
        assert!(names(&line).is_empty());
    }

    #[test]
    fn chomp() {
        assert_eq!(
            chomp_tabs("\thello\n\t\tworld\n x\t\n"),
            "hello\nworld\n x\t\n"
        );
    }
}
