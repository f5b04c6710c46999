use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::{Error, Hasher, Measured};

/// The read size used for hashing: large enough that system calls cost nothing next to the
/// hash, small enough to stay in the CPU's caches.
pub const BUFFER_SIZE: usize = 1 << 20;

/// Hashes a file with SHA-256.
///
/// # Errors
///
/// [`Error::Io`] naming the file when it cannot be opened or read.
pub fn hash_file(path: &Path) -> Result<Measured, Error> {
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    hash_reader(file).map_err(io_err)
}

/// Hashes everything `reader` gives with SHA-256.
///
/// # Errors
///
/// The reader's error.
pub fn hash_reader(mut reader: impl Read) -> io::Result<Measured> {
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; BUFFER_SIZE];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hasher.finish()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
