//! Go templates for `--format`/`-f` (inspect, ps, ...) through the gtmpl
//! crate, with docker's extra functions: `json`, `join`, `split`, `lower`,
//! `upper`, `title`, `pad`, `truncate`. Data comes in as serde_json values.

use gtmpl::{Context, FuncError, Template, Value};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: executing {template:?}: {detail}")]
    Exec { template: String, detail: String },
}

/// Converts JSON into template data (objects become maps: missing keys
/// print `<no value>` as in Go).
pub fn to_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::from(i),
            (_, Some(u), _) => Value::from(u),
            (_, _, Some(f)) => Value::from(f),
            _ => Value::Nil,
        },
        J::String(s) => Value::String(s.clone()),
        J::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        J::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// Converts template data back to JSON (for the `json` function).
fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::String(s) => J::String(s.clone()),
        Value::Number(n) => n
            .as_i64()
            .map(J::from)
            .or_else(|| n.as_u64().map(J::from))
            .or_else(|| n.as_f64().map(J::from))
            .unwrap_or(J::Null),
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            J::Object(o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str, n: usize) -> Result<&'a Value, FuncError> {
    if args.len() != n {
        return Err(FuncError::ExactlyXArgs(name.to_string(), n));
    }
    args.get(i)
        .ok_or_else(|| FuncError::ExactlyXArgs(name.to_string(), n))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg(args, 0, "json", 1)?;
    Ok(Value::String(to_json(v).to_string()))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = text(arg(args, 1, "join", 2)?);
    match arg(args, 0, "join", 2)? {
        Value::Array(a) => Ok(Value::String(
            a.iter().map(text).collect::<Vec<_>>().join(&sep),
        )),
        _ => Err(FuncError::Generic(
            "join: first argument must be a list".into(),
        )),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "split", 2)?);
    let sep = text(arg(args, 1, "split", 2)?);
    Ok(Value::Array(
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect(),
    ))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        text(arg(args, 0, "lower", 1)?).to_lowercase(),
    ))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        text(arg(args, 0, "upper", 1)?).to_uppercase(),
    ))
}

fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "title", 1)?);
    let mut c = s.chars();
    Ok(Value::String(match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }))
}

fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "truncate", 2)?);
    let n = match arg(args, 1, "truncate", 2)? {
        Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
        _ => return Err(FuncError::UnableToConvertFromValue),
    };
    Ok(Value::String(s.chars().take(n).collect()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    if args.len() != 3 {
        return Err(FuncError::ExactlyXArgs("pad".into(), 3));
    }
    let num = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        _ => 0,
    };
    let s = args.first().map(text).unwrap_or_default();
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(num(args.get(1))),
        " ".repeat(num(args.get(2)))
    )))
}

/// A parsed template, reusable for many values.
pub struct Format {
    source: String,
    tmpl: Template,
}

impl Format {
    pub fn parse(source: &str) -> Result<Format, TemplateError> {
        let mut tmpl = Template::default();
        for (name, f) in [
            ("json", json as gtmpl::Func),
            ("join", join),
            ("split", split),
            ("lower", lower),
            ("upper", upper),
            ("title", title),
            ("truncate", truncate),
            ("pad", pad),
        ] {
            tmpl.add_func(name, f);
        }
        tmpl.parse(source)
            .map_err(|e| TemplateError::Parse(e.to_string()))?;
        Ok(Format {
            source: source.to_string(),
            tmpl,
        })
    }

    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.tmpl
            .render(&Context::from(to_value(data)))
            .map_err(|e| TemplateError::Exec {
                template: self.source.clone(),
                detail: e.to_string(),
            })
    }
}

/// Renders `source` once against `data`.
pub fn render(source: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
    Format::parse(source)?.render(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_template_features() {
        let v = json!({"Config": {"Hostname": "web", "Env": ["A=1", "B=2"]},
                       "State": {"Running": true, "Pid": 42},
                       "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}}});
        let r = |t: &str| render(t, &v).unwrap_or_else(|e| e.to_string());
        assert_eq!(r("{{ .Config.Hostname }}"), "web");
        assert_eq!(r("{{json .State}}"), r#"{"Pid":42,"Running":true}"#);
        assert_eq!(r("{{range .Config.Env}}[{{.}}]{{end}}"), "[A=1][B=2]");
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}"), "up");
        assert_eq!(r("{{.State.Pid}}"), "42");
        assert_eq!(r("{{join .Config.Env \",\"}}"), "A=1,B=2");
        assert_eq!(r("{{upper .Config.Hostname}}"), "WEB");
        assert_eq!(
            r("{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{(index $b 0).HostPort}}{{end}}"),
            "80/tcp->8080"
        );
        assert_eq!(r("{{.Nope}}"), "<no value>");
        assert!(render("{{.Config", &v).is_err());
    }
}
