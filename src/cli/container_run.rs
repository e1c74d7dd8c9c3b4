//! `run`, `start` and the hidden `container-monitor` verb: running a created
//! container in the foreground (the CLI is its monitor), detached (a
//! `container-monitor` process in its own session, which reports the start
//! over a pipe), or with a tty (detached monitor + this terminal attached).

use super::container::Ctx;
use super::container_create::RunArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use rbuild::runner::monitor::{Attach, Monitor, StartReport};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

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

pub fn run(ctx: &Ctx, a: RunArgs) -> Result<i32> {
    if a.runtime.is_some() && (a.detach || a.tty) {
        eprintln!(
            "rbuild: Error response from daemon: -d and -t are not supported with --runtime \
             (it runs in the foreground, output to this terminal); drop --runtime to use the built-in sandbox"
        );
        return Ok(125);
    }
    let id = match super::container_create::create(ctx, &a) {
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
    if a.runtime.is_some() {
        return run_with_runtime(ctx, &id);
    }
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

/// `run --runtime R`: the external OCI runtime runs the container in the
/// foreground; `--rm` removes it afterwards.
fn run_with_runtime(ctx: &Ctx, id: &str) -> Result<i32> {
    let c = ctx.containers.load(id)?;
    let result = rbuild::runner::oci::run_foreground(&ctx.store, &ctx.containers, &c);
    if c.config.host.auto_remove {
        let c = ctx.containers.load(id)?;
        rbuild::runner::monitor::remove_files(&ctx.containers, &ctx.volumes, &c, true)?;
    }
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("rbuild: Error response from daemon: {e}");
            Ok(125)
        }
    }
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
