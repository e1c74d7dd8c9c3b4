//! Variable expansion of an instruction's words, as BuildKit applies it:
//! which fields of which instruction are expanded, and how (one word to one
//! word, or one word to several for EXPOSE). The substitution itself is a
//! [`WordExpander`] (normally the shell-word lexer with the environment
//! [`crate::parser::args::Scope`] gives); this module only decides where.
//!
//! Not expanded (as in BuildKit): RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK
//! command lines (the shell does it), MAINTAINER, ONBUILD triggers (expanded
//! when they run), COPY `--from` and `--chmod`, and heredoc bodies (the
//! executor expands those whose delimiter was unquoted, when it writes them).

use super::mount::parse_mount;
use super::simple::{exposed_ports, parse_signal};
use super::{Command, ErrorKind, Instruction, InstructionError, KeyValue};
use crate::parser::shell::{Env, Lexer, Matches};

/// Substitutes variables in words.
pub trait WordExpander {
    /// One word to one word (BuildKit `ProcessWord`): quotes removed,
    /// variables substituted, inner whitespace kept.
    fn word(&mut self, word: &str) -> Result<String, String>;
    /// One word to several (BuildKit `ProcessWords`): also split at unquoted
    /// whitespace. Used by EXPOSE.
    fn words(&mut self, word: &str) -> Result<Vec<String>, String>;
    /// A heredoc body of COPY/ADD whose delimiter was unquoted: variables
    /// substituted, quotes kept as text (BuildKit's raw-quotes lexer).
    /// The default uses [`WordExpander::word`].
    fn raw(&mut self, text: &str) -> Result<String, String> {
        self.word(text)
    }
}

/// Returns `cmd` with its expandable words expanded by `ex`.
pub fn expand(cmd: &Command, ex: &mut dyn WordExpander) -> Result<Command, InstructionError> {
    let line = cmd.span.start_line;
    let column = cmd.span.column;
    let mut word = |w: &str| -> Result<String, InstructionError> {
        ex.word(w).map_err(|message| {
            InstructionError::new(
                line,
                column,
                ErrorKind::Expansion {
                    word: w.to_string(),
                    message,
                },
            )
        })
    };
    let mut out = cmd.clone();
    match &mut out.instruction {
        Instruction::From(from) => {
            from.image = word(&from.image)?;
            if let Some(p) = &mut from.platform {
                *p = word(p)?;
            }
        }
        Instruction::Copy(copy) => {
            expand_copy(copy, &mut word)?;
        }
        Instruction::Add(add) => {
            expand_copy(&mut add.copy, &mut word)?;
            if let Some(c) = &mut add.checksum {
                *c = word(c)?;
            }
        }
        Instruction::Env(pairs) | Instruction::Label(pairs) => {
            for KeyValue { key, value, .. } in pairs.iter_mut() {
                *key = word(key)?;
                *value = word(value)?;
            }
        }
        Instruction::Arg(decls) => {
            for decl in decls.iter_mut() {
                decl.key = word(&decl.key)?;
                if let Some(d) = &mut decl.default {
                    *d = word(d)?;
                }
            }
        }
        Instruction::User(s) | Instruction::Workdir(s) => {
            *s = word(s)?;
        }
        Instruction::StopSignal(s) => {
            *s = word(s)?;
            // BuildKit checks the signal once it is expanded.
            parse_signal(s)
                .map_err(|m| InstructionError::new(line, column, ErrorKind::Invalid(m)))?;
        }
        Instruction::Volume(volumes) => {
            for v in volumes.iter_mut() {
                *v = word(v)?;
            }
        }
        Instruction::Run(run) => {
            let mut mounts = Vec::with_capacity(run.mount_specs.len());
            for spec in &run.mount_specs {
                let mut expand_value = |v: &str| ex_word(&mut word, v);
                let mount = parse_mount(spec, Some(&mut expand_value)).map_err(|message| {
                    InstructionError::new(line, column, ErrorKind::Mount(message))
                })?;
                mounts.push(mount);
            }
            run.mounts = mounts;
        }
        Instruction::Expose(_) => {} // below: needs `ex.words`, not `word`
        Instruction::Cmd(_)
        | Instruction::Entrypoint(_)
        | Instruction::Shell(_)
        | Instruction::Maintainer(_)
        | Instruction::Onbuild(_)
        | Instruction::Healthcheck(_) => {}
    }
    let contents = match &mut out.instruction {
        Instruction::Copy(copy) => Some(&mut copy.contents),
        Instruction::Add(add) => Some(&mut add.copy.contents),
        _ => None,
    };
    for content in contents.into_iter().flatten().filter(|c| c.expand) {
        content.data = ex.raw(&content.data).map_err(|message| {
            InstructionError::new(
                line,
                column,
                ErrorKind::Expansion {
                    word: content.path.clone(),
                    message,
                },
            )
        })?;
    }
    if let Instruction::Expose(ports) = &mut out.instruction {
        let mut expanded = Vec::with_capacity(ports.len());
        for p in ports.iter() {
            expanded.extend(ex.words(p).map_err(|message| {
                InstructionError::new(
                    line,
                    column,
                    ErrorKind::Expansion {
                        word: p.clone(),
                        message,
                    },
                )
            })?);
        }
        // BuildKit checks the ports once they are expanded.
        exposed_ports(&expanded)
            .map_err(|m| InstructionError::new(line, column, ErrorKind::Invalid(m)))?;
        *ports = expanded;
    }
    Ok(out)
}

