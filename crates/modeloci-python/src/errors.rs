//! Library errors as Python exceptions: one class per error kind, defined in
//! `modeloci/errors.py`, raised with the library's message and its facts as attributes.
//!
//! Each field of a variant becomes an attribute of the same name (paths as `str`, digests
//! as `str`, sizes, counts and limits as `int`, lists of names as `list`); an `io::Error`
//! source becomes `errno` and `strerror`. An error that wraps another library's (a registry
//! error around an archive error, a failed check around a signature error) is raised as the
//! inner one, with its message, as the `modeloci` command prints it.

use std::io;
use std::path::{Path, PathBuf};

use modeloci_archive::Error as ArchiveError;
use modeloci_digest::Error as DigestError;
use modeloci_registry::{Error as RegistryError, TlsFailure};
use modeloci_sign::Error as SignError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Why a native call failed: a library error, or an exception already raised in Python.
#[derive(Debug)]
pub(crate) enum Failure {
    Archive(ArchiveError),
    Registry(RegistryError),
    Sign(SignError),
    Digest(DigestError),
    Python(PyErr),
}

impl From<DigestError> for Failure {
    fn from(e: DigestError) -> Self {
        Self::Digest(e)
    }
}

impl From<ArchiveError> for Failure {
    fn from(e: ArchiveError) -> Self {
        Self::Archive(e)
    }
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Self::Registry(e)
    }
}

impl From<SignError> for Failure {
    fn from(e: SignError) -> Self {
        Self::Sign(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Self::Python(e)
    }
}

/// A fact an exception carries, as Python sees it.
#[derive(Debug)]
pub(crate) enum Fact {
    Str(String),
    Int(u64),
    Float(f64),
    Bool(bool),
    Path(PathBuf),
    List(Vec<String>),
    None,
}

/// An exception to raise: its class in `modeloci.errors`, message and facts.
#[derive(Debug)]
pub(crate) struct Raised {
    pub(crate) class: &'static str,
    pub(crate) message: String,
    pub(crate) facts: Vec<(&'static str, Fact)>,
}

impl Raised {
    fn new(class: &'static str, message: impl ToString) -> Self {
        Self {
            class,
            // A traceback prints it to a terminal: no control character from a hostile
            // archive or registry goes there raw.
            message: modeloci_spec::text::escape(&message.to_string()).into_owned(),
            facts: Vec::new(),
        }
    }

    fn fact(mut self, name: &'static str, fact: Fact) -> Self {
        self.facts.push((name, fact));
        self
    }

    fn str(self, name: &'static str, value: impl ToString) -> Self {
        self.fact(name, Fact::Str(value.to_string()))
    }

    fn opt(self, name: &'static str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(name, v),
            None => self.fact(name, Fact::None),
        }
    }

    fn int(self, name: &'static str, value: impl Into<u64>) -> Self {
        self.fact(name, Fact::Int(value.into()))
    }

    /// A count (`usize`) as an int.
    fn count(self, name: &'static str, value: usize) -> Self {
        self.fact(name, Fact::Int(value as u64))
    }

    fn bool(self, name: &'static str, value: bool) -> Self {
        self.fact(name, Fact::Bool(value))
    }

    fn path(self, name: &'static str, value: &Path) -> Self {
        self.fact(name, Fact::Path(value.to_owned()))
    }

    /// `path`, and `filename` for the `OSError` classes.
    fn file(self, value: &Path) -> Self {
        self.path("path", value).path("filename", value)
    }

    fn list(self, name: &'static str, value: &[String]) -> Self {
        self.fact(name, Fact::List(value.to_vec()))
    }

