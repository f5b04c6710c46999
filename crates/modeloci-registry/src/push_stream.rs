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
//! anonymous temporary file in the user's temporary directory (one per upload in flight:
//! disk for the largest compressed layers), then one PUT, skipped when a HEAD finds the blob
//! there.
//!
//! The uploads run on threads of their own ([`uploader`], one per upload at once, as
//! [`PackPushOptions::concurrency`] says): pack hands a blob's lane each full buffer over a
//! channel of one and goes on compressing, so at most two chunks of a blob are in flight (one
//! waiting, one being sent) besides the one filling; `finish_blob` hands it the rest and the
//! next blob takes a free lane, so a layer's last chunks and PUT go up while the next layers
//! are packed. Every upload is answered before the config and the manifest go up. An
//! uploader's first error comes back on pack's next call, as the registry said it.

mod uploader;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};

use modeloci_archive::{BlobSink, ModelPackager, PackedArtifact};
use modeloci_digest::Measured;
use modeloci_spec::{Descriptor, Digest, MediaType, ModelLayer, OciConfig};

use self::uploader::{Answer, Job, Learned, Uploader, exists, named, upload_whole};
use crate::client::Client;
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
    /// Blob uploads at once: a finished layer's upload goes on while the next layers are
    /// packed, up to this many (each on its own connection). 1: each layer's upload ends
    /// before the next layer begins.
    pub concurrency: usize,
}

impl Default for PackPushOptions {
    fn default() -> Self {
        Self {
            chunk_size: 16 << 20,
            extra_tags: Vec::new(),
            concurrency: 4,
        }
    }
}

impl PackPushOptions {
    /// Sets the chunk size (at least [`MIN_CHUNK_SIZE`]).
    pub fn with_chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.max(MIN_CHUNK_SIZE);
        self
    }

    /// Sets how many blob uploads may be in flight at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
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
    let (artifact, outcomes, (chunk_size, fallback)) =
        pack_uploading(client, packager, model_dir, config, reference, options)?;
    if let Some(digest) = &reference.digest
        && *digest != artifact.manifest_digest
    {
        return Err(Error::InvalidOption(format!(
            "the packed manifest is {}, not the {digest} the reference names",
            artifact.manifest_digest
        )));
    }
    let config_blob = artifact.manifest.config.clone();
    let config_outcome = upload_whole(client, repo, &config_blob, &artifact.config_bytes)?;
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
    blobs.extend(artifact.manifest.layers.iter().cloned().zip(outcomes));
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

/// What [`pack_uploading`] gives: the artifact, each layer's outcome, the chunk size in use
/// at the end and how the registry's refusals were got around.
type Uploaded = (
    PackedArtifact,
    Vec<BlobOutcome>,
    (u64, Option<ChunkFallback>),
);

/// Packs with the layer blobs going to `lanes` uploader threads, which have sent them all,
/// or failed and cancelled their open sessions, when this returns.
fn pack_uploading(
    client: &Client,
    packager: &ModelPackager,
    model_dir: &Path,
    config: &OciConfig,
    reference: &Reference,
    options: &PackPushOptions,
) -> Result<Uploaded> {
    let chunk_size = options.chunk_size.max(MIN_CHUNK_SIZE);
    let repo = reference.repository.as_str();
    let learned = Learned::new(chunk_size);
    std::thread::scope(|scope| {
        let (outbox, answers) = mpsc::channel();
        let mut lanes = Vec::new();
        for lane in 0..options.concurrency.max(1) {
            let (jobs, inbox) = mpsc::sync_channel(1);
            let uploader = Uploader::new(client, repo, &learned, lane);
            let outbox = outbox.clone();
            scope.spawn(move || uploader.run(inbox, outbox));
            lanes.push(Lane { jobs, slot: None });
        }
        drop(outbox);
        let mut sink = UploadSink {
            client,
            repo,
            target: PathBuf::from(reference.to_string()),
            buffer: usize::try_from(chunk_size).unwrap_or(usize::MAX),
            buf: Vec::new(),
            current: None,
            lanes,
            answers,
            outcomes: Vec::new(),
            failure: None,
        };
        // Every blob's upload is answered before the manifest.
        let packed = packager
            .pack_to(model_dir, config, &mut sink)
            .map_err(Error::Archive)
            .and_then(|artifact| sink.drain().map(|()| artifact));
        let failure = sink.failure.take();
        let outcomes: Option<Vec<_>> = sink.outcomes.iter().copied().collect();
        // Hanging up ends the uploaders, which cancel the sessions left open.
        drop(sink);
        match (packed, failure) {
            (_, Some(e)) | (Err(e), None) => Err(e),
            (Ok(artifact), None) => {
                let outcomes = outcomes.expect("every upload answered");
                Ok((artifact, outcomes, learned.fallback()))
            }
        }
    })
}

