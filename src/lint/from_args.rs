//! ARGs in FROM: UndefinedArgInFrom (a FROM uses a variable that no global
//! ARG declares) and InvalidDefaultArgInFrom (with only the ARG defaults, the
//! base name is empty or not a valid image reference). The global ARG values
//! come from the frontend's [`GlobalScope`].

use super::Findings;
use crate::parser::args::{BuildArgs, GlobalScope, Platform};
use crate::parser::instructions::{suggest, ParsedDockerfile};
use regex::Regex;
use std::sync::OnceLock;

/// The global scope FROM lines see: meta ARGs (with `build_args` applied)
/// and the automatic platform ARGs of this host. `None` when a meta ARG's
/// default cannot be expanded (the build fails on that; no lint then).
pub(super) fn global_scope(
    parsed: &ParsedDockerfile,
    build_args: &BuildArgs,
) -> Option<GlobalScope> {
    let host = Platform::host();
    GlobalScope::new(
        &parsed.meta_args,
        build_args,
        &host,
        &host,
        "",
        parsed.escape,
    )
    .ok()
}

pub(super) fn check(
    parsed: &ParsedDockerfile,
    build_args: &BuildArgs,
    findings: &mut Findings<'_>,
) {
    let Some(global) = global_scope(parsed, build_args) else {
        return;
    };
    // Automatic ARGs always have a value, so they are all in `env()`.
    let is_known = |name: &str| global.is_meta_arg(name) || global.get(name).is_some();
    for stage in &parsed.stages {
        let (line, column) = (stage.span.start_line, stage.span.column);
        let words = std::iter::once(&stage.from.image).chain(stage.from.platform.as_ref());
        for word in words {
            let Ok((_, matches)) = global.expand_from_word(word) else {
                continue;
            };
            for name in matches.unmatched.iter().filter(|n| !is_known(n)) {
                let mut message = format!("FROM argument '{name}' is not declared");
                let candidates = global.env().iter().map(|(k, _)| k.as_str());
                if let Some(hint) = suggest(name, candidates) {
                    message.push_str(&format!(" (did you mean {hint}?)"));
                }
                findings.warn("UndefinedArgInFrom", line, column, message);
            }
        }
    }

    if findings.is_enabled("InvalidDefaultArgInFrom") {
        // As if no --build-arg was given: only the defaults count.
        let Some(defaults) = global_scope(parsed, &BuildArgs::new()) else {
            return;
        };
        for stage in &parsed.stages {
            let Ok((name, _)) = defaults.expand_from_word(&stage.from.image) else {
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
