//! The `# check=` parser directive (and the `BUILDKIT_DOCKERFILE_CHECK` build
//! arg, which replaces it): `skip=A,B` or `skip=all` turns rules off,
//! `experimental=A|all` turns experimental rules on, `error=true` makes every
//! finding an error. Options are separated by `;`. Parsing follows BuildKit's
//! `linter.ParseLintOptions`; unknown rule names are ignored as BuildKit does.

use super::find_rule;

/// A malformed `# check=` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("invalid check option {0:?}: expected key=value (skip=, error=, experimental=)")]
    NotKeyValue(String),
    #[error("invalid check option {0:?}: the keys are skip, error and experimental")]
    UnknownKey(String),
    #[error("failed to parse check option {0:?}: error must be true or false")]
    BadBool(String),
}

/// Which rules run and whether findings are errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    pub skip_all: bool,
    pub skip: Vec<String>,
    pub experimental_all: bool,
    pub experimental: Vec<String>,
    pub error_on_warn: bool,
}

impl CheckConfig {
    /// Parses a directive value such as `skip=JSONArgsRecommended;error=true`.
    pub fn parse(value: &str) -> Result<Self, CheckError> {
        let mut config = CheckConfig::default();
        let value = value.trim();
        if value.is_empty() {
            return Ok(config);
        }
        for part in value.splitn(3, ';') {
            let Some((key, raw)) = part.split_once('=') else {
                return Err(CheckError::NotKeyValue(part.to_string()));
            };
            let raw = raw.trim();
            match key.trim() {
                "skip" if raw == "all" => config.skip_all = true,
                "skip" => config.skip = split_names(raw),
                "experimental" if raw == "all" => config.experimental_all = true,
                "experimental" => config.experimental = split_names(raw),
                "error" => {
                    config.error_on_warn =
                        parse_go_bool(raw).ok_or_else(|| CheckError::BadBool(part.to_string()))?
                }
                other => return Err(CheckError::UnknownKey(other.to_string())),
            }
        }
        Ok(config)
    }

    /// Whether `rule` runs under this configuration.
    pub fn is_enabled(&self, rule: &str) -> bool {
        let explicitly_experimental = self.experimental.iter().any(|r| r == rule);
        if find_rule(rule).is_some_and(|r| r.experimental)
            && !self.experimental_all
            && !explicitly_experimental
        {
            return false;
        }
        if self.skip_all {
            // An experimental rule named explicitly still runs.
            return explicitly_experimental;
        }
        !self.skip.iter().any(|r| r == rule)
    }
}

fn split_names(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_skip_error_and_experimental() {
        let c = CheckConfig::parse("skip=JSONArgsRecommended, StageNameCasing;error=true").unwrap();
        assert_eq!(c.skip, ["JSONArgsRecommended", "StageNameCasing"]);
        assert!(c.error_on_warn);
        assert!(!c.is_enabled("StageNameCasing"));
        assert!(c.is_enabled("FromAsCasing"));
        assert!(!c.is_enabled("CopyIgnoredFile"));

        let all = CheckConfig::parse("skip=all;experimental=CopyIgnoredFile").unwrap();
        assert!(!all.is_enabled("FromAsCasing"));
        assert!(all.is_enabled("CopyIgnoredFile"));
        assert!(CheckConfig::parse("experimental=all")
            .unwrap()
            .is_enabled("CopyIgnoredFile"));
        assert!(CheckConfig::parse("").unwrap().is_enabled("UndefinedVar"));
    }

    #[test]
    fn rejects_malformed_values() {
        assert!(matches!(
            CheckConfig::parse("skip"),
            Err(CheckError::NotKeyValue(_))
        ));
        assert!(matches!(
            CheckConfig::parse("foo=bar"),
            Err(CheckError::UnknownKey(_))
        ));
        assert!(matches!(
            CheckConfig::parse("error=yes"),
            Err(CheckError::BadBool(_))
        ));
    }
}
