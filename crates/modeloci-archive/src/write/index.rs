//! The image index (`index.json`): the name it gives the manifest, and its bytes. Pack, add,
//! repack and pull all name the manifest here, so an artifact keeps one name however it was
//! made.

use modeloci_digest::Measured;
use modeloci_spec::{Descriptor, MediaType, OciIndex, OciManifest, annotations};

/// The tag used when nothing names one.
pub const DEFAULT_TAG: &str = "latest";

/// The name an index gives `manifest` (`org.opencontainers.image.ref.name`), which is also
/// the tag to push it under when none is given: the manifest's version annotation
/// (`org.opencontainers.image.version`), else `known`, the name the artifact already goes by
/// (the reference name of the archive it was read from, or the tag it was pulled by), else
/// [`DEFAULT_TAG`].
pub fn ref_name<'a>(manifest: &'a OciManifest, known: Option<&'a str>) -> &'a str {
    manifest
        .annotations
        .get(annotations::VERSION)
        .map(String::as_str)
        .or(known)
        .unwrap_or(DEFAULT_TAG)
}

/// The bytes of `index.json` for one manifest, whose blob is `blob`: an image index with one
/// descriptor, named `ref_name` and carrying the manifest's `artifactType` when it has one.
pub fn index_json(manifest: &OciManifest, blob: &Measured, ref_name: &str) -> Vec<u8> {
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, blob.digest.clone(), blob.size)
        .with_annotation(annotations::REF_NAME, ref_name);
    descriptor.artifact_type = manifest.artifact_type.clone();
    OciIndex::new(vec![descriptor]).to_json()
}