    /// `errno` and `strerror` of the operating system's error (`errno` is `None` for an
    /// error that is not the system's, and `strerror` then its description).
    fn os_error(self, source: &io::Error) -> Self {
        let text = source.to_string();
        match source.raw_os_error() {
            Some(code) => {
                let suffix = format!(" (os error {code})");
                let strerror = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
                self.int("errno", code.unsigned_abs())
                    .str("strerror", strerror)
            }
            None => self.fact("errno", Fact::None).str("strerror", text),
        }
    }
}

/// An I/O error on `path`: `FileMissing` (a `FileNotFoundError`) when it does not exist,
/// `AccessDenied` (a `PermissionError`) when it may not be read or written, else `FileAccess`.
fn io_error(error: &impl ToString, path: &Path, source: &io::Error) -> Raised {
    let class = match source.kind() {
        io::ErrorKind::NotFound => "FileMissing",
        io::ErrorKind::PermissionDenied => "AccessDenied",
        _ => "FileAccess",
    };
    Raised::new(class, error.to_string())
        .file(path)
        .os_error(source)
}

/// The class and facts of an archive error.
fn archive(e: &ArchiveError) -> Raised {
    archive_input(e)
        .or_else(|| archive_content(e))
        .or_else(|| archive_output(e))
        .or_else(|| archive_hf_cache(e))
        .unwrap_or_else(|| Raised::new("ArchiveError", e))
}

/// Errors of a Hugging Face cache's repository folder and the revision to pack.
fn archive_hf_cache(e: &ArchiveError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        ArchiveError::NoMainRef {
            repo,
            refs,
            snapshots,
        } => r("NoMainRef")
            .path("repo", repo)
            .list("refs", refs)
            .list("snapshots", snapshots),
        ArchiveError::UnknownRevision {
            repo,
            revision,
            refs,
            snapshots,
        } => r("UnknownRevision")
            .path("repo", repo)
            .str("revision", revision)
            .list("refs", refs)
            .list("snapshots", snapshots),
        ArchiveError::AmbiguousRevision {
            repo,
            revision,
            matches,
        } => r("AmbiguousRevision")
            .path("repo", repo)
            .str("revision", revision)
            .list("matches", matches),
        ArchiveError::SnapshotMissing {
            repo,
            named_by,
            commit,
        } => r("SnapshotMissing")
            .path("repo", repo)
            .str("named_by", named_by)
            .str("commit", commit),
        ArchiveError::BadRef { path, reason } => {
            r("BadRef").path("path", path).str("reason", reason)
        }
        ArchiveError::InvalidRevision { revision, reason } => r("InvalidRevision")
            .str("revision", revision)
            .str("reason", reason),
        ArchiveError::RevisionWithoutCache { path } => r("RevisionWithoutCache").path("path", path),
        _ => return None,
    })
}

/// Errors of what packing or adding was given.
fn archive_input(e: &ArchiveError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        ArchiveError::Io { path, source } => io_error(e, path, source),
        ArchiveError::NoSpace {
            path,
            needed,
            available,
        } => r("NoSpace")
            .file(path)
            .int("needed", *needed)
            .int("available", *available),
        ArchiveError::NotADirectory { path } => r("NotADirectory").file(path),
        ArchiveError::EmptyModel { path } => r("EmptyModel").path("path", path),
        ArchiveError::UnpackableFile { path, reason } => {
            r("UnpackableFile").path("path", path).str("reason", reason)
        }
        ArchiveError::FileChanged { path, expected } => r("FileChanged")
            .path("path", path)
            .int("expected", *expected),
        ArchiveError::ManifestTooLarge {
            layers,
            bytes,
            limit,
        } => r("ManifestTooLarge")
            .count("layers", *layers)
            .int("bytes", *bytes)
            .int("limit", *limit),
        ArchiveError::InvalidOption(_) => r("InvalidOption"),
        ArchiveError::InvalidExcludePattern { pattern, reason } => r("InvalidExcludePattern")
            .str("pattern", pattern)
            .str("reason", reason),
        ArchiveError::SymlinkRefused { path } => r("SymlinkRefused").path("path", path),
        ArchiveError::NoDefaultOutput { path } => r("NoDefaultOutput").path("path", path),
        ArchiveError::OutputDirMissing { path, dir } => {
            r("OutputDirMissing").path("path", path).path("dir", dir)
        }
        ArchiveError::InvalidDescriptorValue { key, expected } => r("InvalidDescriptorValue")
            .str("key", key)
            .str("expected", expected),
        ArchiveError::NotADescriptorField { key, fields } => {
            r("NotADescriptorField").str("key", key).list(
                "fields",
                &fields.split(", ").map(str::to_owned).collect::<Vec<_>>(),
            )
        }
        ArchiveError::VersionNotATag {
            version,
            suggestion,
        } => r("VersionNotATag")
            .str("version", version)
            .str("suggestion", suggestion),
        ArchiveError::InvalidTag { tag, suggestion } => r("InvalidTag")
            .str("tag", tag)
            .str("suggestion", suggestion),
        ArchiveError::AlreadyInModel { path } => r("AlreadyInModel").str("path", path),
        ArchiveError::HasReferrers { archive, count } => r("HasReferrers")
            .path("archive", archive)
            .count("count", *count),
        _ => return None,
    })
}

