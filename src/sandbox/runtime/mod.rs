//! Runs a rootfs with an external OCI runtime (`--runtime crun|runc|PATH`):
//! writes a bundle directory whose config.json ([`spec`]) describes the
//! process, mounts, namespaces and limits, runs `RUNTIME run --bundle DIR ID`,
//! returns the exit code and always cleans up (`RUNTIME delete -f ID`, the
//! bundle directory, the private network namespace).
//!
//! It does not unpack images (the caller gives a rootfs directory), and it
//! leaves seccomp to the runtime's defaults (none unless configured).

mod netns;
pub mod spec;

use crate::sandbox::cgroups::layout::{self, Layout};
use crate::sandbox::cgroups::Limits;
use crate::sandbox::network::{NetworkMode, PortForward};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// What to run: the rootfs directory and the process inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSpec {
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// Absolute path inside the rootfs.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: Option<String>,
    pub limits: Limits,
    pub readonly_rootfs: bool,
    pub network: NetworkMode,
    /// Host -> container port forwards (private network only).
    pub port_forwards: Vec<PortForward>,
    /// Give the container its own cgroup namespace (docker does on v2).
    pub cgroup_namespace: bool,
    /// Pass our stdin to the container (`docker run -i`); else /dev/null.
    pub interactive: bool,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
}

impl BundleSpec {
    /// A spec with docker's defaults: root user, cwd "/", private network,
    /// writable rootfs, no limits.
    pub fn new(rootfs: impl Into<PathBuf>, args: Vec<String>) -> BundleSpec {
        BundleSpec {
            rootfs: rootfs.into(),
            args,
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            hostname: None,
            limits: Limits::default(),
            readonly_rootfs: false,
            network: NetworkMode::Private,
            port_forwards: Vec::new(),
            cgroup_namespace: false,
            interactive: false,
            no_new_privileges: false,
        }
    }
}

/// Exit code and captured output of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOutput {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("OCI runtime {0:?} not found: give crun, runc or a path to an OCI runtime binary")]
    NotFound(String),
    #[error("crun cannot run on this host's hybrid cgroup layout: cgroup2 at {unified} still owns the controllers [{controllers}] (\"cgroups in hybrid mode not supported\"). Move them to cgroup v1, e.g. `mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb`, or use --runtime runc")]
    CrunHybridCgroups {
        unified: PathBuf,
        controllers: String,
    },
    #[error("building the OCI config: {0}")]
    Spec(String),
    #[error("private network for the OCI runtime: {0}")]
    Network(String),
    #[error("{runtime} was killed by signal {signal}")]
    Killed { runtime: PathBuf, signal: i32 },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Resolves `--runtime`: a path (contains '/') or a name searched in PATH.
pub fn resolve_runtime(name: &str) -> Result<PathBuf, RuntimeError> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(RuntimeError::NotFound(name.to_string()))
        };
    }
    crate::sandbox::network::find_in_path(name)
        .ok_or_else(|| RuntimeError::NotFound(name.to_string()))
}

/// Runs `bundle` with `runtime`, stdio inherited; returns the exit code
/// (128+N when the process died of signal N, as the runtimes report it).
pub fn run_with_runtime(runtime: &Path, bundle: &BundleSpec) -> Result<i32, RuntimeError> {
    run(runtime, bundle, false).map(|output| output.code)
}

/// Like [`run_with_runtime`] with stdout and stderr captured.
pub fn run_with_runtime_output(
    runtime: &Path,
    bundle: &BundleSpec,
) -> Result<RuntimeOutput, RuntimeError> {
    run(runtime, bundle, true)
}

