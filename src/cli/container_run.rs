//! `run`, `start`, `exec`, `stats` and the hidden `container-monitor` verb:
//! creating a container from an image and the options, running it in the
//! foreground (the CLI is its monitor) or detached (a `container-monitor`
//! process in its own session, which reports the start over a pipe).

use super::container::Ctx;
use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args};
use rbuild::runner::defaults::{self, ImageDefaults, RunRequest};
use rbuild::runner::monitor::{Attach, Monitor, StartReport};
use rbuild::runner::options::{self, MountRequest};
use rbuild::runner::record::{ContainerConfig, HostConfig, RestartPolicy};
use rbuild::runner::{id, launch, time};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[arg(long, action = ArgAction::Help, help = "Print help")]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port without publishing it
    #[arg(long)]
    pub expose: Vec<String>,
    /// Bind mount a volume
    #[arg(short, long)]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Connect a container to a network: none, host or private (bridge)
    #[arg(long, alias = "net", default_value = "private")]
    pub network: String,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Run an init inside the container (the sandbox always has one)
    #[arg(long)]
    pub init: bool,
    /// Restart policy: no, on-failure[:N], always, unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<i64>,
    /// Set meta data on a container
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Command to run to check health
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s, 500ms)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub health_interval: Option<std::time::Duration>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    pub health_retries: Option<u32>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Pull image before running: missing, always or never
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Username or UID
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "CONTAINER COMMAND")]
    pub args: Vec<String>,
}

/// Builds and stores the container for `run`.
fn create(ctx: &Ctx, a: &RunArgs) -> Result<String> {
    let (image_name, cmd) = a.args.split_first().context("an image name is required")?;
    if image_name.starts_with('-') {
        bail!("unknown flag: {image_name}\nSee 'rbuild run --help'.");
    }
    let rec = match (a.pull.as_str(), ctx.store.resolve(image_name)) {
        ("missing" | "always" | "never", Ok(rec)) => rec,
        ("missing" | "always", Err(_)) => {
            eprintln!("Unable to find image '{image_name}' locally");
            bail!("pull access denied for {image_name}: pulling is not available here (no registry client in this build); build, import or load the image first")
        }
        ("never", Err(_)) => bail!("No such image: {image_name}"),
        (other, _) => bail!("invalid --pull {other:?}: use missing, always or never"),
    };
    let blob: serde_json::Value = serde_json::from_slice(&ctx.store.read_blob(&rec.id)?)?;
    let image = ImageDefaults::from_image_config(&blob);
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(options::read_env_file(f)?);
    }
    for e in &a.env {
        env.extend(options::parse_env(e)?);
    }
    let mut bindings = Vec::new();
    for p in &a.publish {
        bindings.extend(options::parse_publish(p)?);
    }
    let mut exposed: Vec<String> = bindings.iter().map(|b| b.key()).collect();
    for e in &a.expose {
        exposed.extend(options::parse_publish(e)?.iter().map(|b| b.key()));
    }
    let req = RunRequest {
        entrypoint: a.entrypoint.clone(),
        args: cmd.to_vec(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        labels: a
            .label
            .iter()
            .map(|l| options::parse_label(l))
            .collect::<Result<_, _>>()?,
        stop_signal: a.stop_signal.clone(),
        exposed_ports: exposed,
    };
    if let Some(s) = &a.stop_signal {
        options::parse_signal(s)?;
    }
    if let Some(w) = &a.workdir {
        if !w.starts_with('/') {
            bail!("the working directory '{w}' is invalid, it needs to be an absolute path");
        }
    }
    let network: rbuild::sandbox::network::NetworkMode = a.network.parse()?;
    let mut requests = Vec::new();
    for v in &a.volume {
        requests.push(options::parse_volume(v)?);
    }
    for m in &a.mount {
        requests.push(options::parse_mount(m)?);
    }
    let binds = a
        .volume
        .iter()
        .zip(&requests)
        .filter(|(_, r)| matches!(r, MountRequest::Bind { .. }))
        .map(|(v, _)| v.clone())
        .collect();
    let id = id::new_id()?;
    let name = match &a.name {
        Some(n) => id::validate_name(n)?,
        None => String::new(),
    };
    let mut cfg = ContainerConfig {
        id: id.clone(),
        name,
        created: time::now_rfc3339(),
        image_name: image_name.clone(),
        image_id: rec.id.to_string(),
        hostname: a
            .hostname
            .clone()
            .unwrap_or_else(|| id::short(&id).to_string()),
        tty: a.tty,
        open_stdin: a.interactive,
        stop_timeout: a.stop_timeout,
        host: HostConfig {
            binds,
            port_bindings: Vec::new(),
            publish_all: a.publish_all,
            network_mode: match network {
                rbuild::sandbox::network::NetworkMode::None => "none",
                rbuild::sandbox::network::NetworkMode::Host => "host",
                rbuild::sandbox::network::NetworkMode::Private => "private",
            }
            .into(),
            memory: a
                .memory
                .as_deref()
                .map(rbuild::sandbox::cgroups::parse_memory)
                .transpose()?,
            cpus: a.cpus,
            pids_limit: a.pids_limit,
            read_only: a.read_only,
            init: a.init,
            restart: options::parse_restart(&a.restart)?,
            auto_remove: a.rm,
        },
        ..Default::default()
    };
    if a.rm
        && cfg.host.restart
            != (RestartPolicy {
                name: "no".into(),
                max_retry: 0,
            })
    {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }
    defaults::apply(&mut cfg, &image, &req)?;
    cfg.healthcheck = rbuild::runner::health::merge(
        image.healthcheck.as_ref(),
        a.health_cmd.as_deref(),
        a.health_interval,
        a.health_retries,
        a.no_healthcheck,
    );
    if a.publish_all {
        for p in &cfg.exposed_ports {
            if !bindings.iter().any(|b| b.key() == *p) {
                bindings.extend(options::parse_publish(p)?);
            }
        }
    }
    if !bindings.is_empty() && network != rbuild::sandbox::network::NetworkMode::Private {
        bail!(
            "published ports need a private network (--network private), not --network {}",
            a.network
        );
    }
    cfg.host.port_bindings = bindings;
    if !cfg.name.is_empty() {
        ctx.containers.check_name_free(&cfg.name)?;
    }
    let layers = launch::image_layers(&ctx.store, &cfg.image_id)?;
    cfg.mounts = launch::resolve_mounts(&ctx.volumes, &layers, &requests, &cfg.volumes)?;
    let anonymous: Vec<String> = cfg
        .mounts
        .iter()
        .filter(|m| m.anonymous)
        .map(|m| m.name.clone())
        .collect();
    match ctx.containers.create(cfg) {
        Ok(c) => Ok(c.config.id),
        Err(e) => {
            for v in anonymous {
                let _ = ctx.volumes.remove(&v, &[]);
            }
            Err(e.into())
        }
    }
}

