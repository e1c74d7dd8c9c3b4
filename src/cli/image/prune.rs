//! `rbuild image prune [-a] [-f] [--filter until=..|label=..]`: removes
//! dangling (untagged) images, or with `-a` every image, through the store's
//! remove path (which refuses images a container uses; those are skipped,
//! as docker does). It prints docker's "Deleted Images" list and the space
//! the store's blobs shrank by. It does not touch the build cache
//! (`rbuild builder prune` / the cache commands do).

use anyhow::{bail, Context, Result};
use clap::Args;
use rbuild::image::config::parse_rfc3339;
use rbuild::image::human;
use rbuild::store::{ImageRecord, Removed, Store};
use std::io::{BufRead, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>[=<value>]", "label!=...")
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
}

/// One `--filter` value.
#[derive(Debug)]
enum Filter {
    /// Only images created before this time.
    Until(SystemTime),
    /// Only images with (`keep: true`) / without this label (and value).
    Label {
        key: String,
        value: Option<String>,
        keep: bool,
    },
}

impl Filter {
    fn parse(spec: &str, now: SystemTime) -> Result<Filter> {
        let (key, value) = spec
            .split_once('=')
            .with_context(|| format!("invalid filter {spec:?}: expected key=value"))?;
        match key {
            "until" => Ok(Filter::Until(parse_until(value, now)?)),
            "label" | "label!" => {
                let (k, v) = match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (value.to_string(), None),
                };
                Ok(Filter::Label {
                    key: k,
                    value: v,
                    keep: key == "label",
                })
            }
            _ => bail!("invalid filter {key:?}: image prune takes until=... and label=..."),
        }
    }

    fn matches(&self, rec: &ImageRecord) -> bool {
        match self {
            // An image without a creation time is never "old enough".
            Filter::Until(t) => rec.created.is_some_and(|c| c < *t),
            Filter::Label { key, value, keep } => {
                let labels = rec
                    .config
                    .config()
                    .as_ref()
                    .and_then(|c| c.labels().clone())
                    .unwrap_or_default();
                let has = match (labels.get(key), value) {
                    (Some(_), None) => true,
                    (Some(v), Some(want)) => v == want,
                    (None, _) => false,
                };
                has == *keep
            }
        }
    }
}

/// docker's `until`: a Go duration before now (`24h`, `90m`), unix seconds,
/// or an RFC 3339 date/time.
fn parse_until(value: &str, now: SystemTime) -> Result<SystemTime> {
    if let Ok(secs) = value.parse::<f64>() {
        if secs >= 0.0 {
            return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    if let Some(t) = parse_rfc3339(value) {
        return Ok(t);
    }
    let d = humantime::parse_duration(value).with_context(|| {
        format!("invalid until={value:?}: use a duration (24h), unix seconds or an RFC 3339 time")
    })?;
    Ok(now.checked_sub(d).unwrap_or(UNIX_EPOCH))
}

/// Asks docker's question on stderr; true for y/Y.
fn confirm(all: bool) -> Result<bool> {
    let what = if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let mut err = std::io::stderr().lock();
    write!(
        err,
        "WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] "
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}

/// Total bytes of the store's blobs (what pruning frees).
fn blob_bytes(store: &Store) -> u64 {
    let dir = store.root().join("blobs/sha256");
    std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn run(store: &Store, a: PruneArgs) -> Result<i32> {
    let now = SystemTime::now();
    let filters = a
        .filters
        .iter()
        .map(|f| Filter::parse(f, now))
        .collect::<Result<Vec<_>>>()?;
    if !a.force && !confirm(a.all)? {
        return Ok(0);
    }
    let before = blob_bytes(store);
    // docker's lines, in its order: an image's names, then the image.
    let mut lines = Vec::new();
    for rec in store.list()? {
        if !(a.all || rec.names.is_empty()) || !filters.iter().all(|f| f.matches(&rec)) {
            continue;
        }
        // By ID with force: all of its names go with it, as docker's prune.
        match store.remove(&rec.id.to_string(), true) {
            Ok(effects) => {
                for e in effects {
                    match e {
                        Removed::Untagged(r) => lines.push(format!("untagged: {}", r.familiar())),
                        Removed::Deleted(id) => lines.push(format!("deleted: {id}")),
                    }
                }
            }
            // In use by a container (or gone meanwhile): skipped, as docker does.
            Err(e) => log::warn!("not removing image {}: {e}", rec.id.short()),
        }
    }
    let freed = before.saturating_sub(blob_bytes(store));
    let mut out = std::io::stdout().lock();
    if !lines.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for l in &lines {
            writeln!(out, "{l}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", human::size(freed))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(100_000);
        assert_eq!(
            parse_until("24h", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(100_000 - 86_400)
        );
        assert_eq!(
            parse_until("1h30m", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(100_000 - 5_400)
        );
        assert_eq!(
            parse_until("1000", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1000)
        );
        assert_eq!(
            parse_until("1970-01-01T00:16:40Z", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1000)
        );
        assert!(parse_until("yesterday-ish", now).is_err());
        assert!(Filter::parse("dangling=true", now).is_err());
    }
}
