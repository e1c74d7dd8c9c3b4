//! From a stored container to a sandbox [`Spec`]: the image's layers as the
//! overlay's lower dirs with the container's own upper dir, mounts (binds,
//! volumes seeded from the image on first use, tmpfs), the user resolved
//! against the image's /etc/passwd, ports bound on the host (free ports
//! picked for `-P`/`-p 80`, a taken port refused up front), limits.
//! It does not start anything; the monitor does.

use super::options::MountRequest;
use super::record::{Container, MountPoint, PortBinding};
use super::volumes::{self, Volumes};
use super::{defaults, ContainerStore, RunnerError};
use crate::sandbox::cgroups::Limits;
use crate::sandbox::network::{NetworkMode, PortForward, Protocol};
use crate::sandbox::{Mount, MountKind, RootFs, SandboxError, Spec, StdioMode};
use crate::store::Store;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

/// The image layers of a container, bottom first.
pub fn image_layers(store: &Store, image_id: &str) -> Result<Vec<PathBuf>, RunnerError> {
    let rec = store.resolve(image_id)?;
    Ok(store.unpack_image_layers(&rec)?)
}

/// Turns `-v`/`--mount` requests and the image's VOLUMEs into mount points,
/// creating volumes (seeded from the image when new) and missing bind
/// sources. A request for a path the image declares replaces that VOLUME.
pub fn resolve_mounts(
    volumes: &Volumes,
    layers: &[PathBuf],
    requests: &[MountRequest],
    image_volumes: &[String],
) -> Result<Vec<MountPoint>, RunnerError> {
    let mut out = Vec::new();
    let mut all: Vec<MountRequest> = requests.to_vec();
    for v in image_volumes {
        if !all.iter().any(|r| r.target() == v) {
            all.push(MountRequest::Volume {
                name: String::new(),
                target: v.clone(),
                readonly: false,
            });
        }
    }
    for r in all {
        out.push(match r {
            MountRequest::Bind {
                source,
                target,
                readonly,
            } => {
                let src = std::path::absolute(&source).map_err(|e| RunnerError::io(&source, e))?;
                if !src.exists() {
                    std::fs::create_dir_all(&src).map_err(|e| RunnerError::io(&src, e))?;
                }
                MountPoint {
                    kind: "bind".into(),
                    name: String::new(),
                    source: src.display().to_string(),
                    destination: target,
                    rw: !readonly,
                    anonymous: false,
                    tmpfs_size: None,
                }
            }
            MountRequest::Volume {
                name,
                target,
                readonly,
            } => {
                let (meta, new) = volumes.create(&name, BTreeMap::new())?;
                let data = volumes.data_dir(&meta.name);
                if new {
                    volumes::seed(layers, &target, &data)?;
                }
                MountPoint {
                    kind: "volume".into(),
                    name: meta.name.clone(),
                    source: data.display().to_string(),
                    destination: target,
                    rw: !readonly,
                    anonymous: meta.anonymous,
                    tmpfs_size: None,
                }
            }
            MountRequest::Tmpfs { target, size } => MountPoint {
                kind: "tmpfs".into(),
                name: String::new(),
                source: String::new(),
                destination: target,
                rw: true,
                anonymous: false,
                tmpfs_size: size,
            },
        });
    }
    Ok(out)
}

/// Binds every requested port once on the host: port 0 becomes a free
/// port; a taken port is docker's "port is already allocated".
pub fn allocate_ports(
    name: &str,
    requested: &[PortBinding],
) -> Result<Vec<PortBinding>, RunnerError> {
    let mut out = Vec::new();
    for b in requested {
        let ip: IpAddr = if b.host_ip.is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            b.host_ip
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        let bound = if b.proto == "udp" {
            UdpSocket::bind((ip, b.host_port)).and_then(|s| s.local_addr())
        } else {
            TcpListener::bind((ip, b.host_port)).and_then(|s| s.local_addr())
        };
        let port = bound
            .map_err(|_| RunnerError::PortInUse {
                name: name.to_string(),
                addr: format!("{ip}:{}", b.host_port),
            })?
            .port();
        out.push(PortBinding {
            host_port: port,
            ..b.clone()
        });
    }
    Ok(out)
}

