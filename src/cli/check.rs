//! `rbuild check`: parse and lint a Dockerfile without building it.
//!
//! The report goes to **stdout** (so CI can capture it; BuildKit prints its
//! warnings on the build's progress stream instead), as compiler-style text
//! or as one JSON object (`--format json`). Exit code: 0 when there is no
//! error (warnings allowed), 1 on a parse or instruction error or a finding
//! made an error by `# check=error=true`, 2 for usage errors (clap).

use anyhow::Context;
use clap::Args;
use rbuild::context::DockerIgnore;
use rbuild::lint::render::{write_json, write_text, JsonReport};
use rbuild::lint::{lint, LintOptions};
use rbuild::parser::args::BuildArgs;
use rbuild::parser::diagnostic::Diagnostic;
use rbuild::parser::instructions::parse_dockerfile;
use rbuild::parser::stages::{stage_graph_of, BuildOptions, StageGraph};
use rbuild::parser::{dump, parse};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Parse and lint a Dockerfile without building it
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Set the target build stage
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Output format: "text" or "json"
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Print the parse tree in BuildKit's dump format instead of linting
    #[arg(long = "dump-ast")]
    pub dump_ast: bool,
    /// Build context (for .dockerignore and the default Dockerfile)
    #[arg(value_name = "PATH", default_value = ".")]
    pub context: String,
}

/// Where the Dockerfile comes from and how to name it in messages.
struct Source {
    /// The name diagnostics use: the path as the user gave it.
    display: String,
    /// `None` for stdin.
    path: Option<PathBuf>,
}

fn locate(args: &CheckArgs) -> Source {
    match args.file.as_deref() {
        Some("-") => Source {
            display: "<stdin>".to_string(),
            path: None,
        },
        Some(file) => Source {
            display: file.to_string(),
            path: Some(PathBuf::from(file)),
        },
        None => {
            let path = Path::new(&args.context).join("Dockerfile");
            let display = path
                .strip_prefix(".")
                .unwrap_or(&path)
                .display()
                .to_string();
            Source {
                display,
                path: Some(path),
            }
        }
    }
}

fn read_source(source: &Source) -> anyhow::Result<Vec<u8>> {
    match &source.path {
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read the Dockerfile from stdin")?;
            Ok(bytes)
        }
        Some(path) => std::fs::read(path).with_context(|| {
            format!(
                "cannot read Dockerfile {}; pass its path with -f or check the context PATH",
                path.display()
            )
        }),
    }
}

/// Runs the check. Returns the exit code.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let build_args = BuildArgs::from_cli(&args.build_args, |k| std::env::var(k).ok())?;
    let source = locate(&args);
    let bytes = read_source(&source)?;
    let text = String::from_utf8_lossy(&bytes);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    let report = |out: &mut dyn Write,
                  diagnostics: &[Diagnostic],
                  graph: Option<&StageGraph>|
     -> anyhow::Result<i32> {
        if args.format == "json" {
            let report = JsonReport {
                diagnostics,
                target: graph.map(|g| g.target),
                stages: graph.map(|g| g.stages.as_slice()),
            };
            write_json(out, &report)?;
        } else {
            write_text(out, diagnostics, &text)?;
        }
        Ok(if diagnostics.iter().any(Diagnostic::is_error) {
            1
        } else {
            0
        })
    };

    let df = match parse(&bytes) {
        Ok(df) => df,
        Err(e) => {
            let d = Diagnostic::error(e.line(), 0, e.message()).in_file(&source.display);
            return report(&mut out, &[d], None);
        }
    };
    if args.dump_ast {
        out.write_all(dump(&df).as_bytes())?;
        return Ok(0);
    }
    let parsed = match parse_dockerfile(&df) {
        Ok(parsed) => parsed,
        Err(e) => {
            let d = Diagnostic::from(e).in_file(&source.display);
            return report(&mut out, &[d], None);
        }
    };
    let graph_opts = BuildOptions {
        build_args: build_args.clone(),
        target: args.target.clone(),
        platform: None,
    };
    // A graph error (unknown target, cycle, ...) does not stop the lint.
    let graph = stage_graph_of(&parsed, &graph_opts);
    let context_dir = Path::new(&args.context);
    let ignore = if context_dir.is_dir() {
        Some(DockerIgnore::load(context_dir, source.path.as_deref())?)
    } else {
        None
    };
    let opts = LintOptions {
        file: source.display.clone(),
        build_args: build_args.clone(),
        ignore: ignore.as_ref(),
    };
    let mut diagnostics = lint(&df, &parsed, &opts);
    if let Err(d) = &graph {
        diagnostics.push(d.clone().in_file(&source.display));
        diagnostics.sort_by_key(|d| (d.line, d.column));
    }
    report(&mut out, &diagnostics, graph.as_ref().ok())
}
