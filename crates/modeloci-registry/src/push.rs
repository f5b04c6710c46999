//! Pushing an archive: blobs the registry lacks, then the manifest, then tags.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use modeloci_archive::{Archive, Progress, ProgressHandle};
use modeloci_digest::{all_or_first_error, largest_first};
use modeloci_spec::{Descriptor, Digest, MediaType};

use crate::cache::BlobLocations;
use crate::client::{Body, Client, Retry, drain, header};
use crate::reference::Reference;
use crate::{Error, Result};

/// Options for [`push`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub concurrency: usize,
    /// Blobs larger than this go up in chunks of this size (PATCH), which survive a broken
    /// connection; smaller ones in one PUT. A registry that refuses chunks gets one PUT.
    pub chunk_size: u64,
    /// Tags to set besides the reference's own.
    pub extra_tags: Vec<String>,
    /// Repositories of the same registry to mount blobs from, besides those remembered.
    pub mount_from: Vec<String>,
    /// Where blob locations are remembered between runs, for cross-repository mounts.
    pub cache: Option<PathBuf>,
    /// Where to report the bytes uploaded (blobs the registry has count as done).
    pub progress: Option<ProgressHandle>,
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

/// Pushes `archive` to `reference` (tagged with the reference's tag, else the archive's own
/// reference name): every blob the registry lacks, concurrently and streamed from the archive
/// file, then the manifest with its bytes as stored, then the tags.
///
/// # Errors
///
/// [`Error::Unauthorized`] (with a hint to log in), [`Error::Unreachable`],
/// [`Error::Status`], [`Error::Verification`] when the registry states another digest, and
/// archive errors (a corrupt blob is refused by the registry's digest check).
pub fn push(
    client: &Client,
    archive: &Archive,
    reference: &Reference,
    options: &PushOptions,
) -> Result<PushReport> {
    let manifest = archive.manifest();
    if let Some(digest) = &reference.digest
        && digest != archive.manifest_digest()
    {
        return Err(Error::InvalidOption(format!(
            "the archive's manifest is {}, not the {digest} the reference names",
            archive.manifest_digest()
        )));
    }
    let tag = reference
        .tag
        .clone()
        .or_else(|| archive.reference_name().map(str::to_owned))
        .unwrap_or_else(|| "latest".to_owned());
    let repo = reference.repository.as_str();
    let config = archive.config_bytes()?;

    let mut descriptors = vec![manifest.config.clone()];
    for layer in &manifest.layers {
        if !descriptors.iter().any(|d| d.digest == layer.digest) {
            descriptors.push(layer.clone());
        }
    }
    let mut locations = options
        .cache
        .as_deref()
        .map(BlobLocations::load)
        .unwrap_or_default();
    let uploader = Uploader {
        client,
        archive,
        repo,
        config: &config,
        options,
        refuse_chunks: AtomicBool::new(false),
        progress: options.progress.as_ref().map(|h| &*h.0),
        sent: Mutex::new(HashMap::new()),
    };
    if let Some(p) = uploader.progress {
        p.start("uploading", descriptors.iter().map(|d| d.size).sum());
    }

    let sizes: Vec<u64> = descriptors.iter().map(|d| d.size).collect();
    let results = largest_first(&sizes, options.concurrency, |i| {
        let descriptor = &descriptors[i];
        let mut sources: Vec<String> = options.mount_from.clone();
        sources.extend(locations.lookup(client.registry(), &descriptor.digest));
        sources.retain(|s| s != repo);
        let outcome = uploader.ensure(descriptor, &sources)?;
        if matches!(outcome, BlobOutcome::Existed | BlobOutcome::Mounted) {
            uploader.skipped(descriptor);
        }
        Ok::<_, Error>(outcome)
    });
    if let Some(p) = uploader.progress {
        p.finish();
    }
    let blobs: Vec<(Descriptor, BlobOutcome)> = descriptors
        .into_iter()
        .zip(all_or_first_error(results)?)
        .collect();

    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or(MediaType::ImageManifest);
    let manifest_ref = reference
        .digest
        .as_ref()
        .map_or_else(|| tag.clone(), ToString::to_string);
    let digest = client.put_manifest(repo, &manifest_ref, &media_type, archive.manifest_bytes())?;
    if digest != *archive.manifest_digest() {
        return Err(Error::Protocol {
            registry: client.registry().to_owned(),
            reason: format!(
                "stored the manifest as {digest}, expected {}",
                archive.manifest_digest()
            ),
        });
    }
    let mut tags = vec![tag.clone()];
    for extra in &options.extra_tags {
        client.put_manifest(repo, extra, &media_type, archive.manifest_bytes())?;
        tags.push(extra.clone());
    }
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
    })
}

