//! Latency of one sandboxed `/bin/true`: create + run + wait + clean up,
//! side by side with `crun run` on the same busybox rootfs, interleaved in
//! one run so both see the same machine load. Prints both medians and the
//! ratio (target: rbuild at most 0.5x crun).
//!
//! Both run with new mount, PID, UTS, IPC and network namespaces (crun's
//! default spec; rbuild with network none) and no resource limits.
//! Run as root: `cargo bench --bench sandbox_latency` (RUNS=n to change the
//! sample count; needs /bin/busybox and crun).

use rbuild::sandbox::network::NetworkMode;
use rbuild::sandbox::{self, RootFs, Spec, StdioMode};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("sandbox_latency bench needs root; skipped");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    let rootfs = bundle.join("rootfs");
    make_rootfs(&rootfs);
    let crun = crun_bundle(&bundle);
    let mut spec = Spec::new(RootFs::Dir(rootfs.clone()), vec!["/bin/true".into()]);
    spec.network = NetworkMode::None;
    spec.stdio = StdioMode::Null;

    let mut ours = Vec::with_capacity(runs);
    let mut theirs = Vec::with_capacity(runs);
    for round in 0..runs + 5 {
        let start = Instant::now();
        let outcome = sandbox::run(&spec, &mut |_, _| {}).expect("sandbox run");
        let elapsed = start.elapsed();
        assert!(outcome.status.success(), "{}", outcome.status);
        if round >= 5 {
            ours.push(elapsed);
        }
        if crun {
            let start = Instant::now();
            let status = Command::new("crun")
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(format!("rbuild-bench-{}-{round}", std::process::id()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .expect("run crun");
            let elapsed = start.elapsed();
            assert!(status.success(), "crun run failed: {status}");
            if round >= 5 {
                theirs.push(elapsed);
            }
        }
    }
    let ours = median(&mut ours);
    println!("runs: {runs} (interleaved, after 5 warm-up rounds)");
    println!("rbuild sandbox  /bin/true  median {:>8.2} ms", ms(ours));
    if crun {
        let theirs = median(&mut theirs);
        println!("crun run        /bin/true  median {:>8.2} ms", ms(theirs));
        println!(
            "ratio rbuild/crun: {:.2}x (target <= 0.50x)",
            ms(ours) / ms(theirs)
        );
    } else {
        println!("crun not usable here; only rbuild measured");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn make_rootfs(dir: &Path) {
    for sub in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("copy /bin/busybox");
    for applet in ["true", "sh"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).expect("symlink");
    }
    for file in ["passwd", "group", "hosts", "hostname", "resolv.conf"] {
        std::fs::write(dir.join("etc").join(file), "").expect("write");
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("passwd");
}

/// `crun spec` with /bin/true and no terminal; false when crun cannot run
/// here (not installed, or hybrid cgroups it refuses).
fn crun_bundle(bundle: &Path) -> bool {
    let spec = Command::new("crun")
        .arg("spec")
        .current_dir(bundle)
        .status();
    if !spec.is_ok_and(|s| s.success()) {
        return false;
    }
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).expect("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("json");
    config["process"]["terminal"] = serde_json::Value::Bool(false);
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    std::fs::write(&path, config.to_string()).expect("write config");
    let probe = Command::new("crun")
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(format!("rbuild-bench-probe-{}", std::process::id()))
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "crun run failed: {} (on hybrid cgroups: mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb)",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("crun: {e}");
            false
        }
    }
}
