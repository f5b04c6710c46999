//! Referrers: manifests whose `subject` names another manifest (signatures, SBOMs), listed,
//! fetched and attached, through the registry's referrers API where it has one, else through
//! the distribution specification's referrers tag schema: the tag `sha256-<hex>` of the
//! subject's digest, naming an image index of its referrers, which writers keep by
//! read-modify-write.
//!
//! Nothing here knows what a referrer holds: a signature is bytes to this crate. [`copy`],
//! [`push`] and [`pull`] carry referrers through this one implementation.
//!
//! [`copy`]: crate::copy
//! [`push`]: crate::push
//! [`pull`]: crate::pull

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use modeloci_digest::Hasher;
use modeloci_spec::{Descriptor, Digest, MediaType, OciIndex, OciManifest};

use crate::client::{Access, Body, Client, MAX_MANIFEST_SIZE};
use crate::remote::blobs_of;
use crate::remote::{fetch_document, fetch_small_blob, is_index};
use crate::{Error, Result};

/// How often a fallback index is written before an attach gives up on keeping its entry in
/// it against other writers.
const FALLBACK_ATTEMPTS: u32 = 5;

/// The tag under which a registry without the referrers API keeps the index of the
/// manifests referring to `subject`: `<algorithm>-<hex>`, the hex cut at 64 characters.
pub(crate) fn fallback_tag(subject: &Digest) -> String {
    let hex = subject.hex();
    let (algorithm, _) = subject.as_str().split_once(':').unwrap_or(("sha256", ""));
    format!("{algorithm}-{}", &hex[..hex.len().min(64)])
}

