//! The manifest guard: pack and add never write a manifest larger than readers (this tool's
//! [`MAX_DOCUMENT_SIZE`]) and registries accept. An upper bound is estimated from the plan
//! before any blob is written (every digest has one length, every size at most int64's 19
//! digits); the real manifest is checked again before the archive is finished.

use modeloci_digest::Measured;
use modeloci_spec::{Digest, ModelLayer, annotations};

use crate::error::{Error, Result};
use crate::read::archive::MAX_DOCUMENT_SIZE;

/// A digest and size at least as long, written out, as any real one: the stand-in for a
/// blob not yet written.
pub(crate) fn placeholder() -> Measured {
    Measured::new(placeholder_digest(), i64::MAX as u64)
}

/// A SHA-256 digest, as long as any.
pub(crate) fn placeholder_digest() -> Digest {
    Digest::from_sha256_bytes(&[0; 32])
}

/// `layer` with the stand-in file digest annotation a one-file tar layer gets once written.
pub(crate) fn with_file_digest(mut layer: ModelLayer) -> ModelLayer {
    layer.annotations.insert(
        annotations::FILE_DIGEST.to_owned(),
        placeholder_digest().to_string(),
    );
    layer
}

/// Refuses a manifest of `layers` layers and `bytes` bytes (or an upper bound of them) over
/// the limit.
///
/// # Errors
///
/// [`Error::ManifestTooLarge`].
pub(crate) fn check(layers: usize, bytes: usize) -> Result<()> {
    let bytes = bytes as u64;
    if bytes > MAX_DOCUMENT_SIZE {
        return Err(Error::ManifestTooLarge {
            layers,
            bytes,
            limit: MAX_DOCUMENT_SIZE,
        });
    }
    Ok(())
}
