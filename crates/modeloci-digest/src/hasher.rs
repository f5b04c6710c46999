use modeloci_spec::{Algorithm, Digest};
use sha2::Digest as _;

/// The digest and byte count of some content.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Measured {
    /// The content's digest.
    pub digest: Digest,
    /// The content's length in bytes.
    pub size: u64,
}

impl Measured {
    /// A digest and a size.
    pub fn new(digest: Digest, size: u64) -> Self {
        Self { digest, size }
    }
}

/// An incremental hasher for any algorithm a [`Digest`] can name, counting bytes as it goes.
#[derive(Clone, Debug)]
pub struct Hasher {
    state: State,
    size: u64,
}

#[derive(Clone, Debug)]
enum State {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new(Algorithm::Sha256)
    }
}

impl Hasher {
    /// A hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        let state = match algorithm {
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
            _ => State::Sha256(sha2::Sha256::new()),
        };
        Self { state, size: 0 }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Sha256(h) => h.update(bytes),
            State::Sha512(h) => h.update(bytes),
        }
        self.size += bytes.len() as u64;
    }

    /// How many bytes went in so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest and size of everything fed.
    pub fn finish(self) -> Measured {
        let digest = match self.state {
            State::Sha256(h) => Digest::from_sha256_bytes(&h.finalize().into()),
            State::Sha512(h) => Digest::from_sha512_bytes(&h.finalize().into()),
        };
        Measured::new(digest, self.size)
    }

    /// The digest and size of `bytes`.
    pub fn digest_bytes(bytes: &[u8]) -> Measured {
        let mut hasher = Self::default();
        hasher.update(bytes);
        hasher.finish()
    }
}
