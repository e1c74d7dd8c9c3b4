//! Image defaults merged with `run` options exactly as docker does:
//! `--entrypoint` replaces ENTRYPOINT and drops CMD; arguments replace CMD;
//! env files, then `-e`, override ENV by name (PATH added when missing);
//! `-w`, `-u`, `--stop-signal` override WORKDIR, USER, STOPSIGNAL; labels
//! merge; VOLUME paths become anonymous volumes; HEALTHCHECK is recorded.
//! Works on the raw config JSON, which keeps fields (Healthcheck) that the
//! OCI types drop. Pure: nothing is read or started here.

use super::record::ContainerConfig;
use crate::sandbox::DEFAULT_PATH;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum DefaultsError {
    #[error("no command specified: the image has no ENTRYPOINT or CMD; give a command after the image name")]
    NoCommand,
}

/// The `config` object of an image config blob, in docker's field names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageDefaults {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub volumes: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Value>,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

impl ImageDefaults {
    /// Reads the `config` object of a whole image config blob.
    pub fn from_image_config(blob: &Value) -> ImageDefaults {
        let c = blob.get("config").or_else(|| blob.get("Config"));
        let get = |k: &str| c.and_then(|c| c.get(k));
        let text = |k: &str| {
            get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        ImageDefaults {
            entrypoint: strings(get("Entrypoint")),
            cmd: strings(get("Cmd")),
            env: strings(get("Env")).unwrap_or_default(),
            working_dir: text("WorkingDir"),
            user: text("User"),
            labels: get("Labels")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            volumes: keys(get("Volumes")),
            exposed_ports: keys(get("ExposedPorts")),
            stop_signal: get("StopSignal")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            healthcheck: get("Healthcheck").filter(|h| !h.is_null()).cloned(),
        }
    }
}

/// What the user asked for on the command line (already parsed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRequest {
    /// `--entrypoint`; `Some("")` clears the image's.
    pub entrypoint: Option<String>,
    /// Arguments after the image name.
    pub args: Vec<String>,
    /// `--env-file` entries followed by `-e` entries, `K=V`.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: Vec<(String, String)>,
    pub stop_signal: Option<String>,
    /// `-p` container ports and `--expose`, `80/tcp` form.
    pub exposed_ports: Vec<String>,
}

/// Sets `cfg`'s process fields from the image and the request.
pub fn apply(
    cfg: &mut ContainerConfig,
    image: &ImageDefaults,
    req: &RunRequest,
) -> Result<(), DefaultsError> {
    let (entrypoint, cmd) = match &req.entrypoint {
        Some(e) if e.is_empty() => (None, Some(req.args.clone())),
        Some(e) => (Some(vec![e.clone()]), Some(req.args.clone())),
        None if req.args.is_empty() => (image.entrypoint.clone(), image.cmd.clone()),
        None => (image.entrypoint.clone(), Some(req.args.clone())),
    };
    let args: Vec<String> = entrypoint
        .iter()
        .flatten()
        .chain(cmd.iter().flatten())
        .cloned()
        .collect();
    if args.is_empty() {
        return Err(DefaultsError::NoCommand);
    }
    cfg.args = args;
    cfg.entrypoint = entrypoint;
    cfg.cmd = cmd.filter(|c| !c.is_empty());
    let mut env = image.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    for kv in &req.env {
        let key = kv.split('=').next().unwrap_or_default();
        match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(slot) => *slot = kv.clone(),
            None => env.push(kv.clone()),
        }
    }
    cfg.env = env;
    cfg.working_dir = req
        .workdir
        .clone()
        .unwrap_or_else(|| image.working_dir.clone());
    cfg.user = req.user.clone().unwrap_or_else(|| image.user.clone());
    cfg.labels = image.labels.clone();
    cfg.labels.extend(req.labels.iter().cloned());
    cfg.stop_signal = req
        .stop_signal
        .clone()
        .or_else(|| image.stop_signal.clone());
    cfg.volumes = image.volumes.clone();
    let mut ports = image.exposed_ports.clone();
    for p in &req.exposed_ports {
        if !ports.contains(p) {
            ports.push(p.clone());
        }
    }
    ports.sort();
    cfg.exposed_ports = ports;
    cfg.healthcheck = image.healthcheck.clone();
    Ok(())
}

