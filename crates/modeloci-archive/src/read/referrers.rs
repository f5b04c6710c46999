//! Referrers inside an archive: manifests listed in `index.json` whose `subject` is the
//! model's manifest (signatures, as Sigstore bundles), each read capped and verified.

use modeloci_spec::{Descriptor, MediaType, OciManifest};

use crate::error::{Error, Result};
use crate::read::archive::{Archive, MAX_DOCUMENT_SIZE};

/// The largest blob of a referrer (a bundle, its config) read into memory: a Sigstore bundle
/// is a few KiB, one listing 100,000 files about 15 MB.
pub const MAX_REFERRER_BLOB_SIZE: u64 = 32 << 20;

/// The most referrers an archive's index may list beside its model.
pub const MAX_REFERRERS: usize = 1000;

/// A manifest that refers to the archive's model manifest (its `subject`), as the archive's
/// index lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Referrer {
    /// Its descriptor in `index.json`.
    pub descriptor: Descriptor,
    /// The manifest, parsed.
    pub manifest: OciManifest,
    /// The manifest's bytes, verified against the descriptor.
    pub bytes: Vec<u8>,
}

impl Referrer {
    /// Whether it holds a Sigstore bundle: by its `artifactType`, its config's or a layer's
    /// media type (other tools set only some of them).
    pub fn is_sigstore_bundle(&self) -> bool {
        let bundle = MediaType::SigstoreBundle;
        self.manifest.artifact_type.as_ref() == Some(&bundle)
            || self.descriptor.artifact_type.as_ref() == Some(&bundle)
            || self.manifest.config.media_type == bundle
            || self.manifest.layers.iter().any(|l| l.media_type == bundle)
    }

    /// The descriptors of the blobs it names: its config, then its layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.manifest.config).chain(&self.manifest.layers)
    }
}

impl Archive {
    /// The referrers of the model: the image manifests `index.json` lists whose `subject`
    /// is the chosen manifest, in index order, each read capped at [`MAX_DOCUMENT_SIZE`]
    /// and verified against its descriptor. Empty for an archive without an index. An index
    /// entry that is not a referrer (another model, chosen by its reference name) is read
    /// to learn so; one that cannot be read is skipped, unless its `artifactType` says it
    /// is a Sigstore bundle.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyReferrers`] beyond [`MAX_REFERRERS`] other manifests;
    /// [`Error::MissingBlob`], [`Error::BlobMismatch`], [`Error::TooLarge`],
    /// [`Error::InvalidDocument`] for a bundle referrer that cannot be read.
    pub fn referrers(&self) -> Result<Vec<Referrer>> {
        let Some(index) = self.index() else {
            return Ok(Vec::new());
        };
        let model = self.manifest_digest();
        let others: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| d.media_type == MediaType::ImageManifest && d.digest != *model)
            .collect();
        if others.len() > MAX_REFERRERS {
            return Err(Error::TooManyReferrers {
                archive: self.path().to_owned(),
                count: others.len(),
                limit: MAX_REFERRERS,
            });
        }
        let mut referrers = Vec::new();
        for descriptor in others {
            let bundle = descriptor.artifact_type == Some(MediaType::SigstoreBundle);
            match self.read_referrer(descriptor) {
                Ok(r)
                    if r.manifest
                        .subject
                        .as_ref()
                        .is_some_and(|s| s.digest == *model) =>
                {
                    referrers.push(r);
                }
                Ok(_) => {}
                Err(e) if bundle => return Err(e),
                Err(_) => {}
            }
        }
        Ok(referrers)
    }

    /// The manifest `descriptor` names, read and parsed.
    fn read_referrer(&self, descriptor: &Descriptor) -> Result<Referrer> {
        let bytes = self.read_blob_as(descriptor, "referrer manifest", MAX_DOCUMENT_SIZE)?;
        let manifest =
            OciManifest::from_slice(&bytes).map_err(|source| Error::InvalidDocument {
                entry: format!("referrer manifest {}", descriptor.digest),
                source,
            })?;
        Ok(Referrer {
            descriptor: descriptor.clone(),
            manifest,
            bytes,
        })
    }
}

/// A referrer as it is written: its index descriptor, manifest bytes and blobs (config,
/// then layers).
#[derive(Clone, Debug)]
pub(crate) struct StoredReferrer {
    pub(crate) descriptor: Descriptor,
    pub(crate) manifest_bytes: Vec<u8>,
    pub(crate) blobs: Vec<Vec<u8>>,
}

/// The archive's referrers with their blobs, read and verified, sorted by digest.
///
/// # Errors
///
/// Those of [`Archive::referrers`], and of reading a blob (missing, corrupt, over
/// [`MAX_REFERRER_BLOB_SIZE`]).
pub(crate) fn stored_referrers(archive: &Archive) -> Result<Vec<StoredReferrer>> {
    let mut stored = archive
        .referrers()?
        .iter()
        .map(|r| stored(archive, r))
        .collect::<Result<Vec<_>>>()?;
    stored.sort_by(|a, b| a.descriptor.digest.cmp(&b.descriptor.digest));
    stored.dedup_by(|a, b| a.descriptor.digest == b.descriptor.digest);
    Ok(stored)
}

pub(crate) fn stored(archive: &Archive, referrer: &Referrer) -> Result<StoredReferrer> {
    let blobs = referrer
        .blobs()
        .map(|d| {
            let what = format!("referrer {}", referrer.descriptor.digest);
            archive.read_blob_as(d, &what, MAX_REFERRER_BLOB_SIZE)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StoredReferrer {
        descriptor: listed(&referrer.descriptor, &referrer.manifest),
        manifest_bytes: referrer.bytes.clone(),
        blobs,
    })
}

/// The index descriptor of a referrer manifest: image manifest type, digest, size, and its
/// `artifactType`; no reference name.
pub(crate) fn listed(descriptor: &Descriptor, manifest: &OciManifest) -> Descriptor {
    let mut out = Descriptor::new(
        MediaType::ImageManifest,
        descriptor.digest.clone(),
        descriptor.size,
    );
    out.artifact_type = manifest.artifact_type.clone();
    out
}