/// An uploader thread as pack sees it.
struct Lane {
    jobs: SyncSender<Job>,
    /// The layer whose blob it has, until it answers.
    slot: Option<usize>,
}

/// Pack's blobs into uploads to one repository: the bytes gather in a buffer of the chunk
/// size, each full one handed to the blob's [`Uploader`] over a channel of one, so at most
/// two chunks of a blob are in flight (one waiting, one being sent) besides the one filling.
/// A finished blob's upload goes on while the next is packed, on another lane.
struct UploadSink<'a> {
    client: &'a Client,
    repo: &'a str,
    target: PathBuf,
    /// The buffer size: the chunk size asked for.
    buffer: usize,
    buf: Vec<u8>,
    /// The lane of the blob begun last, until it is finished.
    current: Option<usize>,
    lanes: Vec<Lane>,
    answers: Receiver<Answer>,
    /// Each layer's outcome, in order, once known.
    outcomes: Vec<Option<BlobOutcome>>,
    /// The registry error behind the last I/O error the sink returned.
    failure: Option<Error>,
}

impl UploadSink<'_> {
    /// Keeps the registry's error and hands pack an I/O error saying it.
    fn fail(&mut self, error: Error) -> io::Error {
        let error = named(error);
        let said = io::Error::other(error.to_string());
        self.failure = Some(error);
        said
    }

    /// Takes in an answer: the lane is free again, or the error is pack's.
    fn answered(&mut self, (lane, answer): Answer) -> io::Result<()> {
        let slot = self.lanes[lane].slot.take();
        match (answer, slot) {
            (Ok(outcome), Some(slot)) => {
                self.outcomes[slot] = Some(outcome);
                Ok(())
            }
            (Ok(_), None) => Err(io::Error::other("an upload was answered unasked")),
            (Err(e), _) => Err(self.fail(e)),
        }
    }

    /// The answers come so far; an uploader's error, once one has stopped on it.
    fn poll(&mut self) -> io::Result<()> {
        if self.failure.is_some() {
            return Err(io::Error::other("an upload failed"));
        }
        while let Ok(answer) = self.answers.try_recv() {
            self.answered(answer)?;
        }
        Ok(())
    }

    /// Waits for the next answer.
    fn wait(&mut self) -> io::Result<()> {
        match self.answers.recv() {
            Ok(answer) => self.answered(answer),
            Err(_) => Err(io::Error::other("the uploaders stopped")),
        }
    }

    /// Hands `job` to the current blob's lane; one that has stopped says why.
    fn hand(&mut self, job: Job) -> io::Result<()> {
        let lane = self
            .current
            .ok_or_else(|| io::Error::other("no blob was begun"))?;
        if self.lanes[lane].jobs.send(job).is_ok() {
            return Ok(());
        }
        // It stopped on an error, which is on its way if not taken already.
        while self.failure.is_none() {
            self.wait()?;
        }
        Err(io::Error::other("an upload failed"))
    }

    /// Waits for every upload handed over.
    fn drain(&mut self) -> Result<()> {
        while self.lanes.iter().any(|l| l.slot.is_some()) {
            if let Err(e) = self.wait() {
                return Err(self.failure.take().unwrap_or(Error::Archive(
                    modeloci_archive::Error::Io {
                        path: self.target.clone(),
                        source: e,
                    },
                )));
            }
        }
        Ok(())
    }
}

impl BlobSink for UploadSink<'_> {
    fn target(&self) -> &Path {
        &self.target
    }

    fn begin_blob(&mut self) -> io::Result<()> {
        self.poll()?;
        let lane = loop {
            if let Some(free) = self.lanes.iter().position(|l| l.slot.is_none()) {
                break free;
            }
            self.wait()?;
        };
        self.lanes[lane].slot = Some(self.outcomes.len());
        self.outcomes.push(None);
        self.current = Some(lane);
        self.buf.clear();
        Ok(())
    }

    fn write_blob(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.current.is_none() {
            return Err(io::Error::other("no blob was begun"));
        }
        self.poll()?;
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.buf.capacity() < self.buffer {
                self.buf.reserve_exact(self.buffer - self.buf.len());
            }
            let n = (self.buffer - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.buf.len() == self.buffer {
                let full = std::mem::take(&mut self.buf);
                self.hand(Job::Chunk(full))?;
            }
        }
        Ok(())
    }

    fn finish_blob(&mut self, measured: &Measured) -> io::Result<()> {
        let rest = std::mem::take(&mut self.buf);
        self.hand(Job::Finish(rest, measured.clone()))?;
        // Its upload goes on; the next blob takes another lane.
        self.current = None;
        self.poll()
    }

    fn reuse_blob(&mut self, layer: &ModelLayer) -> io::Result<bool> {
        self.poll()?;
        match exists(self.client, self.repo, &layer.digest, layer.size) {
            Ok(true) => {
                self.outcomes.push(Some(BlobOutcome::Existed));
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(self.fail(e)),
        }
    }
}
