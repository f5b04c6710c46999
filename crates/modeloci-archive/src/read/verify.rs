//! Verifying every blob of an archive against its descriptor.

use std::io::Read;
use std::path::PathBuf;

use modeloci_digest::{ChunkError, Hasher, Measured, read_chunks};
use modeloci_spec::{Descriptor, Digest, MediaType, OciManifest};

use crate::entry_policy::Refusal;
use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressHandle, Reporter};
use crate::read::archive::{Archive, ArchiveFormat, BlobReader, MAX_DOCUMENT_SIZE};
use modeloci_digest::{all_or_first_error, largest_first};

/// What was found for one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobStatus {
    /// Size and digest match the descriptor.
    Ok,
    /// The archive does not hold the blob.
    Missing,
    /// The stored blob has another length.
    SizeMismatch {
        /// The stored length.
        actual: u64,
    },
    /// The stored blob has the right length but another digest.
    DigestMismatch {
        /// The digest of the stored bytes.
        actual: Digest,
    },
    /// The archive's entry for the blob is not a regular file (a link, a device, ...).
    Refused {
        /// What the entry is.
        refusal: Refusal,
    },
}

impl BlobStatus {
    /// Whether the blob verified.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }
}

/// The check of one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlobCheck {
    /// What the blob is: `config`, or a layer's title (`layer N` without one).
    pub what: String,
    /// The layer's title: the model path of its file (none for the config and for layers
    /// without a title).
    pub path: Option<String>,
    /// The blob's media type, from its descriptor.
    pub media_type: MediaType,
    /// The digest the descriptor gives.
    pub digest: Digest,
    /// The size the descriptor gives.
    pub size: u64,
    /// What was found.
    pub status: BlobStatus,
}

/// The check of a root copy (`manifest.json`, `config.json`) against the blob it copies.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyCheck {
    /// The root file.
    pub name: String,
    /// Whether it holds the same bytes as the blob.
    pub matches: bool,
}

/// The result of verifying an archive: the manifest, the config, every layer, and the root
/// copies.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The archive.
    pub archive: PathBuf,
    /// How it is laid out.
    pub format: ArchiveFormat,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The manifest's size.
    pub manifest_size: u64,
    /// Whether the manifest was checked against a descriptor (in the index); reference
    /// archives have none, and their manifest digest is computed.
    pub manifest_checked: bool,
    /// The config blob.
    pub config: BlobCheck,
    /// The layer blobs, in manifest order.
    pub layers: Vec<BlobCheck>,
    /// The root copies of the manifest and config, where present.
    pub copies: Vec<CopyCheck>,
    /// The blobs of the model's referrers (signatures), each manifest's config then
    /// layers, named `referrer <digest> config` or `referrer <digest> layer <i>`. A
    /// referrer manifest that cannot be read is in `refused`.
    pub referrers: Vec<BlobCheck>,
    /// Why unpack refuses the archive whatever the blobs its manifest names hold, naming the
    /// entry, layer or descriptor ([`Archive::check_layout`]: this includes a blob no
    /// descriptor names whose bytes do not match its name); `None` when it does not.
    pub refused: Option<String>,
}

impl VerifyReport {
    /// Whether everything verified.
    pub fn is_ok(&self) -> bool {
        self.refused.is_none()
            && self.config.status.is_ok()
            && self.layers.iter().all(|l| l.status.is_ok())
            && self.copies.iter().all(|c| c.matches)
            && self.referrers.iter().all(|r| r.status.is_ok())
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        usize::from(self.refused.is_some())
            + usize::from(!self.config.status.is_ok())
            + self.layers.iter().filter(|l| !l.status.is_ok()).count()
            + self.copies.iter().filter(|c| !c.matches).count()
            + self.referrers.iter().filter(|r| !r.status.is_ok()).count()
    }
}

