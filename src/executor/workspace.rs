//! Scratch space of one step inside the store's process temp dir (same
//! filesystem as the unpacked layers, as overlayfs needs): `upper`, `work`
//! and `merged` dirs, removed when the step is done.

use super::ExecError;
use std::path::{Path, PathBuf};

/// The dirs of one step.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(store_tmp: &Path) -> Result<Workspace, ExecError> {
        let dir = tempfile::Builder::new()
            .prefix("step-")
            .tempdir_in(store_tmp)
            .map_err(|e| ExecError::io(store_tmp, e))?;
        for sub in ["upper", "work", "merged", "empty"] {
            let p = dir.path().join(sub);
            std::fs::create_dir(&p).map_err(|e| ExecError::io(&p, e))?;
        }
        // The upper dir becomes the layer's root entry: give it the usual mode.
        let upper = dir.path().join("upper");
        std::fs::set_permissions(&upper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| ExecError::io(&upper, e))?;
        Ok(Workspace { dir })
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    pub fn merged(&self) -> PathBuf {
        self.dir.path().join("merged")
    }
    /// An empty dir, the lower of an overlay over an empty image.
    pub fn empty(&self) -> PathBuf {
        self.dir.path().join("empty")
    }
    /// A fresh sub dir for other uses (read-only views of other stages).
    pub fn sub(&self, name: &str) -> Result<PathBuf, ExecError> {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).map_err(|e| ExecError::io(&p, e))?;
        Ok(p)
    }
}

/// True when `dir` has no entries.
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}
