//! Blobs: HEAD, ranged GET, and uploads (POST, mount, PATCH, closing PUT, session status,
//! cancel). Every `/blobs` URL is made here; push and pull only orchestrate.

use modeloci_spec::{Descriptor, Digest};

use super::{Body, Client, Retry, drain, header};
use crate::{Error, Result};

/// What a request is for, which decides the token scope it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reading the repository.
    Pull,
    /// Writing it (and reading, as uploads need).
    Push,
}

/// The token scopes for `repository` with `access`, and reading `from` for a mount.
pub(crate) fn scopes(repository: &str, access: Access, from: Option<&str>) -> Vec<String> {
    let actions = match access {
        Access::Pull => "pull",
        Access::Push => "pull,push",
    };
    let mut scopes = vec![format!("repository:{repository}:{actions}")];
    if let Some(from) = from {
        scopes.push(format!("repository:{from}:pull"));
    }
    scopes
}

/// What a HEAD says of a blob the registry has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlobStat {
    /// The size it states, if any.
    pub(crate) size: Option<u64>,
}

/// A blob's body on its way down.
pub(crate) struct BlobBody {
    /// The offset of its first byte: the one asked for, or 0 when the registry sent it all.
    pub(crate) start: u64,
    /// The length the registry announced.
    pub(crate) length: Option<u64>,
    /// The bytes.
    pub(crate) reader: ureq::BodyReader<'static>,
}

/// The answer to a request for part of a blob.
pub(crate) enum RangeAnswer {
    /// Exactly the bytes asked for, on their way.
    Part(ureq::BodyReader<'static>),
    /// Not the part asked for: what the registry did instead.
    Refused(String),
}

/// An upload session: the absolute URL (from [`Client::location`]) its next request goes to.
#[derive(Debug)]
pub(crate) struct UploadSession {
    location: String,
}

impl UploadSession {
    /// The session's URL with the blob's digest, for the closing PUT.
    fn closing(&self, digest: &Digest) -> String {
        let sep = if self.location.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}digest={digest}", self.location)
    }
}

/// The answer to a mount request.
pub(crate) enum Mount {
    /// The registry mounted the blob.
    Mounted,
    /// It did not, and opened an upload session instead.
    Session(UploadSession),
}

/// How the registry took a chunk.
pub(crate) enum ChunkAnswer {
    /// Accepted (202): the offset after the last byte it says it has, and how it said so.
    Accepted {
        /// The next byte the registry expects.
        next: u64,
        /// `a PATCH of bytes A-B was answered with Range "…"`, for messages.
        answer: String,
    },
    /// Another status.
    Rejected {
        /// What the status says of the registry's way with chunks.
        refusal: Refusal,
        /// The error for the answer, with the registry's description.
        error: Error,
    },
    /// The request failed (a broken connection, a stall, a refusal); it may be resumed.
    Failed(Error),
}

/// What a PATCH's refusal says of how the registry takes chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The chunk was too large (413, or a 400 or 416 that says so): a smaller one may pass.
    TooLarge,
    /// The registry may take no chunks at all (400, 404, 405, 411, 416, 501), when it says
    /// so of the first.
    NoChunks,
    /// Any other status: a fault to retry.
    Other,
}

impl Refusal {
    /// What `status`, with the registry's `error` for it, says.
    fn of(status: u16, error: &Error) -> Self {
        let detail = match error {
            Error::Status {
                detail: Some(detail),
                ..
            } => detail.to_ascii_lowercase(),
            _ => String::new(),
        };
        let about_size = ["too large", "too big", "size", "exceed"]
            .iter()
            .any(|w| detail.contains(w));
        match status {
            413 => Self::TooLarge,
            400 | 416 if about_size => Self::TooLarge,
            400 | 404 | 405 | 411 | 416 | 501 => Self::NoChunks,
            _ => Self::Other,
        }
    }
}

