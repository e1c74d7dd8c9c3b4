//! `-p HOST:CONT/udp`: a UDP datagram sent to the host port reaches a UDP
//! server in the container and its answer comes back. busybox has no UDP
//! server, so the container runs the host's python3 (the host's /usr bind-
//! mounted read-only, /lib and /lib64 from it) as a UDP echo server.
//!
//! The datagram goes to the host's own outbound address, not 127.0.0.1:
//! slirp4netns runs with --disable-host-loopback (containers must not reach
//! the host's loopback services), and a UDP answer to a sender on the host's
//! loopback is exactly such a packet, so it is dropped (README, Networking).

mod runner_support;

use runner_support::{can_run, free_port, require, Env};
use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

const ECHO: &str = "import socket\n\
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
s.bind(('0.0.0.0', 5353))\n\
while True: data, peer = s.recvfrom(512); s.sendto(b'echo:' + data, peer)\n";

#[test]
fn udp_port_forward_reaches_a_server_in_the_container() {
    if !can_run()
        || !require(
            Path::new("/usr/bin/python3").exists(),
            "/usr/bin/python3 (apt-get install python3) for the UDP echo server",
        )
    {
        return;
    }
    // The address the host sends from (connecting a UDP socket sends nothing).
    let host: Option<IpAddr> = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback());
    let Some(host) = host else {
        require(false, "a non-loopback host address (a default route)");
        return;
    };
    let env = Env::new();
    env.image("udp:1", &[], &["CMD [\"sh\"]"]);
    let port = free_port();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        &format!("{port}:5353/udp"),
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "udp:1",
        "/usr/bin/python3",
        "-c",
        ECHO,
    ]);
    let socket = UdpSocket::bind((host, 0)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answer = None;
    while Instant::now() < deadline && answer.is_none() {
        socket.send_to(b"ping", ("127.0.0.1", port)).expect("send");
        let mut buf = [0u8; 64];
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            answer = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let logs = env.run(&["logs", "udp"]);
    assert_eq!(
        answer.as_deref(),
        Some("echo:ping"),
        "no UDP answer through the port forward; logs: {logs:?}"
    );
    env.ok(&["rm", "-f", "udp"]);
}
