//! Parsing of `run`'s value syntaxes, with docker's rules and clear errors:
//! `-p [IP:][HOST:]CONT[/proto]`, `-e K=V|K`, `--env-file`, `-v SRC:DST[:ro]`,
//! `--mount type=...,...`, `--restart`, signal names, `--security-opt`. Pure functions except
//! `--env-file` reading and `-e K` looking up the caller's environment.

use super::record::{PortBinding, RestartPolicy};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    #[error("invalid -p/--publish {0:?}: {1} (form: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp])")]
    Publish(String, String),
    #[error("invalid -v/--volume {0:?}: {1} (forms: HOST_PATH:CONTAINER_PATH[:ro], VOLUME:CONTAINER_PATH[:ro], CONTAINER_PATH)")]
    Volume(String, String),
    #[error("invalid --mount {0:?}: {1} (example: type=bind,source=/src,target=/dst,readonly)")]
    Mount(String, String),
    #[error("invalid restart policy {0:?}: use no, always, unless-stopped or on-failure[:N]")]
    Restart(String),
    #[error("invalid signal {0:?}: use a name like SIGTERM, TERM or a number 1-64")]
    Signal(String),
    #[error(
        "invalid environment variable {0:?}: the name must not be empty or contain whitespace"
    )]
    Env(String),
    #[error("--env-file {path} line {line}: {message}")]
    EnvFile {
        path: String,
        line: usize,
        message: String,
    },
    #[error("cannot read --env-file {path}: {source}")]
    EnvFileIo {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid --label {0:?}: the key must not be empty")]
    Label(String),
    #[error("unsupported --security-opt {0:?}: rbuild supports no-new-privileges[=true|false] (also no-new-privileges:true) and seccomp=unconfined")]
    SecurityOpt(String),
}

/// One `--security-opt` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityOpt {
    NoNewPrivileges(bool),
    SeccompUnconfined,
}

/// `--security-opt`: `no-new-privileges`, `no-new-privileges=true|false`,
/// `no-new-privileges:true|false` (docker's older form), `seccomp=unconfined`.
pub fn parse_security_opt(spec: &str) -> Result<SecurityOpt, OptionError> {
    let bad = || OptionError::SecurityOpt(spec.to_string());
    if spec == "no-new-privileges" {
        return Ok(SecurityOpt::NoNewPrivileges(true));
    }
    if let Some(value) = spec
        .strip_prefix("no-new-privileges=")
        .or_else(|| spec.strip_prefix("no-new-privileges:"))
    {
        return match value {
            "true" => Ok(SecurityOpt::NoNewPrivileges(true)),
            "false" => Ok(SecurityOpt::NoNewPrivileges(false)),
            _ => Err(bad()),
        };
    }
    match spec.split_once(['=', ':']) {
        Some(("seccomp", "unconfined")) => Ok(SecurityOpt::SeccompUnconfined),
        _ => Err(bad()),
    }
}

/// One `-p` value; host port 0 means "any free port".
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>, OptionError> {
    let bad = |why: &str| OptionError::Publish(spec.to_string(), why.to_string());
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if proto != "tcp" && proto != "udp" {
        return Err(bad("the protocol must be tcp or udp"));
    }
    // An IPv6 address is written in brackets: [::1]:8080:80.
    let (ip, rest) = if let Some(r) = addr.strip_prefix('[') {
        let (ip, after) = r.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| bad("':' after ']' expected"))?;
        (ip.to_string(), after.to_string())
    } else {
        let parts: Vec<&str> = addr.split(':').collect();
        match parts.as_slice() {
            [c] => (String::new(), c.to_string()),
            [h, c] => (String::new(), format!("{h}:{c}")),
            [ip, h, c] => (ip.to_string(), format!("{h}:{c}")),
            _ => return Err(bad("too many ':'")),
        }
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad(&format!("{ip:?} is not an IP address")));
    }
    let (host, cont) = match rest.split_once(':') {
        Some((h, c)) => (h.to_string(), c.to_string()),
        None => (String::new(), rest),
    };
    let range = |s: &str| -> Result<(u16, u16), OptionError> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let p = |x: &str| {
            x.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(&format!("{x:?} is not a port number (1-65535)")))
        };
        let (a, b) = (p(a)?, p(b)?);
        if b < a {
            return Err(bad("the port range ends before it starts"));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(&cont)?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        range(&host)?
    };
    if h0 != 0 && h1 - h0 != c1 - c0 {
        return Err(bad("host and container port ranges differ in size"));
    }
    Ok((0..=(c1 - c0))
        .map(|i| PortBinding {
            host_ip: ip.clone(),
            host_port: if h0 == 0 { 0 } else { h0 + i },
            container_port: c0 + i,
            proto: proto.clone(),
        })
        .collect())
}

