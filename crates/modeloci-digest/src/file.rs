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
    read_chunks(&mut reader, &mut buf, |chunk| {
        hasher.update(chunk);
        Ok::<(), io::Error>(())
    })
    .map_err(ChunkError::into_io)?;
    Ok(hasher.finish())
}

/// What stopped [`read_chunks`]: the reader, or the sink it fed.
#[derive(Debug)]
pub enum ChunkError<E> {
    /// Reading failed (other than being interrupted, which is retried).
    Read(io::Error),
    /// The sink refused a chunk.
    Sink(E),
}

impl ChunkError<io::Error> {
    /// The I/O error, whichever side it came from.
    pub fn into_io(self) -> io::Error {
        match self {
            Self::Read(e) | Self::Sink(e) => e,
        }
    }
}

/// The one read loop: reads `reader` to its end through `buf`, handing each chunk to `sink`
/// as it arrives and retrying reads that were interrupted. Returns the bytes read.
///
/// # Errors
///
/// [`ChunkError::Read`] with the reader's error, [`ChunkError::Sink`] with the sink's; the
/// bytes before either were handed to the sink.
pub fn read_chunks<R: Read + ?Sized, E>(
    reader: &mut R,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<u64, ChunkError<E>> {
    let mut total = 0u64;
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                sink(&buf[..n]).map_err(ChunkError::Sink)?;
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ChunkError::Read(e)),
        }
    }
}

/// Fills `buf` from `reader` as far as the reader allows, retrying reads that were
/// interrupted. Returns the bytes read: `buf.len()`, or fewer only at the end of the stream.
///
/// Unlike [`Read::read_exact`], a short read at the end is not an error, so the caller can
/// tell a clean end (0) from a partial block.
///
/// # Errors
///
/// The reader's error; the bytes before it are in `buf` but not counted.
pub fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives `data` a few bytes at a time, interrupted before each piece.
    struct Stutter<'a> {
        data: &'a [u8],
        interrupt: bool,
    }

    impl Read for Stutter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.data.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn interrupted_reads_are_retried_and_every_byte_reaches_the_sink() {
        let mut seen = Vec::new();
        let mut reader = Stutter {
            data: b"hello, world",
            interrupt: false,
        };
        let n = read_chunks(&mut reader, &mut [0u8; 8], |c| {
            seen.extend_from_slice(c);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!((n, seen.as_slice()), (12, &b"hello, world"[..]));
    }

    #[test]
    fn read_full_fills_the_buffer_through_interruptions_and_short_reads() {
        let mut reader = Stutter {
            data: b"hello, world",
            interrupt: false,
        };
        let mut buf = [0u8; 8];
        assert_eq!(read_full(&mut reader, &mut buf).unwrap(), 8);
        assert_eq!(&buf, b"hello, w");
        // The rest is shorter than the buffer: a partial block, then the end.
        assert_eq!(read_full(&mut reader, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"orld");
        assert_eq!(read_full(&mut reader, &mut buf).unwrap(), 0);
    }

    #[test]
    fn read_full_passes_other_errors_on() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
        let err = read_full(&mut Broken, &mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn the_sink_error_stops_the_loop_and_is_told_apart() {
        let mut reader: &[u8] = b"abcdef";
        let err = read_chunks(&mut reader, &mut [0u8; 2], |c| {
            if c == b"cd" { Err("full") } else { Ok(()) }
        })
        .unwrap_err();
        assert!(matches!(err, ChunkError::Sink("full")));
    }
}
