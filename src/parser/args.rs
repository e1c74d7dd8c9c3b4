//! Build arguments and variable scoping, as BuildKit's Dockerfile frontend
//! does it:
//! - [`BuildArgs`]: the `--build-arg K=V` / `--build-arg K` values.
//! - [`Platform`]: `os/arch[/variant]`, for the predefined platform ARGs.
//! - [`GlobalScope`]: the meta ARGs before the first FROM plus the platform
//!   ARGs; visible in FROM lines only.
//! - [`Scope`]: walks one stage and gives, at each instruction, the variables
//!   visible to it (ARGs declared in the stage with their values, and ENV).
//!
//! Semantics (BuildKit `dispatchArg`/`dispatchEnv`): ARG and ENV both set a
//! variable in order, the later one wins, so an ENV after an ARG of the same
//! name shadows it. An ARG's value is the build arg if given, else its
//! default (expanded), else — for `ARG NAME` with no default — the global
//! value of NAME (meta ARG or platform ARG). The proxy ARGs (HTTP_PROXY...)
//! reach RUN from build args without a declaration ([`Scope::run_env`]), but
//! are not part of [`Scope::env`] (the cache key and history) unless declared.
//! This module does not read the Dockerfile or run anything.

use crate::parser::instructions::{
    expand, ArgDecl, Command, ErrorKind, Instruction, InstructionError, ShellExpander,
};
use crate::parser::shell::{Env, Lexer, Matches};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use thiserror::Error;

/// The proxy variables usable in RUN without an ARG declaration.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Errors of build-arg and platform parsing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArgsError {
    #[error("invalid --build-arg {0:?}: the name is empty")]
    EmptyBuildArgName(String),
    #[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64")]
    BadPlatform(String),
}

