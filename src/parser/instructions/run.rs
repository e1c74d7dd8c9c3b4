//! RUN, CMD, ENTRYPOINT and SHELL: command lines in shell form (one string,
//! run through the stage's SHELL) or exec form (JSON array), plus RUN's
//! `--mount`, `--network` and `--security` flags. Mount specs are parsed in
//! [`super::mount`]; nothing here runs anything.

use super::flags::{parse_flags, FlagKind};
use super::mount::{parse_mount, Mount};
use super::{ErrorKind, InstructionError, NodeLocation};
use crate::parser::ast::{Heredoc, Node};

/// A command line as BuildKit's `ShellDependantCmdLine`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandLine {
    /// Exec form: the JSON elements. Shell form: one element, the text.
    pub args: Vec<String>,
    /// True for shell form: the stage's SHELL is put in front at run time.
    pub prepend_shell: bool,
    /// Heredoc bodies attached to the instruction (RUN only).
    pub heredocs: Vec<Heredoc>,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    Sandbox,
    Insecure,
}

/// A parsed RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// The `--mount` values as written; [`super::expand`] re-parses them after
    /// variable expansion.
    pub mount_specs: Vec<String>,
    /// The mounts as parsed from the unexpanded specs. Options whose value
    /// holds a `$` keep their default until expansion.
    pub mounts: Vec<Mount>,
    pub network: Option<NetworkMode>,
    pub security: Option<SecurityMode>,
}

pub(super) fn parse_run(node: &Node) -> Result<Run, InstructionError> {
    let flags = parse_flags(
        node,
        "RUN",
        &[
            ("mount", FlagKind::Strings),
            ("network", FlagKind::String),
            ("security", FlagKind::String),
        ],
    )?;
    let mount_specs = flags.strings("mount");
    let mut mounts = Vec::with_capacity(mount_specs.len());
    for spec in &mount_specs {
        let mount = parse_mount(spec, None).map_err(|message| {
            InstructionError::new(node.line(), node.column_of(spec), ErrorKind::Mount(message))
        })?;
        mounts.push(mount);
    }
    let network = match flags.string("network") {
        None => None,
        Some(v) => Some(match v.as_str() {
            "default" => NetworkMode::Default,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => return Err(bad_value(node, "network", &v, &["default", "none", "host"])),
        }),
    };
    let security = match flags.string("security") {
        None => None,
        Some(v) => Some(match v.as_str() {
            "sandbox" => SecurityMode::Sandbox,
            "insecure" => SecurityMode::Insecure,
            _ => return Err(bad_value(node, "security", &v, &["sandbox", "insecure"])),
        }),
    };
    Ok(Run {
        command: command_line(node),
        mount_specs,
        mounts,
        network,
        security,
    })
}

fn bad_value(node: &Node, flag: &str, value: &str, allowed: &[&str]) -> InstructionError {
    let hint = match super::suggest(value, allowed.iter().copied()) {
        Some(s) => format!(" (did you mean {s}?)"),
        None => format!(" (allowed: {})", allowed.join(", ")),
    };
    InstructionError::new(
        node.line(),
        node.column_of(&format!("--{flag}")),
        ErrorKind::Invalid(format!("unsupported {flag} mode {value:?}{hint}")),
    )
}

/// CMD and ENTRYPOINT: no flags, any arguments (an empty CMD is allowed).
pub(super) fn parse_cmd(node: &Node, name: &str) -> Result<CommandLine, InstructionError> {
    parse_flags(node, name, &[])?;
    Ok(command_line(node))
}

/// SHELL: exec form only, at least one element.
pub(super) fn parse_shell(node: &Node) -> Result<Vec<String>, InstructionError> {
    parse_flags(node, "SHELL", &[])?;
    if node.args.iter().all(|a| a.is_empty()) {
        return Err(node.error(ErrorKind::Arguments(
            "SHELL requires at least one argument".into(),
        )));
    }
    if !node.json_form {
        return Err(node.error(ErrorKind::Arguments(format!(
            "SHELL requires the arguments to be in JSON form: {}",
            node.original.trim()
        ))));
    }
    Ok(node.args.clone())
}

fn command_line(node: &Node) -> CommandLine {
    let args = if node.json_form || node.args.is_empty() {
        node.args.clone()
    } else {
        vec![node.args.join(" ")]
    };
    CommandLine {
        args,
        prepend_shell: !node.json_form,
        heredocs: node.heredocs.clone(),
    }
}
