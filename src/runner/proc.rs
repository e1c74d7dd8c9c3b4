//! Facts about host processes read from /proc: the boot ID, whether a PID
//! is still the process we started (start time check), and the processes of
//! a container (for `top`). Read-only; it never signals anything.

use std::fs;

/// The kernel's boot ID; empty when /proc is unreadable.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Fields after the `(comm)` of /proc/PID/stat, split on spaces.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = s.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// The start time of `pid` in clock ticks since boot (stat field 22).
pub fn start_ticks(pid: i32) -> Option<u64> {
    // Field 22 overall is index 19 after pid and comm.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// The parent PID of `pid`.
pub fn parent(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// True when `pid` exists, is not a zombie and (when `ticks` is non-zero)
/// started at `ticks`, i.e. it is not a recycled PID.
pub fn is_alive(pid: i32, ticks: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Some(f) = stat_fields(pid) else {
        return false;
    };
    if f.first().map(String::as_str) == Some("Z") {
        return false;
    }
    ticks == 0 || f.get(19).and_then(|t| t.parse::<u64>().ok()) == Some(ticks)
}

/// `pid` and all its descendants, parents before children.
pub fn tree(pid: i32) -> Vec<i32> {
    let mut all: Vec<(i32, i32)> = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                if let Some(pp) = parent(p) {
                    all.push((p, pp));
                }
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while let Some(&cur) = out.get(i) {
        let mut kids: Vec<i32> = all
            .iter()
            .filter(|(_, pp)| *pp == cur)
            .map(|(p, _)| *p)
            .collect();
        kids.sort_unstable();
        out.extend(kids);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_and_recycled_pids_are_not() {
        let me = std::process::id() as i32;
        let t = start_ticks(me).unwrap_or(0);
        assert!(t > 0);
        assert!(is_alive(me, t));
        assert!(!is_alive(me, t + 1));
        assert!(!is_alive(0, 0));
        assert!(tree(me).contains(&me));
        assert_eq!(boot_id().len(), 36);
    }
}
