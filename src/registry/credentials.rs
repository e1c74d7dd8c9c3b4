//! Registry credentials the way the docker CLI keeps them:
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`) with
//! `auths` (base64 `user:password`), `credsStore` (one
//! `docker-credential-NAME` program for all registries) and `credHelpers`
//! (a program per registry). Reading and writing keep every other field of
//! the file as it was. Secrets never appear in `Debug` output or errors.
//! This module does not talk to registries.

use base64::Engine as _;
use serde_json::{Map, Value};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key Docker uses for Docker Hub in config.json.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Errors reading or writing credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {why}")]
    Json { path: PathBuf, why: String },
    #[error("{path}: the auth entry for {registry} is not base64 'user:password'")]
    BadAuth { path: PathBuf, registry: String },
    #[error("credential helper docker-credential-{helper} failed for {registry}: {why}")]
    Helper {
        helper: String,
        registry: String,
        why: String,
    },
}

/// A user name and password (or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, secret: <redacted> }}",
            self.username
        )
    }
}

/// The config.json path: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            PathBuf::from(home).join(".docker/config.json")
        }
    }
}

/// The config.json key for `registry` (`docker.io` is Docker Hub's v1 URL).
pub fn config_key(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The host part of a config.json key (`https://host/v1/` -> `host`).
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn read_config(path: &Path) -> Result<Map<String, Value>, CredentialsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => {
            return Err(CredentialsError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CredentialsError::Json {
            path: path.to_path_buf(),
            why: "not a JSON object".into(),
        }),
        Err(e) => Err(CredentialsError::Json {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

fn write_config(path: &Path, config: &Map<String, Value>) -> Result<(), CredentialsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CredentialsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    let text = serde_json::to_string_pretty(config).map_err(|e| CredentialsError::Json {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The helper program name configured for `registry`, if any.
fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let key = config_key(registry);
    let per_registry = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| *k == &key || key_host(k) == key_host(&key))
                .and_then(|(_, v)| v.as_str())
        });
    per_registry
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Credentials for `registry` (host[:port]) from the Docker config, if any.
pub fn lookup(registry: &str) -> Result<Option<Credentials>, CredentialsError> {
    let path = config_path();
    let config = read_config(&path)?;
    if let Some(helper) = helper_for(&config, registry) {
        return helper_get(&helper, &config_key(registry));
    }
    lookup_auths(&config, &path, registry)
}

/// Credentials for `registry` from the `auths` section of a parsed config.
fn lookup_auths(
    config: &Map<String, Value>,
    path: &Path,
    registry: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let key = config_key(registry);
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let entry = auths.get(&key).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| key_host(k) == key_host(&key))
            .map(|(_, v)| v)
    });
    let Some(entry) = entry else {
        return Ok(None);
    };
    let bad = || CredentialsError::BadAuth {
        path: path.to_path_buf(),
        registry: registry.to_string(),
    };
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        if auth.is_empty() {
            return Ok(None);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (user, pass) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credentials {
            username: user.to_string(),
            secret: pass.to_string(),
        }));
    }
    let user = entry.get("username").and_then(Value::as_str);
    let pass = entry.get("password").and_then(Value::as_str);
    Ok(match (user, pass) {
        (Some(u), Some(p)) => Some(Credentials {
            username: u.to_string(),
            secret: p.to_string(),
        }),
        _ => None,
    })
}

/// Saves credentials for `registry` (through the configured helper, else in `auths`).
pub fn store(registry: &str, creds: &Credentials) -> Result<PathBuf, CredentialsError> {
    let path = config_path();
    let mut config = read_config(&path)?;
    let key = config_key(registry);
    if let Some(helper) = helper_for(&config, registry) {
        let body = serde_json::json!({
            "ServerURL": key,
            "Username": creds.username,
            "Secret": creds.secret,
        });
        helper_call(&helper, "store", registry, body.to_string().as_bytes())?;
        // Docker leaves an empty entry in auths so `docker info` lists the login.
        with_auths(&mut config, |a| a.insert(key, Value::Object(Map::new())));
    } else {
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", creds.username, creds.secret));
        with_auths(&mut config, |a| {
            a.insert(key, serde_json::json!({ "auth": auth }))
        });
    }
    write_config(&path, &config)?;
    Ok(path)
}

