//! The `rbuild` command line: parses arguments (src/cli/) and maps errors to
//! exit codes. All real work lives in the library.

fn main() {
    std::process::exit(rbuild_cli::main());
}

#[path = "cli/mod.rs"]
mod rbuild_cli;
