//! Packing straight into a registry (`pack --push`): each layer blob goes up as the
//! compressor makes it, with no archive and no copy of a blob on disk; then the config, the
//! manifest and the tags, as [`crate::push`] stores them. The artifact is the one `pack`
//! writes, so its manifest digest is the one `pack` then `push` gives.
//!
//! A blob is held in memory up to the chunk size. One that ends before that goes up in one
//! PUT (after a HEAD: the registry may have it). A longer one opens an upload session and is
//! sent in PATCHes of the chunk size as the buffer fills, closed by a PUT naming the digest
//! hashed from its bytes, which the registry checks. A registry that refuses chunks for
//! their size gets smaller ones (halved down to [`MIN_CHUNK_SIZE`], or the size it kept);
//! one that refuses chunks at all gets each blob longer than the buffer spooled to an
//! anonymous temporary file in the user's temporary directory (one blob at a time: disk for
//! the largest compressed layer), then one PUT, skipped when a HEAD finds the blob there.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use modeloci_archive::{BlobSink, ModelPackager, PackedArtifact};
use modeloci_digest::Measured;
use modeloci_spec::{Descriptor, Digest, MediaType, ModelLayer, OciConfig};

use crate::client::{Access, Advance, Body, ChunkAnswer, Client, Refusal, Tries, UploadSession};
use crate::naming::{check_tags, push_tag};
use crate::push::{BlobOutcome, ChunkFallback, MIN_CHUNK_SIZE, put_manifest_tagged};
use crate::reference::Reference;
use crate::{Error, Result};

/// Options for [`pack_and_push`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PackPushOptions {
    /// The most bytes of a blob held in memory, and the size of its chunks: a blob that
    /// ends within it goes up in one PUT, a longer one in PATCHes of this size.
    pub chunk_size: u64,
    /// Tags to set besides the reference's own.
    pub extra_tags: Vec<String>,
}

impl Default for PackPushOptions {
    fn default() -> Self {
        Self {
            chunk_size: 64 << 20,
            extra_tags: Vec::new(),
        }
    }
}

impl PackPushOptions {
    /// Sets the chunk size (at least [`MIN_CHUNK_SIZE`]).
    pub fn with_chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.max(MIN_CHUNK_SIZE);
        self
    }

    /// Sets more tags for the manifest.
    pub fn with_extra_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.extra_tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// What [`pack_and_push`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PackPushReport {
    /// The reference pushed, with the tag used and the manifest's digest.
    pub reference: Reference,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// Each blob (config first, then the layers) and how it got there.
    pub blobs: Vec<(Descriptor, BlobOutcome)>,
    /// The tags set.
    pub tags: Vec<String>,
    /// The chunk size in use at the end.
    pub chunk_size: u64,
    /// How the push got around a registry that refused its chunks: with
    /// [`ChunkFallback::SinglePut`], blobs longer than the chunk size were spooled.
    pub fallback: Option<ChunkFallback>,
    /// What was packed: the layers, facts, bytes read.
    pub artifact: PackedArtifact,
}

impl PackPushReport {
    /// Bytes sent in blob uploads.
    pub fn bytes_uploaded(&self) -> u64 {
        self.blobs
            .iter()
            .filter(|(_, o)| matches!(o, BlobOutcome::Uploaded | BlobOutcome::UploadedInChunks))
            .map(|(d, _)| d.size)
            .sum()
    }

    /// How many blobs had this outcome.
    pub fn count(&self, outcome: BlobOutcome) -> usize {
        self.blobs.iter().filter(|(_, o)| *o == outcome).count()
    }
}

