//! Restoring a model (or an archive's OCI layout) from an archive.
//!
//! Nothing reaches the target before every check passed: all paths are checked up front,
//! each layer is extracted into a private staging directory while its blob digest is
//! computed, and files move to the target only once every blob verified. On any failure the
//! staging directory is removed and the target is as it was.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use modeloci_digest::DigestWriter;
use modeloci_spec::{Descriptor, Digest, LayerEncoding, MediaType, OciConfig, OciManifest};

use crate::atomic::temp::TempDir;
use crate::codec::compress::decoder;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::glob::glob_match;
use crate::options::UnpackOptions;
use crate::progress::{Counting, Progress, Reporter};
use crate::read::archive::{Archive, blob_error, check_outer_entry, misnamed_blob, normalize_name};
use crate::read::verify::{VerifyReport, verify};
use crate::tarfile::reader::{
    EntryData, EntryKind, MAX_TRAILING_ZEROS, Stream, TarError, TarReader,
};
use crate::{Error, Result};
use modeloci_digest::{all_or_first_error, largest_first};

/// Unpacks and verifies archives: the reference implementation's `ModelUnpackager`.
///
/// ```no_run
/// use modeloci_archive::ModelUnpackager;
///
/// let unpacker = ModelUnpackager::new();
/// let config = unpacker.unpack("bert-base-1.0.0.tar".as_ref(), "/tmp/bert-out".as_ref())?;
/// assert_eq!(config.model_name, "bert-base");
/// for (digest, ok) in unpacker.verify_layers("bert-base-1.0.0.tar".as_ref())? {
///     println!("{} {digest}", if ok { "OK" } else { "FAIL" });
/// }
/// # Ok::<(), modeloci_archive::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ModelUnpackager {
    options: UnpackOptions,
}

/// A file written by unpack.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackedFile {
    /// Its path relative to the output directory.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Whether it was given mode 0755 (else 0644).
    pub executable: bool,
}

/// What [`ModelUnpackager::extract`] wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UnpackReport {
    /// The output directory.
    pub output: PathBuf,
    /// The model config, when the archive's config is a model config.
    pub config: Option<OciConfig>,
    /// The manifest digest.
    pub manifest_digest: Digest,
    /// The files written, in manifest (or archive) order.
    pub files: Vec<UnpackedFile>,
    /// Whether the OCI layout was extracted rather than the model.
    pub layout: bool,
}

impl UnpackReport {
    /// The bytes written.
    pub fn bytes(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.size))
    }
}

impl ModelUnpackager {
    /// An unpacker with default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// An unpacker with the given options.
    pub fn with_options(options: UnpackOptions) -> Self {
        Self { options }
    }

    /// Restores the model in `archive_path` into `output_dir` and returns its config.
    ///
    /// # Errors
    ///
    /// As [`Self::extract`], and [`Error::UnsupportedConfig`] when the archive's config is
    /// not a model config.
    pub fn unpack(&self, archive_path: &Path, output_dir: &Path) -> Result<OciConfig> {
        let archive = Archive::open_with(archive_path, self.options.reference.as_deref())?;
        let config = archive.config()?;
        self.extract_from(&archive, output_dir)?;
        Ok(config)
    }

    /// Restores the model (or, with the `layout` option, the OCI layout) into `output_dir`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsafeEntry`] for a path or entry the policy refuses (naming it), in a layer
    /// or anywhere in the outer tar ([`Archive::check_layout`], which verify runs too),
    /// [`Error::BadLayer`], [`Error::UnsupportedLayer`], [`Error::BadManifest`],
    /// [`Error::BlobMismatch`], [`Error::Truncated`],
    /// [`Error::MissingBlob`], [`Error::TargetNotEmpty`], [`Error::TargetConflict`], and
    /// the errors of [`Archive::open`]. The target is left as it was.
    pub fn extract(&self, archive_path: &Path, output_dir: &Path) -> Result<UnpackReport> {
        let archive = Archive::open_with(archive_path, self.options.reference.as_deref())?;
        self.extract_from(&archive, output_dir)
    }

