//! Network modes of the sandbox on the real kernel: private (its own
//! namespace served by slirp4netns: an address, a resolver, and outbound
//! TCP to the host's external address), host (the host's interfaces and
//! resolver), and none (covered in sandbox_isolation).

mod common_cg;
mod sandbox_support;

use rbuild::sandbox::network::NetworkMode;
use sandbox_support::{output_of, ready, rootfs, run, shell};
use std::io::Write;
use std::net::{TcpListener, UdpSocket};

/// This host's address on its default route (no packet is sent).
fn external_address() -> Option<std::net::IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback()).then_some(ip)
}

#[test]
fn private_network_has_an_address_a_resolver_and_outbound_tcp() {
    if !ready() || common_cg::require_tool("slirp4netns").is_none() {
        return;
    }
    let Some(host_ip) = external_address() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no external address to connect to"
        );
        return;
    };
    let listener = TcpListener::bind((host_ip, 0)).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"hello from the host\n");
        }
    });
    let (_dir, root) = rootfs();
    let mut spec = shell(
        &root,
        &format!(
            "ip -o -4 addr show | grep -v ' lo ' | grep -c 10.0.2.100; cat /etc/resolv.conf; \
             nc {host_ip} {port} </dev/null"
        ),
    );
    spec.network = NetworkMode::Private;
    let ran = run(&spec);
    assert!(ran.status().success(), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.outcome.warnings.is_empty(),
        "{:?}",
        ran.outcome.warnings
    );
    assert!(ran.stdout.starts_with("1\nnameserver "), "{}", ran.stdout);
    assert!(
        ran.stdout.ends_with("hello from the host\n"),
        "{}",
        ran.stdout
    );
    server.join().expect("server");
}

#[test]
fn host_network_shares_the_hosts_interfaces_and_resolver() {
    if !ready() {
        return;
    }
    let (_dir, root) = rootfs();
    let mut spec = shell(
        &root,
        "ls /sys/class/net | sort; echo --; cat /etc/resolv.conf",
    );
    spec.network = NetworkMode::Host;
    let out = output_of(&spec);
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("net")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let (interfaces, resolv) = out.split_once("--\n").expect("separator");
    assert_eq!(interfaces.lines().collect::<Vec<_>>(), host);
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    assert_eq!(resolv.trim(), host_resolv.trim());
}
