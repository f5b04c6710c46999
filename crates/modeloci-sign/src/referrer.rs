//! A signature stored as an OCI referrer of the model's manifest, laid out as the Cosign
//! bundle specification says: an image manifest with the empty config and one layer, the
//! bundle.

use modeloci_spec::{Descriptor, Digest, MediaType, OciManifest, annotations};
use sha2::{Digest as _, Sha256};

use crate::bundle::BUNDLE_MEDIA_TYPE;
use crate::statement::PREDICATE_TYPE;

/// The empty config blob, `{}`.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// A signature referrer: its manifest, the manifest's bytes, and the blobs it needs (the
/// empty config, then the bundle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The referrer manifest.
    pub manifest: OciManifest,
    /// Its bytes, as stored: the digest of the referrer is theirs.
    pub manifest_bytes: Vec<u8>,
    /// The blobs the manifest points to, with their descriptors: the empty config, then the
    /// bundle.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

impl Referrer {
    /// The descriptor of the referrer manifest as a referrers index lists it: with its
    /// `artifactType` and the manifest's annotations.
    pub fn descriptor(&self) -> Descriptor {
        let mut descriptor = Descriptor::new(
            MediaType::ImageManifest,
            sha256(&self.manifest_bytes),
            self.manifest_bytes.len() as u64,
        )
        .with_artifact_type(MediaType::SigstoreBundle);
        descriptor.annotations = self.manifest.annotations.clone();
        descriptor
    }
}

fn sha256(bytes: &[u8]) -> Digest {
    Digest::from_sha256_bytes(&Sha256::digest(bytes).into())
}

/// The referrer that attaches `bundle` to `subject` (the model manifest's descriptor; only
/// its media type, digest and size are kept). Contains no time: the same inputs give the
/// same bytes.
pub fn referrer_manifest(subject: &Descriptor, bundle: &[u8]) -> Referrer {
    let config = Descriptor::new(MediaType::Empty, sha256(EMPTY_CONFIG), 2);
    let digest = sha256(bundle);
    let title = format!("sha256-{}.sigstore.json", digest.hex());
    let layer = Descriptor::new(MediaType::SigstoreBundle, digest, bundle.len() as u64)
        .with_annotation(annotations::TITLE, title);
    let mut manifest = OciManifest::new(config.clone(), vec![layer.clone()])
        .with_artifact_type(MediaType::SigstoreBundle)
        .with_annotation(annotations::SIGSTORE_BUNDLE_CONTENT, "dsse-envelope")
        .with_annotation(annotations::SIGSTORE_BUNDLE_PREDICATE_TYPE, PREDICATE_TYPE);
    manifest.subject = Some(Descriptor::new(
        subject.media_type.clone(),
        subject.digest.clone(),
        subject.size,
    ));
    let manifest_bytes = manifest.to_json();
    Referrer {
        manifest,
        manifest_bytes,
        blobs: vec![(config, EMPTY_CONFIG.to_vec()), (layer, bundle.to_vec())],
    }
}

fn is_bundle_type(media_type: &MediaType) -> bool {
    media_type.as_str() == BUNDLE_MEDIA_TYPE
}

/// Whether `manifest` is a Sigstore bundle referrer: its `artifactType`, its config's media
/// type or a layer's media type says so (writers set some of the three, not always all).
pub fn is_signature(manifest: &OciManifest) -> bool {
    manifest.artifact_type.as_ref().is_some_and(is_bundle_type)
        || is_bundle_type(&manifest.config.media_type)
        || manifest
            .layers
            .iter()
            .any(|l| is_bundle_type(&l.media_type))
}

/// The layer holding the bundle: the first layer of the bundle media type, or else the only
/// layer of a manifest that [`is_signature`] by its artifact or config type.
pub fn bundle_layer(manifest: &OciManifest) -> Option<&Descriptor> {
    if let Some(layer) = manifest
        .layers
        .iter()
        .find(|l| is_bundle_type(&l.media_type))
    {
        return Some(layer);
    }
    match manifest.layers.as_slice() {
        [only] if is_signature(manifest) => Some(only),
        _ => None,
    }
}
