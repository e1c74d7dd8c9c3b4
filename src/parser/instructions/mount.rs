//! `RUN --mount=<csv>` specs: parsing each `key=value` field into a typed
//! [`Mount`] and validating it per mount type, as BuildKit's
//! `commands_runmount.go` does (same keys, defaults and messages). Setting
//! the mounts up is the executor's job.

use super::flags::suggest;

/// `type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    /// `target`/`dst`/`destination`. Required for bind, cache and tmpfs.
    pub target: Option<String>,
    /// `source`/`src`: path in `from` (bind/cache) or secret id (secret).
    pub source: Option<String>,
    /// `from`: a stage name or index, or an image.
    pub from: Option<String>,
    /// Defaults: read-write for cache and tmpfs, read-only otherwise.
    pub read_only: bool,
    /// `id`: cache id, secret id or ssh agent id.
    pub id: Option<String>,
    pub sharing: Option<Sharing>,
    /// `mode` (octal), `uid`, `gid`: secret, ssh and cache only.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `size` of a tmpfs, in bytes.
    pub size: Option<u64>,
    /// `required` (secret and ssh).
    pub required: bool,
    /// `env`: expose a secret as this environment variable.
    pub env: Option<String>,
}

/// Expands a mount option value (variable substitution), or says why not.
pub type ValueExpander<'a> = &'a mut dyn FnMut(&str) -> Result<String, String>;

const ALL_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "id",
    "sharing",
    "required",
    "mode",
    "uid",
    "gid",
    "size",
    "env",
];

/// Parses one `--mount` value. Without an expander (parse time), values that
/// hold a `$` are kept as written for string options and left at their
/// default for typed ones; `from` may not hold a variable at all.
pub fn parse_mount(spec: &str, mut expander: Option<ValueExpander<'_>>) -> Result<Mount, String> {
    let fields = csv_fields(spec)?;
    let mut m = Mount {
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        read_only: true,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        required: false,
        env: None,
    };
    let mut ro_auto = true;
    let mut pairs = Vec::with_capacity(fields.len());
    // The type decides which keys are allowed, wherever it is written.
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let value = match (value, expander.as_mut()) {
            (Some(v), Some(expand)) => Some(expand(&v)?),
            (Some(v), None) if key == "from" && has_variable(&v) => {
                return Err(
                    "'from' doesn't support variable expansion, define alias stage instead".into(),
                )
            }
            (v, _) => v,
        };
        if key == "type" {
            let value = value.unwrap_or_default();
            if expander.is_none() && has_variable(&value) {
                continue;
            }
            m.kind = parse_type(&value)?;
        } else {
            pairs.push((key, value, field));
        }
    }
    let deferred = expander.is_none();
    for (key, value, field) in pairs {
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => m.read_only = true,
                "readwrite" | "rw" => m.read_only = false,
                "required" => m.required = required_allowed(m.kind, &key)?,
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            if key != "required" {
                ro_auto = false;
            }
            continue;
        };
        let typed_later = deferred && has_variable(&value);
        match key.as_str() {
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "id" => m.id = Some(value),
            "env" if m.kind == MountType::Secret => m.env = Some(value),
            _ if typed_later => {}
            "readonly" | "ro" => {
                m.read_only = parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "required" => {
                required_allowed(m.kind, &key)?;
                m.required = parse_bool(&key, &value)?;
            }
            "size" if m.kind == MountType::Tmpfs => {
                m.size =
                    Some(ram_in_bytes(&value).ok_or(format!("invalid value for size: {value}"))?)
            }
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(with_hint(
                            format!("unsupported sharing value {value:?}"),
                            &value,
                            &["shared", "private", "locked"],
                        ))
                    }
                })
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "size" | "env" => {
                return Err(format!(
                    "unexpected key '{key}' for mount type '{}'",
                    m.kind.as_str()
                ))
            }
            _ => {
                return Err(with_hint(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &ALL_KEYS,
                ))
            }
        }
    }
    validate(&mut m, ro_auto)?;
    Ok(m)
}

fn validate(m: &mut Mount, ro_auto: bool) -> Result<(), String> {
    let kind = m.kind.as_str();
    let file_info_allowed = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(format!("{name} not allowed for {kind:?} type mounts"));
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(format!("invalid cache sharing set for {kind} mount"));
    }
    // BuildKit mounts at the working directory when `target` is left out
    // (real Dockerfiles rely on it: `RUN --mount=type=bind <<EOF`), so only
    // an explicitly empty `target=` is refused.
    if m.target.as_deref() == Some("") {
        return Err(format!("mount type {kind}: target= must not be empty"));
    }
    Ok(())
}

fn parse_type(value: &str) -> Result<MountType, String> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "bind" => MountType::Bind,
        "cache" => MountType::Cache,
        "tmpfs" => MountType::Tmpfs,
        "secret" => MountType::Secret,
        "ssh" => MountType::Ssh,
        _ => {
            return Err(with_hint(
                format!("unsupported mount type {value:?}"),
                value,
                &["bind", "cache", "tmpfs", "secret", "ssh"],
            ))
        }
    })
}

fn required_allowed(kind: MountType, key: &str) -> Result<bool, String> {
    match kind {
        MountType::Secret | MountType::Ssh => Ok(true),
        _ => Err(format!(
            "unexpected key '{key}' for mount type '{}'",
            kind.as_str()
        )),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    // Go's strconv.ParseBool.
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

fn has_variable(value: &str) -> bool {
    value.contains('$')
}

fn with_hint(message: String, value: &str, allowed: &[&str]) -> String {
    match suggest(value, allowed.iter().copied()) {
        Some(s) => format!("{message} (did you mean {s}?)"),
        None => message,
    }
}

/// Splits one CSV record the way Go's `encoding/csv` reads `--mount` values:
/// commas separate fields, a field may be wrapped in `"` with `""` for a quote.
fn csv_fields(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(format!(
                            "failed to parse csv mounts: unterminated quote in {spec:?}"
                        ))
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(format!(
                        "failed to parse csv mounts: extraneous \" in {spec:?}"
                    ))
                }
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some('"') => {
                        return Err(format!("failed to parse csv mounts: bare \" in {spec:?}"))
                    }
                    Some(c) => field.push(c),
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                }
            }
        }
        fields.push(field);
    }
}

/// Docker's `units.RAMInBytes`: `64m`, `1.5g`, `100`, `10KiB`; binary units.
fn ram_in_bytes(value: &str) -> Option<u64> {
    let s = value.trim();
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number: f64 = s.get(..digits_end)?.parse().ok()?;
    let unit = s.get(digits_end..)?.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let bytes = number * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_sizes() {
        assert_eq!(
            csv_fields(r#"type=bind,"target=/a,b",ro"#).unwrap(),
            vec!["type=bind", "target=/a,b", "ro"]
        );
        assert!(csv_fields(r#"target="x"#).is_err());
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("12x"), None);
    }
}
