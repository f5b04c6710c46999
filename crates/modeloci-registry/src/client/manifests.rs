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
            404 => {
                drain(resp);
                return Err(Error::NotFound {
                    registry: self.registry.clone(),
                    what: format!("manifest {repository}:{reference}"),
                });
            }
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
        Ok(ours)
    }
}
