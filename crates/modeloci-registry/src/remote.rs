//! Reading a registry without pulling: a manifest resolved and checked, its config (capped,
//! checked), a repository's tags page by page, a new tag for a manifest already there, and a
//! verify that streams every blob through a hasher and keeps nothing. Only [`verify`] reads
//! layer blobs.

use std::io::Read;

use modeloci_archive::{BlobStatus, FileGuard, Progress, ProgressHandle};
use modeloci_digest::{BUFFER_SIZE, Hasher, all_or_first_error, largest_first, read_chunks};
use modeloci_spec::{Descriptor, Digest, MediaType, OciIndex, OciManifest};

use crate::client::{Client, is_io_timeout};
use crate::naming::{manifest_ref, pull_tag};
use crate::reference::{Reference, valid_tag};
use crate::{Error, Result};

/// The largest config blob [`inspect`] reads (as an archive's documents).
pub const MAX_CONFIG_SIZE: u64 = 4 << 20;

/// A manifest or index from the registry, its bytes checked against its digest.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The reference resolved, with the digest.
    pub reference: Reference,
    /// The document's digest.
    pub digest: Digest,
    /// Its media type: the document's own `mediaType`, else the one the registry stated.
    pub media_type: MediaType,
    /// Its bytes, exactly as the registry stored them.
    pub bytes: Vec<u8>,
}

impl Resolved {
    /// Whether it is an image index (or a Docker manifest list).
    pub fn is_index(&self) -> bool {
        is_index(&self.media_type)
    }
}

/// Whether `media_type` is that of an index.
pub(crate) fn is_index(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageIndex)
        || media_type.as_str() == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// Fetches the manifest or index `reference` names (its tag, else `latest`, or its digest)
/// and checks it against the digest the reference, or else the registry, states.
///
/// # Errors
///
/// [`Error::NotFound`], [`Error::NoDefaultTag`] for a reference without a tag in a
/// repository without `latest`, [`Error::Verification`] for bytes that do not match the digest, and
/// those of any request.
pub fn resolve(client: &Client, reference: &Reference) -> Result<Resolved> {
    let wanted = manifest_ref(reference, &pull_tag(reference));
    fetch_document(
        client,
        &reference.repository,
        &wanted,
        reference.digest.clone(),
    )
    .map_err(|e| with_tags(client, reference, e))
    .map(|(digest, media_type, bytes)| Resolved {
        reference: Reference {
            digest: Some(digest.clone()),
            ..reference.clone()
        },
        digest,
        media_type,
        bytes,
    })
}

/// A manifest or index by tag or digest, checked against `expected` (or the registry's
/// stated digest): its digest, media type and bytes.
pub(crate) fn fetch_document(
    client: &Client,
    repository: &str,
    wanted: &str,
    expected: Option<Digest>,
) -> Result<(Digest, MediaType, Vec<u8>)> {
    let (bytes, stated_type, stated) = client.get_manifest(repository, wanted)?;
    let measured = Hasher::digest_bytes(&bytes);
    if let Some(expected) = expected.or(stated)
        && expected != measured.digest
    {
        return Err(Error::Verification {
            registry: client.registry().to_owned(),
            what: "manifest".into(),
            digest: expected.clone(),
            source: modeloci_digest::Error::DigestMismatch {
                expected,
                actual: measured.digest,
            },
        });
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<MediaType>,
    }
    let own = serde_json::from_slice::<Probe>(&bytes)
        .ok()
        .and_then(|p| p.media_type);
    let media_type = own.or(stated_type).unwrap_or(MediaType::ImageManifest);
    Ok((measured.digest, media_type, bytes))
}

/// What a reference names, as [`inspect`] read it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Inspected {
    /// A manifest, with its config blob (checked against its descriptor).
    Manifest {
        /// The manifest.
        manifest: Box<OciManifest>,
        /// The config blob's bytes.
        config: Vec<u8>,
    },
    /// An image index: the manifests it lists.
    Index(OciIndex),
}

/// What [`inspect`] found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RemoteInspect {
    /// The manifest or index, checked.
    pub resolved: Resolved,
    /// Its parsed content.
    pub inspected: Inspected,
}

