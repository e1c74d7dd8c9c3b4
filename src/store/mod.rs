//! The local image store: an OCI image layout under one root directory, plus
//! unpacked layers for overlay mounts.
//!
//! ```text
//! ROOT/oci-layout, index.json      OCI layout; names live only in index.json
//!                                  (`org.opencontainers.image.ref.name` = full
//!                                  normalized name); untagged images have none
//! ROOT/blobs/sha256/<hex>          content, verified against its digest
//! ROOT/layers/<chainid-hex>/diff   unpacked layer (overlay lower dir) with a
//!                          /complete marker; renamed into place when whole
//! ROOT/gc-roots/<owner>/*.json    extra gc roots (the build cache's records)
//! ROOT/tmp/<pid>-<n>/              per-process scratch, flocked while alive
//! ROOT/locks/                      index.lock (held briefly around index
//!                                  updates), layer-<hex>.lock, gc.lock
//! ```
//!
//! Crash safety: every file is written to tmp/, fsynced, renamed, and its
//! directory fsynced; blobs before the manifest, the manifest before
//! index.json. So after kill -9 at any point every indexed image is whole.
//! Concurrency: writers of index.json serialize on index.lock for the time of
//! one read-modify-rename; readers never lock (the rename is atomic). Every
//! open Store holds gc.lock shared; gc runs only when it can take it
//! exclusively, i.e. when no other process has the store open.

mod blobs;
mod direct;
pub mod fsutil;
mod gc;
mod images;
mod index;
mod layers;

pub use blobs::LayerWriter;
pub use gc::{GcStats, GC_ROOTS_DIR};
pub use images::{ImageRecord, Removed};

use fsutil::{flock, open_lock_file, ProcessTmp};
use std::fs::{self, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Errors from the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("blob {0} is not in the store")]
    BlobMissing(String),
    #[error("blob content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("image metadata: {0}")]
    Config(#[from] crate::image::config::ConfigError),
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("{0:?} matches more than one image; give more of the ID")]
    Ambiguous(String),
    #[error(
        "image {id} is referenced by several names ({names}); remove them one by one or use -f"
    )]
    MultipleNames { id: String, names: String },
    #[error("conflict: unable to remove repository reference \"{what}\" (must force) - container {container} is using its referenced image {image}")]
    ImageInUse {
        what: String,
        container: String,
        image: String,
    },
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error("unpacking layer {chain}: {message}")]
    Unpack { chain: String, message: String },
}

impl StoreError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// The default store root: /var/lib/rbuild for root, else
/// `$XDG_DATA_HOME/rbuild` (or `~/.local/share/rbuild`).
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/rbuild");
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("rbuild"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            PathBuf::from(home).join(".local/share/rbuild")
        }
    }
}

/// An open image store. Cheap to keep around; one per process is typical.
pub struct Store {
    root: PathBuf,
    tmp: ProcessTmp,
    gc_lock: File,
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

impl Store {
    /// Opens the store at `root`, creating it if needed, and removes temp
    /// entries left by dead processes.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true).mode(0o700);
        for sub in ["blobs/sha256", "layers", "tmp", "locks"] {
            let p = root.join(sub);
            b.create(&p).map_err(|e| StoreError::io(&p, e))?;
        }
        let root = fs::canonicalize(root).map_err(|e| StoreError::io(root, e))?;
        fsutil::clean_stale_tmp(&root.join("tmp"))?;
        let tmp = ProcessTmp::new(&root.join("tmp"));
        let gc_path = root.join("locks/gc.lock");
        let gc_lock = open_lock_file(&gc_path)?;
        flock(&gc_lock, libc::LOCK_SH).map_err(|e| StoreError::io(&gc_path, e))?;
        let store = Store { root, tmp, gc_lock };
        let layout = store.root.join("oci-layout");
        if !layout.exists() {
            fsutil::write_atomic(store.tmp_dir(), &layout, OCI_LAYOUT)?;
        }
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This process's scratch directory inside the store (same filesystem as
    /// the blobs, so files made here can be renamed into place).
    pub fn tmp_dir(&self) -> &Path {
        self.tmp.path()
    }

    /// A new temp file in [`Store::tmp_dir`], e.g. for a layer blob being written.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        tempfile::NamedTempFile::new_in(self.tmp_dir())
            .map_err(|e| StoreError::io(self.tmp_dir(), e))
    }

    fn lock_path(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(name)
    }
}
