//! Network modes of a sandbox: `none` (own network namespace with only
//! loopback), `host` (the host's namespace) and `private` (own namespace with
//! outbound connectivity through a user-mode network helper, slirp4netns or
//! else pasta), plus port forwards from the host into a private namespace.
//!
//! The sandbox core creates the namespace (for `none` and `private`) and
//! calls [`loopback_up`] inside it; this module only starts and stops the
//! helper that serves an existing namespace. It never configures host
//! interfaces, bridges or firewall rules.
//!
//! slirp4netns is preferred: it joins any namespace, takes port forwards at
//! any time, and configures a namespace in ~10 ms against ~75 ms for pasta
//! with the same TCP round-trip time (benches/network_helpers.rs).

mod loopback;
mod pasta;
mod slirp;

pub use loopback::loopback_up;

use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    None,
    Host,
    Private,
}

impl FromStr for NetworkMode {
    type Err = NetworkError;

    /// docker's names: "bridge" and "default" mean a private namespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            "private" | "default" | "bridge" => Ok(NetworkMode::Private),
            other => Err(NetworkError::UnknownMode(other.to_string())),
        }
    }
}

impl NetworkMode {
    /// True when the sandbox core must unshare a network namespace.
    pub fn needs_netns(self) -> bool {
        self != NetworkMode::Host
    }
}

/// The user-mode network stacks that can serve a private namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkHelper {
    /// Preferred: joins any namespace, takes port forwards at any time.
    Slirp4netns,
    /// Fallback: port forwards only at start; the packaged version needs the
    /// namespace to have its own user namespace when run as root.
    Pasta,
}

impl NetworkHelper {
    pub fn binary_name(self) -> &'static str {
        match self {
            NetworkHelper::Slirp4netns => "slirp4netns",
            NetworkHelper::Pasta => "pasta",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// `-p host_ip:host_port:container_port/proto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    pub proto: Protocol,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

impl std::fmt::Display for PortForward {
    /// docker's notation: `127.0.0.1:8080->80/tcp`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = match self.host_ip {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        write!(
            f,
            "{host}:{}->{}/{}",
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("unknown network mode {0:?}: use none, host or private (alias bridge/default)")]
    UnknownMode(String),
    #[error("cannot start {helper}: {source}")]
    Spawn {
        helper: &'static str,
        source: std::io::Error,
    },
    #[error("{helper} did not configure the network namespace of pid {pid}: {detail}")]
    NotReady {
        helper: &'static str,
        pid: i32,
        detail: String,
    },
    #[error("port forward {forward} failed: {detail}")]
    PortForward { forward: String, detail: String },
    #[error("port forwards need a private network (--network private); mode is {0:?}")]
    PortForwardNeedsPrivate(NetworkMode),
    #[error("{0} is not installed (apt-get install slirp4netns passt)")]
    HelperMissing(&'static str),
    #[error("pasta only takes port forwards when it starts; pass them to NetworkAttachment::attach_with")]
    LateForwardUnsupported,
    #[error("bringing up the loopback interface: {0}")]
    Loopback(std::io::Error),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

enum Helper {
    Nothing,
    Slirp(slirp::Slirp),
    // Held for its Drop, which stops the daemon.
    #[allow(dead_code)]
    Pasta(pasta::Pasta),
}

/// The network side of one running sandbox; the helper process (if any) is
/// stopped on [`NetworkAttachment::detach`] or drop.
pub struct NetworkAttachment {
    mode: NetworkMode,
    helper: Helper,
}

impl std::fmt::Debug for NetworkAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkAttachment")
            .field("mode", &self.mode)
            .field("helper", &self.helper_name())
            .finish()
    }
}

impl NetworkAttachment {
    /// Serves the network namespace of `child_pid` according to `mode`.
    /// For `private` without slirp4netns or pasta installed, the sandbox
    /// stays offline and the second value is a warning to show the user.
    pub fn attach(
        mode: NetworkMode,
        child_pid: i32,
    ) -> Result<(NetworkAttachment, Option<String>), NetworkError> {
        Self::attach_with(mode, child_pid, &[])
    }