fn run(runtime: &Path, bundle: &BundleSpec, capture: bool) -> Result<RuntimeOutput, RuntimeError> {
    check_crun_hybrid(runtime)?;
    let dir = BundleDir::create()?;
    let private = match bundle.network {
        NetworkMode::Private => Some(netns::PrivateNetns::create(&bundle.port_forwards)?),
        _ if !bundle.port_forwards.is_empty() => {
            return Err(RuntimeError::Network(
                "port forwards need --network private".into(),
            ))
        }
        _ => None,
    };
    if let Some(warning) = private.as_ref().and_then(|p| p.warning.as_ref()) {
        log::warn!("{warning}");
    }
    let etc_files = dir.write_etc_files(bundle, private.as_ref())?;
    let netns_path = private.as_ref().map(|p| p.path());
    let config = spec::build(bundle, netns_path.as_deref(), &etc_files)?;
    let config_path = dir.path.join("config.json");
    config
        .save(&config_path)
        .map_err(|e| RuntimeError::Spec(format!("writing {}: {e}", config_path.display())))?;
    let id = container_id();
    let mut command = Command::new(runtime);
    command.arg("run").arg("--bundle").arg(&dir.path).arg(&id);
    if !bundle.interactive {
        command.stdin(Stdio::null());
    }
    let result = if capture {
        command.output()
    } else {
        command.status().map(|status| Output {
            status,
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    };
    // The runtimes delete on exit, but not when they fail halfway.
    let _ = Command::new(runtime)
        .args(["delete", "-f", &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let output = result.map_err(|source| RuntimeError::Io {
        op: "run",
        path: runtime.to_path_buf(),
        source,
    })?;
    if String::from_utf8_lossy(&output.stderr).contains("cgroups in hybrid mode not supported") {
        let (unified, controllers) = unified_controllers()
            .unwrap_or_else(|| (PathBuf::from("/sys/fs/cgroup/unified"), String::new()));
        return Err(hybrid_error(&unified, controllers));
    }
    use std::os::unix::process::ExitStatusExt;
    let code = match (output.status.code(), output.status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => {
            return Err(RuntimeError::Killed {
                runtime: runtime.to_path_buf(),
                signal,
            })
        }
        (None, None) => -1,
    };
    Ok(RuntimeOutput {
        code,
        stdout: output.stdout,
        stderr: output.stderr,
    })
}

fn hybrid_error(unified: &Path, controllers: String) -> RuntimeError {
    RuntimeError::CrunHybridCgroups {
        unified: unified.to_path_buf(),
        controllers,
    }
}

/// crun 1.8 refuses to run when v1 controllers are mounted and cgroup2 still
/// owns some controller; say so before it fails with a terse message.
fn check_crun_hybrid(runtime: &Path) -> Result<(), RuntimeError> {
    let is_crun = runtime
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("crun"));
    if !is_crun {
        return Ok(());
    }
    match unified_controllers() {
        Some((unified, controllers)) if !controllers.is_empty() => {
            Err(hybrid_error(&unified, controllers))
        }
        _ => Ok(()),
    }
}

/// On a hybrid host: our cgroup2 directory and the controllers it offers.
fn unified_controllers() -> Option<(PathBuf, String)> {
    let Ok(Some(Layout::Legacy {
        unified: Some(unified),
        ..
    })) = layout::detect_current()
    else {
        return None;
    };
    let controllers = std::fs::read_to_string(unified.join("cgroup.controllers")).ok()?;
    Some((unified, controllers.trim().to_string()))
}

/// Unique across processes and calls: runtimes keep state per id.
fn container_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "rbuild-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The bundle directory (config.json and generated /etc files), removed on
/// drop; the rootfs stays where the caller keeps it.
struct BundleDir {
    path: PathBuf,
}

impl BundleDir {
    fn create() -> Result<BundleDir, RuntimeError> {
        let path = std::env::temp_dir().join(container_id());
        std::fs::create_dir(&path).map_err(|source| RuntimeError::Io {
            op: "create bundle directory",
            path: path.clone(),
            source,
        })?;
        Ok(BundleDir { path })
    }

    /// hostname, hosts and (private network) resolv.conf, bind-mounted
    /// read-only over the rootfs's files when those exist.
    fn write_etc_files(
        &self,
        bundle: &BundleSpec,
        private: Option<&netns::PrivateNetns>,
    ) -> Result<Vec<(&'static str, PathBuf)>, RuntimeError> {
        let hostname = bundle.hostname.clone().unwrap_or_else(|| "rbuild".into());
        let mut files = vec![
            ("/etc/hostname", format!("{hostname}\n")),
            ("/etc/hosts", format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n")),
        ];
        if let Some(private) = private {
            files.push(("/etc/resolv.conf", private.resolv_conf()));
        }
        let mut binds = Vec::new();
        for (dest, content) in files {
            // Binding needs a target; never create files in the image.
            let target = bundle.rootfs.join(dest.trim_start_matches('/'));
            if std::fs::symlink_metadata(&target)
                .map(|m| m.is_file())
                .unwrap_or(false)
            {
                let source = self.path.join(dest.trim_start_matches("/etc/"));
                std::fs::write(&source, content).map_err(|e| RuntimeError::Io {
                    op: "write",
                    path: source.clone(),
                    source: e,
                })?;
                binds.push((dest, source));
            }
        }
        Ok(binds)
    }
}

impl Drop for BundleDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
