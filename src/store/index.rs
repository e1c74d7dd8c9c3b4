//! index.json: the list of image manifests with their names. Reads take no
//! lock (index.json is only ever replaced by an atomic rename); updates hold
//! locks/index.lock for one read-modify-write, so concurrent taggers never
//! lose each other's updates.

use super::{fsutil, Store, StoreError};
use crate::image::config::canonical_json;
use crate::image::{Digest, Reference};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use std::collections::HashMap;

/// The OCI annotation holding an image's (full, normalized) name.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One manifest entry of index.json.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    pub desc: Descriptor,
}

impl IndexEntry {
    pub fn new(manifest: &Descriptor, name: Option<&Reference>) -> IndexEntry {
        let mut desc = manifest.clone();
        let mut ann: HashMap<String, String> = desc.annotations().clone().unwrap_or_default();
        ann.remove(REF_NAME);
        if let Some(n) = name {
            ann.insert(REF_NAME.to_string(), n.to_string());
        }
        desc.set_annotations(if ann.is_empty() { None } else { Some(ann) });
        IndexEntry { desc }
    }

    /// The entry's name, when it has one we understand.
    pub fn name(&self) -> Option<Reference> {
        let raw = self.desc.annotations().as_ref()?.get(REF_NAME)?;
        Reference::parse(raw).ok()
    }

    pub fn manifest_digest(&self) -> Option<Digest> {
        Digest::from_oci(self.desc.digest()).ok()
    }
}

impl Store {
    fn index_path(&self) -> std::path::PathBuf {
        self.root.join("index.json")
    }

    /// The current index entries (empty for a new store).
    pub(super) fn read_index(&self) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(self.read_index_with_bytes()?.1)
    }

    /// The entries and the file's bytes (`None` for a new store).
    fn read_index_with_bytes(&self) -> Result<(Option<Vec<u8>>, Vec<IndexEntry>), StoreError> {
        let path = self.index_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, Vec::new())),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| StoreError::Json {
            path: path.display().to_string(),
            source: e,
        })?;
        let entries = index
            .manifests()
            .iter()
            .cloned()
            .map(|desc| IndexEntry { desc })
            .collect();
        Ok((Some(bytes), entries))
    }

    /// Runs `f` on the index entries under the index lock and writes the result.
    pub(super) fn update_index<T>(
        &self,
        f: impl FnOnce(&mut Vec<IndexEntry>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _guard = fsutil::lock_exclusive(&self.lock_path("index.lock"))?;
        let (before, mut entries) = self.read_index_with_bytes()?;
        let out = f(&mut entries)?;
        let manifests: Vec<&Descriptor> = entries.iter().map(|e| &e.desc).collect();
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MediaType::ImageIndex.to_string(),
            "manifests": manifests,
        });
        let bytes = canonical_json(&doc)?;
        // Re-tagging an image with the name it has (a no-op rebuild) writes nothing.
        if before.as_deref() != Some(&bytes[..]) {
            fsutil::write_atomic(self.tmp_dir(), &self.index_path(), &bytes)?;
        }
        Ok(out)
    }
}
