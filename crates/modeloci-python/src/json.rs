//! The JSON text the native functions exchange with the Python side, which turns it into
//! its Pydantic models and result classes.

use modeloci_archive::{BlobStatus, UnpackedFile, VerifyReport};
use modeloci_sign::Verified;
use pyo3::PyErr;
use pyo3::exceptions::PyValueError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A document the Python side serialized.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, PyErr> {
    serde_json::from_str(text).map_err(|e| value_error(&e))
}

/// A value as JSON text.
pub(crate) fn to_string(value: &impl Serialize) -> Result<String, PyErr> {
    serde_json::to_string(value).map_err(|e| value_error(&e))
}

pub(crate) fn value_error(e: &serde_json::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// The files an unpack or pull wrote.
pub(crate) fn files(files: &[UnpackedFile]) -> Vec<Value> {
    files
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "size": f.size,
                "executable": f.executable,
                "digest": f.digest,
            })
        })
        .collect()
}

/// The signature that verified, and by which key (the index among those given).
pub(crate) fn verified(verified: &Verified) -> Value {
    let statement = verified.bundle.statement();
    json!({
        "referrer": verified.referrer,
        "key": verified.key,
        "files": statement.resources().len(),
        "root": statement.root().to_string(),
    })
}

/// With `keys`, and once the blobs verified (`ok`), the signature `verify` finds.
pub(crate) fn signature_when(
    ok: bool,
    keys: &[modeloci_sign::PublicKey],
    verify: impl FnOnce() -> modeloci_sign::Result<Verified>,
) -> Result<Option<Value>, crate::errors::Failure> {
    if keys.is_empty() || !ok {
        return Ok(None);
    }
    Ok(Some(self::verified(&verify()?)))
}

/// What a blob check found, in words (`ok`, or what is wrong).
pub(crate) fn status(status: &BlobStatus) -> (bool, Option<String>) {
    let problem = match status {
        BlobStatus::Ok => return (true, None),
        BlobStatus::Missing => "missing".to_owned(),
        BlobStatus::SizeMismatch { actual } => format!("size mismatch: {actual} bytes stored"),
        BlobStatus::DigestMismatch { actual } => format!("digest mismatch: the bytes are {actual}"),
        BlobStatus::Refused { refusal } => format!("refused: {refusal}"),
        other => format!("{other:?}"),
    };
    (false, Some(problem))
}

fn check(what: &str, digest: &impl Serialize, size: u64, status: &BlobStatus) -> Value {
    let (ok, problem) = self::status(status);
    json!({ "what": what, "digest": digest, "size": size, "ok": ok, "problem": problem })
}

/// An archive's verify report.
pub(crate) fn verify_report(report: &VerifyReport, signature: Option<Value>) -> Value {
    let blobs: Vec<Value> = std::iter::once(&report.config)
        .chain(&report.layers)
        .chain(&report.referrers)
        .map(|b| check(&b.what, &b.digest, b.size, &b.status))
        .collect();
    json!({
        "ok": report.is_ok(),
        "source": report.archive,
        "manifest_digest": report.manifest_digest,
        "blobs": blobs,
        "copies": report.copies.iter().map(|c| json!({"name": c.name, "matches": c.matches})).collect::<Vec<_>>(),
        "refused": report.refused,
        "signature": signature,
    })
}

/// A registry's verify report.
pub(crate) fn remote_verify_report(
    report: &modeloci_registry::RemoteVerifyReport,
    signature: Option<Value>,
) -> Value {
    let blobs: Vec<Value> = std::iter::once(&report.config)
        .chain(&report.layers)
        .map(|b| check(&b.what, &b.descriptor.digest, b.descriptor.size, &b.status))
        .collect();
    json!({
        "ok": report.is_ok(),
        "source": report.resolved.reference.to_string(),
        "manifest_digest": report.resolved.digest,
        "blobs": blobs,
        "copies": [],
        "refused": null,
        "signature": signature,
    })
}
