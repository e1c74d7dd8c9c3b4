//! Build checks: BuildKit's Dockerfile lint rules, same names, same messages,
//! same triggering conditions (docs.docker.com/reference/build-checks/).
//!
//! [`lint`] takes the raw tree and the typed instructions of a file that
//! parsed, runs every rule, and applies the `# check=` directive (or the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg): skipped rules are dropped, and with
//! `error=true` every finding becomes an error. It does not read files,
//! resolve images or print; the base images' own environments are unknown
//! here, so only `PATH` is assumed to come from them (UndefinedVar).
//!
//! Rule groups: [`syntax`] (casing and forms of single instructions),
//! [`stages`] (per-stage state: variables, WORKDIR, SHELL, repeated CMD...),
//! [`from_args`] (ARGs used in FROM). [`checks`] parses the directive;
//! [`render`] prints diagnostics as text or JSON.

pub mod checks;
mod from_args;
pub mod render;
mod stages;
mod syntax;

use crate::context::DockerIgnore;
use crate::parser::args::BuildArgs;
use crate::parser::ast::Dockerfile;
use crate::parser::diagnostic::{Diagnostic, Severity};
use crate::parser::instructions::ParsedDockerfile;
use checks::CheckConfig;

/// A build check, as BuildKit names and describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub description: &'static str,
    /// Off unless enabled with `# check=experimental=<name>|all`.
    pub experimental: bool,
}

const fn rule(name: &'static str, description: &'static str) -> Rule {
    Rule {
        name,
        description,
        experimental: false,
    }
}

/// Every rule rbuild implements.
pub const RULES: &[Rule] = &[
    rule("StageNameCasing", "Stage names should be lowercase"),
    rule("FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword"),
    rule("NoEmptyContinuation", "Empty continuation lines will become errors in a future release"),
    rule("ConsistentInstructionCasing", "All commands within the Dockerfile should use the same casing (either upper or lower)"),
    rule("DuplicateStageName", "Stage names should be unique"),
    rule("ReservedStageName", "Reserved words should not be used as stage names"),
    rule("JSONArgsRecommended", "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals"),
    rule("MaintainerDeprecated", "The MAINTAINER instruction is deprecated, use a label instead to define an image author"),
    rule("UndefinedArgInFrom", "FROM command must use declared ARGs"),
    rule("WorkdirRelativePath", "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes"),
    rule("UndefinedVar", "Variables should be defined before their use"),
    rule("MultipleInstructionsDisallowed", "Multiple instructions of the same type should not be used in the same stage"),
    rule("LegacyKeyValueFormat", "Legacy key/value format with whitespace separator should not be used"),
    rule("SecretsUsedInArgOrEnv", "Sensitive data should not be used in the ARG or ENV commands"),
    rule("InvalidDefaultArgInFrom", "Default value for global ARG results in an empty or invalid base image name"),
    Rule {
        name: "CopyIgnoredFile",
        description: "Attempting to Copy file that is excluded by .dockerignore",
        experimental: true,
    },
];

/// Looks a rule up by name.
pub fn find_rule(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

/// What the rules need besides the Dockerfile.
#[derive(Debug, Default)]
pub struct LintOptions<'a> {
    /// The Dockerfile path as the user named it, put into every diagnostic.
    pub file: String,
    /// `--build-arg` values (they change ARG values, and so FROM checks).
    pub build_args: BuildArgs,
    /// The context's ignore rules, for CopyIgnoredFile.
    pub ignore: Option<&'a DockerIgnore>,
}

/// Collects findings of the rules, dropping disabled ones as they come.
pub(crate) struct Findings<'c> {
    config: &'c CheckConfig,
    out: Vec<Diagnostic>,
}

impl Findings<'_> {
    pub(crate) fn warn(
        &mut self,
        rule: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) {
        if self.config.is_enabled(rule) {
            self.out
                .push(Diagnostic::warning(rule, line, column, message));
        }
    }

    pub(crate) fn is_enabled(&self, rule: &str) -> bool {
        self.config.is_enabled(rule)
    }
}

/// Runs every enabled rule over a parsed file. The result is sorted by
/// position; with `check=error=true` the findings are errors.
pub fn lint(df: &Dockerfile, parsed: &ParsedDockerfile, opts: &LintOptions<'_>) -> Vec<Diagnostic> {
    let check_value = opts
        .build_args
        .get("BUILDKIT_DOCKERFILE_CHECK")
        .map(str::to_string)
        .or_else(|| df.directives.check.clone());
    let (config, mut diagnostics) = match check_value.as_deref().map(CheckConfig::parse) {
        None => (CheckConfig::default(), Vec::new()),
        Some(Ok(config)) => (config, Vec::new()),
        Some(Err(e)) => (
            CheckConfig::default(),
            // Directives sit at the top of the file; the raw tree keeps no line.
            vec![Diagnostic::error(1, 1, e.to_string())],
        ),
    };
    let mut findings = Findings {
        config: &config,
        out: Vec::new(),
    };
    syntax::check(df, parsed, &mut findings);
    from_args::check(parsed, &opts.build_args, &mut findings);
    stages::check(parsed, opts, &mut findings);
    let mut warnings = findings.out;
    if config.error_on_warn {
        for w in &mut warnings {
            w.severity = Severity::Error;
        }
    }
    diagnostics.extend(warnings);
    diagnostics.sort_by_key(|d| (d.line, d.column));
    for d in &mut diagnostics {
        d.file.clone_from(&opts.file);
    }
    diagnostics
}