/// Removes credentials for `registry`; returns false when there were none.
pub fn erase(registry: &str) -> Result<bool, CredentialsError> {
    let path = config_path();
    let mut config = read_config(&path)?;
    let key = config_key(registry);
    let mut found = false;
    if let Some(helper) = helper_for(&config, registry) {
        found = helper_call(&helper, "erase", registry, key.as_bytes()).is_ok();
    }
    with_auths(&mut config, |auths| {
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| **k == key || key_host(k) == key_host(&key))
            .cloned()
            .collect();
        for k in keys {
            auths.remove(&k);
            found = true;
        }
    });
    if found {
        write_config(&path, &config)?;
    }
    Ok(found)
}

/// Runs `f` on the `auths` object (created if missing or not an object).
fn with_auths<T>(
    config: &mut Map<String, Value>,
    f: impl FnOnce(&mut Map<String, Value>) -> T,
) -> T {
    let mut auths = match config.remove("auths") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let out = f(&mut auths);
    config.insert("auths".into(), Value::Object(auths));
    out
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>, CredentialsError> {
    let out = match helper_call(helper, "get", server, server.as_bytes()) {
        Ok(out) => out,
        // Helpers report a missing entry as an error containing this text.
        Err(CredentialsError::Helper { why, .. }) if why.contains("credentials not found") => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let v: Value = serde_json::from_slice(&out).map_err(|e| CredentialsError::Helper {
        helper: helper.to_string(),
        registry: server.to_string(),
        why: format!("invalid JSON answer: {e}"),
    })?;
    let user = v.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = v.get("Secret").and_then(Value::as_str).unwrap_or("");
    if secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: user.to_string(),
        secret: secret.to_string(),
    }))
}

/// Runs `docker-credential-HELPER ACTION` with `input` on stdin. Its stderr
/// and stdout are not put into errors on success paths; on failure only the
/// first line of stdout (the helper's error message) is.
fn helper_call(
    helper: &str,
    action: &str,
    registry: &str,
    input: &[u8],
) -> Result<Vec<u8>, CredentialsError> {
    let err = |why: String| CredentialsError::Helper {
        helper: helper.to_string(),
        registry: registry.to_string(),
        why,
    };
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| err(format!("writing to {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(format!("waiting for {program}: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout);
        let line = msg.lines().next().unwrap_or("").trim().to_string();
        return Err(err(format!("{} ({})", line, out.status)));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hosts() {
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("localhost:5000"), "localhost:5000");
        assert_eq!(key_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(key_host("http://h:5000"), "h:5000");
    }

    fn creds_from(json: &str, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
        let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        let m = v.as_object().cloned().unwrap_or_default();
        lookup_auths(&m, Path::new("config.json"), registry)
    }

    #[test]
    fn auths_entries_like_docker() {
        // base64("u:p:w") — passwords may contain ':'.
        let hub = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpwOnc="}}}"#;
        let c = creds_from(hub, "docker.io").ok().flatten();
        assert_eq!(
            c.map(|c| (c.username, c.secret)),
            Some(("u".into(), "p:w".into()))
        );
        let scheme = r#"{"auths":{"https://reg.example:5000":{"auth":"YTpi"}}}"#;
        let c = creds_from(scheme, "reg.example:5000").ok().flatten();
        assert_eq!(c.map(|c| c.username), Some("a".into()));
        let plain = r#"{"auths":{"h":{"username":"x","password":"y"}}}"#;
        assert!(creds_from(plain, "h").ok().flatten().is_some());
        assert!(creds_from(plain, "other").ok().flatten().is_none());
        let empty = r#"{"auths":{"h":{}}}"#;
        assert!(creds_from(empty, "h").ok().flatten().is_none());
        let bad = r#"{"auths":{"h":{"auth":"!!notbase64"}}}"#;
        let err = creds_from(bad, "h")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not base64"), "{err}");
    }

    #[test]
    fn helpers_prefer_per_registry() {
        let v: Value =
            serde_json::from_str(r#"{"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}"#)
                .unwrap_or(Value::Null);
        let m = v.as_object().cloned().unwrap_or_default();
        assert_eq!(helper_for(&m, "gcr.io").as_deref(), Some("gcloud"));
        assert_eq!(helper_for(&m, "quay.io").as_deref(), Some("desktop"));
    }

    #[test]
    fn debug_redacts_secret() {
        let c = Credentials {
            username: "u".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
