//! What the command adds to the libraries' errors: its own wording where an error is about
//! one of its flags, and a hint naming its flags where one helps. The libraries describe what
//! went wrong (a path, a digest, an entry, what was expected); only the command knows which
//! of its flags would change the outcome.

use std::io;

use modeloci_archive::Error as ArchiveError;
use modeloci_registry::{Error as RegistryError, TlsFailure, is_local};
use modeloci_sign::Error as SignError;

/// The error message for an error the command ended with: the libraries' own, except for
/// the errors about an option, which name the flag that set it.
pub(crate) fn message(err: &anyhow::Error) -> String {
    let archive_err =
        err.downcast_ref::<ArchiveError>()
            .or_else(|| match err.downcast_ref::<RegistryError>() {
                Some(RegistryError::Archive(err)) => Some(err),
                _ => None,
            });
    archive_err
        .and_then(archive_message)
        .unwrap_or_else(|| err.to_string())
}

/// The wording of an archive error about one of the command's flags.
fn archive_message(err: &ArchiveError) -> Option<String> {
    Some(match err {
        ArchiveError::InvalidExcludePattern { pattern, reason } => {
            format!("--exclude {pattern:?}: {reason}")
        }
        ArchiveError::SymlinkRefused { path } => format!(
            "cannot pack {}: it is a symbolic link (pack with --symlinks follow or skip)",
            path.display()
        ),
        ArchiveError::NothingIncluded { patterns } => format!(
            "no file of the model matches --include {}",
            patterns.join(" ")
        ),
        ArchiveError::AlreadyALayout { path } => format!(
            "{} is already an OCI layout directory; --layout extracts tar archives",
            path.display()
        ),
        ArchiveError::NoDefaultOutput { path } => {
            format!("{} has no parent directory: pass --output", path.display())
        }
        ArchiveError::InvalidDescriptorValue { key, expected } => {
            format!("--metadata {key:?} must be {expected} for a ModelPack descriptor")
        }
        ArchiveError::NotADescriptorField { key, fields } => {
            format!("--metadata {key:?} is not a ModelPack descriptor field; use one of {fields}")
        }
        ArchiveError::InvalidTag { tag, .. } => format!(
            "--tag {tag:?} is not a valid tag: up to 128 letters, digits, _ . and -, not starting with . or -"
        ),
        _ => return None,
    })
}

/// The hint for an error the command ended with, if one helps.
pub(crate) fn hint(err: &anyhow::Error) -> Option<String> {
    if let Some(err) = err.downcast_ref::<SignError>() {
        return signing(err).map(str::to_owned);
    }
    if let Some(err) = err.downcast_ref::<ArchiveError>() {
        return archive_hint(err);
    }
    err.downcast_ref::<RegistryError>().and_then(registry)
}

/// The hint for a signing or signature error.
fn signing(err: &SignError) -> Option<&'static str> {
    Some(match err {
        SignError::Unsigned => {
            "sign it with `modeloci sign ... --key KEY.pem`, or attach a model_signing signature with --signature"
        }
        SignError::SignedByAnotherKey { .. } => {
            "pass the signer's public key with --key (repeatable: any one of them may have signed)"
        }
        SignError::FilesDiffer(_) => {
            "the files are not those that were signed: fetch the model again, or sign it anew"
        }
        SignError::NoRecordedDigests { .. } => {
            "pull it with --output, sign the archive, and push it: its files are then hashed from the layers"
        }
        SignError::PasswordNeeded => {
            "give the key's password on standard input with --key-password-stdin"
        }
        SignError::WrongPassword => {
            "check the password given on standard input (a line break at its end is not part of it)"
        }
        SignError::PrivateKeyNotPublic => {
            "verify with the public key: `openssl ec -in KEY.pem -pubout`"
        }
        SignError::Archive(e) => return archive(e),
        _ => return None,
    })
}

