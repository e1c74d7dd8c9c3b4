//! `COPY --chmod` values: octal (`0755`) or symbolic (`u+x,go-w`, `a=rX`) as
//! BuildKit accepts them, applied to each copied file and directory.

/// A parsed `--chmod`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One `who op perms` clause of a symbolic mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// Bits of u/g/o selected (0o700 etc., plus 0o4000/0o2000 for s; 0o1000 for t).
    who: u32,
    op: char,
    perms: String,
}

impl Chmod {
    /// Parses a `--chmod` value; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Chmod, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match u32::from_str_radix(text, 8) {
                Ok(m) if m <= 0o7777 => Ok(Chmod::Octal(m)),
                _ => Err(format!(
                    "invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777"
                )),
            };
        }
        let mut clauses = Vec::new();
        for part in text.split(',') {
            let op_at = part.find(['+', '-', '=']).ok_or_else(|| {
                format!("invalid chmod parameter {text:?}: {part:?} has no +, - or =")
            })?;
            let (who_text, rest) = part.split_at(op_at);
            let mut who = 0;
            for c in who_text.chars() {
                who |= match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    'a' => 0o7777,
                    _ => {
                        return Err(format!(
                            "invalid chmod parameter {text:?}: unknown who {c:?}"
                        ))
                    }
                };
            }
            if who == 0 {
                who = 0o7777;
            }
            let mut chars = rest.chars();
            let op = chars.next().unwrap_or('+');
            let perms: String = chars.collect();
            if let Some(c) = perms.chars().find(|c| !"rwxXst".contains(*c)) {
                return Err(format!(
                    "invalid chmod parameter {text:?}: unknown permission {c:?}"
                ));
            }
            clauses.push(Clause { who, op, perms });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The new permission bits (07777) for an entry with `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut m = mode & 0o7777;
        match self {
            Chmod::Octal(o) => *o,
            Chmod::Symbolic(clauses) => {
                for c in clauses {
                    let mut bits = 0;
                    for p in c.perms.chars() {
                        bits |= match p {
                            'r' => 0o444,
                            'w' => 0o222,
                            'x' => 0o111,
                            'X' if is_dir || m & 0o111 != 0 => 0o111,
                            's' => 0o6000,
                            't' => 0o1000,
                            _ => 0,
                        };
                    }
                    bits &= c.who;
                    match c.op {
                        '+' => m |= bits,
                        '-' => m &= !bits,
                        _ => m = (m & !(c.who & 0o777)) | bits,
                    }
                }
                m
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(
            Chmod::parse("755").map(|c| c.apply(0o600, false)),
            Ok(0o755)
        );
        let ux = Chmod::parse("u+x,go-w").unwrap_or(Chmod::Octal(0));
        assert_eq!(ux.apply(0o666, false), 0o744);
        let a = Chmod::parse("a=rX").unwrap_or(Chmod::Octal(0));
        assert_eq!(a.apply(0o600, false), 0o444);
        assert_eq!(a.apply(0o700, true), 0o555);
        assert!(Chmod::parse("u+q").is_err());
        assert!(Chmod::parse("99999").is_err());
    }
}
