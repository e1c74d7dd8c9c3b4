//! The sandboxed main process (and `exec`'d ones): its argv/env, the PATH
//! lookup of argv[0] with docker's exit codes (127 not found, 126 not
//! executable), stdio wiring, and the privilege drop in the right order:
//! no_new_privs (only when asked), seccomp (while CAP_SYS_ADMIN still
//! allows it without no_new_privs), bounding set, groups/gid/uid, then the
//! effective capabilities, then execve.
//!
//! [`ProcessPlan::prepare`] runs in the parent; [`exec_main`] in the
//! cloned child and only makes fork-safe calls.

use super::caps;
use super::channel::{self, Msg};
use super::plan::Step;
use super::seccomp;
use super::spec::{StdioMode, User, DEFAULT_PATH};
use super::sys;
use super::SandboxError;
use std::ffi::CString;
use std::os::raw::c_char;

/// Exit codes docker uses when the command cannot be run.
pub const EXIT_NOT_FOUND: i32 = 127;
pub const EXIT_CANNOT_EXECUTE: i32 = 126;

pub struct ProcessPlan {
    /// Kept alive for the pointer arrays below.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const c_char>,
    /// Paths to try in order (one when argv[0] contains a '/').
    candidates: Vec<CString>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    set_groups: bool,
    pub stdio: StdioMode,
    no_new_privs: bool,
    last_cap: u32,
    /// None: unconfined (`--security-opt seccomp=unconfined`).
    seccomp: Option<seccomp::Programs>,
    not_found: Vec<u8>,
    denied: Vec<u8>,
    failed: Vec<u8>,
}

/// The fds the main process gets as stdio.
#[derive(Debug, Clone, Copy)]
pub enum ChildStdio {
    Null,
    Inherit,
    Pipes { stdout: i32, stderr: i32 },
    Pty { slave: i32 },
}

impl ProcessPlan {
    /// Drops the seccomp filter (`--security-opt seccomp=unconfined`).
    pub fn unconfined(&mut self) {
        self.seccomp = None;
    }

    /// `set_groups`: false in a user namespace where setgroups(2) is
    /// denied (a single-id mapping).
    pub fn prepare(
        args: &[String],
        env: &[String],
        user: &User,
        stdio: StdioMode,
        no_new_privs: bool,
        set_groups: bool,
    ) -> Result<ProcessPlan, SandboxError> {
        let arg0 = args
            .first()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| SandboxError::InvalidSpec("no command to run (empty argv)".into()))?;
        let cstrings = |items: &[String], what: &str| -> Result<Vec<CString>, SandboxError> {
            items
                .iter()
                .map(|s| {
                    CString::new(s.as_bytes()).map_err(|_| {
                        SandboxError::InvalidSpec(format!("{what} {s:?} contains a NUL byte"))
                    })
                })
                .collect()
        };
        let argv = cstrings(args, "argument")?;
        let mut env = env.to_vec();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            // As runc does without a passwd entry to look at; the caller
            // sets HOME from the image's /etc/passwd for other users.
            env.push(
                if user.uid == 0 {
                    "HOME=/root"
                } else {
                    "HOME=/"
                }
                .to_string(),
            );
        }
        let envs = cstrings(&env, "environment entry")?;
        let path = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        let candidates: Vec<String> = if arg0.contains('/') {
            vec![arg0.clone()]
        } else {
            path.split(':')
                .map(|dir| {
                    let dir = if dir.is_empty() { "." } else { dir };
                    format!("{}/{arg0}", dir.trim_end_matches('/'))
                })
                .collect()
        };
        if !set_groups && !user.additional_gids.is_empty() {
            return Err(SandboxError::Rootless(format!(
                "supplementary groups {:?} need a subgid range (/etc/subgid and newgidmap) in rootless mode",
                user.additional_gids
            )));
        }
        let ptrs = |v: &[CString]| -> Vec<*const c_char> {
            v.iter()
                .map(|c| c.as_ptr())
                .chain([std::ptr::null()])
                .collect()
        };
        let not_found = if arg0.contains('/') {
            format!("rbuild: exec: \"{arg0}\": stat {arg0}: no such file or directory\n")
        } else {
            format!("rbuild: exec: \"{arg0}\": executable file not found in $PATH\n")
        };
        Ok(ProcessPlan {
            argv_ptrs: ptrs(&argv),
            _argv: argv,
            env_ptrs: ptrs(&envs),
            _env: envs,
            candidates: cstrings(&candidates, "path")?,
            uid: user.uid,
            gid: user.gid,
            groups: user.additional_gids.clone(),
            set_groups,
            stdio,
            no_new_privs,
            last_cap: caps::last_cap(),
            seccomp: Some(seccomp::default_programs()?),
            not_found: not_found.into_bytes(),
            denied: format!("rbuild: exec: \"{arg0}\": permission denied\n").into_bytes(),
            failed: format!("rbuild: exec: \"{arg0}\": cannot execute: error ").into_bytes(),
        })
    }
}

/// Reports a failed step on the exec pipe and exits (child side).
fn die(report: i32, step: Step, errno: i32) -> ! {
    let msg = Msg::new(channel::ERROR, step as u32, 0, errno);
    let _ = channel::send_bytes_pipe(report, msg);
    sys::exit(EXIT_CANNOT_EXECUTE)
}

