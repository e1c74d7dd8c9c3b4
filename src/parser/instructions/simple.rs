//! The instructions with plain arguments: ENV and LABEL (key/value pairs),
//! ARG (names with optional defaults), MAINTAINER, USER, WORKDIR,
//! STOPSIGNAL (one argument), EXPOSE and VOLUME (lists) and ONBUILD (a nested
//! instruction). Values stay as written; expansion happens later.

use super::flags::parse_flags;
use super::{parse_instruction, Command, ErrorKind, InstructionError, NodeLocation};
use crate::parser::ast::Node;

/// One `key=value` of ENV or LABEL; quotes are still in the raw words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// True for the legacy `ENV key value` form (no `=`), which the
    /// LegacyKeyValueFormat lint reports.
    pub legacy: bool,
}

/// One name of an ARG, with its default when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub key: String,
    pub default: Option<String>,
}

/// ONBUILD: the trigger as text (stored in the image config) and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger instruction's source, heredoc bodies appended.
    pub expression: String,
    pub trigger: Box<Command>,
}

/// ENV and LABEL: the parser gives (key, value, "=" | "") triples.
pub(super) fn parse_kvs(node: &Node, name: &str) -> Result<Vec<KeyValue>, InstructionError> {
    parse_flags(node, name, &[])?;
    if node.args.is_empty() {
        return Err(node.error(ErrorKind::Arguments(format!(
            "{name} requires at least one argument"
        ))));
    }
    if node.args.len() % 3 != 0 {
        return Err(node.error(ErrorKind::Arguments(format!(
            "Bad input to {name}, too many arguments"
        ))));
    }
    node.args
        .chunks(3)
        .map(|triple| match triple {
            [key, _, _] if key.is_empty() => Err(node.error(ErrorKind::Arguments(format!(
                "{name} names can not be blank"
            )))),
            [key, value, delim] => Ok(KeyValue {
                key: key.clone(),
                value: value.clone(),
                legacy: delim.is_empty(),
            }),
            _ => Err(node.error(ErrorKind::Arguments(format!("Bad input to {name}")))),
        })
        .collect()
}

/// MAINTAINER, USER, WORKDIR, STOPSIGNAL: exactly one argument, no flags.
pub(super) fn one_arg(node: &Node, name: &str) -> Result<String, InstructionError> {
    parse_flags(node, name, &[])?;
    match node.args.as_slice() {
        [one] if !one.trim().is_empty() => Ok(one.clone()),
        _ => Err(node.error(ErrorKind::Arguments(format!(
            "{name} requires exactly one argument"
        )))),
    }
}

pub(super) fn parse_expose(node: &Node) -> Result<Vec<String>, InstructionError> {
    parse_flags(node, "EXPOSE", &[])?;
    if node.args.is_empty() {
        return Err(node.error(ErrorKind::Arguments(
            "EXPOSE requires at least one argument".into(),
        )));
    }
    let mut ports = node.args.clone();
    ports.sort();
    Ok(ports)
}

pub(super) fn parse_volume(node: &Node) -> Result<Vec<String>, InstructionError> {
    parse_flags(node, "VOLUME", &[])?;
    if node.args.is_empty() {
        return Err(node.error(ErrorKind::Arguments(
            "VOLUME requires at least one argument".into(),
        )));
    }
    node.args
        .iter()
        .map(|v| match v.trim() {
            "" => Err(node.error(ErrorKind::Arguments(
                "VOLUME specified can not be an empty string".into(),
            ))),
            v => Ok(v.to_string()),
        })
        .collect()
}

/// ARG: each word is `name` or `name=default` (split at the first `=`).
pub(super) fn parse_arg(node: &Node) -> Result<Vec<ArgDecl>, InstructionError> {
    parse_flags(node, "ARG", &[])?;
    if node.args.is_empty() {
        return Err(node.error(ErrorKind::Arguments(
            "ARG requires at least one argument".into(),
        )));
    }
    node.args
        .iter()
        .map(|word| {
            let (key, default) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (word.as_str(), None),
            };
            if key.is_empty() {
                return Err(InstructionError::new(
                    node.line(),
                    node.column_of(word),
                    ErrorKind::Arguments("ARG names can not be blank".into()),
                ));
            }
            Ok(ArgDecl {
                key: key.to_string(),
                default,
            })
        })
        .collect()
}

pub(super) fn parse_onbuild(node: &Node) -> Result<Onbuild, InstructionError> {
    parse_flags(node, "ONBUILD", &[])?;
    let Some(nested) = node.nested.as_deref() else {
        return Err(node.error(ErrorKind::Arguments(
            "ONBUILD requires at least one argument".into(),
        )));
    };
    let trigger_name = nested.keyword.to_ascii_uppercase();
    match trigger_name.as_str() {
        "ONBUILD" => {
            return Err(node.error(ErrorKind::Invalid(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
            )))
        }
        "FROM" | "MAINTAINER" => {
            return Err(node.error(ErrorKind::Invalid(format!(
                "{trigger_name} isn't allowed as an ONBUILD trigger"
            ))))
        }
        _ => {}
    }
    let trigger = parse_instruction(nested)?;
    let mut expression = strip_keyword(&node.original, "onbuild").to_string();
    for heredoc in &nested.heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    Ok(Onbuild {
        expression,
        trigger: Box::new(trigger),
    })
}

/// `text` without a leading `keyword` (any case) and the blanks around it.
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> &'a str {
    let trimmed = text.trim_start();
    match trimmed.get(..keyword.len()) {
        Some(head) if head.eq_ignore_ascii_case(keyword) => trimmed[keyword.len()..].trim_start(),
        _ => trimmed,
    }
}