pub fn run(ctx: &Ctx, a: RunArgs) -> Result<i32> {
    let id = match create(ctx, &a) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("rbuild: Error response from daemon: {e:#}");
            return Ok(125);
        }
    };
    if a.detach {
        return match spawn_monitor(ctx, &id)? {
            Ok(()) => {
                println!("{id}");
                Ok(0)
            }
            Err((code, msg)) => {
                eprintln!("rbuild: Error response from daemon: {msg}");
                Ok(code)
            }
        };
    }
    if a.tty {
        return run_tty(ctx, &id, a.interactive);
    }
    let _lock = ctx.containers.lock_monitor(&id)?;
    let attach = if a.tty || a.interactive {
        Attach::Direct
    } else {
        Attach::Tee
    };
    let monitor = Monitor {
        store: &ctx.store,
        containers: &ctx.containers,
        volumes: &ctx.volumes,
        id,
        attach,
    };
    let code = monitor.run(&mut |r| {
        if let Err((_, msg)) = r {
            eprintln!("rbuild: Error response from daemon: {msg}");
        }
    })?;
    Ok(code)
}

/// `run -t` in the foreground: a detached monitor holds the pty; this
/// process attaches to it (raw mode, window size, stdin with -i) until the
/// container exits (its code) or the user detaches with Ctrl-P Ctrl-Q (0).
fn run_tty(ctx: &Ctx, id: &str, interactive: bool) -> Result<i32> {
    if let Err((code, msg)) = spawn_monitor(ctx, id)? {
        eprintln!("rbuild: Error response from daemon: {msg}");
        return Ok(code);
    }
    attach_tty(ctx, id, interactive)
}

/// Attaches this terminal to the pty the monitor of `id` serves.
fn attach_tty(ctx: &Ctx, id: &str, interactive: bool) -> Result<i32> {
    let sock = rbuild::runner::monitor::attach_socket(&ctx.containers, id)?;
    let conn = std::os::unix::net::UnixStream::connect(&sock)
        .with_context(|| format!("attaching to {}", sock.display()))?;
    let master = rbuild::runner::tty::recv_fd(&conn)?;
    let input = interactive.then_some(0);
    let raw = input.and_then(rbuild::runner::tty::RawMode::enable);
    let end = rbuild::runner::tty::relay(&master, input, &mut std::io::stdout())?;
    drop(raw);
    drop(master);
    drop(conn);
    match end {
        rbuild::runner::tty::RelayEnd::Detached => Ok(0),
        rbuild::runner::tty::RelayEnd::Closed => {
            super::container_ops::wait(ctx, id, Some(std::time::Duration::from_secs(30)))
        }
    }
}

