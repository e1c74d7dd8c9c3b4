//! Bad input and faults for the runner: docker's messages and exit codes
//! for unknown images/containers (125), missing or non-executable commands
//! (127/126), exec into a stopped container, rm of a running one, a taken
//! port, name conflicts, kill -9 of the monitor (no state lost, the network
//! stays up), a container ignoring SIGTERM (killed after the timeout), and
//! 50 containers leaving no process, mount or cgroup behind.

mod runner_support;

use runner_support::{can_run, external_address, has_tool, is_running, Env};
use std::time::Duration;

#[test]
fn unknown_image_and_container() {
    let env = Env::new();
    let (code, _, err) = env.run(&["run", "--pull", "never", "nope:1", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("No such image: nope:1"), "{err}");
    let (code, _, err) = env.run(&["run", "nope:1", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("Unable to find image 'nope:1' locally"),
        "{err}"
    );
    for verb in [
        &["stop", "ghost"][..],
        &["rm", "ghost"],
        &["logs", "ghost"],
        &["inspect", "--format", "{{.Id}}", "ghost"],
        &["exec", "ghost", "true"],
    ] {
        let (code, _, err) = env.run(verb);
        assert_ne!(code, 0, "{verb:?}");
        assert!(
            err.contains("No such container: ghost") || err.contains("No such object: ghost"),
            "{verb:?}: {err}"
        );
    }
    let (code, _, err) = env.run(&["run", "--bogus", "x"]);
    assert_eq!(code, 125, "{err}");
}

#[test]
fn command_missing_or_not_executable_and_name_conflict() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[("/notexec", "data\n", 0o644)], &["CMD [\"sh\"]"]);
    let (code, _, err) = env.run(&["run", "--rm", "bb:1", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("executable file not found"), "{err}");
    let (code, _, err) = env.run(&["run", "--rm", "bb:1", "/notexec"]);
    assert_eq!(code, 126, "{err}");
    env.ok(&["run", "--name", "one", "bb:1", "true"]);
    let (code, _, err) = env.run(&["run", "--name", "one", "bb:1", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("Conflict. The container name \"/one\" is already in use"),
        "{err}"
    );
    // exec into the stopped container.
    let (code, _, err) = env.run(&["exec", "one", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not running"), "{err}");
    env.ok(&["rename", "one", "two"]);
    assert_eq!(
        env.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(),
        "two"
    );
}

#[test]
fn rm_running_needs_force_and_port_in_use_is_refused() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    env.ok(&["run", "-d", "--name", "sleeper", "bb:1", "sleep", "300"]);
    let (code, _, err) = env.run(&["rm", "sleeper"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("container is running: stop the container before removing or force remove"),
        "{err}"
    );
    env.ok(&["rm", "-f", "sleeper"]);
    assert!(env.ok(&["ps", "-aq"]).trim().is_empty());

    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (code, _, err) = env.run(&[
        "run",
        "-d",
        "-p",
        &format!("{port}:80"),
        "bb:1",
        "sleep",
        "5",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("port is already allocated"), "{err}");
}

#[test]
fn monitor_kill_loses_no_state_and_stop_kills_after_timeout() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let id = env
        .ok(&[
            "run",
            "-d",
            "bb:1",
            "sh",
            "-c",
            "trap '' TERM; while :; do sleep 1; done",
        ])
        .trim()
        .to_string();
    let state = env.state(&id);
    let monitor = state["monitor_pid"].as_i64().expect("monitor pid") as i32;
    let pid = state["pid"].as_i64().expect("pid") as i32;
    assert!(monitor > 0 && is_running(monitor) && is_running(pid));
    // SAFETY: kill(2) on a pid this test started.
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        env.ok(&["ps"]).contains("Up "),
        "container still listed as running"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Pid}}", &id]).trim(),
        pid.to_string()
    );
    // SIGTERM is ignored: stop -t 1 must end it with SIGKILL.
    env.ok(&["stop", "-t", "1", &id]);
    assert!(!is_running(pid));
    let ps = env.ok(&["ps", "-a", "--format", "{{.State}}"]);
    assert_eq!(ps.trim(), "exited");
    env.ok(&["rm", &id]);
}

/// The private network is up when the main process starts (its first
/// command connects out), and its helper lives as long as the container,
/// not its monitor: after kill -9 of the monitor the container still
/// reaches the host.
#[test]
fn network_is_up_at_start_and_outlives_a_killed_monitor() {
    if !can_run() || !has_tool("slirp4netns") {
        return;
    }
    let Some(host_ip) = external_address() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no external address to connect to"
        );
        return;
    };
    let listener = std::net::TcpListener::bind((host_ip, 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            if let Ok((mut stream, _)) = listener.accept() {
                let _ = std::io::Write::write_all(&mut stream, b"hello from the host\n");
            }
        }
    });
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let connect = format!("nc {host_ip} {port} </dev/null");
    let out = env.ok(&[
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        &format!("ip -o -4 addr show tap0 | grep -c 10.0.2.100/24; {connect}"),
    ]);
    assert_eq!(out, "1\nhello from the host\n");
    let id = env
        .ok(&["run", "-d", "bb:1", "sleep", "100"])
        .trim()
        .to_string();
    let monitor = env.state(&id)["monitor_pid"].as_i64().expect("monitor pid") as i32;
    // SAFETY: kill(2) on a pid this test started.
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while is_running(monitor) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!is_running(monitor));
    let out = env.ok(&["exec", &id, "sh", "-c", &connect]);
    assert_eq!(out, "hello from the host\n");
    env.ok(&["rm", "-f", &id]);
    server.join().expect("server");
}

