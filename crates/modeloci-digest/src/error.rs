use std::io;
use std::path::PathBuf;

use modeloci_spec::Digest;
use thiserror::Error;

/// A digest or size check failed, or a file could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The content was longer or shorter than expected.
    #[error("size mismatch: expected {expected} bytes, got {actual}{}", if *.at_least { " or more" } else { "" })]
    SizeMismatch {
        /// The size that was expected.
        expected: u64,
        /// The size seen; a lower bound when `at_least` is set.
        actual: u64,
        /// Reading stopped as soon as the content was known to be too long.
        at_least: bool,
    },
    /// The content had the expected size but another digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest that was expected.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The verification error inside an [`io::Error`] returned by a [`crate::VerifyingReader`],
    /// if that is what it holds.
    pub fn from_io(err: &io::Error) -> Option<&Self> {
        err.get_ref()?.downcast_ref::<Self>()
    }

    /// Takes the verification error out of an [`io::Error`], or gives the `io::Error` back.
    ///
    /// # Errors
    ///
    /// Gives back the original error when it does not hold a [`Self`].
    pub fn try_from_io(err: io::Error) -> Result<Self, io::Error> {
        if Self::from_io(&err).is_none() {
            return Err(err);
        }
        let inner = err.into_inner().expect("checked above");
        Ok(*inner.downcast::<Self>().expect("checked above"))
    }
}
