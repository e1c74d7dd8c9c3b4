//! `.dockerignore`: which context paths a build must not see.
//!
//! Semantics follow Docker exactly (moby/patternmatcher and BuildKit's
//! dockerignore reader): one pattern per line; lines *starting* with `#` are
//! comments; blank lines are skipped; a leading `!` makes an exception that
//! re-includes; patterns are trimmed, cleaned like Go's `filepath.Clean`, and a
//! leading `/` is dropped. Matching uses Go `filepath.Match` syntax (`*` and
//! `?` never cross `/`, `[...]` classes with `^` negation, `\` escapes) plus
//! `**`, which matches any number of directories. The last matching pattern
//! wins, and a path is also excluded when one of its parent directories is.
//! `<Dockerfile name>.dockerignore` next to the Dockerfile takes precedence
//! over the context's `.dockerignore`.
//!
//! This module does not walk the context; walkers ask [`DockerIgnore`] per
//! path ([`DockerIgnore::matches_with_parent`] is the incremental form) and
//! may prune with [`DockerIgnore::dir_may_contain_included`].

use super::clean_path;
use super::pattern::{compile_pattern, contains_wildcards, without_trailing_glob, Pattern};
use std::path::{Path, PathBuf};

/// Errors reading or compiling ignore patterns.
#[derive(Debug, thiserror::Error)]
pub enum DockerIgnoreError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a regular file inside its directory; it must be a plain text file of patterns", path.display())]
    NotRegularFile { path: PathBuf },
    #[error("{} is not valid UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{origin}: invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        /// `file:line`, or `pattern N` for patterns given in code.
        origin: String,
        pattern: String,
        reason: String,
    },
}

/// Per-pattern match results of a parent directory, for incremental walks
/// (BuildKit's `MatchInfo`). The default value means "unknown".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentMatches(Vec<bool>);

/// A compiled `.dockerignore`.
#[derive(Debug, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    /// Some pattern is a `!` exception.
    has_exclusions: bool,
    /// Every exception is a plain path prefix (no wildcard before a trailing
    /// `/*` or `/**`), so excluded directories can be pruned by prefix.
    only_prefix_exceptions: bool,
    /// The file the patterns came from, if any.
    source: Option<PathBuf>,
}

