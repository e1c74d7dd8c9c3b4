//! Private and none networking against real network namespaces: the test
//! makes the namespace itself (a child that unshares CLONE_NEWNET), attaches
//! slirp4netns, checks tap0/route from inside and reaches a listener in the
//! namespace through a port forward on 127.0.0.1. No traffic leaves the host.

mod common_cg;

use common_cg::{busybox, require_root, require_tool};
use rbuild::sandbox::network::{
    loopback_up, NetworkAttachment, NetworkHelper, NetworkMode, Protocol,
};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `busybox sh -c script` in a new network namespace with lo up.
fn spawn_in_new_netns(busybox: &Path, script: &str) -> Child {
    let mut command = Command::new(busybox);
    command
        .args(["sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: unshare and loopback_up only make syscalls on stack data.
    unsafe {
        command.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            loopback_up().map_err(|_| std::io::Error::other("lo up"))
        });
    }
    command.spawn().expect("spawn in new netns")
}

/// Runs a busybox applet inside the network namespace of `pid`.
fn run_in_netns(busybox: &Path, pid: u32, args: &[&str]) -> String {
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("open netns");
    use std::os::fd::AsRawFd;
    let fd = netns.as_raw_fd();
    let mut command = Command::new(busybox);
    command.args(args);
    // SAFETY: setns is a single syscall on an fd that outlives the spawn.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("run in netns");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Pids of slirp4netns processes serving `pid`.
fn slirp_helpers_for(pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_slirp = args.first().is_some_and(|a| a.ends_with(b"slirp4netns"));
        if is_slirp && args.iter().any(|a| *a == pid.to_string().as_bytes()) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn private_network_has_tap_route_and_port_forward() {
    let (true, Some(busybox), Some(_)) = (require_root(), busybox(), require_tool("slirp4netns"))
    else {
        return;
    };
    let mut child = spawn_in_new_netns(&busybox, "echo hi-from-ns | nc -l -p 80; sleep 30");
    let pid = child.id();
    let (mut attachment, warning) =
        NetworkAttachment::attach(NetworkMode::Private, pid as i32).expect("attach slirp4netns");
    assert_eq!(warning, None);
    assert_eq!(attachment.helper_name(), Some("slirp4netns"));
    assert_eq!(attachment.resolv_conf(), "nameserver 10.0.2.3\n");

    let addr = run_in_netns(&busybox, pid, &["ip", "-4", "addr", "show", "tap0"]);
    assert!(addr.contains("inet 10.0.2.100/24"), "tap0: {addr}");
    assert!(addr.contains("mtu 65520"), "tap0: {addr}");
    let routes = run_in_netns(&busybox, pid, &["ip", "route"]);
    assert!(
        routes.contains("default via 10.0.2.2 dev tap0"),
        "routes: {routes}"
    );

    let port = free_port();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    attachment
        .add_port_forward(Protocol::Tcp, localhost, port, 80)
        .expect("add_hostfwd");
    let reply = read_with_retry(port);
    assert_eq!(reply.trim(), "hi-from-ns");
    // The same host port cannot be forwarded twice: a clear error.
    let err = attachment
        .add_port_forward(Protocol::Tcp, localhost, port, 81)
        .expect_err("duplicate forward");
    assert!(err.to_string().contains(&port.to_string()), "{err}");

    assert_eq!(slirp_helpers_for(pid).len(), 1);
    attachment.detach();
    assert_eq!(
        slirp_helpers_for(pid),
        Vec::<String>::new(),
        "slirp4netns leaked"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The listener needs a moment after slirp accepted the forward.
fn read_with_retry(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply)?;
            Ok(reply)
        });
        match attempt {
            Ok(reply) if !reply.is_empty() => return reply,
            _ if Instant::now() > deadline => {
                panic!("no reply through the port forward: {attempt:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn none_mode_has_only_loopback_up() {
    let (true, Some(busybox)) = (require_root(), busybox()) else {
        return;
    };
    let mut child = spawn_in_new_netns(&busybox, "sleep 30");
    let (attachment, warning) =
        NetworkAttachment::attach(NetworkMode::None, child.id() as i32).expect("attach none");
    assert_eq!(warning, None);
    assert_eq!(attachment.helper_name(), None);
    let links = run_in_netns(&busybox, child.id(), &["ip", "-o", "link"]);
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(names, vec!["lo"], "{links}");
    assert!(links.contains("UP"), "lo is down: {links}");
    attachment.detach();
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn attach_to_missing_process_is_a_clear_error() {
    let (true, Some(_)) = (require_root(), require_tool("slirp4netns")) else {
        return;
    };
    // Pids above pid_max are never in use.
    let err = NetworkAttachment::attach(NetworkMode::Private, 99_999_999).expect_err("no such pid");
    let text = err.to_string();
    assert!(
        text.contains("slirp4netns") && text.contains("99999999"),
        "{text}"
    );
    assert!(slirp_helpers_for(99_999_999).is_empty());
}

/// pasta (the fallback helper) on a namespace with its own user namespace,
/// which is what the packaged pasta can join when run as root.
#[test]
fn pasta_serves_a_userns_namespace_with_port_forward() {
    let (true, Some(busybox), Some(_), Some(unshare)) = (
        require_root(),
        busybox(),
        require_tool("pasta"),
        require_tool("unshare"),
    ) else {
        return;
    };
    let mut child = Command::new(unshare)
        .args(["--user", "--map-root-user", "--net"])
        .arg(&busybox)
        .args(["sh", "-c", "echo hi-from-pasta | nc -l -p 80; sleep 30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("unshare");
    let pid = child.id();
    // unshare execs busybox once the namespaces exist.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| !exe.ends_with("busybox"))
    {
        assert!(Instant::now() < deadline, "unshare did not exec");
        std::thread::sleep(Duration::from_millis(5));
    }
    let port = free_port();
    let forward = rbuild::sandbox::network::PortForward {
        proto: Protocol::Tcp,
        host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        host_port: port,
        container_port: 80,
    };
    let mut attachment =
        NetworkAttachment::attach_using(NetworkHelper::Pasta, pid as i32, &[forward])
            .expect("attach pasta");
    assert_eq!(attachment.helper_name(), Some("pasta"));
    let routes = run_in_netns(&busybox, pid, &["ip", "route"]);
    assert!(routes.contains("default via"), "routes: {routes}");
    assert_eq!(read_with_retry(port).trim(), "hi-from-pasta");
    let err = attachment
        .add_port_forward(Protocol::Tcp, IpAddr::V4(Ipv4Addr::LOCALHOST), port + 1, 81)
        .expect_err("pasta takes forwards only at start");
    assert!(err.to_string().contains("attach_with"), "{err}");
    let daemons_before = pasta_daemons();
    assert!(!daemons_before.is_empty());
    attachment.detach();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pasta_daemons().iter().any(|p| daemons_before.contains(p)) {
        assert!(Instant::now() < deadline, "pasta leaked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn pasta_daemons() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        // Only other processes ("self" and this test's thread names match too).
        let pid = entry.file_name().to_string_lossy().parse::<u32>().ok();
        if pid.map_or(true, |pid| pid == std::process::id()) {
            continue;
        }
        // The packaged binary re-execs itself as passt.avx2 where it can.
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        if (comm.starts_with("pasta") || comm.starts_with("passt")) && !zombie {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}
