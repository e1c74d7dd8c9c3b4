//! Images in the store: committing (config + manifest blobs, then the index
//! entry), naming, looking up by name or ID prefix (IMAGE ID = config digest,
//! as in Docker), listing and removing. An image that loses its last name to
//! another image stays in the store untagged (`<none>`), as in Docker.

use super::index::IndexEntry;
use super::{Store, StoreError};
use crate::image::config::{canonical_json, manifest, parse_rfc3339};
use crate::image::{Digest, Reference};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, MediaType};
use std::time::SystemTime;

/// Everything the CLI and the executor need to know about one stored image.
#[derive(Clone, Debug)]
pub struct ImageRecord {
    /// The image ID: the config blob's digest.
    pub id: Digest,
    pub manifest_digest: Digest,
    /// The manifest's descriptor (without name annotations).
    pub manifest_desc: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// Full normalized names, sorted.
    pub names: Vec<Reference>,
    pub created: Option<SystemTime>,
    /// Config plus layer blob sizes (compressed, as stored).
    pub size: u64,
}

/// One effect of [`Store::remove`], in the order Docker prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    Untagged(Reference),
    Deleted(Digest),
}

impl Store {
    /// Commits an image: writes its config and manifest blobs (the layer blobs
    /// must already be stored), then adds it to the index under `names`
    /// (taking those names from other images), or untagged if none.
    pub fn put_image(
        &self,
        config: &ImageConfiguration,
        layers: Vec<Descriptor>,
        names: &[Reference],
    ) -> Result<ImageRecord, StoreError> {
        self.put_image_bytes(&canonical_json(config)?, layers, names)
    }

    /// [`Store::put_image`] for a config already serialized (the executor adds
    /// fields OCI lacks, such as Healthcheck, OnBuild and Shell).
    pub fn put_image_bytes(
        &self,
        config_json: &[u8],
        layers: Vec<Descriptor>,
        names: &[Reference],
    ) -> Result<ImageRecord, StoreError> {
        for l in &layers {
            let d = Digest::from_oci(l.digest())
                .map_err(|_| StoreError::BlobMissing(l.digest().to_string()))?;
            if !self.has_blob(&d) {
                return Err(StoreError::BlobMissing(d.to_string()));
            }
        }
        let config_desc = self.put_blob_bytes(MediaType::ImageConfig, config_json)?;
        let m = manifest(config_desc, layers)?;
        let manifest_desc = self.put_blob_bytes(MediaType::ImageManifest, &canonical_json(&m)?)?;
        self.index_manifest(&manifest_desc, names)
    }

    /// Adds an already stored manifest to the index under `names` (untagged
    /// if none), after checking that its config and layer blobs are present.
    pub fn index_manifest(
        &self,
        manifest_desc: &Descriptor,
        names: &[Reference],
    ) -> Result<ImageRecord, StoreError> {
        let md = Digest::from_oci(manifest_desc.digest())
            .map_err(|_| StoreError::BlobMissing(manifest_desc.digest().to_string()))?;
        let m: ImageManifest = self.read_json(&md)?;
        for d in std::iter::once(m.config()).chain(m.layers()) {
            let d = Digest::from_oci(d.digest())
                .map_err(|_| StoreError::BlobMissing(d.digest().to_string()))?;
            if !self.has_blob(&d) {
                return Err(StoreError::BlobMissing(d.to_string()));
            }
        }
        let plain = IndexEntry::new(manifest_desc, None).desc;
        self.update_index(|entries| {
            set_names(entries, &plain, names);
            Ok(())
        })?;
        self.record_for(&plain)
    }

