//! The stage graph of a Dockerfile: each stage's base (an image, after
//! expansion of the meta ARGs, or an earlier stage), what it depends on
//! (`FROM <stage>`, `COPY --from=`, `RUN --mount=from=`), which stage is the
//! target and which stages the target needs.
//!
//! References follow BuildKit: FROM matches only *earlier* stage names; a
//! `--from` value that is all digits is a stage index (out of range is an
//! error), a name of a stage is that stage, anything else is an image. A
//! stage may only use stages defined before it (BuildKit fails at dispatch
//! otherwise; we report it for the stages the target needs), and any cycle
//! is an error. Unlike BuildKit, which only warns (DuplicateStageName), two
//! stages with the same name are an error: a reference to them is ambiguous.
//! ONBUILD triggers are not looked at here. It resolves no image.
//!
//! JSON (`rbuild check --format json`): `{"target": <index>, "stages":
//! [{"name", "index", "line", "base", "base_stage", "platform",
//! "depends_on", "images", "needed"}]}` where `depends_on` holds stage
//! *indices* (names are not unique-by-construction for unnamed stages) and
//! `images` the external images used by `--from`.

use crate::parser::args::{BuildArgs, GlobalScope, Platform};
use crate::parser::ast::Dockerfile;
use crate::parser::diagnostic::Diagnostic;
use crate::parser::instructions::{
    parse_dockerfile, suggest, Command, Instruction, ParsedDockerfile, Stage,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the stage graph depends on besides the file.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub build_args: BuildArgs,
    /// `--target`; default: the last stage.
    pub target: Option<String>,
    /// `--platform` (the target platform); default: the host's.
    pub platform: Option<Platform>,
}

/// One stage in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageNode {
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    pub index: usize,
    /// Line of the stage's FROM.
    pub line: usize,
    /// The base after expansion: an image reference or an earlier stage's name.
    pub base: String,
    /// The stage `base` names, when it is one.
    pub base_stage: Option<usize>,
    /// `--platform` after expansion.
    pub platform: Option<String>,
    /// Indices of the stages this stage uses (base and `--from`), ascending.
    pub depends_on: Vec<usize>,
    /// External images used by `COPY --from` / `RUN --mount from=`.
    pub images: Vec<String>,
    /// True when the target needs this stage (the target included).
    pub needed: bool,
}

impl StageNode {
    /// The name BuildKit shows: the `AS` name or `stage-N`.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// The stages of a Dockerfile and how they depend on each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageGraph {
    pub stages: Vec<StageNode>,
    /// Index of the target stage.
    pub target: usize,
}

impl StageGraph {
    /// The stages the target needs, in build (file) order.
    pub fn needed(&self) -> impl Iterator<Item = &StageNode> {
        self.stages.iter().filter(|s| s.needed)
    }
}

/// Builds the stage graph of a raw Dockerfile (types its instructions first).
pub fn stage_graph(df: &Dockerfile, opts: &BuildOptions) -> Result<StageGraph, Diagnostic> {
    let parsed = parse_dockerfile(df)?;
    stage_graph_of(&parsed, opts)
}

