//! The sandbox's isolation on the real kernel, with a busybox-static
//! rootfs: PID namespace and init, hostname and /etc files, host files and
//! processes invisible, docker's masked and read-only paths, /dev, network
//! none, and hostile symlinks in the image.

mod common_cg;
mod sandbox_support;

use rbuild::sandbox::{Mount, MountKind, RootFs};
use sandbox_support::{output_of, ready, rootfs, run, shell};

#[test]
fn init_is_pid_1_and_only_sandbox_processes_are_visible() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    // `; true` keeps sh from exec'ing ps in its own place.
    let out = output_of(&shell(&root, "echo pid=$$; ps -o pid,comm; true"));
    assert!(out.contains("pid=2\n"), "{out}");
    let pids: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // init, sh, ps: nothing from the host.
    assert_eq!(pids, ["1", "2", "3"], "{out}");
    assert!(out.contains("    1 rbuild-init\n"), "{out}");
}

#[test]
fn hostname_and_etc_files() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(
        &root,
        "hostname; cat /etc/hostname; grep -c sbx-test /etc/hosts; grep db.local /etc/hosts; wc -c < /etc/resolv.conf",
    );
    spec.hostname = "sbx-test".into();
    spec.hosts = vec![("db.local".into(), "10.9.8.7".parse().expect("ip"))];
    let out = output_of(&spec);
    assert_eq!(out, "sbx-test\nsbx-test\n1\n10.9.8.7\tdb.local\n0\n");
    // The image's own files are untouched (they were only mounted over).
    let _ = &root;
}

#[test]
fn host_files_and_processes_are_invisible() {
    if !ready() {
        return;
    }
    let (dir, root) = rootfs();
    let marker = dir.path().join("host-marker");
    std::fs::write(&marker, "secret").expect("marker");
    let script = format!(
        "test -e {} && echo VISIBLE; ls /; ls /proc | grep -c '^[0-9]'; readlink /proc/self/root; ls /proc/self/root/bin/busybox; ls /proc/1/root/ 2>&1; true",
        marker.display()
    );
    let out = output_of(&shell(&root, &script));
    assert!(!out.contains("VISIBLE"), "{out}");
    let listing: Vec<&str> = out
        .lines()
        .take_while(|l| !l.chars().all(|c| c.is_ascii_digit()))
        .collect();
    for entry in &listing {
        assert!(
            ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp"].contains(entry),
            "unexpected / entry {entry:?} in {out}"
        );
    }
    assert!(out.contains("\n/\n/proc/self/root/bin/busybox\n"), "{out}");
    // The init keeps privileges the sandbox's root lacks: not even its
    // (sandboxed) root directory can be listed.
    assert!(out.ends_with("Permission denied\n"), "{out}");
    // Only init, sh, ls and grep have /proc entries.
    assert!(out.contains("\n4\n") || out.contains("\n3\n"), "{out}");
}

#[test]
fn dockers_masked_and_readonly_paths() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    // Only what this kernel has can be checked; the host shows the content.
    let masked_files: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/interrupts",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| std::fs::read(p).is_ok_and(|c| !c.is_empty()))
    .collect();
    let masked_dirs: Vec<&str> = ["/proc/acpi", "/proc/scsi", "/sys/firmware"]
        .into_iter()
        .filter(|p| std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_some()))
        .collect();
    assert!(
        !masked_files.is_empty() && !masked_dirs.is_empty(),
        "nothing to check: {masked_files:?} {masked_dirs:?}"
    );
    let mut script = String::new();
    for file in &masked_files {
        script.push_str(&format!("echo {file} $(cat {file} 2>/dev/null | wc -c); "));
    }
    for dir in &masked_dirs {
        script.push_str(&format!("echo {dir} $(ls -A {dir} | wc -l); "));
    }
    script.push_str(
        "echo h > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE-SYS; \
         touch /sys/x 2>/dev/null && echo WROTE-SYSFS; \
         grep -E ' /proc/(sys|irq|bus|fs) ' /proc/self/mountinfo | grep -c ' ro,'; \
         awk '$5 == \"/sys\"' /proc/self/mountinfo | grep -c ' ro,'",
    );
    let ran = run(&shell(&root, &script));
    let text = format!("{}{}", ran.stdout, ran.stderr);
    for path in masked_files.iter().chain(&masked_dirs) {
        assert!(
            ran.stdout.contains(&format!("{path} 0\n")),
            "{path} not masked: {text}"
        );
    }
    assert!(!ran.stdout.contains("WROTE"), "{text}");
    let counts: Vec<u32> = ran
        .stdout
        .lines()
        .rev()
        .take(2)
        .map(|l| l.parse().unwrap_or(0))
        .collect();
    // /sys read-only; /proc/sys, /proc/irq, /proc/bus (and /proc/fs where
    // it exists) bound read-only.
    assert_eq!(counts[0], 1, "{text}");
    assert!(counts[1] >= 3, "{text}");
}