    /// Like [`Self::extract`], from an archive already open.
    ///
    /// # Errors
    ///
    /// As [`Self::extract`].
    pub fn extract_from(&self, archive: &Archive, output_dir: &Path) -> Result<UnpackReport> {
        // What verify checks too, so that the two agree on what is refused.
        archive.check_layout()?;
        let config = match archive.config() {
            Ok(config) => Some(config),
            Err(Error::UnsupportedConfig { .. }) => None,
            Err(e) => return Err(e),
        };
        let target = Target::prepare(output_dir, self.options.force)?;
        let files = if self.options.layout {
            let staging = target.staging()?;
            let files = extract_layout(archive, staging.path())
                .map_err(|e| as_written_to(e, staging.path(), output_dir))?;
            target.publish(staging, &files)?;
            files
        } else {
            let (plan, set) = plan_for(archive.manifest(), &self.options.include)?;
            target.check_conflicts(plan.iter().filter_map(|p| p.path.as_deref()))?;
            let staging = target.staging()?;
            let files = self
                .extract_layers(archive, &plan, staging.path(), set)
                .map_err(|e| as_written_to(e, staging.path(), output_dir))?;
            target.publish(staging, &files)?;
            files
        };
        Ok(UnpackReport {
            output: output_dir.to_owned(),
            config,
            manifest_digest: archive.manifest_digest().clone(),
            files,
            layout: self.options.layout,
        })
    }

    /// Verifies every layer blob: `(digest, matches)` per layer, as the reference does.
    ///
    /// # Errors
    ///
    /// Those of [`Archive::open`] and [`Self::verify`].
    pub fn verify_layers(&self, archive_path: &Path) -> Result<Vec<(Digest, bool)>> {
        let report = self.verify(archive_path)?;
        Ok(report
            .layers
            .into_iter()
            .map(|l| (l.digest, l.status.is_ok()))
            .collect())
    }

    /// Verifies the manifest, the config, every layer and the root copies.
    ///
    /// # Errors
    ///
    /// Those of [`Archive::open`], or an I/O error; mismatches are in the report.
    pub fn verify(&self, archive_path: &Path) -> Result<VerifyReport> {
        let archive = Archive::open_with(archive_path, self.options.reference.as_deref())?;
        verify(&archive, self.options.threads)
    }

    fn extract_layers(
        &self,
        archive: &Archive,
        plan: &[Planned<'_>],
        staging: &Path,
        set: PathSet,
    ) -> Result<Vec<UnpackedFile>> {
        let set = Mutex::new(set);
        let include = &self.options.include;
        let sizes: Vec<u64> = plan.iter().map(|p| p.descriptor.size).collect();
        // Descriptor sizes come from the input: their sum may not fit.
        let total = sizes.iter().fold(0u64, |sum, &s| sum.saturating_add(s));
        let reporter = Reporter::start(self.options.progress.as_ref(), "unpacking", total);
        let progress = reporter.0;
        let results = largest_first(&sizes, self.options.threads, |i| {
            if let Some(p) = progress {
                p.file(&plan[i].label);
            }
            extract_layer(archive, &plan[i], staging, &set, include, progress)
        });
        let files: Vec<UnpackedFile> = all_or_first_error(results)?.into_iter().flatten().collect();
        if files.is_empty() && !include.is_empty() {
            return Err(Error::NothingIncluded {
                patterns: include.clone(),
            });
        }
        Ok(files)
    }
}

/// How a layer holds its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// The blob is the file (ModelPack `.raw`, ORAS).
    Raw,
    /// A tar holding exactly the one file its title names (modeloci, the reference).
    OneFile(LayerEncoding),
    /// A tar of any number of files and directories, each checked (KitOps, ModelPack tars,
    /// ORAS directories).
    Tree(LayerEncoding),
}

