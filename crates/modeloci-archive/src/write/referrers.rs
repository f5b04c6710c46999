//! Attaching referrers (signatures) to an archive's model and removing them: the archive is
//! rewritten with the model's entries as they were, each referrer's blobs and manifest
//! after the model's, and `index.json` listing them after the model, sorted by digest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use modeloci_digest::Hasher;
use modeloci_spec::{Descriptor, Digest, MediaType, OciManifest};

use crate::atomic::lock::TargetLock;
use crate::error::{Error, Result};
use crate::options::CheckError;
use crate::read::archive::{Archive, MAX_DOCUMENT_SIZE};
use crate::read::referrers::{
    MAX_REFERRER_BLOB_SIZE, Referrer, StoredReferrer, listed, stored, stored_referrers,
};
use crate::read::unpack::{FileDigest, ModelUnpackager};
use crate::write::assemble::{Layers, write_artifact};

/// A referrer to attach: its manifest's bytes (an image manifest whose `subject` is the
/// archive's model manifest) and the blobs it names that the archive may not hold yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReferrer {
    /// The manifest, stored byte for byte.
    pub manifest_bytes: Vec<u8>,
    /// Blobs its config and layers name; each one the archive lacks must be here.
    pub blobs: Vec<Vec<u8>>,
}

/// What [`attach_referrers`] or [`remove_referrers`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReferrersReport {
    /// The archive, rewritten in place.
    pub path: PathBuf,
    /// The model manifest's digest (unchanged).
    pub manifest_digest: Digest,
    /// The referrers added (attach) or removed (remove), by manifest digest; a referrer
    /// attached again is not counted.
    pub changed: Vec<Digest>,
    /// Every referrer the archive lists now, sorted by digest.
    pub referrers: Vec<Digest>,
}

/// `new` checked against `archive`: a capped image manifest whose subject is the model
/// manifest, and every blob it names given (of the right size) or in the archive.
fn checked(archive: &Archive, new: &NewReferrer) -> Result<StoredReferrer> {
    let measured = Hasher::digest_bytes(&new.manifest_bytes);
    let bad = |reason: String| Error::BadReferrer {
        digest: measured.digest.clone(),
        reason,
    };
    if measured.size > MAX_DOCUMENT_SIZE {
        return Err(bad(format!(
            "its manifest is {} bytes, over {MAX_DOCUMENT_SIZE}",
            measured.size
        )));
    }
    let manifest = OciManifest::from_slice(&new.manifest_bytes)
        .map_err(|e| bad(format!("not an image manifest: {e}")))?;
    if manifest
        .media_type
        .as_ref()
        .is_some_and(|t| *t != MediaType::ImageManifest)
    {
        return Err(bad("its media type is not an OCI image manifest".into()));
    }
    let model = archive.manifest_digest();
    match &manifest.subject {
        None => return Err(bad("it has no subject".into())),
        Some(s) if s.digest != *model => {
            return Err(bad(format!(
                "its subject is {}, not the archive's model manifest {model}",
                s.digest
            )));
        }
        Some(_) => {}
    }
    let given: HashMap<Digest, &Vec<u8>> = new
        .blobs
        .iter()
        .map(|b| (Hasher::digest_bytes(b).digest, b))
        .collect();
    let blobs = std::iter::once(&manifest.config)
        .chain(&manifest.layers)
        .map(|d| referrer_blob(archive, d, &given).map_err(&bad))
        .collect::<Result<Vec<_>>>()?;
    let descriptor = Descriptor::new(MediaType::ImageManifest, measured.digest, measured.size);
    Ok(StoredReferrer {
        descriptor: listed(&descriptor, &manifest),
        manifest_bytes: new.manifest_bytes.clone(),
        blobs,
    })
}

/// The bytes of the blob `d` a new referrer names: given, else read from the archive.
fn referrer_blob(
    archive: &Archive,
    d: &Descriptor,
    given: &HashMap<Digest, &Vec<u8>>,
) -> std::result::Result<Vec<u8>, String> {
    if d.size > MAX_REFERRER_BLOB_SIZE {
        return Err(format!(
            "blob {} is {} bytes, over {MAX_REFERRER_BLOB_SIZE}",
            d.digest, d.size
        ));
    }
    if let Some(bytes) = given.get(&d.digest) {
        if bytes.len() as u64 != d.size {
            return Err(format!(
                "blob {} is {} bytes, its descriptor says {}",
                d.digest,
                bytes.len(),
                d.size
            ));
        }
        return Ok((*bytes).clone());
    }
    if archive.has_blob(&d.digest) {
        return archive
            .read_blob(d, MAX_REFERRER_BLOB_SIZE)
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "blob {} is neither given nor in the archive",
        d.digest
    ))
}

