//! Copying a manifest (or an index and its manifests) from one repository to another, on one
//! registry or across two, blob by blob and without a local copy: each blob the target lacks
//! is mounted (same registry) or streamed from the source's GET into the target's upload,
//! hashed on the way and cut short when it does not match; then each manifest goes with its
//! exact bytes, the root last, then the tags, then the referrers.
//!
//! Each side has its own [`Client`], with its own credentials: nothing of one is sent to the
//! other.

use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use modeloci_archive::{FileGuard, Progress, ProgressHandle, blob_label};

use modeloci_digest::{Hasher, all_or_first_error, largest_first};
use modeloci_spec::{Descriptor, Digest, MediaType, OciIndex, OciManifest};

use crate::client::{Access, Body, Client, Mount, UploadSession};
use crate::push::BlobOutcome;
use crate::reference::{Reference, valid_tag};
use crate::referrers;
use crate::remote::{Resolved, fetch_document, is_index, resolve};
use crate::{Error, Result};

/// How deep indexes may nest (an index of indexes of manifests is two).
const MAX_DEPTH: usize = 2;

/// Options for [`copy`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CopyOptions {
    /// Blobs copied at once.
    pub concurrency: usize,
    /// Copy the manifests that refer to the copied one (signatures, SBOMs), and their blobs.
    pub referrers: bool,
    /// More tags for the copied manifest.
    pub extra_tags: Vec<String>,
    /// Where to report the bytes copied (blobs already there or mounted count at once).
    pub progress: Option<ProgressHandle>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            referrers: true,
            extra_tags: Vec::new(),
            progress: None,
        }
    }
}

impl CopyOptions {
    /// Sets how many blobs are copied at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Whether to carry referrers.
    pub fn with_referrers(mut self, referrers: bool) -> Self {
        self.referrers = referrers;
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Option<ProgressHandle>) -> Self {
        self.progress = progress;
        self
    }

    /// Sets more tags for the copied manifest.
    pub fn with_extra_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.extra_tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// What [`copy`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CopyReport {
    /// The source, with its manifest digest.
    pub source: Reference,
    /// The target, with the manifest digest.
    pub target: Reference,
    /// The root manifest's (or index's) digest.
    pub manifest_digest: Digest,
    /// Every manifest stored at the target, children and referrers included, root last
    /// among the first group.
    pub manifests: Vec<Digest>,
    /// Every blob, and how it got there.
    pub blobs: Vec<(Descriptor, BlobOutcome)>,
    /// The referrers carried.
    pub referrers: Vec<Digest>,
    /// The tags set at the target.
    pub tags: Vec<String>,
}

impl CopyReport {
    /// How many blobs had `outcome`.
    pub fn count(&self, outcome: BlobOutcome) -> usize {
        self.blobs.iter().filter(|(_, o)| *o == outcome).count()
    }

    /// Bytes streamed from source to target.
    pub fn bytes_copied(&self) -> u64 {
        self.blobs
            .iter()
            .filter(|(_, o)| *o == BlobOutcome::Uploaded)
            .map(|(d, _)| d.size)
            .sum()
    }
}

/// The manifests stored and the blobs copied so far.
type Done = (Vec<Digest>, Vec<(Descriptor, BlobOutcome)>);

/// The two sides of a copy.
struct Copier<'a> {
    src: &'a Client,
    src_repo: &'a str,
    dst: &'a Client,
    dst_repo: &'a str,
    concurrency: usize,
    progress: Option<&'a dyn Progress>,
    report: Mutex<Done>,
}