/// A layer to extract, checked.
struct Planned<'a> {
    descriptor: &'a Descriptor,
    form: Form,
    /// The file's path, for [`Form::Raw`] and [`Form::OneFile`].
    path: Option<String>,
    /// What to call the layer in messages.
    label: String,
    /// Mode 0755 for a raw file whose metadata says it is executable.
    executable: bool,
}

/// The path a layer's annotations give it: ModelPack's file path, else the title.
fn layer_path(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations
        .get(modeloci_spec::annotations::MODELPACK_FILEPATH)
        .map(String::as_str)
        .or_else(|| descriptor.title())
}

/// Whether ModelPack file metadata marks the file executable.
fn metadata_executable(descriptor: &Descriptor) -> bool {
    descriptor
        .annotations
        .get(modeloci_spec::annotations::MODELPACK_FILE_METADATA)
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .and_then(|m| m.get("mode").and_then(serde_json::Value::as_u64))
        .is_some_and(|mode| mode & 0o111 != 0)
}

/// Every layer of `manifest` checked as unpack checks it before writing anything, and the
/// path set of the files they name. Paths inside tree layers are checked as they are
/// extracted.
///
/// Refused: a layer type this tool cannot unpack, a one-file or raw layer without a path, a
/// path the policy refuses ([`check_relative_path`], duplicates, case and file/directory
/// collisions), a blob shared by two layers unless both are raw (two identical files, as
/// modctl stores them), and a layer blob that is also the config blob (except for the empty
/// config ORAS writes, `{}`).
fn plan_manifest(manifest: &OciManifest) -> Result<(Vec<Planned<'_>>, PathSet)> {
    // modeloci's own archives and the reference's hold one file per layer tar, named by the
    // title; anything else is held to the rule. Other tools' tars may hold whole trees.
    let strict = matches!(
        manifest.config.media_type,
        MediaType::ModelociConfig | MediaType::ImageConfig
    );
    let mut set = PathSet::new();
    let mut plan: Vec<Planned<'_>> = Vec::with_capacity(manifest.layers.len());
    let mut by_digest: HashMap<&Digest, usize> = HashMap::new();
    for (i, descriptor) in manifest.layers.iter().enumerate() {
        let path = layer_path(descriptor);
        let label = path.map_or_else(|| format!("#{i}"), str::to_owned);
        let unsupported = || Error::UnsupportedLayer {
            title: label.clone(),
            media_type: descriptor.media_type.clone(),
        };
        let form = match descriptor.media_type.layer_encoding() {
            Some(LayerEncoding::Raw) => Form::Raw,
            Some(e) if strict => Form::OneFile(e),
            Some(e) => Form::Tree(e),
            // ORAS names a file by its title, whatever its media type.
            None if !strict && path.is_some() => Form::Raw,
            None => return Err(unsupported()),
        };
        let path = if let Form::Tree(_) = form {
            None
        } else {
            let path = path.ok_or_else(|| Error::BadLayer {
                title: label.clone(),
                reason: format!(
                    "layer {} has no {} annotation",
                    descriptor.digest,
                    modeloci_spec::annotations::TITLE
                ),
            })?;
            let refused = |refusal| Error::UnsafeEntry {
                entry: path.to_owned(),
                refusal,
            };
            check_relative_path(path).map_err(refused)?;
            set.insert(path).map_err(refused)?;
            Some(path.to_owned())
        };
        if descriptor.digest == manifest.config.digest
            && manifest.config.media_type != MediaType::Empty
        {
            return Err(Error::BadLayer {
                title: label,
                reason: format!("its blob {} is the config blob", descriptor.digest),
            });
        }
        if let Some(&first) = by_digest.get(&descriptor.digest) {
            // A raw layer is its file: two identical files may share a blob. A layer tar
            // holds its own paths, so a second copy could only collide with the first.
            if form != Form::Raw || plan[first].form != Form::Raw {
                return Err(Error::BadLayer {
                    title: label,
                    reason: format!(
                        "its blob {} is also layer {:?}'s; only raw layers may share a blob",
                        descriptor.digest, plan[first].label
                    ),
                });
            }
        } else {
            by_digest.insert(&descriptor.digest, i);
        }
        let executable = form == Form::Raw && metadata_executable(descriptor);
        plan.push(Planned {
            descriptor,
            form,
            path,
            label,
            executable,
        });
    }
    Ok((plan, set))
}

