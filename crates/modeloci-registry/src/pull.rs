//! Pulling: a manifest and its blobs, verified, into an archive or a model directory.
//!
//! Blobs are staged as an OCI image layout beside the target
//! (`.<target>.modeloci-pull/`): each downloads to `<hex>.partial` and is renamed to `<hex>`
//! only once its size and digest matched. An interrupted pull leaves the partial files; the
//! next one re-hashes what it has and asks for the rest with an HTTP Range request. Once
//! every blob is in, the layout is repacked into the archive (byte-identical to the one
//! pushed) or unpacked with the same checks as `unpack`, and the staging directory removed.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use modeloci_archive::{
    Archive, ModelUnpackager, Progress, ProgressHandle, UnpackOptions, layers_for,
    repack_with_progress,
};
use modeloci_digest::{Hasher, Measured, all_or_first_error, largest_first};
use modeloci_spec::{
    Descriptor, Digest, ImageLayout, MediaType, OciConfig, OciIndex, OciManifest, annotations,
};

use crate::client::{Body, Client, Retry, drain, header};
use crate::reference::Reference;
use crate::staging::{self, Staging};
use crate::{Error, Result};

/// Where a pull goes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PullTarget {
    /// Rebuild the archive at this path.
    Archive(PathBuf),
    /// Restore the model's files into this directory.
    Unpack(PathBuf),
}

impl PullTarget {
    fn path(&self) -> &Path {
        match self {
            Self::Archive(p) | Self::Unpack(p) => p,
        }
    }
}

/// Options for [`pull`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PullOptions {
    /// Blobs downloaded at once.
    pub concurrency: usize,
    /// With [`PullTarget::Unpack`]: fetch and restore only files whose paths match one of
    /// these patterns ([`modeloci_archive::glob_match`]).
    pub include: Vec<String>,
    /// With [`PullTarget::Unpack`]: write into a non-empty directory.
    pub force: bool,
    /// The modification time written in rebuilt archives (0, or `SOURCE_DATE_EPOCH`).
    pub mtime: u64,
    /// Where to report the bytes downloaded (and, with [`PullTarget::Unpack`], unpacked).
    pub progress: Option<ProgressHandle>,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            include: Vec::new(),
            force: false,
            mtime: 0,
            progress: None,
        }
    }
}

impl PullOptions {
    /// Sets how many blobs come down at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Restores only files matching one of `patterns`.
    pub fn with_include(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.include = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Allows unpacking into a non-empty directory.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Option<ProgressHandle>) -> Self {
        self.progress = progress;
        self
    }

    /// Sets the tar header time of rebuilt archives.
    pub fn with_mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }
}

/// What [`pull`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PullReport {
    /// The reference pulled, with the manifest digest.
    pub reference: Reference,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The blobs fetched (config first, then the selected layers).
    pub blobs: Vec<Descriptor>,
    /// Bytes downloaded in this run.
    pub bytes_downloaded: u64,
    /// Bytes already staged by an earlier, interrupted run, checked and kept.
    pub bytes_resumed: u64,
    /// The model config, when the artifact's config is a modeloci model config.
    pub config: Option<OciConfig>,
    /// The files restored, for [`PullTarget::Unpack`].
    pub files: Vec<modeloci_archive::UnpackedFile>,
}

/// The staging directory for a target: beside it, named after it.
pub fn staging_dir(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "pull".into(), |n| n.to_string_lossy().into_owned());
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{name}.modeloci-pull"))
}