    /// Like [`attach`](Self::attach) with port forwards set up before the
    /// call returns (pasta can only take them at start; slirp4netns gets them
    /// through its API socket).
    pub fn attach_with(
        mode: NetworkMode,
        child_pid: i32,
        forwards: &[PortForward],
    ) -> Result<(NetworkAttachment, Option<String>), NetworkError> {
        Self::attach_tied(mode, child_pid, forwards, None, &mut None)
    }

    /// Like [`attach_with`](Self::attach_with); with a `lifeline` (the read
    /// end of a pipe whose write end the namespace's own process holds),
    /// slirp4netns exits when that process does, not with the caller: a
    /// container's network outlives a killed monitor. Without one it exits
    /// with the caller. `report_ready`: a socket slirp4netns may write its
    /// one ready byte to instead (taken when it does, without port
    /// forwards: this then returns before the namespace is configured and
    /// the reader must treat EOF as the helper's failure).
    pub fn attach_tied(
        mode: NetworkMode,
        child_pid: i32,
        forwards: &[PortForward],
        lifeline: Option<OwnedFd>,
        report_ready: &mut Option<OwnedFd>,
    ) -> Result<(NetworkAttachment, Option<String>), NetworkError> {
        if mode != NetworkMode::Private {
            if !forwards.is_empty() {
                return Err(NetworkError::PortForwardNeedsPrivate(mode));
            }
            let attachment = NetworkAttachment {
                mode,
                helper: Helper::Nothing,
            };
            return Ok((attachment, None));
        }
        for helper in [NetworkHelper::Slirp4netns, NetworkHelper::Pasta] {
            if find_in_path(helper.binary_name()).is_some() {
                let report = (helper == NetworkHelper::Slirp4netns && forwards.is_empty())
                    .then(|| report_ready.take())
                    .flatten();
                let attachment =
                    Self::attach_helper(helper, child_pid, forwards, lifeline, report)?;
                return Ok((attachment, None));
            }
        }
        if let Some(forward) = forwards.first() {
            return Err(NetworkError::PortForward {
                forward: forward.to_string(),
                detail: "neither slirp4netns nor pasta is installed (apt-get install slirp4netns)"
                    .into(),
            });
        }
        let warning =
            "private networking needs slirp4netns or pasta (apt-get install slirp4netns); \
                       running with --network none instead"
                .to_string();
        let attachment = NetworkAttachment {
            mode: NetworkMode::None,
            helper: Helper::Nothing,
        };
        Ok((attachment, Some(warning)))
    }

    /// Serves the namespace of `child_pid` with one specific helper (private
    /// mode); for benchmarks and callers that let the user choose.
    pub fn attach_using(
        helper: NetworkHelper,
        child_pid: i32,
        forwards: &[PortForward],
    ) -> Result<NetworkAttachment, NetworkError> {
        Self::attach_helper(helper, child_pid, forwards, None, None)
    }

    fn attach_helper(
        helper: NetworkHelper,
        child_pid: i32,
        forwards: &[PortForward],
        lifeline: Option<OwnedFd>,
        report_ready: Option<OwnedFd>,
    ) -> Result<NetworkAttachment, NetworkError> {
        let binary = find_in_path(helper.binary_name())
            .ok_or(NetworkError::HelperMissing(helper.binary_name()))?;
        let helper = match helper {
            NetworkHelper::Slirp4netns => {
                // Tied to a sandbox, every forward is known now; others may
                // add forwards later.
                let with_api = lifeline.is_none() || !forwards.is_empty();
                let mut slirp =
                    slirp::Slirp::start(&binary, child_pid, lifeline, with_api, report_ready)?;
                for forward in forwards {
                    slirp.add_hostfwd(forward)?;
                }
                Helper::Slirp(slirp)
            }
            NetworkHelper::Pasta => {
                Helper::Pasta(pasta::Pasta::start(&binary, child_pid, forwards)?)
            }
        };
        Ok(NetworkAttachment {
            mode: NetworkMode::Private,
            helper,
        })
    }

    /// The mode in effect (`None` after a fallback).
    pub fn mode(&self) -> NetworkMode {
        self.mode
    }

