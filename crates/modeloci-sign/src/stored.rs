//! Signatures stored beside a model (in an archive or a registry): reading them, choosing
//! the one a key verifies, and checking the model's files against it.

use std::sync::Arc;

use modeloci_archive::{CheckError, CheckFn, UnpackedFile};
use modeloci_spec::Digest;

use crate::bundle::Bundle;
use crate::compare::compare;
use crate::error::{Error, Result};
use crate::key::PublicKey;
use crate::statement::Statement;

/// One signature found beside a model: the referrer that holds it, and its bundle (or why
/// it could not be read).
#[derive(Debug)]
pub struct StoredSignature {
    /// The referrer manifest's digest.
    pub referrer: Digest,
    /// The bundle's digest.
    pub bundle_digest: Option<Digest>,
    /// The bundle, parsed and checked; or what is wrong with it.
    pub bundle: Result<Bundle>,
}

/// The signature that verified, with the key that verified it.
#[derive(Debug)]
pub struct Verified {
    /// The referrer that holds it (`None` for a bundle given as a file).
    pub referrer: Option<Digest>,
    /// The index, among the keys given, of the one that verified it.
    pub key: usize,
    /// The bundle.
    pub bundle: Bundle,
}

/// The first of `signatures` that one of `keys` verifies.
///
/// # Errors
///
/// As [`choose_all`].
pub fn choose(signatures: Vec<StoredSignature>, keys: &[PublicKey]) -> Result<Verified> {
    choose_all(signatures, keys).map(|mut verified| verified.remove(0))
}

/// Every one of `signatures` that one of `keys` verifies, in order (at least one). A model
/// may hold several by the same key (one of them stale, or replayed from another model):
/// [`matching`] picks the one whose files are the model's.
///
/// # Errors
///
/// [`Error::Unsigned`] when there is none; the one signature's error when there is one;
/// [`Error::NoSignatureVerifies`] naming each one's when there are several.
pub fn choose_all(signatures: Vec<StoredSignature>, keys: &[PublicKey]) -> Result<Vec<Verified>> {
    if signatures.is_empty() {
        return Err(Error::Unsigned);
    }
    let mut verified = Vec::new();
    let mut failures = Vec::new();
    for stored in signatures {
        let outcome = stored
            .bundle
            .and_then(|bundle| bundle.verify(keys).map(|key| (key, bundle)));
        match outcome {
            Ok((key, bundle)) => verified.push(Verified {
                referrer: Some(stored.referrer),
                key,
                bundle,
            }),
            Err(e) => failures.push((stored.referrer, e)),
        }
    }
    if !verified.is_empty() {
        return Ok(verified);
    }
    if failures.len() == 1 {
        return Err(failures.pop().expect("one").1);
    }
    Err(Error::NoSignatureVerifies {
        reasons: failures
            .into_iter()
            .map(|(digest, e)| format!("{digest}: {e}"))
            .collect(),
    })
}

/// The first of `verified` whose signed files are exactly `files` (or, when `subset`, among
/// whose signed files each of `files` is, with its signed digest).
///
/// # Errors
///
/// [`Error::FilesDiffer`] with the first one's differences when none matches;
/// [`Error::Unsigned`] when `verified` is empty.
pub fn matching(
    verified: Vec<Verified>,
    files: &[(String, Digest)],
    subset: bool,
) -> Result<Verified> {
    let mut first = None;
    for candidate in verified {
        match compare_with(candidate.bundle.statement(), files, subset) {
            Ok(()) => return Ok(candidate),
            Err(mismatch) => {
                first.get_or_insert(mismatch);
            }
        }
    }
    Err(first.map_or(Error::Unsigned, Error::FilesDiffer))
}

fn compare_with(
    statement: &Statement,
    files: &[(String, Digest)],
    subset: bool,
) -> std::result::Result<(), crate::compare::Mismatch> {
    if subset {
        crate::compare::compare_subset(statement, files)
    } else {
        compare(statement, files)
    }
}

/// Checks the model's files (name and content digest) against a signed statement.
///
/// # Errors
///
/// [`Error::FilesDiffer`] naming what differs.
pub fn check_files(statement: &Statement, files: &[(String, Digest)]) -> Result<()> {
    compare(statement, files).map_err(Error::FilesDiffer)
}

/// The check unpack runs before any file lands: the files it wrote must be exactly the
/// signed ones (or, when `subset` — with include patterns — each one must be signed, with
/// its signed digest).
pub fn unpack_check(statement: Statement, subset: bool) -> Arc<CheckFn> {
    unpack_check_any(vec![statement], subset)
}

/// [`unpack_check`] for several verified signatures: the files must match one of them
/// ([`matching`] then tells which). The error is the first one's differences.
pub fn unpack_check_any(statements: Vec<Statement>, subset: bool) -> Arc<CheckFn> {
    Arc::new(
        move |files: &[UnpackedFile]| -> std::result::Result<(), CheckError> {
            let files: Vec<(String, Digest)> = files
                .iter()
                .map(|f| (f.path.clone(), f.digest.clone()))
                .collect();
            let mut first = None;
            for statement in &statements {
                match compare_with(statement, &files, subset) {
                    Ok(()) => return Ok(()),
                    Err(mismatch) => {
                        first.get_or_insert(mismatch);
                    }
                }
            }
            Err(match first {
                Some(mismatch) => Box::new(Error::FilesDiffer(mismatch)) as CheckError,
                None => Box::new(Error::Unsigned),
            })
        },
    )
}
