//! Parent side of a sandbox: prepares the plan, clones the init into new
//! namespaces, moves it into its cgroup, writes rootless id maps, attaches
//! the network, sends "go", collects created mount points and setup
//! errors, and later waits, reports OOM kills and cleans up (cgroup,
//! network helper; mounts and processes die with the namespaces).
//!
//! The child side is init.rs; the public entry points are in mod.rs.

use super::channel::{self, Msg};
use super::init::{self, ChildFds, InitOptions};
use super::plan::{Plan, Step};
use super::rootless::Mapping;
use super::spec::{Spec, StdioMode};
use super::status::ExitStatus;
use super::{signals, sys, RunOutcome, SandboxError};
use crate::sandbox::cgroups::{Cgroup, CgroupError};
use crate::sandbox::network::{NetworkAttachment, NetworkMode};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// What the init waits for after "go": the parent's cgroup2 join (then
/// JOINED on the sync socket), or, with an early fork, one byte on `start`
/// for the main process; and the network helper's lifeline.
struct Waiting {
    v2_join_pending: bool,
    lifeline: Option<OwnedFd>,
    start: OwnedFd,
}

/// A sandbox whose init runs; cleaned up by [`Launched::wait`] or on drop.
pub struct Launched {
    pub pid: i32,
    sync: OwnedFd,
    cgroup: Option<Cgroup>,
    network: Option<NetworkAttachment>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub pty_master: Option<OwnedFd>,
    pub created: Vec<String>,
    pub warnings: Vec<String>,
    reaped: bool,
}