/// Errors of an archive's content: its structure, documents and blobs.
fn archive_content(e: &ArchiveError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        ArchiveError::NotAnArchive { path, reason } => {
            r("NotAnArchive").file(path).str("reason", reason)
        }
        ArchiveError::MalformedTar {
            archive,
            offset,
            reason,
        } => r("MalformedTar")
            .path("archive", archive)
            .int("offset", *offset)
            .str("reason", reason),
        ArchiveError::Truncated {
            archive,
            entry,
            offset,
            reason,
        } => r("Truncated")
            .path("archive", archive)
            .opt("entry", entry.as_deref())
            .int("offset", *offset)
            .str("reason", reason),
        ArchiveError::UnsafeEntry { entry, refusal } => r("UnsafeEntry")
            .str("entry", entry)
            .str("refusal", refusal_kind(refusal))
            .str("reason", refusal),
        ArchiveError::InvalidDocument { entry, source } => r("InvalidDocument")
            .str("entry", entry)
            .str("reason", source),
        ArchiveError::TooLarge { entry, size, limit } => r("DocumentTooLarge")
            .str("entry", entry)
            .int("size", *size)
            .int("limit", *limit),
        ArchiveError::AmbiguousIndex { archive, reason } => r("AmbiguousIndex")
            .path("archive", archive)
            .str("reason", reason),
        ArchiveError::MissingBlob { what, digest } => {
            r("MissingBlob").str("what", what).str("digest", digest)
        }
        ArchiveError::BlobMismatch {
            what,
            digest,
            source,
        } => r("BlobMismatch")
            .str("what", what)
            .str("digest", digest)
            .str("reason", source),
        ArchiveError::BadManifest { digest, reason } => {
            r("BadManifest").str("digest", digest).str("reason", reason)
        }
        ArchiveError::BadLayer { title, reason } => {
            r("BadLayer").str("title", title).str("reason", reason)
        }
        ArchiveError::BadReferrer { digest, reason } => {
            r("BadReferrer").str("digest", digest).str("reason", reason)
        }
        ArchiveError::TooManyReferrers {
            archive,
            count,
            limit,
        } => r("TooManyReferrers")
            .path("archive", archive)
            .count("count", *count)
            .count("limit", *limit),
        _ => return None,
    })
}

/// Errors of unpacking: what the archive holds that cannot be unpacked, and the target.
fn archive_output(e: &ArchiveError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        ArchiveError::UnsupportedLayer { title, media_type } => r("UnsupportedLayer")
            .str("title", title)
            .str("media_type", media_type),
        ArchiveError::UnsupportedConfig { media_type } => {
            r("UnsupportedConfig").str("media_type", media_type)
        }
        ArchiveError::TargetNotEmpty { path } => r("TargetNotEmpty").file(path),
        ArchiveError::TargetConflict { path, reason } => {
            r("TargetConflict").file(path).str("reason", reason)
        }
        ArchiveError::NothingIncluded { patterns } => {
            r("NothingIncluded").list("patterns", patterns)
        }
        ArchiveError::AlreadyALayout { path } => r("AlreadyALayout").path("path", path),
        ArchiveError::CheckFailed { source } => match source.downcast_ref::<SignError>() {
            Some(signing) => sign(signing),
            None => r("CheckFailed").str("reason", source),
        },
        _ => return None,
    })
}

