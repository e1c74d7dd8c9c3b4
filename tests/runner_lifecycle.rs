//! The runner end to end through the `rbuild` binary and the real sandbox:
//! the seed's mysql-basic scenario (run -d with env and ports, ps, exec,
//! top, inspect -f, stop, ps -a, rm, rmi refused then accepted), a busybox
//! httpd image answering a real HTTP request through -p, and foreground
//! runs (exit codes, logs, --rm).

mod runner_support;

use runner_support::{can_run, free_port, http_get, Env};

const ENTRY: &str = "#!/bin/sh\n\
echo \"starting for $MYSQL_USER on $MYSQL_DATABASE\"\n\
echo \"user=$MYSQL_USER db=$MYSQL_DATABASE\" > /www/index.html\n\
exec httpd -f -p 3306 -h /www\n";

#[test]
fn seed_scenario_mysql_basic() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image(
        "mysql-test:1",
        &[("/entry.sh", ENTRY, 0o755)],
        &["ENTRYPOINT [\"/entry.sh\"]", "EXPOSE 3306"],
    );
    let port = free_port();
    let publish = format!("{port}:3306");
    let id = env
        .ok(&[
            "run",
            "--name",
            "mysql-basic",
            "-h",
            "dbhost",
            "-e",
            "MYSQL_USER=user1",
            "-e",
            "MYSQL_PASSWORD=mypa55",
            "-e",
            "MYSQL_DATABASE=items",
            "-e",
            "MYSQL_ROOT_PASSWORD=r00tpa55",
            "-p",
            &publish,
            "-d",
            "mysql-test:1",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");

    // ps: Up, with the port and the name.
    let ps = env.ok(&["ps"]);
    let row = ps
        .lines()
        .find(|l| l.contains("mysql-basic"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.starts_with(&id[..12]), "{ps}");
    assert!(row.contains("Up "), "{ps}");
    assert!(row.contains(&format!("0.0.0.0:{port}->3306/tcp")), "{ps}");

    // The entrypoint saw the env and serves it on the published port.
    let body = http_get(port, "/");
    assert!(body.contains("user=user1 db=items"), "{body}");

    // exec sees the container's env (stdin streamed with -i).
    let mut child = env
        .cmd()
        .args(["exec", "-i", "mysql-basic", "sh"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("exec");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"echo \"$MYSQL_PASSWORD $MYSQL_ROOT_PASSWORD $(hostname)\"\nexit\n")
            .expect("write");
    }
    let out = child.wait_with_output().expect("exec output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mypa55 r00tpa55 dbhost"), "{text}");
    let plain = env.ok(&["exec", "mysql-basic", "sh", "-c", "echo $MYSQL_USER"]);
    assert_eq!(plain.trim(), "user1");

    // top: host PIDs, including the container's init and httpd.
    let pid: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", "mysql-basic"])
        .trim()
        .parse()
        .expect("pid");
    assert!(pid > 1);
    let top = env.ok(&["top", "mysql-basic"]);
    assert!(
        top.lines().next().is_some_and(|h| h.contains("PID")),
        "{top}"
    );
    assert!(top.contains("httpd"), "{top}");
    let host_pids: Vec<i32> = top
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
        .collect();
    assert!(host_pids.contains(&pid), "{top}");
    assert!(
        host_pids.iter().all(|p| runner_support::is_running(*p)),
        "{top}"
    );

    assert_eq!(
        env.ok(&["inspect", "-f", "{{ .Config.Hostname }}", "mysql-basic"])
            .trim(),
        "dbhost"
    );
    let logs = env.ok(&["logs", "mysql-basic"]);
    assert!(logs.contains("starting for user1 on items"), "{logs}");

    assert_eq!(env.ok(&["stop", "mysql-basic"]).trim(), "mysql-basic");
    let ps = env.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited ("), "{ps}");
    assert!(!env.ok(&["ps"]).contains("mysql-basic"));

    let (code, _, err) = env.run(&["rmi", "mysql-test:1"]);
    assert_ne!(code, 0);
    assert!(err.contains("conflict") && err.contains(&id[..12]), "{err}");
    env.ok(&["rm", "mysql-basic"]);
    assert!(env.ok(&["ps", "-aq"]).trim().is_empty());
    env.ok(&["rmi", "mysql-test:1"]);
}

#[test]
fn web_image_serves_http_on_published_port() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image(
        "web:custom",
        &[("/www/index.html", "<h1>hello from rbuild</h1>\n", 0o644)],
        &[
            "CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]",
            "EXPOSE 80",
        ],
    );
    let port = free_port();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "web:custom",
    ]);
    let body = http_get(port, "/index.html");
    assert!(
        body.starts_with("HTTP/1.") && body.contains("hello from rbuild"),
        "{body}"
    );
    assert_eq!(
        env.ok(&["port", "web", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    env.ok(&["rm", "-f", "web"]);
}

#[test]
fn foreground_runs_exit_codes_logs_and_rm() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image(
        "bb:1",
        &[],
        &["CMD [\"sh\"]", "ENV GREETING=hi", "WORKDIR /tmp"],
    );
    let (code, out, _) = env.run(&[
        "run",
        "--name",
        "fg",
        "bb:1",
        "sh",
        "-c",
        "echo $GREETING $(pwd); echo oops >&2; exit 3",
    ]);
    assert_eq!(code, 3);
    assert_eq!(out, "hi /tmp\n");
    let (_, logs_out, logs_err) = env.run(&["logs", "fg"]);
    assert_eq!(logs_out, "hi /tmp\n");
    assert_eq!(logs_err, "oops\n");
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("fg Exited (3)"), "{ps}");
    assert_eq!(env.ok(&["wait", "fg"]).trim(), "3");
    let (code, out, _) = env.run(&[
        "run",
        "--rm",
        "-e",
        "GREETING=bye",
        "-w",
        "/",
        "bb:1",
        "sh",
        "-c",
        "echo $GREETING $(pwd)",
    ]);
    assert_eq!((code, out.as_str()), (0, "bye /\n"));
    assert_eq!(
        env.ok(&["ps", "-aq"]).lines().count(),
        1,
        "--rm leaves only fg"
    );
    let (code, out, _) = env.run(&["run", "--rm", "-u", "app", "bb:1", "id", "-u"]);
    assert_eq!((code, out.trim()), (0, "1000"));
}

