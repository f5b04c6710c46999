//! Pushing an archive: blobs the registry lacks, then the manifest, then tags.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use modeloci_archive::{Archive, FileGuard, Progress, ProgressHandle, blob_label};
use modeloci_digest::{Hasher, all_or_first_error, largest_first};
use modeloci_spec::{Descriptor, Digest, MediaType, OciManifest};

use crate::cache::BlobLocations;
use crate::client::{
    Access, Advance, Body, ChunkAnswer, Client, Mount, Refusal, Tries, UploadSession,
};
use crate::naming::{check_tags, manifest_ref, push_tag};
use crate::reference::Reference;
use crate::remote::blobs_of;
use crate::{Error, Result};

/// Options for [`push`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub concurrency: usize,
    /// Blobs larger than this go up in chunks of this size (PATCH), which survive a broken
    /// connection; smaller ones in one PUT. A registry that refuses a chunk for its size
    /// gets smaller ones (halved, down to [`MIN_CHUNK_SIZE`]), one that refuses chunks one
    /// PUT; either is remembered for the rest of the push ([`PushReport::fallback`]).
    pub chunk_size: u64,
    /// Tags to set besides the reference's own.
    pub extra_tags: Vec<String>,
    /// Repositories of the same registry to mount blobs from, besides those remembered.
    pub mount_from: Vec<String>,
    /// Where blob locations are remembered between runs, for cross-repository mounts.
    pub cache: Option<PathBuf>,
    /// Where to report the bytes uploaded (blobs the registry has count as done).
    pub progress: Option<ProgressHandle>,
    /// Manifests to attach as referrers of the pushed manifest once it is stored (a
    /// signature, say): each manifest's bytes, with the blobs it needs.
    pub referrers: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            chunk_size: 64 << 20,
            extra_tags: Vec::new(),
            mount_from: Vec::new(),
            cache: None,
            progress: None,
            referrers: Vec::new(),
        }
    }
}

impl PushOptions {
    /// Sets how many blobs go up at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets the chunk size (and the size above which blobs are chunked).
    pub fn with_chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Sets more tags for the manifest.
    pub fn with_extra_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.extra_tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets repositories to mount blobs from.
    pub fn with_mount_from(
        mut self,
        repositories: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.mount_from = repositories.into_iter().map(Into::into).collect();
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Option<ProgressHandle>) -> Self {
        self.progress = progress;
        self
    }

    /// Attaches these manifests (each with the bytes of the blobs it needs) as referrers of
    /// the pushed manifest: each must name it as its `subject`.
    pub fn with_referrers(mut self, referrers: Vec<(Vec<u8>, Vec<Vec<u8>>)>) -> Self {
        self.referrers = referrers;
        self
    }

    /// Attaches the archive's own referrers (its signatures), read with their blobs.
    ///
    /// # Errors
    ///
    /// Those of reading the referrers and their blobs (each at most
    /// [`modeloci_archive::MAX_REFERRER_BLOB_SIZE`]).
    pub fn with_archive_referrers(self, archive: &Archive) -> Result<Self> {
        let referrers = archive
            .referrers()?
            .into_iter()
            .map(|r| {
                let blobs = r
                    .blobs()
                    .map(|d| archive.read_blob(d, modeloci_archive::MAX_REFERRER_BLOB_SIZE))
                    .collect::<modeloci_archive::Result<Vec<_>>>()?;
                Ok((r.bytes, blobs))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_referrers(referrers))
    }

    /// Remembers blob locations in this file.
    pub fn with_cache(mut self, path: Option<PathBuf>) -> Self {
        self.cache = path;
        self
    }
}

/// How one blob got to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobOutcome {
    /// The registry had it.
    Existed,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded in one request.
    Uploaded,
    /// Uploaded in chunks.
    UploadedInChunks,
}

/// The smallest chunk a push shrinks to when the registry refuses chunks for their size;
/// below it, the blob goes up in one PUT.
pub const MIN_CHUNK_SIZE: u64 = 1 << 20;

/// How a push got around a registry's refusal of its chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkFallback {
    /// It refused chunks for their size: smaller ones passed ([`PushReport::chunk_size`]).
    SmallerChunks,
    /// It refused chunks (PATCH) altogether: blobs went up in one PUT each.
    SinglePut,
}

