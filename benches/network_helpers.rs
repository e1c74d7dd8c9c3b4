//! Compares the two user-mode network helpers for `--network private`:
//! time until the namespace is configured (attach) and TCP round-trip time
//! through a host port forward to an echo server inside the namespace.
//! Only loopback and the namespace's own addresses are used.
//!
//! Run as root: `cargo bench --bench network_helpers` (needs busybox,
//! unshare, slirp4netns and pasta). The namespace gets its own user
//! namespace because the packaged pasta can only join such namespaces.

use rbuild::sandbox::network::{NetworkAttachment, NetworkHelper, PortForward, Protocol};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ATTACH_RUNS: usize = 20;
const ROUND_TRIPS: usize = 2000;

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("network_helpers bench needs root; skipped");
        return;
    }
    println!("helper       attach median   attach mean   TCP RTT median   TCP RTT p99");
    for helper in [NetworkHelper::Slirp4netns, NetworkHelper::Pasta] {
        match bench(helper) {
            Ok(line) => println!("{line}"),
            Err(e) => println!("{:<12} failed: {e}", helper.binary_name()),
        }
    }
}

fn bench(helper: NetworkHelper) -> Result<String, String> {
    let mut attach_times = Vec::new();
    for _ in 0..ATTACH_RUNS {
        let mut holder = spawn_namespace("sleep 30")?;
        let start = Instant::now();
        let attachment = NetworkAttachment::attach_using(helper, holder.id() as i32, &[])
            .map_err(|e| e.to_string())?;
        attach_times.push(start.elapsed());
        attachment.detach();
        let _ = holder.kill();
        let _ = holder.wait();
    }
    let mut holder = spawn_namespace("nc -l -p 80 -e /bin/busybox cat")?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let forward = PortForward {
        proto: Protocol::Tcp,
        host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        host_port: port,
        container_port: 80,
    };
    let attachment = NetworkAttachment::attach_using(helper, holder.id() as i32, &[forward])
        .map_err(|e| e.to_string())?;
    let rtts = round_trips(port);
    attachment.detach();
    let _ = holder.kill();
    let _ = holder.wait();
    let rtts = rtts?;
    Ok(format!(
        "{:<12} {:>13.2?} {:>13.2?} {:>16.1?} {:>13.1?}",
        helper.binary_name(),
        percentile(&attach_times, 50),
        mean(&attach_times),
        percentile(&rtts, 50),
        percentile(&rtts, 99)
    ))
}

/// busybox sh running `script` in a new user+network namespace.
fn spawn_namespace(script: &str) -> Result<Child, String> {
    let child = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "/bin/busybox",
            "sh",
            "-c",
        ])
        .arg(format!("/bin/busybox ip link set lo up; {script}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("unshare: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    // Wait until unshare exec'd busybox, i.e. the namespaces exist.
    while std::fs::read_link(format!("/proc/{}/exe", child.id()))
        .is_ok_and(|exe| !exe.ends_with("busybox"))
    {
        if Instant::now() > deadline {
            return Err("unshare did not exec busybox".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(child)
}

fn round_trips(port: u16) -> Result<Vec<Duration>, String> {
    // The helper accepts on the host before the listener inside is up, so
    // a first echo (not timed) proves the path works end to end.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match connect_and_echo(port) {
            Ok(stream) => break stream,
            Err(e) if Instant::now() > deadline => return Err(e.to_string()),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    let mut byte = [0u8; 1];
    for i in 0..ROUND_TRIPS {
        let start = Instant::now();
        stream
            .write_all(&[b'a' + (i % 26) as u8])
            .map_err(|e| e.to_string())?;
        stream
            .read_exact(&mut byte)
            .map_err(|e| format!("echo: {e}"))?;
        times.push(start.elapsed());
    }
    Ok(times)
}

fn connect_and_echo(port: u16) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"x")?;
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte)?;
    Ok(stream)
}

fn percentile(samples: &[Duration], pct: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = (sorted.len().saturating_sub(1) * pct) / 100;
    sorted.get(index).copied().unwrap_or_default()
}

fn mean(samples: &[Duration]) -> Duration {
    let total: Duration = samples.iter().sum();
    total / samples.len().max(1) as u32
}