/// Whether unpack with these `--include` patterns needs the layer: one-file and raw layers
/// by the path unpack writes, tree layers always (their paths are known only once read).
fn selected(planned: &Planned<'_>, include: &[String]) -> bool {
    match &planned.path {
        Some(path) => include.is_empty() || include.iter().any(|p| glob_match(p, path)),
        None => true,
    }
}

/// The layers of `manifest` that unpacking with the `--include` patterns `include` reads, in
/// manifest order: a one-file or raw layer when a pattern matches the path unpack writes it
/// at (ModelPack's `org.cncf.model.filepath`, else the title), a tree layer (KitOps, ModelPack
/// and ORAS directory tars) always, since its paths are known only once it is read. With no
/// pattern, every layer. Unpack selects its layers with the same code, so a pull that fetches
/// only these blobs (and the config) has all that unpack needs.
///
/// # Errors
///
/// What unpack refuses in a manifest before reading any blob: [`Error::UnsupportedLayer`],
/// [`Error::BadLayer`] (no path, a blob shared by layers or with the config),
/// [`Error::UnsafeEntry`] (a path the policy refuses, naming it).
pub fn layers_for(manifest: &OciManifest, include: &[String]) -> Result<Vec<Descriptor>> {
    let (plan, _) = plan_for(manifest, include)?;
    Ok(plan.into_iter().map(|p| p.descriptor.clone()).collect())
}

/// The checked plan of every layer, kept to those `include` selects, and the path set of all
/// of them: what unpack extracts, and what [`layers_for`] lists.
fn plan_for<'a>(
    manifest: &'a OciManifest,
    include: &[String],
) -> Result<(Vec<Planned<'a>>, PathSet)> {
    let (mut plan, set) = plan_manifest(manifest)?;
    plan.retain(|p| selected(p, include));
    Ok((plan, set))
}

/// What unpack checks in an opened archive before writing anything, beyond its outer
/// entries: the layers ([`plan_manifest`]), and that no index entry names a layer or config
/// blob as if it were a manifest.
pub(crate) fn check_manifest(archive: &Archive) -> Result<()> {
    let manifest = archive.manifest();
    let (plan, _) = plan_manifest(manifest)?;
    let bad = |reason: String| Error::BadManifest {
        digest: archive.manifest_digest().clone(),
        reason,
    };
    // (A descriptor cannot name the manifest's own blob: its digest would be a fixed point
    // of SHA-256.)
    for entry in archive.index().map_or(&[][..], |i| i.manifests.as_slice()) {
        if let Some(layer) = plan.iter().find(|p| p.descriptor.digest == entry.digest) {
            return Err(bad(format!(
                "index.json entry {} names the blob of layer {:?}",
                entry.digest, layer.label
            )));
        }
        if entry.digest == manifest.config.digest {
            return Err(bad(format!(
                "index.json entry {} names the config blob",
                entry.digest
            )));
        }
    }
    Ok(())
}

fn layer_tar_error(err: TarError, title: &str) -> Error {
    let bad = |reason: String| Error::BadLayer {
        title: title.to_owned(),
        reason,
    };
    match err {
        TarError::Malformed { reason, .. } if reason == crate::tarfile::reader::TRAILING_DATA => {
            bad("decompressed data larger than the tar header declares".into())
        }
        TarError::Malformed { reason, .. } | TarError::Truncated { reason, .. } => bad(reason),
        TarError::Refused { entry, refusal } => Error::UnsafeEntry { entry, refusal },
        TarError::Io(e) => bad(format!("cannot read the layer tar: {e}")),
    }
}

