//! The built-in container runner: docker's container lifecycle (create,
//! run, ps, stop, rm, logs, exec, inspect, volumes) on images from the
//! store, each container run in the [`crate::sandbox`] under a small monitor
//! process, with no daemon.
//!
//! Split by concern: [`id`] (IDs, names), [`record`] (config/state data),
//! [`containers`] (the on-disk store of containers), [`proc`] (/proc facts),
//! [`time`], [`options`] (run flag syntaxes), [`defaults`] (image defaults
//! merged as docker does), [`logs`] (json-file logs), [`template`] (Go
//! templates), [`ps`] (ps rows), [`inspect`] (docker's inspect JSON),
//! [`volumes`] (named volumes), [`oci`] (foreground runs with an external
//! OCI runtime), [`trash`] (deferred deletion of removed containers).
//! The CLI lives in src/cli/container.rs.

pub mod containers;
pub mod copy;
pub mod defaults;
pub mod health;
pub mod id;
pub mod inspect;
pub mod launch;
pub mod logs;
pub mod monitor;
pub mod oci;
pub mod options;
pub mod proc;
pub mod ps;
pub mod record;
pub mod stats;
pub mod template;
pub mod time;
pub mod trash;
pub mod tty;
pub mod volumes;

pub use containers::ContainerStore;
pub use record::{Container, ContainerConfig, ContainerState, Status};

use std::path::Path;

/// Errors from the runner; the messages follow docker's where users and
/// scripts know them.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("Multiple IDs found with provided prefix: {0}")]
    AmbiguousPrefix(String),
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameConflict { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("cannot remove container \"/{0}\": container is running: stop the container before removing or force remove")]
    RemoveRunning(String),
    #[error("container {0} already has a live monitor")]
    AlreadyMonitored(String),
    #[error("No such volume: {0}")]
    NoSuchVolume(String),
    #[error("remove {name}: volume is in use - [{users}]")]
    VolumeInUse { name: String, users: String },
    #[error("{path}: corrupt record: {detail}")]
    Corrupt { path: String, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("encoding JSON: {0}")]
    Json(serde_json::Error),
    #[error("driver failed programming external connectivity on endpoint {name}: Bind for {addr} failed: port is already allocated")]
    PortInUse { name: String, addr: String },
    #[error("{0}")]
    Copy(String),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Runtime(#[from] crate::sandbox::runtime::RuntimeError),
    #[error("{0} is not supported with --runtime (only foreground `rbuild run --runtime` without volumes); drop --runtime to use the built-in sandbox")]
    RuntimeUnsupported(String),
}

impl RunnerError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> RunnerError {
        RunnerError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