/// Attaches `new` referrers to the model of the archive at `archive_path` (a tar; a
/// reference-format archive gains an `index.json`), keeping those it lists already. The
/// archive is rewritten beside itself under its lock and renamed into place: the model's
/// entries as before (their headers dated as the archive's `index.json` was), then each
/// referrer's blobs (once) and manifest, sorted by digest; `index.json` lists the model
/// first, under its name, then each referrer. Attaching one again changes nothing.
///
/// # Errors
///
/// [`Error::BadReferrer`] for a referrer that is not an image manifest, whose subject is
/// not the model manifest, or whose blobs are neither given nor in the archive (checked
/// before anything is written: the archive is left as it was); [`Error::InvalidOption`] for
/// a layout directory; those of [`Archive::open`] and of reading the archive's referrers.
pub fn attach_referrers(archive_path: &Path, new: &[NewReferrer]) -> Result<ReferrersReport> {
    rewrite(archive_path, Layers::Verify, |archive, kept| {
        added(archive, kept, new)
    })
}

/// Adds `new` to the referrers `kept`, each once.
fn added(archive: &Archive, mut kept: Vec<StoredReferrer>, new: &[NewReferrer]) -> Result<Changed> {
    let mut added = Vec::new();
    for referrer in new {
        let referrer = checked(archive, referrer)?;
        let digest = &referrer.descriptor.digest;
        if !kept.iter().any(|k| k.descriptor.digest == *digest) {
            added.push(digest.clone());
            kept.push(referrer);
        }
    }
    Ok((kept, added))
}

/// Like [`attach_referrers`], the referrers made by `make` from the model's files and their
/// content digests, which `unpacker` hashes from the layers under the archive's lock (every
/// layer blob checked against its digest on the way, [`ModelUnpackager::file_digests`]).
/// The rewrite that follows then copies those blobs without hashing them again: signing
/// reads the archive once and writes it once.
///
/// # Errors
///
/// [`Error::CheckFailed`] with `make`'s error; those of [`ModelUnpackager::file_digests`];
/// as [`attach_referrers`].
pub fn attach_referrers_for_files(
    archive_path: &Path,
    unpacker: &ModelUnpackager,
    make: impl FnOnce(&Archive, Vec<FileDigest>) -> std::result::Result<Vec<NewReferrer>, CheckError>,
) -> Result<ReferrersReport> {
    rewrite(archive_path, Layers::Verified, |archive, kept| {
        let files = unpacker.file_digests(archive)?;
        let new = make(archive, files).map_err(|source| Error::CheckFailed { source })?;
        added(archive, kept, &new)
    })
}

/// Removes the referrers of the archive's model for which `keep` is false, rewriting the
/// archive as [`attach_referrers`] does.
///
/// # Errors
///
/// As [`attach_referrers`].
pub fn remove_referrers(
    archive_path: &Path,
    keep: impl Fn(&Referrer) -> bool,
) -> Result<ReferrersReport> {
    rewrite(archive_path, Layers::Verify, |archive, _| {
        let mut kept = Vec::new();
        let mut removed = Vec::new();
        for referrer in archive.referrers()? {
            if keep(&referrer) {
                kept.push(stored(archive, &referrer)?);
            } else {
                removed.push(referrer.descriptor.digest.clone());
            }
        }
        Ok((kept, removed))
    })
}

/// The referrers and the digests reported that a change makes of the current referrers.
type Changed = (Vec<StoredReferrer>, Vec<Digest>);

/// Rewrites the archive at `archive_path` under its lock with the referrers `change` makes
/// of its current ones.
fn rewrite(
    archive_path: &Path,
    layers: Layers,
    change: impl FnOnce(&Archive, Vec<StoredReferrer>) -> Result<Changed>,
) -> Result<ReferrersReport> {
    let _lock = TargetLock::acquire(archive_path).map_err(Error::io(archive_path))?;
    let archive = Archive::open(archive_path)?;
    if archive.layout_dir().is_some() {
        return Err(Error::InvalidOption(format!(
            "{} is a layout directory; referrers are attached to archive files",
            archive_path.display()
        )));
    }
    let current = stored_referrers(&archive)?;
    let (mut referrers, changed) = change(&archive, current)?;
    referrers.sort_by(|a, b| a.descriptor.digest.cmp(&b.descriptor.digest));
    let listed = referrers
        .iter()
        .map(|r| r.descriptor.digest.clone())
        .collect();
    // The name the archive goes by: its index's, else (a reference archive has no index)
    // its config's version, as add keeps it.
    let known = archive
        .reference_name()
        .map(str::to_owned)
        .or_else(|| archive.config().ok().map(|c| c.version));
    let report = write_artifact(
        &archive,
        layers,
        archive_path,
        archive.header_mtime(),
        &referrers,
        known.as_deref(),
    )?;
    drop(archive);
    Ok(ReferrersReport {
        path: archive_path.to_owned(),
        manifest_digest: report.manifest_digest,
        changed,
        referrers: listed,
    })
}
