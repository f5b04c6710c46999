//! Manifests: fetched capped and described, stored and checked.

use modeloci_digest::Hasher;
use modeloci_spec::{Digest, MediaType};

use super::{Body, Client, MAX_MANIFEST_SIZE, Retry, drain, header, read_limited};
use crate::{Error, Result};

impl Client {
    /// Fetches a manifest by tag or digest: its bytes (at most [`MAX_MANIFEST_SIZE`]), its
    /// media type, and the digest the registry states for it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::TooLarge`], and those of any request.
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<MediaType>, Option<Digest>)> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let accept = [
            MediaType::ImageManifest.as_str(),
            MediaType::ImageIndex.as_str(),
            MediaType::DockerManifest.as_str(),
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
        .join(", ");
        let scopes = [format!("repository:{repository}:pull")];
        let resp = self.request(
            "GET",
            &url,
            &[("accept", accept)],
            &Body::Empty,
            &scopes,
            Retry::Yes,
        )?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(self.not_found(resp, format!("manifest {repository}:{reference}"))),
            _ => return Err(self.unexpected("GET", &url, resp)),
        }
        let media_type = header(&resp, "content-type")
            .map(|t| MediaType::from(t.split(';').next().unwrap_or(&t).trim()));
        let stated = header(&resp, "docker-content-digest").and_then(|d| d.parse().ok());
        let what = format!("manifest {repository}:{reference}");
        if let Some(len) = header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok())
            && len > MAX_MANIFEST_SIZE
        {
            return Err(Error::TooLarge {
                registry: self.registry.clone(),
                what,
                size: len,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let bytes =
            read_limited(resp, MAX_MANIFEST_SIZE + 1).map_err(|e| self.transport_error(&e))?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge {
                registry: self.registry.clone(),
                what,
                size: bytes.len() as u64,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        Ok((bytes, media_type, stated))
    }

    /// Stores a manifest under `reference` (a tag or its digest); returns its digest.
    ///
    /// # Errors
    ///
    /// [`Error::Verification`] when the registry states another digest for what it stored,
    /// and those of any request.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &MediaType,
        bytes: &[u8],
    ) -> Result<Digest> {
        self.put_manifest_answer(repository, reference, media_type, bytes)
            .map(|(digest, _)| digest)
    }

    /// Like [`Self::put_manifest`], also returning the `OCI-Subject` the registry answered
    /// with: the subject it recorded the manifest as a referrer of, when it has the
    /// referrers API.
    ///
    /// # Errors
    ///
    /// As [`Self::put_manifest`].
    pub(crate) fn put_manifest_answer(
        &self,
        repository: &str,
        reference: &str,
        media_type: &MediaType,
        bytes: &[u8],
    ) -> Result<(Digest, Option<Digest>)> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let scopes = [format!("repository:{repository}:pull,push")];
        let headers = [("content-type", media_type.as_str().to_owned())];
        let resp = self.request(
            "PUT",
            &url,
            &headers,
            &Body::Bytes(bytes),
            &scopes,
            Retry::Yes,
        )?;
        if resp.status().as_u16() != 201 {
            return Err(self.unexpected("PUT", &url, resp));
        }
        let ours = Hasher::digest_bytes(bytes).digest;
        let stated: Option<Digest> =
            header(&resp, "docker-content-digest").and_then(|d| d.parse().ok());
        let subject: Option<Digest> = header(&resp, "oci-subject").and_then(|d| d.parse().ok());
        drain(resp);
        if let Some(stated) = stated
            && stated != ours
        {
            return Err(Error::Verification {
                registry: self.registry.clone(),
                what: "manifest".into(),
                digest: ours.clone(),
                source: modeloci_digest::Error::DigestMismatch {
                    expected: ours,
                    actual: stated,
                },
            });
        }
        Ok((ours, subject))
    }
}

/// The largest tag list page read (a page of ten thousand long tags fits).
pub(crate) const MAX_TAGS_PAGE: u64 = 4 << 20;

/// One page of a repository's tags.
#[derive(Debug)]
pub(crate) struct TagsPage {
    /// The tags on this page, as the registry listed them.
    pub(crate) tags: Vec<String>,
    /// The absolute URL of the next page (from `Link: <...>; rel="next"`, checked by
    /// [`Client::location`]).
    pub(crate) next: Option<String>,
}