/// Copies what `source` names to `target` under the target's tag, else the tag the source
/// was read by (`latest` for an untagged source; by digest alone for a source named by
/// digest), and [`CopyOptions::extra_tags`], with `src` and `dst` clients for each side.
///
/// # Errors
///
/// [`Error::Verification`] when a blob or manifest from the source does not match its
/// digest (nothing is tagged at the target then), [`Error::InvalidOption`] for a target
/// digest that is not the source's or an extra tag outside the tag grammar (checked before
/// any request), and the errors of any request.
pub fn copy(
    src: &Client,
    source: &Reference,
    dst: &Client,
    target: &Reference,
    options: &CopyOptions,
) -> Result<CopyReport> {
    if let Some(bad) = options.extra_tags.iter().find(|t| !valid_tag(t)) {
        return Err(Error::InvalidOption(format!(
            "invalid tag {bad:?}: a tag is up to 128 letters, digits, _ . and -, not starting with . or -"
        )));
    }
    let resolved = resolve(src, source)?;
    if let Some(d) = &target.digest
        && *d != resolved.digest
    {
        return Err(Error::InvalidOption(format!(
            "{target} names digest {d}, but {source} is {}",
            resolved.digest
        )));
    }
    let copier = Copier {
        src,
        src_repo: &source.repository,
        dst,
        dst_repo: &target.repository,
        concurrency: options.concurrency.max(1),
        progress: options.progress.as_ref().map(|h| &*h.0),
        report: Mutex::default(),
    };
    let tags = copier.copy_root(&resolved, target, source, options)?;
    let referrers = if options.referrers {
        copier.copy_referrers(&resolved.digest)?
    } else {
        Vec::new()
    };
    let (manifests, blobs) = copier.report.into_inner().unwrap_or_default();
    Ok(CopyReport {
        source: resolved.reference.clone(),
        target: Reference {
            tag: tags.first().cloned(),
            digest: Some(resolved.digest.clone()),
            ..target.clone()
        },
        manifest_digest: resolved.digest,
        manifests,
        blobs,
        referrers,
        tags,
    })
}

