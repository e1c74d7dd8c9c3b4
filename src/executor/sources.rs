//! Finding COPY/ADD sources in a root (the context or another stage's
//! filesystem): root-confined path resolution that follows symlinks without
//! ever leaving the root, Go `filepath.Match` wildcards per path component,
//! and the `.dockerignore` check. It reads directories; it copies nothing.

use super::ExecError;
use crate::context::{clean_path, DockerIgnore};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One matched source.
#[derive(Clone, Debug)]
pub struct Source {
    /// Where it is on the host (inside the root, symlinks resolved).
    pub host: PathBuf,
    /// Its path relative to the root as matched (`dir/file`), cleaned.
    pub rel: String,
}

/// Resolves `path` inside `root`, following symlinks (absolute ones relative
/// to the root, `..` clamped at the root). The last component is followed
/// only when `follow_last`. The result need not exist.
pub fn resolve_in_root(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf, ExecError> {
    let mut pending: Vec<String> = split(path);
    pending.reverse(); // a stack: next component at the end
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(comp) = pending.pop() {
        if comp == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&comp);
        let is_last = pending.is_empty();
        let link = match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && (follow_last || !is_last) => {
                Some(std::fs::read_link(&candidate).map_err(|e| ExecError::io(&candidate, e))?)
            }
            _ => None,
        };
        match link {
            Some(target) => {
                hops += 1;
                if hops > 40 {
                    return Err(ExecError::Copy(format!(
                        "{path}: too many levels of symbolic links"
                    )));
                }
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                for c in split(&target).into_iter().rev() {
                    pending.push(c);
                }
            }
            None => resolved.push(OsString::from(comp)),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

/// True when `s` holds `filepath.Match` wildcard syntax.
pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Finds the sources `pattern` names in `root`. A path that does not exist
/// (or that .dockerignore excludes) is an error naming it; a wildcard that
/// matches nothing too. `what` names the root in errors (`build context`,
/// `stage build`).
pub fn find_sources(
    root: &Path,
    pattern: &str,
    ignore: Option<&DockerIgnore>,
    what: &str,
) -> Result<Vec<Source>, ExecError> {
    let cleaned = clean_path(pattern);
    let rel = cleaned.trim_start_matches('/');
    if rel == ".." || rel.starts_with("../") {
        return Err(ExecError::Copy(format!(
            "source {pattern:?} is outside the {what}; only files inside it can be copied"
        )));
    }
    let rel = if rel.is_empty() { "." } else { rel };
    let excluded =
        |r: &str| ignore.is_some_and(|ig| ig.is_excluded(r) && !ig.dir_may_contain_included(r));
    if !has_wildcard(rel) {
        if rel != "." && excluded(rel) {
            return Err(ExecError::Copy(format!(
                "source {pattern:?} is excluded by .dockerignore; remove it from .dockerignore to copy it"
            )));
        }
        let host = resolve_in_root(root, rel, true)?;
        if std::fs::symlink_metadata(&host).is_err() {
            return Err(ExecError::Copy(format!(
                "source {pattern:?} not found in the {what}"
            )));
        }
        return Ok(vec![Source {
            host,
            rel: rel.to_string(),
        }]);
    }
    let mut found: Vec<String> = vec![String::new()];
    for comp in rel.split('/') {
        let mut next = Vec::new();
        for base in &found {
            let join = |name: &str| {
                if base.is_empty() {
                    name.to_string()
                } else {
                    format!("{base}/{name}")
                }
            };
            if !has_wildcard(comp) {
                next.push(join(comp));
                continue;
            }
            let dir = resolve_in_root(root, base, true)?;
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| glob_match(comp, n))
                .collect();
            names.sort();
            next.extend(names.iter().map(|n| join(n)));
        }
        found = next;
    }
    let mut out = Vec::new();
    for rel in found {
        if excluded(&rel) {
            continue;
        }
        let host = resolve_in_root(root, &rel, true)?;
        if std::fs::symlink_metadata(&host).is_ok() {
            out.push(Source { host, rel });
        }
    }
    if out.is_empty() {
        return Err(ExecError::Copy(format!(
            "no source files were specified: {pattern:?} matches nothing in the {what}"
        )));
    }
    Ok(out)
}

/// Go's `path/filepath.Match` for one component (no `/` in either).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return n.is_empty();
    };
    match first {
        '*' => (0..=n.len()).any(|i| match_from(rest, n.get(i..).unwrap_or_default())),
        '?' => !n.is_empty() && match_from(rest, n.get(1..).unwrap_or_default()),
        '[' => {
            let Some((&c, n_rest)) = n.split_first() else {
                return false;
            };
            match class_match(rest, c) {
                Some((true, after)) => match_from(after, n_rest),
                _ => false,
            }
        }
        '\\' => match rest.split_first() {
            Some((&lit, after)) => {
                n.first() == Some(&lit) && match_from(after, n.get(1..).unwrap_or_default())
            }
            None => false,
        },
        lit => n.first() == Some(&lit) && match_from(rest, n.get(1..).unwrap_or_default()),
    }
}

/// Matches `c` against a `[...]` class (`p` starts after `[`); returns
/// whether it matched and the pattern after `]`. `None` for a bad class.
fn class_match(p: &[char], c: char) -> Option<(bool, &[char])> {
    let (negate, mut p) = match p.first() {
        Some('^') | Some('!') => (true, p.get(1..)?),
        _ => (false, p),
    };
    let mut matched = false;
    let mut first = true;
    loop {
        let (&ch, rest) = p.split_first()?;
        if ch == ']' && !first {
            return Some((matched != negate, rest));
        }
        first = false;
        let (lo, rest) = if ch == '\\' {
            let (&e, r) = rest.split_first()?;
            (e, r)
        } else {
            (ch, rest)
        };
        if rest.first() == Some(&'-') && rest.get(1).is_some_and(|x| *x != ']') {
            let hi = *rest.get(1)?;
            if lo <= c && c <= hi {
                matched = true;
            }
            p = rest.get(2..)?;
        } else {
            if lo == c {
                matched = true;
            }
            p = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_filepath_match() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txt2"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = t.path();
        std::fs::create_dir(root.join("d")).unwrap_or_default();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap_or_default();
        std::os::unix::fs::symlink("../../..", root.join("d/up")).unwrap_or_default();
        assert_eq!(
            resolve_in_root(root, "abs/passwd", true).ok(),
            Some(root.join("etc/passwd"))
        );
        assert_eq!(
            resolve_in_root(root, "d/up/x", true).ok(),
            Some(root.join("x"))
        );
        assert_eq!(
            resolve_in_root(root, "abs", false).ok(),
            Some(root.join("abs"))
        );
    }
}