/// The hint for an archive error, with the tag pack suggests when the name is not one.
fn archive_hint(err: &ArchiveError) -> Option<String> {
    match err {
        ArchiveError::VersionNotATag { suggestion, .. } => Some(format!(
            "pass --tag {suggestion} to name the archive's reference (registry tags allow only letters, digits, _ . and -)"
        )),
        ArchiveError::InvalidTag { suggestion, .. } => Some(format!("pass --tag {suggestion}")),
        _ => archive(err).map(str::to_owned),
    }
}

/// The hint for an archive error: reading, verifying, packing, unpacking or adding.
fn archive(err: &ArchiveError) -> Option<&'static str> {
    Some(match err {
        ArchiveError::TargetNotEmpty { .. } => {
            "pass --force to overwrite the files the archive holds, or choose an empty directory"
        }
        ArchiveError::AlreadyInModel { .. } => "pass --force to replace it",
        ArchiveError::HasReferrers { .. } => {
            "pass --force to drop the signatures (they would not cover the new file), then sign the archive again"
        }
        ArchiveError::AmbiguousIndex { .. } => "pass --ref to choose a manifest",
        ArchiveError::BlobMismatch { .. } | ArchiveError::MissingBlob { .. } => {
            "the archive is corrupt or was tampered with; fetch it again"
        }
        ArchiveError::Truncated { .. } => {
            "the archive is truncated (an interrupted download or copy?); fetch it again"
        }
        ArchiveError::EmptyModel { .. } => "check --model-dir and your exclude patterns",
        ArchiveError::NoMainRef { .. }
        | ArchiveError::UnknownRevision { .. }
        | ArchiveError::AmbiguousRevision { .. } => {
            "pass --revision with one of the refs, or a snapshot's commit (its first 7 or more hex digits)"
        }
        ArchiveError::RevisionWithoutCache { .. } => {
            "leave out --revision, or pass the cache's models--<org>--<name> folder as --model-dir"
        }
        ArchiveError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull => {
            "the disk is full: free some space or write elsewhere (nothing was left behind)"
        }
        ArchiveError::NoSpace { .. } => {
            "free some space on that filesystem, or write elsewhere (another --output, or --unpack DIR for a pull); nothing was written"
        }
        ArchiveError::Io { source, .. } if source.kind() == io::ErrorKind::ResourceBusy => {
            "another modeloci run is writing it: wait for that one to finish"
        }
        _ => return None,
    })
}

/// The hint for a registry error: login, push or pull, and the archive errors they wrap.
fn registry(err: &RegistryError) -> Option<String> {
    match err {
        RegistryError::Unauthorized {
            registry,
            with_credentials: false,
            ..
        } => Some(format!(
            "log in with `modeloci login {registry}`, or pass --username USER --password-stdin; in CI, set MODELOCI_USERNAME and MODELOCI_PASSWORD"
        )),
        RegistryError::Unauthorized {
            registry,
            with_credentials: true,
            ..
        } => Some(format!(
            "the credentials were refused, or do not grant this access; check the user name and password (--username, --password-stdin, MODELOCI_USERNAME, MODELOCI_PASSWORD) or log in again with `modeloci login {registry}`"
        )),
        RegistryError::Insecure { .. } => {
            Some("pass --plain-http if the registry really serves plain HTTP".into())
        }
        RegistryError::Stalled { .. } => Some(
            "the registry or the network stalled; try again later, or allow more time with --timeout SECONDS".into(),
        ),
        RegistryError::Unreachable { registry, .. } if is_local(registry) => Some(format!(
            "is a registry listening on {registry}? check the port (one serving HTTPS needs --tls or an https:// reference)"
        )),
        RegistryError::Unreachable { .. } => Some(
            "check the host and port; a registry serving plain HTTP needs --plain-http or an http:// reference".into(),
        ),
        RegistryError::Tls { failure, .. } => tls(failure),
        RegistryError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull => Some(
            "the disk is full: free some space and run the same pull again; it resumes".into(),
        ),
        RegistryError::Io { source, .. } if source.kind() == io::ErrorKind::ResourceBusy => {
            Some("another modeloci run is writing it: wait for that one to finish".into())
        }
        RegistryError::InvalidTag { suggestion, .. } => Some(format!(
            "tags allow only letters, digits, _ . and -: use {suggestion}"
        )),
        RegistryError::NoDefaultTag {
            registry,
            repository,
            tags,
            ..
        } => Some(match tags.first() {
            Some(tag) => format!("name a tag: {registry}/{repository}:{tag}"),
            None => "push a model to it first, or check the repository's name".to_owned(),
        }),
        RegistryError::Archive(ArchiveError::Io { source, .. })
            if source.kind() == io::ErrorKind::StorageFull =>
        {
            Some("the disk is full: free some space and run the same pull again; it resumes".into())
        }
        RegistryError::Archive(err) => archive_hint(err),
        _ => None,
    }
}

