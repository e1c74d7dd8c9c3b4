//! `rbuild build`: the options of `docker build` (buildx flavour) and the glue
//! from them to the executor.

use clap::Args;
use std::path::{Path, PathBuf};

/// Build an image from a Dockerfile
#[derive(Args, Debug)]
#[command(
    about = "Build an image from a Dockerfile",
    override_usage = "rbuild build [OPTIONS] PATH | -"
)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Do not cache specified stages
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "MODE", default_value = "default")]
    pub network: String,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")
    #[arg(long = "ssh", value_name = "SPEC")]
    pub ssh: Vec<String>,
    /// Set type of progress output ("auto", "tty", "plain", "quiet", "rawjson")
    #[arg(long, value_name = "TYPE", default_value = "auto")]
    pub progress: String,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to a file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Write build result metadata to a file
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Set target platform for build
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Output destination (format: "type=local,dest=path")
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Memory limit for RUN steps
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Number of CPUs for RUN steps
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,
    /// Tune container pids limit for RUN steps (-1 for unlimited)
    #[arg(long = "pids-limit", value_name = "N")]
    pub pids_limit: Option<i64>,
    /// Build context: a directory, or "-" for a tar archive on stdin
    #[arg(value_name = "PATH")]
    pub context: String,
}

/// Runs a build. Returns the exit code.
pub fn run(_root: Option<&Path>, _args: BuildArgs) -> anyhow::Result<i32> {
    anyhow::bail!("the build engine is not part of this version yet; use 'rbuild check' to parse and lint a Dockerfile")
}
