//! The one check of an archive's layout that verify, inspect and unpack share, so that the
//! three refuse the same archives. It sits above `archive.rs` and unpack's planning, which
//! it combines: the archive index itself knows nothing of how unpack plans layers.

use crate::error::{Error, Result};
use crate::read::archive::Archive;
use crate::read::unpack::check_manifest;

impl Archive {
    /// Checks what unpack checks before it reads a blob, so that verify, inspect and unpack
    /// refuse the same archives: every entry of the outer tar as `unpack --layout` would
    /// extract it (no absolute or `..` path, link, device, FIFO, sparse file, duplicate or
    /// case-colliding path, whether or not the layout names it), the layers as unpack plans
    /// them (their paths and types, blobs shared between layers or with the config, see
    /// [`crate::layers_for`]), no descriptor naming the manifest's own blob, and a model
    /// config that parses, and that each blob of the outer tar no descriptor names hashes to
    /// the digest its name gives (as `unpack --layout` checks it). A missing or corrupt blob
    /// the manifest names is not reported here: verify reports it per blob.
    ///
    /// # Errors
    ///
    /// The first problem: [`Error::UnsafeEntry`] naming the entry or path,
    /// [`Error::BadLayer`], [`Error::UnsupportedLayer`], [`Error::BadManifest`],
    /// [`Error::InvalidDocument`] or [`Error::TooLarge`] for the config,
    /// [`Error::BlobMismatch`] for a blob no descriptor names, I/O errors.
    pub fn check_layout(&self) -> Result<()> {
        self.check_outer_entries()?;
        check_manifest(self)?;
        match self.config() {
            Ok(_)
            | Err(
                Error::UnsupportedConfig { .. }
                | Error::MissingBlob { .. }
                | Error::BlobMismatch { .. },
            ) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
