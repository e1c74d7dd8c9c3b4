//! Docker-compatible `image inspect` JSON for a stored image: the fields
//! tools and scripts read (Id, RepoTags, RepoDigests, Created, Config,
//! Architecture, Os, Size, RootFS). Fields Docker fills from its daemon
//! (GraphDriver, ContainerConfig, Metadata) are omitted.

use crate::store::ImageRecord;
use serde_json::{json, Map, Value};

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
