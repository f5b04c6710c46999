//! The one error type of the crate: every variant states what is wrong, in facts.

use std::path::PathBuf;

/// What went wrong reading a key, a bundle or a model directory, or verifying a signature.
///
/// No variant ever holds key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key file is not PEM, or its PEM armor is damaged.
    #[error("the key is not a PEM file: {reason}")]
    KeyNotPem {
        /// What the PEM decoder found.
        reason: String,
    },
    /// A private key in OpenSSL's legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED`).
    #[error(
        "the private key is encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED), \
         which is not supported; convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8`"
    )]
    LegacyEncryptedKey,
    /// An encrypted private key, and no password.
    #[error("the private key is encrypted and no password was given")]
    PasswordNeeded,
    /// An encrypted private key that the password did not decrypt.
    #[error("the private key could not be decrypted: wrong password, or a damaged key")]
    WrongPassword,
    /// A key of a kind OpenSSF model signatures do not use, or a damaged one.
    #[error("unsupported key: {what}; model signatures use ECDSA keys on P-256 or P-384")]
    UnsupportedKey {
        /// What the key is.
        what: String,
    },
    /// A private key where a public key was expected.
    #[error(
        "a private key was given where a public key is expected; \
         derive the public key with `openssl ec -pubout`"
    )]
    PrivateKeyNotPublic,
    /// A PEM section that holds no key of the kind expected.
    #[error("the PEM file holds a {label}, not a {expected}")]
    WrongPemLabel {
        /// The PEM label found.
        label: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A file name that a signature may not list.
    #[error("invalid file name {name:?} in a signed file list: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A file listed twice.
    #[error("the file {name:?} is listed twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A bundle over the size limit, refused before parsing.
    #[error("the signature bundle is larger than {limit} bytes")]
    BundleTooLarge {
        /// The limit.
        limit: u64,
    },
    /// A bundle that is not a well-formed Sigstore bundle of a model signature.
    #[error("the signature bundle is not valid: {reason}")]
    InvalidBundle {
        /// What is wrong.
        reason: String,
    },
    /// A signed statement that is not a well-formed OpenSSF model signature statement.
    #[error("the signed statement is not valid: {reason}")]
    InvalidStatement {
        /// What is wrong.
        reason: String,
    },
    /// A statement in the legacy `https://model_signing/Digests/v0.1` format.
    #[error(
        "the signature uses the legacy statement format https://model_signing/Digests/v0.1, \
         which is not supported; sign the model again with model_signing 1.0 or later"
    )]
    LegacyStatement,
    /// A statement whose root digest is not that of its file list.
    #[error("the signed root digest {signed} is not that of the signed file list ({computed})")]
    RootMismatch {
        /// The root in the statement's subject.
        signed: String,
        /// The root recomputed over the resources.
        computed: String,
    },
    /// A verification with no key.
    #[error("no public key to verify the signature with")]
    NoKeys,
    /// The bundle's key hint matches none of the keys.
    #[error(
        "the signature was signed by another key: its key hint is {hint}, not that of the {} \
         given ({})", key_count(.key_hints.len()), .key_hints.join(", ")
    )]
    SignedByAnotherKey {
        /// The bundle's key hint.
        hint: String,
        /// The hints of the keys tried.
        key_hints: Vec<String>,
    },
    /// The signature is not a DER ECDSA signature for the key's curve.
    #[error("the signature is not a DER-encoded ECDSA signature for {curve}")]
    SignatureNotDer {
        /// The curve of the key tried.
        curve: &'static str,
    },
    /// The signature does not verify.
    #[error("the signature does not verify with the {}: the signed content was changed, or another key signed it", key_count(*.keys))]
    BadSignature {
        /// How many keys were tried.
        keys: usize,
    },
    /// A symbolic link in a model directory.
    #[error("{} is a symbolic link; model signatures cover regular files only", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A device, socket or pipe in a model directory.
    #[error("{} is not a regular file or a directory", path.display())]
    SpecialFile {
        /// The file.
        path: PathBuf,
    },
    /// A model path that is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A path whose name is not UTF-8.
    #[error("{} has a name that is not UTF-8", path.display())]
    NonUtf8Name {
        /// The path.
        path: PathBuf,
    },
    /// A file or directory that could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Hashing a file failed.
    #[error(transparent)]
    Digest(#[from] modeloci_digest::Error),
    /// No signature is stored beside the model.
    #[error("the model is not signed: no signature is stored beside it")]
    Unsigned,
    /// Several signatures, none of which verifies.
    #[error("none of the {} signatures verifies: {}", .reasons.len(), .reasons.join("; "))]
    NoSignatureVerifies {
        /// Each signature's referrer digest and why it does not verify.
        reasons: Vec<String>,
    },
    /// The model's files are not the signed ones.
    #[error(transparent)]
    FilesDiffer(crate::compare::Mismatch),
    /// What was named is not a model manifest.
    #[error("{what}")]
    NotAModel {
        /// What it is.
        what: String,
    },
    /// A registry model whose manifest does not record every file's digest.
    #[error(
        "the manifest of {reference} does not record the digest of every file (a layer holds \
         files it does not list), so they cannot be known without downloading its layers"
    )]
    NoRecordedDigests {
        /// The model.
        reference: String,
    },
    /// Reading or writing an archive failed.
    #[error(transparent)]
    Archive(#[from] modeloci_archive::Error),
    /// A registry request failed.
    #[error(transparent)]
    Registry(#[from] modeloci_registry::Error),
}

impl Error {
    /// Whether this says that a signature or the files it covers did not check out (exit 1
    /// in the CLI), rather than that the check could not be made.
    pub fn is_verification_failure(&self) -> bool {
        match self {
            Self::Archive(e) => e.is_verification_failure(),
            Self::Registry(e) => e.is_verification_failure(),
            Self::Io { .. } | Self::NotADirectory { .. } | Self::NotAModel { .. } => false,
            Self::KeyNotPem { .. }
            | Self::LegacyEncryptedKey
            | Self::PasswordNeeded
            | Self::WrongPassword
            | Self::UnsupportedKey { .. }
            | Self::PrivateKeyNotPublic
            | Self::WrongPemLabel { .. }
            | Self::NoKeys => false,
            _ => true,
        }
    }
}

fn key_count(n: usize) -> String {
    if n == 1 {
        "key".to_owned()
    } else {
        format!("{n} keys")
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
