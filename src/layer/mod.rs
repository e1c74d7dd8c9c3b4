//! Image layers: turning a directory (an overlayfs upper dir, or a plain dir
//! for COPY) into an OCI layer tar ([`diff`]), compressing it while computing
//! diff_id, digest and size in one pass ([`blob`]), and applying a layer onto
//! a directory safely, treating every entry as hostile ([`unpack`], on top of
//! the root-confined path resolution in [`safe`]). This module knows nothing
//! about the store's layout; callers give it readers, writers and directories.

pub mod blob;
pub mod diff;
mod entry;
pub mod pgzip;
pub mod safe;
pub mod unpack;

pub use blob::{compress_tar_stream, write_layer_blob, Compression, LayerBlob};
pub use diff::{write_tar, DiffOptions};
pub use entry::{is_overlay_opaque, read_xattrs};
pub use unpack::{open_layer_stream, unpack_layer, UnpackMode, UnpackOptions, UnpackStats};

/// Whiteout prefix: `.wh.NAME` deletes NAME from lower layers (OCI image spec).
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Opaque marker: `DIR/.wh..wh..opq` hides everything below DIR from lower layers.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// xattr overlayfs sets on opaque directories (privileged mounts).
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// xattr overlayfs sets on opaque directories with the `userxattr` mount option.
pub const USER_OVERLAY_OPAQUE_XATTR: &str = "user.overlay.opaque";

/// Errors from writing or applying layers.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sys { path: String, source: nix::Error },
    #[error("layer entry {path:?}: {why}")]
    BadEntry { path: String, why: String },
    #[error("reading layer archive: {0}")]
    Archive(std::io::Error),
}

impl LayerError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> LayerError {
        LayerError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
    pub(crate) fn sys(path: impl AsRef<std::path::Path>, source: nix::Error) -> LayerError {
        LayerError::Sys {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