/// One `-e` value: `K=V`, or `K` (taken from the caller's environment,
/// dropped when unset, as docker does).
pub fn parse_env(spec: &str) -> Result<Option<String>, OptionError> {
    let name = spec.split('=').next().unwrap_or_default();
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(OptionError::Env(spec.to_string()));
    }
    if spec.contains('=') {
        return Ok(Some(spec.to_string()));
    }
    Ok(std::env::var(spec).ok().map(|v| format!("{spec}={v}")))
}

/// `--env-file`: one `K=V` or `K` per line, `#` comments and blank lines
/// skipped, values taken literally (no quotes processing, as docker).
pub fn read_env_file(path: &Path) -> Result<Vec<String>, OptionError> {
    let text = std::fs::read_to_string(path).map_err(|e| OptionError::EnvFileIo {
        path: path.display().to_string(),
        source: e,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match parse_env(l) {
            Ok(Some(v)) => out.push(v),
            Ok(None) => {}
            Err(_) => {
                return Err(OptionError::EnvFile {
                    path: path.display().to_string(),
                    line: i + 1,
                    message: format!("variable {l:?} has an empty name or contains whitespace"),
                })
            }
        }
    }
    Ok(out)
}

/// A requested mount before volumes are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountRequest {
    Bind {
        source: String,
        target: String,
        readonly: bool,
    },
    /// `name` empty: an anonymous volume.
    Volume {
        name: String,
        target: String,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
}

impl MountRequest {
    pub fn target(&self) -> &str {
        match self {
            MountRequest::Bind { target, .. }
            | MountRequest::Volume { target, .. }
            | MountRequest::Tmpfs { target, .. } => target,
        }
    }
}

/// One `-v` value.
pub fn parse_volume(spec: &str) -> Result<MountRequest, OptionError> {
    let bad = |why: &str| OptionError::Volume(spec.to_string(), why.to_string());
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(bad("too many ':'")),
    };
    if !dst.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    let mut readonly = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" | "z" | "Z" | "rprivate" | "private" | "nocopy" => {}
            other => return Err(bad(&format!("unknown option {other:?}"))),
        }
    }
    let target = dst.to_string();
    Ok(if src.starts_with('/') || src.starts_with('.') {
        MountRequest::Bind {
            source: src.to_string(),
            target,
            readonly,
        }
    } else {
        if !src.is_empty() {
            super::id::validate_name(src).map_err(|_| {
                bad("a volume name must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (host paths must be absolute)")
            })?;
        }
        MountRequest::Volume {
            name: src.to_string(),
            target,
            readonly,
        }
    })
}

/// One `--mount` value (`type=bind|volume|tmpfs`, `source|src`,
/// `target|destination|dst`, `readonly|ro`, `tmpfs-size`).
pub fn parse_mount(spec: &str) -> Result<MountRequest, OptionError> {
    let bad = |why: String| OptionError::Mount(spec.to_string(), why);
    let (mut kind, mut source, mut target, mut readonly, mut size) = (
        "volume".to_string(),
        String::new(),
        String::new(),
        false,
        None,
    );
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = v.to_string(),
            "source" | "src" => source = v.to_string(),
            "target" | "destination" | "dst" => target = v.to_string(),
            "readonly" | "ro" => readonly = v.is_empty() || v == "true" || v == "1",
            "tmpfs-size" => {
                size =
                    Some(crate::sandbox::cgroups::parse_memory(v).map_err(|e| bad(e.to_string()))?)
            }
            "bind-propagation" | "volume-nocopy" | "consistency" | "tmpfs-mode" => {}
            other => return Err(bad(format!("unknown field {other:?}"))),
        }
    }
    if !target.starts_with('/') {
        return Err(bad("target must be an absolute path".into()));
    }
    match kind.as_str() {
        "bind" if source.starts_with('/') => Ok(MountRequest::Bind {
            source,
            target,
            readonly,
        }),
        "bind" => Err(bad("a bind mount needs an absolute source".into())),
        "volume" => Ok(MountRequest::Volume {
            name: source,
            target,
            readonly,
        }),
        "tmpfs" => Ok(MountRequest::Tmpfs { target, size }),
        other => Err(bad(format!("type {other:?} is not bind, volume or tmpfs"))),
    }
}

/// `--restart`.
pub fn parse_restart(spec: &str) -> Result<RestartPolicy, OptionError> {
    let (name, count) = spec.split_once(':').unwrap_or((spec, ""));
    let max_retry = if count.is_empty() {
        0
    } else if name == "on-failure" {
        count
            .parse()
            .map_err(|_| OptionError::Restart(spec.to_string()))?
    } else {
        return Err(OptionError::Restart(spec.to_string()));
    };
    match name {
        "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
            name: name.to_string(),
            max_retry,
        }),
        _ => Err(OptionError::Restart(spec.to_string())),
    }
}

