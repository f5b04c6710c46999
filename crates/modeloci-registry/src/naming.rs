//! Which tag a push sets and a pull asks for, and the name a pulled manifest is kept under.
//!
//! The rule is to come from the archive crate, which names manifests when it packs them;
//! until then it lives here, and push and pull both go through these functions only.

use modeloci_spec::{OciManifest, annotations};

use crate::reference::Reference;

/// The tag when nothing names one.
const DEFAULT_TAG: &str = "latest";

/// The tag for `reference`: its own, else the name the artifact carries (`artifact_name`,
/// when it is known), else `latest`.
pub(crate) fn tag_for(reference: &Reference, artifact_name: Option<&str>) -> String {
    reference
        .tag
        .clone()
        .or_else(|| artifact_name.map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_TAG.to_owned())
}

/// What addresses the manifest of `reference` in the registry: its digest when it names
/// one, else `tag` (from [`tag_for`]).
pub(crate) fn manifest_ref(reference: &Reference, tag: &str) -> String {
    reference
        .digest
        .as_ref()
        .map_or_else(|| tag.to_owned(), ToString::to_string)
}

/// The reference name a pulled manifest gets in the layout's index: the manifest's own
/// version annotation, else the tag pulled (from [`tag_for`]).
pub(crate) fn ref_name_for(manifest: &OciManifest, reference: &Reference) -> String {
    manifest
        .annotations
        .get(annotations::VERSION)
        .cloned()
        .unwrap_or_else(|| tag_for(reference, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_tag_wins_then_the_artifact_then_latest() {
        let tagged: Reference = "localhost:5000/m:1.0".parse().unwrap();
        let bare: Reference = "localhost:5000/m".parse().unwrap();
        assert_eq!(tag_for(&tagged, Some("2.0")), "1.0");
        assert_eq!(tag_for(&bare, Some("2.0")), "2.0");
        assert_eq!(tag_for(&bare, None), "latest");
        assert_eq!(manifest_ref(&bare, "x"), "x");
    }
}