/// Reads what `reference` names: the manifest and its config blob (at most
/// [`MAX_CONFIG_SIZE`], digest and size checked), or an index. No layer is downloaded.
///
/// # Errors
///
/// Those of [`resolve`], [`Error::TooLarge`] for a config over the cap,
/// [`Error::Verification`] for a config that does not match its descriptor, and
/// [`Error::Archive`] for a document that does not parse.
pub fn inspect(client: &Client, reference: &Reference) -> Result<RemoteInspect> {
    let resolved = resolve(client, reference)?;
    let invalid = |source| {
        Error::Archive(modeloci_archive::Error::InvalidDocument {
            entry: format!("manifest {}", resolved.digest),
            source,
        })
    };
    let inspected = if resolved.is_index() {
        Inspected::Index(OciIndex::from_slice(&resolved.bytes).map_err(invalid)?)
    } else {
        let manifest = OciManifest::from_slice(&resolved.bytes).map_err(invalid)?;
        let config = fetch_config(client, &reference.repository, &manifest)?;
        Inspected::Manifest {
            manifest: Box::new(manifest),
            config,
        }
    };
    Ok(RemoteInspect {
        resolved,
        inspected,
    })
}

/// The config blob a manifest names, capped and checked.
fn fetch_config(client: &Client, repository: &str, manifest: &OciManifest) -> Result<Vec<u8>> {
    fetch_small_blob(
        client,
        repository,
        &manifest.config,
        MAX_CONFIG_SIZE,
        "config",
    )
}

/// A blob read into memory, refused before any request when its descriptor says it is over
/// `limit`, and checked against its digest and size (at most one byte more is read).
pub(crate) fn fetch_small_blob(
    client: &Client,
    repository: &str,
    descriptor: &Descriptor,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>> {
    if descriptor.size > limit {
        return Err(Error::TooLarge {
            registry: client.registry().to_owned(),
            what: format!("{what} {}", descriptor.digest),
            size: descriptor.size,
            limit,
        });
    }
    let body = client.get_blob(repository, &descriptor.digest, 0)?;
    let mut bytes = Vec::new();
    body.reader
        .take(descriptor.size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Unreachable {
            registry: client.registry().to_owned(),
            reason: e.to_string(),
        })?;
    let mut actual = Hasher::new(descriptor.digest.algorithm());
    actual.update(&bytes);
    let actual = actual.finish();
    let source = if actual.size != descriptor.size {
        modeloci_digest::Error::SizeMismatch {
            expected: descriptor.size,
            actual: actual.size,
            at_least: actual.size > descriptor.size,
        }
    } else if actual.digest != descriptor.digest {
        modeloci_digest::Error::DigestMismatch {
            expected: descriptor.digest.clone(),
            actual: actual.digest,
        }
    } else {
        return Ok(bytes);
    };
    Err(Error::Verification {
        registry: client.registry().to_owned(),
        what: what.to_owned(),
        digest: descriptor.digest.clone(),
        source,
    })
}

/// Options for [`list_tags`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TagsOptions {
    /// Tags asked for per page (`?n=`); the registry's own page size when `None`.
    pub page_size: Option<usize>,
    /// The most pages followed before giving up.
    pub max_pages: usize,
}

impl Default for TagsOptions {
    fn default() -> Self {
        Self {
            page_size: None,
            max_pages: 1000,
        }
    }
}

impl TagsOptions {
    /// Asks for `n` tags a page (at least 1).
    pub fn with_page_size(mut self, n: Option<usize>) -> Self {
        self.page_size = n.map(|n| n.max(1));
        self
    }

    /// Follows at most `n` pages (at least 1).
    pub fn with_max_pages(mut self, n: usize) -> Self {
        self.max_pages = n.max(1);
        self
    }
}

