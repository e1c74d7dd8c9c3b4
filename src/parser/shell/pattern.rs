//! Shell glob patterns for the `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}`
//! modifiers: `*`, `?`, `[...]` bracket expressions and `\`-escaped
//! characters.
//!
//! BuildKit turns these patterns into Go regular expressions; here they are
//! compiled to a flat token list and run as a Thompson-style NFA, so every
//! match is O(text x pattern) with no backtracking blow-up. Unlike BuildKit,
//! bracket expressions are supported (BuildKit matches `[` literally) and any
//! character may be escaped. This module does not expand variables or
//! process quotes; the lexer does that before handing the pattern over.

use std::ops::Range;

/// Why a pattern could not be compiled.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    #[error("trailing escape character '\\'")]
    TrailingEscape,
}

/// One position of a compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: exactly one character.
    AnyChar,
    /// `*`: any run of characters, including none.
    Star,
    /// `[...]` / `[!...]`.
    Class(CharClass),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CharClass {
    negated: bool,
    ranges: Vec<(char, char)>,
    named: Vec<NamedClass>,
}

/// POSIX `[:name:]` classes inside a bracket expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NamedClass {
    Alnum,
    Alpha,
    Blank,
    Digit,
    Lower,
    Space,
    Upper,
    Punct,
    Xdigit,
}

impl NamedClass {
    fn from_name(name: &str) -> Option<NamedClass> {
        Some(match name {
            "alnum" => NamedClass::Alnum,
            "alpha" => NamedClass::Alpha,
            "blank" => NamedClass::Blank,
            "digit" => NamedClass::Digit,
            "lower" => NamedClass::Lower,
            "space" => NamedClass::Space,
            "upper" => NamedClass::Upper,
            "punct" => NamedClass::Punct,
            "xdigit" => NamedClass::Xdigit,
            _ => return None,
        })
    }

    fn contains(self, c: char) -> bool {
        match self {
            NamedClass::Alnum => c.is_alphanumeric(),
            NamedClass::Alpha => c.is_alphabetic(),
            NamedClass::Blank => c == ' ' || c == '\t',
            NamedClass::Digit => c.is_ascii_digit(),
            NamedClass::Lower => c.is_lowercase(),
            NamedClass::Space => c.is_whitespace(),
            NamedClass::Upper => c.is_uppercase(),
            NamedClass::Punct => c.is_ascii_punctuation(),
            NamedClass::Xdigit => c.is_ascii_hexdigit(),
        }
    }
}

impl CharClass {
    fn contains(&self, c: char) -> bool {
        let hit = self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)
            || self.named.iter().any(|n| n.contains(c));
        hit != self.negated
    }
}