impl Copier<'_> {
    /// The tree under the root, then the root under its tags; returns the tags.
    fn copy_root(
        &self,
        resolved: &Resolved,
        target: &Reference,
        source: &Reference,
        options: &CopyOptions,
    ) -> Result<Vec<String>> {
        self.copy_children(&resolved.media_type, &resolved.bytes, &resolved.digest, 0)?;
        // The target's tag, else the one the source was read by (`latest` when untagged).
        let read_by = source
            .digest
            .is_none()
            .then(|| crate::naming::pull_tag(source));
        let mut tags: Vec<String> = target.tag.clone().or(read_by).into_iter().collect();
        for extra in &options.extra_tags {
            if !tags.contains(extra) {
                tags.push(extra.clone());
            }
        }
        if tags.is_empty() {
            self.put(resolved.digest.as_str(), resolved)?;
        }
        for tag in &tags {
            self.put(tag, resolved)?;
        }
        self.note_manifest(&resolved.digest);
        Ok(tags)
    }

    fn put(&self, reference: &str, resolved: &Resolved) -> Result<()> {
        self.dst
            .put_manifest(
                self.dst_repo,
                reference,
                &resolved.media_type,
                &resolved.bytes,
            )
            .map(drop)
    }

    fn note_manifest(&self, digest: &Digest) {
        let mut report = self.report.lock().expect("not poisoned");
        if !report.0.contains(digest) {
            report.0.push(digest.clone());
        }
    }

    /// What a document needs at the target before it can be stored: a manifest's blobs, an
    /// index's manifests (each stored by digest).
    fn copy_children(
        &self,
        media_type: &MediaType,
        bytes: &[u8],
        digest: &Digest,
        depth: usize,
    ) -> Result<()> {
        let invalid = |source| {
            Error::Archive(modeloci_archive::Error::InvalidDocument {
                entry: format!("manifest {digest}"),
                source,
            })
        };
        if !is_index(media_type) {
            let manifest = OciManifest::from_slice(bytes).map_err(invalid)?;
            return self.copy_blobs(&manifest);
        }
        if depth >= MAX_DEPTH {
            return Err(Error::Protocol {
                registry: self.src.registry().to_owned(),
                reason: format!("index {digest} nests indexes more than {MAX_DEPTH} deep"),
            });
        }
        let index = OciIndex::from_slice(bytes).map_err(invalid)?;
        for child in &index.manifests {
            self.copy_by_digest(&child.digest, depth + 1)?;
        }
        Ok(())
    }

    /// Copies the manifest (or index) `digest` of the source, and what it needs, storing it
    /// by digest.
    fn copy_by_digest(&self, digest: &Digest, depth: usize) -> Result<()> {
        let (digest, media_type, bytes) = fetch_document(
            self.src,
            self.src_repo,
            digest.as_str(),
            Some(digest.clone()),
        )?;
        self.copy_children(&media_type, &bytes, &digest, depth)?;
        self.dst
            .put_manifest(self.dst_repo, digest.as_str(), &media_type, &bytes)?;
        self.note_manifest(&digest);
        Ok(())
    }

    /// The config and layers, several at once, largest first.
    fn copy_blobs(&self, manifest: &OciManifest) -> Result<()> {
        let mut blobs: Vec<&Descriptor> = vec![&manifest.config];
        for layer in &manifest.layers {
            if !blobs.iter().any(|d| d.digest == layer.digest) {
                blobs.push(layer);
            }
        }
        let sizes: Vec<u64> = blobs.iter().map(|d| d.size).collect();
        if let Some(p) = self.progress {
            p.start("copying", sizes.iter().fold(0, |t, s| t.saturating_add(*s)));
        }
        let outcomes = largest_first(&sizes, self.concurrency, |i| self.copy_blob(blobs[i]));
        if let Some(p) = self.progress {
            p.finish();
        }
        let outcomes = all_or_first_error(outcomes)?;
        let mut report = self.report.lock().expect("not poisoned");
        for (d, outcome) in blobs.into_iter().zip(outcomes) {
            if !report.1.iter().any(|(seen, _)| seen.digest == d.digest) {
                report.1.push((d.clone(), outcome));
            }
        }
        Ok(())
    }

    /// One blob: there already, mounted (same registry), or streamed across.
    fn copy_blob(&self, blob: &Descriptor) -> Result<BlobOutcome> {
        let _file = FileGuard::start(self.progress, &blob_label(blob), blob.size);
        let outcome = self.transfer(blob)?;
        if outcome != BlobOutcome::Uploaded
            && let Some(p) = self.progress
        {
            p.advance(blob.size);
        }
        Ok(outcome)
    }

    fn transfer(&self, blob: &Descriptor) -> Result<BlobOutcome> {
        if self
            .dst
            .head_blob(self.dst_repo, &blob.digest, Access::Push)?
            .is_some()
        {
            return Ok(BlobOutcome::Existed);
        }
        let same_registry = self.src.registry() == self.dst.registry();
        let session = if same_registry && self.src_repo != self.dst_repo {
            match self
                .dst
                .mount_blob(self.dst_repo, &blob.digest, self.src_repo)?
            {
                Mount::Mounted => return Ok(BlobOutcome::Mounted),
                Mount::Session(session) => session,
            }
        } else {
            self.dst.start_upload(self.dst_repo)?
        };
        self.stream(session, blob)?;
        Ok(BlobOutcome::Uploaded)
    }

    /// Streams the source's GET into one PUT of the upload session. The bytes are hashed
    /// on their way; the last read fails instead of handing out the end of a blob that does
    /// not match, so the target never receives a whole wrong blob.
    fn stream(&self, session: UploadSession, blob: &Descriptor) -> Result<()> {
        let failure: Mutex<Option<modeloci_digest::Error>> = Mutex::new(None);
        let furthest = AtomicU64::new(0);
        let open = || -> io::Result<Box<dyn Read + '_>> {
            if failure.lock().expect("not poisoned").is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the source's blob did not match",
                ));
            }
            let body = self
                .src
                .get_blob(self.src_repo, &blob.digest, 0)
                .map_err(io::Error::other)?;
            Ok(Box::new(Checked {
                inner: body.reader,
                hasher: Some(Hasher::new(blob.digest.algorithm())),
                passed: 0,
                blob,
                failure: &failure,
                progress: self.progress,
                furthest: &furthest,
            }))
        };
        let body = Body::Stream {
            open: &open,
            len: blob.size,
        };
        let sent = self.dst.put_blob(self.dst_repo, &session, blob, &body);
        if let Some(source) = failure.lock().expect("not poisoned").take() {
            self.dst.cancel_upload(self.dst_repo, session);
            return Err(Error::Verification {
                registry: self.src.registry().to_owned(),
                what: "blob".into(),
                digest: blob.digest.clone(),
                source,
            });
        }
        sent
    }
}

/// A blob's bytes on their way from source to target, checked as they pass.
struct Checked<'a, R> {
    inner: R,
    /// `None` once the digest was checked.
    hasher: Option<Hasher>,
    passed: u64,
    blob: &'a Descriptor,
    failure: &'a Mutex<Option<modeloci_digest::Error>>,
    progress: Option<&'a dyn Progress>,
    /// The furthest byte any attempt reached: a retry reports only what goes past it.
    furthest: &'a AtomicU64,
}

