//! Rules that follow each stage's state from its FROM to its end, the way
//! BuildKit's dispatcher does: UndefinedVar (a variable no ENV or ARG of the
//! stage defines), WorkdirRelativePath, JSONArgsRecommended (unless a SHELL
//! was set), MultipleInstructionsDisallowed (CMD, ENTRYPOINT, HEALTHCHECK),
//! SecretsUsedInArgOrEnv, and CopyIgnoredFile. A stage built `FROM` an
//! earlier stage starts with that stage's variables and SHELL (not with its
//! "WORKDIR was set" mark, as in BuildKit).

use super::from_args::global_scope;
use super::{Findings, LintOptions};
use crate::context::clean_path;
use crate::parser::args::Scope;
use crate::parser::ast::Span;
use crate::parser::instructions::{suggest, Command, Copy, Instruction, ParsedDockerfile};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// What base images are assumed to define: only the default PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables BuildKit never reports as undefined.
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// A stage's state as the rules need it: the frontend's variable scope plus
/// what BuildKit's dispatcher tracks for the lints.
#[derive(Debug, Clone)]
struct StageState<'g> {
    scope: Scope<'g>,
    shell_set: bool,
    workdir_set: bool,
    /// The last CMD/ENTRYPOINT/HEALTHCHECK of the stage, by instruction name.
    used_once: BTreeMap<&'static str, Span>,
}

pub(super) fn check(
    parsed: &ParsedDockerfile,
    opts: &LintOptions<'_>,
    findings: &mut Findings<'_>,
) {
    let Some(global) = global_scope(parsed, &opts.build_args) else {
        return;
    };
    let mut finished: BTreeMap<String, StageState<'_>> = BTreeMap::new();
    for stage in &parsed.stages {
        let base = global
            .expand_from_word(&stage.from.image)
            .map_or_else(|_| stage.from.image.clone(), |(word, _)| word)
            .to_lowercase();
        let mut state = match finished.get(&base) {
            // BuildKit applies the base's WORKDIR without marking it as set by
            // this stage, so a child stage's first relative WORKDIR still warns.
            Some(parent) => StageState {
                scope: Scope::inherit(&parent.scope),
                shell_set: parent.shell_set,
                workdir_set: false,
                used_once: BTreeMap::new(),
            },
            None => StageState {
                scope: Scope::new(
                    &global,
                    &opts.build_args,
                    vec![("PATH".to_string(), DEFAULT_PATH.to_string())],
                ),
                shell_set: false,
                workdir_set: false,
                used_once: BTreeMap::new(),
            },
        };
        for cmd in &stage.commands {
            check_command(cmd, opts, &mut state, findings);
        }
        if let Some(name) = &stage.from.name {
            finished.insert(name.clone(), state);
        }
    }
}

fn check_command(
    cmd: &Command,
    opts: &LintOptions<'_>,
    state: &mut StageState<'_>,
    findings: &mut Findings<'_>,
) {
    let (line, column) = (cmd.span.start_line, cmd.span.column);
    // A word that does not expand fails the build; that is not a lint finding.
    let Ok(step) = state.scope.step(cmd) else {
        return;
    };
    report_undefined(&step.unmatched, &state.scope, cmd.span, findings);

    let name = cmd.keyword_raw.as_str();
    match &step.command.instruction {
        Instruction::Arg(decls) => {
            for decl in decls {
                secret_key("ARG", &decl.key, cmd.span, findings);
            }
        }
        Instruction::Env(pairs) => {
            for kv in pairs {
                secret_key("ENV", &kv.key, cmd.span, findings);
            }
        }
        Instruction::Shell(_) => state.shell_set = true,
        Instruction::Workdir(path) => {
            if !state.workdir_set && !path.starts_with('/') {
                findings.warn(
                    "WorkdirRelativePath",
                    line,
                    column,
                    format!("Relative workdir {path:?} can have unexpected results if the base image changes"),
                );
            }
            state.workdir_set = true;
        }
        Instruction::Cmd(cl) | Instruction::Entrypoint(cl) => {
            used_once(cmd, &mut state.used_once, findings);
            if cl.prepend_shell && !state.shell_set {
                findings.warn(
                    "JSONArgsRecommended",
                    line,
                    column,
                    format!("JSON arguments recommended for {name} to prevent unintended behavior related to OS signals"),
                );
            }
        }
        Instruction::Healthcheck(_) => used_once(cmd, &mut state.used_once, findings),
        Instruction::Copy(copy) => copy_ignored("Copy", copy, false, cmd.span, opts, findings),
        Instruction::Add(add) => copy_ignored("Add", &add.copy, true, cmd.span, opts, findings),
        _ => {}
    }
}