impl Token {
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyChar => true,
            Token::Star => true,
            Token::Class(class) => class.contains(c),
        }
    }
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles `pattern`. `\` escapes the next character; an escape before
    /// `}` or `/` is dropped, as BuildKit does, because those had to be
    /// escaped only to get past the `${...}` syntax.
    pub fn compile(pattern: &str) -> Result<Pattern, PatternError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            let token = match c {
                '*' => Token::Star,
                '?' => Token::AnyChar,
                '\\' => {
                    let escaped = *chars.get(i).ok_or(PatternError::TrailingEscape)?;
                    i += 1;
                    Token::Literal(escaped)
                }
                '[' => match parse_class(&chars, i) {
                    Some((class, next)) => {
                        i = next;
                        Token::Class(class)
                    }
                    // An unterminated bracket is an ordinary character.
                    None => Token::Literal('['),
                },
                other => Token::Literal(other),
            };
            // `**` means the same as `*`; collapsing keeps the NFA small.
            if token == Token::Star && tokens.last() == Some(&Token::Star) {
                continue;
            }
            tokens.push(token);
        }
        Ok(Pattern { tokens })
    }

    /// The same pattern read backwards, for matching suffixes by walking
    /// the text from its end.
    fn reversed(&self) -> Pattern {
        let mut tokens = self.tokens.clone();
        tokens.reverse();
        Pattern { tokens }
    }

    /// Byte length of the shortest (`longest == false`) or longest prefix of
    /// `text` that the whole pattern matches.
    pub fn match_prefix(&self, text: &str, longest: bool) -> Option<usize> {
        let mut nfa = Nfa::new(&self.tokens);
        nfa.start(0);
        let mut best = nfa.accepted().map(|_| 0);
        for (offset, c) in text.char_indices() {
            if best.is_some() && !longest {
                break;
            }
            if !nfa.step(c) {
                break;
            }
            if nfa.accepted().is_some() {
                best = Some(offset + c.len_utf8());
            }
        }
        best
    }

    /// Byte offset where the shortest or longest suffix of `text` matched by
    /// the whole pattern begins.
    pub fn match_suffix(&self, text: &str, longest: bool) -> Option<usize> {
        let reversed = self.reversed();
        let mut nfa = Nfa::new(&reversed.tokens);
        nfa.start(0);
        let mut best = nfa.accepted().map(|_| text.len());
        for (offset, c) in text.char_indices().rev() {
            if best.is_some() && !longest {
                break;
            }
            if !nfa.step(c) {
                break;
            }
            if nfa.accepted().is_some() {
                best = Some(offset);
            }
        }
        best
    }

    /// The leftmost match in `text` at or after byte `from`, and of the
    /// matches starting there the longest.
    pub fn find(&self, text: &str, from: usize) -> Option<Range<usize>> {
        self.find_with(&mut Nfa::new(&self.tokens), text, from)
    }

    /// Replaces the first (or every) leftmost-longest match with
    /// `replacement`. As with Go's regexp (which BuildKit uses), an empty
    /// match right after a previous match is skipped.
    /// Replaces the first (or every) match. `None` when the result would
    /// grow past `limit` bytes: nested `${V//p/r}` otherwise grows
    /// exponentially and a short line could exhaust memory.
    pub fn replace(
        &self,
        text: &str,
        replacement: &str,
        all: bool,
        limit: usize,
    ) -> Option<String> {
        let mut nfa = Nfa::new(&self.tokens);
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut from = 0;
        let mut last_end: Option<usize> = None;
        while let Some(found) = self.find_with(&mut nfa, text, from) {
            let empty = found.is_empty();
            if !(empty && last_end == Some(found.start)) {
                out.push_str(text.get(copied..found.start).unwrap_or_default());
                out.push_str(replacement);
                if out.len() > limit {
                    return None;
                }
                copied = found.end;
                last_end = Some(found.end);
                if !all {
                    break;
                }
            }
            from = if empty {
                match text.get(found.end..).and_then(|rest| rest.chars().next()) {
                    Some(c) => found.end + c.len_utf8(),
                    None => break,
                }
            } else {
                found.end
            };
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        (out.len() <= limit).then_some(out)
    }

    fn find_with(&self, nfa: &mut Nfa<'_>, text: &str, from: usize) -> Option<Range<usize>> {
        let rest = text.get(from..)?;
        nfa.reset();
        let mut best: Option<Range<usize>> = None;
        nfa.start(from);
        if let Some(start) = nfa.accepted() {
            best = Some(start..from);
        }
        for (offset, c) in rest.char_indices() {
            let here = from + offset;
            if best.is_none() && here != from {
                // No match found yet: a match may also begin here.
                nfa.start(here);
            }
            if let Some(found) = &best {
                // Later starts cannot beat the leftmost match found.
                nfa.drop_starts_after(found.start);
            }
            if !nfa.step(c) && best.is_some() {
                break;
            }
            if let Some(start) = nfa.accepted() {
                let end = here + c.len_utf8();
                best = match best {
                    Some(found) if found.start < start => Some(found),
                    _ => Some(start..end),
                };
            }
        }
        if best.is_none() && nfa.start_at_end(text.len()) {
            best = Some(text.len()..text.len());
        }
        best
    }
}

/// The set of live NFA states; each remembers the earliest text offset at
/// which a thread reaching it started (leftmost wins).
struct Nfa<'p> {
    tokens: &'p [Token],
    states: Vec<Option<usize>>,
    scratch: Vec<Option<usize>>,
}

