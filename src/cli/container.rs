//! Container commands with docker's names, flags and output: `run`, `ps`,
//! `stop`, `kill`, `start`, `restart`, `rm`, `logs`, `wait`, `port`,
//! `rename`, `exec`, `top`, `stats`, `inspect` (containers and images),
//! `container prune`, `volume ...`. The work happens in `rbuild::runner`;
//! this file parses arguments and prints. Errors exit 125 like docker's CLI.

use super::container_create::RunArgs;
use super::container_exec::{exec, stats};
use super::container_ops::{cp, kill, logs_cmd, port, prune, rm, stop, top, wait};
use super::container_run::{self, ExecArgs, StartArgs};
use super::image::open_store;
pub use super::image::print_table;
use super::volume::volume;
use anyhow::Result;
use clap::{Args, Subcommand};
use rbuild::runner::volumes::Volumes;
use rbuild::runner::{ps, template, ContainerStore};
use rbuild::store::Store;
use std::path::Path;
use std::time::SystemTime;

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Create a new container (start it with `start`)
    Create(Box<RunArgs>),
    /// List containers
    Ps(PsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display the running processes of a container (host PIDs)
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerGroup),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// (internal) supervise one container; started by run -d and start
    #[command(name = "container-monitor", hide = true)]
    Monitor { id: String },
}

/// Verbs this module adds, for the default-verb logic.
pub const VERBS: &[&str] = &[
    "run",
    "create",
    "ps",
    "stop",
    "kill",
    "start",
    "restart",
    "rm",
    "logs",
    "wait",
    "port",
    "rename",
    "exec",
    "top",
    "stats",
    "cp",
    "container",
    "volume",
    "container-monitor",
];

#[derive(Subcommand, Debug)]
pub enum ContainerGroup {
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// List containers
    Ls(PsArgs),
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation (always the case here)
    #[arg(short, long)]
    pub force: bool,
    /// Remove unused named volumes too (volume prune)
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (KEY=VALUE)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time")]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for all)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since a timestamp or relative time (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub name: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub name: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub name: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH or a local path
    pub src: String,
    /// CONTAINER:DEST_PATH or a local path
    pub dst: String,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    pub names: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create {
        name: Option<String>,
        /// Set metadata for a volume (KEY=VALUE)
        #[arg(short, long)]
        label: Vec<String>,
    },
    /// List volumes
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove one or more volumes
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused volumes (anonymous ones; with -a named ones too)
    Prune(PruneArgs),
}

/// The stores every verb works on.
pub struct Ctx {
    pub store: Store,
    pub containers: ContainerStore,
    pub volumes: Volumes,
}

impl Ctx {
    pub fn open(root: Option<&Path>) -> Result<Ctx> {
        let store = open_store(root)?;
        let containers = ContainerStore::open(store.root())?;
        let volumes = Volumes::open(store.root())?;
        Ok(Ctx {
            store,
            containers,
            volumes,
        })
    }
}

/// Runs a container verb; errors print docker-style and exit 125.
pub fn run(root: Option<&Path>, cmd: ContainerCommand) -> Result<i32> {
    match dispatch(root, cmd) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("Error response from daemon: {e:#}");
            Ok(125)
        }
    }
}

