//! Turning a step's filesystem change into the image's next layer: the
//! overlay for WORKDIR-style steps, the commit of an upper (or `--link`)
//! dir into a blob, the adoption of that dir as the unpacked layer, and the
//! deferred commit of RUN layers ([`super::pending`]): a RUN's layer is
//! written while the next RUNs run (and their layers are written: commits of
//! successive layers do not depend on each other), and settled before
//! anything else reads the image.

use super::mounts::OverlayView;
use super::pending::PendingCommit;
use super::stage::StageRunner;
use super::workspace::{is_empty_dir, Workspace};
use super::ExecError;
use crate::layer::{DiffOptions, LayerBlob};
use crate::progress;
use oci_spec::image::Descriptor;
use std::path::{Path, PathBuf};

/// RUN layers being written at once, at most: each keeps a few threads busy.
const MAX_PENDING: usize = 2;

impl StageRunner<'_, '_> {
    /// The unpacked layers of the image so far, top-most first (overlayfs
    /// `lowerdir=` order), including layers still being committed.
    pub fn lower_dirs(&self) -> Result<Vec<PathBuf>, ExecError> {
        let mut dirs: Vec<PathBuf> = self.pending.iter().rev().map(|p| p.upper.clone()).collect();
        dirs.extend(self.state.lower_dirs(self.b.store)?);
        Ok(dirs)
    }

    /// Waits for the layers being committed and adds them to the image, in
    /// order, each with its step's cache record.
    pub fn settle(&mut self) -> Result<(), ExecError> {
        while self.settle_oldest()? {}
        Ok(())
    }

    /// Settles the oldest layer being committed; false when there is none.
    fn settle_oldest(&mut self) -> Result<bool, ExecError> {
        let Some(mut pending) = self.pending.pop_front() else {
            return Ok(false);
        };
        let (desc, blob) = pending.wait()?;
        self.add_committed(desc, &blob, &pending.created_by, Some(&pending.upper))?;
        if let Some((key, name)) = pending.record.take() {
            self.b.cache.put(&key, &self.state, true, &name);
        }
        Ok(true)
    }

    /// Runs `f` on a read-write overlay of the current image, then commits
    /// the upper dir as a layer (or an empty history entry when nothing
    /// changed).
    pub fn in_overlay(
        &mut self,
        step: &mut progress::Step,
        created_by: &str,
        f: impl FnOnce(&Path) -> Result<(), ExecError>,
    ) -> Result<(), ExecError> {
        let ws = Workspace::new(self.b.store.tmp_dir())?;
        let lowers = self.lower_dirs()?;
        let view =
            OverlayView::read_write(&lowers, &ws.empty(), &ws.upper(), &ws.work(), &ws.merged())?;
        let result = f(view.path());
        view.unmount()?;
        result?;
        let _ = step;
        self.commit_dir(&ws.upper(), true, Vec::new(), created_by)
    }

    /// Commits `dir` (an overlay upper, or a plain dir for `--link`) as the
    /// next layer; an empty dir records an empty history entry instead.
    pub fn commit_dir(
        &mut self,
        dir: &Path,
        overlay_upper: bool,
        exclude: Vec<PathBuf>,
        created_by: &str,
    ) -> Result<(), ExecError> {
        self.settle()?;
        if is_empty_dir(dir) {
            return self.state.add_empty(self.b.created, created_by);
        }
        let opts = self.diff_options(overlay_upper, exclude);
        let adopt = opts.exclude.is_empty().then_some(dir);
        let (desc, blob) = self
            .b
            .store
            .put_layer_from_dir(dir, &opts, self.b.req.compression)?;
        self.add_committed(desc, &blob, created_by, adopt)
    }

    /// Commits a RUN's upper dir (inside `ws`) in the background: the layer
    /// joins the image when [`StageRunner::settle`] is next called.
    pub fn commit_run(&mut self, ws: Workspace, created_by: &str) -> Result<(), ExecError> {
        let upper = ws.upper();
        if is_empty_dir(&upper) {
            // Its history entry goes after the pending layers'.
            self.settle()?;
            return self.state.add_empty(self.b.created, created_by);
        }
        while self.pending.len() >= MAX_PENDING {
            self.settle_oldest()?;
        }
        self.pending.push_back(PendingCommit::start(
            self.b.store.layer_writer(),
            ws,
            upper,
            self.diff_options(true, Vec::new()),
            self.b.req.compression,
            created_by,
        )?);
        self.commits_started += 1;
        Ok(())
    }

    /// How this build turns a dir into a layer.
    fn diff_options(&self, overlay_upper: bool, exclude: Vec<PathBuf>) -> DiffOptions {
        DiffOptions {
            exclude,
            source_date_epoch: self.b.req.source_date_epoch,
            overlay_upper,
        }
    }

    /// Adds a written layer to the image. `adopt`: the dir holding exactly
    /// the layer in overlay-lower form (whiteout devices, opaque xattrs),
    /// kept as the unpacked layer instead of unpacking the blob again.
    fn add_committed(
        &mut self,
        desc: Descriptor,
        blob: &LayerBlob,
        created_by: &str,
        adopt: Option<&Path>,
    ) -> Result<(), ExecError> {
        log::debug!(
            "committed {} ({} bytes of tar, {} stored): {created_by}",
            blob.diff_id,
            blob.tar_size,
            blob.size
        );
        self.state
            .add_layer(desc, blob, self.b.created, created_by)?;
        let (Some(dir), Some(chain)) = (adopt, self.state.top_chain()) else {
            return Ok(());
        };
        let adopted = self.b.store.unpacked_layer(&chain, |diff| {
            std::fs::remove_dir(diff)?;
            std::fs::rename(dir, diff)
        });
        if let Err(e) = adopted {
            log::debug!("keeping the layer dir of {chain}: {e}");
        }
        Ok(())
    }
}
