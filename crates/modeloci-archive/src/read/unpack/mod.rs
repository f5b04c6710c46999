//! Restoring a model (or an archive's OCI layout) from an archive.
//!
//! Nothing reaches the target before every check passed: all paths are checked up front,
//! each layer is extracted into a private staging directory while its blob digest is
//! computed, and files move to the target only once every blob verified. On any failure the
//! staging directory is removed and the target is as it was.
//!
//! - `plan`: the manifest's layers checked and chosen before anything is read.
//! - `layer`: one layer extracted into the staging directory, per layer form.
//! - `layout`: `--layout`, the outer tar's entries as they are.
//! - `stream`: the layers read from anywhere (a registry's answers), not from an archive.
//! - `target`: the output directory, its staging directory and publishing into it.

mod layer;
mod layout;
mod plan;
mod stream;
mod target;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use modeloci_digest::{all_or_first_error, largest_first};
use modeloci_spec::{Digest, OciConfig, OciManifest};

use crate::atomic::space;
use crate::entry_policy::PathSet;
use crate::error::{Error, Result};
use crate::options::UnpackOptions;
use crate::progress::Reporter;
use crate::read::archive::Archive;
use crate::read::verify::{VerifyReport, verify};

use layer::{Out, extract_layer};
use layout::extract_layout;
pub(crate) use plan::check_manifest;
pub use plan::{FileDigest, layers_for, recorded_file_digests};
use plan::{Planned, plan_for};
pub use stream::BlobOpener;
use target::{Target, as_written_to};

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

pub use crate::options::UnpackedFile;

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
    /// The manifest (its annotations hold the facts pack detected).
    pub manifest: OciManifest,
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
        let layers = layers_for(archive.manifest(), &self.options.include)?;
        space::check_unpack(output_dir, archive.manifest(), &layers, self.options.layout)?;
        let target = Target::prepare(output_dir, self.options.force)?;
        let files = if self.options.layout {
            let staging = target.staging()?;
            let files = extract_layout(archive, staging.path())
                .map_err(|e| as_written_to(e, staging.path(), output_dir))?;
            self.check(&files)?;
            target.publish(staging, &files)?;
            files
        } else {
            let (plan, set) = plan_for(archive.manifest(), &self.options.include)?;
            target.check_conflicts(plan.iter().filter_map(|p| p.path.as_deref()))?;
            let staging = target.staging()?;
            let out = Out::Stage(staging.path());
            let files = self
                .extract_layers(&plan, set, |planned, set, include, progress| {
                    extract_layer(archive, planned, out, set, include, progress)
                })
                .map_err(|e| as_written_to(e, staging.path(), output_dir))?;
            self.check(&files)?;
            target.publish(staging, &files)?;
            files
        };
        Ok(UnpackReport {
            output: output_dir.to_owned(),
            config,
            manifest_digest: archive.manifest_digest().clone(),
            manifest: archive.manifest().clone(),
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

    /// The SHA-256 of each file's content, hashed by reading every layer as unpack does
    /// (the same checks and refusals, each blob verified against its digest, layers in
    /// parallel), writing nothing. Include patterns select files as for unpack. No
    /// annotation is trusted: this is what the bytes say.
    ///
    /// # Errors
    ///
    /// As [`Self::extract_from`], but never about a target.
    pub fn file_digests(&self, archive: &Archive) -> Result<Vec<FileDigest>> {
        archive.check_layout()?;
        let (plan, set) = plan_for(archive.manifest(), &self.options.include)?;
        let files = self.extract_layers(&plan, set, |planned, set, include, progress| {
            extract_layer(archive, planned, Out::Hash, set, include, progress)
        })?;
        Ok(files
            .into_iter()
            .map(|f| FileDigest {
                path: f.path,
                digest: f.digest,
            })
            .collect())
    }

    /// Runs the options' check on the staged files.
    fn check(&self, files: &[UnpackedFile]) -> Result<()> {
        match &self.options.check {
            Some(check) => (check.0)(files).map_err(|source| Error::CheckFailed { source }),
            None => Ok(()),
        }
    }

    /// Extracts the layers of `plan` with `extract`, the largest first, in parallel.
    fn extract_layers<'p>(
        &self,
        plan: &[Planned<'p>],
        set: PathSet,
        extract: impl Fn(
            &Planned<'p>,
            &Mutex<PathSet>,
            &[String],
            Option<&dyn crate::progress::Progress>,
        ) -> Result<Vec<UnpackedFile>>
        + Sync,
    ) -> Result<Vec<UnpackedFile>> {
        let set = Mutex::new(set);
        let include = &self.options.include;
        let sizes: Vec<u64> = plan.iter().map(|p| p.descriptor.size).collect();
        // Descriptor sizes come from the input: their sum may not fit.
        let total = sizes.iter().fold(0u64, |sum, &s| sum.saturating_add(s));
        let reporter = Reporter::start(self.options.progress.as_ref(), "unpacking", total);
        let progress = reporter.0;
        let results = largest_first(&sizes, self.options.threads, |i| {
            let _file = reporter.file(&plan[i].label, plan[i].descriptor.size);
            extract(&plan[i], &set, include, progress)
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
