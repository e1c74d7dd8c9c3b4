//! Build cache commands: `prune` and its alias `builder prune` (`--all`,
//! `--filter until=DURATION`, `--keep-storage SIZE`, `-f`), and `system df`
//! (images, layers and build cache with sizes), with Docker's wording. The
//! work happens in `rbuild::cache::prune`; this file parses and prints.

use super::image::open_store;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use rbuild::cache::prune::{parse_size, parse_until_filter, UsageLine};
use rbuild::cache::{disk_usage, prune, Cache, PruneOptions};
use rbuild::image::human;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Remove build cache
    Prune(PruneArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Manage rbuild's storage
    #[command(subcommand)]
    System(SystemCommand),
}

/// Verbs this module adds, for the default-verb logic.
pub const VERBS: &[&str] = &["prune", "builder", "system"];

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage of images, layers and build cache
    Df,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (only until=DURATION, e.g. until=24h)
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Amount of disk space to keep for cache (e.g. 10GB); least recently used goes first
    #[arg(long, value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(root: Option<&Path>, cmd: CacheCommand) -> Result<i32> {
    let store = open_store(root)?;
    let cache = Cache::open(&store)?;
    match cmd {
        CacheCommand::Prune(a) | CacheCommand::Builder(BuilderCommand::Prune(a)) => {
            run_prune(&cache, a)
        }
        CacheCommand::System(SystemCommand::Df) => run_df(&cache),
    }
}

fn run_prune(cache: &Cache, a: PruneArgs) -> Result<i32> {
    let mut opts = PruneOptions {
        all: a.all,
        ..Default::default()
    };
    for f in &a.filters {
        opts.until = Some(parse_until_filter(f)?);
    }
    if let Some(k) = &a.keep_storage {
        opts.keep_storage = Some(parse_size(k)?);
    }
    if !a.force && !confirm(a.all)? {
        return Ok(1);
    }
    let report = prune(cache, &opts)?;
    let mut out = std::io::stdout().lock();
    if !report.removed.is_empty() {
        writeln!(out, "Deleted build cache objects:")?;
        for r in &report.removed {
            writeln!(out, "{}", r.key.hex().get(..25).unwrap_or(r.key.hex()))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human::size(report.bytes_freed)
    )?;
    if !report.gc_ran {
        writeln!(
            out,
            "(another rbuild process has the store open; the space is freed by the next prune)"
        )?;
    }
    Ok(0)
}

fn confirm(all: bool) -> Result<bool> {
    let what = if all {
        "all build cache"
    } else {
        "all dangling build cache"
    };
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("refusing to prune without confirmation: stdin is not a terminal; use -f");
    }
    eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn run_df(cache: &Cache) -> Result<i32> {
    let du = disk_usage(cache)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<15} {:<9} {:<9} {:<10} RECLAIMABLE",
        "TYPE", "TOTAL", "ACTIVE", "SIZE"
    )?;
    for (name, line) in [
        ("Images", &du.images),
        ("Layers", &du.layers),
        ("Build Cache", &du.cache),
    ] {
        writeln!(
            out,
            "{:<15} {:<9} {:<9} {:<10} {}",
            name,
            line.total,
            line.active,
            human::size(line.size),
            reclaimable(line)
        )?;
    }
    Ok(0)
}

fn reclaimable(l: &UsageLine) -> String {
    let pct = (l.reclaimable * 100).checked_div(l.size).unwrap_or(0);
    format!("{} ({pct}%)", human::size(l.reclaimable))
}