impl Client {
    /// Fetches one page of `GET /v2/<repository>/tags/list`: the first (at most `page_size`
    /// tags when given), or the one at `next`, a URL a previous page named.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown repository, [`Error::TooLarge`] for a page over
    /// [`MAX_TAGS_PAGE`], [`Error::Protocol`] for a page that is not a tag list or a `Link`
    /// that cannot be followed, and those of any request.
    pub(crate) fn list_tags_page(
        &self,
        repository: &str,
        page_size: Option<usize>,
        next: Option<&str>,
    ) -> Result<TagsPage> {
        let url = match (next, page_size) {
            (Some(next), _) => next.to_owned(),
            (None, Some(n)) => self.url(&format!("/v2/{repository}/tags/list?n={n}")),
            (None, None) => self.url(&format!("/v2/{repository}/tags/list")),
        };
        let scopes = [format!("repository:{repository}:pull")];
        let resp = self.request("GET", &url, &[], &Body::Empty, &scopes, Retry::Yes)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(self.not_found(resp, format!("repository {repository}"))),
            _ => return Err(self.unexpected("GET", &url, resp)),
        }
        let next = match header(&resp, "link").as_deref().and_then(next_link) {
            Some(link) => Some(self.location(link)?),
            None => None,
        };
        let what = format!("the tag list of {repository}");
        let bytes = read_limited(resp, MAX_TAGS_PAGE + 1).map_err(|e| self.transport_error(&e))?;
        if bytes.len() as u64 > MAX_TAGS_PAGE {
            return Err(Error::TooLarge {
                registry: self.registry.clone(),
                what,
                size: bytes.len() as u64,
                limit: MAX_TAGS_PAGE,
            });
        }
        #[derive(serde::Deserialize)]
        struct List {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let list: List = serde_json::from_slice(&bytes)
            .map_err(|e| self.protocol(format!("{what} is not a tag list: {e}")))?;
        Ok(TagsPage {
            tags: list.tags.unwrap_or_default(),
            next,
        })
    }

    /// Fetches `GET /v2/<repository>/referrers/<digest>`: the image index of the manifests
    /// whose `subject` is `digest` (at most [`MAX_MANIFEST_SIZE`]), or `None` when the
    /// registry has no referrers API (it answers 404, as Distribution 2.8 does). With
    /// `artifact_type`, asks the registry to list only those (it may ignore the filter).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], and those of any request.
    pub(crate) fn get_referrers(
        &self,
        repository: &str,
        digest: &Digest,
        artifact_type: Option<&MediaType>,
    ) -> Result<Option<Vec<u8>>> {
        let filter = artifact_type.map_or_else(String::new, |t| {
            format!("?artifactType={}", query_escape(t.as_str()))
        });
        let url = self.url(&format!("/v2/{repository}/referrers/{digest}{filter}"));
        let scopes = [format!("repository:{repository}:pull")];
        let accept = [("accept", MediaType::ImageIndex.as_str().to_owned())];
        let resp = self.request("GET", &url, &accept, &Body::Empty, &scopes, Retry::Yes)?;
        match resp.status().as_u16() {
            200 => {}
            404 | 405 => {
                drain(resp);
                return Ok(None);
            }
            _ => return Err(self.unexpected("GET", &url, resp)),
        }
        let is_index = header(&resp, "content-type").is_some_and(|t| {
            t.split(';').next().unwrap_or("").trim() == MediaType::ImageIndex.as_str()
        });
        let bytes =
            read_limited(resp, MAX_MANIFEST_SIZE + 1).map_err(|e| self.transport_error(&e))?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge {
                registry: self.registry.clone(),
                what: format!("the referrers of {digest}"),
                size: bytes.len() as u64,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        // Something that is not an index (an HTML 200 from a proxy) means no API.
        Ok(is_index.then_some(bytes))
    }
}

/// `text` as a query value: everything but unreserved characters percent-encoded (a media
/// type's `+` would otherwise read as a space).
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The target of the `rel="next"` link in a `Link` header, if any.
fn next_link(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::{next_link, query_escape};

    #[test]
    fn media_types_are_escaped_in_queries() {
        assert_eq!(
            query_escape("application/vnd.dev.sigstore.bundle.v0.3+json"),
            "application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"
        );
    }

    #[test]
    fn the_next_link_is_the_one_marked_next() {
        assert_eq!(
            next_link(r#"</v2/m/tags/list?last=b&n=2>; rel="next""#),
            Some("/v2/m/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://x/prev>; rel="prev", <https://x/next>; rel=next"#),
            Some("https://x/next")
        );
        assert_eq!(next_link(r#"<https://x/prev>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