/// Starts a detached monitor for `id` and waits for its start report.
fn spawn_monitor(ctx: &Ctx, id: &str) -> Result<StartReport> {
    let exe = std::env::current_exe().context("locating the rbuild binary")?;
    let log = ctx.containers.run_dir(id)?.join("monitor.log");
    let log = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(ctx.store.root())
        .arg("container-monitor")
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the monitor leaves our session so
    // that closing the terminal does not kill it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the container monitor")?;
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut text)?;
    }
    // The monitor lives on; it is reparented when we exit.
    std::mem::forget(child);
    let line = text.lines().next().unwrap_or_default();
    if line == "ok" {
        return Ok(Ok(()));
    }
    let (code, msg) = match line.strip_prefix("err ").and_then(|r| r.split_once(' ')) {
        Some((c, m)) => (c.parse().unwrap_or(125), m.to_string()),
        None => (
            125,
            format!(
                "the container monitor exited without reporting (see {})",
                ctx.containers.run_dir(id)?.join("monitor.log").display()
            ),
        ),
    };
    Ok(Err((code, msg)))
}

/// The hidden `container-monitor ID` verb: supervises one container.
pub fn monitor_main(ctx: &Ctx, id: &str) -> Result<i32> {
    let _lock = ctx.containers.lock_monitor(id)?;
    // The report goes to the original stdout (a pipe to the starter); the
    // monitor's own fd 1 points to /dev/null from now on.
    let mut report_pipe = Some(std::fs::File::from(
        std::os::fd::AsFd::as_fd(&std::io::stdout()).try_clone_to_owned()?,
    ));
    let null = std::fs::File::options().write(true).open("/dev/null")?;
    // SAFETY: replaces fd 1 with /dev/null; the report pipe has its own fd.
    unsafe {
        libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
    }
    let monitor = Monitor {
        store: &ctx.store,
        containers: &ctx.containers,
        volumes: &ctx.volumes,
        id: id.to_string(),
        attach: Attach::Log,
    };
    let code = monitor.run(&mut |r| {
        if let Some(mut p) = report_pipe.take() {
            let line = match r {
                Ok(()) => "ok\n".to_string(),
                Err((code, msg)) => format!("err {code} {}\n", msg.replace('\n', " ")),
            };
            let _ = p.write_all(line.as_bytes());
        }
    })?;
    Ok(code)
}

/// Starts a stopped container in the background.
pub fn start_detached(ctx: &Ctx, name: &str) -> Result<()> {
    let c = ctx.containers.get(name)?;
    if c.is_running() || ctx.containers.monitor_alive(c.id()) {
        return Ok(());
    }
    ctx.containers
        .update_state(c.id(), |s| s.stopped_by_user = false)?;
    match spawn_monitor(ctx, c.id())? {
        Ok(()) => Ok(()),
        Err((_, msg)) => bail!("{msg}"),
    }
}

pub fn start(ctx: &Ctx, a: StartArgs) -> Result<i32> {
    let mut code = 0;
    for n in &a.names {
        let c = ctx.containers.get(n)?;
        let id = c.config.id;
        if a.attach && c.config.tty {
            // A -t container: attach to its pty (stdin too with -i).
            start_detached(ctx, n)?;
            code = attach_tty(ctx, &id, a.interactive)?;
            continue;
        }
        if a.interactive {
            bail!("start -i needs a container created with -t; for stdin streaming use run -i");
        }
        let path = ctx.containers.log_path(&id);
        // Attach shows only what this start writes.
        let (_, offset) = rbuild::runner::logs::read(&path, &Default::default())?;
        start_detached(ctx, n)?;
        if a.attach {
            rbuild::runner::logs::follow(
                &path,
                offset,
                &Default::default(),
                &mut || {
                    ctx.containers
                        .load(&id)
                        .map(|c| !c.is_running() && !ctx.containers.monitor_alive(&id))
                        .unwrap_or(true)
                },
                &mut |e| {
                    if e.stream == "stderr" {
                        std::io::stderr().write_all(e.log.as_bytes())
                    } else {
                        std::io::stdout().write_all(e.log.as_bytes())
                    }
                },
            )?;
            code = ctx.containers.load(&id)?.state.exit_code;
        } else {
            println!("{n}");
        }
    }
    Ok(code)
}
