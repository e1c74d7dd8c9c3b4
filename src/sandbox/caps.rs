//! Capabilities: docker's default set (CHOWN, DAC_OVERRIDE, FSETID, FOWNER,
//! MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
//! SYS_CHROOT, KILL, AUDIT_WRITE) and nothing more. Everything else is
//! dropped from the bounding set; ambient and inheritable sets are empty;
//! effective/permitted hold the default set for uid 0 and nothing for other
//! users (the kernel clears them on setuid, as with docker).
//!
//! Child-side functions are fork-safe raw syscalls.

use super::sys::{self, SysResult};

const CAP_CHOWN: u32 = 0;
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_FOWNER: u32 = 3;
const CAP_FSETID: u32 = 4;
const CAP_KILL: u32 = 5;
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SETPCAP: u32 = 8;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_CHROOT: u32 = 18;
const CAP_MKNOD: u32 = 27;
const CAP_AUDIT_WRITE: u32 = 29;
const CAP_SETFCAP: u32 = 31;

/// docker's default capability set as a bit mask (0xa80425fb).
pub const DOCKER_DEFAULT: u64 = bit(CAP_CHOWN)
    | bit(CAP_DAC_OVERRIDE)
    | bit(CAP_FOWNER)
    | bit(CAP_FSETID)
    | bit(CAP_KILL)
    | bit(CAP_SETGID)
    | bit(CAP_SETUID)
    | bit(CAP_SETPCAP)
    | bit(CAP_NET_BIND_SERVICE)
    | bit(CAP_NET_RAW)
    | bit(CAP_SYS_CHROOT)
    | bit(CAP_MKNOD)
    | bit(CAP_AUDIT_WRITE)
    | bit(CAP_SETFCAP);

const fn bit(cap: u32) -> u64 {
    1 << cap
}

/// The highest capability the running kernel knows (parent side).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(40)
}

/// Drops every capability outside `keep` from the bounding set and clears
/// the ambient set. Needs CAP_SETPCAP, so it runs before setuid.
pub fn limit_bounding_set(keep: u64, last_cap: u32) -> SysResult<()> {
    for cap in 0..=last_cap.min(63) {
        if keep & bit(cap) != 0 {
            continue;
        }
        match sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong) {
            Ok(()) | Err(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    match ret {
        0 => Ok(()),
        // Kernels without ambient capabilities.
        _ => match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINVAL) => Ok(()),
            Some(e) => Err(e),
            None => Err(libc::EIO),
        },
    }
}

/// Sets effective and permitted to `caps`, inheritable to nothing.
pub fn set_process_caps(caps: u64) -> SysResult<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let low = caps as u32;
    let high = (caps >> 32) as u32;
    let data = [
        Data {
            effective: low,
            permitted: low,
            inheritable: 0,
        },
        Data {
            effective: high,
            permitted: high,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads the header and two data structs.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
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
    fn default_set_matches_docker() {
        assert_eq!(DOCKER_DEFAULT, 0xa804_25fb);
        assert_eq!(DOCKER_DEFAULT.count_ones(), 14);
    }
}
