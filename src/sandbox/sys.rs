//! Raw system calls for the sandbox child processes.
//!
//! rbuild is multi-threaded (progress threads, test harness), and the
//! sandbox children are created with a raw clone(2) from such a process, so
//! between clone and execve they may only make async-signal-safe calls: no
//! allocation, no locks, no std I/O. Everything here is a thin wrapper over
//! one syscall that takes prepared NUL-terminated strings and returns the
//! errno on failure. Buffers are fixed-size and on the stack.
//!
//! Nothing here decides policy; the callers in mounts/, init.rs and
//! process.rs do.

use std::ffi::CStr;
use std::os::raw::c_char;

/// errno of a failed child-side call.
pub type Errno = i32;
pub type SysResult<T> = Result<T, Errno>;

fn errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn check(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

fn check_int(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x01;

/// Opens `path` (relative, NUL-terminated) below `root_fd` as if `root_fd`
/// were "/": symlinks and ".." cannot leave it, magic links are refused.
pub fn open_in_root(root_fd: i32, path: &CStr, flags: i32) -> SysResult<i32> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 reads the path and the open_how we pass.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root_fd,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    check(fd).map(|fd| fd as i32)
}

/// Sets (or clears) mount attributes on the mount at `fd`.
pub fn mount_setattr(fd: i32, set: u64, recursive: bool) -> SysResult<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: mount_setattr reads the empty path and the attr we pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret).map(drop)
}

/// mount(2) with optional source, fstype and data.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: all pointers are NUL-terminated strings or null.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    check_int(ret).map(drop)
}

/// "/proc/self/fd/N" for mounting onto or from an fd, on the stack.
pub struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    pub fn new(fd: i32) -> FdPath {
        let mut buf = [0u8; 32];
        let prefix = b"/proc/self/fd/";
        buf[..prefix.len()].copy_from_slice(prefix);
        let mut digits = [0u8; 12];
        let mut n = fd.unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[prefix.len() + i] = digits[len - 1 - i];
        }
        FdPath { buf }
    }

    pub fn as_cstr(&self) -> &CStr {
        // The buffer always holds a NUL after the digits.
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/")
    }
}

pub fn close(fd: i32) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

/// Closes every fd from `low` to `high` inclusive.
pub fn close_range(low: u32, high: u32) {
    if low > high {
        return;
    }
    // SAFETY: close_range only closes fds.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, low, high, 0) };
    if ret < 0 {
        for fd in low..=high.min(65535) {
            close(fd as i32);
        }
    }
}

pub fn write_all(fd: i32, mut bytes: &[u8]) -> SysResult<()> {
    while !bytes.is_empty() {
        // SAFETY: writes from a valid slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        bytes = bytes.get(n as usize..).unwrap_or(&[]);
    }
    Ok(())
}

pub fn read(fd: i32, buf: &mut [u8]) -> SysResult<usize> {
    loop {
        // SAFETY: reads into a valid mutable slice.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

pub fn mkdirat(dir: i32, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: plain syscall on a NUL-terminated name.
    check_int(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) }).map(drop)
}

pub fn openat(dir: i32, name: &CStr, flags: i32, mode: libc::mode_t) -> SysResult<i32> {
    // SAFETY: plain syscall on a NUL-terminated name.
    check_int(unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) })
}

pub fn open(path: &CStr, flags: i32) -> SysResult<i32> {
    // SAFETY: plain syscall on a NUL-terminated path.
    check_int(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) })
}

pub fn mknodat(dir: i32, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> SysResult<()> {
    // SAFETY: plain syscall on a NUL-terminated name.
    check_int(unsafe { libc::mknodat(dir, name.as_ptr(), mode, dev) }).map(drop)
}

pub fn symlinkat(target: &CStr, dir: i32, name: &CStr) -> SysResult<()> {
    // SAFETY: plain syscall on NUL-terminated strings.
    check_int(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) }).map(drop)
}

pub fn fchown(fd: i32, uid: u32, gid: u32) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::fchown(fd, uid, gid) }).map(drop)
}

pub fn fchmod(fd: i32, mode: u32) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::fchmod(fd, mode) }).map(drop)
}

