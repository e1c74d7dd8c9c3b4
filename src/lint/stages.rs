//! Rules that follow each stage's state from its FROM to its end, the way
//! BuildKit's dispatcher does: UndefinedVar (a variable no ENV or ARG of the
//! stage defines), WorkdirRelativePath, JSONArgsRecommended (unless a SHELL
//! was set), MultipleInstructionsDisallowed (CMD, ENTRYPOINT, HEALTHCHECK),
//! SecretsUsedInArgOrEnv, and CopyIgnoredFile. A stage built `FROM` an
//! earlier stage starts with that stage's variables and SHELL (not with its
//! "WORKDIR was set" mark, as in BuildKit).

use super::from_args::{meta_args, MetaArgs};
use super::{Findings, LintOptions};
use crate::context::clean_path;
use crate::parser::ast::Span;
use crate::parser::instructions::{
    expand, suggest, Command, Copy, Instruction, ParsedDockerfile, WordExpander,
};
use crate::parser::shell::Lexer;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// What base images are assumed to define: only the default PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables BuildKit never reports as undefined.
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

#[derive(Debug, Clone)]
struct StageState {
    /// ENV and valued ARGs in order (later entries win).
    env: Vec<(String, String)>,
    /// ARG names declared in the stage, valued or not.
    declared: BTreeSet<String>,
    shell_set: bool,
    workdir_set: bool,
}

impl Default for StageState {
    fn default() -> Self {
        StageState {
            env: vec![("PATH".to_string(), DEFAULT_PATH.to_string())],
            declared: BTreeSet::new(),
            shell_set: false,
            workdir_set: false,
        }
    }
}

/// Expands words with the stage's environment and remembers which variable
/// names were not found.
struct Collector<'s> {
    lexer: Lexer,
    env: &'s Vec<(String, String)>,
    unmatched: BTreeSet<String>,
}

impl WordExpander for Collector<'_> {
    fn word(&mut self, word: &str) -> Result<String, String> {
        let (out, matches) = self
            .lexer
            .process_word_with_matches(word, self.env)
            .map_err(|e| e.to_string())?;
        self.unmatched.extend(matches.unmatched);
        Ok(out)
    }

    fn words(&mut self, word: &str) -> Result<Vec<String>, String> {
        self.word(word)?;
        self.lexer
            .process_words(word, self.env)
            .map_err(|e| e.to_string())
    }
}

pub(super) fn check(
    parsed: &ParsedDockerfile,
    opts: &LintOptions<'_>,
    findings: &mut Findings<'_>,
) {
    let lexer = Lexer::new(parsed.escape);
    let meta = meta_args(parsed, &opts.build_args);
    let mut finished: BTreeMap<String, StageState> = BTreeMap::new();
    for stage in &parsed.stages {
        let base = lexer
            .process_word(&stage.from.image, &meta.values)
            .unwrap_or_else(|_| stage.from.image.clone())
            .to_lowercase();
        let mut state = finished.get(&base).cloned().unwrap_or_default();
        // BuildKit applies the base's WORKDIR without marking it as set by
        // this stage, so a child stage's first relative WORKDIR still warns.
        state.workdir_set = false;
        let mut once: BTreeMap<&'static str, Span> = BTreeMap::new();
        for cmd in &stage.commands {
            check_command(cmd, &lexer, &meta, opts, &mut state, &mut once, findings);
        }
        if let Some(name) = &stage.from.name {
            finished.insert(name.clone(), state);
        }
    }
}

fn check_command(
    cmd: &Command,
    lexer: &Lexer,
    meta: &MetaArgs,
    opts: &LintOptions<'_>,
    state: &mut StageState,
    once: &mut BTreeMap<&'static str, Span>,
    findings: &mut Findings<'_>,
) {
    let (line, column) = (cmd.span.start_line, cmd.span.column);
    if let Instruction::Arg(decls) = &cmd.instruction {
        // Each default sees the ARGs declared before it, also on the same line.
        for decl in decls {
            secret_key("ARG", &decl.key, cmd.span, findings);
            let value = match (opts.build_args.get(&decl.key), &decl.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => {
                    let mut collector = Collector {
                        lexer: *lexer,
                        env: &state.env,
                        unmatched: BTreeSet::new(),
                    };
                    let value = collector.word(default).ok();
                    report_undefined(collector.unmatched, state, cmd.span, findings);
                    value
                }
                (None, None) if meta.declared.contains(&decl.key) => meta
                    .values
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == decl.key)
                    .map(|(_, v)| v.clone()),
                (None, None) => None,
            };
            state.declared.insert(decl.key.clone());
            if let Some(v) = value {
                state.env.push((decl.key.clone(), v));
            }
        }
        return;
    }

    let mut collector = Collector {
        lexer: *lexer,
        env: &state.env,
        unmatched: BTreeSet::new(),
    };
    let expanded = expand(cmd, &mut collector).unwrap_or_else(|_| cmd.clone());
    let unmatched = std::mem::take(&mut collector.unmatched);
    report_undefined(unmatched, state, cmd.span, findings);

    let name = cmd.keyword_raw.as_str();
    match &expanded.instruction {
        Instruction::Env(pairs) => {
            for kv in pairs {
                secret_key("ENV", &kv.key, cmd.span, findings);
                state.env.push((kv.key.clone(), kv.value.clone()));
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
            used_once(cmd, once, findings);
            if cl.prepend_shell && !state.shell_set {
                findings.warn(
                    "JSONArgsRecommended",
                    line,
                    column,
                    format!("JSON arguments recommended for {name} to prevent unintended behavior related to OS signals"),
                );
            }
        }
        Instruction::Healthcheck(_) => used_once(cmd, once, findings),
        Instruction::Copy(copy) => copy_ignored("Copy", copy, false, cmd.span, opts, findings),
        Instruction::Add(add) => copy_ignored("Add", &add.copy, true, cmd.span, opts, findings),
        _ => {}
    }
}

fn report_undefined(
    unmatched: BTreeSet<String>,
    state: &StageState,
    span: Span,
    findings: &mut Findings<'_>,
) {
    for name in unmatched {
        if state.declared.contains(&name) || NON_ENV_ARGS.contains(&name.as_str()) {
            continue;
        }
        let mut message = format!("Usage of undefined variable '${name}'");
        if let Some(hint) = suggest(&name, state.env.iter().map(|(k, _)| k.as_str())) {
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