#[test]
fn named_volume_is_seeded_and_persists() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image(
        "vol:1",
        &[("/data/seed.txt", "seeded\n", 0o644)],
        &["CMD [\"sh\"]"],
    );
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "store1:/data",
        "vol:1",
        "sh",
        "-c",
        "echo more >> /data/seed.txt",
    ]);
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "store1:/data",
        "vol:1",
        "cat",
        "/data/seed.txt",
    ]);
    assert_eq!(out, "seeded\nmore\n");
    assert!(env.ok(&["volume", "ls", "-q"]).contains("store1"));
    env.ok(&["volume", "rm", "store1"]);
}

#[test]
fn stdin_streams_with_i_and_logs_follow_until_exit() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let mut child = env
        .cmd()
        .args([
            "run",
            "-i",
            "--rm",
            "bb:1",
            "sh",
            "-c",
            "while read l; do echo got-$l; done",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run -i");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"one\ntwo\n").expect("write");
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got-one\ngot-two\n");

    env.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "bb:1",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick-$i; sleep 0.2; done",
    ]);
    let followed = env.ok(&["logs", "-f", "-t", "ticker"]);
    let lines: Vec<&str> = followed.lines().collect();
    assert_eq!(lines.len(), 3, "{followed}");
    assert!(lines.iter().all(|l| l.contains("Z tick-")), "{followed}");
    assert_eq!(env.ok(&["logs", "--tail", "1", "ticker"]), "tick-3\n");
}

#[test]
fn image_stopsignal_is_what_stop_sends() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("sig:1", &[], &["STOPSIGNAL SIGUSR1", "CMD [\"sh\"]"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        "sig:1",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 42' USR1; while :; do sleep 0.1; done",
    ]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Config.StopSignal}}", "sig"])
            .trim(),
        "SIGUSR1"
    );
    env.ok(&["stop", "sig"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "sig"])
            .trim(),
        "42"
    );
    assert!(env.ok(&["logs", "sig"]).contains("got-usr1"));
}

#[test]
fn foreground_run_forwards_sigint_to_the_container() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image("bb:1", &[], &["CMD [\"sh\"]"]);
    let mut child = env
        .cmd()
        .args(["run", "--name", "fg", "bb:1", "sleep", "100"])
        .spawn()
        .expect("run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !env.ok(&["ps", "--format", "{{.Names}}"]).contains("fg") {
        assert!(std::time::Instant::now() < deadline, "container never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(130),
        "sleep killed by the forwarded SIGINT"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "fg"])
            .trim(),
        "130"
    );
}

#[test]
fn image_entrypoint_user_and_volume_defaults() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.image(
        "defaults:1",
        &[("/data/seed.txt", "seed\n", 0o644)],
        &[
            "ENTRYPOINT [\"sh\", \"-c\"]",
            "CMD [\"echo $(id -u) $(cat /data/seed.txt)\"]",
            "USER app",
            "VOLUME /data",
        ],
    );
    let out = env.ok(&["run", "--name", "d1", "defaults:1"]);
    assert_eq!(out, "1000 seed\n");
    // Arguments replace CMD, not ENTRYPOINT; -u replaces USER.
    let out = env.ok(&["run", "--rm", "-u", "0", "defaults:1", "echo $(id -u) args"]);
    assert_eq!(out, "0 args\n");
    // --entrypoint replaces ENTRYPOINT and drops CMD.
    let out = env.ok(&["run", "--rm", "--entrypoint", "id", "defaults:1", "-u"]);
    assert_eq!(out, "1000\n");
    // VOLUME: an anonymous volume seeded from the image, removed by rm -v.
    let vols = env.ok(&["volume", "ls", "-q"]);
    let mount = env.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Name}} {{.Destination}}{{end}}",
        "d1",
    ]);
    let name = mount
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(mount.trim(), format!("{name} /data"));
    assert!(vols.contains(&name), "{vols}");
    env.ok(&["rm", "-v", "d1"]);
    assert!(!env.ok(&["volume", "ls", "-q"]).contains(&name));
}