/// An OCI platform (`linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI/Go names.
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            arch: arch.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses `os/arch[/variant]`; a lone `arch` means `linux/arch`.
    /// Normalises common aliases (`x86_64`, `aarch64`, `arm64/v8`).
    pub fn parse(text: &str) -> Result<Platform, ArgsError> {
        let bad = || ArgsError::BadPlatform(text.to_string());
        let parts: Vec<&str> = text.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(bad()),
        };
        if os.is_empty() || arch.is_empty() || variant.is_some_and(str::is_empty) {
            return Err(bad());
        }
        let arch = match arch.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            "i386" | "i686" => "386".to_string(),
            a => a.to_string(),
        };
        // containerd drops the default variant of arm64.
        let variant = variant
            .map(str::to_ascii_lowercase)
            .filter(|v| !(arch == "arm64" && v == "v8"));
        Ok(Platform {
            os: os.to_ascii_lowercase(),
            arch,
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The `--build-arg` values of one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    values: BTreeMap<String, String>,
}

impl BuildArgs {
    pub fn new() -> Self {
        Self::default()
    }

    /// From CLI specs: `K=V` sets K; `K` alone takes K's value from `env`
    /// (the client's environment) and is left out when that is unset, as
    /// the docker CLI does.
    pub fn from_cli(
        specs: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ArgsError> {
        let mut args = BuildArgs::new();
        for spec in specs {
            let (key, value) = match spec.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (spec.as_str(), env(spec)),
            };
            if key.is_empty() {
                return Err(ArgsError::EmptyBuildArgName(spec.clone()));
            }
            if let Some(value) = value {
                args.set(key, value);
            }
        }
        Ok(args)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The variables visible in FROM lines: platform ARGs, then meta ARGs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalScope {
    values: Vec<(String, String)>,
    meta_declared: BTreeSet<String>,
    escape: char,
}

impl GlobalScope {
    /// Evaluates the meta ARGs (`meta_args`, the ARG commands before the
    /// first FROM) in order. `target_stage` fills TARGETSTAGE.
    pub fn new(
        meta_args: &[Command],
        build_args: &BuildArgs,
        build: &Platform,
        target: &Platform,
        target_stage: &str,
        escape: char,
    ) -> Result<Self, InstructionError> {
        let mut values = Vec::new();
        let predefined = [
            ("BUILDPLATFORM", build.to_string()),
            ("BUILDOS", build.os.clone()),
            ("BUILDARCH", build.arch.clone()),
            ("BUILDVARIANT", build.variant.clone().unwrap_or_default()),
            ("TARGETPLATFORM", target.to_string()),
            ("TARGETOS", target.os.clone()),
            ("TARGETARCH", target.arch.clone()),
            ("TARGETVARIANT", target.variant.clone().unwrap_or_default()),
            ("TARGETSTAGE", target_stage.to_string()),
        ];
        for (key, value) in predefined {
            let value = build_args.get(key).map_or(value, str::to_string);
            values.push((key.to_string(), value));
        }
        let mut scope = GlobalScope {
            values,
            meta_declared: BTreeSet::new(),
            escape,
        };
        for command in meta_args {
            let Instruction::Arg(decls) = &command.instruction else {
                continue;
            };
            for decl in decls {
                scope.meta_declared.insert(decl.key.clone());
                let value = match (build_args.get(&decl.key), &decl.default) {
                    (Some(v), _) => Some(v.to_string()),
                    (None, Some(default)) => {
                        Some(expand_word(command, default, &scope.values, escape)?.0)
                    }
                    (None, None) => None,
                };
                if let Some(value) = value {
                    scope.values.push((decl.key.clone(), value));
                }
            }
        }
        Ok(scope)
    }

    /// The variables for expanding FROM lines (later entries win).
    pub fn env(&self) -> &Vec<(String, String)> {
        &self.values
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True for names declared by an ARG before the first FROM.
    pub fn is_meta_arg(&self, key: &str) -> bool {
        self.meta_declared.contains(key)
    }

    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands a FROM word (base or `--platform`) with the global variables,
    /// also telling which names were (not) found (UndefinedArgInFrom).
    pub fn expand_from_word(&self, word: &str) -> Result<(String, Matches), String> {
        Lexer::new(self.escape)
            .process_word_with_matches(word, &self.values)
            .map_err(|e| e.to_string())
    }
}

fn expand_word(
    command: &Command,
    word: &str,
    env: &dyn Env,
    escape: char,
) -> Result<(String, Matches), InstructionError> {
    Lexer::new(escape)
        .process_word_with_matches(word, env)
        .map_err(|e| {
            InstructionError::new(
                command.span.start_line,
                command.span.column,
                ErrorKind::Expansion {
                    word: word.to_string(),
                    message: e.to_string(),
                },
            )
        })
}

/// One instruction as the executor should run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The instruction with its expandable words expanded.
    pub command: Command,
    /// Variable names the instruction used that are neither set nor declared
    /// by an ARG in the stage (what BuildKit's UndefinedVar lint reports).
    pub unmatched: BTreeSet<String>,
}

/// The variables of one stage as it is walked, instruction by instruction.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    global: &'a GlobalScope,
    build_args: &'a BuildArgs,
    /// Every variable in order of definition; later entries win.
    vars: Vec<(String, String)>,
    /// ENV definitions only (what goes into the image config).
    env_only: Vec<(String, String)>,
    /// ARGs declared in this stage (or its parent stage).
    declared: BTreeSet<String>,
    /// The same names in order of first declaration (for history).
    declared_order: Vec<String>,
}

impl<'a> Scope<'a> {
    /// A stage starting from an image whose config has `image_env`.
    pub fn new(
        global: &'a GlobalScope,
        build_args: &'a BuildArgs,
        image_env: Vec<(String, String)>,
    ) -> Self {
        Scope {
            global,
            build_args,
            vars: image_env.clone(),
            env_only: image_env,
            declared: BTreeSet::new(),
            declared_order: Vec::new(),
        }
    }

    /// A stage `FROM parent-stage`: it inherits the parent's ENV and ARGs.
    pub fn inherit(parent: &Scope<'a>) -> Self {
        parent.clone()
    }

    /// The variables visible to the next instruction (ARGs in scope + ENV).
    pub fn env(&self) -> &Vec<(String, String)> {
        &self.vars
    }

    /// The ENV variables only (the image config's `Env`).
    pub fn image_env(&self) -> &Vec<(String, String)> {
        &self.env_only
    }

    /// RUN's environment: [`Scope::env`] plus proxy build args that were not
    /// declared (they stay out of the cache key and history).
    pub fn run_env(&self) -> Vec<(String, String)> {
        let mut env = self.vars.clone();
        for key in PROXY_ARGS {
            if let (Some(value), false) = (self.build_args.get(key), self.declared.contains(key)) {
                env.push((key.to_string(), value.to_string()));
            }
        }
        env
    }

    /// The declared ARGs with their current values (empty when unset), in
    /// declaration order: what BuildKit puts in front of a RUN's history
    /// entry and cache key (`|2 A=1 B= /bin/sh -c ...`).
    pub fn history_args(&self) -> Vec<(String, String)> {
        self.declared_order
            .iter()
            .map(|k| {
                let value = self.vars.as_slice().lookup(k).unwrap_or_default();
                (k.clone(), value)
            })
            .collect()
    }

    /// True when `key` was declared by an ARG in this stage.
    pub fn is_declared(&self, key: &str) -> bool {
        self.declared.contains(key)
    }

    /// Expands `command` with the current variables, then applies it to the
    /// scope (ARG and ENV define variables). Returns the expanded command.
    pub fn step(&mut self, command: &Command) -> Result<Step, InstructionError> {
        let escape = self.global.escape();
        if let Instruction::Arg(decls) = &command.instruction {
            return self.declare(command, decls, escape);
        }
        let env = self.vars.clone();
        let mut expander = ShellExpander::new(escape, &env);
        let expanded = if command.instruction.expands_variables() {
            expand(command, &mut expander)?
        } else {
            command.clone()
        };
        if let Instruction::Env(pairs) = &expanded.instruction {
            for pair in pairs {
                self.vars.push((pair.key.clone(), pair.value.clone()));
                self.env_only.push((pair.key.clone(), pair.value.clone()));
            }
        }
        let unmatched = self.undeclared(expander.matches.unmatched);
        Ok(Step {
            command: expanded,
            unmatched,
        })
    }

    fn declare(
        &mut self,
        command: &Command,
        decls: &[ArgDecl],
        escape: char,
    ) -> Result<Step, InstructionError> {
        let mut unmatched = BTreeSet::new();
        let mut resolved = Vec::with_capacity(decls.len());
        for decl in decls {
            let value = match (self.build_args.get(&decl.key), &decl.default) {
                (Some(v), _) => Some(v.to_string()),
                (None, Some(default)) => {
                    let (value, matches) = expand_word(command, default, &self.vars, escape)?;
                    unmatched.extend(matches.unmatched);
                    Some(value)
                }
                (None, None) => self.global.get(&decl.key).map(str::to_string),
            };
            if self.declared.insert(decl.key.clone()) {
                self.declared_order.push(decl.key.clone());
            }
            if let Some(value) = &value {
                self.vars.push((decl.key.clone(), value.clone()));
            }
            resolved.push(ArgDecl {
                key: decl.key.clone(),
                default: value,
            });
        }
        Ok(Step {
            command: Command {
                instruction: Instruction::Arg(resolved),
                ..command.clone()
            },
            unmatched: self.undeclared(unmatched),
        })
    }

    /// Drops names declared by an ARG (set or not): BuildKit's UndefinedVar
    /// does not report `ARG X` without a value.
    fn undeclared(&self, mut names: BTreeSet<String>) -> BTreeSet<String> {
        names.retain(|n| !self.declared.contains(n));
        names
    }
}
