//! `ps` rows: docker's columns (CONTAINER ID, IMAGE, COMMAND, CREATED,
//! STATUS, PORTS, NAMES), status and ports text, `--filter` matching, and
//! the per-container data `--format` templates see (`.ID`, `.Names`, ...).

use super::id::short;
use super::record::{Container, PortBinding, Status};
use super::time;
use serde_json::{json, Value};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter {0:?}: use KEY=VALUE (id, name, label, status, exited, ancestor)")]
    Syntax(String),
    #[error("invalid filter key {0:?}: supported are id, name, label, status, exited, ancestor")]
    Key(String),
    #[error("invalid status filter {0:?}: created, restarting, running, removing, paused, exited or dead")]
    Status(String),
}

/// `Up 5 minutes`, `Exited (0) 3 seconds ago`, `Created`.
pub fn status_text(c: &Container, now: SystemTime) -> String {
    let s = &c.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let health = match s.health.as_ref().map(|h| h.status.as_str()) {
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                Some(_) => " (health: starting)",
                None => "",
            };
            format!("Up {}{health}", time::since(&s.started_at, now))
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            time::since(&s.finished_at, now)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            time::since(&s.finished_at, now)
        ),
        Status::Dead => "Dead".into(),
        Status::Removing => "Removal In Progress".into(),
    }
}

/// `0.0.0.0:8080->80/tcp, 443/tcp` (docker groups nothing fancier).
pub fn ports_text(exposed: &[String], bound: &[PortBinding], running: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    if running {
        for b in bound {
            let ip = if b.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &b.host_ip
            };
            parts.push(format!("{ip}:{}->{}", b.host_port, b.key()));
        }
    }
    for e in exposed {
        if !(running && bound.iter().any(|b| &b.key() == e)) {
            parts.push(e.clone());
        }
    }
    parts.join(", ")
}

/// The quoted, maybe truncated COMMAND column.
pub fn command_text(args: &[String], no_trunc: bool) -> String {
    let cmd = args.join(" ");
    let shown = if !no_trunc && cmd.chars().count() > 20 {
        format!("{}…", cmd.chars().take(19).collect::<String>())
    } else {
        cmd
    };
    format!("\"{shown}\"")
}

/// The data one row exposes to `--format` (docker's names).
pub fn row_json(c: &Container, now: SystemTime, no_trunc: bool) -> Value {
    let cfg = &c.config;
    let running = c.is_running();
    let labels: Vec<String> = cfg.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = cfg
        .mounts
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                m.source.clone()
            } else {
                m.name.clone()
            }
        })
        .collect();
    json!({
        "ID": if no_trunc { cfg.id.as_str() } else { short(&cfg.id) },
        "Image": cfg.image_name,
        "Command": command_text(&cfg.args, no_trunc),
        "CreatedAt": cfg.created,
        "RunningFor": format!("{} ago", time::since(&cfg.created, now)),
        "Status": status_text(c, now),
        "State": c.state.status.as_str(),
        "Ports": ports_text(&cfg.exposed_ports, &c.state.ports, running),
        "Names": cfg.name,
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": match cfg.host.network_mode.as_str() { "private" | "" => "bridge", m => m },
        "Size": "",
    })
}

/// The table header and the row template for the default `ps` output.
pub const TABLE_COLUMNS: [(&str, &str); 7] = [
    ("CONTAINER ID", "ID"),
    ("IMAGE", "Image"),
    ("COMMAND", "Command"),
    ("CREATED", "RunningFor"),
    ("STATUS", "Status"),
    ("PORTS", "Ports"),
    ("NAMES", "Names"),
];

/// One `--filter KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Id(String),
    Name(String),
    Label(String, Option<String>),
    Status(Status),
    Exited(i32),
    Ancestor(String),
}

impl Filter {
    pub fn parse(spec: &str) -> Result<Filter, FilterError> {
        let (k, v) = spec
            .split_once('=')
            .ok_or_else(|| FilterError::Syntax(spec.to_string()))?;
        Ok(match k {
            "id" => Filter::Id(v.to_string()),
            "name" => Filter::Name(v.to_string()),
            "label" => match v.split_once('=') {
                Some((a, b)) => Filter::Label(a.to_string(), Some(b.to_string())),
                None => Filter::Label(v.to_string(), None),
            },
            "status" => Filter::Status(match v {
                "created" => Status::Created,
                "running" => Status::Running,
                "restarting" => Status::Restarting,
                "exited" => Status::Exited,
                "dead" => Status::Dead,
                "removing" => Status::Removing,
                _ => return Err(FilterError::Status(v.to_string())),
            }),
            "exited" => Filter::Exited(
                v.parse()
                    .map_err(|_| FilterError::Syntax(spec.to_string()))?,
            ),
            "ancestor" => Filter::Ancestor(v.to_string()),
            other => return Err(FilterError::Key(other.to_string())),
        })
    }

