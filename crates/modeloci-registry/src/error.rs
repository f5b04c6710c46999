use std::io;
use std::path::PathBuf;

use modeloci_spec::Digest;
use thiserror::Error;

/// What can go wrong talking to a registry. Each variant names the registry, reference,
/// blob or file at fault. The errors state facts; what a person should do next (which flag
/// of the command to pass, say) is for the program that shows them to decide.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference is not of the form `host[:port]/repository[:tag][@digest]`.
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference given.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The registry could not be reached, or the connection broke (after retries).
    #[error("cannot reach {registry}: {reason}")]
    Unreachable {
        /// `host[:port]`
        registry: String,
        /// The transport's error.
        reason: String,
    },
    /// The registry refused our credentials, or we had none.
    #[error("{registry} refused access ({status}{})", if *.with_credentials { ", with credentials" } else { ", without credentials" })]
    Unauthorized {
        /// `host[:port]`
        registry: String,
        /// 401 or 403.
        status: u16,
        /// Whether credentials were sent.
        with_credentials: bool,
    },
    /// The repository, tag, manifest or blob does not exist.
    #[error("{what} not found in {registry}")]
    NotFound {
        /// `host[:port]`
        registry: String,
        /// What was looked up: `manifest repo:tag`, `blob sha256:...`.
        what: String,
    },
    /// The registry answered with an unexpected status.
    #[error("{registry}: {method} {path} answered {status}{}", detail_suffix(.detail))]
    Status {
        /// `host[:port]`
        registry: String,
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The status code.
        status: u16,
        /// The error the registry described, if any.
        detail: Option<String>,
    },
    /// The registry sent nothing for the stall timeout, on every attempt.
    #[error("{registry} sent no data for {} while {doing}; gave up after {attempts} attempt{}", seconds(*.timeout), if *.attempts == 1 { "" } else { "s" })]
    Stalled {
        /// `host[:port]`
        registry: String,
        /// How long it was given.
        timeout: std::time::Duration,
        /// What it was doing: `downloading blob sha256:...`, `answering GET /v2/...`.
        doing: String,
        /// How many times it was tried.
        attempts: u32,
    },
    /// The registry broke the protocol: a missing header, a malformed answer.
    #[error("{registry}: {reason}")]
    Protocol {
        /// `host[:port]`
        registry: String,
        /// What it did.
        reason: String,
    },
    /// Content from the registry does not match its digest or size.
    #[error("{what} {digest} from {registry}: {source}")]
    Verification {
        /// `host[:port]`
        registry: String,
        /// `manifest`, `config`, `layer model.safetensors`.
        what: String,
        /// The digest expected.
        digest: Digest,
        /// The difference.
        #[source]
        source: modeloci_digest::Error,
    },
    /// A manifest larger than the cap.
    #[error("{what} from {registry} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// `host[:port]`
        registry: String,
        /// What it is.
        what: String,
        /// Its size, as announced or as read so far.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Plain HTTP to a host that is not local, without
    /// [`ClientOptions::with_plain_http`](crate::ClientOptions::with_plain_http).
    #[error("refusing plain HTTP to {registry}: it is not a local address")]
    Insecure {
        /// `host[:port]`
        registry: String,
    },
    /// The TLS handshake with the registry failed, or one side did not speak TLS.
    #[error("{registry}: {failure}")]
    Tls {
        /// `host[:port]`
        registry: String,
        /// What failed.
        failure: TlsFailure,
    },
    /// A CA bundle, client certificate or key could not be used.
    #[error("{}: {reason}", path.display())]
    TlsFile {
        /// The file or `certs.d` directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Credentials could not be read or stored.
    #[error("{}: {reason}", path.display())]
    Credentials {
        /// The Docker config file, or the credential helper.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An environment variable a default is read from is unusable.
    #[error("{reason}")]
    Environment {
        /// The variable.
        variable: String,
        /// What is wrong, naming the variable.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the archive failed.
    #[error(transparent)]
    Archive(#[from] modeloci_archive::Error),
    /// The options do not make sense.
    #[error("{0}")]
    InvalidOption(String),
    /// A tag to push under is not a valid tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`); nothing
    /// was sent.
    #[error(
        "{tag:?} is not a valid tag (up to 128 letters, digits, _ . and -, not starting with . or -); \
         nothing was pushed"
    )]
    InvalidTag {
        /// The tag.
        tag: String,
        /// A valid tag close to it.
        suggestion: String,
    },
    /// A pull's check (its [`PullCheck`](crate::PullCheck)) refused what was staged; nothing
    /// reached the target.
    #[error("{0}")]
    Check(CheckError),
    /// A reference without a tag, in a repository that has no `latest`: its tags instead.
    #[error("{repository} has no tag latest in {registry}{}", tag_list(.tags, *.total))]
    NoDefaultTag {
        /// `host[:port]`
        registry: String,
        /// The repository.
        repository: String,
        /// Its first tags.
        tags: Vec<String>,
        /// How many tags it has in all.
        total: usize,
    },
}

/// What went wrong in TLS with a registry.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The certificate chain leads to no trusted authority.
    #[error("its TLS certificate is signed by an unknown authority")]
    UnknownIssuer,
    /// The certificate has expired.
    #[error("its TLS certificate has expired")]
    Expired,
    /// The certificate is not valid yet.
    #[error("its TLS certificate is not valid yet")]
    NotYetValid,
    /// The certificate is for other names.
    #[error("its TLS certificate is not valid for this name{}", for_names(.names))]
    WrongName {
        /// The names the certificate is for, when known.
        names: Vec<String>,
    },
    /// An HTTPS request was answered by a server that does not speak TLS.
    #[error("it does not speak TLS (a plain HTTP server?)")]
    NotTls,
    /// A plain HTTP request was answered by a server that speaks only HTTPS.
    #[error("it speaks HTTPS and refused a plain HTTP request")]
    PlainToTls,
    /// The registry wants a client certificate, or refused the one sent.
    #[error("it requires a client certificate, or refused the one sent")]
    ClientCertificate,
    /// Another TLS failure.
    #[error("TLS failed: {0}")]
    Other(String),
}

fn for_names(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (it is for {})", names.join(", "))
    }
}

/// `; its tags: a, b (and 3 more)`, or `; it has no tags`.
fn tag_list(tags: &[String], total: usize) -> String {
    if tags.is_empty() {
        return "; it has no tags".to_owned();
    }
    let more = total.saturating_sub(tags.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("; its tags: {}{more}", tags.join(", "))
}

/// `2 s`, or `1.5 s`, or `250 ms`.
fn seconds(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_ref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl Error {
    /// Whether content failed verification (exit code 1) rather than input or I/O (2).
    pub fn is_verification_failure(&self) -> bool {
        match self {
            Self::Verification { .. } | Self::Check(_) => true,
            Self::Archive(e) => e.is_verification_failure(),
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a pull's check returns when it refuses (`PullCheck`): carried by [`Error::Check`].
pub type CheckError = Box<dyn std::error::Error + Send + Sync>;