/// What [`push`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PushReport {
    /// The reference pushed, with the tag used.
    pub reference: Reference,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// Each blob (config first, then layers) and what happened to it.
    pub blobs: Vec<(Descriptor, BlobOutcome)>,
    /// The tags set.
    pub tags: Vec<String>,
    /// The chunk size in use at the end: the one asked for, unless the registry refused it.
    pub chunk_size: u64,
    /// How the push got around a registry that refused its chunks, if it had to.
    pub fallback: Option<ChunkFallback>,
    /// The referrers attached, in the order given.
    pub referrers: Vec<Digest>,
}

impl PushReport {
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

/// Pushes `archive` to `reference` (tagged with the reference's tag, else `latest`, the tag a
/// pull without one asks for): every blob the registry lacks, concurrently and streamed
/// from the archive file, then the manifest with its bytes as stored, then the tags, then
/// the referrers of [`PushOptions::referrers`] ([`crate::attach`]).
///
/// # Errors
///
/// [`Error::InvalidTag`] before any request for a tag outside the OCI grammar,
/// [`Error::Unauthorized`] (with a hint to log in), [`Error::Unreachable`],
/// [`Error::Status`], [`Error::Verification`] when the registry states another digest,
/// [`Error::InvalidOption`] before any request for a referrer that does not name the
/// archive's manifest as its subject, and archive errors (a corrupt blob is refused by the
/// registry's digest check).
pub fn push(
    client: &Client,
    archive: &Archive,
    reference: &Reference,
    options: &PushOptions,
) -> Result<PushReport> {
    if let Some(digest) = &reference.digest
        && digest != archive.manifest_digest()
    {
        return Err(Error::InvalidOption(format!(
            "the archive's manifest is {}, not the {digest} the reference names",
            archive.manifest_digest()
        )));
    }
    check_referrers(archive.manifest_digest(), &options.referrers)?;
    let tag = push_tag(reference);
    check_tags(std::iter::once(tag.as_str()).chain(options.extra_tags.iter().map(String::as_str)))?;
    let repo = reference.repository.as_str();
    let config = archive.config_bytes()?;
    let mut locations = options
        .cache
        .as_deref()
        .map(BlobLocations::load)
        .unwrap_or_default();
    let uploader = Uploader::new(client, archive, repo, &config, options);
    let blobs = uploader.upload_all(blobs_of(archive.manifest()), &locations)?;
    let (chunk_size, fallback) = uploader.fallback();
    let (digest, tags) = push_manifest(client, archive, reference, &tag, &options.extra_tags)?;
    let referrers = attach_all(client, repo, &options.referrers)?;
    if let Some(path) = &options.cache {
        for (descriptor, _) in &blobs {
            locations.record(client.registry(), repo, &descriptor.digest);
        }
        // Remembering is a convenience: failing to write it must not fail the push.
        let _ = locations.save(path);
    }
    Ok(PushReport {
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
        referrers,
    })
}

/// Refuses, before any request, a referrer that is not a manifest naming `subject`.
fn check_referrers(subject: &Digest, referrers: &[(Vec<u8>, Vec<Vec<u8>>)]) -> Result<()> {
    for (i, (bytes, _)) in referrers.iter().enumerate() {
        let manifest = OciManifest::from_slice(bytes).map_err(|source| {
            Error::Archive(modeloci_archive::Error::InvalidDocument {
                entry: format!("referrer {i}"),
                source,
            })
        })?;
        let theirs = manifest.subject.map(|d| d.digest);
        if theirs.as_ref() != Some(subject) {
            return Err(Error::InvalidOption(format!(
                "referrer {} refers to {}, not to the pushed manifest {subject}",
                Hasher::digest_bytes(bytes).digest,
                theirs.map_or_else(|| "no manifest".to_owned(), |d| d.to_string())
            )));
        }
    }
    Ok(())
}

/// Attaches each referrer with its blobs; their digests.
fn attach_all(
    client: &Client,
    repo: &str,
    referrers: &[(Vec<u8>, Vec<Vec<u8>>)],
) -> Result<Vec<Digest>> {
    referrers
        .iter()
        .map(|(bytes, blobs)| {
            // `attach` matches given blobs to the manifest's descriptors by digest; the media
            // type it uses is the manifest's.
            let described: Vec<(Descriptor, &[u8])> = blobs
                .iter()
                .map(|b| {
                    let m = Hasher::digest_bytes(b);
                    (
                        Descriptor::new(MediaType::Empty, m.digest, m.size),
                        b.as_slice(),
                    )
                })
                .collect();
            crate::referrers::attach(client, repo, bytes, &described)
        })
        .collect()
}

/// Stores the manifest under the reference's digest or `tag`, then under each extra tag;
/// returns its digest and the tags set.
fn push_manifest(
    client: &Client,
    archive: &Archive,
    reference: &Reference,
    tag: &str,
    extra_tags: &[String],
) -> Result<(Digest, Vec<String>)> {
    let media_type = archive
        .manifest()
        .media_type
        .clone()
        .unwrap_or(MediaType::ImageManifest);
    let manifest = (
        media_type,
        archive.manifest_bytes(),
        archive.manifest_digest(),
    );
    put_manifest_tagged(client, reference, tag, extra_tags, manifest)
}

/// Stores `manifest` (its media type, bytes and digest) as [`push`] does: under the
/// reference's digest or `tag`, checked to be stored as that digest, then each extra tag.
pub(crate) fn put_manifest_tagged(
    client: &Client,
    reference: &Reference,
    tag: &str,
    extra_tags: &[String],
    (media_type, bytes, expected): (MediaType, &[u8], &Digest),
) -> Result<(Digest, Vec<String>)> {
    let repo = reference.repository.as_str();
    let digest = client.put_manifest(repo, &manifest_ref(reference, tag), &media_type, bytes)?;
    if digest != *expected {
        return Err(Error::Protocol {
            registry: client.registry().to_owned(),
            reason: format!("stored the manifest as {digest}, expected {expected}"),
        });
    }
    let mut tags = vec![tag.to_owned()];
    for extra in extra_tags {
        if tags.contains(extra) {
            continue;
        }
        client.put_manifest(repo, extra, &media_type, bytes)?;
        tags.push(extra.clone());
    }
    Ok((digest, tags))
}

struct Uploader<'a> {
    client: &'a Client,
    archive: &'a Archive,
    repo: &'a str,
    config: &'a [u8],
    options: &'a PushOptions,
    refuse_chunks: AtomicBool,
    /// The chunk size that works: the one asked for, or smaller once the registry refused it.
    chunk: AtomicU64,
    progress: Option<&'a dyn Progress>,
    /// How far into each blob uploads have read, so that a resent chunk is not counted twice.
    sent: Mutex<HashMap<Digest, u64>>,
}

