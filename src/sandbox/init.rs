//! The sandbox's first process: created by clone(2) in the new namespaces,
//! it waits for the parent's go, builds the filesystem (mounts/), sets the
//! hostname and loopback, enters a new cgroup namespace and forks the main
//! process, which drops its privileges and execs when the parent says the
//! network is ready (with a cgroup2 join left to the parent, the init waits
//! for JOINED before entering the cgroup namespace and forking). It then
//! stays as PID 1:
//! it reaps every zombie, forwards signals to the main process, and when
//! the main process exits it kills everything left in the PID namespace,
//! reports the main process's wait status to the parent and exits with its
//! code (like `docker run --init`).
//!
//! Runs in a clone of a multi-threaded process: fork-safe calls only.

use super::channel::{self, Msg};
use super::mounts::{self, Failure};
use super::plan::{Plan, Step};
use super::process::{self, ChildStdio};
use super::sys;

/// The child's view of its channels, as raw fds.
pub struct ChildFds {
    /// Child end of the sync socket.
    pub sync: i32,
    /// Write end of the exec pipe (close-on-exec).
    pub exec_report: i32,
    /// Write ends of the output pipes, or -1.
    pub stdout: i32,
    pub stderr: i32,
    /// Read end of the start pipe: with an early fork, the parent's one
    /// byte on it releases the main process's execve.
    pub start: i32,
    /// Every fd to keep open, sorted; the others (>= 3) are closed.
    pub keep: Vec<i32>,
}

pub struct InitOptions {
    /// SIGKILL the sandbox when the thread that started it dies.
    pub die_with_parent: bool,
}

