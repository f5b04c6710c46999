//! Writing the outer archive: a tar whose root is an OCI image layout.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use modeloci_digest::{Hasher, Measured};
use modeloci_spec::Digest;

use crate::tarfile::header::{END_OF_ARCHIVE, Kind, blob_header, entry_headers, padding};

/// The size of the buffers handed to the writer thread.
const CHUNK: usize = 1 << 20;
/// Buffers queued for the writer thread at most: bounds memory to a few MiB.
const QUEUE: usize = 2;

/// Appends entries to an archive file. Blobs of unknown size are streamed after a reserved
/// header block, which is filled in once their digest and size are known, so every output byte
/// is written once and nothing is buffered beyond a few MiB.
///
/// A thread does the writing, so that hashing and compressing overlap with the kernel's copy
/// into the page cache.
pub(crate) struct ArchiveWriter {
    file: Arc<File>,
    buf: Vec<u8>,
    thread: WriterThread,
    spare: Receiver<Vec<u8>>,
    pos: u64,
    mtime: u64,
    blobs: HashSet<Digest>,
}

/// The writer thread; stopped (its queue closed, then joined) on drop.
struct WriterThread {
    queue: Option<SyncSender<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl WriterThread {
    fn send(&self, job: Job) -> io::Result<()> {
        self.queue
            .as_ref()
            .and_then(|q| q.send(job).ok())
            .ok_or_else(|| io::Error::other("the archive writer thread stopped"))
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

enum Job {
    Data(Vec<u8>),
    /// Reply once everything queued before is written, with the first error if any.
    Sync(SyncSender<io::Result<()>>),
}

/// A header slot reserved for a blob being streamed.
#[derive(Clone, Copy)]
pub(crate) struct BlobSlot {
    header_offset: u64,
}

fn write_loop(file: &File, jobs: &Receiver<Job>, spare: &SyncSender<Vec<u8>>) {
    let mut failed: Option<io::Error> = None;
    for job in jobs {
        match job {
            Job::Data(mut buf) => {
                if failed.is_none()
                    && let Err(e) = (&*file).write_all(&buf)
                {
                    failed = Some(e);
                }
                buf.clear();
                let _ = spare.try_send(buf);
            }
            Job::Sync(reply) => {
                let result = match &failed {
                    Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
                    None => Ok(()),
                };
                let _ = reply.send(result);
            }
        }
    }
}

impl ArchiveWriter {
    pub(crate) fn new(file: File, mtime: u64) -> Self {
        let file = Arc::new(file);
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        let (spare_tx, spare) = mpsc::sync_channel(QUEUE + 1);
        let writer_file = Arc::clone(&file);
        let handle = std::thread::spawn(move || write_loop(&writer_file, &jobs, &spare_tx));
        Self {
            file,
            buf: Vec::with_capacity(CHUNK),
            thread: WriterThread {
                queue: Some(queue),
                handle: Some(handle),
            },
            spare,
            pos: 0,
            mtime,
            blobs: HashSet::new(),
        }
    }

    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.thread.send(Job::Data(full))
    }

    /// Waits until everything written so far is in the file.
    fn sync(&mut self) -> io::Result<()> {
        self.send_buf()?;
        let (reply, result) = mpsc::sync_channel(1);
        self.thread.send(Job::Sync(reply))?;
        result
            .recv()
            .map_err(|_| io::Error::other("the archive writer thread stopped"))?
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = CHUNK - self.buf.len();
            let n = room.min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.buf.len() == CHUNK {
                self.send_buf()?;
            }
        }
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        self.append(&END_OF_ARCHIVE[..padding(size)])
    }

    /// A directory entry; `name` ends with `/`.
    pub(crate) fn append_dir(&mut self, name: &str) -> io::Result<()> {
        let header = entry_headers(name, Kind::Dir, 0, self.mtime);
        self.append(&header)
    }

    /// A regular file with the given content.
    pub(crate) fn append_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let header = entry_headers(
            name,
            Kind::File { executable: false },
            data.len() as u64,
            self.mtime,
        );
        self.append(&header)?;
        self.append(data)?;
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

    /// Reserves the header of a blob whose content comes next through [`Self::blob_data`].
    pub(crate) fn begin_blob(&mut self) -> io::Result<BlobSlot> {
        let header_offset = self.pos;
        self.append(&[0; 512])?;
        Ok(BlobSlot { header_offset })
    }

    /// Where the content of the blob begun last goes, unhashed: for bytes already checked
    /// against their digest on the way in (a copy through a verifying reader).
    pub(crate) fn blob_data(&mut self) -> BlobData<'_> {
        BlobData(self)
    }

    /// Completes the blob begun last, `measured` being the digest and size of its content.
    /// A blob the archive already holds is removed again, so every blob appears once.
    pub(crate) fn finish_blob(&mut self, slot: BlobSlot, measured: &Measured) -> io::Result<()> {
        if !self.blobs.insert(measured.digest.clone()) {
            return self.abandon_blob(slot);
        }
        self.pad(measured.size)?;
        // The placeholder must be in the file before the header overwrites it.
        self.sync()?;
        let header = blob_header(&measured.digest.blob_path(), measured.size, self.mtime);
        self.file.write_all_at(&header, slot.header_offset)
    }

    /// Removes the blob begun at `slot` and all written after it, as if it had never begun.
    pub(crate) fn abandon_blob(&mut self, slot: BlobSlot) -> io::Result<()> {
        self.sync()?;
        self.file.set_len(slot.header_offset)?;
        (&*self.file).seek(SeekFrom::Start(slot.header_offset))?;
        self.pos = slot.header_offset;
        Ok(())
    }

    /// Writes the end-of-archive marker, waits for the writer, and gives the file back.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        self.append(&END_OF_ARCHIVE)?;
        self.sync()?;
        let Self { file, thread, .. } = self;
        drop(thread);
        Arc::try_unwrap(file).map_err(|_| io::Error::other("the archive file is still shared"))
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }
}

/// The content of the blob being streamed.
pub(crate) struct BlobData<'a>(&'a mut ArchiveWriter);

impl Write for BlobData<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
