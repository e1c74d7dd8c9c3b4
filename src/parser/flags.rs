//! Extraction of the leading `--flag[=value]` words of an instruction, exactly
//! as BuildKit's `extractBuilderFlags` does it, for every instruction. It does
//! not validate flags (the typed instruction layer does).
//!
//! BuildKit walks the line byte by byte: a byte counts as white space when
//! `unicode.IsSpace(rune(b))` (so 0x85 and 0xA0 do), and every byte of a word
//! is appended as the character with that code point (Latin-1). A non-ASCII
//! flag therefore comes out double-encoded, as BuildKit's dump shows it; we
//! keep that so the dump and the flag values match BuildKit byte for byte.

/// `unicode.IsSpace(rune(b))` for a single byte.
fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

enum Phase {
    Spaces,
    Word,
    Quote(u8),
}

/// The text after the flags (from byte `pos`), as a string. BuildKit may cut
/// inside a multi-byte character (see the module doc); such a cut is
/// replaced by U+FFFD instead of panicking.
fn rest_from(line: &str, pos: usize) -> String {
    match line.get(pos..) {
        Some(rest) => rest.to_string(),
        None => {
            String::from_utf8_lossy(line.as_bytes().get(pos..).unwrap_or_default()).into_owned()
        }
    }
}

/// Splits `line` (the text after the keyword) into its leading flag words and
/// the rest. Quotes in a flag word are removed and `\x` gives `x`; a bare
/// `--` ends the flags and is dropped.
pub fn extract_flags(line: &str) -> (String, Vec<String>) {
    let bytes = line.as_bytes();
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut pos = 0;
    loop {
        let Some(&byte) = bytes.get(pos) else {
            // End of input.
            if !matches!(phase, Phase::Spaces) && word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            return (String::new(), flags);
        };
        match phase {
            Phase::Spaces => {
                if is_space_byte(byte) {
                    pos += 1;
                    continue;
                }
                if byte != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                    return (rest_from(line, pos), flags);
                }
                phase = Phase::Word;
                continue;
            }
            Phase::Word => {
                if is_space_byte(byte) {
                    if word == "--" {
                        return (rest_from(line, pos), flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if byte == b'\'' || byte == b'"' {
                    blank_ok = true;
                    phase = Phase::Quote(byte);
                } else if byte == b'\\' {
                    if let Some(&next) = bytes.get(pos + 1) {
                        word.push(char::from(next));
                        pos += 1;
                    }
                } else {
                    word.push(char::from(byte));
                }
            }
            Phase::Quote(quote) => {
                if byte == quote {
                    phase = Phase::Word;
                } else if byte == b'\\' {
                    match bytes.get(pos + 1) {
                        Some(&next) => {
                            word.push(char::from(next));
                            pos += 1;
                        }
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(char::from(byte));
                }
            }
        }
        pos += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> (String, Vec<String>) {
        extract_flags(s)
    }

    #[test]
    fn flag_words() {
        assert_eq!(ex("foo /tmp/"), ("foo /tmp/".into(), vec![]));
        assert_eq!(
            ex("--user=me --doit=true foo"),
            ("foo".into(), vec!["--user=me".into(), "--doit=true".into()])
        );
        assert_eq!(
            ex("--doit=true -- foo"),
            (" foo".into(), vec!["--doit=true".into()])
        );
        assert_eq!(ex("-- foo"), (" foo".into(), vec![]));
        assert_eq!(ex("--a=\"x y\" b"), ("b".into(), vec!["--a=x y".into()]));
        assert_eq!(ex("--a=x\\ y b"), ("b".into(), vec!["--a=x y".into()]));
        assert_eq!(ex("--from=x"), ("".into(), vec!["--from=x".into()]));
        assert_eq!(ex("--"), ("".into(), vec![]));
        assert_eq!(ex("-x"), ("-x".into(), vec![]));
        assert_eq!(ex("--a=é b"), ("b".into(), vec!["--a=\u{c3}\u{a9}".into()]));
        // U+2800 is E2 A0 80: BuildKit sees the A0 byte as a space.
        assert_eq!(
            ex("--a=\u{2800}b"),
            ("\u{fffd}b".into(), vec!["--a=\u{e2}".into()])
        );
    }
}
