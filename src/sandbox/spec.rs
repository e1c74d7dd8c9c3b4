//! What a sandbox runs: the root filesystem, extra mounts, the process
//! (argv, env, cwd, user), hostname, network, limits and stdio wiring.
//!
//! Plain data with docker's defaults ([`Spec::new`]); nothing here touches
//! the system. Validation happens when the sandbox is launched.

use crate::sandbox::cgroups::Limits;
use crate::sandbox::network::{NetworkMode, PortForward};
use std::net::IpAddr;
use std::path::PathBuf;

/// docker's default PATH for containers whose image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything needed to run one sandboxed process tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub root: RootFs,
    /// Applied in order, after /proc, /dev, /sys and the /etc files.
    pub mounts: Vec<Mount>,
    /// argv; `args[0]` is looked up in the PATH of `env` like docker does.
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// Absolute path inside; created (as root, 0755) when missing.
    pub cwd: String,
    pub user: User,
    pub hostname: String,
    pub network: NetworkMode,
    pub port_forwards: Vec<PortForward>,
    pub limits: Limits,
    pub stdio: StdioMode,
    /// `--security-opt no-new-privileges`; off by default as in docker.
    pub no_new_privileges: bool,
    /// Mount an overlay root with `volatile` (no syncs of the upper dir,
    /// not even at unmount): for upper dirs deleted right after the run,
    /// like `run --rm` containers'. A crash makes such an upper dir
    /// unmountable again.
    pub volatile_upper: bool,
    /// `--security-opt seccomp=unconfined`: no seccomp filter at all.
    pub seccomp_unconfined: bool,
    pub readonly_rootfs: bool,
    /// Extra /etc/hosts entries (`--add-host`).
    pub hosts: Vec<(String, IpAddr)>,
}

impl Spec {
    /// docker's defaults: root user, cwd "/", the default PATH, private
    /// network, no limits, output piped to the caller.
    pub fn new(root: RootFs, args: Vec<String>) -> Spec {
        Spec {
            root,
            mounts: Vec::new(),
            args,
            env: vec![format!("PATH={DEFAULT_PATH}")],
            cwd: "/".to_string(),
            user: User::root(),
            hostname: "rbuild".to_string(),
            network: NetworkMode::Private,
            port_forwards: Vec::new(),
            limits: Limits::default(),
            stdio: StdioMode::Piped,
            no_new_privileges: false,
            seccomp_unconfined: false,
            volatile_upper: false,
            readonly_rootfs: false,
            hosts: Vec::new(),
        }
    }
}

/// The root filesystem of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootFs {
    /// `lower`: read-only layer dirs, TOP-MOST FIRST (overlayfs lowerdir
    /// order); `upper`/`work`: empty dirs on the same filesystem. The
    /// sandbox mounts the overlay inside its own mount namespace.
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
    },
    /// A plain directory used as the root as is.
    Dir(PathBuf),
}

/// One extra mount; `target` is an absolute path inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub target: String,
    pub kind: MountKind,
}

#[derive(Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind {
        source: PathBuf,
        readonly: bool,
    },
    Tmpfs {
        size: Option<u64>,
    },
    /// A file with these bytes (secrets): written to a private tmpfs,
    /// bind-mounted read-only.
    File {
        contents: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl std::fmt::Debug for MountKind {
    /// Never prints secret contents, only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MountKind::Bind { source, readonly } => f
                .debug_struct("Bind")
                .field("source", source)
                .field("readonly", readonly)
                .finish(),
            MountKind::Tmpfs { size } => f.debug_struct("Tmpfs").field("size", size).finish(),
            MountKind::File {
                contents,
                mode,
                uid,
                gid,
            } => f
                .debug_struct("File")
                .field("bytes", &contents.len())
                .field("mode", &format_args!("{mode:o}"))
                .field("uid", uid)
                .field("gid", gid)
                .finish(),
        }
    }
}

/// How the sandboxed process's stdin/stdout/stderr are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioMode {
    /// All three on /dev/null.
    Null,
    /// The caller's own fds 0, 1 and 2.
    Inherit,
    /// stdin /dev/null; stdout and stderr streamed to the caller's callback.
    Piped,
    /// A new pseudo-terminal as the controlling terminal on 0, 1 and 2; the
    /// caller gets the master side.
    Pty,
}

/// Resolved numeric credentials (see [`crate::sandbox::user::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

impl User {
    pub fn root() -> User {
        User::default()
    }
}