    /// Gives `name` to the image with manifest `manifest`.
    pub fn tag(&self, name: &Reference, manifest: &Descriptor) -> Result<(), StoreError> {
        let plain = IndexEntry::new(manifest, None).desc;
        self.update_index(|entries| {
            set_names(entries, &plain, std::slice::from_ref(name));
            Ok(())
        })
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let entries = self.read_index()?;
        let mut seen: Vec<Digest> = Vec::new();
        let mut out = Vec::new();
        for e in &entries {
            let Some(d) = e.manifest_digest() else {
                continue;
            };
            if seen.contains(&d) {
                continue;
            }
            seen.push(d);
            match self.load_record(&entries, &e.desc) {
                Ok(r) => out.push(r),
                Err(err) => log::warn!("skipping image {}: {err}", e.desc.digest()),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds an image by name (`busybox`, `x:1`, `name@sha256:...`) or by a
    /// prefix of its ID (`3f57d9401f8d`, `sha256:3f57...`).
    pub fn resolve(&self, what: &str) -> Result<ImageRecord, StoreError> {
        let entries = self.read_index()?;
        if let Ok(r) = Reference::parse(what) {
            let hit = entries.iter().find(|e| match r.digest() {
                Some(d) => e.manifest_digest().as_ref() == Some(d),
                None => e.name().as_ref() == Some(&r),
            });
            if let Some(e) = hit {
                return self.load_record(&entries, &e.desc);
            }
        }
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        let is_hex =
            !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex {
            let hex = hex.to_ascii_lowercase();
            let mut found: Option<ImageRecord> = None;
            for r in self.list()? {
                if r.id.hex().starts_with(&hex) {
                    if found.as_ref().is_some_and(|f| f.id != r.id) {
                        return Err(StoreError::Ambiguous(what.to_string()));
                    }
                    found.get_or_insert(r);
                }
            }
            if let Some(r) = found {
                return Ok(r);
            }
        }
        Err(StoreError::NotFound(what.to_string()))
    }

    /// The record of the image with this manifest.
    pub fn record_for(&self, manifest_desc: &Descriptor) -> Result<ImageRecord, StoreError> {
        let entries = self.read_index()?;
        self.load_record(&entries, manifest_desc)
    }

    /// Removes a name, or (given an ID, or the image's last name) the whole
    /// image. An image with several names is only removed by ID with `force`.
    /// Unreferenced blobs are then collected if no other process has the
    /// store open.
    pub fn remove(&self, what: &str, force: bool) -> Result<Vec<Removed>, StoreError> {
        let rec = self.resolve(what)?;
        let by_name = Reference::parse(what)
            .ok()
            .filter(|r| r.digest().is_none() && rec.names.contains(r));
        if by_name.is_none() && rec.names.len() > 1 && !force {
            let names: Vec<String> = rec.names.iter().map(|n| n.familiar()).collect();
            return Err(StoreError::MultipleNames {
                id: rec.id.short().to_string(),
                names: names.join(", "),
            });
        }
        let removed = self.update_index(|entries| {
            let mut out = Vec::new();
            let mine = |e: &IndexEntry| e.manifest_digest().as_ref() == Some(&rec.manifest_digest);
            let drop_names: Vec<Reference> = match &by_name {
                Some(n) => vec![n.clone()],
                None => rec.names.clone(),
            };
            entries.retain(|e| !(mine(e) && e.name().is_some_and(|n| drop_names.contains(&n))));
            out.extend(drop_names.into_iter().map(Removed::Untagged));
            if !entries.iter().any(|e| mine(e) && e.name().is_some()) {
                entries.retain(|e| !mine(e));
                out.push(Removed::Deleted(rec.id.clone()));
            }
            Ok(out)
        })?;
        if removed.iter().any(|r| matches!(r, Removed::Deleted(_))) {
            if let Err(e) = self.gc() {
                log::warn!("garbage collection after removal failed: {e}");
            }
        }
        Ok(removed)
    }

    pub(super) fn load_record(
        &self,
        entries: &[IndexEntry],
        desc: &Descriptor,
    ) -> Result<ImageRecord, StoreError> {
        let manifest_digest = Digest::from_oci(desc.digest())
            .map_err(|_| StoreError::BlobMissing(desc.digest().to_string()))?;
        let manifest: ImageManifest = self.read_json(&manifest_digest)?;
        let id = Digest::from_oci(manifest.config().digest())
            .map_err(|_| StoreError::BlobMissing(manifest.config().digest().to_string()))?;
        let config: ImageConfiguration = self.read_json(&id)?;
        let mut names: Vec<Reference> = entries
            .iter()
            .filter(|e| e.manifest_digest().as_ref() == Some(&manifest_digest))
            .filter_map(IndexEntry::name)
            .collect();
        names.sort();
        names.dedup();
        let size =
            manifest.config().size() + manifest.layers().iter().map(|l| l.size()).sum::<u64>();
        let created = config.created().as_deref().and_then(parse_rfc3339);
        Ok(ImageRecord {
            id,
            manifest_desc: IndexEntry::new(desc, None).desc,
            manifest_digest,
            manifest,
            config,
            names,
            created,
            size,
        })
    }
}

/// Points each of `names` at `manifest`; images losing their last name stay
/// as untagged entries, and `manifest` loses its untagged entry once named.
fn set_names(entries: &mut Vec<IndexEntry>, manifest: &Descriptor, names: &[Reference]) {
    let target = Digest::from_oci(manifest.digest()).ok();
    let mut orphan_candidates: Vec<Descriptor> = Vec::new();
    for name in names {
        entries.retain(|e| {
            let taken = e.name().as_ref() == Some(name);
            if taken && e.manifest_digest() != target {
                orphan_candidates.push(IndexEntry::new(&e.desc, None).desc);
            }
            !taken
        });
        entries.push(IndexEntry::new(manifest, Some(name)));
    }
    let has = |entries: &[IndexEntry], d: &Option<Digest>| {
        entries.iter().any(|e| &e.manifest_digest() == d)
    };
    if names.is_empty() {
        if !has(entries, &target) {
            entries.push(IndexEntry::new(manifest, None));
        }
    } else {
        entries.retain(|e| !(e.manifest_digest() == target && e.name().is_none()));
    }
    for orphan in orphan_candidates {
        let d = Digest::from_oci(orphan.digest()).ok();
        if !has(entries, &d) {
            entries.push(IndexEntry { desc: orphan });
        }
    }
}
