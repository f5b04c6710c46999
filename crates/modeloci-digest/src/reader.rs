use std::io::{self, Read};

use modeloci_spec::Algorithm;

use crate::{Hasher, Measured};

/// A reader that hashes and counts the bytes read through it.
#[derive(Debug)]
pub struct DigestReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> DigestReader<R> {
    /// Hashes with SHA-256.
    pub fn new(inner: R) -> Self {
        Self::with_algorithm(inner, Algorithm::Sha256)
    }

    /// Hashes with `algorithm`.
    pub fn with_algorithm(inner: R, algorithm: Algorithm) -> Self {
        Self {
            inner,
            hasher: Hasher::new(algorithm),
        }
    }

    /// The digest and size of what was read so far.
    pub fn finish(self) -> Measured {
        self.hasher.finish()
    }

    /// Like [`finish`](Self::finish), and gives the inner reader back.
    pub fn into_parts(self) -> (R, Measured) {
        (self.inner, self.hasher.finish())
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// How many bytes were read so far.
    pub fn size(&self) -> u64 {
        self.hasher.size()
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
