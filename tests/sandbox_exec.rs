//! Detached sandboxes and `exec` on the real kernel: a started sandbox is
//! entered (namespaces and cgroup) by another process, exit statuses come
//! back, and pseudo-terminals work for the main process and exec'd ones.

mod common_cg;
mod sandbox_support;

use nix::sys::signal::Signal;
use rbuild::sandbox::cgroups::Limits;
use rbuild::sandbox::{self, ExecSpec, ExitStatus, OutputStream, StdioMode};
use sandbox_support::{ready, rootfs, shell};
use std::io::Read;

fn collect(handle: sandbox::ExecHandle) -> (ExitStatus, String) {
    let mut out = Vec::new();
    let status = handle
        .wait_with_output(&mut |stream, bytes| {
            if stream == OutputStream::Stdout {
                out.extend_from_slice(bytes)
            }
        })
        .expect("wait");
    (status, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn exec_enters_the_namespaces_and_cgroup_of_a_running_sandbox() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(&root, "echo main > /tmp/marker; sleep 1000");
    spec.hostname = "exec-target".into();
    spec.limits = Limits {
        pids: Some(32),
        ..Limits::default()
    };
    let handle = sandbox::start(&spec).expect("start");
    // The marker shows the main process got going.
    let mut probe = ExecSpec::new(vec![
        "/bin/sh".into(),
        "-c".into(),
        "cat /tmp/marker".into(),
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, out) = collect(sandbox::exec_start(handle.pid, &probe).expect("exec"));
        if out == "main\n" || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    probe.args = vec![
        "/bin/sh".into(),
        "-c".into(),
        "hostname; echo pid=$$; ps -o pid,comm | grep -c sleep; cat /proc/self/cgroup | grep -c pids:/$; exit 7".into(),
    ];
    let started = sandbox::exec_start(handle.pid, &probe).expect("exec");
    let exec_pid = started.pid;
    let host_view = std::fs::read_to_string(format!("/proc/{exec_pid}/cgroup")).unwrap_or_default();
    let init_view =
        std::fs::read_to_string(format!("/proc/{}/cgroup", handle.pid)).expect("init cgroup");
    let (status, out) = collect(started);
    assert_eq!(status, ExitStatus::Code(7), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "exec-target");
    let inner_pid: u32 = lines[1].trim_start_matches("pid=").parse().expect("pid");
    assert!(inner_pid > 2, "{out}");
    assert_eq!(lines[2], "1", "the main process is visible: {out}");
    assert_eq!(
        lines[3], "1",
        "the cgroup namespace is the sandbox's: {out}"
    );
    if !host_view.is_empty() {
        assert_eq!(
            host_view, init_view,
            "exec'd process not in the sandbox cgroup"
        );
    }
    handle.kill(Signal::SIGKILL).expect("kill");
    assert_eq!(handle.wait().expect("wait").status, ExitStatus::Signal(9));
}

#[test]
fn exec_as_another_user_with_dockers_privileges() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let handle = sandbox::start(&shell(&root, "sleep 1000")).expect("start");
    let mut spec = ExecSpec::new(vec![
        "/bin/sh".into(),
        "-c".into(),
        "id -u; grep CapEff /proc/self/status".into(),
    ]);
    spec.user.uid = 1000;
    spec.user.gid = 1000;
    let (status, out) = collect(sandbox::exec_start(handle.pid, &spec).expect("exec"));
    assert!(status.success(), "{out}");
    assert_eq!(out, "1000\nCapEff:\t0000000000000000\n");
    spec.user = Default::default();
    let (_, out) = collect(sandbox::exec_start(handle.pid, &spec).expect("exec"));
    assert_eq!(out, "0\nCapEff:\t00000000a80425fb\n");
}

#[test]
fn pty_for_the_main_process_and_for_exec() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(
        &root,
        "tty; test -t 0 && test -t 1 && echo both-ttys; sleep 1000",
    );
    spec.stdio = StdioMode::Pty;
    let mut handle = sandbox::start(&spec).expect("start");
    let master = handle.take_pty_master().expect("pty master");
    let mut master = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 256];
    while !text.contains("both-ttys") {
        let n = master.read(&mut buf).expect("read pty");
        assert!(n > 0, "pty closed early: {text:?}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(text.starts_with("/dev/pts/0\r\n"), "{text:?}");
    let mut exec = ExecSpec::new(vec!["/bin/sh".into(), "-c".into(), "tty".into()]);
    exec.stdio = StdioMode::Pty;
    let (status, out) = collect(sandbox::exec_start(handle.pid, &exec).expect("exec"));
    assert!(status.success());
    assert_eq!(out, "/dev/pts/1\r\n");
    handle.kill(Signal::SIGKILL).expect("kill");
    handle.wait().expect("wait");
}

#[test]
fn exec_into_a_missing_sandbox_is_a_clear_error() {
    let err = sandbox::exec_start(i32::MAX - 1, &ExecSpec::new(vec!["true".into()]))
        .expect_err("no such pid");
    assert!(
        err.to_string()
            .contains("cannot enter sandbox with init pid"),
        "{err}"
    );
}
