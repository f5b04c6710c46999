use std::io::{self, Write};

use modeloci_spec::Algorithm;

use crate::{Hasher, Measured};

/// A writer that hashes and counts the bytes written through it.
///
/// Only bytes the inner writer accepted are hashed, so the digest always describes what was
/// actually written.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> DigestWriter<W> {
    /// Hashes with SHA-256.
    pub fn new(inner: W) -> Self {
        Self::with_algorithm(inner, Algorithm::Sha256)
    }

    /// Hashes with `algorithm`.
    pub fn with_algorithm(inner: W, algorithm: Algorithm) -> Self {
        Self {
            inner,
            hasher: Hasher::new(algorithm),
        }
    }

    /// The inner writer and the digest and size of what was written.
    pub fn finish(self) -> (W, Measured) {
        (self.inner, self.hasher.finish())
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably. Bytes written to it directly are not hashed.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// How many bytes were written so far.
    pub fn size(&self) -> u64 {
        self.hasher.size()
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