    /// The helper serving the namespace: "slirp4netns", "pasta" or None.
    pub fn helper_name(&self) -> Option<&'static str> {
        let helper = match self.helper {
            Helper::Nothing => return None,
            Helper::Slirp(_) => NetworkHelper::Slirp4netns,
            Helper::Pasta(_) => NetworkHelper::Pasta,
        };
        Some(helper.binary_name())
    }

    /// Forwards `host_ip:host_port` on the host to `container_port` in the
    /// namespace (slirp4netns only; pasta needs them at attach_with).
    pub fn add_port_forward(
        &mut self,
        proto: Protocol,
        host_ip: IpAddr,
        host_port: u16,
        container_port: u16,
    ) -> Result<(), NetworkError> {
        let forward = PortForward {
            proto,
            host_ip,
            host_port,
            container_port,
        };
        match &mut self.helper {
            Helper::Slirp(slirp) => slirp.add_hostfwd(&forward),
            Helper::Pasta(_) => Err(NetworkError::LateForwardUnsupported),
            Helper::Nothing => Err(NetworkError::PortForwardNeedsPrivate(self.mode)),
        }
    }

    /// /etc/resolv.conf content for the sandbox. Empty for `host` (the caller
    /// keeps the host's file) and `none` (no resolver is reachable).
    pub fn resolv_conf(&self) -> String {
        match &self.helper {
            Helper::Slirp(_) => format!("nameserver {}\n", slirp::DNS_ADDRESS),
            Helper::Pasta(_) => pasta::resolv_conf(),
            Helper::Nothing => String::new(),
        }
    }

    /// The /etc/resolv.conf content [`attach_with`](Self::attach_with)
    /// would give for `mode`, known before the helper runs (so the sandbox
    /// can build its files while the helper starts).
    pub fn expected_resolv_conf(mode: NetworkMode) -> String {
        if mode != NetworkMode::Private {
            return String::new();
        }
        if find_in_path(NetworkHelper::Slirp4netns.binary_name()).is_some() {
            format!("nameserver {}\n", slirp::DNS_ADDRESS)
        } else if find_in_path(NetworkHelper::Pasta.binary_name()).is_some() {
            pasta::resolv_conf()
        } else {
            String::new()
        }
    }

    /// Stops the helper process and waits until it is gone; the namespace
    /// itself dies with the sandbox. Dropping the attachment instead kills
    /// the helper without waiting for its exit (the sandbox does that once
    /// its namespace is gone: the helper's exit tears down the tap device,
    /// which can take the kernel tens of milliseconds).
    pub fn detach(mut self) {
        if let Helper::Slirp(slirp) = &mut self.helper {
            slirp.stop();
        }
    }
}

/// Finds an executable in $PATH (plus the sbin directories, which are often
/// missing from a non-login root PATH).
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names() {
        assert_eq!(
            "none".parse::<NetworkMode>().expect("mode"),
            NetworkMode::None
        );
        assert_eq!(
            "host".parse::<NetworkMode>().expect("mode"),
            NetworkMode::Host
        );
        for private in ["private", "default", "bridge"] {
            assert_eq!(
                private.parse::<NetworkMode>().expect("mode"),
                NetworkMode::Private
            );
        }
        let err = "overlay".parse::<NetworkMode>().expect_err("unknown");
        assert!(err.to_string().contains("none, host or private"), "{err}");
    }

    #[test]
    fn port_forward_notation() {
        let forward = PortForward {
            proto: Protocol::Udp,
            host_ip: "::1".parse().expect("ip"),
            host_port: 53,
            container_port: 5353,
        };
        assert_eq!(forward.to_string(), "[::1]:53->5353/udp");
    }

    #[test]
    fn host_and_none_need_no_helper() {
        for mode in [NetworkMode::Host, NetworkMode::None] {
            let (attachment, warning) = NetworkAttachment::attach(mode, 1).expect("attach");
            assert!(warning.is_none());
            assert_eq!(attachment.helper_name(), None);
            assert_eq!(attachment.resolv_conf(), "");
        }
    }
}
