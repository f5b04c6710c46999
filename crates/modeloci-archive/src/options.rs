//! Options for packing and unpacking.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use modeloci_spec::Digest;

use crate::codec::compress::Codec;
use crate::error::{Error, Result};
use crate::progress::ProgressHandle;

/// How layers are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// gzip (`tar+gzip` layers): the reference implementation's format, and the default.
    #[default]
    Gzip,
    /// zstd (`tar+zstd` layers): several times faster than gzip at a similar ratio.
    Zstd,
    /// No compression (`tar` layers): the fastest; model weights barely compress.
    None,
    /// Per file: gzip when a sample of the file compresses well, else none.
    Auto,
}

impl Compression {
    /// The name used on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::None => "none",
            Self::Auto => "auto",
        }
    }
}

impl FromStr for Compression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "gzip" => Self::Gzip,
            "zstd" => Self::Zstd,
            "none" => Self::None,
            "auto" => Self::Auto,
            other => {
                return Err(Error::InvalidOption(format!(
                    "unknown compression {other:?} (expected gzip, zstd, none or auto)"
                )));
            }
        })
    }
}

/// Which kind of artifact to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// modeloci's own (`application/vnd.modeloci.model.v1`): the reference's config, OCI
    /// image layer types, one tar per file.
    #[default]
    Modeloci,
    /// CNCF ModelPack (`application/vnd.cncf.model.manifest.v1+json`): a ModelPack config,
    /// layers typed by kind, weights as raw blobs.
    ModelPack,
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "modeloci" => Ok(Self::Modeloci),
            "modelpack" => Ok(Self::ModelPack),
            other => Err(Error::InvalidOption(format!(
                "unknown format {other:?} (expected modeloci or modelpack)"
            ))),
        }
    }
}

/// The default gzip level: 1, fast, and with the miniz_oxide backend it does not expand
/// float weights. Without an explicit level, files where LZ matching gains under 2 % (model
/// weights) are coded literals-only instead, several times faster for the same size.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;
/// The default zstd level: 1. On bf16 weights it saves what level 3 saves (ratio 0.7797
/// against 0.7799) in less time, and on tokenizer JSON it did no worse.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// Options for [`crate::ModelPackager`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PackOptions {
    /// How layers are compressed.
    pub compression: Compression,
    /// The compression level: 0-9 for gzip, 1-19 for zstd; `None` for the default.
    pub level: Option<i32>,
    /// Where the archive goes; by default `<parent of model dir>/<name>-<version>.tar`.
    pub output: Option<PathBuf>,
    /// The `org.opencontainers.image.created` annotation (RFC 3339), when the user asks for one.
    pub created: Option<String>,
    /// The modification time written into every tar header: 0, or `SOURCE_DATE_EPOCH`.
    pub mtime: u64,
    /// Worker threads for compression and hashing.
    pub threads: usize,
    /// The kind of artifact.
    pub format: Format,
    /// ModelPack: store weight files as raw blobs (the file itself) rather than compressed
    /// tars. On by default; off when the user asks for a compression.
    pub raw_weights: bool,
    /// ModelPack: paths (glob patterns) that hold data sets.
    pub datasets: Vec<String>,
    /// Where to report progress.
    pub progress: Option<ProgressHandle>,
    /// Paths to leave out, in gitignore syntax, besides those `.modelociignore` names.
    pub exclude: Vec<String>,
    /// What to do with symbolic links.
    pub symlinks: Symlinks,
    /// The archive's reference name (`org.opencontainers.image.ref.name` in `index.json`, the
    /// tag a push sets by default); by default the model's version, which must then be a
    /// valid tag.
    pub tag: Option<String>,
    /// The digest cache file: layers remembered by file identity (device, inode, size,
    /// modification and change times) and the options that shape the blob, so that an
    /// unchanged file's blob is taken from where it already is (the registry, the archive
    /// being rebuilt) without reading the file. `None`, the default, remembers nothing.
    pub digest_cache: Option<PathBuf>,
    /// With a Hugging Face cache's repository folder (`models--<org>--<name>`) as the model
    /// directory: the branch, tag or commit (40 hex digits, or the first 7 or more) whose
    /// snapshot is packed. `None` packs the snapshot `refs/main` names; a revision for a
    /// directory that is not such a folder is an error.
    pub revision: Option<String>,
    /// Whether the config's `framework` is replaced by the one the weights' format names
    /// ([`crate::ModelFacts::framework`]), when they name one. Off by default: the config
    /// is written as given.
    pub framework_from_facts: bool,
    /// Whether the config's `architecture` is replaced by the one the weights name
    /// ([`crate::ModelFacts::architecture`]), when they name one. Off by default.
    pub architecture_from_facts: bool,
}

/// What packing does with a symbolic link in the model directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Symlinks {
    /// Pack the target's content as a regular file at the link's path (a Hugging Face cache
    /// snapshot, all links into `../../blobs/`, packs as files). A dangling link or a loop
    /// is an error.
    #[default]
    Follow,
    /// Leave links out.
    Skip,
    /// Refuse to pack a model with links.
    Error,
}

