//! `exec`: runs another process inside a running sandbox, given the host
//! pid of its init. A cloned helper joins the init's cgroup (created in its
//! cgroup2 group by clone3, joining its v1 groups itself: no cgroup.procs
//! write and its RCU grace period, as for the init) and namespaces (user first when it differs, then ipc, uts,
//! net, cgroup, pid, mnt: setns is refused to multi-threaded processes, so
//! the helper does it), allocates a pty from the sandbox's own devpts when
//! asked, and clones the process with CLONE_PARENT so rbuild waits for it
//! directly; the process then drops privileges exactly like the main one
//! (process.rs).
//!
//! Not here: changing the sandbox (mounts, limits); the exec'd process
//! dies with the sandbox's init like every other process inside it.

use super::channel::{self, Msg};
use super::init::close_other_fds;
use super::plan::Step;
use super::process::{self, ChildStdio, ProcessPlan};
use super::spec::{StdioMode, User};
use super::status::ExitStatus;
use super::{output, signals, sys, OutputStream, SandboxError};
use crate::sandbox::cgroups::layout::{self, Layout};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// What to run inside an already running sandbox ([`exec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub stdio: StdioMode,
    pub no_new_privileges: bool,
}

impl ExecSpec {
    /// Root user, cwd "/", the default PATH, output piped.
    pub fn new(args: Vec<String>) -> ExecSpec {
        ExecSpec {
            args,
            env: vec![format!("PATH={}", super::DEFAULT_PATH)],
            cwd: "/".into(),
            user: User::root(),
            stdio: StdioMode::Piped,
            no_new_privileges: false,
        }
    }
}

/// Namespaces in the order they are joined; "user" only when it differs
/// from rbuild's own.
const NAMESPACES: [(&str, i32); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

/// A process started with [`exec_start`].
pub struct ExecHandle {
    /// Host pid of the exec'd process.
    pub pid: i32,
    pty_master: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    reaped: bool,
}

impl std::fmt::Debug for ExecHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecHandle")
            .field("pid", &self.pid)
            .finish()
    }
}

impl ExecHandle {
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    pub fn take_output(&mut self) -> (Option<OwnedFd>, Option<OwnedFd>) {
        (self.stdout.take(), self.stderr.take())
    }

    pub fn kill(&self, signal: nix::sys::signal::Signal) -> Result<(), SandboxError> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal)
            .map_err(|e| SandboxError::sys("signal the exec'd process", e))
    }

    /// Streams output not taken yet, then waits for the process.
    pub fn wait_with_output(
        mut self,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
    ) -> Result<ExitStatus, SandboxError> {
        output::pump(
            [
                (self.stdout.take(), OutputStream::Stdout),
                (self.stderr.take(), OutputStream::Stderr),
                (self.pty_master.take(), OutputStream::Stdout),
            ],
            on_output,
        )?;
        let status = wait_pid(self.pid)?;
        self.reaped = true;
        Ok(ExitStatus::from_wait_status(status))
    }

    pub fn wait(self) -> Result<ExitStatus, SandboxError> {
        self.wait_with_output(&mut |_, _| {})
    }
}

impl Drop for ExecHandle {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: plain kill/waitpid of our own child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = wait_pid(self.pid);
        }
    }
}

