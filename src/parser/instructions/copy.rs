//! COPY and ADD: sources, destination, inline heredoc sources, and their
//! flags (`--from --chown --chmod --link --parents --exclude`; ADD also
//! `--checksum --keep-git-dir`). Paths are not resolved or checked against
//! the context here; that is the executor's job.

use super::flags::{parse_flags, FlagKind, Flags};
use super::{ErrorKind, InstructionError, NodeLocation};
use crate::parser::ast::Node;

/// A heredoc used as a source file (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// The heredoc name, used as the file name.
    pub path: String,
    pub data: String,
    /// False when the delimiter was quoted: no variable expansion of `data`.
    pub expand: bool,
}

/// A parsed COPY.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// Source paths as written (context paths, or paths in `from`).
    pub sources: Vec<String>,
    pub contents: Vec<SourceContent>,
    pub dest: String,
    /// `--from`: stage name, stage index or image. BuildKit does not expand
    /// variables here (stage references are resolved before expansion).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

/// A parsed ADD: COPY's fields (`from` and `parents` unused) plus its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Add {
    pub copy: Copy,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

pub(super) fn parse_copy(node: &Node) -> Result<Copy, InstructionError> {
    let flags = parse_flags(
        node,
        "COPY",
        &[
            ("from", FlagKind::String),
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("parents", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
        ],
    )?;
    let mut copy = sources_and_dest(node, "COPY", &flags)?;
    copy.from = flags.string("from");
    copy.parents = flags.bool("parents");
    Ok(copy)
}

pub(super) fn parse_add(node: &Node) -> Result<Add, InstructionError> {
    let flags = parse_flags(
        node,
        "ADD",
        &[
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
            ("checksum", FlagKind::String),
            ("keep-git-dir", FlagKind::Bool),
        ],
    )?;
    Ok(Add {
        copy: sources_and_dest(node, "ADD", &flags)?,
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
    })
}

fn sources_and_dest(node: &Node, name: &str, flags: &Flags) -> Result<Copy, InstructionError> {
    let Some((dest, sources)) = node.args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(node.error(ErrorKind::Arguments(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ))));
    };
    if heredoc_name(node, dest).is_some() {
        return Err(node.error(ErrorKind::Arguments(format!(
            "{name} cannot accept a heredoc as a destination"
        ))));
    }
    let chmod = flags.string("chmod");
    if let Some(mode) = chmod
        .as_deref()
        .filter(|m| m.bytes().all(|b| b.is_ascii_digit()))
    {
        // Octal modes must fit 07777; other forms (`u+x`) are symbolic.
        if u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o7777) {
            return Err(InstructionError::new(
                node.line(),
                node.column_of("--chmod"),
                ErrorKind::Invalid(format!(
                    "invalid chmod parameter: '{mode}'. it should be octal string and between 0 and 07777"
                )),
            ));
        }
    }
    let mut copy = Copy {
        dest: dest.clone(),
        chown: flags.string("chown"),
        chmod,
        link: flags.bool("link"),
        exclude: flags.strings("exclude"),
        ..Copy::default()
    };
    for source in sources {
        match heredoc_name(node, source).and_then(|n| node.heredocs.iter().find(|h| h.name == n)) {
            Some(heredoc) => copy.contents.push(SourceContent {
                path: heredoc.name.clone(),
                data: heredoc.content.clone(),
                expand: heredoc.expand,
            }),
            None => copy.sources.push(source.clone()),
        }
    }
    Ok(copy)
}

/// The name of a `<<NAME`, `<<-NAME`, `<<"NAME"` word, when the node is in
/// shell form (JSON arrays never hold heredocs).
fn heredoc_name(node: &Node, word: &str) -> Option<String> {
    if node.json_form {
        return None;
    }
    let rest = word.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let name: String = rest.chars().filter(|c| *c != '"' && *c != '\'').collect();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}
