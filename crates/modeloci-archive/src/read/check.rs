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
    /// the digest its name gives (as `unpack --layout` checks it), and the referrers of the
    /// model ([`Archive::referrers`]: their manifests read, capped and verified). A missing or
    /// corrupt blob the manifest (or a referrer) names is not reported here: verify reports it
    /// per blob.
    ///
    /// # Errors
    ///
    /// The first problem: [`Error::UnsafeEntry`] naming the entry or path,
    /// [`Error::BadLayer`], [`Error::UnsupportedLayer`], [`Error::BadManifest`],
    /// [`Error::InvalidDocument`] or [`Error::TooLarge`] for the config,
    /// [`Error::BlobMismatch`] for a blob no descriptor names, those of
    /// [`Archive::referrers`], I/O errors.
    pub fn check_layout(&self) -> Result<()> {
        self.check_outer_entries()?;
        check_manifest(self)?;
        // The referrers' manifests, read capped and verified; in a layout directory their
        // blobs are opened as the model's are (a tar's blobs were checked by name above).
        for referrer in self.referrers()? {
            for blob in referrer.blobs() {
                self.check_blob_entry(&blob.digest)?;
            }
        }
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