/// Enters the running sandbox whose init has host pid `init_pid` and runs
/// a process there in the foreground; output goes to `on_output`.
pub fn exec(
    init_pid: i32,
    spec: &ExecSpec,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<ExitStatus, SandboxError> {
    exec_start(init_pid, spec)?.wait_with_output(on_output)
}

/// Starts a process inside the sandbox and returns once it exec'd.
pub fn exec_start(init_pid: i32, spec: &ExecSpec) -> Result<ExecHandle, SandboxError> {
    let enter = |reason: String| SandboxError::Enter {
        pid: init_pid,
        reason,
    };
    let proc_dir = PathBuf::from(format!("/proc/{init_pid}"));
    let same_user_ns =
        ns_inode("/proc/self/ns/user") == ns_inode(&format!("{}/ns/user", proc_dir.display()));
    let mut ns_fds: Vec<(OwnedFd, i32)> = Vec::new();
    for (name, kind) in NAMESPACES {
        if name == "user" && same_user_ns {
            continue;
        }
        let path = proc_dir.join("ns").join(name);
        let file = std::fs::File::open(&path)
            .map_err(|e| enter(format!("open {}: {e}", path.display())))?;
        ns_fds.push((OwnedFd::from(file), kind));
    }
    let set_groups = std::fs::read_to_string(proc_dir.join("setgroups"))
        .map(|t| t.trim() != "deny")
        .unwrap_or(true);
    let plan = ProcessPlan::prepare(
        &spec.args,
        &spec.env,
        &spec.user,
        spec.stdio,
        spec.no_new_privileges,
        set_groups,
    )?;
    let cwd = std::ffi::CString::new(spec.cwd.as_bytes()).map_err(|_| {
        SandboxError::InvalidSpec(format!("working directory {:?} contains NUL", spec.cwd))
    })?;
    let groups = cgroup_of(init_pid)?;
    let tasks: Vec<std::ffi::CString> = groups
        .v1_tasks
        .iter()
        .map(|f| super::plan::path_cstring(f))
        .collect::<Result<_, _>>()?;
    let v2_dir = match &groups.v2_dir {
        Some(dir) => Some(OwnedFd::from(
            std::fs::File::open(dir).map_err(|e| SandboxError::io("open", dir, e))?,
        )),
        None => None,
    };

    let (parent_sync, child_sync) =
        channel::socket_pair().map_err(|e| SandboxError::sys("create a socket pair", e))?;
    let (exec_read, exec_write) =
        channel::pipe().map_err(|e| SandboxError::sys("create a pipe", e))?;
    let pipes = if spec.stdio == StdioMode::Piped {
        let out = channel::pipe().map_err(|e| SandboxError::sys("create a pipe", e))?;
        let err = channel::pipe().map_err(|e| SandboxError::sys("create a pipe", e))?;
        Some((out, err))
    } else {
        None
    };
    let mut keep: Vec<i32> = ns_fds.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
    keep.extend([child_sync.as_raw_fd(), exec_write.as_raw_fd()]);
    if let Some(((_, out_w), (_, err_w))) = &pipes {
        keep.extend([out_w.as_raw_fd(), err_w.as_raw_fd()]);
    }
    keep.sort_unstable();
    let stdio = match (&pipes, spec.stdio) {
        (Some(((_, out_w), (_, err_w))), _) => ChildStdio::Pipes {
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
        },
        (None, StdioMode::Inherit) => ChildStdio::Inherit,
        (None, StdioMode::Pty) => ChildStdio::Pty { slave: -1 },
        (None, _) => ChildStdio::Null,
    };
    let raw_ns: Vec<(i32, i32)> = ns_fds
        .iter()
        .map(|(fd, kind)| (fd.as_raw_fd(), *kind))
        .collect();

    let old_mask = signals::block_all_signals();
    let mut helper = match &v2_dir {
        Some(dir) => sys::clone_into_cgroup(0, dir.as_raw_fd()),
        None => sys::clone_process(0),
    };
    let v2_join_pending = v2_dir.is_some() && helper.is_err();
    if v2_join_pending {
        helper = sys::clone_process(0);
    }
    if helper == Ok(0) {
        helper_main(&Helper {
            namespaces: &raw_ns,
            keep: &keep,
            sync: child_sync.as_raw_fd(),
            exec_report: exec_write.as_raw_fd(),
            cwd: &cwd,
            plan: &plan,
            stdio,
            cgroup_tasks: &tasks,
        });
    }
    signals::restore_signals(&old_mask);
    drop(v2_dir);
    let helper = helper.map_err(|e| {
        SandboxError::sys("fork the exec helper", std::io::Error::from_raw_os_error(e))
    })?;
    drop((child_sync, exec_write));
    let (stdout, stderr) = match pipes {
        Some(((out_r, _), (err_r, _))) => (Some(out_r), Some(err_r)),
        None => (None, None),
    };
    // The cgroup2 join clone3 could not do, before the helper clones the
    // process (which inherits it).
    let joined = match (&groups.v2_dir, v2_join_pending) {
        (Some(dir), true) => {
            let file = dir.join("cgroup.procs");
            std::fs::write(&file, helper.to_string())
                .map_err(|e| SandboxError::io("join cgroup", &file, e))
        }
        _ => Ok(()),
    };
    let go = joined.and_then(|()| {
        channel::send(
            parent_sync.as_raw_fd(),
            Msg::new(channel::GO, 0, 0, 0),
            None,
        )
        .map_err(|e| {
            SandboxError::sys(
                "start the exec helper",
                std::io::Error::from_raw_os_error(e),
            )
        })
    });
    let ready = go.and_then(|()| {
        channel::recv(&parent_sync).map_err(|e| SandboxError::sys("read from the exec helper", e))
    });
    let _ = wait_pid(helper);
    let received = ready?.ok_or_else(|| enter("the exec helper exited early".into()))?;
    if received.msg.kind != channel::READY {
        return Err(helper_error(&plan, received.msg));
    }
    let mut handle = ExecHandle {
        pid: received.msg.a as i32,
        pty_master: received.fd,
        stdout,
        stderr,
        reaped: false,
    };
    if let Some(msg) =
        channel::read_pipe(&exec_read).map_err(|e| SandboxError::sys("read the exec pipe", e))?
    {
        let _ = wait_pid(handle.pid);
        handle.reaped = true;
        return Err(helper_error(&plan, msg));
    }
    Ok(handle)
}

fn helper_error(plan: &ProcessPlan, msg: Msg) -> SandboxError {
    let what = match Step::from_u32(msg.a) {
        Some(Step::Credentials) => format!("switch to uid {} gid {}", plan.uid, plan.gid),
        Some(step) => format!("{step:?}"),
        None => format!("step {}", msg.a),
    };
    SandboxError::Setup {
        what,
        source: std::io::Error::from_raw_os_error(msg.c),
    }
}

/// What the cloned helper works with, prepared before the clone.
struct Helper<'a> {
    /// (fd, CLONE_NEW* kind) in setns order.
    namespaces: &'a [(i32, i32)],
    /// Fds to keep open (sorted).
    keep: &'a [i32],
    sync: i32,
    exec_report: i32,
    cwd: &'a std::ffi::CStr,
    plan: &'a ProcessPlan,
    stdio: ChildStdio,
    /// v1 `tasks` files to write "0" into.
    cgroup_tasks: &'a [std::ffi::CString],
}

