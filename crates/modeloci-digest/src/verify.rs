use std::io::{self, Read};

use crate::{Error, Hasher, Measured};

/// A reader that checks its content against an expected digest and size.
///
/// - It never hands out a byte beyond the expected size: as soon as the inner reader has more,
///   reading fails with [`Error::SizeMismatch`]. At most `expected.size + 1` bytes are read
///   from the inner reader.
/// - It reports the end of the stream (`Ok(0)`) only after the size and then the digest
///   matched; otherwise that last read fails with [`Error::SizeMismatch`] or
///   [`Error::DigestMismatch`], wrapped in an [`io::Error`] of kind `InvalidData`
///   (see [`Error::from_io`]).
///
/// Bytes before the end are handed out as they pass, so a consumer must treat what it read as
/// unverified until it saw the clean end: write it to a staging file, and rename that into
/// place only then.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Hasher,
    expected: Measured,
    verified: bool,
    /// The mismatch found, given again to every later read.
    failure: Option<Mismatch>,
}

#[derive(Clone, Debug)]
enum Mismatch {
    Size { actual: u64, at_least: bool },
    Digest(modeloci_spec::Digest),
}

impl<R: Read> VerifyingReader<R> {
    /// Checks `inner` against `expected`, hashing with the expected digest's algorithm.
    pub fn new(inner: R, expected: Measured) -> Self {
        Self {
            inner,
            hasher: Hasher::new(expected.digest.algorithm()),
            expected,
            verified: false,
            failure: None,
        }
    }

    /// The expected digest and size.
    pub fn expected(&self) -> &Measured {
        &self.expected
    }

    /// How many bytes were read so far.
    pub fn size(&self) -> u64 {
        self.hasher.size()
    }

    /// Whether the end of the stream was reached and the content matched.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Reads the rest of the stream, discarding it, and checks it.
    ///
    /// # Errors
    ///
    /// [`Error::SizeMismatch`] or [`Error::DigestMismatch`] (inside the `io::Error`), or the
    /// inner reader's error.
    pub fn finish(mut self) -> io::Result<R> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.inner)
    }

    fn fail(&mut self, mismatch: Mismatch) -> io::Error {
        self.failure = Some(mismatch.clone());
        let err = match mismatch {
            Mismatch::Size { actual, at_least } => Error::SizeMismatch {
                expected: self.expected.size,
                actual,
                at_least,
            },
            Mismatch::Digest(actual) => Error::DigestMismatch {
                expected: self.expected.digest.clone(),
                actual,
            },
        };
        io::Error::new(io::ErrorKind::InvalidData, err)
    }

    fn check_end(&mut self) -> io::Result<()> {
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual.size != self.expected.size {
            Err(self.fail(Mismatch::Size {
                actual: actual.size,
                at_least: false,
            }))
        } else if actual.digest != self.expected.digest {
            Err(self.fail(Mismatch::Digest(actual.digest)))
        } else {
            self.verified = true;
            Ok(())
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(mismatch) = self.failure.clone() {
            return Err(self.fail(mismatch));
        }
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        let remaining = self.expected.size - self.hasher.size();
        // Ask for one byte more than remains, so a longer stream is caught without reading on.
        let want = buf
            .len()
            .min(usize::try_from(remaining.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        if n as u64 > remaining {
            let actual = self.hasher.size() + n as u64;
            return Err(self.fail(Mismatch::Size {
                actual,
                at_least: true,
            }));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