/// Starts a sandbox and returns once its main process has exec'd.
pub fn launch(spec: &Spec, detached: bool) -> Result<Launched, SandboxError> {
    signals::install();
    if let Some(signal) = signals::interrupted() {
        return Err(SandboxError::Interrupted(signal));
    }
    // SAFETY: geteuid has no preconditions.
    let rootless = unsafe { libc::geteuid() } != 0;
    let mapping = rootless.then(Mapping::detect);
    let set_groups = mapping.as_ref().map_or(true, Mapping::has_ranges);
    if let Some(mapping) = &mapping {
        mapping.check_user(&spec.user)?;
    }
    let (mount_point, staging) = shared_dirs(rootless)?;
    let mut warnings = Vec::new();
    let cgroup = create_cgroup(spec, detached, rootless, &mut warnings)?;
    let mut plan = Plan::prepare(spec, rootless, set_groups, &mount_point, &staging)?;
    // The init joins its v1 groups itself and is created in its cgroup2
    // group by clone3: the parent writing its pid to cgroup.procs would
    // wait for an RCU grace period (~10 ms) on the start path.
    let mut cgroup_v2_dir = None;
    if let Some(cgroup) = &cgroup {
        plan.set_cgroup_view(&cgroup.hierarchy_dirs())?;
        plan.set_cgroup_join(&cgroup.v1_task_files())?;
        if let Some(dir) = cgroup.v2_dir() {
            let opened = std::fs::File::open(dir).map_err(|e| SandboxError::io("open", dir, e))?;
            cgroup_v2_dir = Some(OwnedFd::from(opened));
        }
    }

    let (parent_sync, child_sync) =
        channel::socket_pair().map_err(|e| SandboxError::sys("create a socket pair", e))?;
    let (exec_read, exec_write) =
        channel::pipe().map_err(|e| SandboxError::sys("create a pipe", e))?;
    // An early-forked main process execs on one byte from here (see
    // prepare_and_go), sent straight to it rather than through the init.
    let (start_send, start_recv) =
        channel::socket_pair().map_err(|e| SandboxError::sys("create a socket pair", e))?;
    let outputs = if spec.stdio == StdioMode::Piped {
        let out = channel::pipe().map_err(|e| SandboxError::sys("create a pipe", e))?;
        let err = channel::pipe().map_err(|e| SandboxError::sys("create a pipe", e))?;
        Some((out, err))
    } else {
        None
    };
    // The network helper exits when the init does (EOF on this pipe, whose
    // write end only the init keeps), not with this process: a container
    // keeps its network when its monitor is killed.
    let lifeline = if spec.network == NetworkMode::Private {
        Some(channel::pipe().map_err(|e| SandboxError::sys("create a pipe", e))?)
    } else {
        None
    };
    let raw = |fd: Option<&OwnedFd>| fd.map_or(-1, AsRawFd::as_raw_fd);
    let mut fds = ChildFds {
        sync: child_sync.as_raw_fd(),
        exec_report: exec_write.as_raw_fd(),
        stdout: raw(outputs.as_ref().map(|o| &o.0 .1)),
        stderr: raw(outputs.as_ref().map(|o| &o.1 .1)),
        start: start_recv.as_raw_fd(),
        keep: Vec::new(),
    };
    fds.keep.extend([
        fds.sync,
        fds.exec_report,
        fds.stdout,
        fds.stderr,
        fds.start,
        raw(lifeline.as_ref().map(|l| &l.1)),
    ]);
    fds.keep.retain(|fd| *fd >= 0);
    fds.keep.sort_unstable();
    let options = InitOptions {
        die_with_parent: !detached,
    };
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if spec.network.needs_netns() {
        flags |= libc::CLONE_NEWNET;
    }
    if rootless {
        flags |= libc::CLONE_NEWUSER;
    }

    // Signals stay blocked in the child until the init waits for them with
    // sigwaitinfo (and the main process unblocks them): no handler of ours
    // may run in the child before it reset them.
    let old_mask = signals::block_all_signals();
    let mut cloned = match &cgroup_v2_dir {
        Some(dir) => sys::clone_into_cgroup(flags as u64, dir.as_raw_fd()),
        None => sys::clone_process(flags as libc::c_ulong),
    };
    // Without clone3's CLONE_INTO_CGROUP (old kernel, seccomp policy, a
    // group it refuses), the parent joins the init to the cgroup2 group.
    let v2_join_pending = cgroup_v2_dir.is_some() && cloned.is_err();
    if v2_join_pending {
        cloned = sys::clone_process(flags as libc::c_ulong);
    }
    if cloned == Ok(0) {
        init::child_main(&plan, &fds, &options);
    }
    signals::restore_signals(&old_mask);
    drop(cgroup_v2_dir);
    let pid = cloned.map_err(|e| {
        SandboxError::sys(
            "clone the sandbox init",
            std::io::Error::from_raw_os_error(e),
        )
    })?;
    drop((child_sync, exec_write, start_recv));
    let lifeline = lifeline.map(|(read, _write)| read);
    let (stdout, stderr) = match outputs {
        Some(((out_read, out_write), (err_read, err_write))) => {
            drop((out_write, err_write));
            (Some(out_read), Some(err_read))
        }
        None => (None, None),
    };
    signals::register(pid);
    let mut launched = Launched {
        pid,
        sync: parent_sync,
        cgroup,
        network: None,
        stdout,
        stderr,
        pty_master: None,
        created: Vec::new(),
        warnings,
        reaped: false,
    };
    let waiting = Waiting {
        v2_join_pending,
        lifeline,
        start: start_send,
    };
    if let Err(e) = launched.prepare_and_go(spec, &plan, mapping.as_ref(), waiting) {
        // The init builds its root while the cgroup join and the network
        // helper run: if it failed there, its error (not the helper's "no
        // such namespace") is what the user needs.
        return Err(launched.setup_error(&plan).unwrap_or(e));
    }
    launched.collect_setup(&plan)?;
    if let Some(msg) =
        channel::read_pipe(&exec_read).map_err(|e| SandboxError::sys("read the exec pipe", e))?
    {
        return Err(child_error(&plan, msg));
    }
    Ok(launched)
}