impl Client {
    /// Whether `repository` holds `digest` (HEAD), and the size the registry states.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] for an answer other than 200 or 404, and those of any request.
    pub(crate) fn head_blob(
        &self,
        repository: &str,
        digest: &Digest,
        access: Access,
    ) -> Result<Option<BlobStat>> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let scopes = scopes(repository, access, None);
        let resp = self.request("HEAD", &url, &[], &Body::Empty, &scopes, Retry::Yes)?;
        match resp.status().as_u16() {
            200 => {
                let size = header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok());
                drain(resp);
                Ok(Some(BlobStat { size }))
            }
            404 => {
                drain(resp);
                Ok(None)
            }
            _ => Err(self.unexpected("HEAD", &url, resp)),
        }
    }

    /// Starts reading blob `digest` from byte `from` on (a Range request unless 0). The
    /// registry may send the whole blob instead, which [`BlobBody::start`] tells.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Protocol`] when it answers with another range,
    /// [`Error::Status`], and those of any request.
    pub(crate) fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
        from: u64,
    ) -> Result<BlobBody> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let scopes = scopes(repository, Access::Pull, None);
        let mut headers = Vec::new();
        if from > 0 {
            headers.push(("range", format!("bytes={from}-")));
        }
        let resp = self.request("GET", &url, &headers, &Body::Empty, &scopes, Retry::Yes)?;
        let start = match resp.status().as_u16() {
            206 => {
                let range = header(&resp, "content-range").unwrap_or_default();
                let first = range
                    .trim_start_matches("bytes ")
                    .split('-')
                    .next()
                    .and_then(|s| s.trim().parse::<u64>().ok());
                if first != Some(from) {
                    return Err(self.protocol(format!(
                        "asked for blob {digest} from byte {from}, got range {range:?}"
                    )));
                }
                from
            }
            200 => 0,
            404 => return Err(self.not_found(resp, format!("blob {digest} in {repository}"))),
            _ => return Err(self.unexpected("GET", &url, resp)),
        };
        let length = header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok());
        Ok(BlobBody {
            start,
            length,
            reader: resp.into_body().into_reader(),
        })
    }

    /// Asks for bytes `range` of blob `digest`, whose size is `total` (`Range: bytes=a-b`):
    /// only a `206` whose `Content-Range` names exactly that range and that total, with a
    /// `Content-Length` (if any) of the range's length, is a [`RangeAnswer::Part`]. A registry
    /// that sends the whole blob (`200`) or another range is a [`RangeAnswer::Refused`], and
    /// its body is not read.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Status`], and those of any request.
    pub(crate) fn get_blob_part(
        &self,
        repository: &str,
        digest: &Digest,
        range: std::ops::Range<u64>,
        total: u64,
    ) -> Result<RangeAnswer> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let scopes = scopes(repository, Access::Pull, None);
        let (first, last) = (range.start, range.end.saturating_sub(1));
        let headers = [("range", format!("bytes={first}-{last}"))];
        let resp = self.request("GET", &url, &headers, &Body::Empty, &scopes, Retry::Yes)?;
        match resp.status().as_u16() {
            206 => {}
            200 => {
                return Ok(RangeAnswer::Refused(
                    "it answered 200 with the whole blob".into(),
                ));
            }
            404 => return Err(self.not_found(resp, format!("blob {digest} in {repository}"))),
            _ => return Err(self.unexpected("GET", &url, resp)),
        }
        let stated = header(&resp, "content-range").unwrap_or_default();
        if content_range(&stated) != Some((first, last, total)) {
            return Ok(RangeAnswer::Refused(format!(
                "it answered bytes {first}-{last}/{total} with Content-Range {stated:?}"
            )));
        }
        let length = header(&resp, "content-length").map(|l| l.trim().parse::<u64>());
        if length.is_some_and(|l| l.ok() != Some(range.end - range.start)) {
            return Ok(RangeAnswer::Refused(format!(
                "it answered bytes {first}-{last} with another Content-Length"
            )));
        }
        Ok(RangeAnswer::Part(resp.into_body().into_reader()))
    }

    /// Opens an upload session in `repository` (POST).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a session without a usable `Location`, [`Error::Status`], and
    /// those of any request.
    pub(crate) fn start_upload(&self, repository: &str) -> Result<UploadSession> {
        match self.post_upload(repository, None)? {
            Mount::Session(session) => Ok(session),
            // A 201 counts as a mount only when one was asked for.
            Mount::Mounted => Err(self.protocol("it mounted a blob nobody asked for".into())),
        }
    }

    /// Mounts blob `digest` into `repository` from `from`, a repository of the same
    /// registry; a registry that cannot opens an upload session instead.
    ///
    /// # Errors
    ///
    /// Those of [`Client::start_upload`].
    pub(crate) fn mount_blob(
        &self,
        repository: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Mount> {
        self.post_upload(repository, Some((digest, from)))
    }

    fn post_upload(&self, repository: &str, mount: Option<(&Digest, &str)>) -> Result<Mount> {
        let path = match mount {
            Some((digest, from)) => {
                format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}")
            }
            None => format!("/v2/{repository}/blobs/uploads/"),
        };
        let url = self.url(&path);
        let scopes = scopes(repository, Access::Push, mount.map(|m| m.1));
        let resp = self.request("POST", &url, &[], &Body::Empty, &scopes, Retry::Yes)?;
        match resp.status().as_u16() {
            201 if mount.is_some() => {
                drain(resp);
                Ok(Mount::Mounted)
            }
            202 => {
                let location = header(&resp, "location").ok_or_else(|| {
                    self.protocol("an upload session came without a Location header".into())
                })?;
                drain(resp);
                Ok(Mount::Session(UploadSession {
                    location: self.location(&location)?,
                }))
            }
            _ => Err(self.unexpected("POST", &url, resp)),
        }
    }

    /// Sends bytes `start..start + len` of `blob` (PATCH, not retried: a broken chunk is
    /// resumed from [`Client::upload_status`]), following the session to its next location.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the registry names an unusable next location or a range
    /// outside the blob; a failed request is [`ChunkAnswer::Failed`].
    pub(crate) fn patch_chunk(
        &self,
        repository: &str,
        session: &mut UploadSession,
        blob: &Descriptor,
        start: u64,
        body: &Body<'_>,
    ) -> Result<ChunkAnswer> {
        let len = body.len();
        let last = start + len - 1;
        let headers = [
            ("content-type", "application/octet-stream".to_owned()),
            ("content-range", format!("{start}-{last}")),
        ];
        let scopes = scopes(repository, Access::Push, None);
        let url = session.location.clone();
        let resp = match self.request("PATCH", &url, &headers, body, &scopes, Retry::No) {
            Ok(resp) => resp,
            Err(e) => return Ok(ChunkAnswer::Failed(e)),
        };
        let status = resp.status().as_u16();
        if status != 202 {
            let error = self.unexpected("PATCH", &url, resp);
            return Ok(ChunkAnswer::Rejected {
                refusal: Refusal::of(status, &error),
                error,
            });
        }
        let range = header(&resp, "range");
        let next_location = header(&resp, "location");
        drain(resp);
        if let Some(next) = next_location {
            session.location = self.location(&next)?;
        }
        let answer = format!(
            "a PATCH of bytes {start}-{last} was answered with Range {:?}",
            range.as_deref().unwrap_or("")
        );
        let next = match range {
            Some(range) => self.confirmed(blob, &range, &answer)?,
            None => start + len,
        };
        Ok(ChunkAnswer::Accepted { next, answer })
    }

    /// Closes an upload with a PUT naming the digest: with the whole blob as `body`, or
    /// with [`Body::Empty`] after the chunks.
    ///
    /// # Errors
    ///
    /// [`Error::Verification`] when the registry states another digest, [`Error::Status`]
    /// for an answer other than 201, and those of any request.
    pub(crate) fn put_blob(
        &self,
        repository: &str,
        session: &UploadSession,
        blob: &Descriptor,
        body: &Body<'_>,
    ) -> Result<()> {
        let url = session.closing(&blob.digest);
        let headers: &[(&str, String)] = match body {
            Body::Empty => &[],
            _ => &[("content-type", "application/octet-stream".to_owned())],
        };
        let scopes = scopes(repository, Access::Push, None);
        let resp = self.request("PUT", &url, headers, body, &scopes, Retry::Yes)?;
        if resp.status().as_u16() != 201 {
            return Err(self.unexpected("PUT", &url, resp));
        }
        let stated: Option<Digest> =
            header(&resp, "docker-content-digest").and_then(|d| d.parse().ok());
        drain(resp);
        match stated {
            Some(stated) if stated != blob.digest => Err(Error::Verification {
                registry: self.registry.clone(),
                what: "uploaded blob".into(),
                digest: blob.digest.clone(),
                source: modeloci_digest::Error::DigestMismatch {
                    expected: blob.digest.clone(),
                    actual: stated,
                },
            }),
            _ => Ok(()),
        }
    }

    /// Where an upload session stands (GET on its location): the next byte it expects
    /// (`Range: 0-0` counts as none), following it to its next location.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] for an answer other than 204, [`Error::Protocol`] for a range
    /// outside the blob or an unusable location, and those of any request.
    pub(crate) fn upload_status(
        &self,
        repository: &str,
        session: &mut UploadSession,
        blob: &Descriptor,
    ) -> Result<u64> {
        let scopes = scopes(repository, Access::Push, None);
        let url = &session.location;
        let resp = self.request("GET", url, &[], &Body::Empty, &scopes, Retry::Yes)?;
        if resp.status().as_u16() != 204 {
            return Err(self.unexpected("GET", url, resp));
        }
        let range = header(&resp, "range");
        let next_location = header(&resp, "location");
        drain(resp);
        let next = match range {
            // Distribution states an empty session as `0-0`, not as one byte received: the
            // first byte is sent again, which costs one byte where the other reading would
            // corrupt the blob.
            Some(range) if range_end(&range) == Some(0) => 0,
            Some(range) => {
                let what = format!("the upload's status was answered with Range {range:?}");
                self.confirmed(blob, &range, &what)?
            }
            None => 0,
        };
        if let Some(l) = next_location {
            session.location = self.location(&l)?;
        }
        Ok(next)
    }

    /// Cancels an upload session (DELETE, once); its answer, or its failure, is of no use.
    pub(crate) fn cancel_upload(&self, repository: &str, session: UploadSession) {
        let scopes = scopes(repository, Access::Push, None);
        let _ = self
            .request(
                "DELETE",
                &session.location,
                &[],
                &Body::Empty,
                &scopes,
                Retry::No,
            )
            .map(drain);
    }

    /// The offset after the last byte a `Range: 0-N` says the registry has: `N + 1`, which
    /// must be a number within the blob.
    fn confirmed(&self, blob: &Descriptor, range: &str, what: &str) -> Result<u64> {
        let lie =
            |why: &str| self.protocol(format!("uploading blob {}: {what}, {why}", blob.digest));
        let end = range_end(range).ok_or_else(|| lie("which is not a byte range"))?;
        end.checked_add(1)
            .filter(|next| *next <= blob.size)
            .ok_or_else(|| lie(&format!("past the blob's {} bytes", blob.size)))
    }
}