/// The hint for a failed TLS handshake, or a scheme the registry does not speak.
fn tls(failure: &TlsFailure) -> Option<String> {
    const CERTS_D: &str = "certs.d/HOST:PORT/ under ~/.docker or /etc/docker";
    Some(match failure {
        TlsFailure::UnknownIssuer => format!(
            "trust the registry's certificate authority: pass --ca-file PEM (or set MODELOCI_CA_FILE), or put it in {CERTS_D} as ca.crt"
        ),
        TlsFailure::Expired => {
            "the registry's certificate has expired: its operator must renew it".into()
        }
        TlsFailure::NotYetValid => {
            "the registry's certificate is not valid yet: check this machine's clock".into()
        }
        TlsFailure::WrongName { names } if !names.is_empty() => {
            format!("use a name the certificate is for: {}", names.join(", "))
        }
        TlsFailure::WrongName { .. } => "use the name the registry's certificate is for".into(),
        TlsFailure::NotTls => {
            "the registry serves plain HTTP: pass --plain-http, or use an http:// reference".into()
        }
        TlsFailure::PlainToTls => {
            "the registry serves HTTPS: pass --tls, or use an https:// reference".into()
        }
        TlsFailure::ClientCertificate => format!(
            "the registry wants a client certificate: put client.cert and client.key in {CERTS_D}"
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn of(err: impl Into<anyhow::Error>) -> Option<String> {
        hint(&err.into())
    }

    fn io_error(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "test")
    }

    #[test]
    fn archive_errors_hint_at_the_flags_that_help() {
        let path = || PathBuf::from("out");
        assert_eq!(
            of(ArchiveError::TargetNotEmpty { path: path() }).as_deref(),
            Some(
                "pass --force to overwrite the files the archive holds, or choose an empty directory"
            )
        );
        assert_eq!(
            of(ArchiveError::AlreadyInModel { path: "a".into() }).as_deref(),
            Some("pass --force to replace it")
        );
        assert_eq!(
            of(ArchiveError::AmbiguousIndex {
                archive: path(),
                reason: "two manifests".into()
            })
            .as_deref(),
            Some("pass --ref to choose a manifest")
        );
        assert_eq!(
            of(ArchiveError::EmptyModel { path: path() }).as_deref(),
            Some("check --model-dir and your exclude patterns")
        );
        assert_eq!(
            of(ArchiveError::Truncated {
                archive: path(),
                entry: None,
                offset: 0,
                reason: "cut".into()
            })
            .as_deref(),
            Some("the archive is truncated (an interrupted download or copy?); fetch it again")
        );
        assert_eq!(
            of(ArchiveError::Io {
                path: path(),
                source: io_error(io::ErrorKind::StorageFull)
            })
            .as_deref(),
            Some("the disk is full: free some space or write elsewhere (nothing was left behind)")
        );
        assert_eq!(
            of(ArchiveError::Io {
                path: path(),
                source: io_error(io::ErrorKind::ResourceBusy)
            })
            .as_deref(),
            Some("another modeloci run is writing it: wait for that one to finish")
        );
        assert_eq!(
            of(ArchiveError::Io {
                path: path(),
                source: io_error(io::ErrorKind::NotFound)
            }),
            None
        );
        assert_eq!(of(ArchiveError::InvalidOption("x".into())), None);
    }

    #[test]
    fn registry_errors_hint_at_the_flags_that_help() {
        let registry = || "localhost:5000".to_owned();
        assert_eq!(
            of(RegistryError::Unauthorized {
                registry: registry(),
                status: 401,
                with_credentials: false
            })
            .as_deref(),
            Some(
                "log in with `modeloci login localhost:5000`, or pass --username USER --password-stdin; in CI, set MODELOCI_USERNAME and MODELOCI_PASSWORD"
            )
        );
        assert_eq!(
            of(RegistryError::Unauthorized {
                registry: registry(),
                status: 403,
                with_credentials: true
            })
            .as_deref(),
            Some(
                "the credentials were refused, or do not grant this access; check the user name and password (--username, --password-stdin, MODELOCI_USERNAME, MODELOCI_PASSWORD) or log in again with `modeloci login localhost:5000`"
            )
        );
        assert_eq!(
            of(RegistryError::Insecure {
                registry: registry()
            })
            .as_deref(),
            Some("pass --plain-http if the registry really serves plain HTTP")
        );
        assert_eq!(
            of(RegistryError::Stalled {
                registry: registry(),
                timeout: Duration::from_secs(1),
                doing: "answering GET /v2/".into(),
                attempts: 1
            })
            .as_deref(),
            Some(
                "the registry or the network stalled; try again later, or allow more time with --timeout SECONDS"
            )
        );
        assert_eq!(
            of(RegistryError::Unreachable {
                registry: registry(),
                reason: "refused".into()
            })
            .as_deref(),
            Some(
                "is a registry listening on localhost:5000? check the port (one serving HTTPS needs --tls or an https:// reference)"
            )
        );
        assert_eq!(
            of(RegistryError::Unreachable {
                registry: "ghcr.io".into(),
                reason: "refused".into()
            })
            .as_deref(),
            Some(
                "check the host and port; a registry serving plain HTTP needs --plain-http or an http:// reference"
            )
        );
        assert_eq!(
            of(RegistryError::Io {
                path: "cache".into(),
                source: io_error(io::ErrorKind::StorageFull)
            })
            .as_deref(),
            Some("the disk is full: free some space and run the same pull again; it resumes")
        );
        assert_eq!(
            of(RegistryError::Io {
                path: "cache".into(),
                source: io_error(io::ErrorKind::ResourceBusy)
            })
            .as_deref(),
            Some("another modeloci run is writing it: wait for that one to finish")
        );
        assert_eq!(
            of(RegistryError::NotFound {
                registry: registry(),
                what: "manifest m:1".into()
            }),
            None
        );
    }

    #[test]
    fn archive_errors_a_registry_wraps_keep_their_hint() {
        assert_eq!(
            of(RegistryError::Archive(ArchiveError::TargetNotEmpty {
                path: "out".into()
            }))
            .as_deref(),
            Some(
                "pass --force to overwrite the files the archive holds, or choose an empty directory"
            )
        );
        assert_eq!(
            of(RegistryError::Archive(ArchiveError::InvalidOption(
                "x".into()
            ))),
            None
        );
    }

    #[test]
    fn names_that_are_not_tags_hint_at_one_that_is() {
        let version = || ArchiveError::VersionNotATag {
            version: "1.0.0+cu121".into(),
            suggestion: "1.0.0_cu121".into(),
        };
        let hint = "pass --tag 1.0.0_cu121 to name the archive's reference (registry tags allow only letters, digits, _ . and -)";
        assert_eq!(of(version()).as_deref(), Some(hint));
        assert_eq!(
            of(RegistryError::Archive(version())).as_deref(),
            Some(hint),
            "the same when a registry command packs or reads"
        );
        assert_eq!(
            of(RegistryError::InvalidTag {
                tag: "v1 beta".into(),
                suggestion: "v1_beta".into()
            })
            .as_deref(),
            Some("tags allow only letters, digits, _ . and -: use v1_beta")
        );
    }

    fn said(err: impl Into<anyhow::Error>) -> String {
        message(&err.into())
    }

    #[test]
    fn errors_about_an_option_name_its_flag() {
        assert_eq!(
            said(ArchiveError::InvalidExcludePattern {
                pattern: "a{b".into(),
                reason: "unclosed".into()
            }),
            "--exclude \"a{b\": unclosed"
        );
        assert_eq!(
            said(ArchiveError::SymlinkRefused {
                path: "model/link".into()
            }),
            "cannot pack model/link: it is a symbolic link (pack with --symlinks follow or skip)"
        );
        assert_eq!(
            said(ArchiveError::NothingIncluded {
                patterns: vec!["*.gguf".into(), "*.bin".into()]
            }),
            "no file of the model matches --include *.gguf *.bin"
        );
        assert_eq!(
            said(ArchiveError::AlreadyALayout {
                path: "layout".into()
            }),
            "layout is already an OCI layout directory; --layout extracts tar archives"
        );
        assert_eq!(
            said(ArchiveError::NoDefaultOutput { path: "/".into() }),
            "/ has no parent directory: pass --output"
        );
        assert_eq!(
            said(ArchiveError::InvalidDescriptorValue {
                key: "title".into(),
                expected: "a string"
            }),
            "--metadata \"title\" must be a string for a ModelPack descriptor"
        );
        assert_eq!(
            said(ArchiveError::NotADescriptorField {
                key: "x".into(),
                fields: "authors, title"
            }),
            "--metadata \"x\" is not a ModelPack descriptor field; use one of authors, title"
        );
        // Through a registry's wrapping too, as pull --unpack --include reports it.
        assert_eq!(
            said(RegistryError::Archive(ArchiveError::NothingIncluded {
                patterns: vec!["*.gguf".into()]
            })),
            "no file of the model matches --include *.gguf"
        );
    }

    #[test]
    fn other_errors_keep_the_librarys_message() {
        let err = ArchiveError::EmptyModel {
            path: "model".into(),
        };
        let text = err.to_string();
        assert_eq!(said(err), text);
        let err = RegistryError::Archive(ArchiveError::InvalidOption("bad".into()));
        assert_eq!(said(err), "bad");
        assert_eq!(said(anyhow::anyhow!("no password")), "no password");
    }

    #[test]
    fn other_errors_have_no_hint() {
        assert_eq!(
            hint(&anyhow::anyhow!("no password on standard input")),
            None
        );
    }

    #[test]
    fn tls_failures_hint_at_what_fixes_each() {
        let of_tls = |failure| {
            of(RegistryError::Tls {
                registry: "localhost:5000".into(),
                failure,
            })
        };
        let unknown = of_tls(TlsFailure::UnknownIssuer).unwrap();
        assert!(unknown.contains("--ca-file PEM") && unknown.contains("certs.d/"));
        assert!(!unknown.contains("--plain-http"), "{unknown}");
        assert_eq!(
            of_tls(TlsFailure::WrongName {
                names: vec!["a.example".into(), "b\x1b[31m".into()]
            })
            .as_deref(),
            Some("use a name the certificate is for: a.example, b\x1b[31m")
        );
        assert_eq!(
            of_tls(TlsFailure::NotTls).as_deref(),
            Some("the registry serves plain HTTP: pass --plain-http, or use an http:// reference")
        );
        assert_eq!(
            of_tls(TlsFailure::PlainToTls).as_deref(),
            Some("the registry serves HTTPS: pass --tls, or use an https:// reference")
        );
        assert!(of_tls(TlsFailure::Expired).unwrap().contains("expired"));
        assert!(of_tls(TlsFailure::NotYetValid).unwrap().contains("clock"));
        assert!(
            of_tls(TlsFailure::ClientCertificate)
                .unwrap()
                .contains("client.cert and client.key")
        );
        assert_eq!(of_tls(TlsFailure::Other("x".into())), None);
    }
}