/// Every tag of `repository`, following `Link: <...>; rel="next"` from page to page (each
/// `Link` through the client's `Location` checks: credentials only to the registry's own
/// origin), in the registry's order.
///
/// # Errors
///
/// [`Error::NotFound`] for an unknown repository, [`Error::Protocol`] for more pages than
/// [`TagsOptions::max_pages`] or more than [`MAX_TAG_BYTES`] of tags, and those of each
/// page's request.
pub fn list_tags(client: &Client, repository: &str, options: &TagsOptions) -> Result<Vec<String>> {
    let mut tags = Vec::new();
    let mut bytes = 0usize;
    let mut next: Option<String> = None;
    for _ in 0..options.max_pages {
        let page = client.list_tags_page(repository, options.page_size, next.as_deref())?;
        bytes = page
            .tags
            .iter()
            .fold(bytes, |sum, t| sum.saturating_add(t.len()));
        if bytes > MAX_TAG_BYTES {
            return Err(Error::Protocol {
                registry: client.registry().to_owned(),
                reason: format!(
                    "the tag list of {repository} holds more than {MAX_TAG_BYTES} bytes of tags"
                ),
            });
        }
        tags.extend(page.tags);
        match page.next {
            Some(url) => next = Some(url),
            None => return Ok(tags),
        }
    }
    Err(Error::Protocol {
        registry: client.registry().to_owned(),
        reason: format!(
            "the tag list of {repository} runs past {} pages",
            options.max_pages
        ),
    })
}

/// The most tag text a listing holds in all pages together (each page is capped on its own):
/// a registry cannot make a listing take more memory than this.
pub const MAX_TAG_BYTES: usize = 64 << 20;

/// How many tags an error lists.
const TAGS_SHOWN: usize = 10;

/// A manifest GET's error for `reference`: for a reference without tag or digest that found
/// no `latest`, [`Error::NoDefaultTag`] with the repository's first tags, when they can be
/// listed; else `error` as it is.
pub(crate) fn with_tags(client: &Client, reference: &Reference, error: Error) -> Error {
    match error {
        Error::NotFound { .. } if reference.tag.is_none() && reference.digest.is_none() => {
            no_default_tag(client, &reference.repository).unwrap_or(error)
        }
        error => error,
    }
}

/// The error for a repository without `latest`: its first tags, when they can be listed.
fn no_default_tag(client: &Client, repository: &str) -> Option<Error> {
    let mut tags = list_tags(
        client,
        repository,
        &TagsOptions::default().with_max_pages(10),
    )
    .ok()?;
    // Registries list in their own order; people read sorted lists.
    tags.sort();
    Some(Error::NoDefaultTag {
        registry: client.registry().to_owned(),
        repository: repository.to_owned(),
        total: tags.len(),
        tags: tags.into_iter().take(TAGS_SHOWN).collect(),
    })
}

/// Whether `tag` is a tag by the OCI grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    valid_tag(tag)
}

/// Stores the manifest `reference` names under `new_tag` as well, with its exact bytes (no
/// blob is read or sent); returns its digest. `new_tag` is checked before any request.
///
/// # Errors
///
/// [`Error::InvalidOption`] for a tag outside the grammar, those of [`resolve`] and of the
/// manifest PUT.
pub fn tag(client: &Client, reference: &Reference, new_tag: &str) -> Result<Digest> {
    if !is_valid_tag(new_tag) {
        return Err(Error::InvalidOption(format!(
            "invalid tag {new_tag:?}: a tag is up to 128 letters, digits, _ . and -, not starting with . or -"
        )));
    }
    let resolved = resolve(client, reference)?;
    client.put_manifest(
        &reference.repository,
        new_tag,
        &resolved.media_type,
        &resolved.bytes,
    )
}

/// One blob of a manifest in a registry, as [`verify`] found it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RemoteBlobCheck {
    /// `config`, or the layer's title (`layer N` without one).
    pub what: String,
    /// The descriptor the manifest gives.
    pub descriptor: modeloci_spec::Descriptor,
    /// What its bytes are.
    pub status: BlobStatus,
}

/// What [`verify`] found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RemoteVerifyReport {
    /// The manifest, checked against its digest.
    pub resolved: Resolved,
    /// The config's check.
    pub config: RemoteBlobCheck,
    /// Each layer's, in the manifest's order.
    pub layers: Vec<RemoteBlobCheck>,
}

impl RemoteVerifyReport {
    /// How many blobs failed.
    pub fn failures(&self) -> usize {
        std::iter::once(&self.config)
            .chain(&self.layers)
            .filter(|c| !c.status.is_ok())
            .count()
    }

    /// Whether every blob matched.
    pub fn is_ok(&self) -> bool {
        self.failures() == 0
    }
}