impl Launched {
    /// Id maps; "go" with resolv.conf; then "joined" once the init is in
    /// its cgroup (`v2_join_pending`: the parent must still add it to the
    /// cgroup2 group) and the network helper serves its namespace.
    fn prepare_and_go(
        &mut self,
        spec: &Spec,
        plan: &Plan,
        mapping: Option<&Mapping>,
        waiting: Waiting,
    ) -> Result<(), SandboxError> {
        let Waiting {
            v2_join_pending,
            lifeline,
            start,
        } = waiting;
        if let Some(mapping) = mapping {
            mapping.apply(self.pid)?;
        }
        // A pending cgroup.procs write (an RCU grace period, ~10 ms) runs on
        // a thread while slirp4netns starts here and the init builds its
        // root (with the resolv.conf the helper will serve); the init then
        // forks only after JOINED. Without one, the init forks the main
        // process at once; it drops its privileges and execs on one byte on
        // `start`: slirp4netns's ready byte when it can send it there, else
        // ours.
        let pid = self.pid;
        let cgroup = self.cgroup.as_ref().filter(|_| v2_join_pending);
        let sync = self.sync.as_raw_fd();
        let needs_network = spec.network == NetworkMode::Private || !spec.port_forwards.is_empty();
        let resolv = if needs_network {
            NetworkAttachment::expected_resolv_conf(spec.network)
        } else {
            String::new()
        };
        let early = if v2_join_pending {
            0
        } else {
            channel::GO_EARLY_FORK
        };
        let mut packet = Msg::new(channel::GO, early, 0, 0).to_packet();
        let payload = resolv.as_bytes();
        packet.extend_from_slice(&payload[..payload.len().min(channel::MAX_PAYLOAD)]);
        channel::send_bytes(sync, &packet, None).map_err(|e| {
            SandboxError::sys(
                "send go to the sandbox init",
                std::io::Error::from_raw_os_error(e),
            )
        })?;
        let mut start = (!v2_join_pending).then_some(start);
        std::thread::scope(|scope| {
            let joining = cgroup.map(|cgroup| scope.spawn(move || cgroup.add_pid_v2(pid)));
            if needs_network {
                let (attachment, warning) = NetworkAttachment::attach_tied(
                    spec.network,
                    pid,
                    &spec.port_forwards,
                    lifeline,
                    &mut start,
                )?;
                if let Some(warning) = warning {
                    log::warn!("{warning}");
                    self.warnings.push(warning);
                }
                if attachment.resolv_conf() != resolv {
                    log::warn!("the network helper changed while the sandbox started; /etc/resolv.conf may not match it");
                }
                self.network = Some(attachment);
            }
            if let Some(thread) = joining {
                thread.join().unwrap_or_else(|_| {
                    Err(CgroupError::Io {
                        op: "join",
                        path: PathBuf::from("cgroup.procs"),
                        source: std::io::Error::other("the cgroup thread panicked"),
                    })
                })?;
            }
            // A failed send means the init (or the main process) already
            // reported a setup error and exited: collect_setup or the exec
            // pipe has that error.
            if v2_join_pending {
                let joined = Msg::new(channel::JOINED, 0, 0, 0).to_packet();
                let _ = channel::send_bytes(sync, &joined, None);
            } else if let Some(start) = &start {
                let _ = channel::send_bytes(start.as_raw_fd(), b"1", None);
            }
            let _ = plan;
            Ok(())
        })
    }

    /// Stops the init and returns the setup error it reported, if any.
    fn setup_error(&mut self, plan: &Plan) -> Option<SandboxError> {
        // SAFETY: plain kill(2) of our own child; the socket keeps what it
        // sent before dying.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        while let Ok(Some(channel::Received { msg, .. })) = channel::recv(&self.sync) {
            if msg.kind == channel::ERROR {
                return Some(child_error(plan, msg));
            }
        }
        None
    }

    /// Reads CREATED messages until READY, or the setup error.
    fn collect_setup(&mut self, plan: &Plan) -> Result<(), SandboxError> {
        loop {
            let received = channel::recv(&self.sync)
                .map_err(|e| SandboxError::sys("read from the sandbox init", e))?;
            let Some(channel::Received { msg, payload, fd }) = received else {
                return Err(SandboxError::Setup {
                    what: "the sandbox init exited during setup".into(),
                    source: std::io::Error::other("no message"),
                });
            };
            match msg.kind {
                channel::CREATED => self
                    .created
                    .push(format!("/{}", String::from_utf8_lossy(&payload))),
                channel::READY => {
                    self.pty_master = fd;
                    return Ok(());
                }
                _ => return Err(child_error(plan, msg)),
            }
        }
    }

    /// Streams the output pipes (or the pty) to `on_output` until EOF.
    pub fn pump_output(
        &mut self,
        on_output: &mut dyn FnMut(super::OutputStream, &[u8]),
    ) -> Result<(), SandboxError> {
        super::output::pump(
            [
                (self.stdout.take(), super::OutputStream::Stdout),
                (self.stderr.take(), super::OutputStream::Stderr),
                (self.pty_master.take(), super::OutputStream::Stdout),
            ],
            on_output,
        )
    }

    /// Waits for the init, then cleans up.
    pub fn wait(mut self) -> Result<RunOutcome, SandboxError> {
        let init_status = wait_for(self.pid)?;
        self.reaped = true;
        let mut status = None;
        while let Ok(Some(channel::Received { msg, .. })) = channel::recv(&self.sync) {
            if msg.kind == channel::EXIT {
                status = Some(ExitStatus::from_wait_status(msg.c));
            }
        }
        let mut status = status.unwrap_or_else(|| ExitStatus::from_wait_status(init_status));
        if let Some(cgroup) = &self.cgroup {
            if !status.success() && cgroup.oom_killed() {
                status = ExitStatus::OutOfMemory {
                    limit: cgroup.memory_limit(),
                };
            }
        }
        self.cleanup()?;
        if let Some(signal) = signals::interrupted() {
            return Err(SandboxError::Interrupted(signal));
        }
        Ok(RunOutcome {
            status,
            created_mountpoints: std::mem::take(&mut self.created),
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    #[allow(dead_code)] // used by start/Handle
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    fn cleanup(&mut self) -> Result<(), SandboxError> {
        signals::unregister(self.pid);
        // Dropped, not detached: the helper is killed and reaped off this
        // path (see NetworkAttachment::detach).
        drop(self.network.take());
        match self.cgroup.take() {
            Some(cgroup) => cgroup.destroy().map_err(SandboxError::from),
            None => Ok(()),
        }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = wait_for(self.pid);
            self.reaped = true;
        }
        if let Err(e) = self.cleanup() {
            log::warn!("cleaning up sandbox {}: {e}", self.pid);
        }
    }
}

fn wait_for(pid: i32) -> Result<i32, SandboxError> {
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid(2) of our own child.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if ret == pid {
            return Ok(status);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(SandboxError::sys("wait for the sandbox init", err));
        }
    }
}

