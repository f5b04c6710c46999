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

#[cfg(test)]
mod tests {
    use modeloci_digest::Hasher;

    use super::*;

    fn manifest() -> OciManifest {
        let config = Hasher::digest_bytes(b"{}");
        OciManifest::new(
            Descriptor::new(MediaType::ModelociConfig, config.digest, config.size),
            Vec::new(),
        )
    }

    #[test]
    fn the_version_names_the_manifest_else_the_known_name_else_latest() {
        let bare = manifest();
        assert_eq!(ref_name(&bare, None), "latest");
        assert_eq!(ref_name(&bare, Some("v1")), "v1");
        let versioned = manifest().with_annotation(annotations::VERSION, "1.0.0");
        assert_eq!(ref_name(&versioned, None), "1.0.0");
        assert_eq!(ref_name(&versioned, Some("v1")), "1.0.0");
    }

    #[test]
    fn the_index_names_the_manifest_and_carries_its_artifact_type() {
        let manifest = manifest().with_artifact_type(MediaType::ModelociArtifact);
        let blob = Hasher::digest_bytes(&manifest.to_json());
        let index = OciIndex::from_slice(&index_json(&manifest, &blob, "1.0.0")).unwrap();
        let [descriptor] = &index.manifests[..] else {
            panic!("one manifest expected");
        };
        assert_eq!(descriptor.digest, blob.digest);
        assert_eq!(descriptor.size, blob.size);
        assert_eq!(descriptor.media_type, MediaType::ImageManifest);
        assert_eq!(descriptor.artifact_type, Some(MediaType::ModelociArtifact));
        assert_eq!(descriptor.annotations[annotations::REF_NAME], "1.0.0");
    }
}