#[test]
fn dev_has_dockers_devices_and_a_private_devpts() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let script = "ls /dev | tr '\\n' ' '; echo; \
        head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok; \
        ls /dev/pts | tr '\\n' ' '; echo; \
        grep -E ' /dev/(pts|shm|mqueue) ' /proc/self/mountinfo | awk '{print $5, $9}'";
    let out = output_of(&shell(&root, script));
    for name in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "mqueue", "fd",
        "stdin", "stdout", "stderr",
    ] {
        assert!(
            out.lines()
                .next()
                .unwrap_or("")
                .split(' ')
                .any(|n| n == name),
            "/dev/{name} missing: {out}"
        );
    }
    assert!(out.contains("\n4\nnull-ok\nptmx \n"), "{out}");
    assert!(out.contains("/dev/pts devpts"), "{out}");
    assert!(out.contains("/dev/shm tmpfs"), "{out}");
    assert!(out.contains("/dev/mqueue mqueue"), "{out}");
}

#[test]
fn network_none_has_only_loopback_up() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let out = output_of(&shell(&root, "ls /sys/class/net; ip -o link | grep -c UP"));
    assert_eq!(out, "lo\n1\n");
}

#[test]
fn hostile_symlinks_reach_only_the_sandbox_files() {
    if !ready() {
        return;
    }
    let (dir, root) = rootfs();
    // Image links pointing at host files, and mount targets through links.
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd-link")).expect("link");
    std::os::unix::fs::symlink("/proc/self/root", root.join("init-root")).expect("link");
    std::os::unix::fs::symlink("../../../../../../../tmp", root.join("escape")).expect("link");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    std::os::unix::fs::symlink(&outside, root.join("abs-escape")).expect("link");
    let source = tempfile::tempdir().expect("src");
    std::fs::write(source.path().join("f"), "from-bind").expect("write");
    let mut spec = shell(
        &root,
        "cat /passwd-link; ls /init-root/ | tr '\\n' ' '; echo; cat /abs-escape/m/f",
    );
    spec.mounts = vec![Mount {
        target: "/abs-escape/m".into(),
        kind: MountKind::Bind {
            source: source.path().to_path_buf(),
            readonly: true,
        },
    }];
    let ran = run(&spec);
    assert!(ran.status().success(), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .starts_with("root:x:0:0:root:/root:/bin/sh\napp:x:1000"),
        "{}",
        ran.stdout
    );
    // Through PID 1's root: closed to the sandbox's root user (the init
    // keeps privileges it lacks), and never the host's file.
    let mut through_init = shell(&root, "cat /pid1-passwd");
    through_init.mounts.clear();
    let ran_init = run(&through_init);
    assert!(
        ran_init.stdout.is_empty() && !ran_init.status().success(),
        "{}{}",
        ran_init.stdout,
        ran_init.stderr
    );
    assert!(
        ran.stdout.contains(" bin dev escape etc home init-root "),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.ends_with("from-bind"), "{}", ran.stdout);
    // The mount point was created inside the root, not in the host dir.
    assert!(!outside.join("m").exists());
    assert!(root
        .join(outside.strip_prefix("/").expect("abs"))
        .join("m")
        .is_dir());
    assert!(
        ran.outcome
            .created_mountpoints
            .iter()
            .any(|p| p.ends_with("/m")),
        "{:?}",
        ran.outcome.created_mountpoints
    );
}

