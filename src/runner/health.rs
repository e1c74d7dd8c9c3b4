//! HEALTHCHECK as docker runs it: the test command (`CMD` argv or
//! `CMD-SHELL` through `/bin/sh -c`) is exec'd in the running container
//! every interval (first after one interval), killed after the timeout; a
//! zero exit is healthy, `retries` consecutive failures after the start
//! period make it unhealthy. Results (last five) land in the state as
//! docker's `.State.Health`. `--health-*` flags override the image's.

use super::record::{ContainerState, Status};
use super::{time, ContainerStore};
use crate::sandbox::{self, ExecSpec, StdioMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NS: u64 = 1_000_000_000;

/// docker's Healthcheck config (durations in nanoseconds, 0 = default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub start_period: u64,
    #[serde(default)]
    pub retries: u32,
}

impl HealthConfig {
    pub fn from_json(v: &Value) -> Option<HealthConfig> {
        serde_json::from_value(v.clone()).ok()
    }

    /// The argv to exec, or None for `NONE`/empty.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            _ => None,
        }
    }

    fn or(v: u64, default_secs: u64) -> Duration {
        Duration::from_nanos(if v == 0 { default_secs * NS } else { v })
    }
}

/// `.State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// "starting", "healthy" or "unhealthy".
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// Applies one probe result to the health, as docker does.
pub fn record(health: &mut Health, result: HealthResult, in_start_period: bool, retries: u32) {
    let ok = result.exit_code == 0;
    health.log.push(result);
    let excess = health.log.len().saturating_sub(5);
    health.log.drain(..excess);
    if ok {
        health.failing_streak = 0;
        health.status = "healthy".into();
    } else if !in_start_period {
        health.failing_streak += 1;
        if health.failing_streak >= retries.max(1) {
            health.status = "unhealthy".into();
        }
    }
}

/// Runs the checks of container `id` (init `pid`) until `stop` is set.
pub fn spawn_checker(
    containers: ContainerStore,
    id: String,
    pid: i32,
    cfg: HealthConfig,
    env: Vec<String>,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let argv = cfg.command()?;
    Some(std::thread::spawn(move || {
        let started = Instant::now();
        let interval = HealthConfig::or(cfg.interval, 30);
        let timeout = HealthConfig::or(cfg.timeout, 30);
        let start_period = Duration::from_nanos(cfg.start_period);
        let retries = if cfg.retries == 0 { 3 } else { cfg.retries };
        let _ = containers.update_state(&id, |s| {
            s.health = Some(Health {
                status: "starting".into(),
                ..Default::default()
            })
        });
        loop {
            let wake = Instant::now() + interval;
            while Instant::now() < wake {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let result = probe(pid, &argv, &env, timeout);
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let in_start = started.elapsed() < start_period;
            let _ = containers.update_state(&id, |s: &mut ContainerState| {
                if s.status == Status::Running {
                    let h = s.health.get_or_insert_with(Health::default);
                    record(h, result, in_start, retries);
                }
            });
        }
    }))
}

/// One check: exec with output captured, killed after `timeout`.
fn probe(pid: i32, argv: &[String], env: &[String], timeout: Duration) -> HealthResult {
    let start = time::now_rfc3339();
    let mut spec = ExecSpec::new(argv.to_vec());
    spec.env = env.to_vec();
    spec.stdio = StdioMode::Piped;
    let (exit_code, output) = match sandbox::exec_start(pid, &spec) {
        Ok(handle) => {
            let hpid = handle.pid;
            let done = Arc::new(AtomicBool::new(false));
            let flag = done.clone();
            let killer = std::thread::spawn(move || {
                let end = Instant::now() + timeout;
                while Instant::now() < end && !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if !flag.load(Ordering::SeqCst) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(hpid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            });
            let mut out = Vec::new();
            let status = handle.wait_with_output(&mut |_, b| {
                if out.len() < 4096 {
                    out.extend_from_slice(b);
                }
            });
            done.store(true, Ordering::SeqCst);
            let _ = killer.join();
            match status {
                Ok(s) => (s.code(), String::from_utf8_lossy(&out).into_owned()),
                Err(e) => (-1, e.to_string()),
            }
        }
        Err(e) => (-1, e.to_string()),
    };
    HealthResult {
        start,
        end: time::now_rfc3339(),
        exit_code,
        output,
    }
}

/// `--health-*` flags over the image's HEALTHCHECK (`--no-healthcheck`
/// disables it).
pub fn merge(
    image: Option<&Value>,
    cmd: Option<&str>,
    interval: Option<Duration>,
    retries: Option<u32>,
    disabled: bool,
) -> Option<Value> {
    if disabled {
        return Some(serde_json::json!({"Test": ["NONE"]}));
    }
    let mut cfg = image.and_then(HealthConfig::from_json).unwrap_or_default();
    if let Some(c) = cmd {
        cfg.test = vec!["CMD-SHELL".into(), c.to_string()];
    }
    if let Some(i) = interval {
        cfg.interval = i.as_nanos() as u64;
    }
    if let Some(r) = retries {
        cfg.retries = r;
    }
    if cfg.test.is_empty() {
        return image.cloned();
    }
    serde_json::to_value(cfg).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_merging_and_status_rules() {
        let img = json!({"Test": ["CMD", "curl", "-f", "localhost"], "Interval": 5_000_000_000u64, "Retries": 2});
        let c = HealthConfig::from_json(&img).unwrap_or_default();
        assert_eq!(
            c.command(),
            Some(vec!["curl".into(), "-f".into(), "localhost".into()])
        );
        assert_eq!(
            HealthConfig::from_json(&json!({"Test": ["NONE"]})).and_then(|c| c.command()),
            None
        );
        let merged = merge(
            Some(&img),
            Some("test -f /ok"),
            Some(Duration::from_millis(200)),
            None,
            false,
        )
        .and_then(|v| HealthConfig::from_json(&v))
        .unwrap_or_default();
        assert_eq!(
            merged.command(),
            Some(vec!["/bin/sh".into(), "-c".into(), "test -f /ok".into()])
        );
        assert_eq!((merged.interval, merged.retries), (200_000_000, 2));
        assert_eq!(merge(None, None, None, None, false), None);
        assert_eq!(
            merge(Some(&img), None, None, None, true),
            Some(json!({"Test": ["NONE"]}))
        );

        let mut h = Health::default();
        let r = |code| HealthResult {
            exit_code: code,
            ..Default::default()
        };
        record(&mut h, r(1), true, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("", 0));
        record(&mut h, r(1), false, 2);
        record(&mut h, r(1), false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        record(&mut h, r(0), false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            record(&mut h, r(0), false, 2);
        }
        assert_eq!(h.log.len(), 5);
    }
}
