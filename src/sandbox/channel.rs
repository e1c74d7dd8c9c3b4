//! The fixed-size messages between rbuild and a sandbox init over a
//! SOCK_SEQPACKET socket pair: the "go" (with /etc/resolv.conf content),
//! "joined" (the init is in its cgroup and its network is up),
//! created mount points, setup errors, "ready" (with the pty master fd),
//! and the main process's final wait status.
//!
//! The child side uses only sendmsg/recv on stack buffers (fork-safe); the
//! parent side may allocate. Nothing here interprets the messages.

use super::sys::{self, SysResult};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const GO: u32 = 1;
pub const CREATED: u32 = 2;
pub const ERROR: u32 = 3;
pub const READY: u32 = 4;
pub const EXIT: u32 = 5;
/// The init is in its cgroup and its network is up: it may enter its
/// cgroup namespace and start the main process.
pub const JOINED: u32 = 6;

/// GO's `a`: the init is in all its cgroups already, so it may enter its
/// cgroup namespace and prepare the main process before JOINED, which then
/// only releases the main process's execve.
pub const GO_EARLY_FORK: u32 = 1;

/// Largest payload of a GO message (resolv.conf).
pub const MAX_PAYLOAD: usize = 8192;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Msg {
    pub kind: u32,
    pub a: u32,
    pub b: u32,
    pub c: i32,
}

const MSG_LEN: usize = std::mem::size_of::<Msg>();

impl Msg {
    pub fn new(kind: u32, a: u32, b: u32, c: i32) -> Msg {
        Msg { kind, a, b, c }
    }

    /// The message as the start of a packet (a payload may follow).
    pub fn to_packet(self) -> Vec<u8> {
        self.to_bytes().to_vec()
    }

    fn to_bytes(self) -> [u8; MSG_LEN] {
        let mut out = [0u8; MSG_LEN];
        out[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        out[4..8].copy_from_slice(&self.a.to_ne_bytes());
        out[8..12].copy_from_slice(&self.b.to_ne_bytes());
        out[12..16].copy_from_slice(&self.c.to_ne_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Msg> {
        let word = |i: usize| -> Option<[u8; 4]> { bytes.get(i..i + 4)?.try_into().ok() };
        Some(Msg {
            kind: u32::from_ne_bytes(word(0)?),
            a: u32::from_ne_bytes(word(4)?),
            b: u32::from_ne_bytes(word(8)?),
            c: i32::from_ne_bytes(word(12)?),
        })
    }
}

/// Sends one message, optionally passing `pass_fd` along (SCM_RIGHTS).
/// Fork-safe.
pub fn send(fd: i32, msg: Msg, pass_fd: Option<i32>) -> SysResult<()> {
    let bytes = msg.to_bytes();
    send_bytes(fd, &bytes, pass_fd)
}

/// Sends a message followed by `payload` (at most 4 KiB) as one packet.
/// Fork-safe.
pub fn send_with_payload(fd: i32, msg: Msg, payload: &[u8]) -> SysResult<()> {
    let mut packet = [0u8; MSG_LEN + 4096];
    let len = payload.len().min(4096);
    packet[..MSG_LEN].copy_from_slice(&msg.to_bytes());
    packet[MSG_LEN..MSG_LEN + len].copy_from_slice(&payload[..len]);
    send_bytes(fd, &packet[..MSG_LEN + len], None)
}

/// Sends raw bytes as one packet. Fork-safe.
pub fn send_bytes(fd: i32, bytes: &[u8], pass_fd: Option<i32>) -> SysResult<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // Room for one fd's control message, 8-byte aligned.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; every pointer set below outlives sendmsg.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    if let Some(pass) = pass_fd {
        // SAFETY: CMSG_* compute offsets into the control buffer we own,
        // which is large enough for one int.
        unsafe {
            let space = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
            header.msg_control = control.as_mut_ptr().cast();
            header.msg_controllen = space;
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), pass);
        }
    }
    loop {
        // SAFETY: header points to valid buffers.
        let n = unsafe { libc::sendmsg(fd, &header, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Writes one message to a pipe (the exec pipe). Fork-safe.
pub fn send_bytes_pipe(fd: i32, msg: Msg) -> SysResult<()> {
    sys::write_all(fd, &msg.to_bytes())
}

/// Parent side: reads one message from a pipe; None at EOF.
pub fn read_pipe(pipe: &OwnedFd) -> std::io::Result<Option<Msg>> {
    let mut bytes = [0u8; MSG_LEN];
    let mut filled = 0;
    while filled < MSG_LEN {
        match sys::read(pipe.as_raw_fd(), &mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
    if filled == 0 {
        return Ok(None);
    }
    Msg::from_bytes(&bytes[..filled]).map(Some).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "short message on the exec pipe",
        )
    })
}

/// Receives one raw packet into `buf` (child side). Fork-safe.
pub fn recv_bytes(fd: i32, buf: &mut [u8]) -> SysResult<usize> {
    sys::read(fd, buf)
}

/// A received message with its payload and any fd passed along.
pub struct Received {
    pub msg: Msg,
    pub payload: Vec<u8>,
    pub fd: Option<OwnedFd>,
}

/// Parent side: the next message; None at EOF.
pub fn recv(socket: &OwnedFd) -> std::io::Result<Option<Received>> {
    let mut bytes = vec![0u8; MSG_LEN + MAX_PAYLOAD];
    let mut iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; the buffers outlive recvmsg.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of_val(&control);
    let n = loop {
        // SAFETY: header points to valid buffers we own.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut header, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    if n == 0 {
        return Ok(None);
    }
    let mut passed = None;
    // SAFETY: the kernel filled msg_control; CMSG_* walk it within bounds.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        if !cmsg.is_null()
            && (*cmsg).cmsg_level == libc::SOL_SOCKET
            && (*cmsg).cmsg_type == libc::SCM_RIGHTS
        {
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>());
            passed = Some(OwnedFd::from_raw_fd(fd));
        }
    }
    let msg = Msg::from_bytes(&bytes[..n.min(MSG_LEN)]).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("short message of {n} bytes from the sandbox init"),
        )
    })?;
    Ok(Some(Received {
        msg,
        payload: bytes.get(MSG_LEN..n).unwrap_or_default().to_vec(),
        fd: passed,
    }))
}

/// A SOCK_SEQPACKET pair with close-on-exec set on both ends.
pub fn socket_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: socketpair writes two fds into the array.
    let ret = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe with close-on-exec on both ends: (read, write).
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross_the_socket() {
        let (a, b) = socket_pair().expect("pair");
        let (r, _w) = pipe().expect("pipe");
        send(
            a.as_raw_fd(),
            Msg::new(READY, 7, 8, -9),
            Some(r.as_raw_fd()),
        )
        .expect("send");
        let got = recv(&b).expect("recv").expect("message");
        assert_eq!(got.msg, Msg::new(READY, 7, 8, -9));
        assert!(got.fd.is_some());
        send_with_payload(a.as_raw_fd(), Msg::new(CREATED, 0, 0, 0), b"etc/hosts").expect("send");
        let got = recv(&b).expect("recv").expect("message");
        assert_eq!(got.payload, b"etc/hosts");
        drop(a);
        assert!(recv(&b).expect("eof").is_none());
    }
}
