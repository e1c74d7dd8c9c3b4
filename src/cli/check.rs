//! `rbuild check`: parse and lint a Dockerfile without building it.

use clap::Args;

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
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
    /// Print the parse tree in BuildKit's dump format instead of linting
    #[arg(long = "dump-ast")]
    pub dump_ast: bool,
    /// Build context (for .dockerignore and the default Dockerfile)
    #[arg(value_name = "PATH", default_value = ".")]
    pub context: String,
}

/// Runs the check. Returns the exit code.
pub fn run(_args: CheckArgs) -> anyhow::Result<i32> {
    anyhow::bail!("rbuild check is being written")
}