fn dispatch(root: Option<&Path>, cmd: ContainerCommand) -> Result<i32> {
    let ctx = Ctx::open(root)?;
    match cmd {
        ContainerCommand::Run(a) => container_run::run(&ctx, *a),
        ContainerCommand::Create(a) => {
            let id = super::container_create::create(&ctx, &a)?;
            println!("{id}");
            Ok(0)
        }
        ContainerCommand::Ps(a) | ContainerCommand::Container(ContainerGroup::Ls(a)) => {
            ps_cmd(&ctx, a)
        }
        ContainerCommand::Stop(a) => each(&a.names, |n| {
            stop(&ctx, n, a.time)?;
            println!("{n}");
            Ok(())
        }),
        ContainerCommand::Kill(a) => {
            let sig = rbuild::runner::options::parse_signal(&a.signal)?;
            each(&a.names, |n| {
                kill(&ctx, n, sig)?;
                println!("{n}");
                Ok(())
            })
        }
        ContainerCommand::Start(a) => container_run::start(&ctx, a),
        ContainerCommand::Restart(a) => each(&a.names, |n| {
            stop(&ctx, n, a.time)?;
            container_run::start_detached(&ctx, n)?;
            println!("{n}");
            Ok(())
        }),
        ContainerCommand::Rm(a) => each(&a.names, |n| {
            rm(&ctx, n, a.force, a.volumes)?;
            println!("{n}");
            Ok(())
        }),
        ContainerCommand::Logs(a) => logs_cmd(&ctx, a),
        ContainerCommand::Wait(a) => each(&a.names, |n| {
            println!("{}", wait(&ctx, n, None)?);
            Ok(())
        }),
        ContainerCommand::Port(a) => port(&ctx, a),
        ContainerCommand::Rename(a) => {
            ctx.containers.rename(&a.name, &a.new_name)?;
            Ok(0)
        }
        ContainerCommand::Exec(a) => exec(&ctx, a),
        ContainerCommand::Top(a) => top(&ctx, a),
        ContainerCommand::Cp(a) => cp(&ctx, a),
        ContainerCommand::Stats(a) => stats(&ctx, a),
        ContainerCommand::Container(ContainerGroup::Prune(_)) => prune(&ctx),
        ContainerCommand::Volume(v) => volume(&ctx, v),
        ContainerCommand::Monitor { id } => container_run::monitor_main(&ctx, &id),
    }
}

/// Applies `f` to every name; the first failure is printed, the rest still run.
pub fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut code = 0;
    for n in names {
        if let Err(e) = f(n) {
            eprintln!("Error response from daemon: {e:#}");
            code = 125;
        }
    }
    Ok(code)
}

fn ps_cmd(ctx: &Ctx, a: PsArgs) -> Result<i32> {
    let filters = a
        .filter
        .iter()
        .map(|f| ps::Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    // docker: a status/exited filter looks at every container, others only
    // at running ones unless -a.
    let by_state = filters
        .iter()
        .any(|f| matches!(f, ps::Filter::Status(_) | ps::Filter::Exited(_)));
    let now = SystemTime::now();
    let list: Vec<_> = ctx
        .containers
        .list()?
        .into_iter()
        .filter(|c| a.all || by_state || c.is_running())
        .filter(|c| ps::matches_all(&filters, c))
        .collect();
    if a.quiet {
        for c in &list {
            println!(
                "{}",
                ps::row_json(c, now, a.no_trunc)["ID"]
                    .as_str()
                    .unwrap_or("")
            );
        }
        return Ok(0);
    }
    let format = a.format.unwrap_or_else(|| "table".into());
    if let Some(rest) = format.strip_prefix("table") {
        let fields: Vec<(String, String)> = if rest.trim().is_empty() {
            ps::TABLE_COLUMNS
                .iter()
                .map(|(h, f)| (h.to_string(), format!("{{{{.{f}}}}}")))
                .collect()
        } else {
            rest.trim()
                .split("\\t")
                .map(|cell| (table_header(cell), cell.to_string()))
                .collect()
        };
        let compiled = fields
            .iter()
            .map(|(_, t)| template::Format::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = vec![fields.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>()];
        for c in &list {
            let data = ps::row_json(c, now, a.no_trunc);
            rows.push(
                compiled
                    .iter()
                    .map(|f| f.render(&data))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        print_table(&rows)?;
    } else {
        let f = template::Format::parse(&format)?;
        for c in &list {
            println!("{}", f.render(&ps::row_json(c, now, a.no_trunc))?);
        }
    }
    Ok(0)
}

/// The header docker shows for a `table` cell like `{{.ID}}`.
fn table_header(cell: &str) -> String {
    let field = cell
        .trim()
        .trim_start_matches("{{")
        .trim_end_matches("}}")
        .trim()
        .trim_start_matches('.');
    ps::TABLE_COLUMNS
        .iter()
        .find(|(_, f)| *f == field)
        .map(|(h, _)| h.to_string())
        .unwrap_or_else(|| field.to_uppercase())
}