struct Uploader<'a> {
    client: &'a Client,
    archive: &'a Archive,
    repo: &'a str,
    config: &'a [u8],
    options: &'a PushOptions,
    refuse_chunks: AtomicBool,
    progress: Option<&'a dyn Progress>,
    /// How far into each blob uploads have read, so that a resent chunk is not counted twice.
    sent: Mutex<HashMap<Digest, u64>>,
}

impl Uploader<'_> {
    fn scopes(&self, from: Option<&str>) -> Vec<String> {
        let mut scopes = vec![format!("repository:{}:pull,push", self.repo)];
        if let Some(from) = from {
            scopes.push(format!("repository:{from}:pull"));
        }
        scopes
    }

    /// A request without a body, in the push scope.
    fn call(&self, method: &'static str, url: &str) -> Result<ureq::http::Response<ureq::Body>> {
        self.client.request(
            method,
            url,
            &[],
            &Body::Empty,
            &self.scopes(None),
            Retry::Yes,
        )
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

    fn ensure(&self, descriptor: &Descriptor, mount_sources: &[String]) -> Result<BlobOutcome> {
        if self.exists(descriptor)? {
            return Ok(BlobOutcome::Existed);
        }
        let mut session = None;
        for from in mount_sources {
            // A mount that fails opens an upload session; the last one is used to upload.
            match self.start(Some((&descriptor.digest, from)))? {
                Start::Mounted => return Ok(BlobOutcome::Mounted),
                Start::Session(location) => session = Some(location),
            }
        }
        let location = match session {
            Some(location) => location,
            None => match self.start(None)? {
                Start::Session(location) => location,
                Start::Mounted => return Ok(BlobOutcome::Mounted),
            },
        };
        if descriptor.size > self.options.chunk_size && !self.refuse_chunks.load(Ordering::Relaxed)
        {
            match self.upload_chunks(descriptor, location)? {
                Chunked::Done => return Ok(BlobOutcome::UploadedInChunks),
                Chunked::Refused => self.refuse_chunks.store(true, Ordering::Relaxed),
            }
            let Start::Session(location) = self.start(None)? else {
                return Ok(BlobOutcome::Mounted);
            };
            self.upload_whole(descriptor, &location)?;
        } else {
            self.upload_whole(descriptor, &location)?;
        }
        Ok(BlobOutcome::Uploaded)
    }

    fn exists(&self, descriptor: &Descriptor) -> Result<bool> {
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/{}", self.repo, descriptor.digest));
        let resp = self.call("HEAD", &url)?;
        match resp.status().as_u16() {
            200 => {
                let size = header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok());
                drain(resp);
                match size {
                    Some(size) if size != descriptor.size => Err(Error::Protocol {
                        registry: self.client.registry().to_owned(),
                        reason: format!(
                            "it has blob {} as {size} bytes, the archive as {}",
                            descriptor.digest, descriptor.size
                        ),
                    }),
                    _ => Ok(true),
                }
            }
            404 => {
                drain(resp);
                Ok(false)
            }
            _ => Err(self.client.unexpected("HEAD", &url, resp)),
        }
    }

    /// Starts an upload session, or mounts the blob from `from`.
    fn start(&self, mount: Option<(&Digest, &str)>) -> Result<Start> {
        let path = match mount {
            Some((digest, from)) => format!(
                "/v2/{}/blobs/uploads/?mount={digest}&from={from}",
                self.repo
            ),
            None => format!("/v2/{}/blobs/uploads/", self.repo),
        };
        let url = self.client.url(&path);
        let resp = self.client.request(
            "POST",
            &url,
            &[],
            &Body::Empty,
            &self.scopes(mount.map(|m| m.1)),
            Retry::Yes,
        )?;
        match resp.status().as_u16() {
            201 if mount.is_some() => {
                drain(resp);
                Ok(Start::Mounted)
            }
            202 => {
                let location = header(&resp, "location").ok_or_else(|| Error::Protocol {
                    registry: self.client.registry().to_owned(),
                    reason: "an upload session came without a Location header".into(),
                })?;
                drain(resp);
                Ok(Start::Session(self.client.location(&location)?))
            }
            _ => Err(self.client.unexpected("POST", &url, resp)),
        }
    }

    fn with_digest(location: &str, digest: &Digest) -> String {
        format!(
            "{location}{}digest={digest}",
            if location.contains('?') { '&' } else { '?' }
        )
    }

    /// One PUT with the whole blob, streamed from the archive.
    fn upload_whole(&self, descriptor: &Descriptor, location: &str) -> Result<()> {
        let url = Self::with_digest(location, &descriptor.digest);
        let open = || self.open_at(descriptor, 0);
        let body = Body::Stream {
            open: &open,
            len: descriptor.size,
        };
        let headers = [("content-type", "application/octet-stream".to_owned())];
        let resp =
            self.client
                .request("PUT", &url, &headers, &body, &self.scopes(None), Retry::Yes)?;
        self.check_created(resp, "PUT", &url, descriptor)
    }

    fn check_created(
        &self,
        resp: ureq::http::Response<ureq::Body>,
        method: &'static str,
        url: &str,
        descriptor: &Descriptor,
    ) -> Result<()> {
        if resp.status().as_u16() != 201 {
            return Err(self.client.unexpected(method, url, resp));
        }
        let stated: Option<Digest> =
            header(&resp, "docker-content-digest").and_then(|d| d.parse().ok());
        drain(resp);
        match stated {
            Some(stated) if stated != descriptor.digest => Err(Error::Verification {
                registry: self.client.registry().to_owned(),
                what: "uploaded blob".into(),
                digest: descriptor.digest.clone(),
                source: modeloci_digest::Error::DigestMismatch {
                    expected: descriptor.digest.clone(),
                    actual: stated,
                },
            }),
            _ => Ok(()),
        }
    }

    /// PATCH chunks, resuming from the registry's own account of what it has after a broken
    /// connection, then the closing PUT. `location` is an absolute URL from
    /// [`Client::location`].
    fn upload_chunks(&self, descriptor: &Descriptor, mut location: String) -> Result<Chunked> {
        let size = descriptor.size;
        let chunk = self.options.chunk_size.max(1);
        let mut offset = 0u64;
        let mut advance = Advance::default();
        let mut failures = 0;
        while offset < size {
            // `offset < size`, so `len >= 1` and `start + len <= size`: nothing overflows.
            let len = chunk.min(size - offset);
            let start = offset;
            let last = start + len - 1;
            let url = location.clone();
            let open =
                || Ok(Box::new(self.open_at(descriptor, start)?.take(len)) as Box<dyn Read + '_>);
            let body = Body::Stream { open: &open, len };
            let headers = [
                ("content-type", "application/octet-stream".to_owned()),
                ("content-range", format!("{start}-{last}")),
            ];
            let sent = self.client.request(
                "PATCH",
                &url,
                &headers,
                &body,
                &self.scopes(None),
                Retry::No,
            );
            match sent {
                Ok(resp) if resp.status().as_u16() == 202 => {
                    let range = header(&resp, "range");
                    let next_location = header(&resp, "location");
                    drain(resp);
                    if let Some(next) = next_location {
                        location = self.client.location(&next)?;
                    }
                    let what = format!(
                        "a PATCH of bytes {start}-{last} was answered with Range {:?}",
                        range.as_deref().unwrap_or("")
                    );
                    offset = match range {
                        Some(range) => self.confirmed(descriptor, &range, &what)?,
                        None => start + len,
                    };
                    advance.round(self, descriptor, offset, len, &what)?;
                    failures = 0;
                }
                Ok(resp)
                    if offset == 0
                        && matches!(
                            resp.status().as_u16(),
                            400 | 404 | 405 | 411 | 413 | 416 | 501
                        ) =>
                {
                    // The registry does not take chunks; cancel this session and PUT instead.
                    drain(resp);
                    let _ = self
                        .client
                        .request(
                            "DELETE",
                            &url,
                            &[],
                            &Body::Empty,
                            &self.scopes(None),
                            Retry::No,
                        )
                        .map(drain);
                    return Ok(Chunked::Refused);
                }
                other => {
                    failures += 1;
                    if failures > self.client.retries() {
                        return match other {
                            Ok(resp) => Err(self.client.unexpected("PATCH", &url, resp)),
                            Err(e) => Err(e),
                        };
                    }
                    if let Ok(resp) = other {
                        drain(resp);
                    }
                    std::thread::sleep(self.client.backoff_delay(failures));
                    (location, offset) = self.upload_status(descriptor, &location)?;
                }
            }
        }
        let url = Self::with_digest(&location, &descriptor.digest);
        let resp = self.call("PUT", &url)?;
        self.check_created(resp, "PUT", &url, descriptor)?;
        Ok(Chunked::Done)
    }

    /// The offset after the last byte a `Range: 0-N` says the registry has: `N + 1`, which
    /// must be a number within the blob.
    fn confirmed(&self, descriptor: &Descriptor, range: &str, what: &str) -> Result<u64> {
        let lie = |why: &str| Error::Protocol {
            registry: self.client.registry().to_owned(),
            reason: format!("uploading blob {}: {what}, {why}", descriptor.digest),
        };
        let end = range_end(range).ok_or_else(|| lie("which is not a byte range"))?;
        end.checked_add(1)
            .filter(|next| *next <= descriptor.size)
            .ok_or_else(|| lie(&format!("past the blob's {} bytes", descriptor.size)))
    }

    /// Where an upload session stands: its location and the next byte it expects.
    fn upload_status(&self, descriptor: &Descriptor, location: &str) -> Result<(String, u64)> {
        let resp = self.call("GET", location)?;
        if resp.status().as_u16() != 204 {
            return Err(self.client.unexpected("GET", location, resp));
        }
        let range = header(&resp, "range");
        let next_location = header(&resp, "location");
        drain(resp);
        let next = match range {
            Some(range) => {
                let what = format!("the upload's status was answered with Range {range:?}");
                self.confirmed(descriptor, &range, &what)?
            }
            None => 0,
        };
        let location = match next_location {
            Some(l) => self.client.location(&l)?,
            None => location.to_owned(),
        };
        Ok((location, next))
    }
}