impl DockerIgnore {
    /// Finds and reads the ignore file for a build: `<dockerfile>.dockerignore`
    /// next to the Dockerfile if it exists, else `<context_dir>/.dockerignore`.
    /// No file means nothing is excluded. Pass `None` for a Dockerfile read
    /// from stdin.
    pub fn load(context_dir: &Path, dockerfile: Option<&Path>) -> Result<Self, DockerIgnoreError> {
        // (file, the directory it must stay inside)
        let mut candidates = Vec::with_capacity(2);
        if let Some(dockerfile) = dockerfile {
            if let Some(name) = dockerfile.file_name() {
                let mut ignore_name = name.to_os_string();
                ignore_name.push(".dockerignore");
                let dir = match dockerfile.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                candidates.push((dir.join(ignore_name), dir));
            }
        }
        candidates.push((context_dir.join(".dockerignore"), context_dir));
        for (candidate, root) in candidates {
            let meta = match std::fs::symlink_metadata(&candidate) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(DockerIgnoreError::Read {
                        path: candidate,
                        source,
                    })
                }
            };
            // Docker reads the file through the context snapshot, so a
            // symlink only works when it resolves inside that directory.
            let usable = meta.is_file()
                || (meta.file_type().is_symlink() && resolves_inside(&candidate, root));
            if !usable {
                return Err(DockerIgnoreError::NotRegularFile { path: candidate });
            }
            let bytes = std::fs::read(&candidate).map_err(|source| DockerIgnoreError::Read {
                path: candidate.clone(),
                source,
            })?;
            let text = String::from_utf8(bytes).map_err(|_| DockerIgnoreError::NotUtf8 {
                path: candidate.clone(),
            })?;
            return Self::parse(&text, Some(&candidate));
        }
        Ok(Self::default())
    }

    /// Parses the text of a `.dockerignore` file. `source` names the file in
    /// errors and is remembered for messages.
    pub fn parse(text: &str, source: Option<&Path>) -> Result<Self, DockerIgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            // Docker only treats `#` in the first column as a comment.
            if line.starts_with('#') {
                continue;
            }
            let Some(pattern) = normalize_line(line) else {
                continue;
            };
            let origin = match source {
                Some(path) => format!("{}:{}", path.display(), index + 1),
                None => format!("line {}", index + 1),
            };
            lines.push((origin, pattern));
        }
        let mut ignore = Self::compile(lines)?;
        ignore.source = source.map(Path::to_path_buf);
        Ok(ignore)
    }

    /// Builds a matcher from pattern lines as they would appear in a
    /// `.dockerignore` file, minus comment handling (`!` exceptions allowed).
    pub fn from_patterns<I, S>(patterns: I) -> Result<Self, DockerIgnoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let lines = patterns
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| Some((format!("pattern {}", i + 1), normalize_line(p.as_ref())?)));
        Self::compile(lines)
    }

    fn compile(
        lines: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, DockerIgnoreError> {
        let mut ignore = DockerIgnore {
            only_prefix_exceptions: true,
            ..Self::default()
        };
        for (origin, raw) in lines {
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean_path(trimmed);
            let (exclusion, body) = match cleaned.strip_prefix('!') {
                Some("") => {
                    return Err(DockerIgnoreError::BadPattern {
                        origin,
                        pattern: raw,
                        reason: "illegal exclusion pattern \"!\"".to_string(),
                    })
                }
                Some(rest) => (true, rest.to_string()),
                None => (false, cleaned),
            };
            let kind = compile_pattern(&body).map_err(|reason| DockerIgnoreError::BadPattern {
                origin,
                pattern: raw.clone(),
                reason,
            })?;
            if exclusion {
                ignore.has_exclusions = true;
                if contains_wildcards(without_trailing_glob(&body)) {
                    ignore.only_prefix_exceptions = false;
                }
            }
            ignore.patterns.push(Pattern {
                exclusion,
                cleaned: body,
                kind,
            });
        }
        Ok(ignore)
    }

    /// The file the patterns were read from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// True when there are no patterns (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern is a `!` exception.
    pub fn has_exclusions(&self) -> bool {
        self.has_exclusions
    }

    /// The cleaned patterns in order, each with `true` for a `!` exception.
    pub fn patterns(&self) -> impl Iterator<Item = (&str, bool)> {
        self.patterns
            .iter()
            .map(|p| (p.cleaned.as_str(), p.exclusion))
    }

    /// Whether the context path `rel_path` (slash-separated, relative to the
    /// context root; it is cleaned first) is excluded: the last pattern that
    /// matches it or one of its parent directories decides. The context root
    /// itself is never excluded. This is Docker's `MatchesOrParentMatches`.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        // Walkers pass clean paths; only pay for cleaning when needed.
        let cleaned = if is_clean_relative(rel_path) {
            std::borrow::Cow::Borrowed(rel_path)
        } else {
            std::borrow::Cow::Owned(clean_path(rel_path))
        };
        let path = cleaned.trim_start_matches('/');
        if path.is_empty() || path == "." {
            return false;
        }
        let mut matched = false;
        for pattern in &self.patterns {
            // An include cannot change an already-excluded path and an
            // exception cannot change an included one: skip the work.
            if pattern.exclusion != matched {
                continue;
            }
            if pattern.matches_self_or_parent(path) {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Incremental form of [`is_excluded`](Self::is_excluded) for walks that
    /// visit a directory before its contents (BuildKit's
    /// `MatchesUsingParentResults`): pass the [`ParentMatches`] returned for
    /// the parent directory (or the default for top-level entries, which then
    /// checks ancestors directly). `rel_path` must already be clean.
    pub fn matches_with_parent(
        &self,
        rel_path: &str,
        parent: &ParentMatches,
    ) -> (bool, ParentMatches) {
        let known = parent.0.len() == self.patterns.len() && !parent.0.is_empty();
        let mut results = vec![false; self.patterns.len()];
        let mut matched = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = known && parent.0.get(i).copied().unwrap_or(false);
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = if known {
                    pattern.matches(rel_path)
                } else {
                    pattern.matches_self_or_parent(rel_path)
                };
            }
            if let Some(slot) = results.get_mut(i) {
                *slot = hit;
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, ParentMatches(results))
    }

    /// For an excluded directory: whether an exception could re-include
    /// something inside it, so a walker must still descend. False means the
    /// whole directory can be skipped. Conservative (true) whenever an
    /// exception has wildcards, exactly like BuildKit's walker.
    pub fn dir_may_contain_included(&self, rel_dir: &str) -> bool {
        if !self.has_exclusions {
            return false;
        }
        if !self.only_prefix_exceptions {
            return true;
        }
        let cleaned = clean_path(rel_dir);
        let dir_slash = format!("{}/", cleaned.trim_start_matches('/'));
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            let prefix = format!("{}/", without_trailing_glob(&p.cleaned));
            prefix.starts_with(&dir_slash)
        })
    }
}

/// True when the symlink `link` resolves to a regular file inside `root`.
fn resolves_inside(link: &Path, root: &Path) -> bool {
    match (std::fs::canonicalize(link), std::fs::canonicalize(root)) {
        (Ok(target), Ok(root)) => target.starts_with(&root) && target.is_file(),
        _ => false,
    }
}

/// True when `clean_path` would return `path` unchanged and it is relative:
/// no empty, `.` or `..` elements and no leading or trailing `/`.
fn is_clean_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|element| !matches!(element, "" | "." | ".."))
}

/// Docker's per-line normalisation (BuildKit `dockerignore.ReadAll`): trim,
/// split off `!`, clean, drop a leading `/`. `None` for a blank line.
fn normalize_line(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    let (invert, body) = match trimmed.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, trimmed),
    };
    let mut pattern = if body.is_empty() {
        String::new()
    } else {
        let cleaned = clean_path(body);
        match cleaned.strip_prefix('/') {
            Some(rest) if !rest.is_empty() => rest.to_string(),
            _ => cleaned,
        }
    };
    if invert {
        pattern.insert(0, '!');
    }
    Some(pattern)
}
