//! Printing diagnostics: compiler-style text (`file:line:col: severity
//! [Rule]: message`, then the source line with a caret under the column) and
//! one JSON object for CI. Writes to any `io::Write`; it does not decide exit
//! codes.

use crate::parser::diagnostic::Diagnostic;
use crate::parser::stages::StageNode;
use serde::Serialize;
use std::io::{self, Write};

/// Writes each diagnostic with its source line and a caret. `source` is the
/// Dockerfile text (lines are looked up in it; out-of-range lines print no
/// snippet).
pub fn write_text(out: &mut dyn Write, diagnostics: &[Diagnostic], source: &str) -> io::Result<()> {
    let lines: Vec<&str> = source.lines().collect();
    for d in diagnostics {
        writeln!(out, "{d}")?;
        let Some(text) = d.line.checked_sub(1).and_then(|i| lines.get(i)) else {
            continue;
        };
        let number = d.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(out, " {number} | {text}")?;
        if d.column > 0 {
            // Keep tabs so the caret lines up under tab-indented text.
            let lead: String = text
                .chars()
                .take(d.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(out, " {pad} | {lead}^")?;
        }
    }
    Ok(())
}

/// The JSON report: `{"diagnostics": [...], "target": N, "stages": [...]}`.
/// Diagnostic fields are stable: severity, rule, message, file, line,
/// column. `target` and `stages` (the frontend's [`StageNode`]s) are left out
/// when the file did not get that far (parse or instruction errors).
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub diagnostics: &'a [Diagnostic],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<&'a [StageNode]>,
}

/// Writes the report as one line of JSON.
pub fn write_json(out: &mut dyn Write, report: &JsonReport<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, report)?;
    writeln!(out)
}
