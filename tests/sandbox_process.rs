//! The sandboxed process on the real kernel: exit codes 0-255 and death by
//! signal, docker's 127/126 for missing or non-executable commands, zombie
//! reaping by our init, env, working directory, mounts, read-only root.

mod common_cg;
mod sandbox_support;

use rbuild::sandbox::{ExitStatus, Mount, MountKind};
use sandbox_support::{output_of, ready, rootfs, run, shell};

#[test]
fn exit_codes_0_to_255_and_signals() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    for code in 0..=255 {
        let ran = run(&shell(&root, &format!("exit {code}")));
        assert_eq!(ran.status(), ExitStatus::Code(code));
        assert_eq!(ran.status().code(), code);
    }
    for (signal, name) in [(9, "SIGKILL"), (15, "SIGTERM"), (2, "SIGINT")] {
        let ran = run(&shell(&root, &format!("kill -{signal} $$")));
        assert_eq!(ran.status(), ExitStatus::Signal(signal));
        assert_eq!(ran.status().code(), 128 + signal);
        assert!(ran.status().to_string().contains(name));
    }
}

#[test]
fn missing_and_non_executable_commands_exit_like_docker() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "");
    spec.args = vec!["no-such-command".into()];
    let ran = run(&spec);
    assert_eq!(ran.status(), ExitStatus::Code(127));
    assert!(
        ran.stderr
            .contains("\"no-such-command\": executable file not found in $PATH"),
        "{}",
        ran.stderr
    );
    spec.args = vec!["/etc/passwd".into()];
    let ran = run(&spec);
    assert_eq!(ran.status(), ExitStatus::Code(126), "{}", ran.stderr);
    spec.args = vec!["/nope/x".into()];
    assert_eq!(run(&spec).status(), ExitStatus::Code(127));
    // PATH comes from the spec's env.
    spec.args = vec!["busybox".into(), "true".into()];
    spec.env = vec!["PATH=/nowhere:/bin".into()];
    assert_eq!(run(&spec).status(), ExitStatus::Code(0));
}

#[test]
fn orphans_are_reaped_by_init() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    // The subshell's children are orphaned to PID 1 and exit at once.
    let out = output_of(&shell(
        &root,
        "(sleep 0 & sleep 0 & sleep 0 &); sleep 0.5; ps -o pid,ppid,stat,comm; true",
    ));
    assert!(!out.lines().any(|l| l.contains(" Z ")), "zombies: {out}");
    assert!(!out.contains("sleep"), "{out}");
}

#[test]
fn background_processes_die_with_the_main_process() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    // The background sleep keeps stdout open; run() returns only because
    // init kills it when sh exits.
    let start = std::time::Instant::now();
    let ran = run(&shell(&root, "sleep 1000 & echo started"));
    assert_eq!(ran.stdout, "started\n");
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn env_cwd_and_mounts() {
    if !ready() {
        return;
    }
    let (dir, root) = rootfs();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).expect("cache");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("ro");
    std::fs::write(ro.join("data"), "read-only").expect("data");
    let mut spec = shell(
        &root,
        "pwd; echo $GREETING; echo cached > /cache/f; cat /ro/data; touch /ro/x 2>/dev/null || echo ro-refused; \
         grep -c ' /scratch ' /proc/self/mountinfo; cat /run/secrets/token; stat -c '%a %u' /run/secrets/token",
    );
    spec.cwd = "/work/dir".into();
    spec.env.push("GREETING=hello world".into());
    spec.mounts = vec![
        Mount {
            target: "/cache".into(),
            kind: MountKind::Bind {
                source: cache.clone(),
                readonly: false,
            },
        },
        Mount {
            target: "/ro".into(),
            kind: MountKind::Bind {
                source: ro,
                readonly: true,
            },
        },
        Mount {
            target: "/scratch".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
            },
        },
        Mount {
            target: "/run/secrets/token".into(),
            kind: MountKind::File {
                contents: b"s3cret".to_vec(),
                mode: 0o400,
                uid: 0,
                gid: 0,
            },
        },
    ];
    let out = output_of(&spec);
    assert_eq!(
        out,
        "/work/dir\nhello world\nread-onlyro-refused\n1\ns3cret400 0\n"
    );
    assert_eq!(
        std::fs::read_to_string(cache.join("f")).expect("cache"),
        "cached\n"
    );
    // The working directory is created but not reported; mount points are.
    assert!(root.join("work/dir").is_dir());
    let ran = run(&spec);
    assert!(!ran
        .outcome
        .created_mountpoints
        .iter()
        .any(|p| p.starts_with("/work")));
    // The secret never touches the disk of the root.
    assert_eq!(
        std::fs::read(root.join("run/secrets/token")).expect("stub"),
        b""
    );
}

#[test]
fn readonly_root() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(
        &root,
        "touch /x 2>/dev/null || echo refused; echo ok > /tmp/../dev/shm/y && echo shm-ok",
    );
    spec.readonly_rootfs = true;
    assert_eq!(output_of(&spec), "refused\nshm-ok\n");
}

#[test]
fn setup_errors_name_the_step() {
    if !ready() {
        return;
    }
    let (dir, root) = rootfs();
    let mut spec = shell(&root, "true");
    spec.mounts = vec![Mount {
        target: "/etc/passwd/sub".into(),
        kind: MountKind::Bind {
            source: dir.path().to_path_buf(),
            readonly: false,
        },
    }];
    let err = rbuild::sandbox::run(&spec, &mut |_, _| {}).expect_err("bind under a file");
    assert!(
        err.to_string().contains("mount on /etc/passwd/sub"),
        "{err}"
    );
}

#[test]
fn home_defaults_like_runc() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "echo $HOME");
    assert_eq!(output_of(&spec), "/root\n");
    spec.user.uid = 1000;
    assert_eq!(output_of(&spec), "/\n");
    spec.env.push("HOME=/home/app".into());
    assert_eq!(output_of(&spec), "/home/app\n");
}

#[test]
fn sandboxes_run_in_parallel_threads() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let root = root.clone();
                scope.spawn(move || {
                    for round in 0..10 {
                        let spec = shell(&root, &format!("echo {worker}-{round}; exit {round}"));
                        let ran = run(&spec);
                        assert_eq!(ran.stdout, format!("{worker}-{round}\n"));
                        assert_eq!(ran.status(), ExitStatus::Code(round));
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
    });
}
