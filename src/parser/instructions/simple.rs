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

/// The Linux signal names Docker accepts (without `SIG`), by number.
const SIGNALS: [(&str, u32); 31] = [
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
];

/// Docker's `signal.ParseSignal` for Linux: a number > 0, or a name with or
/// without `SIG` (any case), including `RTMIN+n` / `RTMAX-n`. Returns the
/// signal number. Extra names: `WINCH` (28) and `XCPU`/`XFSZ` (24/25).
pub fn parse_signal(raw: &str) -> Result<u32, String> {
    let invalid = || format!("Invalid signal: {raw}");
    if let Ok(n) = raw.parse::<u32>() {
        return if n == 0 { Err(invalid()) } else { Ok(n) };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let (rtmin, rtmax) = (34u32, 64u32);
    let number = match name {
        "WINCH" => Some(28),
        "XCPU" => Some(24),
        "XFSZ" => Some(25),
        "RTMIN" => Some(rtmin),
        "RTMAX" => Some(rtmax),
        _ => {
            if let Some(n) = name
                .strip_prefix("RTMIN+")
                .and_then(|n| n.parse::<u32>().ok())
            {
                (1..=15).contains(&n).then_some(rtmin + n)
            } else if let Some(n) = name
                .strip_prefix("RTMAX-")
                .and_then(|n| n.parse::<u32>().ok())
            {
                (1..=14).contains(&n).then_some(rtmax - n)
            } else {
                SIGNALS.iter().find(|(s, _)| *s == name).map(|(_, n)| *n)
            }
        }
    };
    number.ok_or_else(invalid)
}

/// The image-config `ExposedPorts` keys of EXPOSE words (after expansion),
/// as Docker's `nat.ParsePortSpecs` gives them: `80` -> `80/tcp`,
/// `53/udp`, ranges `8000-8002/tcp` -> one key per port. A leading
/// `ip:hostPort:` part is accepted and ignored.
pub fn exposed_ports(words: &[String]) -> Result<Vec<String>, String> {
    let mut ports = std::collections::BTreeSet::new();
    for word in words {
        let (spec, proto) = match word.rsplit_once('/') {
            Some((s, p)) => (s, p.to_ascii_lowercase()),
            None => (word.as_str(), "tcp".to_string()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid proto: {proto}"));
        }
        // `[::1]:80:8080`, `0.0.0.0:80:8080`, `80:8080` -> `8080`.
        let container = match spec.rfind(':') {
            Some(at) if !spec.ends_with(']') => spec.get(at + 1..).unwrap_or_default(),
            _ => spec,
        };
        let parse = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("invalid containerPort: {container}"))
        };
        let (start, end) = match container.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => (parse(container)?, parse(container)?),
        };
        if start > end {
            return Err(format!(
                "invalid range specified for container port: {container}"
            ));
        }
        for port in start..=end {
            ports.insert(format!("{port}/{proto}"));
        }
    }
    Ok(ports.into_iter().collect())
}
