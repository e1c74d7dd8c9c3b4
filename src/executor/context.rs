//! The build context as the executor reads it: a directory used in place
//! (never copied) or a tar read from stdin and unpacked, with its
//! `.dockerignore` rules. Resolving COPY sources in it is in [`super::sources`].

use super::ExecError;
use crate::context::DockerIgnore;
use crate::layer::{open_layer_stream, unpack_layer, UnpackOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the files of a build come from.
pub struct BuildContext {
    dir: PathBuf,
    pub ignore: DockerIgnore,
    /// Keeps an unpacked stdin context alive for the build.
    _unpacked: Option<tempfile::TempDir>,
}

impl BuildContext {
    /// A context directory read in place; `dockerfile` (when it is a file
    /// path) selects a `<Dockerfile>.dockerignore` next to it.
    pub fn from_dir(dir: &Path, dockerfile: Option<&Path>) -> Result<BuildContext, ExecError> {
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| ExecError::Context(format!("context directory {}: {e}", dir.display())))?;
        if !dir.is_dir() {
            return Err(ExecError::Context(format!(
                "context {} is not a directory",
                dir.display()
            )));
        }
        let ignore =
            DockerIgnore::load(&dir, dockerfile).map_err(|e| ExecError::Context(e.to_string()))?;
        Ok(BuildContext {
            dir,
            ignore,
            _unpacked: None,
        })
    }

    /// A context given as a tar stream (`rbuild build -`), unpacked safely
    /// into `scratch` (a directory on the store's filesystem).
    pub fn from_tar(tar: impl Read, scratch: &Path) -> Result<BuildContext, ExecError> {
        let tmp = tempfile::tempdir_in(scratch).map_err(|e| ExecError::io(scratch, e))?;
        let stream = open_layer_stream(std::io::BufReader::new(tar))
            .map_err(|e| ExecError::Context(format!("reading the context tar from stdin: {e}")))?;
        unpack_layer(stream, tmp.path(), &UnpackOptions::default()).map_err(|e| {
            ExecError::Context(format!("unpacking the context tar from stdin: {e}"))
        })?;
        let ignore =
            DockerIgnore::load(tmp.path(), None).map_err(|e| ExecError::Context(e.to_string()))?;
        Ok(BuildContext {
            dir: tmp.path().to_path_buf(),
            ignore,
            _unpacked: Some(tmp),
        })
    }

    /// The context root on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads `name` (relative to the context) as the Dockerfile.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, ExecError> {
        let path = self
            .dir
            .join(crate::context::clean_path(name).trim_start_matches('/'));
        std::fs::read(&path)
            .map_err(|e| ExecError::Context(format!("reading {}: {e}", path.display())))
    }
}
