//! Contents of the /etc files every sandbox gets, as docker generates them:
//! /etc/hosts (localhost, the IPv6 names, the hostname, `--add-host`
//! entries), /etc/hostname, and /etc/resolv.conf (from the network
//! attachment, or the host's for host networking).
//!
//! Only text generation; the mounts live in mounts/.

use crate::sandbox::network::NetworkMode;
use std::net::IpAddr;

/// The address slirp4netns gives the sandbox (its default 10.0.2.100).
const PRIVATE_ADDRESS: &str = "10.0.2.100";

pub fn hosts(hostname: &str, network: NetworkMode, extra: &[(String, IpAddr)]) -> String {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for (name, ip) in extra {
        text.push_str(&format!("{ip}\t{name}\n"));
    }
    let own = match network {
        NetworkMode::Private => PRIVATE_ADDRESS,
        NetworkMode::None | NetworkMode::Host => "127.0.1.1",
    };
    text.push_str(&format!("{own}\t{hostname}\n"));
    text
}

pub fn hostname(name: &str) -> String {
    format!("{name}\n")
}

/// The host's resolver configuration without loopback nameservers, which
/// cannot work from another network namespace (docker filters them too).
/// Used as is for host networking.
pub fn host_resolv_conf(host_text: &str, keep_loopback: bool) -> String {
    host_text
        .lines()
        .filter(|line| {
            keep_loopback || {
                let mut words = line.split_whitespace();
                !(words.next() == Some("nameserver")
                    && words
                        .next()
                        .and_then(|ip| ip.parse::<IpAddr>().ok())
                        .is_some_and(|ip| ip.is_loopback()))
            }
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Hostnames become a UTS field: at most 64 bytes, no NUL or '/'.
pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_localhost_extra_entries_and_the_hostname() {
        let text = hosts(
            "box",
            NetworkMode::Private,
            &[("db".into(), "10.1.2.3".parse().expect("ip"))],
        );
        assert!(text.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost"));
        assert!(text.contains("10.1.2.3\tdb\n"));
        assert!(text.ends_with("10.0.2.100\tbox\n"));
        assert!(hosts("h", NetworkMode::None, &[]).ends_with("127.0.1.1\th\n"));
    }

    #[test]
    fn loopback_resolvers_are_dropped() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 9.9.9.9\n";
        assert_eq!(
            host_resolv_conf(host, false),
            "search lan\nnameserver 9.9.9.9\n"
        );
        assert_eq!(host_resolv_conf(host, true), host);
    }

    #[test]
    fn hostnames() {
        assert!(valid_hostname("build-1.local"));
        for bad in ["", "a/b", "a b", &"x".repeat(65)] {
            assert!(!valid_hostname(bad), "{bad:?}");
        }
    }
}