/// The rule an unsafe entry breaks, as a word: `parent-directory`, `symlink`, ...
fn refusal_kind(refusal: &modeloci_archive::Refusal) -> &'static str {
    use modeloci_archive::Refusal;
    match refusal {
        Refusal::EmptyPath => "empty-path",
        Refusal::AbsolutePath => "absolute-path",
        Refusal::ParentDirectory => "parent-directory",
        Refusal::EmptyComponent => "empty-component",
        Refusal::WindowsPath => "windows-path",
        Refusal::ControlCharacter => "control-character",
        Refusal::TooLong => "too-long",
        Refusal::NotUtf8 => "not-utf8",
        Refusal::Symlink { .. } => "symlink",
        Refusal::Hardlink { .. } => "hardlink",
        Refusal::CharDevice => "char-device",
        Refusal::BlockDevice => "block-device",
        Refusal::Fifo => "fifo",
        Refusal::Sparse => "sparse",
        Refusal::UnknownType(_) => "unknown-type",
        Refusal::Duplicate => "duplicate",
        Refusal::CaseCollision { .. } => "case-collision",
        Refusal::FileDirectoryConflict { .. } => "file-directory-conflict",
        Refusal::OversizedMetadata { .. } => "oversized-metadata",
        Refusal::BadPaxRecord { .. } => "bad-pax-record",
        Refusal::DataOnNonFile { .. } => "data-on-non-file",
        Refusal::NotRegularFile { .. } => "not-regular-file",
        Refusal::NotABlob => "not-a-blob",
        _ => "other",
    }
}

/// The class and facts of a registry error; an archive error inside, and a signature
/// error a pull's check returned, as their own.
fn registry(e: &RegistryError) -> Raised {
    match e {
        RegistryError::Archive(inner) => archive(inner),
        RegistryError::Check(source) => match source.downcast_ref::<SignError>() {
            Some(signing) => sign(signing),
            None => Raised::new("CheckFailed", e).str("reason", source),
        },
        _ => registry_remote(e)
            .or_else(|| registry_local(e))
            .unwrap_or_else(|| Raised::new("RegistryError", e)),
    }
}

/// What the registry, or the way to it, did.
fn registry_remote(e: &RegistryError) -> Option<Raised> {
    let r = |class, registry: &str| Raised::new(class, e).str("registry", registry);
    Some(match e {
        RegistryError::Unreachable { registry, reason } => {
            r("Unreachable", registry).str("reason", reason)
        }
        RegistryError::Unauthorized {
            registry,
            status,
            with_credentials,
        } => r("Unauthorized", registry)
            .int("status", *status)
            .bool("with_credentials", *with_credentials),
        RegistryError::NotFound { registry, what } => r("NotFound", registry).str("what", what),
        RegistryError::Status {
            registry,
            method,
            path,
            status,
            detail,
        } => r("UnexpectedStatus", registry)
            .str("method", method)
            .str("path", path)
            .int("status", *status)
            .opt("detail", detail.as_deref()),
        RegistryError::Stalled {
            registry,
            timeout,
            doing,
            attempts,
        } => r("Stalled", registry)
            .fact("timeout", Fact::Float(timeout.as_secs_f64()))
            .str("doing", doing)
            .int("attempts", *attempts),
        RegistryError::Protocol { registry, reason } => {
            r("ProtocolViolation", registry).str("reason", reason)
        }
        RegistryError::Verification {
            registry,
            what,
            digest,
            source,
        } => r("ContentMismatch", registry)
            .str("what", what)
            .str("digest", digest)
            .str("reason", source),
        RegistryError::TooLarge {
            registry,
            what,
            size,
            limit,
        } => r("ResponseTooLarge", registry)
            .str("what", what)
            .int("size", *size)
            .int("limit", *limit),
        RegistryError::Tls { registry, failure } => tls(r("TlsError", registry), failure),
        RegistryError::NoDefaultTag {
            registry,
            repository,
            tags,
            total,
        } => r("NoDefaultTag", registry)
            .str("repository", repository)
            .list("tags", tags)
            .count("total", *total),
        _ => return None,
    })
}