impl FromStr for Symlinks {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "follow" => Ok(Self::Follow),
            "skip" => Ok(Self::Skip),
            "error" => Ok(Self::Error),
            other => Err(Error::InvalidOption(format!(
                "symlinks must be follow, skip or error, not {other:?}"
            ))),
        }
    }
}

impl Default for PackOptions {
    fn default() -> Self {
        Self {
            format: Format::default(),
            raw_weights: true,
            datasets: Vec::new(),
            progress: None,
            exclude: Vec::new(),
            symlinks: Symlinks::default(),
            tag: None,
            digest_cache: None,
            revision: None,
            compression: Compression::default(),
            level: None,
            output: None,
            created: None,
            mtime: 0,
            threads: default_threads(),
            framework_from_facts: false,
            architecture_from_facts: false,
        }
    }
}

impl PackOptions {
    /// Sets the compression.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the compression level.
    pub fn with_level(mut self, level: i32) -> Self {
        self.level = Some(level);
        self
    }

    /// Sets the output path.
    pub fn with_output(mut self, output: impl Into<PathBuf>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Sets the creation time annotation (RFC 3339).
    pub fn with_created(mut self, created: impl Into<String>) -> Self {
        self.created = Some(created.into());
        self
    }

    /// Uses `epoch` (seconds since 1970, as in `SOURCE_DATE_EPOCH`) for tar header times and
    /// the creation annotation.
    pub fn with_source_date_epoch(mut self, epoch: u64) -> Self {
        self.mtime = epoch;
        self.created = Some(rfc3339(epoch));
        self
    }

    /// Sets the number of worker threads (at least 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Sets the artifact format.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// ModelPack: whether weights are raw blobs.
    pub fn with_raw_weights(mut self, raw: bool) -> Self {
        self.raw_weights = raw;
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Option<ProgressHandle>) -> Self {
        self.progress = progress;
        self
    }

    /// Leaves out paths matching `patterns` (gitignore syntax, as lines of
    /// `.modelociignore`).
    pub fn with_exclude(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.exclude = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets what happens to symbolic links.
    pub fn with_symlinks(mut self, symlinks: Symlinks) -> Self {
        self.symlinks = symlinks;
        self
    }

    /// Names the archive's reference (a tag) instead of the model's version.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Remembers layer digests in this file (see [`Self::digest_cache`]); `None` for none.
    pub fn with_digest_cache(mut self, path: Option<PathBuf>) -> Self {
        self.digest_cache = path;
        self
    }

    /// ModelPack: paths that hold data sets.
    pub fn with_datasets(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.datasets = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Packs the snapshot `revision` names (see [`Self::revision`]).
    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// Whether the config's framework is taken from the weights when they name one (see
    /// [`Self::framework_from_facts`]).
    pub fn with_framework_from_facts(mut self, from_facts: bool) -> Self {
        self.framework_from_facts = from_facts;
        self
    }

    /// Whether the config's architecture is taken from the weights when they name one (see
    /// [`Self::architecture_from_facts`]).
    pub fn with_architecture_from_facts(mut self, from_facts: bool) -> Self {
        self.architecture_from_facts = from_facts;
        self
    }

    /// The codec for a layer, given whether the file compresses (for [`Compression::Auto`])
    /// and whether it suits literals-only gzip (weights; only without an explicit level).
    pub(crate) fn codec(
        &self,
        compressible: impl FnOnce() -> bool,
        suits_literals: impl FnOnce() -> bool,
    ) -> Result<Codec> {
        let gzip = |level: Option<i32>| -> Result<Codec> {
            let literals = level.is_none() && suits_literals();
            let level = level.unwrap_or(DEFAULT_GZIP_LEVEL as i32);
            u32::try_from(level)
                .ok()
                .filter(|l| *l <= 9)
                .map(|level| Codec::Gzip { level, literals })
                .ok_or_else(|| Error::InvalidOption(format!("gzip level {level} is not in 0-9")))
        };
        match self.compression {
            Compression::Gzip => gzip(self.level),
            Compression::None => Ok(Codec::Identity),
            Compression::Zstd => {
                let level = self.level.unwrap_or(DEFAULT_ZSTD_LEVEL);
                if (1..=19).contains(&level) {
                    Ok(Codec::Zstd { level })
                } else {
                    Err(Error::InvalidOption(format!(
                        "zstd level {level} is not in 1-19"
                    )))
                }
            }
            Compression::Auto => {
                let codec = gzip(self.level)?;
                Ok(if compressible() {
                    codec
                } else {
                    Codec::Identity
                })
            }
        }
    }

    /// Checks the options before any work starts.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a level out of range.
    pub fn validate(&self) -> Result<()> {
        self.codec(|| true, || false).map(|_| ())
    }
}

/// Options for [`crate::ModelUnpackager`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UnpackOptions {
    /// Extract the archive's OCI image layout as it is, instead of the model's files.
    pub layout: bool,
    /// Write into a directory that already holds files, replacing those the archive has.
    pub force: bool,
    /// Choose the manifest with this `org.opencontainers.image.ref.name` when the index has
    /// several.
    pub reference: Option<String>,
    /// Restore only the files whose paths match one of these patterns (see
    /// [`crate::glob_match`]); all files when empty.
    pub include: Vec<String>,
    /// Worker threads.
    pub threads: usize,
    /// Where to report progress.
    pub progress: Option<ProgressHandle>,
    /// Called with the files staged (and hashed) before any is published into the target.
    pub check: Option<UnpackCheck>,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        Self {
            layout: false,
            force: false,
            reference: None,
            include: Vec::new(),
            threads: default_threads(),
            progress: None,
            check: None,
        }
    }
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
    /// The SHA-256 of the bytes written, hashed as they were written.
    pub digest: Digest,
}

/// The error a check of unpacked files returns: any error, kept as the source of
/// [`Error::CheckFailed`].
pub type CheckError = Box<dyn std::error::Error + Send + Sync>;

/// A check of the files unpack staged, run before any is published into the target: an
/// `Err` leaves the target as it was ([`Error::CheckFailed`]).
pub type CheckFn = dyn Fn(&[UnpackedFile]) -> std::result::Result<(), CheckError> + Send + Sync;

/// [`UnpackOptions::check`]: a shared [`CheckFn`].
#[derive(Clone)]
pub struct UnpackCheck(pub Arc<CheckFn>);

impl std::fmt::Debug for UnpackCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnpackCheck")
    }
}