/// Packs `model_dir` with `packager` straight into `reference`'s repository (tagged with
/// its tag, else `latest`): layer blobs uploaded as they are compressed, then the config,
/// then the manifest and its tags. Nothing is tagged unless every blob is stored, so a
/// failure part way leaves no tag (the blobs already sent stay, for the registry's garbage
/// collection or the next try). A layer the packager's digest cache remembers for an
/// unchanged file is not read when a HEAD finds its blob in the registry.
///
/// # Errors
///
/// [`Error::InvalidTag`] before any request, the packer's errors as [`Error::Archive`],
/// and those of [`crate::push`]; a reference with a digest other than the artifact's is
/// [`Error::InvalidOption`], before the manifest is stored.
pub fn pack_and_push(
    client: &Client,
    packager: &ModelPackager,
    model_dir: &Path,
    config: &OciConfig,
    reference: &Reference,
    options: &PackPushOptions,
) -> Result<PackPushReport> {
    let tag = push_tag(reference);
    check_tags(std::iter::once(tag.as_str()).chain(options.extra_tags.iter().map(String::as_str)))?;
    let repo = reference.repository.as_str();
    let mut sink = UploadSink::new(client, repo, reference, options.chunk_size);
    let artifact = match packager.pack_to(model_dir, config, &mut sink) {
        Ok(artifact) => artifact,
        Err(e) => return Err(sink.failure.take().unwrap_or(Error::Archive(e))),
    };
    if let Some(digest) = &reference.digest
        && *digest != artifact.manifest_digest
    {
        return Err(Error::InvalidOption(format!(
            "the packed manifest is {}, not the {digest} the reference names",
            artifact.manifest_digest
        )));
    }
    let config_blob = artifact.manifest.config.clone();
    let config_outcome = sink.upload_whole(&config_blob, &artifact.config_bytes)?;
    let media_type = artifact
        .manifest
        .media_type
        .clone()
        .unwrap_or(MediaType::ImageManifest);
    let manifest = (
        media_type,
        artifact.manifest_bytes.as_slice(),
        &artifact.manifest_digest,
    );
    let (digest, tags) =
        put_manifest_tagged(client, reference, &tag, &options.extra_tags, manifest)?;
    let mut blobs = vec![(config_blob, config_outcome)];
    blobs.extend(
        artifact
            .manifest
            .layers
            .iter()
            .cloned()
            .zip(sink.outcomes.iter().copied()),
    );
    let (chunk_size, fallback) = sink.fallback();
    Ok(PackPushReport {
        reference: Reference {
            tag: Some(tag),
            digest: Some(digest.clone()),
            ..reference.clone()
        },
        manifest_digest: digest,
        blobs,
        tags,
        chunk_size,
        fallback,
        artifact,
    })
}

/// The blob being streamed.
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

/// Pack's blobs into uploads to one repository.
struct UploadSink<'a> {
    client: &'a Client,
    repo: &'a str,
    target: PathBuf,
    /// The buffer size: the chunk size asked for.
    buffer: usize,
    /// The PATCH size in use: the buffer size, or smaller once the registry refused it.
    chunk: u64,
    refuse_chunks: bool,
    blob: Option<Blob>,
    /// Each layer's outcome, in order.
    outcomes: Vec<BlobOutcome>,
    /// The registry error behind the last I/O error the sink returned.
    failure: Option<Error>,
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
fn named(error: Error) -> Error {
    match error {
        Error::Protocol { registry, reason } => Error::Protocol {
            registry,
            reason: reason.replace(placeholder().as_str(), "being packed"),
        },
        other => other,
    }
}

impl<'a> UploadSink<'a> {
    fn new(client: &'a Client, repo: &'a str, reference: &Reference, chunk_size: u64) -> Self {
        let chunk_size = chunk_size.max(MIN_CHUNK_SIZE);
        Self {
            client,
            repo,
            target: PathBuf::from(reference.to_string()),
            buffer: usize::try_from(chunk_size).unwrap_or(usize::MAX),
            chunk: chunk_size,
            refuse_chunks: false,
            blob: None,
            outcomes: Vec::new(),
            failure: None,
        }
    }

    fn fallback(&self) -> (u64, Option<ChunkFallback>) {
        let fallback = if self.refuse_chunks {
            Some(ChunkFallback::SinglePut)
        } else if self.chunk < self.buffer as u64 {
            Some(ChunkFallback::SmallerChunks)
        } else {
            None
        };
        (self.chunk, fallback)
    }

    /// Keeps the registry's error and hands pack an I/O error saying it.
    fn fail(&mut self, error: Error) -> io::Error {
        let error = named(error);
        let said = io::Error::other(error.to_string());
        self.failure = Some(error);
        said
    }

    /// Whether the repository has the blob, at its size.
    fn exists(&self, digest: &Digest, size: u64) -> Result<bool> {
        let stat = self.client.head_blob(self.repo, digest, Access::Push)?;
        match stat.and_then(|s| s.size) {
            Some(stated) if stated != size => Err(Error::Protocol {
                registry: self.client.registry().to_owned(),
                reason: format!("it has blob {digest} as {stated} bytes, not {size}"),
            }),
            _ => Ok(stat.is_some()),
        }
    }

