//! The image index (`index.json`): the name it gives the manifest, and its bytes. Pack, add,
//! repack and pull all name the manifest here, so an artifact keeps one name however it was
//! made.

use modeloci_digest::Measured;
use modeloci_spec::tag::{is_valid_tag, suggest_tag};
use modeloci_spec::{Descriptor, MediaType, OciIndex, OciManifest, annotations};

use crate::error::{Error, Result};

/// The tag used when nothing names one.
pub const DEFAULT_TAG: &str = "latest";

/// The name an index gives `manifest` (`org.opencontainers.image.ref.name`): the name the
/// manifest itself records (its own `ref.name` annotation, which pack writes when `--tag`
/// differs from the version), else its version annotation (`org.opencontainers.image.version`),
/// the first of them that is a valid tag; else `known`, the name the artifact already goes by
/// (the tag it was pulled by), else [`DEFAULT_TAG`].
pub fn ref_name<'a>(manifest: &'a OciManifest, known: Option<&'a str>) -> &'a str {
    [annotations::REF_NAME, annotations::VERSION]
        .into_iter()
        .filter_map(|key| manifest.annotations.get(key))
        .map(String::as_str)
        .find(|name| is_valid_tag(name))
        .or(known)
        .unwrap_or(DEFAULT_TAG)
}

/// The name a rewritten archive (add, repack) keeps: `archive_name`, the one its index
/// already gives, else [`ref_name`].
pub(crate) fn kept_name<'a>(manifest: &'a OciManifest, archive_name: Option<&'a str>) -> &'a str {
    archive_name.unwrap_or_else(|| ref_name(manifest, None))
}

/// The name pack gives a new archive: `tag` when given (it must be a valid tag), else
/// `version`, which must then be one.
///
/// # Errors
///
/// [`Error::InvalidTag`] or [`Error::VersionNotATag`], with a suggested tag.
pub(crate) fn pack_name(tag: Option<&str>, version: &str) -> Result<()> {
    match tag {
        Some(tag) if !is_valid_tag(tag) => Err(Error::InvalidTag {
            tag: tag.to_owned(),
            suggestion: suggest_tag(tag),
        }),
        None if !is_valid_tag(version) => Err(Error::VersionNotATag {
            version: version.to_owned(),
            suggestion: suggest_tag(version),
        }),
        _ => Ok(()),
    }
}

/// The bytes of `index.json` for one manifest, whose blob is `blob`: an image index with one
/// descriptor, named `ref_name` and carrying the manifest's `artifactType` when it has one.
pub fn index_json(manifest: &OciManifest, blob: &Measured, ref_name: &str) -> Vec<u8> {
    index_json_with(manifest, blob, ref_name, &[])
}

/// [`index_json`] listing after the model's descriptor the `referrers`' descriptors as
/// given (sorted by digest by the caller, without a reference name).
pub(crate) fn index_json_with(
    manifest: &OciManifest,
    blob: &Measured,
    ref_name: &str,
    referrers: &[Descriptor],
) -> Vec<u8> {
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, blob.digest.clone(), blob.size)
        .with_annotation(annotations::REF_NAME, ref_name);
    descriptor.artifact_type = manifest.artifact_type.clone();
    let mut manifests = vec![descriptor];
    manifests.extend_from_slice(referrers);
    OciIndex::new(manifests).to_json()
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
        let build = manifest().with_annotation(annotations::VERSION, "1.0.0+cu121");
        assert_eq!(ref_name(&build, Some("1.0.0_cu121")), "1.0.0_cu121");
        assert_eq!(ref_name(&build, None), "latest");
        let named = build
            .clone()
            .with_annotation(annotations::REF_NAME, "stable");
        assert_eq!(ref_name(&named, Some("latest")), "stable");
        let bad_name = versioned
            .clone()
            .with_annotation(annotations::REF_NAME, "a b");
        assert_eq!(ref_name(&bad_name, None), "1.0.0");
        assert_eq!(kept_name(&versioned, Some("mine")), "mine");
        assert_eq!(kept_name(&versioned, None), "1.0.0");
    }

    #[test]
    fn pack_names_need_to_be_tags() {
        pack_name(None, "1.0.0").unwrap();
        pack_name(Some("1.0.0_cu121"), "1.0.0+cu121").unwrap();
        assert_eq!(
            pack_name(None, "1.0.0+cu121").unwrap_err().to_string(),
            "version \"1.0.0+cu121\" cannot be a registry tag (a tag is up to 128 letters, \
             digits, _ . and -, not starting with . or -); name the archive's reference, e.g. \
             1.0.0_cu121"
        );
        assert!(matches!(
            pack_name(Some("v1 beta"), "1.0.0"),
            Err(Error::InvalidTag { suggestion, .. }) if suggestion == "v1_beta"
        ));
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

    #[test]
    fn referrers_follow_the_model_without_a_name() {
        let manifest = manifest().with_artifact_type(MediaType::ModelociArtifact);
        let blob = Hasher::digest_bytes(&manifest.to_json());
        let signature = Hasher::digest_bytes(b"signature manifest");
        let referrer = Descriptor::new(
            MediaType::ImageManifest,
            signature.digest.clone(),
            signature.size,
        )
        .with_artifact_type(MediaType::SigstoreBundle);
        let bytes = index_json_with(&manifest, &blob, "1.0.0", std::slice::from_ref(&referrer));
        let index = OciIndex::from_slice(&bytes).unwrap();
        assert_eq!(index.manifests.len(), 2);
        assert_eq!(index.manifests[0].digest, blob.digest);
        assert_eq!(
            index.manifests[0].annotations[annotations::REF_NAME],
            "1.0.0"
        );
        assert_eq!(index.manifests[1], referrer);
        assert!(index.manifests[1].annotations.is_empty());
        assert_eq!(
            index_json(&manifest, &blob, "1.0.0"),
            index_json_with(&manifest, &blob, "1.0.0", &[])
        );
    }
}