fn report_undefined(
    unmatched: &BTreeSet<String>,
    scope: &Scope<'_>,
    span: Span,
    findings: &mut Findings<'_>,
) {
    for name in unmatched {
        if NON_ENV_ARGS.contains(&name.as_str()) {
            continue;
        }
        let mut message = format!("Usage of undefined variable '${name}'");
        if let Some(hint) = suggest(name, scope.env().iter().map(|(k, _)| k.as_str())) {
            message.push_str(&format!(" (did you mean ${hint}?)"));
        }
        findings.warn("UndefinedVar", span.start_line, span.column, message);
    }
}

/// Reports the *earlier* CMD/ENTRYPOINT/HEALTHCHECK: it is the one ignored.
fn used_once(cmd: &Command, once: &mut BTreeMap<&'static str, Span>, findings: &mut Findings<'_>) {
    if let Some(previous) = once.insert(cmd.instruction.name(), cmd.span) {
        findings.warn(
            "MultipleInstructionsDisallowed",
            previous.start_line,
            previous.column,
            format!(
                "Multiple {} instructions should not be used in the same stage because only the last one will be used",
                cmd.keyword_raw
            ),
        );
    }
}

/// BuildKit's secret-name test: a token such as `password` or `token` as
/// the whole name or one `_`-separated word of it, unless `public`, `file` or
/// `version` is also such a word.
fn is_secret_key(key: &str) -> bool {
    static PATTERNS: OnceLock<Option<(Regex, Regex)>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        let deny = Regex::new(r"(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)").ok()?;
        let allow = Regex::new(r"(?i)(?:_|^)(?:public|file|version)(?:_|$)").ok()?;
        Some((deny, allow))
    });
    patterns
        .as_ref()
        .is_some_and(|(deny, allow)| deny.is_match(key) && !allow.is_match(key))
}

fn secret_key(instruction: &str, key: &str, span: Span, findings: &mut Findings<'_>) {
    if is_secret_key(key) {
        findings.warn(
            "SecretsUsedInArgOrEnv",
            span.start_line,
            span.column,
            format!(
                "Do not use ARG or ENV instructions for sensitive data ({instruction} {key:?})"
            ),
        );
    }
}

/// CopyIgnoredFile, as BuildKit decides it: only for context sources, and
/// not at all when the ignore file has `!` exceptions (too hard to judge).
fn copy_ignored(
    verb: &str,
    copy: &Copy,
    is_add: bool,
    span: Span,
    opts: &LintOptions<'_>,
    findings: &mut Findings<'_>,
) {
    let Some(ignore) = opts.ignore else { return };
    if copy.from.is_some()
        || ignore.is_empty()
        || ignore.has_exclusions()
        || !findings.is_enabled("CopyIgnoredFile")
    {
        return;
    }
    for src in &copy.sources {
        if is_add && (src.contains("://") || src.starts_with("git@")) {
            continue;
        }
        let cleaned = clean_path(src);
        if ignore.is_excluded(&cleaned) {
            findings.warn(
                "CopyIgnoredFile",
                span.start_line,
                span.column,
                format!("Attempting to {verb} file {cleaned:?} that is excluded by .dockerignore"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_secret_key;

    #[test]
    fn secret_names() {
        for yes in [
            "password",
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "api_key",
            "AWS_SECRET_ACCESS_KEY",
            "auth",
        ] {
            assert!(is_secret_key(yes), "{yes}");
        }
        for no in [
            "PASSWORDS",
            "MONKEY",
            "PUBLIC_KEY",
            "KEY_FILE",
            "TOKEN_VERSION",
            "PATH",
            "tokenizer",
        ] {
            assert!(!is_secret_key(no), "{no}");
        }
    }
}
