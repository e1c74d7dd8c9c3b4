//! Less central runner verbs and flags end to end: `cp` both ways (running
//! and stopped), `--restart on-failure:N`, `stats --no-stream`, `-P` with
//! an image's EXPOSE, `--read-only`, `ps --filter/--format`, `container
//! prune`, `volume` create/inspect/prune, the volatile overlay of `--rm`.

mod runner_support;

use runner_support::{can_run, Env};
use std::time::{Duration, Instant};

#[test]
fn cp_in_and_out_of_running_and_stopped_containers() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image(
        "bb:1",
        &[("/srv/from-image.txt", "image\n", 0o644)],
        &["CMD [\"sh\"]"],
    );
    env.ok(&["run", "-d", "--name", "c1", "bb:1", "sleep", "300"]);
    let host = env.dir.path().join("host.txt");
    std::fs::write(&host, "from host\n").expect("write");
    env.ok(&["cp", host.to_str().expect("utf8"), "c1:/tmp/"]);
    assert_eq!(
        env.ok(&["exec", "c1", "cat", "/tmp/host.txt"]),
        "from host\n"
    );
    env.ok(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "mkdir -p /out/d && echo made > /out/d/f",
    ]);
    let out = env.dir.path().join("out");
    env.ok(&["cp", "c1:/out", out.to_str().expect("utf8")]);
    assert_eq!(
        std::fs::read_to_string(out.join("d/f")).ok().as_deref(),
        Some("made\n")
    );
    env.ok(&["stop", "-t", "1", "c1"]);
    // Stopped: the upper dir and the image layers.
    let back = env.dir.path().join("back.txt");
    env.ok(&["cp", "c1:/tmp/host.txt", back.to_str().expect("utf8")]);
    assert_eq!(
        std::fs::read_to_string(&back).ok().as_deref(),
        Some("from host\n")
    );
    env.ok(&["cp", "c1:/srv/from-image.txt", back.to_str().expect("utf8")]);
    assert_eq!(
        std::fs::read_to_string(&back).ok().as_deref(),
        Some("image\n")
    );
    let (code, _, err) = env.run(&["cp", "c1:/nope", back.to_str().expect("utf8")]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Could not find the file /nope in container c1"),
        "{err}"
    );
}

#[test]
fn restart_on_failure_stops_after_n_retries() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "bb:1",
        "sh",
        "-c",
        "echo try; exit 4",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
            "flaky",
        ]);
        if s.trim() == "exited 2 4" {
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give a wrong extra restart the chance to show, then check the log.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.ok(&["logs", "flaky"]).matches("try").count(), 3);
}

#[test]
fn stats_publish_all_read_only_filters_and_prune() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]", "EXPOSE 8080"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "-P",
        "--memory",
        "64m",
        "--label",
        "tier=back",
        "bb:1",
        "httpd",
        "-f",
        "-p",
        "8080",
    ]);
    let port = env.ok(&["port", "svc", "8080"]);
    assert!(
        port.trim().starts_with("0.0.0.0:") && !port.trim().ends_with(":0"),
        "{port}"
    );
    let stats = env.ok(&["stats", "--no-stream", "svc"]);
    let row = stats.lines().nth(1).unwrap_or_default();
    assert!(row.contains("svc") && row.contains(" / 64MiB"), "{stats}");
    let (code, _, err) = env.run(&["run", "--rm", "--read-only", "bb:1", "touch", "/x"]);
    assert_ne!(code, 0, "{err}");
    env.ok(&["run", "--name", "done", "bb:1", "true"]);
    let f = env.ok(&[
        "ps",
        "--filter",
        "label=tier=back",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(f.trim(), "svc");
    let f = env.ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"]);
    assert_eq!(f.trim(), "done");
    let pruned = env.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers:"), "{pruned}");
    assert_eq!(
        env.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(),
        "svc"
    );
    env.ok(&["volume", "create", "--label", "k=v", "v1"]);
    assert_eq!(
        env.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Labels.k}} {{.Driver}}",
            "v1"
        ])
        .trim(),
        "v1 v local"
    );
    let pruned = env.ok(&["volume", "prune", "-a"]);
    assert!(pruned.contains("v1"), "{pruned}");
    env.ok(&["rm", "-f", "svc"]);
}

