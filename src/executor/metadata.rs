//! Metadata-only instructions applied to an image config, with the history
//! text BuildKit records for each (ENV, LABEL, EXPOSE, VOLUME, USER,
//! ENTRYPOINT, CMD, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER).
//! WORKDIR's config part is here too; creating the directory is the stage's.
//! Nothing here touches the filesystem.

use super::state::ImageState;
use crate::parser::instructions::{CommandLine, Healthcheck, Instruction};
use std::collections::HashMap;

/// Applies a metadata instruction (already expanded) and returns the history
/// `created_by` text; `None` for instructions this module does not handle.
pub fn apply(state: &mut ImageState, instruction: &Instruction) -> Option<String> {
    Some(match instruction {
        Instruction::Env(pairs) => {
            let mut text = String::from("ENV");
            for kv in pairs {
                set_env(state, &kv.key, &kv.value);
                text.push_str(&format!(" {}={}", kv.key, kv.value));
            }
            text
        }
        Instruction::Label(pairs) => {
            let mut text = String::from("LABEL");
            let cfg = state.runtime();
            let mut labels = cfg.labels().clone().unwrap_or_default();
            for kv in pairs {
                labels.insert(kv.key.clone(), kv.value.clone());
                text.push_str(&format!(" {}={}", kv.key, kv.value));
            }
            cfg.set_labels(Some(labels));
            text
        }
        Instruction::Expose(ports) => {
            let keys = crate::parser::instructions::exposed_ports(ports).unwrap_or_default();
            let cfg = state.runtime();
            let mut all = cfg.exposed_ports().clone().unwrap_or_default();
            for k in &keys {
                if !all.contains(k) {
                    all.push(k.clone());
                }
            }
            all.sort();
            cfg.set_exposed_ports(Some(all));
            let map: Vec<String> = keys.iter().map(|k| format!("{k}:{{}}")).collect();
            format!("EXPOSE map[{}]", map.join(" "))
        }
        Instruction::Volume(vols) => {
            let cfg = state.runtime();
            let mut all = cfg.volumes().clone().unwrap_or_default();
            for v in vols {
                if !all.contains(v) {
                    all.push(v.clone());
                }
            }
            all.sort();
            cfg.set_volumes(Some(all));
            format!("VOLUME [{}]", vols.join(" "))
        }
        Instruction::User(user) => {
            state.runtime().set_user(Some(user.clone()));
            format!("USER {user}")
        }
        Instruction::Entrypoint(cmd) => {
            let args = command_args(state, cmd);
            let cfg = state.runtime();
            cfg.set_entrypoint(Some(args.clone()));
            // An ENTRYPOINT resets the CMD inherited from the base image.
            cfg.set_cmd(None);
            format!("ENTRYPOINT {}", json_list(&args))
        }
        Instruction::Cmd(cmd) => {
            let args = command_args(state, cmd);
            state.runtime().set_cmd(Some(args.clone()));
            format!("CMD {}", json_list(&args))
        }
        Instruction::StopSignal(sig) => {
            state.runtime().set_stop_signal(Some(sig.clone()));
            format!("STOPSIGNAL {sig}")
        }
        Instruction::Shell(shell) => {
            state.extras.shell = Some(shell.clone());
            format!("SHELL {}", json_list(shell))
        }
        Instruction::Onbuild(ob) => {
            state.extras.on_build.push(ob.expression.clone());
            format!("ONBUILD {}", ob.expression)
        }
        Instruction::Maintainer(who) => {
            state.config.set_author(Some(who.clone()));
            format!("MAINTAINER {who}")
        }
        Instruction::Healthcheck(hc) => {
            let value = healthcheck_json(state.extras.healthcheck.as_ref(), hc);
            let text = format!("HEALTHCHECK {value}");
            state.extras.healthcheck = Some(value);
            text
        }
        _ => return None,
    })
}

/// Sets (or replaces) one ENV variable in the config.
pub fn set_env(state: &mut ImageState, key: &str, value: &str) {
    let cfg = state.runtime();
    let mut env = cfg.env().clone().unwrap_or_default();
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
    cfg.set_env(Some(env));
}

/// Sets the config's WORKDIR: relative paths are relative to the current one.
pub fn set_workdir(state: &mut ImageState, dir: &str) -> String {
    let full = if dir.starts_with('/') {
        crate::context::clean_path(dir)
    } else {
        crate::context::clean_path(&format!("{}/{dir}", state.workdir()))
    };
    state.runtime().set_working_dir(Some(full.clone()));
    full
}

/// CMD/ENTRYPOINT arguments: shell form goes through the stage's SHELL.
pub fn command_args(state: &ImageState, cmd: &CommandLine) -> Vec<String> {
    if cmd.prepend_shell {
        let mut args = state.shell();
        args.push(cmd.args.join(" "));
        args
    } else {
        cmd.args.clone()
    }
}

/// A JSON list the way BuildKit's history shows it (`["a","b"]`).
pub fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// The config `Healthcheck` for `hc`; unset fields of a CMD keep the
/// inherited values, as Docker does. Durations are Go nanoseconds.
fn healthcheck_json(inherited: Option<&serde_json::Value>, hc: &Healthcheck) -> serde_json::Value {
    let cmd = match hc {
        Healthcheck::None => return serde_json::json!({ "Test": ["NONE"] }),
        Healthcheck::Cmd(c) => c,
    };
    let mut fields: HashMap<&str, serde_json::Value> = HashMap::new();
    if let Some(obj) = inherited.and_then(|v| v.as_object()) {
        for key in [
            "Interval",
            "Timeout",
            "StartPeriod",
            "StartInterval",
            "Retries",
        ] {
            if let Some(v) = obj.get(key) {
                fields.insert(key, v.clone());
            }
        }
    }
    let durations = [
        ("Interval", cmd.interval),
        ("Timeout", cmd.timeout),
        ("StartPeriod", cmd.start_period),
        ("StartInterval", cmd.start_interval),
    ];
    for (key, d) in durations {
        if let Some(d) = d {
            fields.insert(key, serde_json::json!(d.as_nanos() as u64));
        }
    }
    if let Some(r) = cmd.retries {
        fields.insert("Retries", serde_json::json!(r));
    }
    let mut obj = serde_json::Map::new();
    obj.insert("Test".into(), serde_json::json!(cmd.test));
    for (k, v) in fields {
        obj.insert(k.to_string(), v);
    }
    serde_json::Value::Object(obj)
}
