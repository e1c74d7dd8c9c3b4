//! The leading `--name[=value]` flags of an instruction, checked against the
//! flags that instruction accepts (BuildKit's `BFlags`): unknown, duplicate,
//! valueless and non-boolean flags are errors, with a spelling suggestion.
//! It does not interpret values; each instruction does that.

use super::{ErrorKind, InstructionError, NodeLocation, NodeRef};
use std::collections::BTreeMap;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, given at most once.
    String,
    /// `--mount=x`, may repeat.
    Strings,
}

/// The flags an instruction was given, after validation.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    strings: BTreeMap<&'static str, Vec<String>>,
    bools: BTreeMap<&'static str, bool>,
}

impl Flags {
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.strings.get(name).and_then(|v| v.last().cloned())
    }
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.strings.get(name).cloned().unwrap_or_default()
    }
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

/// Parses `raw` (the node's flags, `--` kept) for instruction `instruction`
/// (upper case, for messages) against `allowed`.
pub(crate) fn parse_flags(
    node: NodeRef<'_>,
    instruction: &str,
    allowed: &[(&'static str, FlagKind)],
) -> Result<Flags, InstructionError> {
    let mut flags = Flags::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for raw in &node.flags {
        let column = node.column_of(raw);
        let err = |kind| Err(InstructionError::new(node.line(), column, kind));
        let Some(body) = raw.strip_prefix("--") else {
            return err(ErrorKind::FlagSyntax(raw.clone()));
        };
        if body.is_empty() {
            break; // a bare `--` ends the flags
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(known, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
            return err(ErrorKind::UnknownFlag {
                flag: name.to_string(),
                instruction: instruction.to_string(),
                hint: suggest(name, allowed.iter().map(|(n, _)| *n)).map(|s| format!("--{s}")),
            });
        };
        if kind != FlagKind::Strings && seen.contains(&known) {
            return err(ErrorKind::DuplicateFlag(name.to_string()));
        }
        seen.push(known);
        match (kind, value) {
            (FlagKind::Bool, None) => {
                flags.bools.insert(known, true);
            }
            (FlagKind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" => {
                    flags.bools.insert(known, true);
                }
                "false" => {
                    flags.bools.insert(known, false);
                }
                "" => return err(ErrorKind::MissingFlagValue(name.to_string())),
                _ => {
                    return err(ErrorKind::BadBoolFlag {
                        flag: name.to_string(),
                        value: v.to_string(),
                    })
                }
            },
            (_, None) => return err(ErrorKind::MissingFlagValue(name.to_string())),
            (_, Some(v)) => flags.strings.entry(known).or_default().push(v.to_string()),
        }
    }
    Ok(flags)
}

/// The candidate closest to `word` by edit distance, if it is close enough to
/// be a plausible typo (BuildKit's `suggest` package does the same job).
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let word = word.to_ascii_lowercase();
    let (best, distance) = candidates
        .into_iter()
        .map(|c| {
            (
                c,
                strsim::damerau_levenshtein(&word, &c.to_ascii_lowercase()),
            )
        })
        .min_by_key(|(_, d)| *d)?;
    // Allow about one edit per three characters, at least one (a swap of
    // two neighbours counts as one edit).
    let limit = (word.chars().count() / 3).max(1);
    (distance > 0 && distance <= limit).then(|| best.to_string())
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn suggestions_need_a_close_candidate() {
        assert_eq!(
            suggest("chwon", ["chown", "chmod", "from"]),
            Some("chown".into())
        );
        assert_eq!(suggest("xyzzyq", ["chown", "from"]), None);
        assert_eq!(
            suggest("WORKDIRR", ["WORKDIR", "RUN"]),
            Some("WORKDIR".into())
        );
    }
}
