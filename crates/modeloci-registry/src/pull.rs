//! Pulling: a manifest and its blobs, verified, into an archive or a model directory.
//!
//! Blobs are staged as an OCI image layout beside the target
//! (`.<target>.modeloci-pull/`): each downloads to `<hex>.partial` and is renamed to `<hex>`
//! only once its size and digest matched. An interrupted pull leaves the partial files; the
//! next one re-hashes what it has and asks for the rest with an HTTP Range request. Large
//! blobs come down in parts, several at once, within the same connection budget
//! (`ranged.rs`). A pull into a directory (with no check of the layout, and unless asked
//! to stage) stages only the config and manifest and streams each layer into the unpacker,
//! its files kept in the staging directory layer by layer (`pull_stream.rs`). Once
//! every blob is in, the layout is repacked into the archive (byte-identical to the one
//! pushed) or unpacked with the same checks as `unpack`, and the staging directory removed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use modeloci_archive::{
    Archive, FileGuard, ModelUnpackager, Progress, ProgressHandle, UnpackOptions, UnpackedFile,
    blob_label, index_json, layers_for, ref_name, repack_with_progress,
};
use modeloci_digest::{
    BUFFER_SIZE, ChunkError, Hasher, Measured, all_or_first_error, largest_first, read_chunks,
};
use modeloci_spec::{Descriptor, Digest, ImageLayout, MediaType, OciConfig, OciIndex, OciManifest};

use crate::client::{BlobBody, Client, Tries, is_io_timeout};
use crate::naming::{manifest_ref, pull_tag};
pub use crate::ranged::RANGED_ABOVE;
use crate::ranged::{Finished, PartContext, RangedBlob, Ranges};
use crate::ranged::{blob_mismatch, is_not_ours};
use crate::reference::Reference;
use crate::referrers::{FetchedReferrer, fetch_listed_referrer, referrers};
use crate::remote::fetch_document;
use crate::space;
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
    /// Connections at once: blobs, and parts of the blobs larger than
    /// [`Self::ranged_above`], downloaded at the same time.
    pub concurrency: usize,
    /// Blobs larger than this come down in several ranged requests at once (when
    /// [`Self::concurrency`] is above 1); [`RANGED_ABOVE`] by default.
    pub ranged_above: u64,
    /// With [`PullTarget::Unpack`]: fetch and restore only files whose paths match one of
    /// these patterns ([`modeloci_archive::glob_match`]).
    pub include: Vec<String>,
    /// With [`PullTarget::Unpack`]: write into a non-empty directory.
    pub force: bool,
    /// With [`PullTarget::Unpack`] and no [`Self::check`]: write the files straight from
    /// the registry's answers, each layer's blob read once through the unpacker, no blob
    /// staged (disk use: the model alone); the default. An interrupted pull resumes layer
    /// by layer (the files of each layer that verified are kept, re-hashed on the rerun); a
    /// layer cut midway is fetched again whole. `false`: the blobs are staged first (and
    /// fetched in ranged parts), resumed byte by byte, then unpacked.
    pub stream_unpack: bool,
    /// The modification time written in rebuilt archives (0, or `SOURCE_DATE_EPOCH`).
    pub mtime: u64,
    /// Where to report the bytes downloaded (and, with [`PullTarget::Unpack`], unpacked).
    pub progress: Option<ProgressHandle>,
    /// Bring the manifest's signatures (referrers whose artifact is a Sigstore bundle) into
    /// the staged layout, listed in its `index.json` after the model: with
    /// [`PullTarget::Archive`], or whenever [`Self::check`] is set.
    pub referrers: bool,
    /// The largest blob of a referrer brought along (refused before it is read).
    pub referrer_blob_limit: u64,
    /// Run on the staged, verified layout and the referrers brought along, before anything
    /// reaches the target; an error stops the pull there.
    pub check: Option<PullCheck>,
    /// With [`PullTarget::Unpack`]: the check unpack runs on the files it wrote (hashed as
    /// they were written) before any is published into the target.
    pub unpack_check: Option<modeloci_archive::UnpackCheck>,
}

