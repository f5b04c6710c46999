//! Which tag a push sets and a pull asks for. One rule for both, docker's: a reference
//! without a tag means [`DEFAULT_TAG`] (`latest`), whatever the archive's own reference name
//! (its `index.json` name, the version by default) says; so `push A host/repo` and
//! `pull host/repo` meet at the same tag.

use modeloci_archive::DEFAULT_TAG;
use modeloci_spec::tag::{is_valid_tag, suggest_tag};

use crate::reference::Reference;
use crate::{Error, Result};

/// The tag a push sets: the reference's own, else [`DEFAULT_TAG`].
pub(crate) fn push_tag(reference: &Reference) -> String {
    pull_tag(reference)
}

/// The tag a pull asks for: the reference's own, else [`DEFAULT_TAG`].
pub(crate) fn pull_tag(reference: &Reference) -> String {
    reference
        .tag
        .clone()
        .unwrap_or_else(|| DEFAULT_TAG.to_owned())
}

/// Checks every tag against the OCI tag grammar, before anything is sent.
///
/// # Errors
///
/// [`Error::InvalidTag`] naming the first that is not one.
pub(crate) fn check_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Result<()> {
    match tags.into_iter().find(|t| !is_valid_tag(t)) {
        Some(bad) => Err(Error::InvalidTag {
            tag: bad.to_owned(),
            suggestion: suggest_tag(bad),
        }),
        None => Ok(()),
    }
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
    use super::*;

    #[test]
    fn push_and_pull_agree_the_reference_tag_else_latest() {
        let tagged: Reference = "localhost:5000/m:1.0".parse().unwrap();
        let bare: Reference = "localhost:5000/m".parse().unwrap();
        assert_eq!(push_tag(&bare), "latest");
        assert_eq!(pull_tag(&bare), "latest");
        assert_eq!(push_tag(&tagged), "1.0");
        assert_eq!(pull_tag(&tagged), "1.0");
        assert_eq!(manifest_ref(&bare, "x"), "x");
    }

    #[test]
    fn tags_outside_the_grammar_are_named() {
        check_tags(["latest", "1.0.0_cu121"]).unwrap();
        let err = check_tags(["ok", "1.0.0+cu121", "v1 beta"]).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidTag { tag, suggestion }
                if tag == "1.0.0+cu121" && suggestion == "1.0.0_cu121"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "\"1.0.0+cu121\" is not a valid tag (up to 128 letters, digits, _ . and -, not \
             starting with . or -); nothing was pushed"
        );
    }
}
