//! `rbuild build --memory/--pids-limit/--cpus` apply to RUN steps: a RUN
//! reads its own cgroup limits back (cgroup v1 or v2 files, whichever the
//! host has), and a RUN that allocates 200 MB under `--memory 64m` fails
//! with the out-of-memory message and exit 1 (the same RUN passes without
//! the limit).

mod build_support;

use build_support::{read, World};

/// Prints `memory=<bytes> pids=<n> cpu=<quota>/<period>` from inside the
/// sandbox's cgroup namespace (v1 hierarchy per controller, or v2's files).
const READ_LIMITS: &str = r#"FROM localhost/busybox
RUN c=/sys/fs/cgroup; \
    if [ -f $c/memory/memory.limit_in_bytes ]; then m=$(cat $c/memory/memory.limit_in_bytes); else m=$(cat $c/memory.max); fi; \
    if [ -f $c/pids/pids.max ]; then p=$(cat $c/pids/pids.max); else p=$(cat $c/pids.max); fi; \
    if [ -f $c/cpu/cpu.cfs_quota_us ]; then q="$(cat $c/cpu/cpu.cfs_quota_us)/$(cat $c/cpu/cpu.cfs_period_us)"; \
    else q=$(tr ' ' / < $c/cpu.max); fi; \
    echo "memory=$m pids=$p cpu=$q" > /limits.txt
"#;

#[test]
fn run_steps_see_the_build_limits() {
    if !build_support::ready("run_steps_see_the_build_limits") {
        return;
    }
    let w = World::new();
    let fs = w.build_fs(
        READ_LIMITS,
        &["--memory", "64m", "--pids-limit", "57", "--cpus", "0.5"],
    );
    assert_eq!(
        read(&fs.join("limits.txt")).trim(),
        "memory=67108864 pids=57 cpu=50000/100000"
    );
    // Other values really come from the flags (and a cached step is not reused).
    let fs = w.build_fs(
        READ_LIMITS,
        &[
            "--no-cache",
            "--memory",
            "96m",
            "--pids-limit",
            "99",
            "--cpus",
            "1.5",
        ],
    );
    assert_eq!(
        read(&fs.join("limits.txt")).trim(),
        "memory=100663296 pids=99 cpu=150000/100000"
    );
}

#[test]
fn run_over_the_memory_limit_fails_with_oom() {
    if !build_support::ready("run_over_the_memory_limit_fails_with_oom") {
        return;
    }
    let w = World::new();
    let dockerfile = "FROM localhost/busybox\n\
        RUN x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo \"held ${#x} bytes\"\n";
    let err = w.build_fails(dockerfile, &["--no-cache", "--memory", "64m"]);
    assert!(
        err.contains("killed: out of memory (limit 64 MiB)"),
        "no OOM message:\n{err}"
    );
    assert!(err.contains("Dockerfile:2"), "{err}");
    let ok = w.build(dockerfile, &["--no-cache"]);
    assert!(ok.contains("held 200000000 bytes"), "{ok}");
}