/// The largest blob of a referrer a pull brings along by default: a Sigstore bundle is a few
/// KiB, one listing 100,000 files about 15 MB; the same cap as the signing crate's for a
/// bundle.
pub const MAX_REFERRER_BLOB: u64 = 32 << 20;

pub use crate::error::CheckError;

/// The function a [`PullCheck`] calls.
pub type CheckFn = dyn Fn(&Archive, &[FetchedReferrer]) -> Result<(), CheckError> + Send + Sync;

/// A check of a pulled model before it is delivered: the staged layout (opened as an
/// archive, every blob of it verified) and the referrers brought along.
#[derive(Clone)]
pub struct PullCheck(pub Arc<CheckFn>);

impl std::fmt::Debug for PullCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PullCheck(..)")
    }
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            ranged_above: RANGED_ABOVE,
            include: Vec::new(),
            force: false,
            stream_unpack: true,
            mtime: 0,
            progress: None,
            referrers: true,
            referrer_blob_limit: MAX_REFERRER_BLOB,
            check: None,
            unpack_check: None,
        }
    }
}

impl PullOptions {
    /// Sets how many blobs come down at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets the size above which a blob comes down in parts ([`Self::ranged_above`]).
    pub fn with_ranged_above(mut self, above: u64) -> Self {
        self.ranged_above = above.max(1);
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

    /// Whether to unpack straight from the registry's answers ([`Self::stream_unpack`]).
    pub fn with_stream_unpack(mut self, stream: bool) -> Self {
        self.stream_unpack = stream;
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Option<ProgressHandle>) -> Self {
        self.progress = progress;
        self
    }

    /// Whether to bring the manifest's signatures along ([`Self::referrers`]).
    pub fn with_referrers(mut self, referrers: bool) -> Self {
        self.referrers = referrers;
        self
    }

    /// Sets the largest referrer blob brought along.
    pub fn with_referrer_blob_limit(mut self, limit: u64) -> Self {
        self.referrer_blob_limit = limit;
        self
    }

    /// Sets the check run before delivery ([`Self::check`]).
    pub fn with_check(mut self, check: Option<PullCheck>) -> Self {
        self.check = check;
        self
    }

    /// Sets the check unpack runs before publishing ([`Self::unpack_check`]).
    pub fn with_unpack_check(mut self, check: Option<Arc<modeloci_archive::CheckFn>>) -> Self {
        self.unpack_check = check.map(modeloci_archive::UnpackCheck);
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
    /// When a blob meant to come down in parts came in one stream instead: what the
    /// registry did with the range asked for (the first such blob).
    pub ranges_refused: Option<String>,
    /// The model config, when the artifact's config is a modeloci model config.
    pub config: Option<OciConfig>,
    /// The files restored, for [`PullTarget::Unpack`].
    pub files: Vec<modeloci_archive::UnpackedFile>,
    /// The referrers brought along, as the staged `index.json` lists them (image manifest,
    /// digest, size, artifact type).
    pub referrers: Vec<Descriptor>,
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
    // Before the first byte: the target is ours alone, and can take what we will write.
    let staging = Staging::open(target.path(), staging_dir(target.path()))?;
    if let PullTarget::Unpack(dir) = target
        && !options.force
    {
        check_empty(dir)?;
    }
    let resolved = resolve(client, reference)?;
    let wanted = choose_blobs(&resolved.manifest, target, options)?;
    let unpack = matches!(target, PullTarget::Unpack(_)).then_some(&resolved.manifest);
    space::check_pull(target.path(), staging.root(), &wanted, unpack)?;
    let digest = resolved.measured.digest.clone();
    if let PullTarget::Unpack(dir) = target
        && options.stream_unpack
        && options.check.is_none()
    {
        return pull_streamed(client, reference, &resolved, wanted, &staging, dir, options);
    }
    // The signatures first: small, and a referrer that cannot be brought fails the pull
    // before a layer is downloaded.
    let signatures = if options.referrers
        && (matches!(target, PullTarget::Archive(_)) || options.check.is_some())
    {
        signatures(client, &reference.repository, &digest, options)?
    } else {
        Vec::new()
    };
    let fetched = fetch_into(client, &reference.repository, &wanted, &staging, options)?;
    let (name, referrers) = write_layout(&staging, &resolved, reference, &signatures)?;
    let layout = Archive::open_with(staging.root(), Some(&name))?;
    let delivered = match &options.check {
        Some(check) => (check.0)(&layout, &signatures).map_err(Error::Check),
        None => Ok(()),
    }
    .and_then(|()| deliver(&layout, target, options));
    drop(layout);
    // A model its check refused is not kept for a later run to resume: nothing is left.
    let refused = matches!(
        &delivered,
        Err(Error::Check(_) | Error::Archive(modeloci_archive::Error::CheckFailed { .. }))
    );
    if delivered.is_ok() || refused {
        let _ = fs::remove_dir_all(staging.root());
    }
    let (config, files) = delivered?;
    Ok(PullReport {
        reference: Reference {
            digest: Some(digest.clone()),
            ..reference.clone()
        },
        manifest_digest: digest,
        blobs: wanted,
        bytes_downloaded: fetched.downloaded,
        bytes_resumed: fetched.resumed,
        ranges_refused: fetched.unranged,
        config,
        files,
        referrers,
    })
}

/// The referrers of `subject` that hold a signature, fetched and checked; one listed but no
/// longer in the registry (deleted, its entry left in the tag schema's index) is skipped.
///
/// Only signatures come along, not every referrer (as `copy` carries): they are what a
/// pulled archive needs to be verified offline, each is small and capped at
/// [`PullOptions::referrer_blob_limit`], and an SBOM or scan report of any size that someone
/// attached cannot then fail or swell a pull. A signature is recognised by the listed
/// `artifactType`, or, where the writer left that out or listed the empty type (as some
/// cosign versions did), by its manifest's config or layer media type.
fn signatures(
    client: &Client,
    repo: &str,
    subject: &Digest,
    options: &PullOptions,
) -> Result<Vec<FetchedReferrer>> {
    let mut found = Vec::new();
    for listed in referrers(client, repo, subject, None)? {
        let bundle = match &listed.artifact_type {
            Some(MediaType::SigstoreBundle) => true,
            None | Some(MediaType::Empty) => {
                let wanted = listed.digest.as_str();
                match fetch_document(client, repo, wanted, Some(listed.digest.clone())) {
                    Ok((_, _, bytes)) => {
                        OciManifest::from_slice(&bytes).is_ok_and(|m| holds_bundle(&m))
                    }
                    // Listed, but deleted since: nothing to bring.
                    Err(Error::NotFound { .. }) => false,
                    Err(e) => return Err(e),
                }
            }
            Some(_) => false,
        };
        if !bundle {
            continue;
        }
        let limit = options.referrer_blob_limit;
        if let Some(fetched) = fetch_listed_referrer(client, repo, subject, &listed, limit)? {
            found.push(fetched);
        }
    }
    Ok(found)
}

/// Whether a manifest says it holds a Sigstore bundle, by any of its three media types.
fn holds_bundle(manifest: &OciManifest) -> bool {
    let bundle = MediaType::SigstoreBundle;
    manifest.artifact_type.as_ref() == Some(&bundle)
        || manifest.config.media_type == bundle
        || manifest.layers.iter().any(|l| l.media_type == bundle)
}

/// A manifest from the registry, checked against its digest.
struct Resolved {
    bytes: Vec<u8>,
    measured: Measured,
    manifest: OciManifest,
}

/// Fetches the manifest `reference` names, checks it against the digest the reference (or
/// else the registry) states, and parses it; an image index is refused.
fn resolve(client: &Client, reference: &Reference) -> Result<Resolved> {
    let repo = reference.repository.as_str();
    let manifest_ref = manifest_ref(reference, &pull_tag(reference));
    let (bytes, media_type, stated) = client
        .get_manifest(repo, &manifest_ref)
        .map_err(|e| crate::remote::with_tags(client, reference, e))?;
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
    Ok(Resolved {
        bytes,
        measured,
        manifest,
    })
}

/// The blobs to fetch: the config, then each layer the target needs once (unpack's own
/// choice of layers, so that what is fetched is what it will read).
fn choose_blobs(
    manifest: &OciManifest,
    target: &PullTarget,
    options: &PullOptions,
) -> Result<Vec<Descriptor>> {
    let layers = match target {
        PullTarget::Unpack(_) => layers_for(manifest, &options.include)?,
        PullTarget::Archive(_) => manifest.layers.clone(),
    };
    let mut wanted = vec![manifest.config.clone()];
    for layer in layers {
        if !wanted.iter().any(|d: &Descriptor| d.digest == layer.digest) {
            wanted.push(layer);
        }
    }
    Ok(wanted)
}

/// Creates the staging layout and brings `wanted` into it, reporting progress.
fn fetch_into(
    client: &Client,
    repo: &str,
    wanted: &[Descriptor],
    staging: &Staging,
    options: &PullOptions,
) -> Result<Fetched> {
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
    let fetched = fetch_all(client, repo, wanted, staging.root(), options, progress);
    if let Some(p) = progress {
        p.finish();
    }
    fetched
}

/// The manifest, the referrers' manifests and blobs, and an index naming the manifest then
/// listing each referrer (without a name) make the staging directory a layout. Returns the
/// name and the referrers' entries.
fn write_layout(
    staging: &Staging,
    resolved: &Resolved,
    reference: &Reference,
    referrers: &[FetchedReferrer],
) -> Result<(String, Vec<Descriptor>)> {
    let measured = &resolved.measured;
    staging.write(&measured.digest.blob_path(), &resolved.bytes)?;
    let name = ref_name(&resolved.manifest, reference.tag.as_deref()).to_owned();
    let index = index_json(&resolved.manifest, measured, &name);
    if referrers.is_empty() {
        staging.write("index.json", &index)?;
        return Ok((name, Vec::new()));
    }
    let mut entries = Vec::with_capacity(referrers.len());
    for referrer in referrers {
        for (descriptor, bytes) in &referrer.blobs {
            staging.write(&descriptor.digest.blob_path(), bytes)?;
        }
        let digest = &referrer.descriptor.digest;
        staging.write(&digest.blob_path(), &referrer.bytes)?;
        let mut entry = Descriptor::new(
            MediaType::ImageManifest,
            digest.clone(),
            referrer.bytes.len() as u64,
        );
        // Only signatures are brought along: one listed without its type gets it here.
        entry.artifact_type = Some(
            referrer
                .manifest
                .artifact_type
                .clone()
                .unwrap_or(MediaType::SigstoreBundle),
        );
        entries.push(entry);
    }
    let mut index = OciIndex::from_slice(&index).expect("index_json writes an index");
    index.manifests.extend(entries.iter().cloned());
    staging.write("index.json", &index.to_json())?;
    Ok((name, entries))
}

/// Repacks the staged layout into the archive, or unpacks it into the directory; returns
/// the model config (if it is one) and the files restored.
fn deliver(
    layout: &Archive,
    target: &PullTarget,
    options: &PullOptions,
) -> Result<(Option<OciConfig>, Vec<UnpackedFile>)> {
    let config = layout.config().ok();
    let files = match target {
        PullTarget::Archive(path) => {
            repack_with_progress(layout, path, options.mtime, options.progress.as_ref())?;
            Vec::new()
        }
        PullTarget::Unpack(dir) => {
            ModelUnpackager::with_options(unpack_options(options))
                .extract_from(layout, dir)?
                .files
        }
    };
    Ok((config, files))
}

/// `pull --unpack` without a check of the layout: the config staged and verified as a
/// document with the manifest, then every layer's blob streamed from its GET into the
/// unpacker (`pull_stream.rs`), no blob staged, each verified layer's files kept in the
/// staging directory's `layers/` for a rerun. The staging directory is removed once the
/// files are published, or when the unpack check refused them.
fn pull_streamed(
    client: &Client,
    reference: &Reference,
    resolved: &Resolved,
    wanted: Vec<Descriptor>,
    staging: &Staging,
    dir: &Path,
    options: &PullOptions,
) -> Result<PullReport> {
    let repo = reference.repository.as_str();
    let mut fetched = fetch_into(client, repo, &wanted[..1], staging, options)?;
    write_layout(staging, resolved, reference, &[])?;
    let config = staged_config(staging, &resolved.manifest)?;
    // One connection per layer streaming at once, as many as the pull may open.
    let unpack = unpack_options(options).with_threads(options.concurrency);
    let unpacker = ModelUnpackager::with_options(unpack);
    let keep = staging.layers()?;
    let unpacked = crate::pull_stream::unpack_streamed(
        client,
        repo,
        &resolved.manifest,
        &unpacker,
        dir,
        &keep,
    );
    let refused = matches!(
        &unpacked,
        Err(Error::Archive(modeloci_archive::Error::CheckFailed { .. }))
    );
    if unpacked.is_ok() || refused {
        let _ = fs::remove_dir_all(staging.root());
    }
    let (files, received, asked) = unpacked?;
    fetched.downloaded += received;
    // The layers kept from an earlier run, not asked for again.
    let layers: u64 = wanted[1..].iter().map(|d| d.size).sum();
    fetched.resumed += layers.saturating_sub(asked);
    let digest = resolved.measured.digest.clone();
    Ok(PullReport {
        reference: Reference {
            digest: Some(digest.clone()),
            ..reference.clone()
        },
        manifest_digest: digest,
        blobs: wanted,
        bytes_downloaded: fetched.downloaded,
        bytes_resumed: fetched.resumed,
        ranges_refused: fetched.unranged,
        config,
        files,
        referrers: Vec::new(),
    })
}

/// The model config of a staged config blob (verified when it was staged), when the
/// manifest says it is one.
fn staged_config(staging: &Staging, manifest: &OciManifest) -> Result<Option<OciConfig>> {
    let config = &manifest.config;
    if !matches!(
        config.media_type,
        MediaType::ModelociConfig | MediaType::ImageConfig
    ) {
        return Ok(None);
    }
    let path = staging.root().join(config.digest.blob_path());
    let bytes = fs::read(&path).map_err(Error::io(&path))?;
    Ok(OciConfig::from_slice(&bytes).ok())
}

/// The unpack options a pull into a directory uses.
fn unpack_options(options: &PullOptions) -> UnpackOptions {
    let mut unpack = UnpackOptions::default()
        .with_force(options.force)
        .with_include(options.include.clone())
        .with_progress(options.progress.clone());
    if let Some(check) = &options.unpack_check {
        unpack = unpack.with_check(Arc::clone(&check.0));
    }
    unpack
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
    /// Why a blob meant to come down in parts came in one stream, if one did.
    unranged: Option<String>,
}

/// How a blob is brought in: checked and kept from an earlier run, in one stream, or in
/// parts.
enum Plan<'a> {
    Kept(u64),
    Stream(usize),
    Ranged(RangedBlob<'a>),
}

/// One download job of a pull: a blob in one stream, or one part of a ranged blob.
#[derive(Clone, Copy)]
enum Job {
    Stream(usize),
    Part(usize, usize),
}

/// Brings `blobs` in, `options.concurrency` connections at once: blobs larger than
/// [`PullOptions::ranged_above`] in parts, the others in one stream each, the largest
/// first. A ranged blob is verified once all its parts are in; one whose registry did not
/// honour a range is then fetched again in one stream.
fn fetch_all(
    client: &Client,
    repo: &str,
    blobs: &[Descriptor],
    staging: &Path,
    options: &PullOptions,
    progress: Option<&dyn Progress>,
) -> Result<Fetched> {
    let mut total = Fetched::default();
    let mut ranged = Vec::new();
    let mut jobs = Vec::new();
    for (i, descriptor) in blobs.iter().enumerate() {
        match plan_blob(descriptor, i, staging, options)? {
            Plan::Kept(size) => total.resumed += size,
            Plan::Stream(i) => jobs.push(Job::Stream(i)),
            Plan::Ranged(blob) => {
                total.resumed += blob.resumed();
                let r = ranged.len();
                jobs.extend(blob.missing().into_iter().map(|k| Job::Part(r, k)));
                ranged.push(blob);
            }
        }
    }
    if let Some(p) = progress {
        p.advance(total.resumed);
    }
    let ranges = Ranges::default();
    let cx = PartContext {
        client,
        repo,
        progress,
        ranges: &ranges,
    };
    // The parts of one blob share its size, so they are begun in order, the largest blob's
    // first.
    let size_of = |job: &Job| match *job {
        Job::Stream(i) => blobs[i].size,
        Job::Part(r, _) => ranged[r].descriptor.size,
    };
    let sizes: Vec<u64> = jobs.iter().map(size_of).collect();
    let results = largest_first(&sizes, options.concurrency, |j| match jobs[j] {
        Job::Stream(i) => fetch_blob(client, repo, &blobs[i], staging, progress),
        Job::Part(r, k) => ranged[r].fetch_part(&cx, k).map(|downloaded| Fetched {
            downloaded,
            ..Fetched::default()
        }),
    });
    add(&mut total, all_or_first_error(results)?);
    let sizes: Vec<u64> = ranged.iter().map(|b| b.descriptor.size).collect();
    let ranged: Vec<Mutex<Option<RangedBlob<'_>>>> =
        ranged.into_iter().map(|b| Mutex::new(Some(b))).collect();
    let results = largest_first(&sizes, options.concurrency, |r| {
        let blob = ranged[r].lock().expect("not poisoned").take();
        let blob = blob.expect("each ranged blob is finished once");
        let descriptor = blob.descriptor;
        match blob.finish(client)? {
            Finished::Kept => Ok::<_, Error>(Fetched::default()),
            Finished::Refused(why) => {
                let fetched = fetch_blob(client, repo, descriptor, staging, progress)?;
                Ok(Fetched {
                    unranged: Some(format!("blob {}: {why}", descriptor.digest)),
                    ..fetched
                })
            }
        }
    });
    add(&mut total, all_or_first_error(results)?);
    Ok(total)
}

fn add(total: &mut Fetched, results: Vec<Fetched>) {
    for one in results {
        total.downloaded += one.downloaded;
        total.resumed += one.resumed;
        total.unranged = total.unranged.take().or(one.unranged);
    }
}

/// How blob `i` comes in: in parts when it is large, more than one connection is allowed
/// and no partial one-stream download of it is staged (that one is resumed as it was).
fn plan_blob<'a>(
    descriptor: &'a Descriptor,
    i: usize,
    staging: &Path,
    options: &PullOptions,
) -> Result<Plan<'a>> {
    if descriptor.size <= options.ranged_above || options.concurrency < 2 {
        return Ok(Plan::Stream(i));
    }
    let staged = Staged::new(descriptor, staging);
    if fs::symlink_metadata(&staged.partial).is_ok() {
        return Ok(Plan::Stream(i));
    }
    if staged.reuse_done()? {
        return Ok(Plan::Kept(descriptor.size));
    }
    let blob = RangedBlob::open(descriptor, staging, staged.done, options.ranged_above)?;
    Ok(Plan::Ranged(blob))
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
    let mut buf = vec![0u8; BUFFER_SIZE];
    read_chunks(&mut file, &mut buf, |chunk| {
        hasher.update(chunk);
        Ok::<(), io::Error>(())
    })
    .map_err(ChunkError::into_io)?;
    Ok(Some(hasher))
}