impl<'p> Nfa<'p> {
    fn new(tokens: &'p [Token]) -> Nfa<'p> {
        Nfa {
            tokens,
            states: vec![None; tokens.len() + 1],
            scratch: vec![None; tokens.len() + 1],
        }
    }

    fn reset(&mut self) {
        self.states.iter_mut().for_each(|s| *s = None);
    }

    /// Adds a thread at the pattern start that began at text offset `at`.
    fn start(&mut self, at: usize) {
        if let Some(first) = self.states.first_mut() {
            *first = Some(first.map_or(at, |s| s.min(at)));
        }
        close_over_stars(self.tokens, &mut self.states);
    }

    /// Whether a fresh thread at the end of the text would accept (the
    /// pattern matches the empty string).
    fn start_at_end(&mut self, at: usize) -> bool {
        self.start(at);
        self.accepted() == Some(at)
    }

    fn accepted(&self) -> Option<usize> {
        self.states.last().copied().flatten()
    }

    fn drop_starts_after(&mut self, limit: usize) {
        for state in &mut self.states {
            if state.is_some_and(|s| s > limit) {
                *state = None;
            }
        }
    }

    /// Consumes one character; returns whether any thread is still alive.
    fn step(&mut self, c: char) -> bool {
        self.scratch.iter_mut().for_each(|s| *s = None);
        let mut alive = false;
        for (index, token) in self.tokens.iter().enumerate() {
            let Some(start) = self.states.get(index).copied().flatten() else {
                continue;
            };
            if !token.accepts(c) {
                continue;
            }
            // A star stays where it is; every other token moves on.
            let target = if *token == Token::Star {
                index
            } else {
                index + 1
            };
            if let Some(slot) = self.scratch.get_mut(target) {
                *slot = Some(slot.map_or(start, |s| s.min(start)));
                alive = true;
            }
        }
        std::mem::swap(&mut self.states, &mut self.scratch);
        close_over_stars(self.tokens, &mut self.states);
        alive
    }
}

/// A star may match nothing: whoever reaches a star also reaches the next
/// token. Stars only lead forward, so one forward pass is enough.
fn close_over_stars(tokens: &[Token], states: &mut [Option<usize>]) {
    for (index, token) in tokens.iter().enumerate() {
        if *token != Token::Star {
            continue;
        }
        let Some(start) = states.get(index).copied().flatten() else {
            continue;
        };
        if let Some(next) = states.get_mut(index + 1) {
            *next = Some(next.map_or(start, |s| s.min(start)));
        }
    }
}

/// Parses a bracket expression whose `[` is just before `chars[open]`.
/// Returns the class and the index after the closing `]`, or `None` when
/// there is no closing `]`.
fn parse_class(chars: &[char], open: usize) -> Option<(CharClass, usize)> {
    let mut i = open;
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut class = CharClass {
        negated,
        ranges: Vec::new(),
        named: Vec::new(),
    };
    let first = i;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && i != first {
            return Some((class, i + 1));
        }
        if c == '[' && chars.get(i + 1) == Some(&':') {
            if let Some((named, next)) = parse_named_class(chars, i + 2) {
                class.named.push(named);
                i = next;
                continue;
            }
        }
        let (lo, after_lo) = class_char(chars, i)?;
        i = after_lo;
        // `a-z` is a range unless the `-` is last (`[a-]`).
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
            let (hi, after_hi) = class_char(chars, i + 1)?;
            class.ranges.push((lo, hi));
            i = after_hi;
        } else {
            class.ranges.push((lo, lo));
        }
    }
}

/// One possibly escaped character inside a bracket expression.
fn class_char(chars: &[char], i: usize) -> Option<(char, usize)> {
    match chars.get(i)? {
        '\\' => chars.get(i + 1).map(|&c| (c, i + 2)),
        &c => Some((c, i + 1)),
    }
}

/// `[:name:]` with `name` starting at `chars[i]`.
fn parse_named_class(chars: &[char], i: usize) -> Option<(NamedClass, usize)> {
    let len = chars.get(i..)?.iter().take(8).position(|&c| c == ':')?;
    if chars.get(i + len + 1) != Some(&']') {
        return None;
    }
    let name: String = chars.get(i..i + len)?.iter().collect();
    NamedClass::from_name(&name).map(|named| (named, i + len + 2))
}
