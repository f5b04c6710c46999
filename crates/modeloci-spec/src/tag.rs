//! The OCI distribution tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
//!
//! A tag is what an archive's `org.opencontainers.image.ref.name` becomes on a registry, so a
//! version such as `1.0.0+cu121` (semver build metadata) cannot name a manifest there.
//!
//! ```
//! use modeloci_spec::tag::{is_valid_tag, suggest_tag};
//!
//! assert!(is_valid_tag("1.0.0"));
//! assert!(!is_valid_tag("1.0.0+cu121"));
//! assert_eq!(suggest_tag("1.0.0+cu121"), "1.0.0_cu121");
//! ```

/// The longest tag the grammar allows.
pub const MAX_TAG_LEN: usize = 128;

fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether `tag` matches `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    (1..=MAX_TAG_LEN).contains(&tag.len())
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(tag_char)
}

/// A valid tag close to `text`: `+` and every other character outside the grammar become
/// `_`, a leading `.` or `-` gets a `_` in front, and the result is cut to 128 characters.
/// An empty `text` gives `latest`.
pub fn suggest_tag(text: &str) -> String {
    let mut tag: String = text
        .chars()
        .map(|c| if tag_char(c) { c } else { '_' })
        .collect();
    if tag.is_empty() {
        return "latest".to_owned();
    }
    if tag.starts_with(['.', '-']) {
        tag.insert(0, '_');
    }
    tag.truncate(MAX_TAG_LEN);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in ["latest", "1.0.0", "_x", "v1-beta.2", &"a".repeat(128)] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "1.0.0+cu121",
            "v1 beta",
            ".x",
            "-x",
            "é",
            &"a".repeat(129),
        ] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn suggestions_are_valid() {
        assert_eq!(suggest_tag("1.0.0+cu121"), "1.0.0_cu121");
        assert_eq!(suggest_tag("v1 beta"), "v1_beta");
        assert_eq!(suggest_tag(".hidden"), "_.hidden");
        assert_eq!(suggest_tag("-rc"), "_-rc");
        assert_eq!(suggest_tag("é1"), "_1");
        assert_eq!(suggest_tag(""), "latest");
        assert_eq!(suggest_tag(&"x".repeat(300)).len(), 128);
        for text in [
            "1.0.0+cu121",
            "v1 beta",
            ".a",
            "-",
            "+",
            "a/b:c@d",
            &"é".repeat(200),
        ] {
            assert!(is_valid_tag(&suggest_tag(text)), "{text}");
        }
    }
}