/// File type bits (S_IFMT) of an fd.
pub fn file_type(fd: i32) -> SysResult<u32> {
    // SAFETY: stat is plain data filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into st.
    check_int(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT)
}

pub fn fchdir(fd: i32) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::fchdir(fd) }).map(drop)
}

pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: plain syscall on a NUL-terminated path.
    check_int(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// pivot_root(".", "."): the old root ends up on top of the new one and is
/// detached right after, without needing a directory for it.
pub fn pivot_to_cwd() -> SysResult<()> {
    // SAFETY: pivot_root and umount2 take NUL-terminated paths.
    unsafe {
        check(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))?;
        check_int(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
    }
    chdir(c"/")
}

pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: reads name.len() bytes.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn unshare(flags: i32) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn setns(fd: i32, nstype: i32) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_int(unsafe { libc::setns(fd, nstype) }).map(drop)
}

pub fn dup2(old: i32, new: i32) -> SysResult<()> {
    if old == new {
        // Clear CLOEXEC so the fd survives execve.
        // SAFETY: fcntl on an fd we own.
        return check_int(unsafe { libc::fcntl(old, libc::F_SETFD, 0) }).map(drop);
    }
    // SAFETY: dup2 on fds we own.
    check_int(unsafe { libc::dup2(old, new) }).map(drop)
}

/// fork-like raw clone(2) with extra namespace flags; bypasses glibc's
/// fork so no atfork handler or malloc lock is touched. 0 in the child.
pub fn clone_process(flags: libc::c_ulong) -> SysResult<i32> {
    // SAFETY: without CLONE_VM the child gets a copy of the address space
    // and continues on a copy of this stack, like fork().
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    check(ret).map(|pid| pid as i32)
}

/// clone3's argument block up to the `cgroup` field (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3's flag to start the child in the cgroup2 directory `cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Like [`clone_process`], with the child created directly in the cgroup2
/// group open as `cgroup_fd` (clone3 with CLONE_INTO_CGROUP, Linux 5.7):
/// no cgroup.procs write, which would wait for an RCU grace period.
/// Errors (ENOSYS, E2BIG, EINVAL...) leave the caller to fall back.
pub fn clone_into_cgroup(flags: u64, cgroup_fd: i32) -> SysResult<i32> {
    let args = CloneArgs {
        flags: flags | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_fd as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; with a null
    // stack and no CLONE_VM the child continues on a copy of this stack in
    // a copy of the address space, like fork().
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    check(ret).map(|pid| pid as i32)
}

pub fn exit(code: i32) -> ! {
    // SAFETY: _exit skips atexit handlers and stdio flushing, as required
    // in a forked child.
    unsafe { libc::_exit(code) }
}

/// Raw setresuid/setresgid/setgroups: glibc's wrappers broadcast to all
/// threads through a signal, which must not happen in a cloned child.
pub fn set_credentials(uid: u32, gid: u32, groups: Option<&[libc::gid_t]>) -> SysResult<()> {
    // SAFETY: plain syscalls; groups points to len gids.
    unsafe {
        if let Some(groups) = groups {
            check(libc::syscall(
                libc::SYS_setgroups,
                groups.len(),
                groups.as_ptr(),
            ))?;
        }
        check(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        check(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
    }
    Ok(())
}

pub fn prctl(option: i32, arg2: libc::c_ulong) -> SysResult<()> {
    // SAFETY: prctl with integer arguments only.
    check_int(unsafe { libc::prctl(option, arg2, 0, 0, 0) }).map(drop)
}

/// Blocks (`block`) or unblocks every signal in the calling thread.
pub fn mask_all_signals(block: bool) {
    // SAFETY: sigset_t is plain data initialized by sigfillset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Resets every catchable signal to its default disposition (handlers of
/// the parent must never run in a child).
pub fn reset_signal_handlers() {
    for signal in 1..=64 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction with a zeroed (SIG_DFL) action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// execve(2); returns only on failure.
pub fn execve(path: *const c_char, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of C strings that
    // outlive the call.
    unsafe { libc::execve(path, argv.as_ptr(), envp.as_ptr()) };
    errno()
}