/// Entry point of the cloned child; never returns.
pub fn child_main(plan: &Plan, fds: &ChildFds, options: &InitOptions) -> ! {
    sys::reset_signal_handlers();
    // Shown by ps inside instead of the launching thread's name.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"rbuild-init".as_ptr(), 0, 0, 0) };
    close_other_fds(&fds.keep);
    if options.die_with_parent {
        // getppid() is 0 in the new PID namespace, so a parent that died
        // before this call shows up as EOF on the sync socket instead.
        let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    // SAFETY: umask is a plain syscall; device nodes and files get exact modes.
    unsafe { libc::umask(0) };
    let report = |failure: Failure| -> ! {
        let msg = Msg::new(
            channel::ERROR,
            failure.step as u32,
            failure.index,
            failure.errno,
        );
        let _ = channel::send(fds.sync, msg, None);
        sys::exit(1)
    };
    // Join the cgroup before anything is charged to the parent's: as a
    // single thread writing "0" to v1 `tasks` files, which (unlike the
    // parent writing this pid to cgroup.procs) waits for no RCU grace
    // period. The cgroup2 part was done by clone3 or is done by the parent.
    for (index, file) in plan.cgroup_join.iter().enumerate() {
        if let Err(errno) = join_cgroup(file) {
            report(Failure {
                step: Step::Cgroup,
                index: index as u32,
                errno,
            });
        }
    }
    let mut go = [0u8; channel::MAX_PAYLOAD + 16];
    let received = match channel::recv_bytes(fds.sync, &mut go) {
        Ok(n) if n >= 16 => n,
        // The parent went away or failed: nothing to do.
        _ => sys::exit(1),
    };
    let early_fork = Msg::from_bytes(&go).is_some_and(|m| m.a == channel::GO_EARLY_FORK);
    let resolv = if plan.resolv_from_go {
        go.get(16..received)
    } else {
        None
    };
    let mut created = |path: &[u8]| {
        let _ = channel::send_with_payload(fds.sync, Msg::new(channel::CREATED, 0, 0, 0), path);
    };
    if let Err(failure) = mounts::setup(plan, resolv, &mut created) {
        report(failure);
    }
    if let Err(e) = sys::sethostname(&plan.hostname) {
        report(failure(Step::Hostname, e));
    }
    if plan.new_netns {
        if let Err(e) = crate::sandbox::network::loopback_up() {
            let errno = match e {
                crate::sandbox::network::NetworkError::Loopback(io) => {
                    io.raw_os_error().unwrap_or(libc::EIO)
                }
                _ => libc::EIO,
            };
            report(failure(Step::Loopback, errno));
        }
    }
    // The cgroup namespace must be rooted in the final group: with a
    // cgroup2 join left to the parent, wait for JOINED first.
    if !early_fork {
        wait_joined(fds.sync);
    }
    if let Err(e) = sys::unshare(libc::CLONE_NEWCGROUP) {
        report(Failure {
            step: Step::Cgroupns,
            index: 0,
            errno: e,
        });
    }
    let (stdio, master) = match plan.process.stdio {
        super::spec::StdioMode::Null => (ChildStdio::Null, -1),
        super::spec::StdioMode::Inherit => (ChildStdio::Inherit, -1),
        super::spec::StdioMode::Piped => (
            ChildStdio::Pipes {
                stdout: fds.stdout,
                stderr: fds.stderr,
            },
            -1,
        ),
        super::spec::StdioMode::Pty => match open_pty() {
            Ok((master, slave)) => (ChildStdio::Pty { slave }, master),
            Err(e) => report(failure(Step::Pty, e)),
        },
    };
    // Early, the main process drops its privileges while the network
    // helper starts, and execs when the parent writes to the start pipe.
    let start = if early_fork { fds.start } else { -1 };
    let main = match sys::clone_process(0) {
        Ok(0) => {
            sys::close(fds.sync);
            if master >= 0 {
                sys::close(master);
            }
            process::exec_main(&plan.process, stdio, fds.exec_report, start)
        }
        Ok(pid) => pid,
        Err(e) => report(failure(Step::Fork, e)),
    };
    let pass = (master >= 0).then_some(master);
    let _ = channel::send(fds.sync, Msg::new(channel::READY, main as u32, 0, 0), pass);
    for fd in [master, fds.exec_report, fds.stdout, fds.stderr, fds.start] {
        if fd >= 0 {
            sys::close(fd);
        }
    }
    if let ChildStdio::Pty { slave } = stdio {
        sys::close(slave);
    }
    let status = reap_until_main_exits(main);
    let _ = channel::send(fds.sync, Msg::new(channel::EXIT, 0, 0, status), None);
    sys::exit(exit_code(status))
}

/// Waits for JOINED (cgroup and network ready) before an early fork was
/// allowed; exits when the parent is gone, which takes the whole sandbox
/// with this PID 1.
fn wait_joined(sync: i32) {
    let mut joined = [0u8; 16];
    if !matches!(channel::recv_bytes(sync, &mut joined), Ok(16)) {
        sys::exit(1)
    }
}

/// Moves the calling thread (the whole init: it has one) into the group
/// of a v1 `tasks` file.
pub fn join_cgroup(tasks: &std::ffi::CStr) -> sys::SysResult<()> {
    let fd = sys::open(tasks, libc::O_WRONLY | libc::O_CLOEXEC)?;
    let written = sys::write_all(fd, b"0");
    sys::close(fd);
    written
}

fn failure(step: Step, errno: i32) -> Failure {
    Failure {
        step,
        index: 0,
        errno,
    }
}

/// Closes every fd >= 3 that is not in `keep` (sorted).
pub fn close_other_fds(keep: &[i32]) {
    let mut low: u32 = 3;
    for fd in keep {
        let fd = *fd as u32;
        if fd < low {
            continue;
        }
        if fd > low {
            sys::close_range(low, fd - 1);
        }
        low = fd + 1;
    }
    sys::close_range(low, u32::MAX);
}

/// A new pseudo-terminal from the sandbox's own devpts: (master, slave).
pub fn open_pty() -> sys::SysResult<(i32, i32)> {
    let master = sys::open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY)?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int; TIOCGPTPEER returns a new fd.
    let slave = unsafe {
        if libc::ioctl(master, libc::TIOCSPTLCK, &unlock) < 0 {
            -1
        } else {
            libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY)
        }
    };
    if slave < 0 {
        let e = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        sys::close(master);
        return Err(e);
    }
    Ok((master, slave))
}

/// PID 1's loop: reap, forward, and once `main` is gone kill the rest.
/// Returns the main process's wait status.
fn reap_until_main_exits(main: i32) -> i32 {
    // SAFETY: sigset_t is plain data; sigfillset initializes it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    unsafe { libc::sigfillset(&mut all) };
    loop {
        // SAFETY: every signal is blocked in this process (inherited from
        // the launching thread), so sigwaitinfo receives them.
        let signal = unsafe { libc::sigwaitinfo(&all, std::ptr::null_mut()) };
        if signal < 0 {
            continue;
        }
        if signal != libc::SIGCHLD {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(main, signal) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: plain waitpid(2).
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == main {
                kill_everything_else();
                return status;
            }
        }
    }
}

/// Kills and reaps every other process of the PID namespace.
fn kill_everything_else() {
    // SAFETY: plain syscalls. kill(-1) from PID 1 of a PID namespace reaches
    // exactly the other processes of that namespace; the getpid check keeps
    // it from ever running outside one.
    unsafe {
        if libc::getpid() != 1 {
            return;
        }
        libc::kill(-1, libc::SIGKILL);
        loop {
            let mut status = 0;
            let pid = libc::waitpid(-1, &mut status, 0);
            if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
    }
}

/// The init's own exit code for a main process wait status.
fn exit_code(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}
