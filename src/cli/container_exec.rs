//! `exec` (a process entering a running container through the sandbox)
//! and `stats` (cgroup usage of running containers).

use super::container::{print_table, Ctx, StatsArgs};
use super::container_run::ExecArgs;
use anyhow::{Context, Result};
use rbuild::runner::{defaults, id, launch, options, RunnerError};
use rbuild::sandbox::{self, ExecSpec, OutputStream, StdioMode};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

pub fn exec(ctx: &Ctx, a: ExecArgs) -> Result<i32> {
    let (name, cmd) = a
        .args
        .split_first()
        .context("a container and a command are required")?;
    let c = ctx.containers.get(name)?;
    if !c.is_running() {
        return Err(RunnerError::NotRunning(c.config.id).into());
    }
    if a.detach {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe);
        child.arg("--root").arg(ctx.store.root()).arg("exec");
        for e in &a.env {
            child.arg("-e").arg(e);
        }
        if let Some(u) = &a.user {
            child.arg("-u").arg(u);
        }
        if let Some(w) = &a.workdir {
            child.arg("-w").arg(w);
        }
        child
            .arg(c.id())
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid only; the exec outlives us like docker exec -d.
        unsafe {
            child.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        child.spawn()?;
        return Ok(0);
    }
    let mut env = defaults::process_env(&c.config);
    for e in &a.env {
        if let Some(kv) = options::parse_env(e)? {
            let key = kv.split('=').next().unwrap_or_default().to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(kv);
        }
    }
    if a.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let user_spec = a.user.clone().unwrap_or_else(|| c.config.user.clone());
    let root = format!("/proc/{}/root", c.state.pid);
    let read = |p: &str| std::fs::read_to_string(format!("{root}{p}")).ok();
    let user = sandbox::user::resolve(
        &user_spec,
        read("/etc/passwd").as_deref(),
        read("/etc/group").as_deref(),
    )?;
    let mut spec = ExecSpec::new(cmd.to_vec());
    spec.env = env;
    spec.cwd = a.workdir.clone().unwrap_or_else(|| {
        if c.config.working_dir.is_empty() {
            "/".into()
        } else {
            c.config.working_dir.clone()
        }
    });
    spec.user = user;
    if a.tty {
        return exec_tty(c.state.pid, spec, a.interactive);
    }
    spec.stdio = if a.interactive {
        StdioMode::Inherit
    } else {
        StdioMode::Piped
    };
    let status = sandbox::exec(c.state.pid, &spec, &mut |stream, bytes| {
        let _ = match stream {
            OutputStream::Stdout => std::io::stdout().write_all(bytes),
            OutputStream::Stderr => std::io::stderr().write_all(bytes),
        };
    });
    match status {
        Ok(s) => Ok(s.code()),
        Err(e) => {
            eprintln!("rbuild: Error response from daemon: {e}");
            Ok(launch::start_failure_code(&e).max(126))
        }
    }
}

/// `stats`: one snapshot (or a refresh every second) of memory, CPU and pids.
pub fn stats(ctx: &Ctx, a: StatsArgs) -> Result<i32> {
    let mut prev: std::collections::HashMap<String, (u64, std::time::Instant)> = Default::default();
    loop {
        let list: Vec<_> = ctx
            .containers
            .list()?
            .into_iter()
            .filter(|c| a.all || c.is_running())
            .filter(|c| {
                a.names.is_empty()
                    || a.names
                        .iter()
                        .any(|n| n == c.name() || c.id().starts_with(n.as_str()))
            })
            .collect();
        let mut rows = vec![[
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "PIDS",
        ]
        .map(String::from)
        .to_vec()];
        for c in &list {
            let s = rbuild::runner::stats::read(c.state.pid).unwrap_or_default();
            let now = std::time::Instant::now();
            let cpu = match prev.get(c.id()) {
                Some((ns, t)) => {
                    let dt = now.duration_since(*t).as_nanos().max(1) as f64;
                    s.cpu_usage_ns.saturating_sub(*ns) as f64 / dt * 100.0
                }
                None => 0.0,
            };
            prev.insert(c.id().to_string(), (s.cpu_usage_ns, now));
            let limit = s
                .memory_limit
                .unwrap_or_else(rbuild::runner::stats::host_memory);
            rows.push(vec![
                id::short(c.id()).to_string(),
                c.name().to_string(),
                format!("{cpu:.2}%"),
                format!(
                    "{} / {}",
                    rbuild::runner::stats::bytes_size(s.memory_usage),
                    rbuild::runner::stats::bytes_size(limit)
                ),
                format!(
                    "{:.2}%",
                    s.memory_usage as f64 * 100.0 / limit.max(1) as f64
                ),
                s.pids_current.to_string(),
            ]);
        }
        if !a.no_stream {
            print!("\x1b[2J\x1b[H");
        }
        print_table(&rows)?;
        if a.no_stream {
            return Ok(0);
        }
        std::io::stdout().flush()?;
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// `exec -t`: a pty from the container's devpts relayed to this terminal
/// (raw mode, window size, stdin with -i).
fn exec_tty(init_pid: i32, mut spec: ExecSpec, interactive: bool) -> Result<i32> {
    use rbuild::runner::tty;
    spec.stdio = StdioMode::Pty;
    let mut handle = match sandbox::exec_start(init_pid, &spec) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rbuild: Error response from daemon: {e}");
            return Ok(launch::start_failure_code(&e).max(126));
        }
    };
    if let Some(master) = handle.take_pty_master() {
        let input = interactive.then_some(0);
        let raw = input.and_then(tty::RawMode::enable);
        let end = tty::relay(&master, input, &mut std::io::stdout());
        drop(raw);
        if matches!(end, Ok(tty::RelayEnd::Detached)) {
            // docker leaves a detached exec running.
            std::mem::forget(handle);
            return Ok(0);
        }
    }
    Ok(handle.wait()?.code())
}
