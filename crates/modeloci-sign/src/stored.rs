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
/// [`Error::Unsigned`] when there is none; the one signature's error when there is one;
/// [`Error::NoSignatureVerifies`] naming each one's when there are several.
pub fn choose(signatures: Vec<StoredSignature>, keys: &[PublicKey]) -> Result<Verified> {
    if signatures.is_empty() {
        return Err(Error::Unsigned);
    }
    let mut failures = Vec::new();
    for stored in signatures {
        let outcome = stored
            .bundle
            .and_then(|bundle| bundle.verify(keys).map(|key| (key, bundle)));
        match outcome {
            Ok((key, bundle)) => {
                return Ok(Verified {
                    referrer: Some(stored.referrer),
                    key,
                    bundle,
                });
            }
            Err(e) => failures.push((stored.referrer, e)),
        }
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
    Arc::new(
        move |files: &[UnpackedFile]| -> std::result::Result<(), CheckError> {
            let files: Vec<(String, Digest)> = files
                .iter()
                .map(|f| (f.path.clone(), f.digest.clone()))
                .collect();
            let outcome = if subset {
                crate::compare::compare_subset(&statement, &files)
            } else {
                compare(&statement, &files)
            };
            outcome.map_err(|m| Box::new(Error::FilesDiffer(m)) as CheckError)
        },
    )
}