/// Rounds of a chunked upload that brought the registry no further: after
/// [`Advance::STALLED`] in a row, the registry is taken to be lying.
#[derive(Default)]
struct Advance {
    /// The furthest offset the registry confirmed.
    furthest: u64,
    /// Rounds in a row that did not move it on.
    idle: u32,
}

impl Advance {
    const STALLED: u32 = 3;
    /// A round must move the registry on by this much (or all that was sent) to count.
    const MIN_ADVANCE: u64 = 1 << 20;

    fn round(
        &mut self,
        uploader: &Uploader<'_>,
        descriptor: &Descriptor,
        confirmed: u64,
        sent: u64,
        what: &str,
    ) -> Result<()> {
        let advance = confirmed.saturating_sub(self.furthest);
        let moved =
            advance > 0 && (advance >= sent.min(Self::MIN_ADVANCE) || confirmed == descriptor.size);
        self.furthest = self.furthest.max(confirmed);
        if moved {
            self.idle = 0;
            return Ok(());
        }
        self.idle += 1;
        if self.idle >= Self::STALLED {
            return Err(Error::Protocol {
                registry: uploader.client.registry().to_owned(),
                reason: format!(
                    "uploading blob {}: the upload made no progress in {} rounds; last, {what}",
                    descriptor.digest, self.idle
                ),
            });
        }
        Ok(())
    }
}

enum Start {
    Mounted,
    Session(String),
}

enum Chunked {
    Done,
    Refused,
}

/// The last byte of a `Range: 0-N` (or `bytes=0-N`) header.
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

fn range_end(range: &str) -> Option<u64> {
    let range = range.trim().trim_start_matches("bytes=");
    let (start, end) = range.split_once('-')?;
    let (_, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::range_end;

    #[test]
    fn ranges() {
        assert_eq!(range_end("0-1048575"), Some(1_048_575));
        assert_eq!(range_end("bytes=0-9"), Some(9));
        assert_eq!(range_end("0-"), None);
        assert_eq!(range_end("junk"), None);
    }
}
