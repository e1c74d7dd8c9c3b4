//! The default seccomp filter: docker's default profile (moby
//! profiles/seccomp/default.json) for x86_64 with docker's default
//! capabilities: an allowlist, everything else fails with EPERM; clone
//! only without namespace flags; clone3 fails with ENOSYS (so libc falls
//! back to clone, whose flags can be checked); socket without AF_VSOCK;
//! personality only with docker's five values. Other ABIs (i386 through
//! int 0x80) kill the process, x32 numbers get EPERM: stricter than docker.
//!
//! Built with seccompiler (pure Rust, from Firecracker, well kept): the BPF
//! program is compiled in the parent before clone, and the child installs
//! it with one seccomp(2) call (fork-safe). libseccomp would add a C
//! library dependency and its loading does more work in the child.
//! seccompiler's own apply_filter is not used because it always sets
//! no_new_privs, which docker only does on request.

use super::SandboxError;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// io_pgetevents is missing from the libc crate's x86_64 table.
const SYS_IO_PGETEVENTS: i64 = 333;
/// AF_VSOCK, refused by docker's profile.
const AF_VSOCK: u64 = 40;
/// CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// personality(2) values docker allows: PER_LINUX, UNAME26, PER_LINUX32,
/// UNAME26|PER_LINUX32, and the query 0xffffffff.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Unconditionally allowed syscalls (docker's list, x86_64 names only,
/// plus the ones its default capabilities unlock: chroot; and ptrace,
/// allowed on kernels >= 4.8).
#[rustfmt::skip]
const ALLOWED: &[libc::c_long] = &[
    libc::SYS_accept, libc::SYS_accept4, libc::SYS_access, libc::SYS_adjtimex, libc::SYS_alarm,
    libc::SYS_bind, libc::SYS_brk, libc::SYS_capget, libc::SYS_capset, libc::SYS_chdir,
    libc::SYS_chmod, libc::SYS_chown, libc::SYS_clock_adjtime, libc::SYS_clock_getres,
    libc::SYS_clock_gettime, libc::SYS_clock_nanosleep, libc::SYS_close, libc::SYS_close_range,
    libc::SYS_connect, libc::SYS_copy_file_range, libc::SYS_creat, libc::SYS_dup, libc::SYS_dup2,
    libc::SYS_dup3, libc::SYS_epoll_create, libc::SYS_epoll_create1, libc::SYS_epoll_ctl,
    libc::SYS_epoll_ctl_old, libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2, libc::SYS_epoll_wait,
    libc::SYS_epoll_wait_old, libc::SYS_eventfd, libc::SYS_eventfd2, libc::SYS_execve,
    libc::SYS_execveat, libc::SYS_exit, libc::SYS_exit_group, libc::SYS_faccessat,
    libc::SYS_faccessat2, libc::SYS_fadvise64, libc::SYS_fallocate, libc::SYS_fanotify_mark,
    libc::SYS_fchdir, libc::SYS_fchmod, libc::SYS_fchmodat, libc::SYS_fchown, libc::SYS_fchownat,
    libc::SYS_fcntl, libc::SYS_fdatasync, libc::SYS_fgetxattr, libc::SYS_flistxattr,
    libc::SYS_flock, libc::SYS_fork, libc::SYS_fremovexattr, libc::SYS_fsetxattr, libc::SYS_fstat,
    libc::SYS_fstatfs, libc::SYS_fsync, libc::SYS_ftruncate, libc::SYS_futex,
    libc::SYS_futex_waitv, libc::SYS_futimesat, libc::SYS_getcpu, libc::SYS_getcwd,
    libc::SYS_getdents, libc::SYS_getdents64, libc::SYS_getegid, libc::SYS_geteuid,
    libc::SYS_getgid, libc::SYS_getgroups, libc::SYS_getitimer, libc::SYS_getpeername,
    libc::SYS_getpgid, libc::SYS_getpgrp, libc::SYS_getpid, libc::SYS_getppid,
    libc::SYS_getpriority, libc::SYS_getrandom, libc::SYS_getresgid, libc::SYS_getresuid,
    libc::SYS_getrlimit, libc::SYS_get_robust_list, libc::SYS_getrusage, libc::SYS_getsid,
    libc::SYS_getsockname, libc::SYS_getsockopt, libc::SYS_get_thread_area, libc::SYS_gettid,
    libc::SYS_gettimeofday, libc::SYS_getuid, libc::SYS_getxattr, libc::SYS_inotify_add_watch,
    libc::SYS_inotify_init, libc::SYS_inotify_init1, libc::SYS_inotify_rm_watch,
    libc::SYS_io_cancel, libc::SYS_ioctl, libc::SYS_io_destroy, libc::SYS_io_getevents,
    libc::SYS_ioprio_get, libc::SYS_ioprio_set, libc::SYS_io_setup, libc::SYS_io_submit,
    libc::SYS_io_uring_enter, libc::SYS_io_uring_register, libc::SYS_io_uring_setup,
    libc::SYS_kill, libc::SYS_landlock_add_rule, libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_restrict_self, libc::SYS_lchown, libc::SYS_lgetxattr, libc::SYS_link,
    libc::SYS_linkat, libc::SYS_listen, libc::SYS_listxattr, libc::SYS_llistxattr,
    libc::SYS_lremovexattr, libc::SYS_lseek, libc::SYS_lsetxattr, libc::SYS_lstat,
    libc::SYS_madvise, libc::SYS_membarrier, libc::SYS_memfd_create, libc::SYS_memfd_secret,
    libc::SYS_mincore, libc::SYS_mkdir, libc::SYS_mkdirat, libc::SYS_mknod, libc::SYS_mknodat,
    libc::SYS_mlock, libc::SYS_mlock2, libc::SYS_mlockall, libc::SYS_mmap, libc::SYS_mprotect,
    libc::SYS_mq_getsetattr, libc::SYS_mq_notify, libc::SYS_mq_open, libc::SYS_mq_timedreceive,
    libc::SYS_mq_timedsend, libc::SYS_mq_unlink, libc::SYS_mremap, libc::SYS_msgctl,
    libc::SYS_msgget, libc::SYS_msgrcv, libc::SYS_msgsnd, libc::SYS_msync, libc::SYS_munlock,
    libc::SYS_munlockall, libc::SYS_munmap, libc::SYS_name_to_handle_at, libc::SYS_nanosleep,
    libc::SYS_newfstatat, libc::SYS_open, libc::SYS_openat, libc::SYS_openat2, libc::SYS_pause,
    libc::SYS_pidfd_open, libc::SYS_pidfd_send_signal, libc::SYS_pipe, libc::SYS_pipe2,
    libc::SYS_pkey_alloc, libc::SYS_pkey_free, libc::SYS_pkey_mprotect, libc::SYS_poll,
    libc::SYS_ppoll, libc::SYS_prctl, libc::SYS_pread64, libc::SYS_preadv, libc::SYS_preadv2,
    libc::SYS_prlimit64, libc::SYS_process_mrelease, libc::SYS_pselect6, libc::SYS_pwrite64,
    libc::SYS_pwritev, libc::SYS_pwritev2, libc::SYS_read, libc::SYS_readahead, libc::SYS_readlink,
    libc::SYS_readlinkat, libc::SYS_readv, libc::SYS_recvfrom, libc::SYS_recvmmsg,
    libc::SYS_recvmsg, libc::SYS_remap_file_pages, libc::SYS_removexattr, libc::SYS_rename,
    libc::SYS_renameat, libc::SYS_renameat2, libc::SYS_restart_syscall, libc::SYS_rmdir,
    libc::SYS_rseq, libc::SYS_rt_sigaction, libc::SYS_rt_sigpending, libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigqueueinfo, libc::SYS_rt_sigreturn, libc::SYS_rt_sigsuspend,
    libc::SYS_rt_sigtimedwait, libc::SYS_rt_tgsigqueueinfo, libc::SYS_sched_getaffinity,
    libc::SYS_sched_getattr, libc::SYS_sched_getparam, libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min, libc::SYS_sched_getscheduler,
    libc::SYS_sched_rr_get_interval, libc::SYS_sched_setaffinity, libc::SYS_sched_setattr,
    libc::SYS_sched_setparam, libc::SYS_sched_setscheduler, libc::SYS_sched_yield,
    libc::SYS_seccomp, libc::SYS_select, libc::SYS_semctl, libc::SYS_semget, libc::SYS_semop,
    libc::SYS_semtimedop, libc::SYS_sendfile, libc::SYS_sendmmsg, libc::SYS_sendmsg,
    libc::SYS_sendto, libc::SYS_setfsgid, libc::SYS_setfsuid, libc::SYS_setgid,
    libc::SYS_setgroups, libc::SYS_setitimer, libc::SYS_setpgid, libc::SYS_setpriority,
    libc::SYS_setregid, libc::SYS_setresgid, libc::SYS_setresuid, libc::SYS_setreuid,
    libc::SYS_setrlimit, libc::SYS_set_robust_list, libc::SYS_setsid, libc::SYS_setsockopt,
    libc::SYS_set_thread_area, libc::SYS_set_tid_address, libc::SYS_setuid, libc::SYS_setxattr,
    libc::SYS_shmat, libc::SYS_shmctl, libc::SYS_shmdt, libc::SYS_shmget, libc::SYS_shutdown,
    libc::SYS_sigaltstack, libc::SYS_signalfd, libc::SYS_signalfd4, libc::SYS_socketpair,
    libc::SYS_splice, libc::SYS_stat, libc::SYS_statfs, libc::SYS_statx, libc::SYS_symlink,
    libc::SYS_symlinkat, libc::SYS_sync, libc::SYS_sync_file_range, libc::SYS_syncfs,
    libc::SYS_sysinfo, libc::SYS_tee, libc::SYS_tgkill, libc::SYS_time, libc::SYS_timer_create,
    libc::SYS_timer_delete, libc::SYS_timer_getoverrun, libc::SYS_timer_gettime,
    libc::SYS_timer_settime, libc::SYS_timerfd_create, libc::SYS_timerfd_gettime,
    libc::SYS_timerfd_settime, libc::SYS_times, libc::SYS_tkill, libc::SYS_truncate,
    libc::SYS_umask, libc::SYS_uname, libc::SYS_unlink, libc::SYS_unlinkat, libc::SYS_utime,
    libc::SYS_utimensat, libc::SYS_utimes, libc::SYS_vfork, libc::SYS_vmsplice, libc::SYS_wait4,
    libc::SYS_waitid, libc::SYS_write, libc::SYS_writev, libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev, libc::SYS_ptrace, libc::SYS_arch_prctl, libc::SYS_modify_ldt,
    libc::SYS_chroot,
];

