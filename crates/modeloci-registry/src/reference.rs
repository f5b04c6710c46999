//! Image references: `[https://|http://]host[:port]/repository[:tag][@digest]`.

use std::fmt;
use std::str::FromStr;

use modeloci_spec::Digest;

use crate::Error;

/// A reference to a manifest in a registry. A leading `https://` or `http://` chooses the
/// scheme whatever the host ([`Reference::scheme`]); without one the client decides
/// (plain HTTP for a loopback host, HTTPS elsewhere).
///
/// ```
/// use modeloci_registry::{Reference, Scheme};
///
/// let r: Reference = "localhost:5000/models/bert:1.0.0".parse()?;
/// assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), ("localhost:5000", "models/bert", Some("1.0.0")));
/// assert!("bert:1.0.0".parse::<Reference>().is_err()); // no registry host
/// let r: Reference = "https://localhost:5000/bert:1".parse()?;
/// assert_eq!((r.scheme, r.to_string().as_str()), (Some(Scheme::Https), "https://localhost:5000/bert:1"));
/// # Ok::<(), modeloci_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The scheme the reference asked for: `https://` means TLS even to a loopback host,
    /// `http://` plain HTTP even to another machine. `None` when it named none.
    pub scheme: Option<Scheme>,
    /// `host[:port]` as given (`docker.io` for Docker Hub).
    pub registry: String,
    /// The repository, `/`-separated lowercase components.
    pub repository: String,
    /// The tag, if given.
    pub tag: Option<String>,
    /// The manifest digest, if given.
    pub digest: Option<Digest>,
}

/// The scheme a reference or the options ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The scheme `s` starts with (`https://`, `http://`, any case) and the rest of `s`.
    pub fn strip(s: &str) -> (Option<Self>, &str) {
        for scheme in [Self::Https, Self::Http] {
            let prefix = scheme.as_str().len() + 3;
            if s.len() >= prefix
                && s.is_char_boundary(prefix)
                && s[..prefix].eq_ignore_ascii_case(&format!("{}://", scheme.as_str()))
            {
                return (Some(scheme), &s[prefix..]);
            }
        }
        (None, s)
    }
}

impl Reference {
    /// The host the API is served from: Docker Hub's `docker.io` is `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" || self.registry == "index.docker.io" {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// The tag or digest to address the manifest by: the digest when given, else the tag,
    /// else `default`.
    pub fn manifest_ref<'a>(&'a self, default: &'a str) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => default.to_owned(),
        }
    }

    /// The same reference with another tag.
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_owned()),
            ..self.clone()
        }
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    !c.is_empty()
        && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        && c.chars().all(|ch| {
            ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
        })
        && !c.contains("..")
        && !c.contains("___")
}

pub(crate) fn valid_tag(t: &str) -> bool {
    // [\w][\w.-]{0,127}
    (1..=128).contains(&t.len())
        && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidReference {
            reference: s.to_owned(),
            reason,
        };
        let (scheme, rest) = Scheme::strip(s);
        let (rest, digest) = match rest.rsplit_once('@') {
            Some((rest, d)) => (
                rest,
                Some(
                    d.parse::<Digest>()
                        .map_err(|_| invalid("the part after @ is not a valid digest"))?,
                ),
            ),
            None => (rest, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| invalid("expected host[:port]/repository[:tag]"))?;
        let is_host = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if !is_host {
            return Err(invalid(
                "the first part must be a registry host, such as ghcr.io or localhost:5000",
            ));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
            _ => (path, None),
        };
        if !repository.split('/').all(valid_component) {
            return Err(invalid(
                "repository components are lowercase letters, digits and . _ - separators",
            ));
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(invalid(
                "a tag is up to 128 letters, digits, _ . and -, not starting with . or -",
            ));
        }
        let repository = if (registry == "docker.io" || registry == "index.docker.io")
            && !repository.contains('/')
        {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        Ok(Self {
            scheme,
            registry: registry.to_owned(),
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.as_str())?;
        }
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Result<(&str, &str, Option<&str>, bool), &str>) {
        let got = input.parse::<Reference>();
        match (got, expected) {
            (Ok(r), Ok((reg, repo, tag, digest))) => {
                assert_eq!(
                    (
                        r.registry.as_str(),
                        r.repository.as_str(),
                        r.tag.as_deref(),
                        r.digest.is_some()
                    ),
                    (reg, repo, tag, digest)
                );
                assert_eq!(
                    r.to_string().replace("library/", ""),
                    input.replace("library/", "")
                );
            }
            (Err(e), Err(msg)) => {
                assert_eq!(e.to_string(), format!("invalid reference {input:?}: {msg}"));
            }
            (got, expected) => panic!("{input}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn schemes_choose_the_transport() {
        let r: Reference = "HTTPS://localhost/a".parse().unwrap();
        assert_eq!(r.scheme, Some(Scheme::Https));
        assert_eq!(r.to_string(), "https://localhost/a");
        let r: Reference = "http://ghcr.io/a".parse().unwrap();
        assert_eq!(r.scheme, Some(Scheme::Http));
        let r: Reference = "ghcr.io/a".parse().unwrap();
        assert_eq!(r.scheme, None);
        assert!("ftp://ghcr.io/a".parse::<Reference>().is_err());
    }

    #[test]
    fn references() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        check(
            "localhost:5000/tiny:1.0.0",
            Ok(("localhost:5000", "tiny", Some("1.0.0"), false)),
        );
        check(
            "ghcr.io/org/models/bert",
            Ok(("ghcr.io", "org/models/bert", None, false)),
        );
        check(
            &format!("127.0.0.1:5000/a/b@{d}"),
            Ok(("127.0.0.1:5000", "a/b", None, true)),
        );
        check(
            &format!("registry.example.com:443/a:v1@{d}"),
            Ok(("registry.example.com:443", "a", Some("v1"), true)),
        );
        check(
            "docker.io/alpine:3",
            Ok(("docker.io", "library/alpine", Some("3"), false)),
        );
        check(
            "https://localhost:5000/tiny:1",
            Ok(("localhost:5000", "tiny", Some("1"), false)),
        );
        check(
            "http://registry.example.com/a/b",
            Ok(("registry.example.com", "a/b", None, false)),
        );
        check(
            "http://tiny:1.0.0",
            Err("expected host[:port]/repository[:tag]"),
        );
        check("tiny:1.0.0", Err("expected host[:port]/repository[:tag]"));
        check(
            "models/tiny:1.0.0",
            Err("the first part must be a registry host, such as ghcr.io or localhost:5000"),
        );
        check(
            "localhost/Tiny",
            Err("repository components are lowercase letters, digits and . _ - separators"),
        );
        check(
            "localhost/a//b",
            Err("repository components are lowercase letters, digits and . _ - separators"),
        );
        check(
            "localhost/a:-bad",
            Err("a tag is up to 128 letters, digits, _ . and -, not starting with . or -"),
        );
        check(
            "localhost/a@sha256:xyz",
            Err("the part after @ is not a valid digest"),
        );
    }
}
