//! docker-compatible `inspect` JSON for a container: Id, Created, Path,
//! Args, State, Image, Name, RestartCount, HostConfig, Mounts, Config and
//! NetworkSettings.Ports, in docker's field names and shapes. Pure.

use super::record::{Container, PortBinding, Status};
use super::time::ZERO_TIME;
use serde_json::{json, Map, Value};

fn or_zero(s: &str) -> &str {
    if s.is_empty() {
        ZERO_TIME
    } else {
        s
    }
}

/// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}` for bindings,
/// with exposed-but-unpublished ports mapped to null as docker does.
pub fn ports_map(exposed: &[String], bound: &[PortBinding]) -> Value {
    let mut m = Map::new();
    for p in exposed {
        m.insert(p.clone(), Value::Null);
    }
    for b in bound {
        let entry = json!({
            "HostIp": if b.host_ip.is_empty() { "0.0.0.0" } else { &b.host_ip },
            "HostPort": b.host_port.to_string(),
        });
        match m.get_mut(&b.key()) {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                m.insert(b.key(), Value::Array(vec![entry]));
            }
        }
    }
    Value::Object(m)
}

fn set(keys: &[String]) -> Value {
    if keys.is_empty() {
        return Value::Null;
    }
    Value::Object(keys.iter().map(|k| (k.clone(), json!({}))).collect())
}

/// The inspect object of one container.
pub fn inspect_json(c: &Container) -> Value {
    let cfg = &c.config;
    let st = &c.state;
    let h = &cfg.host;
    let running = st.status == Status::Running;
    let path = cfg.args.first().cloned().unwrap_or_default();
    let args: Vec<String> = cfg.args.iter().skip(1).cloned().collect();
    let mounts: Vec<Value> = cfg
        .mounts
        .iter()
        .map(|m| {
            let mut o = json!({
                "Type": m.kind,
                "Source": m.source,
                "Destination": m.destination,
                "Mode": if m.kind == "bind" { "" } else { "z" },
                "RW": m.rw,
                "Propagation": if m.kind == "bind" { "rprivate" } else { "" },
            });
            if m.kind == "volume" {
                o["Name"] = json!(m.name);
                o["Driver"] = json!("local");
            }
            o
        })
        .collect();
    let mut port_bindings = Map::new();
    for b in &h.port_bindings {
        let entry = json!({"HostIp": b.host_ip, "HostPort":
            if b.host_port == 0 { String::new() } else { b.host_port.to_string() }});
        match port_bindings.get_mut(&b.key()) {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                port_bindings.insert(b.key(), Value::Array(vec![entry]));
            }
        }
    }
    let network_mode = match h.network_mode.as_str() {
        "private" | "" => "bridge",
        other => other,
    };
    let nano_cpus = h.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0);
    let mut state = json!({
        "Status": st.status.as_str(),
        "Running": running,
        "Paused": false,
        "Restarting": st.status == Status::Restarting,
        "OOMKilled": st.oom_killed,
        "Dead": st.status == Status::Dead,
        "Pid": if running { st.pid } else { 0 },
        "ExitCode": st.exit_code,
        "Error": st.error,
        "StartedAt": or_zero(&st.started_at),
        "FinishedAt": or_zero(&st.finished_at),
    });
    if let Some(health) = &st.health {
        state["Health"] = json!({
            "Status": health.status,
            "FailingStreak": health.failing_streak,
            "Log": health.log.iter().map(|r| json!({
                "Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output,
            })).collect::<Vec<_>>(),
        });
    }
    json!({
        "Id": cfg.id,
        "Created": cfg.created,
        "Path": path,
        "Args": args,
        "State": state,
        "Image": cfg.image_id,
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": "",
        "Name": format!("/{}", cfg.name),
        "RestartCount": st.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": if h.binds.is_empty() { Value::Null } else { json!(h.binds) },
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": network_mode,
            "PortBindings": Value::Object(port_bindings),
            "RestartPolicy": {
                "Name": if h.restart.name.is_empty() { "no" } else { &h.restart.name },
                "MaximumRetryCount": h.restart.max_retry,
            },
            "AutoRemove": h.auto_remove,
            "PublishAllPorts": h.publish_all,
            "ReadonlyRootfs": h.read_only,
            "Init": h.init,
            "Memory": h.memory.unwrap_or(0),
            "NanoCpus": nano_cpus,
            "PidsLimit": h.pids_limit,
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": cfg.hostname,
            "Domainname": "",
            "User": cfg.user,
            "AttachStdin": cfg.open_stdin,
            "AttachStdout": true,
            "AttachStderr": true,
            "ExposedPorts": set(&cfg.exposed_ports),
            "Tty": cfg.tty,
            "OpenStdin": cfg.open_stdin,
            "StdinOnce": cfg.open_stdin,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Healthcheck": cfg.healthcheck,
            "Image": cfg.image_name,
            "Volumes": set(&cfg.volumes),
            "WorkingDir": cfg.working_dir,
            "Entrypoint": cfg.entrypoint,
            "OnBuild": Value::Null,
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
        },
        "NetworkSettings": {
            "Ports": ports_map(&cfg.exposed_ports, &st.ports),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::record::{ContainerConfig, ContainerState};

    #[test]
    fn docker_shapes() {
        let mut config = ContainerConfig {
            id: "a".repeat(64),
            name: "web".into(),
            hostname: "aaaaaaaaaaaa".into(),
            args: vec!["httpd".into(), "-f".into()],
            exposed_ports: vec!["80/tcp".into(), "443/tcp".into()],
            ..Default::default()
        };
        config.host.network_mode = "private".into();
        let state = ContainerState {
            status: Status::Running,
            pid: 7,
            ports: vec![PortBinding {
                host_ip: String::new(),
                host_port: 8080,
                container_port: 80,
                proto: "tcp".into(),
            }],
            ..Default::default()
        };
        let v = inspect_json(&Container { config, state });
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["Path"], "httpd");
        assert_eq!(v["Args"], json!(["-f"]));
        assert_eq!(v["State"]["Pid"], 7);
        assert_eq!(v["State"]["FinishedAt"], ZERO_TIME);
        assert_eq!(v["HostConfig"]["NetworkMode"], "bridge");
        assert_eq!(
            v["NetworkSettings"]["Ports"],
            json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null})
        );
        assert_eq!(
            v["Config"]["ExposedPorts"],
            json!({"80/tcp": {}, "443/tcp": {}})
        );
    }
}
