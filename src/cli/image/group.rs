//! `rbuild image SUBCOMMAND`: docker's management-command spelling of the
//! image commands (`image ls` = `images`, `image rm` = `rmi`, ...), plus
//! `image prune`, which only exists in this form. It maps onto the top-level
//! commands; it adds no behaviour of its own.

use super::{
    HistoryArgs, ImagesArgs, ImportArgs, InspectArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs,
};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ImageGroup {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Remove unused images
    Prune(super::prune::PruneArgs),
}

/// What to run: a top-level image command, or `prune`.
pub enum Resolved {
    Command(super::ImageCommand),
    Prune(super::prune::PruneArgs),
}

impl ImageGroup {
    pub fn resolve(self) -> Resolved {
        use super::ImageCommand as C;
        Resolved::Command(match self {
            ImageGroup::Ls(a) => C::Images(a),
            ImageGroup::Rm(a) => C::Rmi(a),
            ImageGroup::Inspect(a) => C::Inspect(a),
            ImageGroup::History(a) => C::History(a),
            ImageGroup::Tag(a) => C::Tag(a),
            ImageGroup::Save(a) => C::Save(a),
            ImageGroup::Load(a) => C::Load(a),
            ImageGroup::Import(a) => C::Import(a),
            ImageGroup::Prune(a) => return Resolved::Prune(a),
        })
    }
}
