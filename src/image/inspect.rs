//! Docker-compatible `image inspect` JSON for a stored image: the fields
//! tools and scripts read (Id, RepoTags, RepoDigests, Created, Config,
//! Architecture, Os, Size, RootFS). Fields Docker fills from its daemon
//! (GraphDriver, ContainerConfig, Metadata) are omitted.

use crate::store::ImageRecord;
use serde_json::{json, Map, Value};

/// Errors from `--format` templates.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("--format {0:?}: unterminated '{{{{'")]
    Unterminated(String),
    #[error("--format {0:?}: only '{{{{.Field.Path}}}}' and '{{{{json .Field.Path}}}}' are supported, not {1:?}")]
    Unsupported(String, String),
}

/// Expands the `{{.A.B}}` / `{{json .A.B}}` subset of Docker's Go templates
/// against `value`: strings print raw, other values as JSON, missing as `<no value>`.
pub fn format_fields(value: &Value, template: &str) -> Result<String, FormatError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let end = after
            .find("}}")
            .ok_or_else(|| FormatError::Unterminated(template.to_string()))?;
        let action = after.get(..end).unwrap_or_default().trim();
        let (as_json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let path = path
            .strip_prefix('.')
            .ok_or_else(|| FormatError::Unsupported(template.to_string(), action.to_string()))?;
        let mut v = Some(value);
        for key in path.split('.').filter(|k| !k.is_empty()) {
            v = v.and_then(|x| x.get(key));
        }
        match (v, as_json) {
            (None, _) => out.push_str("<no value>"),
            (Some(Value::String(s)), false) => out.push_str(s),
            (Some(x), _) => out.push_str(&x.to_string()),
        }
        rest = after.get(end + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// The inspect object for one image.
pub fn inspect_json(rec: &ImageRecord) -> Value {
    let cfg = &rec.config;
    let c = cfg.config().clone().unwrap_or_default();
    let repo_tags: Vec<String> = rec
        .names
        .iter()
        .filter(|n| n.tag().is_some())
        .map(|n| n.familiar())
        .collect();
    let mut repo_digests: Vec<String> = rec
        .names
        .iter()
        .map(|n| format!("{}@{}", n.familiar_repository(), rec.manifest_digest))
        .collect();
    repo_digests.dedup();
    let set = |v: &Option<Vec<String>>| -> Value {
        match v {
            Some(list) => Value::Object(
                list.iter()
                    .map(|k| (k.clone(), json!({})))
                    .collect::<Map<_, _>>(),
            ),
            None => Value::Null,
        }
    };
    let author = cfg.author().clone().unwrap_or_default();
    let comment = cfg
        .history()
        .as_ref()
        .and_then(|h| h.last())
        .and_then(|h| h.comment().clone())
        .unwrap_or_default();
    json!({
        "Id": rec.id.to_string(),
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": cfg.created().clone().unwrap_or_default(),
        "DockerVersion": "",
        "Author": author,
        "Config": {
            "Hostname": "",
            "Domainname": "",
            "User": c.user().clone().unwrap_or_default(),
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "ExposedPorts": set(c.exposed_ports()),
            "Tty": false,
            "OpenStdin": false,
            "StdinOnce": false,
            "Env": c.env(),
            "Cmd": c.cmd(),
            "Image": "",
            "Volumes": set(c.volumes()),
            "WorkingDir": c.working_dir().clone().unwrap_or_default(),
            "Entrypoint": c.entrypoint(),
            "OnBuild": Value::Null,
            "Labels": c.labels(),
            "StopSignal": c.stop_signal(),
        },
        "Architecture": cfg.architecture().to_string(),
        "Variant": cfg.variant(),
        "Os": cfg.os().to_string(),
        "Size": rec.size,
        "RootFS": {
            "Type": cfg.rootfs().typ(),
            "Layers": cfg.rootfs().diff_ids(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fields() {
        let v = json!({"Id": "sha256:x", "Config": {"Cmd": ["sh"], "User": ""}});
        let f = |t: &str| format_fields(&v, t).unwrap_or_else(|e| e.to_string());
        assert_eq!(f("{{.Id}}"), "sha256:x");
        assert_eq!(
            f("id={{ .Id }} cmd={{json .Config.Cmd}}"),
            r#"id=sha256:x cmd=["sh"]"#
        );
        assert_eq!(f("{{.Nope}}"), "<no value>");
        assert!(format_fields(&v, "{{.Id").is_err());
        assert!(format_fields(&v, "{{range .X}}").is_err());
    }
}
