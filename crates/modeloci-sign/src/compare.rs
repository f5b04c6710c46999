//! Comparing the signed files with a model's: the exact same set of names, each with the
//! same digest.

use std::collections::BTreeMap;
use std::fmt;

use modeloci_spec::Digest;

use crate::Statement;
use crate::statement::{DEFAULT_IGNORE_PATHS, is_ignored};

/// How many names a [`Mismatch`] message lists per kind before "and N more".
const NAMES_SHOWN: usize = 3;

/// How a model's files differ from the signed ones. Each list is sorted by name; a renamed
/// file is one missing and one extra.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Mismatch {
    /// Signed, but not in the model.
    pub missing: Vec<String>,
    /// In the model, but not signed.
    pub extra: Vec<String>,
    /// In both, with another digest.
    pub changed: Vec<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the model's files differ from the signed ones: ")?;
        let parts: Vec<String> = [
            ("changed", &self.changed),
            ("extra", &self.extra),
            ("missing", &self.missing),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(kind, names)| format!("{} {kind} ({})", names.len(), list(names)))
        .collect();
        f.write_str(&parts.join(", "))
    }
}

impl std::error::Error for Mismatch {}

/// A name as shown: as it is, or quoted and escaped when it holds a control character (the
/// model's own names are not checked).
fn shown(name: &str) -> String {
    if name.chars().any(char::is_control) {
        format!("{name:?}")
    } else {
        name.to_owned()
    }
}

fn list(names: &[String]) -> String {
    let shown: Vec<String> = names[..names.len().min(NAMES_SHOWN)]
        .iter()
        .map(|n| shown(n))
        .collect();
    let shown = shown.join(", ");
    match names.len().checked_sub(NAMES_SHOWN) {
        Some(more) if more > 0 => format!("{shown}, and {more} more"),
        _ => shown,
    }
}

/// The model's files a signature covers: all but those under the paths `model_signing`
/// ignores (its default git paths, and the statement's `ignore_paths` that are valid names,
/// as [`crate::hash_dir`] takes them), unless the statement lists them, as
/// `model_signing verify` leaves them out of a directory.
fn covered<'a>(
    signed: &Statement,
    signed_names: &BTreeMap<&str, &Digest>,
    actual: &'a [(String, Digest)],
) -> BTreeMap<&'a str, &'a Digest> {
    let ignore = || {
        DEFAULT_IGNORE_PATHS
            .into_iter()
            .chain(signed.ignore_paths().iter().map(String::as_str))
            .filter(|path| crate::check_name(path).is_ok())
    };
    actual
        .iter()
        .filter(|(n, _)| signed_names.contains_key(n.as_str()) || !is_ignored(n, ignore()))
        .map(|(n, d)| (n.as_str(), d))
        .collect()
}

/// Compares the signed files with `actual`, the model's `(name, digest)` pairs: they must be
/// the same set, each file with the same digest. A file of `actual` under the paths the
/// signature ignores (see [`crate::hash_dir`]) is not compared unless it is signed.
///
/// # Errors
///
/// The [`Mismatch`], naming every file that differs.
pub fn compare(statement: &Statement, actual: &[(String, Digest)]) -> Result<(), Mismatch> {
    let signed: BTreeMap<&str, &Digest> = statement
        .resources()
        .iter()
        .map(|r| (r.name.as_str(), &r.digest))
        .collect();
    let actual = covered(statement, &signed, actual);
    let mut mismatch = Mismatch::default();
    for (name, digest) in &signed {
        match actual.get(name) {
            None => mismatch.missing.push((*name).to_owned()),
            Some(d) if d != digest => mismatch.changed.push((*name).to_owned()),
            Some(_) => {}
        }
    }
    mismatch.extra = actual
        .keys()
        .filter(|n| !signed.contains_key(*n))
        .map(|n| (*n).to_owned())
        .collect();
    if mismatch == Mismatch::default() {
        Ok(())
    } else {
        Err(mismatch)
    }
}

/// Like [`compare`] for part of a model (unpack with include patterns): every file of
/// `actual` must be signed, with its signed digest; signed files absent from `actual` are
/// not missing, and those the signature ignores are not compared, as for [`compare`].
///
/// # Errors
///
/// The [`Mismatch`] (changed and extra files only).
pub fn compare_subset(statement: &Statement, actual: &[(String, Digest)]) -> Result<(), Mismatch> {
    let signed: BTreeMap<&str, &Digest> = statement
        .resources()
        .iter()
        .map(|r| (r.name.as_str(), &r.digest))
        .collect();
    let mut mismatch = Mismatch::default();
    for (name, digest) in covered(statement, &signed, actual) {
        match signed.get(name) {
            None => mismatch.extra.push(name.to_owned()),
            Some(d) if *d != digest => mismatch.changed.push(name.to_owned()),
            Some(_) => {}
        }
    }
    mismatch.extra.sort();
    mismatch.changed.sort();
    if mismatch == Mismatch::default() {
        Ok(())
    } else {
        Err(mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> Digest {
        modeloci_digest::Hasher::digest_bytes(&[byte]).digest
    }

    #[test]
    fn the_git_paths_and_the_signed_ignore_paths_are_not_compared_unless_signed() {
        let files = |names: &[&str]| -> Vec<(String, Digest)> {
            names.iter().map(|n| ((*n).to_owned(), digest(1))).collect()
        };
        // As `Statement::for_files` writes it: the git paths left out, and ignored.
        let statement =
            Statement::for_files("m", files(&["a", ".gitattributes", ".github/x"])).unwrap();
        let names: Vec<&str> = statement
            .resources()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["a"]);
        compare(&statement, &files(&["a", ".gitattributes", ".git/HEAD"])).unwrap();
        compare_subset(&statement, &files(&[".gitignore"])).unwrap();
        // Whole components only: `.gitx` is a file like any other.
        let err = compare(&statement, &files(&["a", ".gitx", ".github2/y"])).unwrap_err();
        assert_eq!(err.extra, [".github2/y", ".gitx"]);
        assert!(is_ignored(".git", [".git"]) && is_ignored(".git/a/b", [".git"]));
        assert!(!is_ignored(".gitx", [".git"]));
    }
}