/// A signal name or number: `SIGTERM`, `TERM`, `term`, `15`, `SIGRTMIN+3`.
pub fn parse_signal(spec: &str) -> Result<i32, OptionError> {
    let bad = || OptionError::Signal(spec.to_string());
    if let Ok(n) = spec.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let up = spec.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(off) = name.strip_prefix("RTMIN+") {
        let n: i32 = off.parse().map_err(|_| bad())?;
        return Some(libc::SIGRTMIN() + n)
            .filter(|s| *s <= libc::SIGRTMAX())
            .ok_or_else(bad);
    }
    let full = format!("SIG{name}");
    full.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| bad())
}

/// `--label K=V` (or `K`, an empty value).
pub fn parse_label(spec: &str) -> Result<(String, String), OptionError> {
    let (k, v) = spec.split_once('=').unwrap_or((spec, ""));
    if k.is_empty() {
        return Err(OptionError::Label(spec.to_string()));
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(ip: &str, h: u16, c: u16, p: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: h,
            container_port: c,
            proto: p.into(),
        }
    }

    #[test]
    fn publish_forms() {
        let p = |s: &str| parse_publish(s).map_err(|e| e.to_string());
        assert_eq!(p("8080:80"), Ok(vec![pb("", 8080, 80, "tcp")]));
        assert_eq!(
            p("127.0.0.1:53:53/udp"),
            Ok(vec![pb("127.0.0.1", 53, 53, "udp")])
        );
        assert_eq!(p("80"), Ok(vec![pb("", 0, 80, "tcp")]));
        assert_eq!(p("[::1]:8080:80"), Ok(vec![pb("::1", 8080, 80, "tcp")]));
        assert_eq!(p("127.0.0.1::80"), Ok(vec![pb("127.0.0.1", 0, 80, "tcp")]));
        assert_eq!(
            p("8000-8001:80-81"),
            Ok(vec![pb("", 8000, 80, "tcp"), pb("", 8001, 81, "tcp")])
        );
        for bad in [
            "x:80",
            "80/sctp",
            "1.2.3:80:80",
            "0:80",
            "8000-8002:80-81",
            "70000:1",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_and_env_file() {
        assert_eq!(parse_env("A=b=c").ok().flatten().as_deref(), Some("A=b=c"));
        std::env::set_var("RBUILD_TEST_ENV_X", "1");
        assert_eq!(
            parse_env("RBUILD_TEST_ENV_X").ok().flatten().as_deref(),
            Some("RBUILD_TEST_ENV_X=1")
        );
        assert_eq!(parse_env("RBUILD_TEST_SURELY_UNSET").ok().flatten(), None);
        assert!(parse_env("=x").is_err());
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("env");
        std::fs::write(&f, "# c\n\nA=1\nB=\"q\"\n").expect("write");
        assert_eq!(
            read_env_file(&f).map_err(|e| e.to_string()),
            Ok(vec!["A=1".to_string(), "B=\"q\"".to_string()])
        );
        std::fs::write(&f, "A=1\nbad name=2\n").expect("write");
        let e = read_env_file(&f)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn volumes_and_mounts() {
        assert_eq!(
            parse_volume("/h:/c:ro").ok(),
            Some(MountRequest::Bind {
                source: "/h".into(),
                target: "/c".into(),
                readonly: true
            })
        );
        assert_eq!(
            parse_volume("data:/var/lib").ok(),
            Some(MountRequest::Volume {
                name: "data".into(),
                target: "/var/lib".into(),
                readonly: false
            })
        );
        assert_eq!(
            parse_volume("/anon").ok(),
            Some(MountRequest::Volume {
                name: "".into(),
                target: "/anon".into(),
                readonly: false
            })
        );
        assert!(parse_volume("x:rel").is_err());
        assert!(parse_volume("/a:/b:bogus").is_err());
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").ok(),
            Some(MountRequest::Tmpfs {
                target: "/t".into(),
                size: Some(1 << 20)
            })
        );
        assert!(parse_mount("type=bind,src=rel,dst=/x").is_err());
        assert!(parse_mount("type=nfs,dst=/x").is_err());
    }

    #[test]
    fn restart_signal_label() {
        assert_eq!(
            parse_restart("on-failure:3").ok(),
            Some(RestartPolicy {
                name: "on-failure".into(),
                max_retry: 3
            })
        );
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(parse_signal("SIGTERM").ok(), Some(15));
        assert_eq!(parse_signal("kill").ok(), Some(9));
        assert_eq!(parse_signal("1").ok(), Some(1));
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
        assert_eq!(parse_label("a=b=c").ok(), Some(("a".into(), "b=c".into())));
        assert!(parse_label("=x").is_err());
    }
}
