//! Removing cache records (`rbuild prune`, `rbuild builder prune`) and
//! reporting disk usage (`rbuild system df`). Pruning deletes records, then
//! runs the store's gc, which frees the blobs no image and no remaining
//! record uses (gc runs only when no other rbuild process has the store open;
//! otherwise the space is freed by a later prune). It does not parse flags;
//! the CLI does.

use super::index::{Cache, CacheRecord};
use super::CacheError;
use crate::image::Digest;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What to prune. Without `all`, records an image in the store uses (its
/// config is the record's, or the record's top layer is one of its layers)
/// are kept: only "dangling" cache goes, as in `docker builder prune`.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// Also records whose result is a stored image's config.
    pub all: bool,
    /// Only records last used longer ago than this.
    pub until: Option<Duration>,
    /// Remove least recently used records until the cache is at most this
    /// many bytes (counting each blob once); other filters then do not apply.
    pub keep_storage: Option<u64>,
}

/// What a prune did.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub removed: Vec<CacheRecord>,
    /// Bytes the store's gc freed (0 when another process held the store).
    pub bytes_freed: u64,
    pub gc_ran: bool,
    /// Record files that did not parse and were deleted.
    pub unreadable_removed: usize,
}

/// Prunes the cache as `opts` says.
pub fn prune(cache: &Cache, opts: &PruneOptions) -> Result<PruneReport, CacheError> {
    let records = cache.list()?; // oldest use first
    let images = ImageBlobs::of(&cache.store().list()?);
    let now = now_secs();
    let mut doomed: Vec<&CacheRecord> = Vec::new();
    if let Some(limit) = opts.keep_storage {
        // Blobs shared by several records count once and are freed only
        // when their last record goes.
        let mut refs: HashMap<&Digest, (usize, u64)> = HashMap::new();
        for r in &records {
            for (d, size) in owned_blobs(r) {
                refs.entry(d).or_insert((0, size)).0 += 1;
            }
        }
        let mut total: u64 = refs.values().map(|(_, s)| s).sum();
        for r in &records {
            if total <= limit {
                break;
            }
            doomed.push(r);
            for (d, _) in owned_blobs(r) {
                if let Some((n, size)) = refs.get_mut(d) {
                    *n -= 1;
                    if *n == 0 {
                        total = total.saturating_sub(*size);
                    }
                }
            }
        }
    } else {
        for r in &records {
            if !opts.all && images.uses(r) {
                continue;
            }
            if let Some(age) = opts.until {
                if now.saturating_sub(r.last_used) < age.as_secs() {
                    continue;
                }
            }
            doomed.push(r);
        }
    }
    let mut report = PruneReport::default();
    for r in doomed {
        if cache.remove(&r.key)? {
            report.removed.push(r.clone());
        }
    }
    report.unreadable_removed = cache.remove_unreadable()?;
    let gc = cache.store().gc()?;
    report.bytes_freed = gc.bytes_freed;
    report.gc_ran = gc.ran;
    Ok(report)
}

/// Size of the blobs a set of records uses, each blob counted once.
fn unique_size<'a>(records: impl Iterator<Item = &'a CacheRecord>) -> u64 {
    let mut sizes: HashMap<&Digest, u64> = HashMap::new();
    for r in records {
        sizes.extend(owned_blobs(r));
    }
    sizes.values().sum()
}