/// The cloned helper: joins the cgroup and namespaces and clones the process.
fn helper_main(h: &Helper) -> ! {
    let Helper {
        namespaces,
        keep,
        sync,
        exec_report,
        cwd,
        plan,
        stdio,
        cgroup_tasks,
    } = *h;
    sys::reset_signal_handlers();
    close_other_fds(keep);
    let fail = |step: Step, errno: i32| -> ! {
        let _ = channel::send(sync, Msg::new(channel::ERROR, step as u32, 0, errno), None);
        sys::exit(1)
    };
    for file in cgroup_tasks {
        if let Err(e) = super::init::join_cgroup(file) {
            fail(Step::Cgroup, e);
        }
    }
    let mut go = [0u8; 64];
    if !matches!(channel::recv_bytes(sync, &mut go), Ok(n) if n >= 16) {
        sys::exit(1);
    }
    for (fd, kind) in namespaces {
        if let Err(e) = sys::setns(*fd, *kind) {
            fail(Step::Setns, e);
        }
        sys::close(*fd);
    }
    if let Err(e) = sys::chdir(cwd) {
        fail(Step::Cwd, e);
    }
    let (stdio, master) = match stdio {
        ChildStdio::Pty { .. } => match super::init::open_pty() {
            Ok((master, slave)) => (ChildStdio::Pty { slave }, master),
            Err(e) => fail(Step::Pty, e),
        },
        other => (other, -1),
    };
    match sys::clone_process(libc::CLONE_PARENT as libc::c_ulong) {
        Ok(0) => {
            sys::close(sync);
            if master >= 0 {
                sys::close(master);
            }
            process::exec_main(plan, stdio, exec_report, -1)
        }
        Ok(pid) => {
            let pass = (master >= 0).then_some(master);
            let _ = channel::send(sync, Msg::new(channel::READY, pid as u32, 0, 0), pass);
            sys::exit(0)
        }
        Err(e) => fail(Step::Fork, e),
    }
}

/// The init's groups: the v1 `tasks` files the helper writes "0" into,
/// and the cgroup2 directory it is cloned into.
struct InitGroups {
    v1_tasks: Vec<PathBuf>,
    v2_dir: Option<PathBuf>,
}

fn cgroup_of(pid: i32) -> Result<InitGroups, SandboxError> {
    let read =
        |path: &str| std::fs::read_to_string(path).map_err(|e| SandboxError::io("read", path, e));
    let mountinfo = read("/proc/self/mountinfo")?;
    let cgroup = read(&format!("/proc/{pid}/cgroup"))?;
    Ok(match layout::detect(&mountinfo, &cgroup) {
        Some(Layout::Unified { own, .. }) => InitGroups {
            v1_tasks: Vec::new(),
            v2_dir: Some(own),
        },
        Some(Layout::Legacy {
            controllers,
            unified,
        }) => InitGroups {
            v1_tasks: controllers
                .into_values()
                .map(|dir| dir.join("tasks"))
                .filter(|file| file.exists())
                .collect(),
            v2_dir: unified.filter(|dir| dir.join("cgroup.procs").exists()),
        },
        None => InitGroups {
            v1_tasks: Vec::new(),
            v2_dir: None,
        },
    })
}

fn ns_inode(path: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn wait_pid(pid: i32) -> Result<i32, SandboxError> {
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid(2) of our own child.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if ret == pid {
            return Ok(status);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(SandboxError::sys("wait for the exec'd process", err));
        }
    }
}