impl<'a> Uploader<'a> {
    fn new(
        client: &'a Client,
        archive: &'a Archive,
        repo: &'a str,
        config: &'a [u8],
        options: &'a PushOptions,
    ) -> Self {
        Self {
            client,
            archive,
            repo,
            config,
            options,
            refuse_chunks: AtomicBool::new(false),
            chunk: AtomicU64::new(options.chunk_size.max(1)),
            progress: options.progress.as_ref().map(|h| &*h.0),
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// The chunk size in use, and how the registry's refusals changed the upload.
    fn fallback(&self) -> (u64, Option<ChunkFallback>) {
        let chunk = self.chunk.load(Ordering::Relaxed);
        let fallback = if self.refuse_chunks.load(Ordering::Relaxed) {
            Some(ChunkFallback::SinglePut)
        } else if chunk < self.options.chunk_size {
            Some(ChunkFallback::SmallerChunks)
        } else {
            None
        };
        (chunk, fallback)
    }

    /// Brings every blob to the registry, the largest first, several at once.
    fn upload_all(
        &self,
        descriptors: Vec<Descriptor>,
        locations: &BlobLocations,
    ) -> Result<Vec<(Descriptor, BlobOutcome)>> {
        if let Some(p) = self.progress {
            p.start("uploading", descriptors.iter().map(|d| d.size).sum());
        }
        let sizes: Vec<u64> = descriptors.iter().map(|d| d.size).collect();
        let results = largest_first(&sizes, self.options.concurrency, |i| {
            let descriptor = &descriptors[i];
            let _file = FileGuard::start(self.progress, &blob_label(descriptor), descriptor.size);
            let mut sources: Vec<String> = self.options.mount_from.clone();
            sources.extend(locations.lookup(self.client.registry(), &descriptor.digest));
            sources.retain(|s| s != self.repo);
            let outcome = self.ensure(descriptor, &sources)?;
            if matches!(outcome, BlobOutcome::Existed | BlobOutcome::Mounted) {
                self.skipped(descriptor);
            }
            Ok::<_, Error>(outcome)
        });
        if let Some(p) = self.progress {
            p.finish();
        }
        Ok(descriptors
            .into_iter()
            .zip(all_or_first_error(results)?)
            .collect())
    }

    /// A reader of the blob from `offset` on, reporting progress.
    fn open_at(&self, descriptor: &Descriptor, offset: u64) -> io::Result<Box<dyn Read + '_>> {
        let inner = self.open_blob_at(descriptor, offset)?;
        Ok(match self.progress {
            Some(progress) => Box::new(Sent {
                inner,
                sent: &self.sent,
                digest: descriptor.digest.clone(),
                position: offset,
                progress,
            }),
            None => inner,
        })
    }

    /// A blob the registry already has, or got by a mount, is done.
    fn skipped(&self, descriptor: &Descriptor) {
        if let Some(p) = self.progress {
            let sent = self.sent.lock().expect("no panics holding it");
            let read = sent.get(&descriptor.digest).copied().unwrap_or(0);
            p.advance(descriptor.size.saturating_sub(read));
        }
    }

    fn open_blob_at(&self, descriptor: &Descriptor, offset: u64) -> io::Result<Box<dyn Read + '_>> {
        if descriptor.digest == self.archive.manifest().config.digest {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(self.config.len());
            return Ok(Box::new(&self.config[start..]));
        }
        let reader = self
            .archive
            .blob_reader(&descriptor.digest, offset)
            .map_err(io::Error::other)?
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("blob {} is missing from the archive", descriptor.digest),
                )
            })?;
        Ok(Box::new(reader))
    }

    /// Brings one blob to the registry: there already, mounted from one of `mount_sources`,
    /// or uploaded (in chunks when large, unless the registry refuses them).
    fn ensure(&self, descriptor: &Descriptor, mount_sources: &[String]) -> Result<BlobOutcome> {
        if self.exists(descriptor)? {
            return Ok(BlobOutcome::Existed);
        }
        let mut session = None;
        for from in mount_sources {
            // A mount that fails opens an upload session; the last one is used to upload.
            match self
                .client
                .mount_blob(self.repo, &descriptor.digest, from)?
            {
                Mount::Mounted => return Ok(BlobOutcome::Mounted),
                Mount::Session(opened) => session = Some(opened),
            }
        }
        let mut session = match session {
            Some(session) => session,
            None => self.client.start_upload(self.repo)?,
        };
        if descriptor.size > self.options.chunk_size && !self.refuse_chunks.load(Ordering::Relaxed)
        {
            match self.upload_chunks(descriptor, session)? {
                Chunked::Done => return Ok(BlobOutcome::UploadedInChunks),
                Chunked::Refused => self.refuse_chunks.store(true, Ordering::Relaxed),
            }
            session = self.client.start_upload(self.repo)?;
        }
        self.upload_whole(descriptor, &session)?;
        Ok(BlobOutcome::Uploaded)
    }

    /// Whether the registry has the blob, at the archive's size.
    fn exists(&self, descriptor: &Descriptor) -> Result<bool> {
        let stat = self
            .client
            .head_blob(self.repo, &descriptor.digest, Access::Push)?;
        match stat.and_then(|s| s.size) {
            Some(size) if size != descriptor.size => Err(Error::Protocol {
                registry: self.client.registry().to_owned(),
                reason: format!(
                    "it has blob {} as {size} bytes, the archive as {}",
                    descriptor.digest, descriptor.size
                ),
            }),
            _ => Ok(stat.is_some()),
        }
    }

    /// One PUT with the whole blob, streamed from the archive.
    fn upload_whole(&self, descriptor: &Descriptor, session: &UploadSession) -> Result<()> {
        let open = || self.open_at(descriptor, 0);
        let body = Body::Stream {
            open: &open,
            len: descriptor.size,
        };
        self.client.put_blob(self.repo, session, descriptor, &body)
    }

    /// PATCH chunks, resuming from the registry's own account of what it has after a broken
    /// connection or a chunk refused for its size (then sending smaller ones), then the
    /// closing PUT.
    fn upload_chunks(
        &self,
        descriptor: &Descriptor,
        mut session: UploadSession,
    ) -> Result<Chunked> {
        let size = descriptor.size;
        let mut offset = 0u64;
        let mut advance = Advance::default();
        let mut tries = Tries::new(self.client);
        while offset < size {
            // `offset < size`, so `len >= 1` and `start + len <= size`: nothing overflows.
            let len = self.chunk.load(Ordering::Relaxed).min(size - offset);
            let start = offset;
            let open =
                || Ok(Box::new(self.open_at(descriptor, start)?.take(len)) as Box<dyn Read + '_>);
            let body = Body::Stream { open: &open, len };
            let answer =
                self.client
                    .patch_chunk(self.repo, &mut session, descriptor, start, &body)?;
            match answer {
                ChunkAnswer::Accepted { next, answer } => {
                    // A registry that kept less than it was sent takes no more at once.
                    if next > start && next - start < len {
                        self.shrink_to(next - start);
                    }
                    offset = next;
                    advance.round(self.client, descriptor, offset, len, &answer)?;
                    tries.succeeded();
                }
                ChunkAnswer::Rejected {
                    refusal: Refusal::TooLarge,
                    ..
                } if self.shrink(len) => {
                    offset = self
                        .client
                        .upload_status(self.repo, &mut session, descriptor)?;
                }
                ChunkAnswer::Rejected { refusal, .. }
                    if refusal == Refusal::TooLarge
                        || (refusal == Refusal::NoChunks && offset == 0) =>
                {
                    // The registry does not take chunks, or none small enough to send: cancel
                    // this session and PUT instead.
                    self.client.cancel_upload(self.repo, session);
                    return Ok(Chunked::Refused);
                }
                ChunkAnswer::Rejected { error, .. } | ChunkAnswer::Failed(error) => {
                    let Some(wait) = tries.failed(false) else {
                        return Err(error);
                    };
                    std::thread::sleep(wait);
                    offset = self
                        .client
                        .upload_status(self.repo, &mut session, descriptor)?;
                }
            }
        }
        self.client
            .put_blob(self.repo, &session, descriptor, &Body::Empty)?;
        Ok(Chunked::Done)
    }
}

