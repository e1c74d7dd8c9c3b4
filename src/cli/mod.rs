//! Argument parsing (clap) and dispatch for the `rbuild` binary. `build` is the
//! default verb: `rbuild -t x .` means `rbuild build -t x .`. Exit codes: 0 ok,
//! 1 build or user error, 2 usage error (clap's own).

mod build;
mod build_registry;
mod cache;
mod check;
mod container;
mod container_create;
mod container_exec;
mod container_ops;
mod container_run;
mod image;
mod registry;
mod volume;

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Build OCI images from Dockerfiles, and run them.
#[derive(Parser, Debug)]
#[command(
    name = "rbuild",
    version,
    about = "Build OCI images from a Dockerfile and a context, and run them",
    long_about = None,
    after_help = "Run 'rbuild COMMAND --help' for more information on a command.\n\
                  With no command, 'rbuild [OPTIONS] PATH' means 'rbuild build [OPTIONS] PATH'."
)]
pub struct Cli {
    /// Root directory of the image store and build cache
    #[arg(long, global = true, env = "RBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Enable debug output (same as RUST_LOG=debug)
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Parse and lint a Dockerfile without building it
    Check(check::CheckArgs),
    #[command(flatten)]
    Image(image::ImageCommand),
    #[command(flatten)]
    Cache(cache::CacheCommand),
    #[command(flatten)]
    Container(container::ContainerCommand),
    #[command(flatten)]
    Registry(registry::RegistryCommand),
}

/// Subcommand names, for inserting the default `build` verb.
const VERBS: &[&str] = &["build", "check", "help"];

/// Inserts `build` when the first non-option word is not a verb, so that
/// `rbuild -t x .` works like `docker build -t x .`.
fn with_default_verb(args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--root" {
            i += 2;
            continue;
        }
        if a == "--debug" || a == "-D" || a.starts_with("--root=") {
            i += 1;
            continue;
        }
        if matches!(a.as_ref(), "-h" | "--help" | "-V" | "--version") {
            return args;
        }
        if VERBS.contains(&a.as_ref())
            || image::VERBS.contains(&a.as_ref())
            || cache::VERBS.contains(&a.as_ref())
            || container::VERBS.contains(&a.as_ref())
            || registry::VERBS.contains(&a.as_ref())
        {
            return args;
        }
        let mut out = args[..i].to_vec();
        out.push("build".into());
        out.extend_from_slice(&args[i..]);
        return out;
    }
    args
}

fn init_logging(debug: bool) {
    let mut b =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(if debug {
            "debug"
        } else {
            "warn"
        }));
    b.format_timestamp(None).format_target(false);
    let _ = b.try_init();
}

/// True when the command line names a container verb.
fn is_container_verb() -> bool {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_some_and(|v| container::VERBS.contains(&v.as_str()))
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let args = with_default_verb(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // docker's CLI exits 125 on bad flags of its container verbs.
            return match (e.use_stderr(), is_container_verb()) {
                (false, _) => 0,
                (true, true) => 125,
                (true, false) => 2,
            };
        }
    };
    init_logging(cli.debug);
    let result = match cli.command {
        Command::Build(a) => build::run(cli.root.as_deref(), *a),
        Command::Check(a) => check::run(a),
        Command::Image(c) => image::run(cli.root.as_deref(), c),
        Command::Cache(c) => cache::run(cli.root.as_deref(), c),
        Command::Container(c) => container::run(cli.root.as_deref(), c),
        Command::Registry(c) => registry::run(cli.root.as_deref(), c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        with_default_verb(s.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn default_verb_is_build() {
        assert_eq!(
            v(&["rbuild", "-t", "x", "."]),
            ["rbuild", "build", "-t", "x", "."]
        );
        assert_eq!(
            v(&["rbuild", "--root", "/r", "."]),
            ["rbuild", "--root", "/r", "build", "."]
        );
        assert_eq!(v(&["rbuild", "check", "."]), ["rbuild", "check", "."]);
        assert_eq!(v(&["rbuild", "pull", "x"]), ["rbuild", "pull", "x"]);
        assert_eq!(
            v(&["rbuild", "image", "prune", "-f"]),
            ["rbuild", "image", "prune", "-f"]
        );
        assert_eq!(v(&["rbuild", "--help"]), ["rbuild", "--help"]);
    }
}