/// Pulls `reference` into `target`.
///
/// # Errors
///
/// [`Error::NotFound`] for an unknown repository or tag, [`Error::Verification`] when a
/// manifest or blob does not match its digest or size (a registry that lies), and the
/// errors of any request, of repacking and of unpacking. Nothing appears at the target
/// unless everything verified.
pub fn pull(
    client: &Client,
    reference: &Reference,
    target: &PullTarget,
    options: &PullOptions,
) -> Result<PullReport> {
    let repo = reference.repository.as_str();
    // Before the first byte: the target is ours alone, and can take what we will write.
    let staging = Staging::open(target.path(), staging_dir(target.path()))?;
    if let PullTarget::Unpack(dir) = target
        && !options.force
    {
        check_empty(dir)?;
    }
    let manifest_ref = reference.manifest_ref("latest");
    let (bytes, media_type, stated) = client.get_manifest(repo, &manifest_ref)?;
    let measured = Hasher::digest_bytes(&bytes);
    let expected = reference.digest.clone().or(stated);
    if let Some(expected) = expected
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
    if matches!(media_type, Some(MediaType::ImageIndex)) {
        return Err(Error::InvalidOption(format!(
            "{reference} is an image index; pull one of its manifests by digest"
        )));
    }
    let manifest = OciManifest::from_slice(&bytes).map_err(|source| {
        Error::Archive(modeloci_archive::Error::InvalidDocument {
            entry: format!("manifest {}", measured.digest),
            source,
        })
    })?;

    // Unpack's own choice of layers, so that what is fetched is what it will read.
    let layers = match target {
        PullTarget::Unpack(_) => layers_for(&manifest, &options.include)?,
        PullTarget::Archive(_) => manifest.layers.clone(),
    };
    let mut wanted = vec![manifest.config.clone()];
    for layer in layers {
        if !wanted.iter().any(|d: &Descriptor| d.digest == layer.digest) {
            wanted.push(layer);
        }
    }

    staging.create()?;
    staging.write("oci-layout", &ImageLayout::default().to_json())?;
    let progress = options.progress.as_ref().map(|h| &*h.0);
    if let Some(p) = progress {
        p.start(
            "downloading",
            wanted
                .iter()
                .fold(0, |total, d| total.saturating_add(d.size)),
        );
    }
    let fetched = fetch_all(
        client,
        repo,
        &wanted,
        staging.root(),
        options.concurrency,
        progress,
    );
    if let Some(p) = progress {
        p.finish();
    }
    let fetched = fetched?;

    // The manifest and an index naming it make the staging directory a layout.
    let ref_name = manifest
        .annotations
        .get(annotations::VERSION)
        .cloned()
        .unwrap_or_else(|| reference.tag.clone().unwrap_or_else(|| "latest".to_owned()));
    staging.write(&measured.digest.blob_path(), &bytes)?;
    let mut descriptor = Descriptor::new(
        MediaType::ImageManifest,
        measured.digest.clone(),
        measured.size,
    )
    .with_annotation(annotations::REF_NAME, &ref_name);
    descriptor.artifact_type = manifest.artifact_type.clone();
    staging.write("index.json", &OciIndex::new(vec![descriptor]).to_json())?;

    let layout = Archive::open(staging.root())?;
    let config = layout.config().ok();
    let files = match target {
        PullTarget::Archive(path) => {
            repack_with_progress(&layout, path, options.mtime, options.progress.as_ref())?;
            Vec::new()
        }
        PullTarget::Unpack(dir) => {
            let unpack = UnpackOptions::default()
                .with_force(options.force)
                .with_include(options.include.clone())
                .with_progress(options.progress.clone());
            ModelUnpackager::with_options(unpack)
                .extract_from(&layout, dir)?
                .files
        }
    };
    drop(layout);
    let _ = fs::remove_dir_all(staging.root());
    Ok(PullReport {
        reference: Reference {
            digest: Some(measured.digest.clone()),
            ..reference.clone()
        },
        manifest_digest: measured.digest,
        blobs: wanted,
        bytes_downloaded: fetched.downloaded,
        bytes_resumed: fetched.resumed,
        config,
        files,
    })
}

/// Refuses a non-empty directory (or something else) where the files are to go.
fn check_empty(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            path: dir.to_owned(),
            source: e,
        }),
        Ok(meta) if !meta.is_dir() => Err(modeloci_archive::Error::TargetConflict {
            path: dir.to_owned(),
            reason: "it is not a directory".into(),
        }
        .into()),
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(Error::io(dir))?;
            if entries.next().is_some() {
                return Err(modeloci_archive::Error::TargetNotEmpty {
                    path: dir.to_owned(),
                }
                .into());
            }
            Ok(())
        }
    }
}

#[derive(Default)]
struct Fetched {
    downloaded: u64,
    resumed: u64,
}

fn fetch_all(
    client: &Client,
    repo: &str,
    blobs: &[Descriptor],
    staging: &Path,
    concurrency: usize,
    progress: Option<&dyn Progress>,
) -> Result<Fetched> {
    let sizes: Vec<u64> = blobs.iter().map(|d| d.size).collect();
    let results = largest_first(&sizes, concurrency, |i| {
        fetch_blob(client, repo, &blobs[i], staging, progress)
    });
    let mut total = Fetched::default();
    for one in all_or_first_error(results)? {
        total.downloaded += one.downloaded;
        total.resumed += one.resumed;
    }
    Ok(total)
}