/// An I/O error on a staged file, told as of the file the user asked for: `out/weights.bin`,
/// not `.out.modeloci-tmp-123-4567/weights.bin` (which is gone by the time they read it).
fn as_written_to(err: Error, staging: &Path, output_dir: &Path) -> Error {
    match err {
        Error::Io { path, source } if path.starts_with(staging) => Error::Io {
            path: output_dir.join(path.strip_prefix(staging).unwrap_or(&path)),
            source,
        },
        other => other,
    }
}

/// Extracts one layer's file(s) into `staging`, verifying the blob as it streams.
fn extract_layer(
    archive: &Archive,
    planned: &Planned<'_>,
    staging: &Path,
    set: &Mutex<PathSet>,
    include: &[String],
    progress: Option<&dyn Progress>,
) -> Result<Vec<UnpackedFile>> {
    let label = planned.label.as_str();
    let what = format!("layer {label}");
    let mut blob = Counting::new(archive.verified_blob(planned.descriptor, &what)?, progress);
    let written = (|| -> Result<Vec<UnpackedFile>> {
        let encoding = match planned.form {
            Form::Raw => {
                let path = planned.path.as_deref().expect("raw layers have a path");
                let dest = staging.join(path);
                let size =
                    write_staged(&dest, &mut blob, planned.executable).map_err(|e| match e {
                        StageError::Read(e) => {
                            blob_error(e, &what, &planned.descriptor.digest, archive.path())
                        }
                        StageError::Write(e) => Error::Io {
                            path: dest.clone(),
                            source: e,
                        },
                    })?;
                return Ok(vec![UnpackedFile {
                    path: path.to_owned(),
                    size,
                    executable: planned.executable,
                }]);
            }
            Form::OneFile(e) | Form::Tree(e) => e,
        };
        let decoded = decoder(encoding, &mut blob).map_err(|e| Error::BadLayer {
            title: label.to_owned(),
            reason: format!("cannot decode: {e}"),
        })?;
        let mut tar = TarReader::new(Stream(decoded));
        let tar_err = |e| layer_tar_error(e, label);
        let mut files = Vec::new();
        let mut first = true;
        while let Some(entry) = tar.next_entry().map_err(tar_err)? {
            if let Some(refusal) = entry.kind.refusal() {
                return Err(Error::UnsafeEntry {
                    entry: entry.name,
                    refusal,
                });
            }
            let name = normalize_name(&entry.name);
            if planned.form == Form::Tree(encoding) && name.is_empty() {
                continue; // the tree's root directory
            }
            check_relative_path(name).map_err(|refusal| Error::UnsafeEntry {
                entry: entry.name.clone(),
                refusal,
            })?;
            if let Form::OneFile(_) = planned.form {
                let title = planned
                    .path
                    .as_deref()
                    .expect("one-file layers have a path");
                if !first {
                    return Err(Error::BadLayer {
                        title: title.to_owned(),
                        reason: format!(
                            "the layer tar holds more than one entry ({:?} follows)",
                            entry.name
                        ),
                    });
                }
                if entry.kind == EntryKind::Dir || name != title {
                    return Err(Error::BadLayer {
                        title: title.to_owned(),
                        reason: format!(
                            "the layer tar holds {:?}, not the file its title names",
                            entry.name
                        ),
                    });
                }
            } else {
                let mut set = set.lock().expect("no panics holding it");
                let inserted = if entry.kind == EntryKind::Dir {
                    set.insert_dir(name)
                } else {
                    set.insert(name)
                };
                inserted.map_err(|refusal| Error::UnsafeEntry {
                    entry: entry.name.clone(),
                    refusal,
                })?;
            }
            first = false;
            let dest = staging.join(name);
            if entry.kind == EntryKind::Dir {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&dest)
                    .map_err(Error::io(&dest))?;
                continue;
            }
            if matches!(planned.form, Form::Tree(_))
                && !include.is_empty()
                && !include.iter().any(|p| glob_match(p, name))
            {
                continue;
            }
            let executable = entry.mode & 0o111 != 0;
            let size =
                write_staged(&dest, &mut EntryData(&mut tar), executable).map_err(|e| match e {
                    StageError::Read(e) => tar_err(TarError::Io(e)),
                    StageError::Write(e) => Error::Io {
                        path: dest.clone(),
                        source: e,
                    },
                })?;
            files.push(UnpackedFile {
                path: name.to_owned(),
                size,
                executable,
            });
        }
        if first {
            return Err(Error::BadLayer {
                title: label.to_owned(),
                reason: "the layer tar holds no entry".into(),
            });
        }
        tar.finish(MAX_TRAILING_ZEROS).map_err(tar_err)?;
        Ok(files)
    })();
    // The rest of the blob is hashed whatever happened: a corrupt blob explains a broken
    // layer better than a decompressor's complaint does. Bytes the decoder consumed were
    // hashed on the way, so this completes the digest of the whole blob.
    let verified = io::copy(&mut blob, &mut io::sink())
        .map(drop)
        .map_err(|e| blob_error(e, &what, &planned.descriptor.digest, archive.path()));
    match (written, verified) {
        (_, Err(mismatch)) => Err(mismatch),
        (Err(e), Ok(())) => Err(e),
        (Ok(files), Ok(())) => {
            debug_assert!(blob.inner.is_verified());
            Ok(files)
        }
    }
}

