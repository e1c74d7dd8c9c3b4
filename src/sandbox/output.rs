//! Streams a sandbox's stdout/stderr pipes (or its pty master) to the
//! caller's callback as the bytes arrive, with poll(2), until every stream
//! reached EOF (all writers, including background processes, are gone).
//!
//! No buffering of whole outputs and no interpretation of the bytes.

use super::{OutputStream, SandboxError};
use std::os::fd::{AsRawFd, OwnedFd};

const CHUNK: usize = 64 * 1024;

pub fn pump<const N: usize>(
    streams: [(Option<OwnedFd>, OutputStream); N],
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<(), SandboxError> {
    let mut open: Vec<(OwnedFd, OutputStream)> = streams
        .into_iter()
        .filter_map(|(fd, stream)| fd.map(|fd| (fd, stream)))
        .collect();
    let mut buf = vec![0u8; CHUNK];
    while !open.is_empty() {
        let mut polls: Vec<libc::pollfd> = open
            .iter()
            .map(|(fd, _)| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: polls is a valid array of pollfd for its length.
        let ready = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, -1) };
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(SandboxError::sys("poll the sandbox output", err));
        }
        let mut closed = Vec::new();
        for (index, poll) in polls.iter().enumerate() {
            if poll.revents == 0 {
                continue;
            }
            let Some((fd, stream)) = open.get(index) else {
                continue;
            };
            // SAFETY: reads into our buffer.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                on_output(*stream, &buf[..n as usize]);
                continue;
            }
            let err = std::io::Error::last_os_error();
            // EIO on a pty master means the last slave closed: EOF.
            if n == 0 || err.raw_os_error() == Some(libc::EIO) {
                closed.push(index);
            } else if err.kind() != std::io::ErrorKind::Interrupted
                && err.kind() != std::io::ErrorKind::WouldBlock
            {
                return Err(SandboxError::sys("read the sandbox output", err));
            }
        }
        for index in closed.into_iter().rev() {
            open.remove(index);
        }
    }
    Ok(())
}