/// Hashes a file the staging directory holds, opened without following a link; `None` when
/// there is none, or when what has the name is not a regular file (a planted link), which
/// is then removed.
fn hash_existing(path: &Path) -> io::Result<Option<Hasher>> {
    let mut file = match staging::open_existing(path) {
        Ok(Some(file)) => file,
        Ok(None) => return Ok(None),
        Err(e) if is_not_ours(&e) => {
            staging::remove(path)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(Some(hasher)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
}

/// A link, or something else than a regular file, where a staged file should be.
fn is_not_ours(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP) || e.kind() == io::ErrorKind::InvalidInput
}

/// Brings one blob into the staging directory, resuming a partial download.
fn fetch_blob(
    client: &Client,
    repo: &str,
    descriptor: &Descriptor,
    staging: &Path,
    progress: Option<&dyn Progress>,
) -> Result<Fetched> {
    let digest = &descriptor.digest;
    let done = staging.join(digest.blob_path());
    let partial = staging.join(format!("{}.partial", digest.blob_path()));
    let mismatch = |source| blob_mismatch(client, digest, source);
    // Verified when it was renamed; checked again, as it is cheap next to a download.
    if let Some(have) = hash_existing(&done).map_err(Error::io(&done))? {
        if have.finish() == Measured::new(digest.clone(), descriptor.size) {
            if let Some(p) = progress {
                p.advance(descriptor.size);
            }
            return Ok(Fetched {
                downloaded: 0,
                resumed: descriptor.size,
            });
        }
        staging::remove(&done).map_err(Error::io(&done))?;
    }
    let mut fetched = Fetched::default();
    // The hasher follows the partial file from here on: `download` appends to both.
    let mut hasher = match hash_existing(&partial).map_err(Error::io(&partial))? {
        Some(hasher) if hasher.size() <= descriptor.size => hasher,
        Some(_) => {
            staging::remove(&partial).map_err(Error::io(&partial))?;
            Hasher::default()
        }
        None => Hasher::default(),
    };
    fetched.resumed = hasher.size();
    if let Some(p) = progress {
        p.advance(hasher.size());
    }
    // Tries are bounded twice: those that bring the file no further than any before
    // (a restart from zero that stops short of the furthest point is no progress) count
    // against the retries, and all tries together against a cap.
    let cap = max_attempts(descriptor.size, client.retries());
    let mut furthest = hasher.size();
    let mut attempts = 0u32;
    let mut idle = 0u32;
    let mut restarted = false;
    let actual = loop {
        attempts += 1;
        match download(client, repo, descriptor, &partial, &mut hasher, progress) {
            Ok(n) => {
                fetched.downloaded += n;
                break hasher.finish();
            }
            Err(DownloadError::Broken {
                received,
                stalled,
                restart,
            }) => {
                fetched.downloaded += received;
                restarted |= restart;
                let reached = hasher.size();
                if reached > furthest {
                    furthest = reached;
                    idle = 0;
                } else {
                    idle += 1;
                }
                if idle > client.retries() || attempts >= cap {
                    return Err(if stalled {
                        client.stalled(format!("downloading blob {digest}"), attempts)
                    } else {
                        Error::Unreachable {
                            registry: client.registry().to_owned(),
                            reason: format!(
                                "the download of blob {digest} kept breaking off{}, at best after {furthest} of {} bytes; gave up after {attempts} attempts",
                                if restarted {
                                    " (it answered requests for the rest with the whole blob)"
                                } else {
                                    ""
                                },
                                descriptor.size
                            ),
                        }
                    });
                }
                std::thread::sleep(client.backoff_delay(idle.max(1)));
            }
            Err(DownloadError::Fatal(e)) => return Err(e),
        }
    };
    if actual.size != descriptor.size {
        let _ = fs::remove_file(&partial);
        return Err(mismatch(modeloci_digest::Error::SizeMismatch {
            expected: descriptor.size,
            actual: actual.size,
            at_least: false,
        }));
    }
    if actual.digest != *digest {
        let _ = fs::remove_file(&partial);
        return Err(mismatch(modeloci_digest::Error::DigestMismatch {
            expected: digest.clone(),
            actual: actual.digest,
        }));
    }
    fs::rename(&partial, &done).map_err(Error::io(&done))?;
    Ok(fetched)
}

/// A blob from the registry that is not what its descriptor says.
fn blob_mismatch(client: &Client, digest: &Digest, source: modeloci_digest::Error) -> Error {
    Error::Verification {
        registry: client.registry().to_owned(),
        what: "blob".into(),
        digest: digest.clone(),
        source,
    }
}

/// The most tries for one blob: at least 8, more for large blobs (one per 64 MiB), and never
/// fewer than the retries allow.
fn max_attempts(size: u64, retries: u32) -> u32 {
    let per_size = u32::try_from(size >> 26).unwrap_or(u32::MAX);
    per_size.max(8).max(retries.saturating_add(1))
}

enum DownloadError {
    /// The transfer broke; resumable.
    Broken {
        /// New bytes received before it broke.
        received: u64,
        /// Whether it broke because nothing arrived for the stall timeout.
        stalled: bool,
        /// Whether the registry answered a request for the rest with the whole blob.
        restart: bool,
    },
    Fatal(Error),
}

/// Appends the rest of the blob to `partial`, asking for a Range when part of it is there.
/// Returns the bytes received.
fn download(
    client: &Client,
    repo: &str,
    descriptor: &Descriptor,
    partial: &Path,
    hasher: &mut Hasher,
    progress: Option<&dyn Progress>,
) -> Result<u64, DownloadError> {
    let have = hasher.size();
    if have == descriptor.size {
        return Ok(0);
    }
    let url = client.url(&format!("/v2/{repo}/blobs/{}", descriptor.digest));
    let scopes = [format!("repository:{repo}:pull")];
    let mut headers = Vec::new();
    if have > 0 {
        headers.push(("range", format!("bytes={have}-")));
    }
    let resp = client
        .request("GET", &url, &headers, &Body::Empty, &scopes, Retry::Yes)
        .map_err(DownloadError::Fatal)?;
    let lie = |reason: String| {
        DownloadError::Fatal(Error::Protocol {
            registry: client.registry().to_owned(),
            reason,
        })
    };
    let start = match resp.status().as_u16() {
        206 => {
            let range = header(&resp, "content-range").unwrap_or_default();
            let first = range
                .trim_start_matches("bytes ")
                .split('-')
                .next()
                .and_then(|s| s.trim().parse::<u64>().ok());
            if first != Some(have) {
                return Err(lie(format!(
                    "asked for blob {} from byte {have}, got range {range:?}",
                    descriptor.digest
                )));
            }
            have
        }
        200 => 0,
        404 => {
            drain(resp);
            return Err(DownloadError::Fatal(Error::NotFound {
                registry: client.registry().to_owned(),
                what: format!("blob {} in {repo}", descriptor.digest),
            }));
        }
        _ => return Err(DownloadError::Fatal(client.unexpected("GET", &url, resp))),
    };
    let restarted = start == 0 && have > 0;
    if restarted {
        *hasher = Hasher::default();
    }
    let remaining = descriptor.size - start;
    if let Some(len) = header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok())
        && len != remaining
    {
        return Err(DownloadError::Fatal(blob_mismatch(
            client,
            &descriptor.digest,
            modeloci_digest::Error::SizeMismatch {
                expected: descriptor.size,
                actual: start.saturating_add(len),
                at_least: false,
            },
        )));
    }
    let mut file = match staging::open_partial(partial, start) {
        Ok(f) => f,
        Err(e) => {
            return Err(DownloadError::Fatal(Error::Io {
                path: partial.to_owned(),
                source: e,
            }));
        }
    };
    // Never more than the descriptor's size: a registry sending more is stopped at one byte over.
    let mut body = resp.into_body().into_reader().take(remaining + 1);
    let mut buf = vec![0u8; 1 << 20];
    let mut received = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = file.flush();
                return Err(DownloadError::Broken {
                    received,
                    stalled: crate::client::is_io_timeout(&e),
                    restart: restarted,
                });
            }
        };
        if received + n as u64 > remaining {
            drop(file);
            let _ = fs::remove_file(partial);
            return Err(DownloadError::Fatal(blob_mismatch(
                client,
                &descriptor.digest,
                modeloci_digest::Error::SizeMismatch {
                    expected: descriptor.size,
                    actual: start + received + n as u64,
                    at_least: true,
                },
            )));
        }
        if let Err(e) = file.write_all(&buf[..n]) {
            return Err(DownloadError::Fatal(Error::Io {
                path: partial.to_owned(),
                source: e,
            }));
        }
        hasher.update(&buf[..n]);
        received += n as u64;
        if let Some(p) = progress {
            p.advance(n as u64);
        }
    }
    if received < remaining {
        return Err(DownloadError::Broken {
            received,
            stalled: false,
            restart: restarted,
        });
    }
    Ok(received)
}