    /// Whether `c` passes (names and IDs match as substrings/prefixes like docker).
    pub fn matches(&self, c: &Container) -> bool {
        let cfg = &c.config;
        match self {
            Filter::Id(p) => cfg.id.starts_with(p.as_str()),
            Filter::Name(n) => regex::Regex::new(n)
                .map(|r| r.is_match(&cfg.name))
                .unwrap_or_else(|_| cfg.name.contains(n.as_str())),
            Filter::Label(k, v) => match (cfg.labels.get(k), v) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            },
            Filter::Status(s) => c.state.status == *s,
            Filter::Exited(code) => c.state.status == Status::Exited && c.state.exit_code == *code,
            Filter::Ancestor(img) => {
                cfg.image_name == *img
                    || cfg.image_id == *img
                    || cfg
                        .image_id
                        .trim_start_matches("sha256:")
                        .starts_with(img.as_str())
            }
        }
    }
}

/// docker's rule: filters of the same key OR together, different keys AND.
pub fn matches_all(filters: &[Filter], c: &Container) -> bool {
    let key = |f: &Filter| std::mem::discriminant(f);
    filters.iter().all(|f| {
        filters
            .iter()
            .filter(|g| key(g) == key(f))
            .any(|g| g.matches(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::record::{ContainerConfig, ContainerState};
    use std::time::{Duration, UNIX_EPOCH};

    fn container(status: Status, code: i32) -> Container {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        Container {
            config: ContainerConfig {
                id: "0123456789ab".repeat(5) + "cdef",
                name: "web".into(),
                image_name: "busybox".into(),
                image_id: "sha256:feed".into(),
                created: time::rfc3339(t0),
                args: vec![
                    "httpd".into(),
                    "-f".into(),
                    "-p".into(),
                    "80".into(),
                    "-h".into(),
                    "/www".into(),
                ],
                exposed_ports: vec!["80/tcp".into()],
                labels: [("tier".to_string(), "front".to_string())].into(),
                ..Default::default()
            },
            state: ContainerState {
                status,
                exit_code: code,
                started_at: time::rfc3339(t0),
                finished_at: time::rfc3339(t0 + Duration::from_secs(60)),
                ports: vec![PortBinding {
                    host_ip: String::new(),
                    host_port: 8080,
                    container_port: 80,
                    proto: "tcp".into(),
                }],
                ..Default::default()
            },
        }
    }

    #[test]
    fn columns_read_like_docker() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000 + 125);
        let up = container(Status::Running, 0);
        let row = row_json(&up, now, false);
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["Status"], "Up 2 minutes");
        assert_eq!(row["Command"], "\"httpd -f -p 80 -h /…\"");
        assert_eq!(row["Ports"], "0.0.0.0:8080->80/tcp");
        assert_eq!(row["RunningFor"], "2 minutes ago");
        let down = container(Status::Exited, 137);
        assert_eq!(status_text(&down, now), "Exited (137) About a minute ago");
        assert_eq!(row_json(&down, now, true)["Ports"], "80/tcp");
    }

    #[test]
    fn filters() {
        let up = container(Status::Running, 0);
        let down = container(Status::Exited, 1);
        let f = |s: &str| Filter::parse(s).map_err(|e| e.to_string());
        let status = f("status=running").unwrap_or(Filter::Id(String::new()));
        assert!(status.matches(&up) && !status.matches(&down));
        let exited = vec![f("exited=1").unwrap_or(Filter::Id(String::new()))];
        assert!(matches_all(&exited, &down) && !matches_all(&exited, &up));
        let or = vec![
            f("status=running").unwrap_or(Filter::Id(String::new())),
            f("status=exited").unwrap_or(Filter::Id(String::new())),
            f("label=tier=front").unwrap_or(Filter::Id(String::new())),
        ];
        assert!(matches_all(&or, &up) && matches_all(&or, &down));
        assert!(f("name=^we").is_ok_and(|x| x.matches(&up)));
        assert!(f("ancestor=busybox").is_ok_and(|x| x.matches(&up)));
        assert!(f("bogus=1").is_err());
        assert!(f("status=sleeping").is_err());
        assert!(f("noequals").is_err());
    }
}