#[test]
fn overlay_root_writes_go_to_the_upper_dir_only() {
    if !ready() {
        return;
    }
    let (dir, lower) = rootfs();
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    std::fs::create_dir(&upper).expect("upper");
    std::fs::create_dir(&work).expect("work");
    let mut spec = shell(
        &lower,
        "echo new > /tmp/created; rm /bin/true; mkdir -p /a/b",
    );
    spec.root = RootFs::Overlay {
        lower: vec![lower.clone()],
        upper: upper.clone(),
        work,
    };
    let ran = run(&spec);
    assert!(ran.status().success(), "{}", ran.stderr);
    assert_eq!(
        std::fs::read_to_string(upper.join("tmp/created")).expect("upper"),
        "new\n"
    );
    assert!(lower.join("bin/true").exists(), "lower layer was modified");
    assert!(upper.join("a/b").is_dir());
    // /etc/hosts etc. are reported so the engine can drop them.
    let created = &ran.outcome.created_mountpoints;
    for path in [
        "/proc",
        "/dev",
        "/sys",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
    ] {
        assert!(
            created.contains(&path.to_string()),
            "{path} not in {created:?}"
        );
        assert!(upper.join(&path[1..]).exists(), "{path} not in upper");
    }
}

#[test]
fn dangling_etc_links_and_linked_kernel_dirs_stay_inside() {
    if !ready() {
        return;
    }
    let (dir, root) = rootfs();
    // systemd-resolved images: /etc/resolv.conf -> ../run/.../stub-resolv.conf
    std::os::unix::fs::symlink(
        "../run/systemd/resolve/stub-resolv.conf",
        root.join("etc/resolv.conf"),
    )
    .expect("link");
    // /proc pointing at a host path must be created inside the root.
    let host_dir = dir.path().join("host-proc");
    std::os::unix::fs::symlink(&host_dir, root.join("proc")).expect("link");
    let mut spec = shell(
        &root,
        "cat /etc/resolv.conf; ls /proc/self/ >/dev/null && echo proc-ok",
    );
    spec.network = rbuild::sandbox::network::NetworkMode::Host;
    let ran = run(&spec);
    assert!(ran.status().success(), "{}", ran.stderr);
    assert!(ran.stdout.ends_with("proc-ok\n"), "{}", ran.stdout);
    assert!(!host_dir.exists(), "created on the host");
    let inside = root.join(host_dir.strip_prefix("/").expect("absolute"));
    assert!(inside.is_dir(), "/proc target not created inside the root");
    assert!(root.join("run/systemd/resolve/stub-resolv.conf").is_file());
    let created = &ran.outcome.created_mountpoints;
    assert!(
        created.contains(&"/run/systemd/resolve/stub-resolv.conf".to_string()),
        "{created:?}"
    );
}

#[test]
fn stdio_null_and_inherit() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "echo to-null; echo err >&2; cat");
    spec.stdio = rbuild::sandbox::StdioMode::Null;
    let mut got = Vec::new();
    let outcome =
        rbuild::sandbox::run(&spec, &mut |_, bytes| got.extend_from_slice(bytes)).expect("run");
    assert!(outcome.status.success(), "{}", outcome.status);
    assert!(got.is_empty(), "output with Null stdio: {got:?}");
    // Inherit: the sandbox's fd 2 is the very file of ours.
    spec.stdio = rbuild::sandbox::StdioMode::Inherit;
    spec.args[2] = "stat -L -c %d:%i /proc/self/fd/2 > /tmp/fd2".into();
    let outcome = rbuild::sandbox::run(&spec, &mut |_, _| {}).expect("run");
    assert!(outcome.status.success(), "{}", outcome.status);
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/fd/2").expect("stat fd 2");
    let inside = std::fs::read_to_string(root.join("tmp/fd2")).expect("fd2");
    assert_eq!(inside.trim(), format!("{}:{}", ours.dev(), ours.ino()));
}