    /// A blob in memory, unless the registry has it: one POST and one PUT.
    fn upload_whole(&self, descriptor: &Descriptor, bytes: &[u8]) -> Result<BlobOutcome> {
        if self.exists(&descriptor.digest, descriptor.size)? {
            return Ok(BlobOutcome::Existed);
        }
        let session = self.client.start_upload(self.repo)?;
        self.client
            .put_blob(self.repo, &session, descriptor, &Body::Bytes(bytes))?;
        Ok(BlobOutcome::Uploaded)
    }

    /// A spooled blob, unless the registry has it: one PUT streamed from the file.
    fn upload_spooled(&self, descriptor: &Descriptor, spool: &File) -> Result<BlobOutcome> {
        if self.exists(&descriptor.digest, descriptor.size)? {
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
        if !self.refuse_chunks {
            if blob.session.is_none() {
                blob.session = Some(self.client.start_upload(self.repo)?);
            }
            match self.send(blob)? {
                Chunked::Done => return Ok(()),
                Chunked::Refused => self.refuse_chunks = true,
            }
        }
        spool(blob)
    }
}

/// Moves the blob's buffer to a new anonymous temporary file, where the rest goes too.
fn spool(blob: &mut Blob) -> Result<()> {
    let temp = std::env::temp_dir();
    let io = |source| Error::Io {
        path: temp.clone(),
        source,
    };
    let mut file = tempfile::tempfile_in(&temp).map_err(io)?;
    file.write_all(&blob.buf).map_err(io)?;
    blob.buf = Vec::new();
    blob.spool = Some(file);
    Ok(())
}

impl UploadSink<'_> {
    /// PATCHes the buffer in chunks, resuming from the registry's account after a failure
    /// (within the buffer: bytes before it are gone), halving chunks it refuses for their
    /// size. `Refused` when the registry takes no chunks (told by the blob's first PATCH).
    fn send(&mut self, blob: &mut Blob) -> Result<Chunked> {
        let base = blob.sent;
        let end = base + blob.buf.len() as u64;
        let mut offset = base;
        let mut tries = Tries::new(self.client);
        while offset < end {
            let len = self.chunk.min(end - offset);
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
                        self.chunk = self.chunk.min(next - offset);
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
                    self.chunk = self.chunk.min(len / 2);
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
            return self.upload_whole(&descriptor, &blob.buf);
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

impl BlobSink for UploadSink<'_> {
    fn target(&self) -> &Path {
        &self.target
    }

    fn begin_blob(&mut self) -> io::Result<()> {
        self.blob = Some(Blob {
            buf: Vec::new(),
            sent: 0,
            session: None,
            spool: None,
            advance: Advance::default(),
        });
        Ok(())
    }

    fn write_blob(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut blob = self
            .blob
            .take()
            .ok_or_else(|| io::Error::other("no blob was begun"))?;
        let written = self.append(&mut blob, bytes);
        self.blob = Some(blob);
        written
    }

    fn finish_blob(&mut self, measured: &Measured) -> io::Result<()> {
        let blob = self
            .blob
            .take()
            .ok_or_else(|| io::Error::other("no blob was begun"))?;
        match self.complete(blob, measured) {
            Ok(outcome) => {
                self.outcomes.push(outcome);
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn reuse_blob(&mut self, layer: &ModelLayer) -> io::Result<bool> {
        match self.exists(&layer.digest, layer.size) {
            Ok(true) => {
                self.outcomes.push(BlobOutcome::Existed);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl UploadSink<'_> {
    fn append(&mut self, blob: &mut Blob, bytes: &[u8]) -> io::Result<()> {
        if let Some(spool) = &mut blob.spool {
            return spool.write_all(bytes).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("spooling a blob to {}: {e}", std::env::temp_dir().display()),
                )
            });
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = (self.buffer - blob.buf.len()).min(rest.len());
            blob.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if blob.buf.len() == self.buffer {
                self.flush(blob).map_err(|e| self.fail(e))?;
                if let Some(spool) = &mut blob.spool {
                    return spool.write_all(rest);
                }
            }
        }
        Ok(())
    }
}

impl Drop for UploadSink<'_> {
    fn drop(&mut self) {
        // A pack that failed part way leaves no session open.
        if let Some(session) = self.blob.take().and_then(|b| b.session) {
            self.client.cancel_upload(self.repo, session);
        }
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
