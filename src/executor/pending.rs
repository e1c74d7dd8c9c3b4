//! A RUN layer being committed in the background: its upper dir is turned
//! into a blob (tar, hash, compress, write) on a thread while the stage's
//! next RUN already runs on top of that dir, as BuildKit commits lazily.
//! Nothing else may look at the image until the commit is waited for: the
//! stage runner waits before any other instruction, before a cache hit is
//! applied, when too many commits are in flight and at the end of the stage.
//!
//! What it does not do: touch the image state or the cache; the runner does
//! that with what [`PendingCommit::wait`] returns.

use super::workspace::Workspace;
use super::ExecError;
use crate::cache::CacheKey;
use crate::layer::{Compression, DiffOptions, LayerBlob};
use crate::store::{LayerWriter, StoreError};
use oci_spec::image::Descriptor;
use std::path::PathBuf;
use std::thread::JoinHandle;

type CommitResult = Result<(Descriptor, LayerBlob), StoreError>;

/// One layer on its way into the store.
pub(super) struct PendingCommit {
    job: Option<JoinHandle<CommitResult>>,
    /// Keeps the upper dir alive until the runner adopts or drops it.
    _workspace: Workspace,
    /// The upper dir: the layer's content in overlay-lower form.
    pub upper: PathBuf,
    /// The history line of the step.
    pub created_by: String,
    /// The step's cache record, written once the layer is known.
    pub record: Option<(CacheKey, String)>,
}

impl PendingCommit {
    /// Starts committing `upper` (inside `workspace`).
    pub fn start(
        writer: LayerWriter,
        workspace: Workspace,
        upper: PathBuf,
        opts: DiffOptions,
        compression: Compression,
        created_by: &str,
    ) -> Result<PendingCommit, ExecError> {
        let dir = upper.clone();
        let job = std::thread::Builder::new()
            .name("layer-commit".into())
            .spawn(move || {
                // The RUN's unmount did not flush its upper dir (volatile):
                // start that now, beside the tar, so that making the dir the
                // unpacked layer (which syncs it first) finds it on disk.
                let flush_dir = dir.clone();
                let flush = std::thread::Builder::new()
                    .name("layer-flush".into())
                    .spawn(move || {
                        let dir = std::fs::File::open(&flush_dir)?;
                        nix::unistd::syncfs(&dir).map_err(std::io::Error::from)
                    });
                let written = writer.put_layer_from_dir(&dir, &opts, compression);
                if let Ok(Err(e)) = flush.map(|h| h.join().unwrap_or(Ok(()))) {
                    log::debug!("syncfs {}: {e}", dir.display());
                }
                written
            })
            .map_err(|e| ExecError::io(&upper, e))?;
        Ok(PendingCommit {
            job: Some(job),
            _workspace: workspace,
            upper,
            created_by: created_by.to_string(),
            record: None,
        })
    }

    /// Waits for the blob; the error names the step whose layer failed.
    pub fn wait(&mut self) -> Result<(Descriptor, LayerBlob), ExecError> {
        let failed = |why: String| {
            ExecError::Run(format!(
                "committing the layer of {:?}: {why}",
                self.created_by
            ))
        };
        let job = self
            .job
            .take()
            .ok_or_else(|| failed("already waited for".into()))?;
        match job.join() {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed("the commit thread panicked".into())),
        }
    }
}

impl Drop for PendingCommit {
    /// A build that fails or is canceled still waits for the thread, so the
    /// upper dir is not removed while it is being read.
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            let _ = job.join();
        }
    }
}
