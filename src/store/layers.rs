//! Unpacked layers for overlay mounts: `layers/<chainid-hex>/diff`, one
//! directory per layer (each layer alone, in overlay-lower form), created at
//! most once per chain id. The unpack happens in the process temp dir under
//! a per-chain-id lock; the finished dir is synced, marked complete and only
//! then renamed into place, so a visible layer dir is always whole.

use super::{fsutil, ImageRecord, Store, StoreError};
use crate::image::config::diff_ids;
use crate::image::{ChainId, Digest};
use crate::layer::{unpack_layer, UnpackMode, UnpackOptions};
use std::fs;
use std::path::{Path, PathBuf};

const COMPLETE_MARKER: &str = "complete";

impl Store {
    /// The directory of the unpacked layer `chain`, if it exists.
    pub fn layer_dir(&self, chain: &ChainId) -> Option<PathBuf> {
        let dir = self.root.join("layers").join(chain.0.hex());
        dir.join(COMPLETE_MARKER)
            .is_file()
            .then(|| dir.join("diff"))
    }

    /// Returns the unpacked dir for `chain`, calling `unpack(empty_dir)` to
    /// fill it if it does not exist yet. Two processes asking for the same
    /// chain id at once unpack it once: the second waits and reuses it.
    pub fn unpacked_layer<E: std::fmt::Display>(
        &self,
        chain: &ChainId,
        unpack: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<PathBuf, StoreError> {
        if let Some(d) = self.layer_dir(chain) {
            return Ok(d);
        }
        let _guard =
            fsutil::lock_exclusive(&self.lock_path(&format!("layer-{}.lock", chain.0.hex())))?;
        if let Some(d) = self.layer_dir(chain) {
            return Ok(d);
        }
        let work = self.tmp_dir().join(format!("layer-{}", chain.0.hex()));
        let diff = work.join("diff");
        fs::create_dir_all(&diff).map_err(|e| StoreError::io(&diff, e))?;
        let failed = |message: String| StoreError::Unpack {
            chain: chain.to_string(),
            message,
        };
        if let Err(e) = unpack(&diff) {
            let _ = fs::remove_dir_all(&work);
            return Err(failed(e.to_string()));
        }
        // Make the contents durable before they become visible.
        let dirfd = fs::File::open(&diff).map_err(|e| StoreError::io(&diff, e))?;
        nix::unistd::syncfs(&dirfd).map_err(|e| failed(format!("syncfs: {e}")))?;
        fsutil::write_atomic(
            self.tmp_dir(),
            &work.join(COMPLETE_MARKER),
            chain.to_string().as_bytes(),
        )?;
        let dest = self.root.join("layers").join(chain.0.hex());
        fsutil::durable_rename(&work, &dest)?;
        Ok(dest.join("diff"))
    }

    /// Unpacks every layer of `image` (each in overlay-lower form) and returns
    /// the dirs bottom layer first (overlayfs `lowerdir=` wants them reversed).
    pub fn unpack_image_layers(&self, image: &ImageRecord) -> Result<Vec<PathBuf>, StoreError> {
        self.unpack_layers(
            &image.id.to_string(),
            &diff_ids(&image.config),
            image.manifest.layers(),
        )
    }

    /// [`Store::unpack_image_layers`] for an image being built: its diff_ids
    /// and layer descriptors (`what` names it in errors).
    pub fn unpack_layers(
        &self,
        what: &str,
        diffs: &[crate::image::DiffId],
        layers: &[oci_spec::image::Descriptor],
    ) -> Result<Vec<PathBuf>, StoreError> {
        if diffs.len() != layers.len() {
            return Err(StoreError::Unpack {
                chain: what.to_string(),
                message: format!(
                    "config lists {} diff_ids but manifest has {} layers",
                    diffs.len(),
                    layers.len()
                ),
            });
        }
        let chains = ChainId::all(diffs);
        // No device nodes from images: the runtime provides /dev.
        let opts = UnpackOptions {
            mode: UnpackMode::OverlayLower,
            ..Default::default()
        };
        let mut out = Vec::with_capacity(chains.len());
        for (chain, desc) in chains.iter().zip(layers) {
            let digest = Digest::from_oci(desc.digest())
                .map_err(|_| StoreError::BlobMissing(desc.digest().to_string()))?;
            let dir = self.unpacked_layer(chain, |dir| -> Result<(), StoreError> {
                let blob = self.open_blob(&digest)?;
                unpack_layer(std::io::BufReader::new(blob), dir, &opts)?;
                Ok(())
            })?;
            out.push(dir);
        }
        Ok(out)
    }
}
