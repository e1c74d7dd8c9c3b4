//! `run`'s flags and the creation of a container from an image and those
//! flags: image lookup, image defaults merged with the options, ports,
//! mounts and volumes, the record in the container store.

use super::container::Ctx;
use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args};
use rbuild::runner::defaults::{self, ImageDefaults, RunRequest};
use rbuild::runner::options::{self, MountRequest, SecurityOpt};
use rbuild::runner::record::{ContainerConfig, HostConfig, RestartPolicy};
use rbuild::runner::{id, launch, time};
use std::path::PathBuf;

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
    /// Security options: no-new-privileges[=true|false], seccomp=unconfined
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Run with this OCI runtime (crun, runc or a path) instead of the
    /// built-in sandbox (foreground `run` only)
    #[arg(long)]
    pub runtime: Option<String>,
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

/// Builds and stores the container for `run`.
pub fn create(ctx: &Ctx, a: &RunArgs) -> Result<String> {
    let (image_name, cmd) = a.args.split_first().context("an image name is required")?;
    if image_name.starts_with('-') {
        bail!("unknown flag: {image_name}\nSee 'rbuild run --help'.");
    }
    let rec = super::registry::image_for_run(&ctx.store, image_name, &a.pull)?;
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
    let (mut no_new_privileges, mut seccomp_unconfined) = (false, false);
    for s in &a.security_opt {
        match options::parse_security_opt(s)? {
            SecurityOpt::NoNewPrivileges(on) => no_new_privileges = on,
            SecurityOpt::SeccompUnconfined => seccomp_unconfined = true,
        }
    }
    let runtime = match &a.runtime {
        Some(name) => {
            // Fail before anything is created when it does not exist.
            rbuild::sandbox::runtime::resolve_runtime(name)?;
            name.clone()
        }
        None => String::new(),
    };
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
            no_new_privileges,
            seccomp_unconfined,
            runtime,
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