enum StageError {
    Read(io::Error),
    Write(io::Error),
}

/// Writes a new file (never through an existing one) from `data`, with mode 0644 or 0755.
fn write_staged(
    dest: &Path,
    data: &mut dyn Read,
    executable: bool,
) -> std::result::Result<u64, StageError> {
    if let Some(parent) = dest.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(StageError::Write)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(StageError::Write)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StageError::Read(e)),
        };
        file.write_all(&buf[..n]).map_err(StageError::Write)?;
        total += n as u64;
    }
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(StageError::Write)?;
    Ok(total)
}

/// Extracts the outer tar's entries as they are, after the same checks.
fn extract_layout(archive: &Archive, staging: &Path) -> Result<Vec<UnpackedFile>> {
    if let Some(dir) = archive.layout_dir() {
        return Err(Error::AlreadyALayout {
            path: dir.to_owned(),
        });
    }
    // The checks of `Archive::check_layout`, which ran already, once more as each entry is
    // written: directories are in the path set too, and under `blobs/` only blobs named by
    // their digest.
    let mut set = PathSet::new();
    let mut files = Vec::new();
    for entry in archive.tar_entries() {
        let blob_digest = check_outer_entry(entry, &mut set)?;
        let dest = staging.join(&entry.name);
        if entry.kind == EntryKind::Dir {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&dest)
                .map_err(Error::io(&dest))?;
            continue;
        }
        let mut reader = archive.tar_entry_reader(entry).expect("a tar archive");
        let mut hashing = DigestWriter::with_algorithm(
            io::sink(),
            blob_digest
                .as_ref()
                .map_or(modeloci_spec::Algorithm::Sha256, Digest::algorithm),
        );
        let mut tee = Tee {
            inner: &mut reader,
            hash: &mut hashing,
        };
        let size = write_staged(&dest, &mut tee, false).map_err(|e| match e {
            StageError::Read(e) => Error::Io {
                path: archive.path().to_owned(),
                source: e,
            },
            StageError::Write(e) => Error::Io {
                path: dest.clone(),
                source: e,
            },
        })?;
        if let Some(expected) = blob_digest {
            let (_, actual) = hashing.finish();
            if actual.digest != expected {
                return Err(misnamed_blob(&entry.name, expected, actual.digest));
            }
        }
        files.push(UnpackedFile {
            path: entry.name.clone(),
            size,
            executable: false,
        });
    }
    Ok(files)
}

