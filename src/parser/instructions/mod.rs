//! Typed Dockerfile instructions, built from the raw [`Node`]s of the parser
//! the way BuildKit's `frontend/dockerfile/instructions` does: each keyword
//! gets its own struct with validated flags and arguments, and the file is
//! split into meta ARGs (before the first FROM) and stages.
//!
//! Variables are *not* expanded here: values keep their `$VAR` and quotes.
//! [`expand`] does that later, with the environment that
//! [`crate::parser::args::Scope`] gives for each instruction.

mod copy;
mod error;
pub mod expand;
mod flags;
mod from;
mod healthcheck;
mod mount;
mod run;
mod simple;

pub use copy::{Add, Copy, SourceContent};
pub use error::{ErrorKind, InstructionError};
pub use expand::{expand, ShellExpander, WordExpander};
pub use flags::suggest;
pub use from::From;
pub use healthcheck::{parse_go_duration, Healthcheck, HealthcheckCmd};
pub use mount::{parse_mount, Mount, MountType, Sharing};
pub use run::{CommandLine, NetworkMode, Run, SecurityMode};
pub use simple::{exposed_ports, parse_signal, ArgDecl, KeyValue, Onbuild};

use crate::parser::ast::{Dockerfile, Node, Span};

/// Every instruction the Dockerfile frontend knows, upper case.
pub const INSTRUCTION_NAMES: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// One typed instruction. Words are as written (not expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    /// `SHELL ["executable", "param"...]` (JSON form only).
    Shell(Vec<String>),
    Label(Vec<KeyValue>),
    Env(Vec<KeyValue>),
    Maintainer(String),
    /// Port specs as written (`80/tcp`, `$PORT`); BuildKit sorts them.
    Expose(Vec<String>),
    Add(Add),
    Copy(Copy),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Arg(Vec<ArgDecl>),
    Onbuild(Onbuild),
    StopSignal(String),
    Healthcheck(Healthcheck),
}

impl Instruction {
    /// The keyword, upper case (`RUN`).
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::Label(_) => "LABEL",
            Instruction::Env(_) => "ENV",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Arg(_) => "ARG",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
        }
    }

    /// True for instructions whose words BuildKit expands with the build
    /// environment (FROM only with meta ARGs). RUN, CMD, ENTRYPOINT, SHELL,
    /// HEALTHCHECK, MAINTAINER and ONBUILD are left to the shell or to the
    /// stage that triggers them.
    pub fn expands_variables(&self) -> bool {
        matches!(
            self,
            Instruction::From(_)
                | Instruction::Add(_)
                | Instruction::Copy(_)
                | Instruction::Env(_)
                | Instruction::Expose(_)
                | Instruction::Label(_)
                | Instruction::StopSignal(_)
                | Instruction::User(_)
                | Instruction::Volume(_)
                | Instruction::Workdir(_)
                | Instruction::Arg(_)
                | Instruction::Run(_) // only its --mount values
        )
    }
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub instruction: Instruction,
    pub span: Span,
    /// The keyword as written (for casing lints).
    pub keyword_raw: String,
    /// The logical source line (continuations joined).
    pub original: String,
}

/// A build stage: its FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position in the file.
    pub index: usize,
    pub from: From,
    pub span: Span,
    pub original: String,
    pub commands: Vec<Command>,
}

/// A Dockerfile as typed instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDockerfile {
    /// ARG instructions before the first FROM (global scope, usable in FROM).
    pub meta_args: Vec<Command>,
    pub stages: Vec<Stage>,
    /// The escape token of the file (for the shell-word lexer).
    pub escape: char,
}

