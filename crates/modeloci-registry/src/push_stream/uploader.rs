//! The uploader thread of a `pack --push` session: it takes a blob's chunks from pack over
//! a bounded channel and PATCHes them (or spools them, for a registry that takes no chunks)
//! while pack compresses the next ones, then closes each blob with its PUT. The first error
//! ends the thread, its blob's session cancelled, and goes back to pack as it was.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use modeloci_digest::Measured;
use modeloci_spec::{Descriptor, Digest, MediaType};

use crate::client::{Access, Advance, Body, ChunkAnswer, Client, Refusal, Tries, UploadSession};
use crate::push::{BlobOutcome, ChunkFallback, MIN_CHUNK_SIZE};
use crate::{Error, Result};

/// What pack hands the uploader, in order.
pub(super) enum Job {
    /// A full buffer of the blob begun last (the first one begins it).
    Chunk(Vec<u8>),
    /// The rest of the blob, and its digest and size: complete it and answer.
    Finish(Vec<u8>, Measured),
}

/// The blob being streamed.
#[derive(Default)]
struct Blob {
    /// Bytes not yet sent; at most the buffer size.
    buf: Vec<u8>,
    /// Bytes before `buf`: sent and confirmed.
    sent: u64,
    /// The upload session, once the blob outgrew the buffer.
    session: Option<UploadSession>,
    /// Where the blob goes instead when the registry takes no chunks.
    spool: Option<File>,
    advance: Advance,
}

enum Chunked {
    Done,
    Refused,
}

/// What the uploaders of one push learn of the registry, together.
pub(super) struct Learned {
    /// The buffer size: the chunk size asked for.
    buffer: u64,
    /// The PATCH size in use: the buffer size, or smaller once the registry refused it.
    chunk: AtomicU64,
    refuse_chunks: AtomicBool,
}

impl Learned {
    pub(super) fn new(chunk_size: u64) -> Self {
        Self {
            buffer: chunk_size,
            chunk: AtomicU64::new(chunk_size),
            refuse_chunks: AtomicBool::new(false),
        }
    }

    fn chunk(&self) -> u64 {
        self.chunk.load(Ordering::SeqCst)
    }

    fn shrink(&self, to: u64) {
        self.chunk.fetch_min(to, Ordering::SeqCst);
    }

    /// The chunk size in use at the end, and how the registry's refusals were got around.
    pub(super) fn fallback(&self) -> (u64, Option<ChunkFallback>) {
        let chunk = self.chunk();
        let fallback = if self.refuse_chunks.load(Ordering::SeqCst) {
            Some(ChunkFallback::SinglePut)
        } else if chunk < self.buffer {
            Some(ChunkFallback::SmallerChunks)
        } else {
            None
        };
        (chunk, fallback)
    }
}

/// What an uploader answers: its lane, and the blob's outcome or the error that stopped it.
pub(super) type Answer = (usize, Result<BlobOutcome>);

/// Uploads to one repository, one blob at a time, on its own thread (its lane).
pub(super) struct Uploader<'a> {
    client: &'a Client,
    repo: &'a str,
    learned: &'a Learned,
    lane: usize,
    blob: Option<Blob>,
}

/// A blob in the making, for the checks and messages of chunked uploads, which need a size
/// before the digest is known: `size` bounds the range the registry may confirm.
fn in_the_making(size: u64) -> Descriptor {
    Descriptor::new(MediaType::Empty, placeholder(), size)
}

fn placeholder() -> Digest {
    Digest::from_sha256_bytes(&[0; 32])
}

/// An error about [`in_the_making`]'s blob, said of a blob being packed.
pub(super) fn named(error: Error) -> Error {
    match error {
        Error::Protocol { registry, reason } => Error::Protocol {
            registry,
            reason: reason.replace(placeholder().as_str(), "being packed"),
        },
        other => other,
    }
}

/// Whether the repository has the blob, at its size.
pub(super) fn exists(client: &Client, repo: &str, digest: &Digest, size: u64) -> Result<bool> {
    let stat = client.head_blob(repo, digest, Access::Push)?;
    match stat.and_then(|s| s.size) {
        Some(stated) if stated != size => Err(Error::Protocol {
            registry: client.registry().to_owned(),
            reason: format!("it has blob {digest} as {stated} bytes, not {size}"),
        }),
        _ => Ok(stat.is_some()),
    }
}

