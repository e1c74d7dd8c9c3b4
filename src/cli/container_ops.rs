//! Container lifecycle and information verbs: `stop`, `kill`, `wait`, `rm`,
//! `logs`, `port`, `top`, `container prune`. Argument types live in
//! container.rs; the work in `rbuild::runner`.

use super::container::{print_table, CpArgs, Ctx, LogsArgs, PortArgs, TopArgs};
use anyhow::{bail, Result};
use rbuild::runner::{logs, monitor, proc, time};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

/// Signals the container's init; marks it stopped by the user so that no
/// restart policy brings it back.
pub fn kill(ctx: &Ctx, name: &str, sig: i32) -> Result<()> {
    let c = ctx.containers.get(name)?;
    if !c.is_running() {
        bail!(
            "Cannot kill container: {name}: Container {} is not running",
            c.id()
        );
    }
    ctx.containers
        .update_state(c.id(), |s| s.stopped_by_user = true)?;
    signal(c.state.pid, c.state.pid_start_ticks, sig)
}

pub fn signal(pid: i32, ticks: u64, sig: i32) -> Result<()> {
    if proc::is_alive(pid, ticks) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(sig)?,
        )?;
    }
    Ok(())
}

/// docker stop: the stop signal, then SIGKILL after the timeout; returns
/// once the exit is recorded.
pub fn stop(ctx: &Ctx, name: &str, timeout: Option<i64>) -> Result<()> {
    let c = ctx.containers.get(name)?;
    if !c.is_running() {
        return Ok(());
    }
    let sig = match &c.config.stop_signal {
        Some(s) => rbuild::runner::options::parse_signal(s)?,
        None => libc::SIGTERM,
    };
    let secs = timeout.or(c.config.stop_timeout).unwrap_or(10);
    ctx.containers
        .update_state(c.id(), |s| s.stopped_by_user = true)?;
    let (pid, ticks) = (c.state.pid, c.state.pid_start_ticks);
    signal(pid, ticks, sig)?;
    let deadline = Instant::now() + Duration::from_secs(secs.max(0) as u64);
    while proc::is_alive(pid, ticks) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if proc::is_alive(pid, ticks) {
        signal(pid, ticks, libc::SIGKILL)?;
    }
    wait(ctx, c.id(), Some(Duration::from_secs(30)))?;
    Ok(())
}