/// `failure`, the kind of TLS failure as a word (`unknown-issuer`, ...), and its details.
fn tls(raised: Raised, failure: &TlsFailure) -> Raised {
    let kind = match failure {
        TlsFailure::UnknownIssuer => "unknown-issuer",
        TlsFailure::Expired => "expired",
        TlsFailure::NotYetValid => "not-yet-valid",
        TlsFailure::WrongName { names } => {
            return raised.str("failure", "wrong-name").list("names", names);
        }
        TlsFailure::NotTls => "not-tls",
        TlsFailure::PlainToTls => "plain-to-tls",
        TlsFailure::ClientCertificate => "client-certificate",
        TlsFailure::Other(reason) => return raised.str("failure", "other").str("reason", reason),
        _ => "other",
    };
    raised.str("failure", kind)
}

/// What was asked of the registry client, and the local files and settings it reads.
fn registry_local(e: &RegistryError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        RegistryError::InvalidReference { reference, reason } => r("InvalidReference")
            .str("reference", reference)
            .str("reason", reason),
        RegistryError::Insecure { registry } => r("PlainHttpRefused").str("registry", registry),
        RegistryError::TlsFile { path, reason } => {
            r("BadTlsFile").path("path", path).str("reason", reason)
        }
        RegistryError::Credentials { path, reason } => r("CredentialsError")
            .path("path", path)
            .str("reason", reason),
        RegistryError::Environment { variable, reason } => r("InvalidEnvironment")
            .str("variable", variable)
            .str("reason", reason),
        RegistryError::Io { path, source } => io_error(e, path, source),
        RegistryError::InvalidOption(_) => r("InvalidOption"),
        RegistryError::InvalidTag { tag, suggestion } => r("InvalidTag")
            .str("tag", tag)
            .str("suggestion", suggestion),
        _ => return None,
    })
}

/// The class and facts of a signing error; an archive, registry or digest error inside as
/// its own.
fn sign(e: &SignError) -> Raised {
    match e {
        SignError::Archive(inner) => archive(inner),
        SignError::Registry(inner) => registry(inner),
        SignError::Digest(inner) => digest(inner),
        _ => sign_key(e)
            .or_else(|| sign_signature(e))
            .or_else(|| sign_files(e))
            .unwrap_or_else(|| Raised::new("SignatureError", e)),
    }
}

/// A key that cannot be used.
fn sign_key(e: &SignError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        SignError::KeyNotPem { reason } => r("KeyNotPem").str("reason", reason),
        SignError::LegacyEncryptedKey => r("LegacyEncryptedKey"),
        SignError::PasswordNeeded => r("PasswordNeeded"),
        SignError::WrongPassword => r("WrongPassword"),
        SignError::UnsupportedKey { what } => r("UnsupportedKey").str("what", what),
        SignError::PrivateKeyNotPublic => r("PrivateKeyNotPublic"),
        SignError::WrongPemLabel { label, expected } => r("WrongPemLabel")
            .str("label", label)
            .str("expected", expected),
        SignError::NoKeys => r("NoKeys"),
        _ => return None,
    })
}