/// Downloads every blob of the manifest `reference` names and checks it against its
/// descriptor, keeping nothing: each streams through the hasher, `concurrency` at once,
/// reporting the bytes hashed to `progress`. A blob the registry lacks or that does not
/// match is a failed check, not an error.
///
/// # Errors
///
/// Those of [`resolve`], [`Error::InvalidOption`] for an image index, [`Error::Archive`]
/// for a manifest that does not parse, and transport errors.
pub fn verify(
    client: &Client,
    reference: &Reference,
    concurrency: usize,
    progress: Option<&ProgressHandle>,
) -> Result<RemoteVerifyReport> {
    let resolved = resolve(client, reference)?;
    if resolved.is_index() {
        return Err(Error::InvalidOption(format!(
            "{} is an image index; verify one of its manifests by digest",
            resolved.reference
        )));
    }
    let manifest = OciManifest::from_slice(&resolved.bytes).map_err(|source| {
        Error::Archive(modeloci_archive::Error::InvalidDocument {
            entry: format!("manifest {}", resolved.digest),
            source,
        })
    })?;
    let mut jobs = vec![("config".to_owned(), manifest.config.clone())];
    for (i, layer) in manifest.layers.iter().enumerate() {
        let what = layer
            .title()
            .map_or_else(|| format!("layer {i}"), str::to_owned);
        jobs.push((what, layer.clone()));
    }
    let sizes: Vec<u64> = jobs.iter().map(|(_, d)| d.size).collect();
    let progress = progress.map(|h| &*h.0);
    if let Some(p) = progress {
        p.start(
            "verifying",
            sizes.iter().fold(0, |t, s| t.saturating_add(*s)),
        );
    }
    let statuses = largest_first(&sizes, concurrency.max(1), |i| {
        let _file = FileGuard::start(progress, &jobs[i].0, jobs[i].1.size);
        check_blob(client, &reference.repository, &jobs[i].1, progress)
    });
    if let Some(p) = progress {
        p.finish();
    }
    let statuses = all_or_first_error(statuses)?;
    let mut checks = jobs
        .into_iter()
        .zip(statuses)
        .map(|((what, descriptor), status)| RemoteBlobCheck {
            what,
            descriptor,
            status,
        });
    let config = checks.next().expect("the config is the first job");
    Ok(RemoteVerifyReport {
        resolved,
        config,
        layers: checks.collect(),
    })
}

/// Streams one blob through a hasher (at most one byte past its size) and compares.
fn check_blob(
    client: &Client,
    repository: &str,
    descriptor: &modeloci_spec::Descriptor,
    progress: Option<&dyn Progress>,
) -> Result<BlobStatus> {
    let body = match client.get_blob(repository, &descriptor.digest, 0) {
        Ok(body) => body,
        Err(Error::NotFound { .. }) => return Ok(BlobStatus::Missing),
        Err(e) => return Err(e),
    };
    let mut hasher = Hasher::new(descriptor.digest.algorithm());
    let mut reader = body.reader.take(descriptor.size.saturating_add(1));
    let mut buf = vec![0u8; BUFFER_SIZE];
    read_chunks(&mut reader, &mut buf, |chunk| {
        hasher.update(chunk);
        if let Some(p) = progress {
            p.advance(chunk.len() as u64);
        }
        Ok::<(), std::io::Error>(())
    })
    .map_err(|e| {
        let e = e.into_io();
        if is_io_timeout(&e) {
            client.stalled(format!("downloading blob {}", descriptor.digest), 1)
        } else {
            Error::Unreachable {
                registry: client.registry().to_owned(),
                reason: e.to_string(),
            }
        }
    })?;
    let actual = hasher.finish();
    Ok(if actual.size != descriptor.size {
        BlobStatus::SizeMismatch {
            actual: actual.size,
        }
    } else if actual.digest != descriptor.digest {
        BlobStatus::DigestMismatch {
            actual: actual.digest,
        }
    } else {
        BlobStatus::Ok
    })
}

/// The blobs a manifest needs: its config, then each layer once.
pub(crate) fn blobs_of(manifest: &OciManifest) -> Vec<Descriptor> {
    let mut descriptors = vec![manifest.config.clone()];
    for layer in &manifest.layers {
        if !descriptors.iter().any(|d| d.digest == layer.digest) {
            descriptors.push(layer.clone());
        }
    }
    descriptors
}