/// Becomes the sandboxed process: never returns. `report` is the write end
/// of the exec pipe (close-on-exec, so the parent sees EOF on success).
/// `start` (or -1): the read end of a pipe whose one byte releases the
/// execve once everything else is done; EOF means the init is gone.
pub fn exec_main(plan: &ProcessPlan, stdio: ChildStdio, report: i32, start: i32) -> ! {
    sys::mask_all_signals(false);
    // SAFETY: umask and setsid are plain syscalls.
    unsafe {
        libc::umask(0o022);
        libc::setsid();
    }
    if let Err(e) = wire_stdio(stdio) {
        die(report, Step::Stdio, e);
    }
    if plan.no_new_privs {
        if let Err(e) = sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1) {
            die(report, Step::NoNewPrivs, e);
        }
    }
    let programs = plan.seccomp.iter().flat_map(|p| [&p.allowlist, &p.clone3]);
    for program in programs {
        if let Err(e) = seccomp::install(program) {
            die(report, Step::Seccomp, e);
        }
    }
    if let Err(e) = caps::limit_bounding_set(caps::DOCKER_DEFAULT, plan.last_cap) {
        die(report, Step::Capabilities, e);
    }
    let groups = plan.set_groups.then_some(plan.groups.as_slice());
    if let Err(e) = sys::set_credentials(plan.uid, plan.gid, groups) {
        die(report, Step::Credentials, e);
    }
    let effective = if plan.uid == 0 {
        caps::DOCKER_DEFAULT
    } else {
        0
    };
    if let Err(e) = caps::set_process_caps(effective) {
        die(report, Step::Capabilities, e);
    }
    if start >= 0 {
        // From the parent or straight from slirp4netns; EOF: it is gone.
        let mut byte = [0u8; 1];
        if sys::read(start, &mut byte) != Ok(1) {
            die(report, Step::Network, libc::ENETDOWN);
        }
        sys::close(start);
    }
    exec_candidates(plan)
}

fn wire_stdio(stdio: ChildStdio) -> sys::SysResult<()> {
    match stdio {
        ChildStdio::Inherit => Ok(()),
        ChildStdio::Null => {
            let null = sys::open(c"/dev/null", libc::O_RDWR)?;
            for fd in 0..3 {
                sys::dup2(null, fd)?;
            }
            Ok(())
        }
        ChildStdio::Pipes { stdout, stderr } => {
            let null = sys::open(c"/dev/null", libc::O_RDONLY)?;
            sys::dup2(null, 0)?;
            sys::dup2(stdout, 1)?;
            sys::dup2(stderr, 2)
        }
        ChildStdio::Pty { slave } => {
            // SAFETY: makes the pty our controlling terminal.
            if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } < 0 {
                return Err(std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO));
            }
            for fd in 0..3 {
                sys::dup2(slave, fd)?;
            }
            Ok(())
        }
    }
}

/// execve each candidate like execvp; on failure print docker's message on
/// stderr and exit 127 (not found) or 126 (found but not executable).
fn exec_candidates(plan: &ProcessPlan) -> ! {
    let mut denied = false;
    let mut other = 0;
    for path in &plan.candidates {
        match sys::execve(path.as_ptr(), &plan.argv_ptrs, &plan.env_ptrs) {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => denied = true,
            e => {
                other = e;
                break;
            }
        }
    }
    if other != 0 {
        let _ = sys::write_all(2, &plan.failed);
        let mut digits = [0u8; 12];
        let text = format_int(other, &mut digits);
        let _ = sys::write_all(2, text);
        let _ = sys::write_all(2, b"\n");
        sys::exit(EXIT_CANNOT_EXECUTE)
    }
    if denied {
        let _ = sys::write_all(2, &plan.denied);
        sys::exit(EXIT_CANNOT_EXECUTE)
    }
    let _ = sys::write_all(2, &plan.not_found);
    sys::exit(EXIT_NOT_FOUND)
}

fn format_int(value: i32, buf: &mut [u8; 12]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_candidates() {
        let plan = ProcessPlan::prepare(
            &["sh".into(), "-c".into()],
            &["PATH=/usr/bin::/bin/".into()],
            &User::root(),
            StdioMode::Null,
            false,
            true,
        )
        .expect("plan");
        let names: Vec<_> = plan
            .candidates
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["/usr/bin/sh", "./sh", "/bin/sh"]);
        assert_eq!(plan.argv_ptrs.len(), 3);
        assert!(plan.argv_ptrs[2].is_null());
    }

    #[test]
    fn bad_commands_are_refused() {
        let prepare = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            ProcessPlan::prepare(&args, &[], &User::root(), StdioMode::Null, false, true)
        };
        assert!(prepare(&[]).is_err());
        assert!(prepare(&[""]).is_err());
        assert!(prepare(&["a\0b"]).is_err());
    }

    #[test]
    fn integers_format_without_allocating() {
        let mut buf = [0u8; 12];
        assert_eq!(format_int(8, &mut buf), b"8");
        assert_eq!(format_int(1234, &mut buf), b"1234");
    }
}