/// The first readable `rel` file in the upper dir or the layers (top first).
fn image_file(upper: &Path, layers: &[PathBuf], rel: &str) -> Option<String> {
    std::iter::once(upper)
        .chain(layers.iter().rev().map(PathBuf::as_path))
        .find_map(|d| std::fs::read_to_string(d.join(rel)).ok())
}

/// The sandbox spec for one start of `c` with host ports `ports`.
pub fn spec(
    store: &Store,
    containers: &ContainerStore,
    c: &Container,
    ports: &[PortBinding],
    stdio: StdioMode,
) -> Result<Spec, RunnerError> {
    let cfg = &c.config;
    let layers = image_layers(store, &cfg.image_id)?;
    let dir = containers.dir(cfg.id.as_str());
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir_all(d).map_err(|e| RunnerError::io(d, e))?;
    }
    let passwd = image_file(&upper, &layers, "etc/passwd");
    let group = image_file(&upper, &layers, "etc/group");
    let user = crate::sandbox::user::resolve(&cfg.user, passwd.as_deref(), group.as_deref())
        .map_err(|e| RunnerError::Sandbox(SandboxError::User(e)))?;
    let root = RootFs::Overlay {
        lower: layers.iter().rev().cloned().collect(),
        upper,
        work,
    };
    let mut spec = Spec::new(root, cfg.args.clone());
    spec.env = defaults::process_env(cfg);
    spec.cwd = if cfg.working_dir.is_empty() {
        "/".into()
    } else {
        cfg.working_dir.clone()
    };
    spec.user = user;
    spec.hostname = cfg.hostname.clone();
    spec.network = match cfg.host.network_mode.as_str() {
        "" => NetworkMode::Private,
        m => m
            .parse()
            .map_err(|e| RunnerError::Sandbox(SandboxError::Network(e)))?,
    };
    spec.port_forwards = ports
        .iter()
        .map(|p| PortForward {
            proto: if p.proto == "udp" {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            host_ip: p
                .host_ip
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            host_port: p.host_port,
            container_port: p.container_port,
        })
        .collect();
    spec.limits = Limits {
        memory: cfg.host.memory,
        memory_swap: None,
        cpus: cfg.host.cpus,
        pids: cfg.host.pids_limit,
    };
    spec.readonly_rootfs = cfg.host.read_only;
    spec.no_new_privileges = cfg.host.no_new_privileges;
    spec.seccomp_unconfined = cfg.host.seccomp_unconfined;
    // A --rm container's upper dir is deleted when it exits: nothing in it
    // needs to reach the disk.
    spec.volatile_upper = cfg.host.auto_remove;
    spec.stdio = stdio;
    spec.mounts = cfg
        .mounts
        .iter()
        .map(|m| Mount {
            target: m.destination.clone(),
            kind: match m.kind.as_str() {
                "tmpfs" => MountKind::Tmpfs { size: m.tmpfs_size },
                _ => MountKind::Bind {
                    source: PathBuf::from(&m.source),
                    readonly: !m.rw,
                },
            },
        })
        .collect();
    Ok(spec)
}

/// docker's exit code for a start failure: 127 when the command does not
/// exist, 126 when it cannot be executed, 125 otherwise.
pub fn start_failure_code(e: &SandboxError) -> i32 {
    let errno = match e {
        SandboxError::Setup { what, source } if what.contains("exec") => source.raw_os_error(),
        _ => None,
    };
    match errno {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => 127,
        Some(libc::EACCES) | Some(libc::ENOEXEC) | Some(libc::EISDIR) | Some(libc::EPERM) => 126,
        _ => 125,
    }
}