/// The last byte of a `Range: 0-N` (or `bytes=0-N`) header.
fn range_end(range: &str) -> Option<u64> {
    let range = range.trim().trim_start_matches("bytes=");
    let (start, end) = range.split_once('-')?;
    let (_, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    Some(end)
}

/// The first byte, last byte and total of a `Content-Range: bytes a-b/t`; `None` for any
/// other form (an unknown total `*` included), or a last byte before the first or past the
/// total.
fn content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let parse = |s: &str| -> Option<u64> {
        let s = s.trim();
        // Digits only: `+5` or ` 5` parse as numbers in Rust, but not in HTTP.
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last, total) = (parse(first)?, parse(last)?, parse(total)?);
    (first <= last && last < total).then_some((first, last, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 0-9/10"), Some((0, 9, 10)));
        assert_eq!(content_range("bytes 5-5/6"), Some((5, 5, 6)));
        assert_eq!(content_range("bytes 0-9/*"), None);
        assert_eq!(content_range("bytes 0-10/10"), None);
        assert_eq!(content_range("bytes 9-0/10"), None);
        assert_eq!(content_range("bytes +1-2/10"), None);
        assert_eq!(content_range("0-9/10"), None);
        assert_eq!(content_range("bytes 0-99999999999999999999999/1"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(range_end("0-1048575"), Some(1_048_575));
        assert_eq!(range_end("bytes=0-9"), Some(9));
        assert_eq!(range_end("0-"), None);
        assert_eq!(range_end("junk"), None);
    }

    #[test]
    fn refusals_tell_a_chunk_too_large_from_no_chunks() {
        let client = Client::new("localhost", super::super::ClientOptions::default());
        let err =
            |detail: &str| client.status_error("PATCH", "http://r/u", 400, Some(detail.to_owned()));
        assert_eq!(Refusal::of(413, &err("")), Refusal::TooLarge);
        assert_eq!(
            Refusal::of(400, &err("chunk exceeds the maximum size")),
            Refusal::TooLarge
        );
        assert_eq!(Refusal::of(400, &err("unsupported")), Refusal::NoChunks);
        assert_eq!(Refusal::of(405, &err("")), Refusal::NoChunks);
        assert_eq!(Refusal::of(503, &err("")), Refusal::Other);
    }

    #[test]
    fn scopes_by_access() {
        assert_eq!(scopes("a/b", Access::Pull, None), ["repository:a/b:pull"]);
        assert_eq!(
            scopes("a/b", Access::Push, Some("c")),
            ["repository:a/b:pull,push", "repository:c:pull"]
        );
    }

    #[test]
    fn the_closing_put_adds_the_digest_to_the_query() {
        let digest = Digest::from_sha256_bytes(&[0; 32]);
        let plain = UploadSession {
            location: "http://r/v2/m/blobs/uploads/u".into(),
        };
        let signed = UploadSession {
            location: "http://r/u?_state=S".into(),
        };
        assert_eq!(
            plain.closing(&digest),
            format!("http://r/v2/m/blobs/uploads/u?digest={digest}")
        );
        assert_eq!(
            signed.closing(&digest),
            format!("http://r/u?_state=S&digest={digest}")
        );
    }
}
