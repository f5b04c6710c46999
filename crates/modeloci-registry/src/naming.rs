//! Which tag a push sets and a pull asks for. The name a manifest goes by is the archive
//! crate's rule ([`modeloci_archive::ref_name`]), the one pack, add, repack and pull use for
//! `index.json`; these functions only add the reference's own tag in front of it.

use modeloci_archive::{DEFAULT_TAG, ref_name};
use modeloci_spec::OciManifest;

use crate::reference::Reference;

/// The tag a push sets: the reference's own, else the name the archive's manifest goes by
/// ([`ref_name`], with `index_name` the name the archive's index gives it).
pub(crate) fn push_tag(
    reference: &Reference,
    manifest: &OciManifest,
    index_name: Option<&str>,
) -> String {
    reference
        .tag
        .clone()
        .unwrap_or_else(|| ref_name(manifest, index_name).to_owned())
}

/// The tag a pull asks for: the reference's own, else [`DEFAULT_TAG`].
pub(crate) fn pull_tag(reference: &Reference) -> String {
    reference
        .tag
        .clone()
        .unwrap_or_else(|| DEFAULT_TAG.to_owned())
}

/// What addresses the manifest of `reference` in the registry: its digest when it names
/// one, else `tag`.
pub(crate) fn manifest_ref(reference: &Reference, tag: &str) -> String {
    reference
        .digest
        .as_ref()
        .map_or_else(|| tag.to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use modeloci_spec::{Descriptor, MediaType, annotations};

    use super::*;

    #[test]
    fn the_reference_tag_wins_then_the_manifests_name_then_latest() {
        let tagged: Reference = "localhost:5000/m:1.0".parse().unwrap();
        let bare: Reference = "localhost:5000/m".parse().unwrap();
        let digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
            .parse()
            .unwrap();
        let mut manifest =
            OciManifest::new(Descriptor::new(MediaType::Empty, digest, 2), Vec::new());
        assert_eq!(push_tag(&bare, &manifest, Some("from-index")), "from-index");
        assert_eq!(push_tag(&bare, &manifest, None), "latest");
        manifest
            .annotations
            .insert(annotations::VERSION.into(), "2.0".into());
        assert_eq!(push_tag(&tagged, &manifest, Some("x")), "1.0");
        assert_eq!(push_tag(&bare, &manifest, Some("x")), "2.0");
        assert_eq!(pull_tag(&bare), "latest");
        assert_eq!(pull_tag(&tagged), "1.0");
        assert_eq!(manifest_ref(&bare, "x"), "x");
    }
}