fn child_error(plan: &Plan, msg: Msg) -> SandboxError {
    let what = match Step::from_u32(msg.a) {
        Some(step) => plan.describe(step, msg.b),
        None => format!("unknown step {}", msg.a),
    };
    SandboxError::Setup {
        what,
        source: std::io::Error::from_raw_os_error(msg.c),
    }
}

fn create_cgroup(
    spec: &Spec,
    detached: bool,
    rootless: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<Cgroup>, SandboxError> {
    if spec.limits.is_empty() && !detached {
        return Ok(None);
    }
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    /// Group names are `sandbox-<creator pid>-<n>`, so that stale ones can
    /// be told apart from live ones.
    const GROUP_PREFIX: &str = "sandbox-";
    let name = format!(
        "{GROUP_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    match Cgroup::create(&name, &spec.limits) {
        Ok(cgroup) => {
            cgroup.remove_stale_siblings(GROUP_PREFIX);
            Ok(Some(cgroup))
        }
        Err(CgroupError::RootlessUnsupported { reason }) if rootless => {
            if !spec.limits.is_empty() {
                let warning = format!("resource limits are not applied: {reason}");
                log::warn!("{warning}");
                warnings.push(warning);
            }
            Ok(None)
        }
        Err(e) if spec.limits.is_empty() => {
            log::debug!("no cgroup for a detached sandbox without limits: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The mount point for roots and the staging dir for generated files:
/// shared by all sandboxes, as each mounts on them only inside its own
/// mount namespace.
fn shared_dirs(rootless: bool) -> Result<(PathBuf, PathBuf), SandboxError> {
    let base = if rootless {
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("rbuild"),
            // SAFETY: geteuid has no preconditions.
            _ => std::env::temp_dir().join(format!("rbuild-{}", unsafe { libc::geteuid() })),
        }
    } else if std::path::Path::new("/run").is_dir() {
        PathBuf::from("/run/rbuild")
    } else {
        std::env::temp_dir().join("rbuild-root")
    };
    let mount_point = base.join("sandbox-root");
    let staging = base.join("sandbox-files");
    for dir in [&mount_point, &staging] {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| SandboxError::io("create", dir, e))?;
        }
    }
    if rootless {
        use std::os::unix::fs::MetadataExt;
        let meta =
            std::fs::symlink_metadata(&base).map_err(|e| SandboxError::io("stat", &base, e))?;
        // SAFETY: geteuid has no preconditions.
        if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } {
            return Err(SandboxError::Rootless(format!(
                "{} must be a directory owned by this user; remove it and retry",
                base.display()
            )));
        }
    }
    Ok((mount_point, staging))
}
