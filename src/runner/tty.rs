//! Terminal plumbing for `-t`: raw mode on the caller's terminal (restored
//! on drop), window size copied to the container's pty (initially and on
//! SIGWINCH), the relay between the terminal and the pty master with
//! docker's detach keys (Ctrl-P Ctrl-Q), and handing the master fd from the
//! monitor to an attaching CLI over a unix socket (SCM_RIGHTS).
//! Ctrl-C needs nothing special: in raw mode it is a byte that the pty's
//! line discipline turns into SIGINT for the container's foreground group.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

/// docker's default detach sequence.
pub const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// The caller's terminal in raw mode until dropped.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts `fd` in raw mode; `None` when it is not a terminal.
    pub fn enable(fd: RawFd) -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a termios.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only edits the struct.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: valid termios pointer.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in enable().
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// Copies the window size of terminal `from` to pty `to` (no-op when
/// `from` is not a terminal).
pub fn copy_window_size(from: RawFd, to: RawFd) {
    // SAFETY: winsize is plain data; the ioctls read/write exactly one.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

static WINCH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::SeqCst);
}

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnd {
    /// The container closed its terminal (it exited).
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// Scans input for the detach sequence across reads.
#[derive(Debug, Default)]
pub struct DetachScanner {
    matched: usize,
}

impl DetachScanner {
    /// Returns the bytes to forward, and whether the sequence completed.
    /// A partial match is held back until the next byte decides.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if DETACH_KEYS.get(self.matched) == Some(&b) {
                self.matched += 1;
                if self.matched == DETACH_KEYS.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(DETACH_KEYS.get(..self.matched).unwrap_or_default());
            self.matched = 0;
            if DETACH_KEYS.first() == Some(&b) {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Relays `input` -> master and master -> `output` until the container
/// closes the pty or the detach keys arrive. `input` None: output only.
pub fn relay(
    master: &OwnedFd,
    input: Option<RawFd>,
    output: &mut dyn Write,
) -> std::io::Result<RelayEnd> {
    let mfd = master.as_raw_fd();
    if let Some(i) = input {
        copy_window_size(i, mfd);
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(libc::SIGWINCH, on_winch as *const () as libc::sighandler_t) };
    }
    let mut scanner = DetachScanner::default();
    let mut buf = [0u8; 8192];
    let mut input_open = input.is_some();
    loop {
        if WINCH.swap(false, Ordering::SeqCst) {
            if let Some(i) = input {
                copy_window_size(i, mfd);
            }
        }
        let mut fds = [
            libc::pollfd {
                fd: mfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if input_open { input.unwrap_or(-1) } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 500) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            // SAFETY: reading into a stack buffer from an fd we hold.
            let r = unsafe { libc::read(mfd, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                let e = std::io::Error::last_os_error();
                if r < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // EIO: the last slave fd closed, i.e. the container is gone.
                return Ok(RelayEnd::Closed);
            }
            output.write_all(buf.get(..r as usize).unwrap_or_default())?;
            output.flush()?;
        }
        if input_open && fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            let i = input.unwrap_or(-1);
            // SAFETY: as above.
            let r = unsafe { libc::read(i, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                input_open = false;
                continue;
            }
            let (forward, detach) = scanner.feed(buf.get(..r as usize).unwrap_or_default());
            write_all_fd(mfd, &forward)?;
            if detach {
                return Ok(RelayEnd::Detached);
            }
        }
    }
}

fn write_all_fd(fd: RawFd, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writing from a valid slice.
        let w = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if w < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = bytes.get(w as usize..).unwrap_or_default();
    }
    Ok(())
}

/// Sends `fd` over a unix stream (one byte of payload plus SCM_RIGHTS).
pub fn send_fd(sock: &UnixStream, fd: RawFd) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let payload = [std::io::IoSlice::new(b"F")];
    let fds = [fd];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &payload,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// Receives an fd sent by [`send_fd`].
pub fn recv_fd(sock: &UnixStream) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut payload = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut payload,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    if msg.bytes == 0 {
        return Err(std::io::Error::other(
            "the monitor closed the attach socket",
        ));
    }
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us; we own it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::other("the monitor sent no terminal"))
}

/// Copies a pty master's output into the log until EIO, pausing while an
/// attached client holds the terminal. Runs in the monitor.
pub fn serve(
    master: OwnedFd,
    listener: std::os::unix::net::UnixListener,
    log: &mut dyn FnMut(&[u8]),
) -> std::io::Result<()> {
    let mfd = master.as_raw_fd();
    let lfd = listener.as_raw_fd();
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: mfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: lfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: valid pollfd array.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(std::io::Error::last_os_error());
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Ok((mut conn, _)) = listener.accept() {
                if send_fd(&conn, mfd).is_ok() {
                    // The client owns the terminal until it hangs up.
                    let mut sink = [0u8; 64];
                    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                }
            }
            continue;
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            // SAFETY: read into a stack buffer.
            let r = unsafe { libc::read(mfd, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                if r < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                return Ok(());
            }
            log(buf.get(..r as usize).unwrap_or_default());
        }
    }
}

/// Opens a new pty pair (master, slave) for tests and tools.
pub fn open_pty() -> std::io::Result<(OwnedFd, File)> {
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty writes two fds; the name/termios/winsize are optional.
    let r = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds owned by us from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(m), File::from_raw_fd(s)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_across_reads() {
        let mut s = DetachScanner::default();
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(s.feed(b"\x10"), (Vec::new(), false));
        assert_eq!(s.feed(b"\x11rest"), (Vec::new(), true));
        let mut s = DetachScanner::default();
        assert_eq!(s.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
        assert_eq!(
            DetachScanner::default().feed(b"\x03"),
            (b"\x03".to_vec(), false)
        );
    }

    #[test]
    fn relay_and_fd_passing_over_a_real_pty() {
        let (master, mut slave) = open_pty().expect("openpty");
        let (a, b) = UnixStream::pair().expect("pair");
        send_fd(&a, master.as_raw_fd()).expect("send");
        let received = recv_fd(&b).expect("recv");
        slave.write_all(b"hello\r\n").expect("write");
        drop(slave);
        drop(master);
        let mut out = Vec::new();
        let end = relay(&received, None, &mut out).expect("relay");
        assert_eq!(end, RelayEnd::Closed);
        assert!(String::from_utf8_lossy(&out).contains("hello"), "{out:?}");
    }
}
