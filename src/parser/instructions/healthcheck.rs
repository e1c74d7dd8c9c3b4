//! HEALTHCHECK: `NONE`, or `CMD` (shell or exec form) with `--interval
//! --timeout --start-period --start-interval --retries`. Durations are Go
//! durations (`1m30s`, `500ms`) as Docker reads them.

use super::flags::{parse_flags, FlagKind, Flags};
use super::{ErrorKind, InstructionError, NodeLocation};
use crate::parser::ast::Node;
use std::time::Duration;

/// A parsed HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    Cmd(HealthcheckCmd),
}

/// `HEALTHCHECK [flags] CMD ...`. Unset durations mean "inherit/default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckCmd {
    /// The image-config `Test`: `["CMD", args...]` (exec form) or
    /// `["CMD-SHELL", "command"]` (shell form).
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

pub(super) fn parse(node: &Node) -> Result<Healthcheck, InstructionError> {
    let Some((kind, rest)) = node.args.split_first() else {
        return Err(node.error(ErrorKind::Arguments(
            "HEALTHCHECK requires at least one argument".into(),
        )));
    };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        // BuildKit does not look at flags for NONE.
        if !rest.is_empty() {
            return Err(node.error(ErrorKind::Arguments(
                "HEALTHCHECK NONE takes no arguments".into(),
            )));
        }
        return Ok(Healthcheck::None);
    }
    let flags = parse_flags(
        node,
        "HEALTHCHECK",
        &[
            ("interval", FlagKind::String),
            ("timeout", FlagKind::String),
            ("start-period", FlagKind::String),
            ("start-interval", FlagKind::String),
            ("retries", FlagKind::String),
        ],
    )?;
    if kind != "CMD" {
        return Err(node.error(ErrorKind::Invalid(format!(
            "Unknown type {kind:?} in HEALTHCHECK (try CMD)"
        ))));
    }
    let command: Vec<String> = if node.json_form {
        rest.to_vec()
    } else if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.join(" ")]
    };
    if command.is_empty() || command.iter().all(String::is_empty) {
        return Err(node.error(ErrorKind::Arguments(
            "Missing command after HEALTHCHECK CMD".into(),
        )));
    }
    let mut test = vec![if node.json_form { "CMD" } else { "CMD-SHELL" }.to_string()];
    test.extend(command);
    let retries =
        match flags.string("retries").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                let n: i64 = v.parse().map_err(|_| {
                    flag_error(
                        node,
                        "retries",
                        format!("invalid --retries value {v:?}: not an integer"),
                    )
                })?;
                if n < 0 {
                    return Err(flag_error(
                        node,
                        "retries",
                        format!("--retries cannot be negative ({n})"),
                    ));
                }
                Some(u32::try_from(n).map_err(|_| {
                    flag_error(node, "retries", format!("--retries {n} is too large"))
                })?)
            }
        };
    Ok(Healthcheck::Cmd(HealthcheckCmd {
        test,
        interval: interval(node, &flags, "interval")?,
        timeout: interval(node, &flags, "timeout")?,
        start_period: interval(node, &flags, "start-period")?,
        start_interval: interval(node, &flags, "start-interval")?,
        retries,
    }))
}

fn flag_error(node: &Node, flag: &str, message: String) -> InstructionError {
    InstructionError::new(
        node.line(),
        node.column_of(&format!("--{flag}")),
        ErrorKind::Invalid(message),
    )
}

/// A duration flag: empty/absent is unset, 0 is allowed, else at least 1ms.
fn interval(node: &Node, flags: &Flags, name: &str) -> Result<Option<Duration>, InstructionError> {
    let Some(value) = flags.string(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let nanos = parse_go_duration(&value).map_err(|e| flag_error(node, name, e))?;
    if nanos != 0 && nanos < 1_000_000 {
        return Err(flag_error(
            node,
            name,
            format!("Interval {name:?} cannot be less than 1ms"),
        ));
    }
    let nanos = u64::try_from(nanos)
        .map_err(|_| flag_error(node, name, format!("Interval {name:?} is out of range")))?;
    Ok(Some(Duration::from_nanos(nanos)))
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with unit
/// suffixes (`ns us µs ms s m h`), e.g. `1h30m`, `1.5s`, `-2m`; `0` alone is
/// allowed. Returns nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<i128, String> {
    let bad = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {text:?}"))?;
        let number = &rest[..number_end];
        if number.is_empty() || number == "." {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(format!("time: invalid duration {text:?}"));
    }
    let nanos = total.round() as i128;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("1x").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("s").is_err());
    }
}
