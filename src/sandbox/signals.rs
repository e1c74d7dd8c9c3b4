//! SIGINT/SIGTERM while sandboxes run: the handler SIGKILLs every live
//! sandbox init (the kernel then kills the whole PID namespace, and the
//! mount namespace with its overlay goes away), remembers the signal, and
//! lets the waiting code clean up cgroups and network helpers and return
//! [`SandboxError::Interrupted`](super::SandboxError::Interrupted). With no
//! sandbox running, the signal gets its previous disposition (by default,
//! the process dies).
//!
//! The handler only touches atomics and calls kill(2) (async-signal-safe).
//! Also here: blocking all signals around a clone(2), for the launch and exec
//! paths alike.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 256;

static LIVE: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
/// Previous sigaction handlers (as usize) for SIGINT and SIGTERM.
static PREVIOUS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static INSTALL: Once = Once::new();

/// Installs the handler once per process.
pub fn install() {
    INSTALL.call_once(|| {
        for (index, signal) in [libc::SIGINT, libc::SIGTERM].into_iter().enumerate() {
            // SAFETY: sigaction with a handler that only uses
            // async-signal-safe operations.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handle as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    PREVIOUS[index].store(old.sa_sigaction, Ordering::SeqCst);
                }
            }
        }
    });
}

/// SIGKILLs every live sandbox init and records `signal` as the reason;
/// returns whether any sandbox was running. Async-signal-safe: for CLI
/// signal handlers that replace ours.
pub fn interrupt_all(signal: i32) -> bool {
    let mut any = false;
    for slot in &LIVE {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            any = true;
            // SAFETY: kill(2) is async-signal-safe.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if any {
        INTERRUPTED.store(signal, Ordering::SeqCst);
    }
    any
}

extern "C" fn handle(signal: libc::c_int) {
    let any = interrupt_all(signal);
    let index = usize::from(signal == libc::SIGTERM);
    let previous = PREVIOUS[index].load(Ordering::SeqCst);
    if previous == libc::SIG_IGN {
        return;
    }
    if previous != libc::SIG_DFL && previous != handle as *const () as libc::sighandler_t {
        // SAFETY: calling the handler that was installed before ours.
        let chained: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
        chained(signal);
        return;
    }
    if !any {
        // Nothing of ours to clean up: die from the signal as before.
        // SAFETY: restoring the default disposition and re-raising.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}

/// Records a live sandbox init. Returns false when the table is full (the
/// sandbox then only dies with rbuild through PR_SET_PDEATHSIG).
pub fn register(pid: i32) -> bool {
    LIVE.iter().any(|slot| {
        slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

pub fn unregister(pid: i32) {
    for slot in &LIVE {
        let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The signal that interrupted rbuild while sandboxes ran, if any.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// Blocks every signal in the calling thread and returns the old mask, so
/// that a clone(2) child starts with signals blocked until it has set up
/// its own handlers.
pub(crate) fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data filled by the calls below.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

/// Restores the mask saved by [`block_all_signals`].
pub(crate) fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: restores a mask saved by block_all_signals.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}
