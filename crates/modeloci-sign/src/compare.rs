//! Comparing the signed files with a model's: the exact same set of names, each with the
//! same digest.

use std::collections::BTreeMap;
use std::fmt;

use modeloci_spec::Digest;

use crate::Statement;

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

/// Compares the signed files with `actual`, the model's `(name, digest)` pairs: they must be
/// the same set, each file with the same digest.
///
/// # Errors
///
/// The [`Mismatch`], naming every file that differs.
pub fn compare(signed: &Statement, actual: &[(String, Digest)]) -> Result<(), Mismatch> {
    let signed: BTreeMap<&str, &Digest> = signed
        .resources()
        .iter()
        .map(|r| (r.name.as_str(), &r.digest))
        .collect();
    let actual: BTreeMap<&str, &Digest> = actual.iter().map(|(n, d)| (n.as_str(), d)).collect();
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
/// not missing.
///
/// # Errors
///
/// The [`Mismatch`] (changed and extra files only).
pub fn compare_subset(signed: &Statement, actual: &[(String, Digest)]) -> Result<(), Mismatch> {
    let signed: BTreeMap<&str, &Digest> = signed
        .resources()
        .iter()
        .map(|r| (r.name.as_str(), &r.digest))
        .collect();
    let mut mismatch = Mismatch::default();
    for (name, digest) in actual {
        match signed.get(name.as_str()) {
            None => mismatch.extra.push(name.clone()),
            Some(d) if *d != digest => mismatch.changed.push(name.clone()),
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
