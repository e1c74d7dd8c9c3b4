//! Brings up `lo` in the calling thread's network namespace with the
//! SIOCGIFFLAGS/SIOCSIFFLAGS ioctls; called by the sandbox child right after
//! it unshared a network namespace (where lo starts down).

use super::NetworkError;
use std::os::fd::{FromRawFd, OwnedFd};

/// Sets IFF_UP on "lo". Needs CAP_NET_ADMIN in the namespace's user namespace.
pub fn loopback_up() -> Result<(), NetworkError> {
    // SAFETY: plain socket(2) call; the fd is owned (and closed) below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(NetworkError::Loopback(std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a freshly created socket nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: the ioctls read and write only the ifreq we pass.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(NetworkError::Loopback(std::io::Error::last_os_error()));
        }
        request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(NetworkError::Loopback(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
