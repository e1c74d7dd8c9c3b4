//! `--change` instructions for `rbuild import` (`CMD ["sh"]`, `ENV A=b`,
//! `EXPOSE 80/tcp`, ...): a small subset of Dockerfile syntax applied to an
//! image config. Only config-changing instructions are accepted; JSON or
//! shell form for CMD/ENTRYPOINT, no variable expansion.

use oci_spec::image::{Config, ImageConfiguration};

/// Errors from a `--change` value.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("--change {0:?}: expected INSTRUCTION ARGS")]
    Empty(String),
    #[error("--change {0:?}: {1} is not supported (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR or STOPSIGNAL)")]
    Unsupported(String, String),
    #[error("--change {0:?}: {1}")]
    Bad(String, &'static str),
}

/// Applies one `--change` value to `config`.
pub fn apply_change(config: &mut ImageConfiguration, change: &str) -> Result<(), ChangeError> {
    let trimmed = change.trim();
    let (instr, args) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    let args = args.trim();
    if instr.is_empty() || args.is_empty() {
        return Err(ChangeError::Empty(change.to_string()));
    }
    let bad = |why| ChangeError::Bad(change.to_string(), why);
    let mut c: Config = config.config().clone().unwrap_or_default();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => c.set_cmd(Some(
            command(args).ok_or_else(|| bad("invalid JSON array"))?,
        )),
        "ENTRYPOINT" => c.set_entrypoint(Some(
            command(args).ok_or_else(|| bad("invalid JSON array"))?,
        )),
        "ENV" => {
            let mut env = c.env().clone().unwrap_or_default();
            for (k, v) in
                key_values(args).ok_or_else(|| bad("expected NAME=VALUE or NAME VALUE"))?
            {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
            c.set_env(Some(env))
        }
        "LABEL" => {
            let mut labels = c.labels().clone().unwrap_or_default();
            labels.extend(key_values(args).ok_or_else(|| bad("expected KEY=VALUE"))?);
            c.set_labels(Some(labels))
        }
        "EXPOSE" => {
            let mut ports = c.exposed_ports().clone().unwrap_or_default();
            for p in args.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            c.set_exposed_ports(Some(ports))
        }
        "VOLUME" => {
            let mut vols = c.volumes().clone().unwrap_or_default();
            let list = if args.starts_with('[') {
                serde_json::from_str::<Vec<String>>(args).map_err(|_| bad("invalid JSON array"))?
            } else {
                args.split_whitespace().map(str::to_string).collect()
            };
            vols.extend(list);
            c.set_volumes(Some(vols))
        }
        "USER" => c.set_user(Some(args.to_string())),
        "WORKDIR" => c.set_working_dir(Some(args.to_string())),
        "STOPSIGNAL" => c.set_stop_signal(Some(args.to_string())),
        other => {
            return Err(ChangeError::Unsupported(
                change.to_string(),
                other.to_string(),
            ))
        }
    };
    config.set_config(Some(c));
    Ok(())
}

/// JSON array form, or shell form run by `/bin/sh -c`.
fn command(args: &str) -> Option<Vec<String>> {
    if args.starts_with('[') {
        serde_json::from_str(args).ok()
    } else {
        Some(vec!["/bin/sh".into(), "-c".into(), args.to_string()])
    }
}

/// `K=V K2="v 2"` pairs, or the legacy single `K V` form.
fn key_values(args: &str) -> Option<Vec<(String, String)>> {
    let first = args.split_whitespace().next()?;
    if !first.contains('=') {
        let (k, v) = args.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut rest = args.trim_start();
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let (v, next) = match after.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"')?;
                (q.get(..end)?.to_string(), q.get(end + 1..)?)
            }
            None => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (after.get(..end)?.to_string(), after.get(end..)?)
            }
        };
        out.push((k.to_string(), v));
        rest = next.trim_start();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_changes() {
        let mut cfg = ImageConfiguration::default();
        for ch in [
            "CMD [\"/bin/sh\"]",
            "ENV A=1 B=\"two words\"",
            "ENV A 3",
            "EXPOSE 80 53/udp",
            "WORKDIR /w",
        ] {
            assert!(apply_change(&mut cfg, ch).is_ok(), "{ch}");
        }
        let c = cfg.config().clone().unwrap_or_default();
        assert_eq!(c.cmd().clone(), Some(vec!["/bin/sh".to_string()]));
        assert_eq!(
            c.env().clone(),
            Some(vec!["B=two words".to_string(), "A=3".to_string()])
        );
        assert_eq!(
            c.exposed_ports().clone(),
            Some(vec!["80/tcp".to_string(), "53/udp".to_string()])
        );
        assert!(apply_change(&mut cfg, "RUN x").is_err());
        assert!(apply_change(&mut cfg, "CMD [broken").is_err());
    }
}