/// One blob's place in the staging directory.
struct Staged<'a> {
    descriptor: &'a Descriptor,
    /// Where it is kept once verified.
    done: PathBuf,
    /// Where it downloads to.
    partial: PathBuf,
}

/// Brings one blob into the staging directory, resuming a partial download.
fn fetch_blob(
    client: &Client,
    repo: &str,
    descriptor: &Descriptor,
    staging: &Path,
    progress: Option<&dyn Progress>,
) -> Result<Fetched> {
    let _file = FileGuard::start(progress, &blob_label(descriptor), descriptor.size);
    let staged = Staged::new(descriptor, staging);
    if staged.reuse_done()? {
        if let Some(p) = progress {
            p.advance(descriptor.size);
        }
        return Ok(Fetched {
            resumed: descriptor.size,
            ..Fetched::default()
        });
    }
    // The hasher follows the partial file from here on: `download` appends to both.
    let mut hasher = staged.resume_partial()?;
    let mut fetched = Fetched {
        resumed: hasher.size(),
        ..Fetched::default()
    };
    if let Some(p) = progress {
        p.advance(hasher.size());
    }
    let download = Download {
        client,
        repo,
        staged: &staged,
        progress,
    };
    fetched.downloaded = download.with_retries(&mut hasher)?;
    staged.keep(client, hasher.finish())?;
    Ok(fetched)
}