fn ex_word(
    word: &mut dyn FnMut(&str) -> Result<String, InstructionError>,
    value: &str,
) -> Result<String, String> {
    word(value).map_err(|e| e.kind.to_string())
}

fn expand_copy(
    copy: &mut super::Copy,
    word: &mut dyn FnMut(&str) -> Result<String, InstructionError>,
) -> Result<(), InstructionError> {
    for s in copy.sources.iter_mut() {
        *s = word(s)?;
    }
    copy.dest = word(&copy.dest)?;
    if let Some(c) = &mut copy.chown {
        *c = word(c)?;
    }
    Ok(())
}

/// The usual [`WordExpander`]: the shell-word lexer over an environment,
/// recording which variable names were found and which were not (for the
/// UndefinedVar lint).
pub struct ShellExpander<'a> {
    lexer: Lexer,
    env: &'a dyn Env,
    /// Every name looked up so far, split by whether `env` had it.
    pub matches: Matches,
}

impl<'a> ShellExpander<'a> {
    pub fn new(escape: char, env: &'a dyn Env) -> Self {
        ShellExpander {
            lexer: Lexer::new(escape),
            env,
            matches: Matches::default(),
        }
    }

    fn record(&mut self, matches: Matches) {
        self.matches.matched.extend(matches.matched);
        self.matches.unmatched.extend(matches.unmatched);
    }
}

impl WordExpander for ShellExpander<'_> {
    fn word(&mut self, word: &str) -> Result<String, String> {
        let (out, matches) = self
            .lexer
            .process_word_with_matches(word, self.env)
            .map_err(|e| e.to_string())?;
        self.record(matches);
        Ok(out)
    }

    fn words(&mut self, word: &str) -> Result<Vec<String>, String> {
        // The split form does not report names; look them up once more.
        let (_, matches) = self
            .lexer
            .process_word_with_matches(word, self.env)
            .map_err(|e| e.to_string())?;
        self.record(matches);
        self.lexer
            .process_words(word, self.env)
            .map_err(|e| e.to_string())
    }

    fn raw(&mut self, text: &str) -> Result<String, String> {
        let (out, matches) = self
            .lexer
            .raw_quotes(true)
            .process_word_with_matches(text, self.env)
            .map_err(|e| e.to_string())?;
        self.record(matches);
        Ok(out)
    }
}
