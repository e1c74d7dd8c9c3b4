//! Resource usage of a running container for `stats`, read from the cgroup
//! files of its init process (/proc/PID/cgroup names the groups): memory
//! usage and limit, CPU time, pids. v1 and v2 layouts; read-only.

use crate::sandbox::cgroups::CgroupStats;
use std::fs;
use std::path::PathBuf;

fn read_u64(p: PathBuf) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The cgroup directory of `pid` for a v1 controller ("" = the v2 group).
fn group_dir(pid: i32, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let rel = path.trim_start_matches('/');
        if controller.is_empty() && ctrls.is_empty() {
            for base in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                let d = PathBuf::from(base).join(rel);
                if d.join("cgroup.procs").is_file() {
                    return Some(d);
                }
            }
        } else if !controller.is_empty() && ctrls.split(',').any(|c| c == controller) {
            let d = PathBuf::from("/sys/fs/cgroup").join(ctrls).join(rel);
            if d.is_dir() {
                return Some(d);
            }
            let d = PathBuf::from("/sys/fs/cgroup").join(controller).join(rel);
            return d.is_dir().then_some(d);
        }
    }
    None
}

/// Usage of the cgroups `pid` is in; None when they cannot be read.
pub fn read(pid: i32) -> Option<CgroupStats> {
    if pid <= 0 {
        return None;
    }
    let mut s = CgroupStats::default();
    if let Some(m) = group_dir(pid, "memory") {
        s.memory_usage = read_u64(m.join("memory.usage_in_bytes")).unwrap_or(0);
        // v1 reports "no limit" as a huge number.
        s.memory_limit = read_u64(m.join("memory.limit_in_bytes")).filter(|l| *l < (1 << 60));
    } else if let Some(g) = group_dir(pid, "") {
        s.memory_usage = read_u64(g.join("memory.current")).unwrap_or(0);
        s.memory_limit = read_u64(g.join("memory.max"));
    }
    if let Some(c) = group_dir(pid, "cpuacct") {
        s.cpu_usage_ns = read_u64(c.join("cpuacct.usage")).unwrap_or(0);
    } else if let Some(g) = group_dir(pid, "") {
        let stat = fs::read_to_string(g.join("cpu.stat")).unwrap_or_default();
        s.cpu_usage_ns = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|us| us * 1000)
            .unwrap_or(0);
    }
    let pids = group_dir(pid, "pids").or_else(|| group_dir(pid, ""));
    s.pids_current = pids
        .and_then(|p| read_u64(p.join("pids.current")))
        .unwrap_or(0);
    Some(s)
}

/// docker's `BytesSize` (go-units): binary units, 4 significant digits,
/// no space: `512KiB`, `1.953MiB`, `64MiB`.
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    // %.4g: four significant digits, trailing zeros dropped.
    let decimals = match value {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", UNITS.get(unit).unwrap_or(&"B"))
}

/// Total host memory (the limit shown for unlimited containers).
pub fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_byte_sizes() {
        assert_eq!(bytes_size(512 * 1024), "512KiB");
        assert_eq!(bytes_size(64 << 20), "64MiB");
        assert_eq!(bytes_size(2_048_000), "1.953MiB");
        assert_eq!(bytes_size(17), "17B");
    }

    #[test]
    fn reads_own_usage() {
        assert!(host_memory() > 0);
        let s = read(std::process::id() as i32);
        assert!(s.is_some());
    }
}
