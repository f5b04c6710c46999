//! The uncompressed content of a layer: a tar holding one file.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use modeloci_digest::{Hasher, Measured};

use crate::error::Error;
use crate::source::SourceFile;
use crate::tarfile::header::{END_OF_ARCHIVE, Kind, entry_headers, padding};

/// A problem with a source file met while its layer streams through a compressor: carried
/// inside an `io::Error` so that it can be told apart from a problem writing the archive.
#[derive(Debug)]
pub(crate) struct SourceError {
    path: PathBuf,
    expected: u64,
    /// The read error, or `None` when the file changed size.
    read: Option<io::Error>,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.read {
            Some(e) => write!(f, "{}: {e}", self.path.display()),
            None => write!(
                f,
                "{} changed while it was being packed",
                self.path.display()
            ),
        }
    }
}

impl std::error::Error for SourceError {}

/// The library error for an I/O error from a layer pipeline writing to `output`.
pub(crate) fn pipeline_error(err: io::Error, output: &Path) -> Error {
    if err.get_ref().is_some_and(|e| e.is::<SourceError>()) {
        let source = *err
            .into_inner()
            .and_then(|e| e.downcast::<SourceError>().ok())
            .expect("checked above");
        return match source.read {
            Some(read) => Error::Io {
                path: source.path,
                source: read,
            },
            None => Error::FileChanged {
                path: source.path,
                expected: source.expected,
            },
        };
    }
    Error::Io {
        path: output.to_owned(),
        source: err,
    }
}

/// Reads exactly `size` bytes of a file and fails if it has fewer or more.
struct Exact {
    file: File,
    remaining: u64,
    path: PathBuf,
    expected: u64,
    /// The file's content hashed as it is read, when asked for.
    hasher: Option<Hasher>,
}

impl Exact {
    fn error(&self, read: Option<io::Error>) -> io::Error {
        let kind = read
            .as_ref()
            .map_or(io::ErrorKind::InvalidData, io::Error::kind);
        io::Error::new(
            kind,
            SourceError {
                path: self.path.clone(),
                expected: self.expected,
                read,
            },
        )
    }
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Past the size seen when packing began, the file must have ended.
            let mut probe = [0u8; 1];
            return match self.file.read(&mut probe) {
                Ok(0) => Ok(0),
                Ok(_) => Err(self.error(None)),
                Err(e) => Err(self.error(Some(e))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self
            .file
            .read(&mut buf[..want])
            .map_err(|e| self.error(Some(e)))?;
        if n == 0 && want > 0 {
            return Err(self.error(None));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A reader of exactly the file's size as the walk saw it, from `handle` (the file opened by
/// [`crate::write::walk::open_planned`]); fails if the file changed.
pub(crate) fn exact(handle: File, file: &SourceFile) -> impl Read {
    Exact {
        file: handle,
        remaining: file.size,
        path: file.path.clone(),
        expected: file.size,
        hasher: None,
    }
}

/// Header(s), then the file, then padding and the end-of-archive marker.
type Parts = io::Chain<io::Chain<Cursor<Vec<u8>>, Exact>, Cursor<Vec<u8>>>;

/// The layer tar of `file` as a stream: header(s), content, padding, end-of-archive marker.
pub(crate) struct LayerTar {
    inner: Parts,
}

impl LayerTar {
    /// The layer of `file`, its content read from `handle` (the file opened by
    /// [`crate::write::walk::open_planned`]) and hashed on the way: [`Self::content`] is
    /// the file's digest once the tar has been read to its end.
    pub(crate) fn new(handle: File, file: &SourceFile, mtime: u64) -> Self {
        let size = file.size;
        let headers = entry_headers(
            &file.rel,
            Kind::File {
                executable: file.executable,
            },
            size,
            mtime,
        );
        let mut tail = vec![0u8; padding(size)];
        tail.extend_from_slice(&END_OF_ARCHIVE);
        let exact = Exact {
            file: handle,
            remaining: size,
            path: file.path.clone(),
            expected: size,
            hasher: Some(Hasher::default()),
        };
        Self {
            inner: Cursor::new(headers).chain(exact).chain(Cursor::new(tail)),
        }
    }

    /// The SHA-256 and size of the file's content as it was read: the one read that fed
    /// the layer, so no byte is read twice.
    pub(crate) fn content(self) -> Measured {
        let (front, _) = self.inner.into_inner();
        let (_, exact) = front.into_inner();
        exact.hasher.expect("a layer tar hashes its file").finish()
    }
}

impl Read for LayerTar {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use modeloci_digest::Hasher;

    use super::*;

    #[test]
    fn the_layer_tar_hashes_its_file_in_the_read_that_feeds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.bin");
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = SourceFile {
            rel: "w.bin".into(),
            path: path.clone(),
            size: data.len() as u64,
            executable: false,
        };
        let mut tar = LayerTar::new(File::open(&path).unwrap(), &file, 0);
        let mut out = Vec::new();
        tar.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 512 + 70_144 + 1024);
        assert_eq!(&out[512..512 + data.len()], &data[..]);
        assert_eq!(tar.content(), Hasher::digest_bytes(&data));
    }
}
