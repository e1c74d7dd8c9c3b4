//! Image metadata: content digests and layer identities ([`digest`]), image
//! references and their Docker-style normalization ([`reference`]), and
//! helpers to build OCI configs and manifests ([`config`]), `--change`
//! instructions ([`change`]) and Docker-style inspect JSON ([`inspect`]).
//! Nothing here touches the disk; the store does.

pub mod archive;
pub mod change;
pub mod config;
pub mod digest;
pub mod human;
pub mod inspect;
pub mod reference;

pub use digest::{ChainId, DiffId, Digest};
pub use reference::Reference;