impl<R: Read> Checked<'_, R> {
    fn fail(&self, mismatch: modeloci_digest::Error) -> io::Error {
        let message = mismatch.to_string();
        *self.failure.lock().expect("not poisoned") = Some(mismatch);
        io::Error::new(io::ErrorKind::InvalidData, message)
    }

    /// At the blob's size, before its last bytes are handed on: the digest must match.
    fn check_digest(&mut self) -> io::Result<()> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let actual = hasher.finish().digest;
        if actual == self.blob.digest {
            return Ok(());
        }
        Err(self.fail(modeloci_digest::Error::DigestMismatch {
            expected: self.blob.digest.clone(),
            actual,
        }))
    }

    fn size_mismatch(&self, actual: u64, at_least: bool) -> io::Error {
        self.fail(modeloci_digest::Error::SizeMismatch {
            expected: self.blob.size,
            actual,
            at_least,
        })
    }
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let remaining = self.blob.size - self.passed;
        // One byte more than remains, so that a longer blob is caught.
        let want = buf
            .len()
            .min(usize::try_from(remaining.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > remaining {
            return Err(self.size_mismatch(self.passed + n as u64, true));
        }
        if n == 0 {
            if remaining > 0 {
                return Err(self.size_mismatch(self.passed, false));
            }
            self.check_digest()?;
            return Ok(0);
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.passed += n as u64;
        let before = self.furthest.fetch_max(self.passed, Ordering::Relaxed);
        if let Some(p) = self.progress
            && self.passed > before
        {
            p.advance(self.passed - before);
        }
        if self.passed == self.blob.size {
            self.check_digest()?;
        }
        Ok(n)
    }
}

impl Copier<'_> {
    /// Copies the manifests referring to `subject`, then lists them at the target under
    /// the fallback tag unless the target keeps referrers itself.
    fn copy_referrers(&self, subject: &Digest) -> Result<Vec<Digest>> {
        let listed = referrers::referrers(self.src, self.src_repo, subject, None)?;
        let mut stored = Vec::with_capacity(listed.len());
        for referrer in &listed {
            stored.push(self.copy_referrer(referrer, subject)?);
        }
        referrers::list_where_needed(self.dst, self.dst_repo, subject, &stored)?;
        Ok(listed.into_iter().map(|d| d.digest).collect())
    }

    /// One referrer of `subject`, with what it needs, stored by digest; its entry for the
    /// target's fallback index is the source's, with the size of the bytes copied.
    fn copy_referrer(&self, listed: &Descriptor, subject: &Digest) -> Result<referrers::Stored> {
        let (digest, media_type, bytes) = fetch_document(
            self.src,
            self.src_repo,
            listed.digest.as_str(),
            Some(listed.digest.clone()),
        )?;
        referrers::check_subject(self.src, &digest, &bytes, subject)?;
        self.copy_children(&media_type, &bytes, &digest, 0)?;
        let mut entry = listed.clone();
        entry.media_type = media_type.clone();
        entry.size = bytes.len() as u64;
        let stored =
            referrers::store(self.dst, self.dst_repo, subject, &media_type, &bytes, entry)?;
        self.note_manifest(&digest);
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_that_does_not_match_never_hands_out_its_end() {
        let good = b"hello world";
        let blob = Descriptor::new(MediaType::Empty, Hasher::digest_bytes(good).digest, 11);
        let failure = Mutex::new(None);
        let read = |bytes: &'static [u8]| {
            let mut out = Vec::new();
            let mut checked = Checked {
                inner: bytes,
                hasher: Some(Hasher::new(blob.digest.algorithm())),
                passed: 0,
                blob: &blob,
                failure: &failure,
                progress: None,
                furthest: &AtomicU64::new(0),
            };
            let result = io::copy(&mut checked, &mut out);
            (result.is_ok(), out)
        };
        assert_eq!(read(good), (true, good.to_vec()));
        assert!(failure.lock().unwrap().is_none());
        let (ok, out) = read(b"hello worle");
        assert!(!ok && out.len() < 11, "{out:?}");
        assert!(matches!(
            failure.lock().unwrap().take(),
            Some(modeloci_digest::Error::DigestMismatch { .. })
        ));
        assert!(!read(b"hello world!").0);
        assert!(!read(b"hello").0);
    }
}