impl<'a> Staged<'a> {
    fn new(descriptor: &'a Descriptor, staging: &Path) -> Self {
        let blob_path = descriptor.digest.blob_path();
        Self {
            descriptor,
            done: staging.join(&blob_path),
            partial: staging.join(format!("{blob_path}.partial")),
        }
    }

    /// Whether the blob is already kept, with its size and digest: verified when it was
    /// renamed, and checked again, as it is cheap next to a download. A kept file that does
    /// not match is removed.
    fn reuse_done(&self) -> Result<bool> {
        let done = &self.done;
        let Some(have) = hash_existing(done).map_err(Error::io(done))? else {
            return Ok(false);
        };
        let expected = Measured::new(self.descriptor.digest.clone(), self.descriptor.size);
        if have.finish() == expected {
            return Ok(true);
        }
        staging::remove(done).map_err(Error::io(done))?;
        Ok(false)
    }

    /// A hasher that has seen the partial download, if any: one longer than the blob is
    /// removed.
    fn resume_partial(&self) -> Result<Hasher> {
        let partial = &self.partial;
        match hash_existing(partial).map_err(Error::io(partial))? {
            Some(hasher) if hasher.size() <= self.descriptor.size => Ok(hasher),
            Some(_) => {
                staging::remove(partial).map_err(Error::io(partial))?;
                Ok(Hasher::default())
            }
            None => Ok(Hasher::default()),
        }
    }