/// The blobs a record accounts for: its config and the layer it made.
fn owned_blobs(r: &CacheRecord) -> Vec<(&Digest, u64)> {
    let mut v = vec![(&r.config, r.config_size)];
    if r.new_layer {
        if let Some(l) = r.layers.last() {
            v.push((&l.digest, l.size));
        }
    }
    v
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One line of `system df`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageLine {
    pub total: usize,
    /// Items in use (images: named; layers: used by an image; cache: all).
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// `rbuild system df`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub images: UsageLine,
    pub layers: UsageLine,
    pub cache: UsageLine,
}

/// The blobs of the stored images, to tell which cache records they use.
struct ImageBlobs {
    configs: HashSet<Digest>,
    layers: HashSet<Digest>,
}

impl ImageBlobs {
    fn of(images: &[crate::store::ImageRecord]) -> ImageBlobs {
        ImageBlobs {
            configs: images.iter().map(|i| i.id.clone()).collect(),
            layers: images
                .iter()
                .flat_map(|i| i.manifest.layers().iter())
                .filter_map(|l| Digest::from_oci(l.digest()).ok())
                .collect(),
        }
    }

    fn uses(&self, r: &CacheRecord) -> bool {
        self.configs.contains(&r.config)
            || r.layers
                .last()
                .is_some_and(|l| self.layers.contains(&l.digest))
    }
}

/// Measures the store: images (each blob once; reclaimable = blobs only
/// untagged images use), layer blobs (used by images, or only by the
/// cache), and cache records (reclaimable = what a plain prune removes).
pub fn disk_usage(cache: &Cache) -> Result<DiskUsage, CacheError> {
    let store = cache.store();
    let images = store.list()?;
    let mut du = DiskUsage::default();
    let mut all_blobs: HashMap<Digest, u64> = HashMap::new();
    let mut named_blobs: HashSet<Digest> = HashSet::new();
    let mut image_layers: HashMap<Digest, u64> = HashMap::new();
    for img in &images {
        du.images.total += 1;
        let config_size = img.size.saturating_sub(layer_sum(img));
        let mut blobs = vec![(img.id.clone(), config_size)];
        for l in img.manifest.layers() {
            if let Ok(d) = Digest::from_oci(l.digest()) {
                image_layers.insert(d.clone(), l.size());
                blobs.push((d, l.size()));
            }
        }
        if !img.names.is_empty() {
            du.images.active += 1;
            named_blobs.extend(blobs.iter().map(|(d, _)| d.clone()));
        }
        all_blobs.extend(blobs);
    }
    du.images.size = all_blobs.values().sum();
    du.images.reclaimable = all_blobs
        .iter()
        .filter(|(d, _)| !named_blobs.contains(*d))
        .map(|(_, s)| s)
        .sum();
    let records = cache.list()?;
    let mut cache_only: HashMap<Digest, u64> = HashMap::new();
    for r in &records {
        for l in &r.layers {
            if !image_layers.contains_key(&l.digest) {
                cache_only.insert(l.digest.clone(), l.size);
            }
        }
    }
    du.layers.total = image_layers.len() + cache_only.len();
    du.layers.active = image_layers.len();
    du.layers.size = image_layers.values().sum::<u64>() + cache_only.values().sum::<u64>();
    du.layers.reclaimable = cache_only.values().sum();
    let users = ImageBlobs::of(&images);
    du.cache.total = records.len();
    du.cache.active = records.iter().filter(|r| users.uses(r)).count();
    du.cache.size = unique_size(records.iter());
    du.cache.reclaimable = unique_size(records.iter().filter(|r| !users.uses(r)));
    Ok(du)
}

fn layer_sum(img: &crate::store::ImageRecord) -> u64 {
    img.manifest.layers().iter().map(|l| l.size()).sum()
}

/// Parses a `--keep-storage` size as the Docker CLI does (go-units
/// RAMInBytes: `512`, `10GB`, `1.5g`, `100MiB`; k/m/g/t/p are powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, CacheError> {
    let bad = || {
        CacheError::Option(format!(
            "invalid size {s:?}: use e.g. 10GB, 512MB or 1048576"
        ))
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(bad()),
    };
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok((value * mult as f64) as u64)
}

/// Parses one `--filter` of prune: only `until=DURATION` (Go syntax: `24h`,
/// `1h30m`, `90s`) is supported.
pub fn parse_until_filter(s: &str) -> Result<Duration, CacheError> {
    let Some(v) = s.strip_prefix("until=") else {
        return Err(CacheError::Option(format!(
            "unsupported filter {s:?}: only until=DURATION (e.g. until=24h) is supported"
        )));
    };
    let ns = crate::parser::instructions::parse_go_duration(v)
        .map_err(|e| CacheError::Option(format!("filter {s:?}: {e}")))?;
    if ns < 0 {
        return Err(CacheError::Option(format!(
            "filter {s:?}: negative duration"
        )));
    }
    Ok(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_filters() {
        assert_eq!(parse_size("10GB").ok(), Some(10 << 30));
        assert_eq!(parse_size("512").ok(), Some(512));
        assert_eq!(parse_size("1.5m").ok(), Some(3 << 19));
        assert_eq!(parse_size("100MiB").ok(), Some(100 << 20));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5XB").is_err());
        assert_eq!(
            parse_until_filter("until=1h30m").ok(),
            Some(Duration::from_secs(5400))
        );
        assert!(parse_until_filter("label=x").is_err());
        assert!(parse_until_filter("until=soon").is_err());
    }
}