/// The two programs to install, in order: the allowlist, then the clone3
/// ENOSYS rule (the kernel evaluates the newest filter first, and for equal
/// actions the first result wins, so clone3 gets ENOSYS, not EPERM).
#[derive(Debug, Clone)]
pub struct Programs {
    pub allowlist: BpfProgram,
    pub clone3: BpfProgram,
}

// c_long is i64 on the x86_64 target this filter is for.
pub fn default_programs() -> Result<Programs, SandboxError> {
    // Compiled once per process: the filter never changes.
    static COMPILED: std::sync::OnceLock<Result<Programs, String>> = std::sync::OnceLock::new();
    COMPILED
        .get_or_init(|| compile_default().map_err(|e| e.to_string()))
        .clone()
        .map_err(SandboxError::Seccomp)
}

#[allow(clippy::unnecessary_cast)]
fn compile_default() -> Result<Programs, SandboxError> {
    let err = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|nr| (*nr as i64, Vec::new())).collect();
    rules.insert(SYS_IO_PGETEVENTS, Vec::new());
    let arg0 = |op, value| SeccompCondition::new(0, SeccompCmpArgLen::Qword, op, value);
    rules.insert(
        libc::SYS_socket as i64,
        vec![SeccompRule::new(vec![arg0(SeccompCmpOp::Ne, AF_VSOCK).map_err(err)?]).map_err(err)?],
    );
    let personality = PERSONALITIES
        .iter()
        .map(|value| SeccompRule::new(vec![arg0(SeccompCmpOp::Eq, *value)?]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    rules.insert(libc::SYS_personality as i64, personality);
    rules.insert(
        libc::SYS_clone as i64,
        vec![SeccompRule::new(vec![
            arg0(SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS), 0).map_err(err)?
        ])
        .map_err(err)?],
    );
    let allowlist = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(err)?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3 as i64, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        TargetArch::x86_64,
    )
    .map_err(err)?;
    let compile = |filter: SeccompFilter| -> Result<BpfProgram, SandboxError> {
        filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string()))
    };
    Ok(Programs {
        allowlist: compile(allowlist)?,
        clone3: compile(clone3)?,
    })
}

/// Installs one program in the calling thread (child side, fork-safe).
/// Needs no_new_privs or CAP_SYS_ADMIN in the user namespace.
pub fn install(program: &BpfProgram) -> Result<(), i32> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        // seccompiler's sock_filter has libc's layout.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the program outlives the call; the kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_compile_and_fit_the_kernel_limit() {
        let programs = default_programs().expect("compile");
        // BPF_MAXINSNS
        assert!(
            programs.allowlist.len() < 4096,
            "{}",
            programs.allowlist.len()
        );
        assert!(!programs.clone3.is_empty());
    }

    #[test]
    fn dangerous_syscalls_are_not_allowlisted() {
        for nr in [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_bpf,
            libc::SYS_kexec_load,
            libc::SYS_init_module,
            libc::SYS_reboot,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_open_by_handle_at,
            libc::SYS_perf_event_open,
            libc::SYS_userfaultfd,
            libc::SYS_clone3,
            libc::SYS_pivot_root,
        ] {
            assert!(!ALLOWED.contains(&nr), "syscall {nr} must not be allowed");
        }
    }
}
