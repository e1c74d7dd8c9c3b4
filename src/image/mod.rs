//! Image metadata: content digests and layer identities ([`digest`]), image
//! references and their Docker-style normalization ([`reference`]), and
//! helpers to build OCI configs and manifests ([`config`]). Nothing here
//! touches the disk; the store does.

pub mod config;
pub mod digest;
pub mod reference;

pub use digest::{ChainId, DiffId, Digest};
pub use reference::Reference;
