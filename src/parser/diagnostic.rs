//! A finding about a Dockerfile, shared by the front end (errors) and the
//! linter (warnings): where it is (file, line, column), how bad it is, which
//! rule produced it, and a message. It formats itself the way BuildKit prints
//! parse errors; it does not decide exit codes or output formats.

use serde::Serialize;
use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, pointing at a place in a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The lint rule (BuildKit build-check name) or `None` for a plain error.
    pub rule: Option<String>,
    pub message: String,
    /// The Dockerfile path as the user named it (may be empty when unknown).
    pub file: String,
    /// 1-based; 0 when the finding is about the whole file.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
}

impl Diagnostic {
    /// An error with no rule, at `line:column` of an as yet unnamed file.
    pub fn error(line: usize, column: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            rule: None,
            message: message.into(),
            file: String::new(),
            line,
            column,
        }
    }

    /// A warning from lint rule `rule`.
    pub fn warning(rule: &str, line: usize, column: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            rule: Some(rule.to_string()),
            message: message.into(),
            file: String::new(),
            line,
            column,
        }
    }

    /// Names the file the finding is in (builder style).
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = file.into();
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `Dockerfile:12:5: error: message` (`[Rule]` after the severity when set);
    /// parts that are unknown (empty file, line 0) are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = self.file.clone();
        if self.line > 0 {
            if !place.is_empty() {
                place.push(':');
            }
            place.push_str(&self.line.to_string());
            if self.column > 0 {
                place.push_str(&format!(":{}", self.column));
            }
        } else if place.is_empty() {
            place.push_str("Dockerfile");
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{place}: {severity}")?;
        if let Some(rule) = &self.rule {
            write!(f, " [{rule}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_and_rule() {
        let d =
            Diagnostic::warning("StageNameCasing", 3, 1, "use lower case").in_file("Dockerfile");
        assert_eq!(
            d.to_string(),
            "Dockerfile:3:1: warning [StageNameCasing]: use lower case"
        );
        let e = Diagnostic::error(0, 0, "file with no instructions");
        assert_eq!(
            e.to_string(),
            "Dockerfile: error: file with no instructions"
        );
    }
}
