//! Writing the outer archive: a tar whose root is an OCI image layout.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use modeloci_digest::{DigestWriter, Hasher, Measured};
use modeloci_spec::Digest;

use crate::tar_write::{END_OF_ARCHIVE, Kind, blob_header, entry_headers, padding};

/// Appends entries to an archive file. Blobs of unknown size are streamed after a reserved
/// header block, which is filled in once their digest and size are known, so every output byte
/// is written once and nothing is buffered beyond the write buffer.
pub(crate) struct ArchiveWriter {
    out: BufWriter<File>,
    pos: u64,
    mtime: u64,
    blobs: HashSet<Digest>,
}

/// A header slot reserved for a blob being streamed.
#[derive(Clone, Copy)]
pub(crate) struct BlobSlot {
    header_offset: u64,
}

impl ArchiveWriter {
    pub(crate) fn new(file: File, mtime: u64) -> Self {
        Self {
            out: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            mtime,
            blobs: HashSet::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        self.write(&END_OF_ARCHIVE[..padding(size)])
    }

    /// A directory entry; `name` ends with `/`.
    pub(crate) fn append_dir(&mut self, name: &str) -> io::Result<()> {
        let header = entry_headers(name, Kind::Dir, 0, self.mtime);
        self.write(&header)
    }

    /// A regular file with the given content.
    pub(crate) fn append_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let header = entry_headers(
            name,
            Kind::File { executable: false },
            data.len() as u64,
            self.mtime,
        );
        self.write(&header)?;
        self.write(data)?;
        self.pad(data.len() as u64)
    }

    /// A blob whose content is in memory (config, manifest).
    pub(crate) fn append_blob(&mut self, data: &[u8]) -> io::Result<Measured> {
        let measured = Hasher::digest_bytes(data);
        if self.blobs.insert(measured.digest.clone()) {
            self.append_file(&measured.digest.blob_path(), data)?;
        }
        Ok(measured)
    }

    /// Reserves the header of a blob whose content comes next through [`Self::blob_writer`].
    pub(crate) fn begin_blob(&mut self) -> io::Result<BlobSlot> {
        let header_offset = self.pos;
        self.write(&[0; 512])?;
        Ok(BlobSlot { header_offset })
    }

    /// Where the content of the blob begun last goes; it hashes what passes.
    pub(crate) fn blob_writer(&mut self) -> DigestWriter<&mut BufWriter<File>> {
        DigestWriter::new(&mut self.out)
    }

    /// Completes the blob begun last, `measured` being what its [`Self::blob_writer`] saw.
    /// A blob the archive already holds is removed again, so every blob appears once.
    pub(crate) fn finish_blob(&mut self, slot: BlobSlot, measured: &Measured) -> io::Result<()> {
        self.pos += measured.size;
        if !self.blobs.insert(measured.digest.clone()) {
            self.out.flush()?;
            self.out.get_ref().set_len(slot.header_offset)?;
            self.out.seek(SeekFrom::Start(slot.header_offset))?;
            self.pos = slot.header_offset;
            return Ok(());
        }
        self.pad(measured.size)?;
        self.out.flush()?;
        let header = blob_header(&measured.digest.blob_path(), measured.size, self.mtime);
        self.out.get_ref().write_all_at(&header, slot.header_offset)
    }

    /// Writes the end-of-archive marker and gives the file back.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        self.write(&END_OF_ARCHIVE)?;
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }
}
