//! Rules about how single instructions are written: keyword casing
//! (ConsistentInstructionCasing, FromAsCasing), stage names
//! (StageNameCasing, DuplicateStageName, ReservedStageName), deprecated or
//! legacy forms (MaintainerDeprecated, LegacyKeyValueFormat) and the parser's
//! NoEmptyContinuation warnings. None of them needs variable values.

use super::Findings;
use crate::parser::ast::Dockerfile;
use crate::parser::instructions::{Instruction, ParsedDockerfile};
use std::collections::BTreeSet;

/// Stage names BuildKit reserves.
const RESERVED_STAGE_NAMES: [&str; 2] = ["context", "scratch"];

pub(super) fn check(df: &Dockerfile, parsed: &ParsedDockerfile, findings: &mut Findings<'_>) {
    for warning in &df.warnings {
        if warning.rule == "NoEmptyContinuation" {
            findings.warn(warning.rule, warning.line, 1, "Empty continuation line");
        }
    }
    instruction_casing(df, findings);
    for node in &df.nodes {
        let (line, column) = (node.span.start_line, node.span.column);
        match node.keyword.as_str() {
            "maintainer" => findings.warn(
                "MaintainerDeprecated",
                line,
                column,
                "Maintainer instruction is deprecated in favor of using label",
            ),
            "from" => {
                if let [_, as_word, name] = node.args.as_slice() {
                    if !from_as_casing_matches(&node.keyword_raw, as_word) {
                        findings.warn(
                            "FromAsCasing",
                            line,
                            column,
                            format!(
                                "'{as_word}' and '{}' keywords' casing do not match",
                                node.keyword_raw
                            ),
                        );
                    }
                    if *name != name.to_lowercase() {
                        findings.warn(
                            "StageNameCasing",
                            line,
                            column,
                            format!("Stage name '{name}' should be lowercase"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    stage_names(parsed, findings);
    for stage in &parsed.stages {
        for cmd in &stage.commands {
            let legacy = match &cmd.instruction {
                Instruction::Env(pairs) | Instruction::Label(pairs) => {
                    pairs.iter().filter(|kv| kv.legacy).count()
                }
                _ => 0,
            };
            let name = &cmd.keyword_raw;
            for _ in 0..legacy {
                findings.warn(
                    "LegacyKeyValueFormat",
                    cmd.span.start_line,
                    cmd.span.column,
                    format!("\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"),
                );
            }
        }
    }
}

/// BuildKit only compares `AS` with a consistently cased `FROM`; a mixed-case
/// FROM is ConsistentInstructionCasing's business.
fn from_as_casing_matches(from: &str, as_word: &str) -> bool {
    let from_lower = from.to_lowercase() == from;
    let from_upper = from.to_uppercase() == from;
    if from_lower {
        as_word.to_lowercase() == as_word
    } else if from_upper {
        as_word.to_uppercase() == as_word
    } else {
        true
    }
}

/// Majority casing over the instructions of all stages (not the global ARGs
/// before the first FROM, and not ONBUILD triggers); ties count as upper.
fn instruction_casing(df: &Dockerfile, findings: &mut Findings<'_>) {
    let Some(first_from) = df.nodes.iter().position(|n| n.keyword == "from") else {
        return;
    };
    let in_stages = df.nodes.get(first_from..).unwrap_or_default();
    let (mut lower, mut upper) = (0usize, 0usize);
    for node in in_stages {
        let kw = &node.keyword_raw;
        if *kw == kw.to_lowercase() {
            lower += 1;
        } else if *kw == kw.to_uppercase() {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    for node in in_stages {
        let kw = &node.keyword_raw;
        let correct = if majority_lower && *kw != kw.to_lowercase() {
            "lowercase"
        } else if !majority_lower && *kw != kw.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        findings.warn(
            "ConsistentInstructionCasing",
            node.span.start_line,
            node.span.column,
            format!("Command '{kw}' should match the case of the command majority ({correct})"),
        );
    }
}

fn stage_names(parsed: &ParsedDockerfile, findings: &mut Findings<'_>) {
    let mut seen = BTreeSet::new();
    for stage in &parsed.stages {
        let Some(name) = &stage.from.name else {
            continue;
        };
        let (line, column) = (stage.span.start_line, stage.span.column);
        if RESERVED_STAGE_NAMES.contains(&name.as_str()) {
            findings.warn(
                "ReservedStageName",
                line,
                column,
                format!("Stage name should not use the same name as reserved stage {name:?}"),
            );
        }
        if !seen.insert(name.as_str()) {
            findings.warn(
                "DuplicateStageName",
                line,
                column,
                format!("Duplicate stage name {name:?}, stage names should be unique"),
            );
        }
    }
}