/// A signature that is missing, malformed or does not verify.
fn sign_signature(e: &SignError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        SignError::InvalidName { name, reason } => {
            r("InvalidName").str("name", name).str("reason", reason)
        }
        SignError::DuplicateName { name } => r("DuplicateName").str("name", name),
        SignError::BundleTooLarge { limit } => r("BundleTooLarge").int("limit", *limit),
        SignError::InvalidBundle { reason } => r("InvalidBundle").str("reason", reason),
        SignError::InvalidStatement { reason } => r("InvalidStatement").str("reason", reason),
        SignError::LegacyStatement => r("LegacyStatement"),
        SignError::RootMismatch { signed, computed } => r("RootMismatch")
            .str("signed", signed)
            .str("computed", computed),
        SignError::SignedByAnotherKey { hint, key_hints } => r("SignedByAnotherKey")
            .str("hint", hint)
            .list("key_hints", key_hints),
        SignError::SignatureNotDer { curve } => r("SignatureNotDer").str("curve", curve),
        SignError::BadSignature { keys } => r("BadSignature").count("keys", *keys),
        SignError::Unsigned => r("Unsigned"),
        SignError::NoSignatureVerifies { reasons } => {
            r("NoSignatureVerifies").list("reasons", reasons)
        }
        SignError::FilesDiffer(mismatch) => r("FilesDiffer")
            .list("missing", &mismatch.missing)
            .list("extra", &mismatch.extra)
            .list("changed", &mismatch.changed),
        SignError::NoRecordedDigests { reference } => {
            r("NoRecordedDigests").str("reference", reference)
        }
        _ => return None,
    })
}

/// A model directory a signature cannot cover, or a file that cannot be read.
fn sign_files(e: &SignError) -> Option<Raised> {
    let r = |class| Raised::new(class, e);
    Some(match e {
        SignError::Symlink { path } => r("SymlinkInModel").path("path", path),
        SignError::SpecialFile { path } => r("SpecialFile").path("path", path),
        SignError::NotADirectory { path } => r("NotADirectory").file(path),
        SignError::NonUtf8Name { path } => r("NonUtf8Name").path("path", path),
        SignError::Io { path, source } => io_error(e, path, source),
        SignError::NotAModel { what } => r("NotAModel").str("what", what),
        _ => return None,
    })
}

/// The class and facts of a digest error.
fn digest(e: &DigestError) -> Raised {
    let r = |class| Raised::new(class, e);
    match e {
        DigestError::SizeMismatch {
            expected,
            actual,
            at_least,
        } => r("SizeMismatch")
            .int("expected", *expected)
            .int("actual", *actual)
            .bool("at_least", *at_least),
        DigestError::DigestMismatch { expected, actual } => r("DigestMismatch")
            .str("expected", expected)
            .str("actual", actual),
        DigestError::Io { path, source } => io_error(e, path, source),
        _ => r("IntegrityError"),
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> Self {
        let raised = match failure {
            Failure::Python(e) => return e,
            Failure::Archive(e) => archive(&e),
            Failure::Registry(e) => registry(&e),
            Failure::Sign(e) => sign(&e),
            Failure::Digest(e) => digest(&e),
        };
        Python::attach(|py| raise(py, raised).unwrap_or_else(|e| e))
    }
}

/// The exception `modeloci.errors._from_native` makes of `raised`.
fn raise(py: Python<'_>, raised: Raised) -> PyResult<PyErr> {
    let facts = PyDict::new(py);
    for (name, fact) in raised.facts {
        match fact {
            Fact::Str(s) => facts.set_item(name, s)?,
            Fact::Int(n) => facts.set_item(name, n)?,
            Fact::Float(x) => facts.set_item(name, x)?,
            Fact::Bool(b) => facts.set_item(name, b)?,
            Fact::Path(p) => facts.set_item(name, p.as_os_str())?,
            Fact::List(l) => facts.set_item(name, l)?,
            Fact::None => facts.set_item(name, py.None())?,
        }
    }
    let exception = py
        .import("modeloci.errors")?
        .getattr("_from_native")?
        .call1((raised.class, raised.message, facts))?;
    Ok(PyErr::from_value(exception))
}