/// The manifests in `repository` that refer to `subject`: from the registry's referrers API
/// (asking it to filter by `artifact_type` when given), else (it answers 404) from the index
/// under the fallback tag, else none. Each listed once; only those whose `artifactType` is
/// `artifact_type` when given (filtered here too, as a registry may ignore the filter). The
/// API's first page is read: further pages it may link to are not followed.
///
/// # Errors
///
/// [`Error::TooLarge`] for a listing over [`MAX_MANIFEST_SIZE`], [`Error::Archive`] for one
/// that is not an image index, [`Error::Protocol`] for an entry that is not a manifest or is
/// larger than a manifest may be, and those of any request.
pub fn referrers(
    client: &Client,
    repository: &str,
    subject: &Digest,
    artifact_type: Option<&MediaType>,
) -> Result<Vec<Descriptor>> {
    let bytes = match client.get_referrers(repository, subject, artifact_type)? {
        Some(bytes) => bytes,
        None => match fetch_document(client, repository, &fallback_tag(subject), None) {
            Ok((_, _, bytes)) => bytes,
            Err(Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        },
    };
    let mut listed = parse_listing(client, subject, &bytes)?;
    if let Some(wanted) = artifact_type {
        listed.retain(|d| d.artifact_type.as_ref() == Some(wanted));
    }
    Ok(listed)
}

/// The descriptors of a referrers listing, checked, each digest once.
fn parse_listing(client: &Client, subject: &Digest, bytes: &[u8]) -> Result<Vec<Descriptor>> {
    let index = OciIndex::from_slice(bytes).map_err(|source| {
        Error::Archive(modeloci_archive::Error::InvalidDocument {
            entry: format!("the referrers of {subject}"),
            source,
        })
    })?;
    let mut listed: Vec<Descriptor> = Vec::new();
    for entry in index.manifests {
        if entry.media_type != MediaType::ImageManifest && !is_index(&entry.media_type) {
            return Err(client.protocol(format!(
                "it lists {} among the referrers of {subject} as {}, which is not a manifest",
                entry.digest, entry.media_type
            )));
        }
        if entry.size > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge {
                registry: client.registry().to_owned(),
                what: format!("referrer {} of {subject}", entry.digest),
                size: entry.size,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        if !listed.iter().any(|d| d.digest == entry.digest) {
            listed.push(entry);
        }
    }
    Ok(listed)
}

/// A referrer read from a registry: its manifest (checked against the listed digest and
/// size, and naming the subject it was listed for) and its blobs (each checked).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FetchedReferrer {
    /// The descriptor it was listed with.
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: OciManifest,
    /// The manifest's bytes, as stored.
    pub bytes: Vec<u8>,
    /// The config, then each layer once, with their bytes.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

/// Fetches the referrer `descriptor` (as [`referrers`] listed it) of `subject`: the
/// manifest by its digest, then its config and layers, none of them larger than
/// `blob_limit` (refused before any blob is read).
///
/// # Errors
///
/// [`Error::Verification`] for a manifest or blob that does not match its digest or size,
/// [`Error::Protocol`] for a manifest whose `subject` is not `subject`, [`Error::TooLarge`]
/// for a blob over `blob_limit`, [`Error::Archive`] for a manifest that does not parse (an
/// index among them), and those of any request.
pub fn fetch_referrer(
    client: &Client,
    repository: &str,
    subject: &Digest,
    descriptor: &Descriptor,
    blob_limit: u64,
) -> Result<FetchedReferrer> {
    let digest = &descriptor.digest;
    let (_, _, bytes) = fetch_document(client, repository, digest.as_str(), Some(digest.clone()))?;
    referrer_from(client, repository, subject, descriptor, bytes, blob_limit)
}

/// [`fetch_referrer`], except that a listed referrer whose manifest the registry does not
/// have is `None`: an entry left behind in a referrers index when the referrer was deleted
/// (the tag schema's index is kept by clients, and not every tool that deletes a manifest
/// updates it). A manifest that is there is checked as [`fetch_referrer`] checks it.
///
/// # Errors
///
/// As [`fetch_referrer`], but for the listed manifest being absent.
pub fn fetch_listed_referrer(
    client: &Client,
    repository: &str,
    subject: &Digest,
    descriptor: &Descriptor,
    blob_limit: u64,
) -> Result<Option<FetchedReferrer>> {
    let digest = &descriptor.digest;
    let bytes = match fetch_document(client, repository, digest.as_str(), Some(digest.clone())) {
        Ok((_, _, bytes)) => bytes,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    referrer_from(client, repository, subject, descriptor, bytes, blob_limit).map(Some)
}

/// A listed referrer from its manifest's `bytes`: checked against the listing and the
/// subject, and its blobs fetched (each at most `blob_limit`).
fn referrer_from(
    client: &Client,
    repository: &str,
    subject: &Digest,
    descriptor: &Descriptor,
    bytes: Vec<u8>,
    blob_limit: u64,
) -> Result<FetchedReferrer> {
    let digest = &descriptor.digest;
    if bytes.len() as u64 != descriptor.size {
        return Err(Error::Verification {
            registry: client.registry().to_owned(),
            what: "referrer manifest".into(),
            digest: digest.clone(),
            source: modeloci_digest::Error::SizeMismatch {
                expected: descriptor.size,
                actual: bytes.len() as u64,
                at_least: false,
            },
        });
    }
    check_subject(client, digest, &bytes, subject)?;
    let manifest = OciManifest::from_slice(&bytes).map_err(|source| {
        Error::Archive(modeloci_archive::Error::InvalidDocument {
            entry: format!("referrer {digest}"),
            source,
        })
    })?;
    let wanted = blobs_of(&manifest);
    if let Some(big) = wanted.iter().find(|d| d.size > blob_limit) {
        return Err(Error::TooLarge {
            registry: client.registry().to_owned(),
            what: format!("blob {} of referrer {digest}", big.digest),
            size: big.size,
            limit: blob_limit,
        });
    }
    let what = format!("referrer {digest} blob");
    let blobs = wanted
        .into_iter()
        .map(|d| {
            let bytes = fetch_small_blob(client, repository, &d, blob_limit, &what)?;
            Ok((d, bytes))
        })
        .collect::<Result<_>>()?;
    Ok(FetchedReferrer {
        descriptor: descriptor.clone(),
        manifest,
        bytes,
        blobs,
    })
}

/// Refuses a listed referrer `digest` whose own `subject` (in `bytes`) is not `subject`.
pub(crate) fn check_subject(
    client: &Client,
    digest: &Digest,
    bytes: &[u8],
    subject: &Digest,
) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Probe {
        subject: Option<Descriptor>,
    }
    let theirs = serde_json::from_slice::<Probe>(bytes)
        .ok()
        .and_then(|p| p.subject)
        .map(|d| d.digest);
    if theirs.as_ref() == Some(subject) {
        return Ok(());
    }
    Err(client.protocol(format!(
        "it lists {digest} among the referrers of {subject}, but that manifest's subject is {}",
        theirs.map_or_else(|| "absent".to_owned(), |d| d.to_string())
    )))
}

/// Stores `manifest_bytes`, a manifest with a `subject`, in `repository` as a referrer of
/// that subject: its config and layers first (each the registry lacks, from `blobs`; the
/// empty `{}` config need not be given), then the manifest by its digest, then, unless the
/// registry confirms it keeps referrers itself, its entry in the subject's fallback index
/// (keeping the entries others put there). Attaching twice changes nothing. Returns the
/// manifest's digest.
///
/// # Errors
///
/// [`Error::InvalidOption`] for a manifest without a `subject` or a blob it needs that was
/// neither given nor in the registry, or a given blob that does not match its descriptor
/// (before anything is sent); [`Error::Archive`] for bytes that are not a manifest;
/// [`Error::Protocol`] when other writers kept dropping the entry from the fallback index;
/// and those of any request.
pub fn attach(
    client: &Client,
    repository: &str,
    manifest_bytes: &[u8],
    blobs: &[(Descriptor, &[u8])],
) -> Result<Digest> {
    let manifest = OciManifest::from_slice(manifest_bytes).map_err(|source| {
        Error::Archive(modeloci_archive::Error::InvalidDocument {
            entry: "the manifest to attach".into(),
            source,
        })
    })?;
    let Some(subject) = manifest.subject.clone() else {
        return Err(Error::InvalidOption(
            "the manifest to attach has no subject: it refers to no manifest".into(),
        ));
    };
    let needed = given_blobs(&manifest, blobs)?;
    push_blobs(client, repository, &needed)?;
    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or(MediaType::ImageManifest);
    let mut entry = Descriptor::new(
        media_type.clone(),
        Hasher::digest_bytes(manifest_bytes).digest,
        manifest_bytes.len() as u64,
    );
    entry.artifact_type = Some(manifest.effective_artifact_type().clone());
    entry.annotations = manifest.annotations.clone();
    let stored = store(
        client,
        repository,
        &subject.digest,
        &media_type,
        manifest_bytes,
        entry,
    )?;
    let digest = stored.entry.digest.clone();
    list_where_needed(client, repository, &subject.digest, &[stored])?;
    Ok(digest)
}

/// A blob a manifest needs, with its bytes when they were given.
type Needed<'a> = (Descriptor, Option<&'a [u8]>);

/// Uploads each blob `repository` lacks (HEAD first); before the first upload, refuses when
/// one it lacks was not given.
fn push_blobs(client: &Client, repository: &str, needed: &[Needed<'_>]) -> Result<()> {
    let mut missing = Vec::new();
    for (descriptor, bytes) in needed {
        if client
            .head_blob(repository, &descriptor.digest, Access::Push)?
            .is_some()
        {
            continue;
        }
        let Some(bytes) = bytes else {
            return Err(Error::InvalidOption(format!(
                "the manifest to attach needs blob {}, which was not given and {} does not have",
                descriptor.digest,
                client.registry()
            )));
        };
        missing.push((descriptor, *bytes));
    }
    for (descriptor, bytes) in missing {
        let session = client.start_upload(repository)?;
        client.put_blob(repository, &session, descriptor, &Body::Bytes(bytes))?;
    }
    Ok(())
}

/// The `{}` blob an empty config descriptor names.
const EMPTY_JSON: &[u8] = b"{}";

/// Each blob `manifest` needs, with the bytes given for it (the empty config's own when
/// not given); a given blob must match its descriptor.
fn given_blobs<'a>(
    manifest: &OciManifest,
    blobs: &[(Descriptor, &'a [u8])],
) -> Result<Vec<Needed<'a>>> {
    let empty = Hasher::digest_bytes(EMPTY_JSON);
    blobs_of(manifest)
        .into_iter()
        .map(|descriptor| {
            let given = blobs
                .iter()
                .find(|(d, _)| d.digest == descriptor.digest)
                .map(|(_, bytes)| *bytes)
                .or_else(|| (descriptor.digest == empty.digest).then_some(EMPTY_JSON));
            if let Some(bytes) = given {
                let measured = Hasher::digest_bytes(bytes);
                if measured.digest != descriptor.digest || measured.size != descriptor.size {
                    return Err(Error::InvalidOption(format!(
                        "the blob given for {} of the manifest to attach is {} ({} bytes)",
                        descriptor.digest, measured.digest, measured.size
                    )));
                }
            }
            Ok((descriptor, given))
        })
        .collect()
}

/// A referrer stored in a registry, and whether the registry said it recorded its subject.
#[derive(Debug)]
pub(crate) struct Stored {
    /// Its entry for a referrers index.
    pub(crate) entry: Descriptor,
    /// The registry answered the PUT with `OCI-Subject` naming the subject.
    confirmed: bool,
}

/// PUTs a referrer's manifest by its digest (the blobs are there already).
pub(crate) fn store(
    client: &Client,
    repository: &str,
    subject: &Digest,
    media_type: &MediaType,
    bytes: &[u8],
    entry: Descriptor,
) -> Result<Stored> {
    let (_, answered) =
        client.put_manifest_answer(repository, entry.digest.as_str(), media_type, bytes)?;
    Ok(Stored {
        confirmed: answered.as_ref() == Some(subject),
        entry,
    })
}

/// Lists the `stored` referrers of `subject` in its fallback index, unless the registry
/// keeps them itself.
///
/// The rule: the fallback index is skipped only when the registry confirms it has each
/// referrer, either by answering its PUT with `OCI-Subject` (what the distribution
/// specification asks of registries with the API), or, when it did not say so (some
/// registries with the API never send the header), by listing it at its referrers API.
/// Everything else (404 at the API, as Distribution 2.8 answers, or an API that does not list
/// it yet) gets the fallback entry too: a redundant entry costs a tag, a missing one loses the
/// referrer for every reader of a registry without the API.
pub(crate) fn list_where_needed(
    client: &Client,
    repository: &str,
    subject: &Digest,
    stored: &[Stored],
) -> Result<()> {
    let mut pending: Vec<&Descriptor> = stored
        .iter()
        .filter(|s| !s.confirmed)
        .map(|s| &s.entry)
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    if let Some(bytes) = client.get_referrers(repository, subject, None)?
        && let Ok(listed) = parse_listing(client, subject, &bytes)
    {
        pending.retain(|p| !listed.iter().any(|l| l.digest == p.digest));
    }
    if pending.is_empty() {
        return Ok(());
    }
    update_fallback(client, repository, subject, &pending)
}

/// Adds `ours` to the fallback index of `subject` by read-modify-write, keeping every entry
/// there. The tag schema has no compare-and-swap: another writer may replace the index
/// between our read and our write, so after each write the index is read again, and written
/// again (with what the other put there) while one of ours is missing.
fn update_fallback(
    client: &Client,
    repository: &str,
    subject: &Digest,
    ours: &[&Descriptor],
) -> Result<()> {
    let tag = fallback_tag(subject);
    for attempt in 0..=FALLBACK_ATTEMPTS {
        let mut index = read_fallback(client, repository, &tag)?;
        let missing: Vec<Descriptor> = ours
            .iter()
            .filter(|o| !index.manifests.iter().any(|m| m.digest == o.digest))
            .map(|o| (*o).clone())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if attempt == FALLBACK_ATTEMPTS {
            break;
        }
        if attempt > 0 {
            std::thread::sleep(backoff(attempt));
        }
        index.manifests.extend(missing);
        client.put_manifest(repository, &tag, &MediaType::ImageIndex, &index.to_json())?;
    }
    Err(client.protocol(format!(
        "the referrers index under tag {tag} lost our entry to other writers {FALLBACK_ATTEMPTS} times"
    )))
}

/// The fallback index under `tag`, or an empty one when there is none.
fn read_fallback(client: &Client, repository: &str, tag: &str) -> Result<OciIndex> {
    match fetch_document(client, repository, tag, None) {
        Ok((_, _, bytes)) => OciIndex::from_slice(&bytes).map_err(|source| {
            Error::Archive(modeloci_archive::Error::InvalidDocument {
                entry: format!("the referrers index under tag {tag}"),
                source,
            })
        }),
        Err(Error::NotFound { .. }) => Ok(OciIndex::new(Vec::new())),
        Err(e) => Err(e),
    }
}

/// A wait that grows with `attempt`, jittered so that two writers drift apart.
fn backoff(attempt: u32) -> Duration {
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos() % 40));
    Duration::from_millis(u64::from(attempt) * 40 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_tag_is_the_digest_with_a_dash() {
        let d = Digest::from_sha256_bytes(&[0xab; 32]);
        assert_eq!(fallback_tag(&d), format!("sha256-{}", "ab".repeat(32)));
        let long = Digest::from_sha512_bytes(&[0xcd; 64]);
        assert_eq!(fallback_tag(&long), format!("sha512-{}", "cd".repeat(32)));
    }

    #[test]
    fn given_blobs_must_match_and_the_empty_config_comes_by_itself() {
        let empty = Hasher::digest_bytes(EMPTY_JSON);
        let layer = Hasher::digest_bytes(b"bundle");
        let layer = Descriptor::new(MediaType::SigstoreBundle, layer.digest, layer.size);
        let manifest = OciManifest::new(
            Descriptor::new(MediaType::Empty, empty.digest, 2),
            vec![layer.clone()],
        );
        let given = given_blobs(&manifest, &[(layer.clone(), b"bundle")]).unwrap();
        assert_eq!(given[0].1, Some(EMPTY_JSON));
        assert_eq!(given[1].1, Some(&b"bundle"[..]));
        assert_eq!(given_blobs(&manifest, &[]).unwrap()[1].1, None);
        let err = given_blobs(&manifest, &[(layer, b"bundlf")]).unwrap_err();
        assert!(
            err.to_string().starts_with("the blob given for sha256:"),
            "{err}"
        );
    }
}