/// Builds the stage graph of an already typed Dockerfile.
pub fn stage_graph_of(
    df: &ParsedDockerfile,
    opts: &BuildOptions,
) -> Result<StageGraph, Diagnostic> {
    let target_name = match &opts.target {
        Some(t) => t.to_ascii_lowercase(),
        None => df
            .stages
            .last()
            .and_then(|s| s.from.name.clone())
            .unwrap_or_default(),
    };
    let host = Platform::host();
    let target_platform = opts.platform.clone().unwrap_or_else(|| host.clone());
    let global = GlobalScope::new(
        &df.meta_args,
        &opts.build_args,
        &host,
        &target_platform,
        &target_name,
        df.escape,
    )?;

    // Pass 1: names, bases (earlier stages only), platforms.
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(df.stages.len());
    for stage in &df.stages {
        let line = stage.span.start_line;
        let at = |message: String| Diagnostic::error(line, stage.span.column, message);
        let (base, _) = global.expand_from_word(&stage.from.image).map_err(|e| {
            at(format!(
                "failed to expand base name {:?}: {e}",
                stage.from.image
            ))
        })?;
        if base.is_empty() {
            return Err(at(format!(
                "base name ({}) should not be blank",
                stage.from.image
            )));
        }
        let platform = match &stage.from.platform {
            None => None,
            Some(p) => {
                let (value, _) = global.expand_from_word(p).map_err(|e| {
                    at(format!("failed to process arguments for platform {p}: {e}"))
                })?;
                if value.is_empty() {
                    return Err(at(format!("empty platform value from expression {p}")));
                }
                Platform::parse(&value)
                    .map_err(|e| at(format!("failed to parse platform {p}: {e}")))?;
                Some(value)
            }
        };
        let base_stage = by_name.get(&base).copied();
        if let Some(name) = &stage.from.name {
            if let Some(&first) = by_name.get(name) {
                return Err(at(format!(
                    "duplicate stage name {name:?}: also defined on line {}; stage names must be unique",
                    df.stages.get(first).map_or(0, |s| s.span.start_line)
                )));
            }
            by_name.insert(name.clone(), stage.index);
        }
        nodes.push(StageNode {
            name: stage.from.name.clone(),
            index: stage.index,
            line,
            base,
            base_stage,
            platform,
            depends_on: base_stage.into_iter().collect(),
            images: Vec::new(),
            needed: false,
        });
    }

    // Pass 2: --from references; all stage names are known now.
    let mut forward_refs = Vec::new();
    for (stage, node) in df.stages.iter().zip(nodes.iter_mut()) {
        for (command, reference) in stage_references(stage) {
            let diag = |message: String| {
                Diagnostic::error(command.span.start_line, command.span.column, message)
            };
            let index = if !reference.is_empty() && reference.bytes().all(|b| b.is_ascii_digit()) {
                match reference.parse::<usize>() {
                    Ok(i) if i < df.stages.len() => i,
                    _ => return Err(diag(format!("invalid stage index {reference}"))),
                }
            } else if let Some(&i) = by_name.get(&reference.to_ascii_lowercase()) {
                i
            } else {
                if !node.images.contains(&reference) {
                    node.images.push(reference);
                }
                continue;
            };
            if index >= stage.index {
                forward_refs.push((
                    stage.index,
                    index,
                    command.span.start_line,
                    command.span.column,
                ));
            }
            if !node.depends_on.contains(&index) {
                node.depends_on.push(index);
            }
        }
        node.depends_on.sort_unstable();
    }

    check_cycles(&nodes)?;

    let target = match &opts.target {
        None => nodes.len().saturating_sub(1),
        Some(t) => *by_name.get(&t.to_ascii_lowercase()).ok_or_else(|| {
            let names: Vec<&str> = nodes.iter().filter_map(|n| n.name.as_deref()).collect();
            let hint = match suggest(t, names.iter().copied()) {
                Some(s) => format!(" (did you mean {s}?)"),
                None => String::new(),
            };
            let available = if names.is_empty() {
                "the stages have no names; name one with FROM ... AS <name>".to_string()
            } else {
                format!("available stages: {}", names.join(", "))
            };
            Diagnostic::error(
                0,
                0,
                format!("target stage {t:?} could not be found{hint}; {available}"),
            )
        })?,
    };
    mark_needed(&mut nodes, target);

    for (from, to, line, column) in forward_refs {
        let (Some(user), Some(used)) = (nodes.get(from), nodes.get(to)) else {
            continue;
        };
        if user.needed {
            return Err(Diagnostic::error(
                line,
                column,
                format!(
                    "cannot use stage {:?} from stage {:?}: it needs to be defined before the current stage",
                    used.display_name(),
                    user.display_name()
                ),
            ));
        }
    }
    Ok(StageGraph {
        stages: nodes,
        target,
    })
}

/// The `--from` values of COPY and of RUN mounts in `stage`, with the command.
fn stage_references(stage: &Stage) -> Vec<(&Command, String)> {
    let mut refs = Vec::new();
    for command in &stage.commands {
        match &command.instruction {
            Instruction::Copy(copy) => {
                if let Some(from) = copy.from.as_ref().filter(|f| !f.is_empty()) {
                    refs.push((command, from.clone()));
                }
            }
            Instruction::Run(run) => {
                for mount in &run.mounts {
                    if let Some(from) = mount.from.as_ref().filter(|f| !f.is_empty()) {
                        refs.push((command, from.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    refs
}

/// Fails on the first stage that can reach itself through `depends_on`.
fn check_cycles(nodes: &[StageNode]) -> Result<(), Diagnostic> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    for start in 0..nodes.len() {
        // Iterative DFS: (stage, next dependency position).
        let mut stack = vec![(start, 0usize)];
        while let Some(&mut (at, ref mut next)) = stack.last_mut() {
            if *next == 0 && state.get(at) == Some(&2) {
                stack.pop();
                continue;
            }
            if let Some(s) = state.get_mut(at) {
                *s = 1;
            }
            let deps = nodes.get(at).map_or(&[][..], |n| &n.depends_on[..]);
            if let Some(&dep) = deps.get(*next) {
                *next += 1;
                match state.get(dep) {
                    Some(1) => {
                        let node = nodes.get(dep).or(nodes.get(at));
                        return Err(Diagnostic::error(
                            node.map_or(0, |n| n.line),
                            0,
                            format!(
                                "circular dependency detected on stage: {}",
                                node.map_or_else(String::new, StageNode::display_name)
                            ),
                        ));
                    }
                    Some(0) => stack.push((dep, 0)),
                    _ => {}
                }
            } else {
                if let Some(s) = state.get_mut(at) {
                    *s = 2;
                }
                stack.pop();
            }
        }
    }
    Ok(())
}

fn mark_needed(nodes: &mut [StageNode], target: usize) {
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        let Some(node) = nodes.get_mut(i) else {
            continue;
        };
        if node.needed {
            continue;
        }
        node.needed = true;
        todo.extend(node.depends_on.iter().copied());
    }
}