/// Waits until the container is no longer running; its exit code.
pub fn wait(ctx: &Ctx, name: &str, limit: Option<Duration>) -> Result<i32> {
    let start = Instant::now();
    let id = ctx.containers.get(name)?.config.id;
    loop {
        let c = match ctx.containers.load(&id) {
            Ok(c) => c,
            // Removed by its monitor (--rm): it left the exit code.
            Err(e) => {
                let p = ctx.containers.exit_code_path(&id);
                return match std::fs::read_to_string(&p) {
                    Ok(code) => {
                        let _ = std::fs::remove_file(&p);
                        Ok(code.trim().parse().unwrap_or(0))
                    }
                    Err(_) => Err(e.into()),
                };
            }
        };
        if !c.is_running() && !ctx.containers.monitor_alive(&id) {
            return Ok(c.state.exit_code);
        }
        if limit.is_some_and(|l| start.elapsed() > l) {
            bail!("container {name} did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn rm(ctx: &Ctx, name: &str, force: bool, volumes: bool) -> Result<()> {
    let c = ctx.containers.get(name)?;
    if c.is_running() {
        if !force {
            return Err(rbuild::runner::RunnerError::RemoveRunning(c.config.name).into());
        }
        kill(ctx, c.id(), libc::SIGKILL)?;
        wait(ctx, c.id(), Some(Duration::from_secs(30)))?;
    } else if ctx.containers.monitor_alive(c.id()) {
        // A monitor between restarts or finishing up: let it settle.
        wait(ctx, c.id(), Some(Duration::from_secs(30)))?;
    }
    let c = ctx.containers.load(c.id())?;
    monitor::remove_files(&ctx.containers, &ctx.volumes, &c, volumes)?;
    Ok(())
}

pub fn logs_cmd(ctx: &Ctx, a: LogsArgs) -> Result<i32> {
    let c = ctx.containers.get(&a.name)?;
    let now = SystemTime::now();
    let when = |s: &Option<String>| -> Result<Option<SystemTime>> {
        s.as_deref()
            .map(|v| {
                time::parse_since(v, now).ok_or_else(|| {
                    anyhow::anyhow!(
                        "invalid time {v:?}: use RFC 3339, unix seconds or a duration like 10m"
                    )
                })
            })
            .transpose()
    };
    let q = logs::LogQuery {
        tail: match a.tail.as_str() {
            "all" | "-1" => None,
            n => Some(
                n.parse()
                    .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: a number or all"))?,
            ),
        },
        since: when(&a.since)?,
        until: when(&a.until)?,
        timestamps: a.timestamps,
    };
    let path = ctx.containers.log_path(c.id());
    let (entries, offset) = logs::read(&path, &q)?;
    let emit = |e: &logs::LogEntry| -> std::io::Result<()> {
        let text = q.render(e);
        if e.stream == "stderr" {
            std::io::stderr().write_all(text.as_bytes())
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())?;
            o.flush()
        }
    };
    for e in &entries {
        emit(e)?;
    }
    if a.follow {
        let id = c.config.id.clone();
        let follow_q = logs::LogQuery {
            tail: None,
            ..q.clone()
        };
        logs::follow(
            &path,
            offset,
            &follow_q,
            &mut || {
                ctx.containers
                    .load(&id)
                    .map(|c| !c.is_running() && !ctx.containers.monitor_alive(&id))
                    .unwrap_or(true)
            },
            &mut |e| emit(e),
        )?;
    }
    Ok(0)
}

pub fn port(ctx: &Ctx, a: PortArgs) -> Result<i32> {
    let c = ctx.containers.get(&a.name)?;
    let want = a.port.as_deref().map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut found = false;
    for b in &c.state.ports {
        if want.as_ref().is_some_and(|w| *w != b.key()) || !c.is_running() {
            continue;
        }
        found = true;
        let ip = if b.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &b.host_ip
        };
        match &want {
            Some(_) => println!("{ip}:{}", b.host_port),
            None => println!("{} -> {ip}:{}", b.key(), b.host_port),
        }
    }
    if let (Some(w), false) = (&want, found) {
        bail!("No public port '{w}' published for {}", a.name);
    }
    Ok(0)
}

pub fn top(ctx: &Ctx, a: TopArgs) -> Result<i32> {
    let c = ctx.containers.get(&a.name)?;
    if !c.is_running() {
        return Err(rbuild::runner::RunnerError::NotRunning(c.config.id).into());
    }
    let pids = proc::tree(c.state.pid);
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps").args(&args).output()?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow::anyhow!("ps output has no PID column: {header}"))?;
    let mut rows = vec![header
        .split_whitespace()
        .map(str::to_string)
        .collect::<Vec<_>>()];
    let ncols = rows.first().map(Vec::len).unwrap_or(0);
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let pid = fields.get(col).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            // The last column (the command) keeps its spaces.
            let mut row: Vec<String> = fields
                .iter()
                .take(ncols.saturating_sub(1))
                .map(|s| s.to_string())
                .collect();
            row.push(
                fields
                    .get(ncols.saturating_sub(1)..)
                    .unwrap_or_default()
                    .join(" "),
            );
            rows.push(row);
        }
    }
    print_table(&rows)?;
    Ok(0)
}

pub fn prune(ctx: &Ctx) -> Result<i32> {
    println!("Deleted Containers:");
    for c in ctx.containers.list()? {
        if c.is_running() || ctx.containers.monitor_alive(c.id()) {
            continue;
        }
        monitor::remove_files(&ctx.containers, &ctx.volumes, &c, false)?;
        println!("{}", c.id());
    }
    println!("\nTotal reclaimed space: 0B");
    Ok(0)
}

/// `NAME:PATH` -> (NAME, PATH); a local path (absolute, relative with a
/// slash before any colon, or without colon) -> None.
fn container_path(arg: &str) -> Option<(&str, &str)> {
    let (name, path) = arg.split_once(':')?;
    (!name.is_empty() && !name.contains('/')).then_some((name, path))
}

pub fn cp(ctx: &Ctx, a: CpArgs) -> Result<i32> {
    use rbuild::runner::copy;
    match (container_path(&a.src), container_path(&a.dst)) {
        (Some((name, path)), None) => {
            let c = ctx.containers.get(name)?;
            let roots = if c.is_running() {
                vec![std::path::PathBuf::from(format!(
                    "/proc/{}/root",
                    c.state.pid
                ))]
            } else {
                let mut r = vec![ctx.containers.dir(c.id()).join("upper")];
                let layers = rbuild::runner::launch::image_layers(&ctx.store, &c.config.image_id)?;
                r.extend(layers.into_iter().rev());
                r
            };
            copy::copy_out(&roots, path, std::path::Path::new(&a.dst), name)?;
        }
        (None, Some((name, path))) => {
            let c = ctx.containers.get(name)?;
            let root = if c.is_running() {
                std::path::PathBuf::from(format!("/proc/{}/root", c.state.pid))
            } else {
                let upper = ctx.containers.dir(c.id()).join("upper");
                std::fs::create_dir_all(&upper)?;
                upper
            };
            copy::copy_in(std::path::Path::new(&a.src), &root, path)?;
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
    Ok(0)
}