/// Copies what is read into a hasher.
struct Tee<'a, R, W> {
    inner: &'a mut R,
    hash: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The output directory, and how files get there.
struct Target {
    path: PathBuf,
    /// The directory holds files already: stage inside it and move files one by one.
    overlay: bool,
    /// Directories this run created above the target, removed again on failure.
    created_parents: Vec<PathBuf>,
}

impl Target {
    fn prepare(path: &Path, force: bool) -> Result<Self> {
        let overlay = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut entries = fs::read_dir(path).map_err(Error::io(path))?;
                let empty = entries.next().is_none();
                if !empty && !force {
                    return Err(Error::TargetNotEmpty {
                        path: path.to_owned(),
                    });
                }
                !empty
            }
            Ok(meta) if meta.file_type().is_symlink() && path.is_dir() => {
                return Err(Error::TargetConflict {
                    path: path.to_owned(),
                    reason: "it is a symbolic link; give the directory it points to".into(),
                });
            }
            Ok(_) => {
                return Err(Error::TargetConflict {
                    path: path.to_owned(),
                    reason: "it exists and is not a directory".into(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source: e,
                });
            }
        };
        let mut created_parents = Vec::new();
        if !overlay {
            let mut missing = Vec::new();
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                missing.push(d.to_owned());
                dir = d.parent();
            }
            for d in missing.iter().rev() {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(d)
                    .map_err(Error::io(d))?;
            }
            created_parents = missing;
        }
        Ok(Self {
            path: path.to_owned(),
            overlay,
            created_parents,
        })
    }

    fn staging(&self) -> Result<TempDir> {
        let staged = if self.overlay {
            TempDir::inside(&self.path)
        } else {
            TempDir::beside(&self.path)
        };
        staged.map_err(Error::io(&self.path))
    }

    /// In overlay mode, refuses paths that would replace a directory or write through a
    /// symlink or a file in the target.
    fn check_conflicts<'a>(&self, paths: impl Iterator<Item = &'a str>) -> Result<()> {
        if !self.overlay {
            return Ok(());
        }
        for rel in paths {
            let mut at = self.path.clone();
            let parts: Vec<&str> = rel.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                at.push(part);
                let last = i + 1 == parts.len();
                match fs::symlink_metadata(&at) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) => {
                        return Err(Error::Io {
                            path: at,
                            source: e,
                        });
                    }
                    Ok(meta) if last && meta.is_dir() => {
                        return Err(Error::TargetConflict {
                            path: at,
                            reason: "a directory is in the way".into(),
                        });
                    }
                    Ok(meta) if !last && meta.file_type().is_symlink() => {
                        return Err(Error::TargetConflict {
                            path: at,
                            reason: "it is a symbolic link; refusing to write through it".into(),
                        });
                    }
                    Ok(meta) if !last && !meta.is_dir() => {
                        return Err(Error::TargetConflict {
                            path: at,
                            reason: "a file is where a directory must be".into(),
                        });
                    }
                    Ok(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Moves the staged files into place.
    fn publish(mut self, staging: TempDir, files: &[UnpackedFile]) -> Result<()> {
        if !self.overlay {
            fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o755))
                .map_err(Error::io(staging.path()))?;
            staging.persist(&self.path).map_err(Error::io(&self.path))?;
            self.created_parents.clear();
            return Ok(());
        }
        self.check_conflicts(files.iter().map(|f| f.path.as_str()))?;
        for file in files {
            let dest = self.path.join(&file.path);
            if let Some(parent) = dest.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(Error::io(parent))?;
            }
            fs::rename(staging.path().join(&file.path), &dest).map_err(Error::io(&dest))?;
        }
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // Reached with parents still listed only when publishing did not happen.
        for dir in &self.created_parents {
            let _ = fs::remove_dir(dir);
        }
    }
}