impl Uploader<'_> {
    /// A chunk of `refused` bytes was too large: halves the chunk size for every blob from
    /// now on, unless that goes below [`MIN_CHUNK_SIZE`]; whether it did.
    fn shrink(&self, refused: u64) -> bool {
        let half = refused / 2;
        if half < MIN_CHUNK_SIZE {
            return false;
        }
        self.chunk.fetch_min(half, Ordering::Relaxed);
        true
    }

    /// The registry kept only `kept` bytes of a chunk: chunks of that size from now on,
    /// unless that is below [`MIN_CHUNK_SIZE`] (a stall, which [`Advance`] catches).
    fn shrink_to(&self, kept: u64) {
        if kept >= MIN_CHUNK_SIZE {
            self.chunk.fetch_min(kept, Ordering::Relaxed);
        }
    }
}

enum Chunked {
    Done,
    Refused,
}

/// A blob's bytes on their way up; reports only bytes past the furthest point any upload of
/// the blob reached, so retries do not count twice.
struct Sent<'a> {
    inner: Box<dyn Read + 'a>,
    sent: &'a Mutex<HashMap<Digest, u64>>,
    digest: Digest,
    position: u64,
    progress: &'a dyn Progress,
}

impl Read for Sent<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        let mut sent = self.sent.lock().expect("no panics holding it");
        let furthest = sent.entry(self.digest.clone()).or_insert(0);
        if self.position > *furthest {
            self.progress.advance(self.position - *furthest);
            *furthest = self.position;
        }
        Ok(n)
    }
}