impl UnpackOptions {
    /// Extracts the OCI layout instead of the model.
    pub fn with_layout(mut self, layout: bool) -> Self {
        self.layout = layout;
        self
    }

    /// Allows writing into a non-empty directory.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Chooses a manifest by reference name.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Option<ProgressHandle>) -> Self {
        self.progress = progress;
        self
    }

    /// Restores only files whose paths match one of `patterns`.
    pub fn with_include(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.include = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the number of worker threads (at least 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Runs `check` on the files staged, each with its size and SHA-256, before any is
    /// published into the target; an `Err` becomes [`Error::CheckFailed`] and nothing lands.
    /// With include patterns, the check sees only the files extracted.
    pub fn with_check(mut self, check: Arc<CheckFn>) -> Self {
        self.check = Some(UnpackCheck(check));
        self
    }
}

/// Options for [`crate::ModelPackager::add`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AddOptions {
    /// The file's path in the model; by default its file name.
    pub path_in_model: Option<String>,
    /// Replace a file the model already has at that path.
    pub force: bool,
    /// The compression of the new layer; by default that of the archive's existing layers.
    pub compression: Option<Compression>,
    /// Drop the referrers (signatures) the archive holds, which would no longer match its
    /// files; without it, `add` to an archive with referrers is refused.
    pub drop_referrers: bool,
}

impl AddOptions {
    /// Sets the path in the model.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path_in_model = Some(path.into());
        self
    }

    /// Allows replacing an existing file.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets the compression of the new layer.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Allows dropping the archive's referrers (signatures).
    pub fn with_drop_referrers(mut self, drop: bool) -> Self {
        self.drop_referrers = drop;
        self
    }
}

/// The number of threads to use by default: the cores this process may run on.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Formats seconds since 1970 as RFC 3339 UTC (`2024-06-20T20:16:57Z`).
pub fn rfc3339(epoch: u64) -> String {
    let days = epoch / 86_400;
    let secs = epoch % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_718_914_617), "2024-06-20T20:16:57Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn levels_are_checked() {
        let opts = |c, l| PackOptions::default().with_compression(c).with_level(l);
        let gzip = |level, literals| Codec::Gzip { level, literals };
        assert_eq!(
            opts(Compression::Gzip, 9).codec(|| true, || true).unwrap(),
            gzip(9, false)
        );
        let default = PackOptions::default();
        assert_eq!(default.codec(|| true, || true).unwrap(), gzip(1, true));
        assert_eq!(default.codec(|| true, || false).unwrap(), gzip(1, false));
        assert_eq!(
            opts(Compression::Gzip, 10)
                .validate()
                .unwrap_err()
                .to_string(),
            "gzip level 10 is not in 0-9"
        );
        assert_eq!(
            opts(Compression::Zstd, 0)
                .validate()
                .unwrap_err()
                .to_string(),
            "zstd level 0 is not in 1-19"
        );
        assert_eq!(
            opts(Compression::Auto, 6).codec(|| false, || true).unwrap(),
            Codec::Identity
        );
        assert_eq!(
            "zip".parse::<Compression>().unwrap_err().to_string(),
            "unknown compression \"zip\" (expected gzip, zstd, none or auto)"
        );
    }
}
