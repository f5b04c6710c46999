use thiserror::Error;

/// Why a value could not be parsed into one of this crate's types.
///
/// Every variant carries the input (or the part of it) at fault, so that a message shown to a
/// user names what was wrong.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The string is not of the OCI digest form `algorithm:encoded`.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The string that was given, cut to at most 100 characters.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The digest is well formed but names an algorithm this crate cannot verify.
    #[error("unsupported digest algorithm {algorithm:?} (supported: sha256, sha512)")]
    UnsupportedAlgorithm {
        /// The algorithm part of the digest, cut to at most 100 characters.
        algorithm: String,
    },
    /// A JSON document could not be parsed as the named type.
    #[error("invalid {what} JSON: {source}")]
    Json {
        /// The kind of document: `manifest`, `index`, `config`, ...
        what: &'static str,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A document parsed, but one of its fields breaks the specification.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The kind of document.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn json(what: &'static str, source: serde_json::Error) -> Self {
        Self::Json { what, source }
    }
}

/// Cuts untrusted input before it goes into an error message.
pub(crate) fn clip(input: &str) -> String {
    const MAX: usize = 100;
    match input.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &input[..end]),
        None => input.to_owned(),
    }
}
