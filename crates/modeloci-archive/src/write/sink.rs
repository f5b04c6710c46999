//! Where pack's layer blobs go: the archive being written ([`ArchiveSink`]), or anything else
//! that takes a blob as a stream of bytes and learns its digest at the end (an upload to a
//! registry, in the registry crate).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use modeloci_digest::Measured;
use modeloci_spec::{Descriptor, ModelLayer};

use crate::read::archive::Archive;
use crate::write::archive_write::{ArchiveWriter, BlobSlot};

/// Takes pack's layer blobs one at a time: [`Self::begin_blob`], the bytes through
/// [`Self::write_blob`] as the compressor makes them, then [`Self::finish_blob`] with the
/// digest and size hashed from those bytes. Pack never holds a blob whole.
///
/// An error a sink returns ends the pack; the sink keeps whatever it needs to say more.
pub trait BlobSink {
    /// What errors writing to the sink are said to be about: the archive's path, or a
    /// registry reference.
    fn target(&self) -> &Path;

    /// Starts a blob.
    ///
    /// # Errors
    ///
    /// The sink's own.
    fn begin_blob(&mut self) -> io::Result<()>;

    /// The next bytes of the blob begun last.
    ///
    /// # Errors
    ///
    /// The sink's own.
    fn write_blob(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Completes the blob begun last: `measured` is the digest and size of the bytes
    /// written, hashed as they passed.
    ///
    /// # Errors
    ///
    /// The sink's own.
    fn finish_blob(&mut self, measured: &Measured) -> io::Result<()>;

    /// A layer the digest cache remembers for a file unchanged since: whether the sink now
    /// holds its blob without the file being read (a registry that has it; the archive being
    /// rebuilt, whose blob is copied through a verifying reader). `false` makes pack read
    /// the file as for any other layer, so a wrong memory costs time, never bytes.
    ///
    /// # Errors
    ///
    /// The sink's own.
    fn reuse_blob(&mut self, layer: &ModelLayer) -> io::Result<bool> {
        let _ = layer;
        Ok(false)
    }
}

/// The bytes of the blob a sink has begun, as an [`io::Write`].
pub(crate) struct SinkWriter<'a>(pub(crate) &'a mut dyn BlobSink);

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_blob(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The archive being written as a sink; with the archive it replaces (`previous`), a layer
/// the digest cache remembers is copied from it, verified, instead of packed again.
pub(crate) struct ArchiveSink<'a> {
    writer: &'a mut ArchiveWriter,
    path: PathBuf,
    slot: Option<BlobSlot>,
    previous: Option<&'a Archive>,
}

impl<'a> ArchiveSink<'a> {
    pub(crate) fn new(
        writer: &'a mut ArchiveWriter,
        path: &Path,
        previous: Option<&'a Archive>,
    ) -> Self {
        Self {
            writer,
            path: path.to_owned(),
            slot: None,
            previous,
        }
    }

    /// Copies `layer`'s blob from `previous` through a verifying reader. `Ok(false)`, with
    /// nothing left in the archive, when it is not there or does not match.
    fn copy_from(&mut self, previous: &Archive, layer: &Descriptor) -> io::Result<bool> {
        // Only a layer the old manifest lists exactly so: a cached layer that is not one of
        // the previous archive's is a memory of something else.
        if !previous.manifest().layers.iter().any(|l| l == layer) {
            return Ok(false);
        }
        let Ok(mut reader) = previous.verified_blob(layer, "cached layer") else {
            return Ok(false);
        };
        let slot = self.writer.begin_blob()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut blob = self.writer.blob_data();
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Corrupt or unreadable: what was copied goes again, and the file is read.
                    self.writer.abandon_blob(slot)?;
                    return Ok(false);
                }
            };
            blob.write_all(&buf[..n])?;
        }
        let measured = Measured::new(layer.digest.clone(), layer.size);
        self.writer.finish_blob(slot, &measured)?;
        Ok(true)
    }
}

impl BlobSink for ArchiveSink<'_> {
    fn target(&self) -> &Path {
        &self.path
    }

    fn begin_blob(&mut self) -> io::Result<()> {
        self.slot = Some(self.writer.begin_blob()?);
        Ok(())
    }

    fn write_blob(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.blob_data().write_all(bytes)
    }

    fn finish_blob(&mut self, measured: &Measured) -> io::Result<()> {
        let slot = self
            .slot
            .take()
            .ok_or_else(|| io::Error::other("no blob was begun"))?;
        self.writer.finish_blob(slot, measured)
    }

    fn reuse_blob(&mut self, layer: &ModelLayer) -> io::Result<bool> {
        match self.previous {
            Some(previous) => self.copy_from(previous, &Descriptor::from(layer.clone())),
            None => Ok(false),
        }
    }
}
