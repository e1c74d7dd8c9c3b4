//! `rbuild check`: parse and lint a Dockerfile without building it.
//!
//! The report goes to **stdout** (so CI can capture it; BuildKit prints its
//! warnings on the build's progress stream instead), as compiler-style text
//! or as one JSON object (`--format json`). Exit code: 0 when there is no
//! error (warnings allowed), 1 on a parse or instruction error or a finding
//! made an error by `# check=error=true`, 2 for usage errors (clap).

use anyhow::{bail, Context};
use clap::Args;
use rbuild::context::DockerIgnore;
use rbuild::lint::render::{write_json, write_text, JsonReport};
use rbuild::lint::{lint, LintOptions};
use rbuild::parser::diagnostic::Diagnostic;
use rbuild::parser::instructions::parse_dockerfile;
use rbuild::parser::{dump, parse};
use std::collections::BTreeMap;
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

/// `KEY=VALUE`, or `KEY` alone to take the value from the environment (as
/// docker does; unset means the arg is not passed).
fn parse_build_args(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in raw {
        match item.split_once('=') {
            Some(("", _)) => bail!("invalid --build-arg {item:?}: the name is empty"),
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(item) {
                    out.insert(item.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Runs the check. Returns the exit code.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let build_args = parse_build_args(&args.build_args)?;
    let source = locate(&args);
    let bytes = read_source(&source)?;
    let text = String::from_utf8_lossy(&bytes);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    let report = |out: &mut dyn Write, diagnostics: &[Diagnostic]| -> anyhow::Result<i32> {
        if args.format == "json" {
            let report: JsonReport<'_, ()> = JsonReport {
                diagnostics,
                stages: None,
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
            return report(&mut out, &[d]);
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
            return report(&mut out, &[d]);
        }
    };
    if let Some(target) = &args.target {
        let wanted = target.to_lowercase();
        if !parsed
            .stages
            .iter()
            .any(|s| s.from.name.as_deref() == Some(wanted.as_str()))
        {
            let d = Diagnostic::error(0, 0, format!("target stage {target:?} could not be found"))
                .in_file(&source.display);
            return report(&mut out, &[d]);
        }
    }
    let context_dir = Path::new(&args.context);
    let ignore = if context_dir.is_dir() {
        Some(DockerIgnore::load(context_dir, source.path.as_deref())?)
    } else {
        None
    };
    let opts = LintOptions {
        file: source.display.clone(),
        build_args,
        ignore: ignore.as_ref(),
    };
    let diagnostics = lint(&df, &parsed, &opts);
    report(&mut out, &diagnostics)
}