#[test]
fn fifty_containers_leave_nothing_behind() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let store = env.root().display().to_string();
    let mut cgroups: Vec<std::path::PathBuf> = Vec::new();
    let mut netns: Vec<std::path::PathBuf> = Vec::new();
    // Processes of this test carry this in their environment (other tests
    // on the machine may run `sleep` too).
    let mark = format!("RBUILD_TEST_MARK={}", env.dir.path().display());
    for i in 0..50 {
        if i % 2 == 0 {
            let (code, _, err) = env.run(&["run", "--rm", "bb:1", "true"]);
            assert_eq!(code, 0, "{err}");
        } else {
            let id = env
                .ok(&["run", "-d", "-e", &mark, "bb:1", "sleep", "60"])
                .trim()
                .to_string();
            let pid = env.state(&id)["pid"].as_i64().expect("pid");
            let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            for line in groups.lines() {
                let mut f = line.splitn(3, ':');
                let (_, ctrl, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
                if ctrl.split(',').any(|c| c == "memory" || c == "pids") && path.len() > 1 {
                    let base = ctrl
                        .split(',')
                        .find(|c| *c == "memory" || *c == "pids")
                        .unwrap_or(ctrl);
                    cgroups.push(
                        std::path::Path::new("/sys/fs/cgroup")
                            .join(base)
                            .join(path.trim_start_matches('/')),
                    );
                }
            }
            if let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/net")) {
                netns.push(ns);
            }
            env.ok(&["rm", "-f", &id]);
        }
    }
    assert!(env.ok(&["ps", "-aq"]).trim().is_empty());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(&store), "leftover mounts:\n{mounts}");
    // No process still runs from the store's layers or upper dirs.
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline);
        assert!(
            !text.contains("container-monitor") || !text.contains(&store),
            "leftover monitor: {text}"
        );
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&environ).contains(&mark),
            "leftover container process: {text}"
        );
    }
    for g in &cgroups {
        assert!(!g.exists(), "leftover cgroup {}", g.display());
    }
    let host_ns = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        if let Ok(ns) = std::fs::read_link(entry.path().join("ns/net")) {
            assert!(
                ns == host_ns || !netns.contains(&ns),
                "leftover network namespace {ns:?} held by {:?} ({})",
                entry.path(),
                String::from_utf8_lossy(
                    &std::fs::read(entry.path().join("cmdline")).unwrap_or_default()
                )
            );
        }
    }
    let containers = std::fs::read_dir(env.root().join("containers"))
        .expect("dir")
        .count();
    assert_eq!(containers, 0);
}

#[test]
fn concurrent_runs_with_one_name_get_one_conflict() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.cmd()
                .args(["run", "-d", "--name", "only-one", "bb:1", "sleep", "30"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let ok = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "exactly one run wins the name");
    for o in outputs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(125));
        assert!(String::from_utf8_lossy(&o.stderr).contains("is already in use"));
    }
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 1);
    env.ok(&["rm", "-f", "only-one"]);
}