/// Hashes a stored blob whole (it is bounded by the archive) and compares it with what the
/// descriptor says.
fn check(
    reader: Option<(BlobReader<'_>, u64)>,
    expected: &Measured,
    progress: Option<&dyn Progress>,
) -> std::io::Result<BlobStatus> {
    let Some((mut reader, _)) = reader else {
        return Ok(BlobStatus::Missing);
    };
    let mut hasher = Hasher::new(expected.digest.algorithm());
    let mut buf = vec![0u8; modeloci_digest::BUFFER_SIZE];
    read_chunks(&mut reader, &mut buf, |chunk| {
        hasher.update(chunk);
        if let Some(p) = progress {
            p.advance(chunk.len() as u64);
        }
        Ok(())
    })
    .map_err(ChunkError::into_io)?;
    let actual = hasher.finish();
    Ok(if actual.size != expected.size {
        BlobStatus::SizeMismatch {
            actual: actual.size,
        }
    } else if actual.digest != expected.digest {
        BlobStatus::DigestMismatch {
            actual: actual.digest,
        }
    } else {
        BlobStatus::Ok
    })
}

/// Verifies `archive` on `threads` threads: each blob is streamed once, largest first.
///
/// # Errors
///
/// Only for what prevents checking (an I/O error, a hostile entry); mismatches are reported
/// in the [`VerifyReport`].
pub fn verify(archive: &Archive, threads: usize) -> Result<VerifyReport> {
    verify_with_progress(archive, threads, None)
}

/// Like [`verify`], reporting the bytes hashed to `progress`.
///
/// # Errors
///
/// As [`verify`].
pub fn verify_with_progress(
    archive: &Archive,
    threads: usize,
    progress: Option<&ProgressHandle>,
) -> Result<VerifyReport> {
    let mut refused = match archive.check_layout() {
        Ok(()) => None,
        Err(e @ Error::Io { .. }) => return Err(e),
        Err(e) => Some(e.to_string()),
    };
    let referrers = match archive.referrers() {
        Ok(referrers) => referrers,
        Err(e @ Error::Io { .. }) => return Err(e),
        Err(e) => {
            refused.get_or_insert_with(|| e.to_string());
            Vec::new()
        }
    };
    let manifest = archive.manifest();
    let reference = archive.format() == ArchiveFormat::Reference;
    let mut jobs = blob_jobs(manifest);
    let model_jobs = jobs.len();
    jobs.extend(referrer_jobs(&referrers));
    let sizes: Vec<u64> = jobs.iter().map(|(_, d)| d.size).collect();
    // Descriptor sizes come from the input: their sum may not fit.
    let total = sizes.iter().fold(0u64, |sum, &s| sum.saturating_add(s));
    let reporter = Reporter::start(progress, "verifying", total);
    let statuses = all_or_first_error(largest_first(&sizes, threads, |i| {
        // Reference archives keep the config at the root only.
        let root_config = i == 0 && reference;
        let _file = reporter.file(&jobs[i].0, jobs[i].1.size);
        check_blob(archive, jobs[i].1, root_config, reporter.0)
    }))?;
    let mut checks: Vec<BlobCheck> = jobs
        .iter()
        .zip(statuses)
        .map(|((what, descriptor), status)| BlobCheck {
            what: what.clone(),
            path: descriptor.title().map(str::to_owned),
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            status,
        })
        .collect();
    let referrers = checks.split_off(model_jobs);
    let config = checks.remove(0);
    let copies = if reference {
        Vec::new()
    } else {
        root_copies(archive)?
    };
    Ok(VerifyReport {
        archive: archive.path().to_owned(),
        format: archive.format(),
        manifest_digest: archive.manifest_digest().clone(),
        manifest_size: archive.manifest_bytes().len() as u64,
        manifest_checked: archive.manifest_descriptor().is_some(),
        config,
        layers: checks,
        copies,
        refused,
        referrers,
    })
}

/// The blobs of the referrers, named as the report names them.
fn referrer_jobs(referrers: &[crate::read::referrers::Referrer]) -> Vec<(String, &Descriptor)> {
    let mut jobs = Vec::new();
    for referrer in referrers {
        let digest = &referrer.descriptor.digest;
        jobs.push((
            format!("referrer {digest} config"),
            &referrer.manifest.config,
        ));
        for (i, layer) in referrer.manifest.layers.iter().enumerate() {
            jobs.push((format!("referrer {digest} layer {i}"), layer));
        }
    }
    jobs
}

/// The blobs to check, named as the report names them: the config first, then each layer.
fn blob_jobs(manifest: &OciManifest) -> Vec<(String, &Descriptor)> {
    let mut jobs: Vec<(String, &Descriptor)> = Vec::with_capacity(manifest.layers.len() + 1);
    jobs.push(("config".to_owned(), &manifest.config));
    for (i, layer) in manifest.layers.iter().enumerate() {
        jobs.push((
            layer
                .title()
                .map_or_else(|| format!("layer {i}"), str::to_owned),
            layer,
        ));
    }
    jobs
}

/// Checks the blob `descriptor` names; with `root_config`, a missing blob is looked for as
/// the root `config.json` (a reference archive's config).
fn check_blob(
    archive: &Archive,
    descriptor: &Descriptor,
    root_config: bool,
    progress: Option<&dyn Progress>,
) -> Result<BlobStatus> {
    let expected = Measured::new(descriptor.digest.clone(), descriptor.size);
    let blob = match archive.open_blob(&descriptor.digest) {
        // In an OCI layout a root `config.json` is a copy (checked apart), never the config.
        Ok(None) if root_config => archive.open_root_file("config.json"),
        other => other,
    };
    let blob = match blob {
        // A link or device where the blob should be: already in `refused`.
        Err(Error::UnsafeEntry { refusal, .. }) => {
            return Ok(BlobStatus::Refused { refusal });
        }
        other => other?,
    };
    check(blob, &expected, progress).map_err(Error::io(archive.path()))
}

/// The root copies of the manifest and the config (in an OCI layout, not a reference
/// archive), each compared with what it copies.
fn root_copies(archive: &Archive) -> Result<Vec<CopyCheck>> {
    let manifest = archive.manifest();
    let mut copies = Vec::new();
    if let Some(bytes) = read_root(archive, "manifest.json")? {
        copies.push(CopyCheck {
            name: "manifest.json".into(),
            matches: bytes == archive.manifest_bytes(),
        });
    }
    if let Some(bytes) = read_root(archive, "config.json")? {
        let measured = Hasher::digest_bytes(&bytes);
        let matches =
            measured.digest == manifest.config.digest && measured.size == manifest.config.size;
        copies.push(CopyCheck {
            name: "config.json".into(),
            matches,
        });
    }
    Ok(copies)
}

/// A root copy's bytes; a copy larger than any document counts as differing (empty).
fn read_root(archive: &Archive, name: &str) -> Result<Option<Vec<u8>>> {
    let Some((mut reader, size)) = archive.open_root_file(name)? else {
        return Ok(None);
    };
    if size > MAX_DOCUMENT_SIZE {
        return Ok(Some(Vec::new()));
    }
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(Error::io(archive.path()))?;
    Ok(Some(bytes))
}
