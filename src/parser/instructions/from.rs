//! FROM: `FROM [--platform=P] image [AS name]`. Checks the argument count and
//! the stage name's form; resolving `image` against earlier stages and meta
//! ARGs is the stage graph's job.

use super::flags::{parse_flags, FlagKind};
use super::{ErrorKind, InstructionError, NodeLocation};
use crate::parser::ast::Node;

/// A parsed FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The base as written (may hold `$VAR` from meta ARGs).
    pub image: String,
    /// The stage name, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// The stage name as written (for the casing lint).
    pub name_raw: Option<String>,
    /// `--platform` as written.
    pub platform: Option<String>,
}

pub(super) fn parse(node: &Node) -> Result<From, InstructionError> {
    let flags = parse_flags(node, "FROM", &[("platform", FlagKind::String)])?;
    let (image, name_raw) = match node.args.as_slice() {
        [image] => (image.clone(), None),
        [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            (image.clone(), Some(name.clone()))
        }
        _ => {
            return Err(node.error(ErrorKind::Arguments(
                "FROM requires either one or three arguments".into(),
            )))
        }
    };
    let name = match &name_raw {
        Some(raw) => {
            let lower = raw.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return Err(InstructionError::new(
                    node.line(),
                    node.column_of(raw),
                    ErrorKind::Invalid(format!(
                        "invalid name for build stage: {raw:?}, name can't start with a number or contain symbols"
                    )),
                ));
            }
            Some(lower)
        }
        None => None,
    };
    Ok(From {
        image,
        name,
        name_raw,
        platform: flags.string("platform"),
    })
}

/// `^[a-z][a-z0-9-_.]*$`, BuildKit's rule for stage names.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}