#[test]
fn network_none_and_host() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let ifaces = |text: &str| -> Vec<String> {
        let mut v: Vec<String> = text
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_string())
            .collect();
        v.sort();
        v
    };
    let none = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "cat",
        "/proc/net/dev",
    ]);
    assert_eq!(ifaces(&none), ["lo"]);
    let host = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "bb:1",
        "cat",
        "/proc/net/dev",
    ]);
    let mine = std::fs::read_to_string("/proc/net/dev").expect("own /proc/net/dev");
    assert_eq!(ifaces(&host), ifaces(&mine));
    let (code, _, err) = env.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "8080:80",
        "bb:1",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(
        err.contains("published ports need a private network"),
        "{err}"
    );
}

#[test]
fn healthcheck_goes_from_starting_to_healthy() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ready; sleep 300",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let s = env
            .ok(&[
                "inspect",
                "-f",
                "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
                "hc",
            ])
            .trim()
            .to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "healthy" {
            break;
        }
        assert!(Instant::now() < deadline, "never healthy: {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        seen.iter().any(|s| s == "unhealthy"),
        "the check failed before /tmp/ready: {seen:?}"
    );
    let ps = env.ok(&["ps", "--format", "{{.Status}}"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    let log = env.ok(&[
        "inspect",
        "-f",
        "{{range .State.Health.Log}}{{.ExitCode}} {{end}}",
        "hc",
    ]);
    assert!(log.trim().ends_with('0'), "{log}");
    env.ok(&["rm", "-f", "hc"]);
}

#[test]
fn exec_user_workdir_env_and_detached() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]", "ENV MODE=prod"]);
    env.ok(&["run", "-d", "--name", "ex", "bb:1", "sleep", "300"]);
    let out = env.ok(&[
        "exec",
        "-u",
        "app",
        "-w",
        "/tmp",
        "-e",
        "MODE=dev",
        "ex",
        "sh",
        "-c",
        "echo $(id -u) $(pwd) $MODE",
    ]);
    assert_eq!(out, "1000 /tmp dev\n");
    assert_eq!(env.ok(&["exec", "ex", "sh", "-c", "echo $MODE"]), "prod\n");
    env.ok(&["exec", "-d", "ex", "sh", "-c", "echo later > /tmp/detached"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.run(&["exec", "ex", "cat", "/tmp/detached"]).1 != "later\n" {
        assert!(Instant::now() < deadline, "exec -d never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _, err) = env.run(&["exec", "ex", "no-such-tool"]);
    assert_eq!(code, 127, "{err}");
    env.ok(&["rm", "-f", "ex"]);
}

#[test]
fn create_then_start_attached() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let id = env.ok(&[
        "create",
        "--name",
        "later",
        "bb:1",
        "sh",
        "-c",
        "echo hello-from-start; exit 6",
    ]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(
        env.ok(&["ps", "-a", "--format", "{{.Status}}"]).trim(),
        "Created"
    );
    let (code, out, _) = env.run(&["start", "-a", "later"]);
    assert_eq!((code, out.as_str()), (6, "hello-from-start\n"));
    env.ok(&["rm", "later"]);
}

/// A `--rm` container's overlay skips syncs (its upper dir is deleted right
/// after); a kept container's stays durable across restarts.
#[test]
fn rm_containers_only_get_a_volatile_overlay() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &[]);
    let root_mount = "cat /proc/self/mountinfo | while read -r line; do case \"$line\" in *' / / '*overlay*) echo \"$line\";; esac; done";
    let removed = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        root_mount,
    ]);
    assert!(removed.contains("fsync=volatile"), "{removed}");
    let kept = env.ok(&[
        "run",
        "--name",
        "kept",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        root_mount,
    ]);
    assert!(
        kept.contains("overlay") && !kept.contains("volatile"),
        "{kept}"
    );
    // The kept container's upper dir mounts again (a volatile one would not).
    env.ok(&["start", "-a", "kept"]);
    env.ok(&["rm", "kept"]);
}