/// The environment the process gets: docker puts HOSTNAME first and adds
/// TERM=xterm for a tty, unless the config sets them.
pub fn process_env(cfg: &ContainerConfig) -> Vec<String> {
    let has = |k: &str| cfg.env.iter().any(|e| e.split('=').next() == Some(k));
    let mut env = Vec::with_capacity(cfg.env.len() + 2);
    if !has("HOSTNAME") {
        env.push(format!("HOSTNAME={}", cfg.hostname));
    }
    env.extend(cfg.env.iter().cloned());
    if cfg.tty && !has("TERM") {
        env.push("TERM=xterm".to_string());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image() -> ImageDefaults {
        ImageDefaults::from_image_config(&json!({"config": {
            "Entrypoint": ["/entry.sh"], "Cmd": ["serve", "--port", "80"],
            "Env": ["PATH=/opt/bin:/bin", "MODE=prod"], "WorkingDir": "/app",
            "User": "app", "Labels": {"a": "1"}, "Volumes": {"/data": {}},
            "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "true"]}
        }}))
    }

    fn merged(req: RunRequest) -> Result<ContainerConfig, DefaultsError> {
        let mut c = ContainerConfig::default();
        apply(&mut c, &image(), &req).map(|_| c)
    }

    #[test]
    fn image_defaults_apply() {
        let c = merged(RunRequest::default()).unwrap_or_default();
        assert_eq!(c.args, ["/entry.sh", "serve", "--port", "80"]);
        assert_eq!(c.env, ["PATH=/opt/bin:/bin", "MODE=prod"]);
        assert_eq!((c.working_dir.as_str(), c.user.as_str()), ("/app", "app"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.volumes, ["/data"]);
        assert_eq!(c.exposed_ports, ["80/tcp"]);
        assert!(c.healthcheck.is_some());
    }

    #[test]
    fn overrides_follow_docker() {
        let c = merged(RunRequest {
            args: vec!["sh".into()],
            env: vec!["MODE=dev".into(), "NEW=1".into()],
            workdir: Some("/w".into()),
            user: Some("0:0".into()),
            labels: vec![("b".into(), "2".into())],
            stop_signal: Some("SIGINT".into()),
            ..Default::default()
        })
        .unwrap_or_default();
        assert_eq!(c.args, ["/entry.sh", "sh"]);
        assert_eq!(c.env, ["PATH=/opt/bin:/bin", "MODE=dev", "NEW=1"]);
        assert_eq!((c.working_dir.as_str(), c.user.as_str()), ("/w", "0:0"));
        assert_eq!(c.labels.len(), 2);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
        // --entrypoint drops the image's CMD.
        let c = merged(RunRequest {
            entrypoint: Some("/bin/sh".into()),
            ..Default::default()
        })
        .unwrap_or_default();
        assert_eq!(c.args, ["/bin/sh"]);
        let c = merged(RunRequest {
            entrypoint: Some(String::new()),
            args: vec!["id".into()],
            ..Default::default()
        })
        .unwrap_or_default();
        assert_eq!(c.args, ["id"]);
        assert!(matches!(
            merged(RunRequest {
                entrypoint: Some(String::new()),
                ..Default::default()
            }),
            Err(DefaultsError::NoCommand)
        ));
    }

    #[test]
    fn default_path_and_process_env() {
        let mut c = ContainerConfig::default();
        let empty = ImageDefaults::default();
        let req = RunRequest {
            args: vec!["true".into()],
            ..Default::default()
        };
        assert!(apply(&mut c, &empty, &req).is_ok());
        assert_eq!(c.env, [format!("PATH={DEFAULT_PATH}")]);
        c.hostname = "abc".into();
        c.tty = true;
        let env = process_env(&c);
        assert_eq!(env.first().map(String::as_str), Some("HOSTNAME=abc"));
        assert_eq!(env.last().map(String::as_str), Some("TERM=xterm"));
    }
}