/// Types every instruction of `df` and groups them into stages.
pub fn parse_dockerfile(df: &Dockerfile) -> Result<ParsedDockerfile, InstructionError> {
    if df.nodes.is_empty() {
        return Err(InstructionError::new(0, 0, ErrorKind::NoInstructions));
    }
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &df.nodes {
        let command = parse_instruction(node)?;
        match (command.instruction, stages.last_mut()) {
            (Instruction::From(from), _) => stages.push(Stage {
                index: stages.len(),
                from,
                span: command.span,
                original: command.original,
                commands: Vec::new(),
            }),
            (instruction @ Instruction::Arg(_), None) => meta_args.push(Command {
                instruction,
                ..command
            }),
            (instruction, Some(stage)) => stage.commands.push(Command {
                instruction,
                ..command
            }),
            (instruction, None) => {
                return Err(InstructionError::new(
                    node.span.start_line,
                    node.span.column,
                    ErrorKind::NoStage(instruction.name().to_string()),
                ))
            }
        }
    }
    if stages.is_empty() {
        return Err(InstructionError::new(
            df.span.end_line,
            0,
            ErrorKind::Invalid("dockerfile contains no stages to build".into()),
        ));
    }
    Ok(ParsedDockerfile {
        meta_args,
        stages,
        escape: df.directives.escape,
    })
}

/// Types one raw instruction.
pub fn parse_instruction(node: &Node) -> Result<Command, InstructionError> {
    let instruction = match node.keyword.as_str() {
        "from" => Instruction::From(from::parse(node)?),
        "run" => Instruction::Run(run::parse_run(node)?),
        "cmd" => Instruction::Cmd(run::parse_cmd(node, "CMD")?),
        "entrypoint" => Instruction::Entrypoint(run::parse_cmd(node, "ENTRYPOINT")?),
        "shell" => Instruction::Shell(run::parse_shell(node)?),
        "label" => Instruction::Label(simple::parse_kvs(node, "LABEL")?),
        "env" => Instruction::Env(simple::parse_kvs(node, "ENV")?),
        "maintainer" => Instruction::Maintainer(simple::one_arg(node, "MAINTAINER")?),
        "expose" => Instruction::Expose(simple::parse_expose(node)?),
        "add" => Instruction::Add(copy::parse_add(node)?),
        "copy" => Instruction::Copy(copy::parse_copy(node)?),
        "volume" => Instruction::Volume(simple::parse_volume(node)?),
        "user" => Instruction::User(simple::one_arg(node, "USER")?),
        "workdir" => Instruction::Workdir(simple::one_arg(node, "WORKDIR")?),
        "arg" => Instruction::Arg(simple::parse_arg(node)?),
        "onbuild" => Instruction::Onbuild(simple::parse_onbuild(node)?),
        "stopsignal" => Instruction::StopSignal(simple::one_arg(node, "STOPSIGNAL")?),
        "healthcheck" => Instruction::Healthcheck(healthcheck::parse(node)?),
        _ => {
            return Err(InstructionError::new(
                node.span.start_line,
                node.span.column,
                ErrorKind::UnknownInstruction {
                    name: node.keyword_raw.clone(),
                    hint: suggest(&node.keyword, INSTRUCTION_NAMES),
                },
            ))
        }
    };
    Ok(Command {
        instruction,
        span: node.span,
        keyword_raw: node.keyword_raw.clone(),
        original: node.original.clone(),
    })
}

/// Shorthand used by the per-instruction parsers.
pub(crate) type NodeRef<'a> = &'a Node;

/// Location helpers on raw nodes.
pub(crate) trait NodeLocation {
    fn line(&self) -> usize;
    /// Column of `text` on the instruction's line, or of the keyword when
    /// `text` is not found (e.g. it was quoted in the source).
    fn column_of(&self, text: &str) -> usize;
    /// An error at the instruction's keyword.
    fn error(&self, kind: ErrorKind) -> InstructionError;
}

impl NodeLocation for Node {
    fn line(&self) -> usize {
        self.span.start_line
    }

    fn column_of(&self, text: &str) -> usize {
        match self.original.find(text) {
            Some(at) => self.span.column + self.original[..at].chars().count(),
            None => self.span.column,
        }
    }

    fn error(&self, kind: ErrorKind) -> InstructionError {
        InstructionError::new(self.span.start_line, self.span.column, kind)
    }
}