    /// Keeps the downloaded blob when it is what the descriptor says; else removes it.
    fn keep(&self, client: &Client, actual: Measured) -> Result<()> {
        let descriptor = self.descriptor;
        let mismatch = if actual.size != descriptor.size {
            modeloci_digest::Error::SizeMismatch {
                expected: descriptor.size,
                actual: actual.size,
                at_least: false,
            }
        } else if actual.digest != descriptor.digest {
            modeloci_digest::Error::DigestMismatch {
                expected: descriptor.digest.clone(),
                actual: actual.digest,
            }
        } else {
            return fs::rename(&self.partial, &self.done).map_err(Error::io(&self.done));
        };
        let _ = fs::remove_file(&self.partial);
        Err(blob_mismatch(client, &descriptor.digest, mismatch))
    }
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

/// What stopped the copy of a body into the partial file.
enum CopyError {
    /// The registry sent more than the blob holds: this much at least.
    TooLong(u64),
    /// Writing the partial file failed.
    Write(io::Error),
}

/// The download of one blob into its partial file.
struct Download<'a> {
    client: &'a Client,
    repo: &'a str,
    staged: &'a Staged<'a>,
    progress: Option<&'a dyn Progress>,
}

impl Download<'_> {
    /// Downloads the rest of the blob, resuming after each break. Returns the bytes
    /// received.
    ///
    /// Tries are bounded twice: those that bring the file no further than any before (a
    /// restart from zero that stops short of the furthest point is no progress) count
    /// against the retries, and all tries together against a cap.
    fn with_retries(&self, hasher: &mut Hasher) -> Result<u64> {
        let mut tries = Tries::capped(self.client, self.staged.descriptor.size);
        let mut furthest = hasher.size();
        let mut downloaded = 0;
        let mut restarted = false;
        loop {
            match self.once(hasher) {
                Ok(n) => return Ok(downloaded + n),
                Err(DownloadError::Broken {
                    received,
                    stalled,
                    restart,
                }) => {
                    downloaded += received;
                    restarted |= restart;
                    let progressed = hasher.size() > furthest;
                    furthest = furthest.max(hasher.size());
                    let Some(wait) = tries.failed(progressed) else {
                        return Err(self.gave_up(stalled, restarted, furthest, tries.attempts()));
                    };
                    std::thread::sleep(wait);
                }
                Err(DownloadError::Fatal(e)) => return Err(e),
            }
        }
    }

    /// The error after the last try: the stall, or the breaks.
    fn gave_up(&self, stalled: bool, restarted: bool, furthest: u64, attempts: u32) -> Error {
        let descriptor = self.staged.descriptor;
        let digest = &descriptor.digest;
        if stalled {
            return self
                .client
                .stalled(format!("downloading blob {digest}"), attempts);
        }
        Error::Unreachable {
            registry: self.client.registry().to_owned(),
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
    }

    /// Appends the rest of the blob to the partial file, asking for a Range when part of it
    /// is there. Returns the bytes received.
    fn once(&self, hasher: &mut Hasher) -> Result<u64, DownloadError> {
        let descriptor = self.staged.descriptor;
        let have = hasher.size();
        if have == descriptor.size {
            return Ok(0);
        }
        let body = self
            .client
            .get_blob(self.repo, &descriptor.digest, have)
            .map_err(DownloadError::Fatal)?;
        let restarted = body.start == 0 && have > 0;
        if restarted {
            *hasher = Hasher::default();
        }
        self.check_length(&body).map_err(DownloadError::Fatal)?;
        let partial = &self.staged.partial;
        let file = staging::open_partial(partial, body.start).map_err(|source| {
            DownloadError::Fatal(Error::Io {
                path: partial.clone(),
                source,
            })
        })?;
        self.copy(body, file, hasher, restarted)
    }

    /// Refuses a body whose announced length is not the rest of the blob.
    fn check_length(&self, body: &BlobBody) -> Result<()> {
        let descriptor = self.staged.descriptor;
        match body.length {
            Some(len) if len != descriptor.size - body.start => Err(blob_mismatch(
                self.client,
                &descriptor.digest,
                modeloci_digest::Error::SizeMismatch {
                    expected: descriptor.size,
                    actual: body.start.saturating_add(len),
                    at_least: false,
                },
            )),
            _ => Ok(()),
        }
    }

    /// Copies the body into the partial file and the hasher: a failed read is a break
    /// (resumable), a failed write or a body longer than the blob is fatal.
    fn copy(
        &self,
        body: BlobBody,
        mut file: fs::File,
        hasher: &mut Hasher,
        restart: bool,
    ) -> Result<u64, DownloadError> {
        let descriptor = self.staged.descriptor;
        let remaining = descriptor.size - body.start;
        // Never more than the descriptor's size: a registry sending more is stopped at one
        // byte over.
        let mut reader = io::Read::take(body.reader, remaining + 1);
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut received = 0u64;
        let copied = read_chunks(&mut reader, &mut buf, |chunk| {
            let n = chunk.len() as u64;
            if received + n > remaining {
                return Err(CopyError::TooLong(body.start + received + n));
            }
            file.write_all(chunk).map_err(CopyError::Write)?;
            hasher.update(chunk);
            received += n;
            if let Some(p) = self.progress {
                p.advance(n);
            }
            Ok(())
        });
        let partial = &self.staged.partial;
        match copied {
            Ok(_) if received < remaining => Err(DownloadError::Broken {
                received,
                stalled: false,
                restart,
            }),
            Ok(_) => Ok(received),
            Err(ChunkError::Read(e)) => {
                let _ = file.flush();
                Err(DownloadError::Broken {
                    received,
                    stalled: is_io_timeout(&e),
                    restart,
                })
            }
            Err(ChunkError::Sink(CopyError::TooLong(actual))) => {
                drop(file);
                let _ = fs::remove_file(partial);
                Err(DownloadError::Fatal(blob_mismatch(
                    self.client,
                    &descriptor.digest,
                    modeloci_digest::Error::SizeMismatch {
                        expected: descriptor.size,
                        actual,
                        at_least: true,
                    },
                )))
            }
            Err(ChunkError::Sink(CopyError::Write(source))) => {
                Err(DownloadError::Fatal(Error::Io {
                    path: partial.clone(),
                    source,
                }))
            }
        }
    }
}
