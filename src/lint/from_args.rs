//! ARGs in FROM: UndefinedArgInFrom (a FROM uses a variable that no global
//! ARG declares) and InvalidDefaultArgInFrom (with only the ARG defaults, the
//! base name is empty or not a valid image reference). Also computes the
//! global ARG values the stages inherit.

use super::Findings;
use crate::parser::instructions::{suggest, Instruction, ParsedDockerfile};
use crate::parser::shell::{Env, Lexer};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The automatic platform ARGs BuildKit defines for FROM.
const PLATFORM_ARGS: [&str; 8] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

/// Global (meta) ARGs: names declared before the first FROM, and the values
/// they have (a declared ARG without default or build arg has none).
#[derive(Debug, Default, Clone)]
pub(super) struct MetaArgs {
    pub declared: BTreeSet<String>,
    pub values: Vec<(String, String)>,
}

/// Evaluates the global ARGs in order, each default expanded with the ones
/// before it. `build_args` override defaults; pass an empty map for
/// "defaults only".
pub(super) fn meta_args(
    parsed: &ParsedDockerfile,
    build_args: &BTreeMap<String, String>,
) -> MetaArgs {
    let lexer = Lexer::new(parsed.escape);
    let mut meta = MetaArgs::default();
    meta.values.extend(platform_values());
    for cmd in &parsed.meta_args {
        let Instruction::Arg(decls) = &cmd.instruction else {
            continue;
        };
        for decl in decls {
            meta.declared.insert(decl.key.clone());
            let value = match (build_args.get(&decl.key), &decl.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => lexer.process_word(default, &meta.values).ok(),
                (None, None) => None,
            };
            if let Some(v) = value {
                meta.values.push((decl.key.clone(), v));
            }
        }
    }
    meta
}

/// Values for the platform ARGs: this host, as rbuild builds for it.
fn platform_values() -> Vec<(String, String)> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let platform = format!("linux/{arch}");
    let mut out = Vec::new();
    for prefix in ["BUILD", "TARGET"] {
        out.push((format!("{prefix}PLATFORM"), platform.clone()));
        out.push((format!("{prefix}OS"), "linux".to_string()));
        out.push((format!("{prefix}ARCH"), arch.to_string()));
        out.push((format!("{prefix}VARIANT"), String::new()));
    }
    out
}

pub(super) fn check(
    parsed: &ParsedDockerfile,
    build_args: &BTreeMap<String, String>,
    findings: &mut Findings<'_>,
) {
    let lexer = Lexer::new(parsed.escape);
    let with_build_args = meta_args(parsed, build_args);
    let known: Vec<&str> = with_build_args
        .declared
        .iter()
        .map(String::as_str)
        .chain(PLATFORM_ARGS)
        .collect();
    for stage in &parsed.stages {
        let (line, column) = (stage.span.start_line, stage.span.column);
        let words = std::iter::once(&stage.from.image).chain(stage.from.platform.as_ref());
        for word in words {
            let Ok((_, matches)) = lexer.process_word_with_matches(word, &with_build_args.values)
            else {
                continue;
            };
            for name in &matches.unmatched {
                if known.contains(&name.as_str()) {
                    continue;
                }
                let mut message = format!("FROM argument '{name}' is not declared");
                if let Some(hint) = suggest(name, known.iter().copied()) {
                    message.push_str(&format!(" (did you mean {hint}?)"));
                }
                findings.warn("UndefinedArgInFrom", line, column, message);
            }
        }
    }

    if findings.is_enabled("InvalidDefaultArgInFrom") {
        let defaults = meta_args(parsed, &BTreeMap::new());
        for stage in &parsed.stages {
            let Ok(name) = lexer.process_word(&stage.from.image, &defaults.values as &dyn Env)
            else {
                // BuildKit abandons this check when expansion fails.
                return;
            };
            if !is_valid_reference(&name) {
                findings.warn(
                    "InvalidDefaultArgInFrom",
                    stage.span.start_line,
                    stage.span.column,
                    format!(
                        "Default value for ARG {} results in empty or invalid base image name",
                        stage.from.image
                    ),
                );
            }
        }
    }
}

/// Whether `s` parses as a Docker image reference (`distribution/reference`
/// `ParseNormalizedNamed` grammar: `[domain/]path[:tag][@digest]`, lower-case
/// path, at most 255 characters of name, not a bare 64-hex ID).
pub fn is_valid_reference(s: &str) -> bool {
    static REFERENCE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = REFERENCE.get_or_init(|| {
        let alnum = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]+)";
        let path_component = format!("{alnum}(?:{separator}{alnum})*");
        let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain = format!(
            r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
        );
        let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
        let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
        let pattern = format!(
            r"^((?:{domain}/)?{path_component}(?:/{path_component})*)(?::{tag})?(?:@{digest})?$"
        );
        Regex::new(&pattern).ok()
    });
    let Some(re) = re else { return false };
    let Some(caps) = re.captures(s) else {
        return false;
    };
    let name_len = caps.get(1).map_or(0, |m| m.as_str().len());
    let is_bare_id = s.len() == 64 && s.bytes().all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9'));
    name_len <= 255 && !is_bare_id
}

#[cfg(test)]
mod tests {
    use super::is_valid_reference;

    #[test]
    fn references() {
        for ok in [
            "alpine",
            "alpine:3.20",
            "docker.io/library/alpine:latest",
            "localhost:5000/my/app",
            "Registry.Example.com/app",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "scratch",
            "my_app-x.y",
        ] {
            assert!(is_valid_reference(ok), "{ok}");
        }
        for bad in [
            "",
            "Alpine",
            "alpine:",
            ":tag",
            "a//b",
            "-x",
            "alpine:-bad",
            "foo/Bar",
        ] {
            assert!(!is_valid_reference(bad), "{bad}");
        }
    }
}