/// A blob in memory, unless the registry has it: one POST and one PUT.
pub(super) fn upload_whole(
    client: &Client,
    repo: &str,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Result<BlobOutcome> {
    if exists(client, repo, &descriptor.digest, descriptor.size)? {
        return Ok(BlobOutcome::Existed);
    }
    let session = client.start_upload(repo)?;
    client.put_blob(repo, &session, descriptor, &Body::Bytes(bytes))?;
    Ok(BlobOutcome::Uploaded)
}

impl<'a> Uploader<'a> {
    pub(super) fn new(
        client: &'a Client,
        repo: &'a str,
        learned: &'a Learned,
        lane: usize,
    ) -> Self {
        Self {
            client,
            repo,
            learned,
            lane,
            blob: None,
        }
    }

    /// Does the jobs until pack hangs up, answering each `Finish`; the first error is
    /// answered instead, and ends the thread.
    pub(super) fn run(mut self, jobs: Receiver<Job>, answers: Sender<Answer>) {
        for job in jobs {
            let done = match job {
                Job::Chunk(bytes) => self.chunk_of_blob(bytes).map(|()| None),
                Job::Finish(rest, measured) => self.finish(rest, &measured).map(Some),
            };
            match done {
                Ok(None) => {}
                Ok(Some(outcome)) => {
                    if answers.send((self.lane, Ok(outcome))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    self.cancel();
                    let _ = answers.send((self.lane, Err(named(e))));
                    break;
                }
            }
        }
        // Pack failed, or hung up part way: no session is left open.
        self.cancel();
    }

    fn cancel(&mut self) {
        if let Some(session) = self.blob.take().and_then(|b| b.session) {
            self.client.cancel_upload(self.repo, session);
        }
    }

    /// A full buffer: to the spool, if the blob is spooled, else PATCHed.
    fn chunk_of_blob(&mut self, bytes: Vec<u8>) -> Result<()> {
        let mut blob = self.blob.take().unwrap_or_default();
        let done = match &mut blob.spool {
            Some(spool) => spool.write_all(&bytes).map_err(spool_error),
            None => {
                blob.buf = bytes;
                self.flush(&mut blob)
            }
        };
        self.blob = Some(blob);
        done
    }

    /// The last bytes of the blob, then its PUT.
    fn finish(&mut self, rest: Vec<u8>, measured: &Measured) -> Result<BlobOutcome> {
        let mut blob = self.blob.take().unwrap_or_default();
        if let Some(spool) = &mut blob.spool {
            if let Err(e) = spool.write_all(&rest) {
                return Err(spool_error(e));
            }
        } else {
            blob.buf = rest;
        }
        self.complete(blob, measured)
    }

    /// A spooled blob, unless the registry has it: one PUT streamed from the file.
    fn upload_spooled(&self, descriptor: &Descriptor, spool: &File) -> Result<BlobOutcome> {
        if exists(self.client, self.repo, &descriptor.digest, descriptor.size)? {
            return Ok(BlobOutcome::Existed);
        }
        let session = self.client.start_upload(self.repo)?;
        let open = || {
            Ok(Box::new(At {
                file: spool,
                pos: 0,
            }) as Box<dyn Read + '_>)
        };
        let body = Body::Stream {
            open: &open,
            len: descriptor.size,
        };
        self.client
            .put_blob(self.repo, &session, descriptor, &body)?;
        Ok(BlobOutcome::Uploaded)
    }

    /// The buffer is full: PATCH it (opening the session first), or spool it when the
    /// registry takes no chunks.
    fn flush(&mut self, blob: &mut Blob) -> Result<()> {
        if !self.learned.refuse_chunks.load(Ordering::SeqCst) {
            if blob.session.is_none() {
                blob.session = Some(self.client.start_upload(self.repo)?);
            }
            match self.send(blob)? {
                Chunked::Done => return Ok(()),
                Chunked::Refused => self.learned.refuse_chunks.store(true, Ordering::SeqCst),
            }
        }
        spool(blob)
    }
}

fn spool_error(e: io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir(),
        source: e,
    }
}

/// Moves the blob's buffer to a new anonymous temporary file, where the rest goes too.
fn spool(blob: &mut Blob) -> Result<()> {
    let temp = std::env::temp_dir();
    let mut file = tempfile::tempfile_in(&temp).map_err(spool_error)?;
    file.write_all(&blob.buf).map_err(spool_error)?;
    blob.buf = Vec::new();
    blob.spool = Some(file);
    Ok(())
}

impl Uploader<'_> {
    /// PATCHes the buffer in chunks, resuming from the registry's account after a failure
    /// (within the buffer: bytes before it are gone), halving chunks it refuses for their
    /// size. `Refused` when the registry takes no chunks (told by the blob's first PATCH).
    fn send(&mut self, blob: &mut Blob) -> Result<Chunked> {
        let base = blob.sent;
        let end = base + blob.buf.len() as u64;
        let mut offset = base;
        let mut tries = Tries::new(self.client);
        while offset < end {
            let len = self.learned.chunk().min(end - offset);
            let from = usize::try_from(offset - base).expect("within the buffer");
            let body = Body::Bytes(&blob.buf[from..from + len as usize]);
            let making = in_the_making(offset + len);
            let session = blob.session.as_mut().expect("opened before sending");
            let answer = self
                .client
                .patch_chunk(self.repo, session, &making, offset, &body)?;
            match answer {
                ChunkAnswer::Accepted { next, answer } => {
                    if next > offset && next - offset < len && next - offset >= MIN_CHUNK_SIZE {
                        self.learned.shrink(next - offset);
                    }
                    blob.advance
                        .round(self.client, &making, next, len, &answer)?;
                    offset = self.within(next, base)?;
                    tries.succeeded();
                }
                ChunkAnswer::Rejected {
                    refusal: Refusal::TooLarge,
                    ..
                } if len / 2 >= MIN_CHUNK_SIZE => {
                    self.learned.shrink(len / 2);
                    offset = self.status(blob, base, end)?;
                }
                ChunkAnswer::Rejected { refusal, .. }
                    if offset == 0 && matches!(refusal, Refusal::TooLarge | Refusal::NoChunks) =>
                {
                    if let Some(session) = blob.session.take() {
                        self.client.cancel_upload(self.repo, session);
                    }
                    return Ok(Chunked::Refused);
                }
                ChunkAnswer::Rejected { error, .. } | ChunkAnswer::Failed(error) => {
                    let Some(wait) = tries.failed(false) else {
                        return Err(error);
                    };
                    std::thread::sleep(wait);
                    offset = self.status(blob, base, end)?;
                }
            }
        }
        blob.sent = end;
        blob.buf.clear();
        Ok(Chunked::Done)
    }

    /// Where the session stands, which must be within the buffer.
    fn status(&self, blob: &mut Blob, base: u64, end: u64) -> Result<u64> {
        let session = blob.session.as_mut().expect("opened before sending");
        let next = self
            .client
            .upload_status(self.repo, session, &in_the_making(end))?;
        self.within(next, base)
    }

    /// `next`, unless the registry lost bytes no longer held.
    fn within(&self, next: u64, base: u64) -> Result<u64> {
        if next < base {
            return Err(self.client.protocol(format!(
                "uploading a blob being packed: it now has {next} bytes of the {base} it \
                 confirmed, and those are no longer at hand to send again"
            )));
        }
        Ok(next)
    }

    /// Completes the blob: one PUT for a blob held whole or spooled, else the rest in
    /// chunks and the closing PUT naming its digest.
    fn complete(&mut self, mut blob: Blob, measured: &Measured) -> Result<BlobOutcome> {
        let descriptor = Descriptor::new(MediaType::Empty, measured.digest.clone(), measured.size);
        if let Some(spool) = blob.spool.take() {
            return self.upload_spooled(&descriptor, &spool);
        }
        if blob.session.is_none() {
            return upload_whole(self.client, self.repo, &descriptor, &blob.buf);
        }
        if !blob.buf.is_empty() {
            self.send(&mut blob)?;
        }
        let session = blob.session.take().expect("chunked");
        if blob.sent != measured.size {
            return Err(self.client.protocol(format!(
                "uploaded {} bytes of blob {}, which has {}",
                blob.sent, measured.digest, measured.size
            )));
        }
        self.client
            .put_blob(self.repo, &session, &descriptor, &Body::Empty)?;
        Ok(BlobOutcome::UploadedInChunks)
    }
}

/// A spool file read from `pos` on with positioned reads, so each try reads it afresh.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
