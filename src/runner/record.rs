//! The persistent data of one container: its configuration (written at
//! create, changed only by rename) and its state (rewritten at every
//! lifecycle change). Plain serde data in docker's shapes; reading and
//! writing the files is [`super::containers`]'s job.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What `run`/`create` decided: the merged image defaults and options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    /// The image as the user named it (`busybox`, `3f57d9401f8d`).
    pub image_name: String,
    /// The image ID (`sha256:...`).
    pub image_id: String,
    /// Full argv: entrypoint + cmd after all overrides.
    pub args: Vec<String>,
    pub hostname: String,
    pub user: String,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
    /// `80/tcp` style keys.
    pub exposed_ports: Vec<String>,
    /// VOLUME paths of the image plus anonymous `-v /path` volumes.
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub tty: bool,
    pub open_stdin: bool,
    /// The image's HEALTHCHECK, recorded as docker does (not run).
    pub healthcheck: Option<serde_json::Value>,
    pub host: HostConfig,
    pub mounts: Vec<MountPoint>,
}

/// docker's HostConfig subset that rbuild applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    pub binds: Vec<String>,
    pub port_bindings: Vec<PortBinding>,
    pub publish_all: bool,
    /// none, host or private (shown as "bridge" like docker's default).
    pub network_mode: String,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    pub init: bool,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    /// `--security-opt no-new-privileges`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `--security-opt seccomp=unconfined`.
    #[serde(default)]
    pub seccomp_unconfined: bool,
    /// `--runtime`: an external OCI runtime (name or path); empty for the
    /// built-in sandbox.
    #[serde(default)]
    pub runtime: String,
}

/// `-p [ip:]host:container[/proto]`; host_port 0 means "pick one" (-P or
/// `-p 80`), resolved at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub proto: String,
}

impl PortBinding {
    /// `80/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

/// `--restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// "no", "always", "on-failure" or "unless-stopped".
    pub name: String,
    pub max_retry: u32,
}

/// One mount of the container, in inspect's `.Mounts` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// "bind", "volume" or "tmpfs".
    pub kind: String,
    /// Volume name (volumes only).
    pub name: String,
    /// Host path (bind source or the volume's data dir).
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// Anonymous volume: removed with `rm -v`.
    pub anonymous: bool,
    /// tmpfs size in bytes.
    pub tmpfs_size: Option<u64>,
}

/// docker's container states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Restarting,
    Exited,
    Dead,
    Removing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Removing => "removing",
        }
    }
}

/// The mutable part, `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    /// Host PID of the container's init (0 when not running).
    pub pid: i32,
    /// The start time of `pid` in clock ticks since boot (/proc/PID/stat
    /// field 22), so a recycled PID is never taken for the container.
    pub pid_start_ticks: u64,
    /// PID of the monitor process (0 for a foreground run).
    pub monitor_pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub restart_count: u32,
    /// Set by `stop`/`kill` so that the restart policy does not restart it.
    pub stopped_by_user: bool,
    /// /proc/sys/kernel/random/boot_id when the state was written: a
    /// running state from another boot means the container died with it.
    pub boot_id: String,
    /// Host ports actually bound (after `-P`/port 0 resolution).
    pub ports: Vec<PortBinding>,
    /// A `--rm` container: its records are written without fsync.
    #[serde(default)]
    pub ephemeral: bool,
    /// HEALTHCHECK results while it runs.
    #[serde(default)]
    pub health: Option<super::health::Health>,
}

/// A container as read from the store: config plus current state.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub config: ContainerConfig,
    pub state: ContainerState,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.config.id
    }
    pub fn name(&self) -> &str {
        &self.config.name
    }
    pub fn is_running(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Restarting)
    }
}
