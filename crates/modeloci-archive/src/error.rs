use std::io;
use std::path::PathBuf;

use modeloci_spec::{Digest, MediaType};
use thiserror::Error;

use crate::entry_policy::Refusal;

/// Everything that can go wrong while packing, reading, verifying, unpacking or extending an
/// archive. Each variant names the file, archive entry, layer or digest at fault. The errors
/// state facts, in terms of this crate's options; what a person should do next (which flag
/// of the command to pass, say) is for the program that shows them to decide.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The filesystem of a target has less space available than the output certainly
    /// needs (a lower bound: see [`crate::ensure_space`]). Nothing was written.
    #[error(
        "not enough space for {}: it needs at least {} ({needed} bytes), its filesystem has {} ({available} bytes) available",
        path.display(),
        human_size(*needed),
        human_size(*available)
    )]
    NoSpace {
        /// The target: the archive, the directory, or the pull's target.
        path: PathBuf,
        /// The bytes the output certainly needs.
        needed: u64,
        /// The bytes available to this user on its filesystem.
        available: u64,
    },
    /// The model directory does not exist or is not a directory.
    #[error("model directory {} does not exist or is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The model directory holds no regular file to pack.
    #[error("model directory {} holds no files to pack", path.display())]
    EmptyModel {
        /// The model directory.
        path: PathBuf,
    },
    /// A file of the model cannot be packed as it is.
    #[error("cannot pack {}: {reason}", path.display())]
    UnpackableFile {
        /// The file.
        path: PathBuf,
        /// Why: a FIFO, a dangling symlink, a name that is not UTF-8, ...
        reason: String,
    },
    /// A file changed size while it was being packed.
    #[error("{} changed while it was being packed (expected {expected} bytes)", path.display())]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// The size it had when packing began.
        expected: u64,
    },
    /// The archive is not a tar file or an OCI layout directory this tool can read.
    #[error("{}: not a model archive: {reason}", path.display())]
    NotAnArchive {
        /// The archive.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The tar structure itself is broken: a bad header checksum, a truncated entry, ...
    #[error("{}: malformed tar at byte {offset}: {reason}", archive.display())]
    MalformedTar {
        /// The archive.
        archive: PathBuf,
        /// Where the problem is.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The archive ends early: an entry's data or header is cut off, or the end-of-archive
    /// marker is missing. The most common corruption: an interrupted download or copy.
    #[error("{}: the archive is truncated at byte {offset}: {reason}", archive.display())]
    Truncated {
        /// The archive.
        archive: PathBuf,
        /// The entry cut off, or the last whole entry before the end; `None` when the
        /// archive ends before its first entry.
        entry: Option<String>,
        /// Where the data ends, or where the cut-off part begins.
        offset: u64,
        /// What is cut off, naming the entry.
        reason: String,
    },
    /// An entry of the archive, or a path in its manifest, is refused by the safety policy.
    #[error("refusing entry {entry:?}: {refusal}")]
    UnsafeEntry {
        /// The entry name or layer title as found.
        entry: String,
        /// Which rule it breaks.
        refusal: Refusal,
    },
    /// A JSON document in the archive is not valid.
    #[error("{entry}: {source}")]
    InvalidDocument {
        /// The archive entry or blob the document came from.
        entry: String,
        /// The parser's error.
        #[source]
        source: modeloci_spec::Error,
    },
    /// A document or blob that must be small declares a size beyond the cap.
    #[error("{entry} is {size} bytes, more than the {limit}-byte limit for such documents")]
    TooLarge {
        /// The entry or blob.
        entry: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The index does not lead to exactly one manifest.
    #[error("{}: {reason}", archive.display())]
    AmbiguousIndex {
        /// The archive.
        archive: PathBuf,
        /// How many manifests, and which refs exist.
        reason: String,
    },
    /// A blob the manifest names is not in the archive.
    #[error("{what} blob {digest} is missing from the archive")]
    MissingBlob {
        /// What the blob is: `manifest`, `config`, `layer model.safetensors`.
        what: String,
        /// Its digest.
        digest: Digest,
    },
    /// A blob's content does not match its descriptor.
    #[error("{what} blob {digest}: {source}")]
    BlobMismatch {
        /// What the blob is: `manifest`, `config`, `layer model.safetensors`.
        what: String,
        /// The digest it should have.
        digest: Digest,
        /// The size or digest difference.
        #[source]
        source: modeloci_digest::Error,
    },
    /// The manifest, its config descriptor or the index name blobs inconsistently: the
    /// manifest's own blob, or one blob in two roles.
    #[error("manifest {digest}: {reason}")]
    BadManifest {
        /// The manifest's digest.
        digest: Digest,
        /// What is wrong, naming the descriptor.
        reason: String,
    },
    /// A layer's content is not what its descriptor says it is.
    #[error("layer {title:?}: {reason}")]
    BadLayer {
        /// The layer's title.
        title: String,
        /// What is wrong: more than one entry, a name that differs from the title, ...
        reason: String,
    },
    /// The manifest pack or add would write is larger than readers and registries accept;
    /// nothing was written.
    #[error(
        "the manifest of {layers} layers would be {bytes} bytes, over the {limit}-byte limit \
         readers and registries accept: nothing was written; pack fewer files with their own \
         layer, or shorter paths"
    )]
    ManifestTooLarge {
        /// The layers it would list.
        layers: usize,
        /// Its size, or an upper bound of it estimated before writing.
        bytes: u64,
        /// The largest manifest accepted.
        limit: u64,
    },
    /// A layer has a media type this tool cannot unpack.
    #[error("layer {title:?} has media type {media_type}, which this tool cannot unpack")]
    UnsupportedLayer {
        /// The layer's title.
        title: String,
        /// Its media type.
        media_type: MediaType,
    },
    /// The config blob is not a model config this tool understands.
    #[error("config blob has media type {media_type}, not a modeloci model config")]
    UnsupportedConfig {
        /// Its media type.
        media_type: MediaType,
    },
    /// The unpack target already holds files.
    #[error("output directory {} is not empty", path.display())]
    TargetNotEmpty {
        /// The target directory.
        path: PathBuf,
    },
    /// Unpacking with overwrite would need to replace something that is not a plain file.
    #[error("cannot write {}: {reason}", path.display())]
    TargetConflict {
        /// The path in the target.
        path: PathBuf,
        /// What is in the way.
        reason: String,
    },
    /// `add` was asked to add a path the model already has.
    #[error("the model already has {path:?}")]
    AlreadyInModel {
        /// The path in the model.
        path: String,
    },
    /// The options given do not make sense together, or one is out of range.
    #[error("{0}")]
    InvalidOption(String),
    /// One of the exclude patterns ([`crate::PackOptions::exclude`]) does not parse.
    #[error("exclude pattern {pattern:?}: {reason}")]
    InvalidExcludePattern {
        /// The pattern as given.
        pattern: String,
        /// What the pattern parser says is wrong.
        reason: String,
    },
    /// The model holds a symbolic link, and the symlink policy is [`crate::Symlinks::Error`].
    #[error("cannot pack {}: it is a symbolic link, and the symlink policy refuses links", path.display())]
    SymlinkRefused {
        /// The link.
        path: PathBuf,
    },
    /// No file of the model matches the include patterns ([`crate::UnpackOptions::include`]).
    #[error("no file of the model matches the include patterns {}", patterns.join(" "))]
    NothingIncluded {
        /// The patterns given.
        patterns: Vec<String>,
    },
    /// Extracting the OCI layout ([`crate::UnpackOptions::layout`]) was asked of an archive
    /// that is already an OCI layout directory: only a tar archive's layout can be extracted.
    #[error("{} is already an OCI layout directory; only a tar archive's layout can be extracted", path.display())]
    AlreadyALayout {
        /// The layout directory.
        path: PathBuf,
    },
    /// No output path was given ([`crate::PackOptions::output`]), and the model directory has
    /// no parent directory to put the archive in by default.
    #[error("{} has no parent directory to put the archive in by default", path.display())]
    NoDefaultOutput {
        /// The model directory, made absolute.
        path: PathBuf,
    },
    /// The directory an archive is to be written in does not exist (it is not created: a
    /// mistyped path would otherwise scatter directories).
    #[error("cannot write {}: the directory {} does not exist", path.display(), dir.display())]
    OutputDirMissing {
        /// The archive's path.
        path: PathBuf,
        /// Its parent directory.
        dir: PathBuf,
    },
    /// A Hugging Face cache's repository folder was given without a revision
    /// ([`crate::PackOptions::revision`]), and it has no `refs/main` to say which snapshot
    /// to pack.
    #[error(
        "{} is a Hugging Face cache folder without refs/main: name the revision to pack \
         (refs: {}; snapshots: {})",
        repo.display(),
        listing(refs),
        listing(snapshots)
    )]
    NoMainRef {
        /// The repository folder.
        repo: PathBuf,
        /// The refs it has (`v1`, `refs/pr/1`), sorted.
        refs: Vec<String>,
        /// The commits of its snapshots, sorted.
        snapshots: Vec<String>,
    },
    /// The revision given is neither a ref of the Hugging Face cache's repository folder nor
    /// the commit (or the start of the commit) of one of its snapshots.
    #[error(
        "{} has no ref or snapshot {revision:?} (refs: {}; snapshots: {})",
        repo.display(),
        listing(refs),
        listing(snapshots)
    )]
    UnknownRevision {
        /// The repository folder.
        repo: PathBuf,
        /// The revision as given.
        revision: String,
        /// The refs it has, sorted.
        refs: Vec<String>,
        /// The commits of its snapshots, sorted.
        snapshots: Vec<String>,
    },
    /// The revision given is the start of the commits of several snapshots.
    #[error(
        "{revision:?} is the start of several snapshots of {}: {}",
        repo.display(),
        listing(matches)
    )]
    AmbiguousRevision {
        /// The repository folder.
        repo: PathBuf,
        /// The revision as given.
        revision: String,
        /// The commits it begins.
        matches: Vec<String>,
    },
    /// A ref of a Hugging Face cache names a commit whose snapshot is not there.
    #[error(
        "{}: {named_by} names commit {commit}, which has no snapshot (snapshots/{commit} is missing)",
        repo.display()
    )]
    SnapshotMissing {
        /// The repository folder.
        repo: PathBuf,
        /// The ref: `refs/main`, `refs/v1`.
        named_by: String,
        /// The commit it holds.
        commit: String,
    },
    /// A ref file of a Hugging Face cache does not hold a commit hash.
    #[error("{}: not a Hugging Face ref: {reason}", path.display())]
    BadRef {
        /// The ref file.
        path: PathBuf,
        /// What it holds instead.
        reason: String,
    },
    /// A revision that cannot name a ref: empty, absolute, with a `..` component, ...
    #[error("revision {revision:?} cannot name a ref or a snapshot: it {reason}")]
    InvalidRevision {
        /// The revision as given.
        revision: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A revision was given ([`crate::PackOptions::revision`]), but the model directory is
    /// not a Hugging Face cache's repository folder, whose snapshots a revision names.
    #[error(
        "{} is not a Hugging Face cache's repository folder (models--<org>--<name>, holding \
         refs/ and snapshots/): only such a folder has revisions to choose from",
        path.display()
    )]
    RevisionWithoutCache {
        /// The model directory.
        path: PathBuf,
    },
    /// A metadata value has the wrong type for the ModelPack descriptor field its key names.
    #[error("metadata {key:?} must be {expected} for a ModelPack descriptor")]
    InvalidDescriptorValue {
        /// The metadata key.
        key: String,
        /// The JSON type the field needs: `a string`, `a string or an array of strings`.
        expected: &'static str,
    },
    /// A metadata key that is not a ModelPack descriptor field: the ModelPack schema allows
    /// no other keys.
    #[error("metadata {key:?} is not a ModelPack descriptor field; use one of {fields}")]
    NotADescriptorField {
        /// The metadata key.
        key: String,
        /// The descriptor fields metadata may set, comma-separated.
        fields: &'static str,
    },
    /// The model's version cannot be a tag (the OCI tag grammar), so it cannot name the
    /// archive's reference, and no reference name was given ([`crate::PackOptions::tag`]).
    #[error(
        "version {version:?} cannot be a registry tag (a tag is up to 128 letters, digits, _ . and -, \
         not starting with . or -); name the archive's reference, e.g. {suggestion}"
    )]
    VersionNotATag {
        /// The version.
        version: String,
        /// A valid tag close to it.
        suggestion: String,
    },
    /// The reference name given for the archive is not a valid tag.
    #[error(
        "{tag:?} is not a valid tag (a tag is up to 128 letters, digits, _ . and -, \
         not starting with . or -), e.g. {suggestion}"
    )]
    InvalidTag {
        /// The name as given.
        tag: String,
        /// A valid tag close to it.
        suggestion: String,
    },
    /// The check given to unpack ([`crate::UnpackOptions::with_check`]) refused the files
    /// staged; nothing was published into the target. The check's own error is the source,
    /// so the caller can downcast it.
    #[error("the unpacked files failed the check: {source}")]
    CheckFailed {
        /// What the check said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `add` to an archive holding referrers (signatures of its model): they would no
    /// longer match the files, so they must be dropped explicitly.
    #[error(
        "{} holds {count} referrer(s) of its model (signatures); adding a file would leave \
         them stale",
        archive.display()
    )]
    HasReferrers {
        /// The archive.
        archive: PathBuf,
        /// How many referrers it lists.
        count: usize,
    },
    /// A referrer (a manifest whose subject is the model's) is malformed or cannot be
    /// stored with the model.
    #[error("referrer {digest}: {reason}")]
    BadReferrer {
        /// The referrer manifest's digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// An index lists more referrers than are read.
    #[error("{} lists {count} referrers of its model, more than the {limit} read", archive.display())]
    TooManyReferrers {
        /// The archive.
        archive: PathBuf,
        /// How many it lists.
        count: usize,
        /// The most read.
        limit: usize,
    },
}

impl Error {
    /// Whether this error means that content failed verification (exit code 1), rather than
    /// bad input or an I/O problem (exit code 2). A truncated archive counts: it is the most
    /// common corruption. An entry or manifest the safety policy refuses does not: unpack
    /// refuses it as bad input (exit 2), while verify and inspect report it as a failed check
    /// ([`crate::VerifyReport::refused`], exit 1). A failed unpack check
    /// ([`Self::CheckFailed`], a signature that does not cover the files) counts.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            Self::BlobMismatch { .. }
                | Self::MissingBlob { .. }
                | Self::Truncated { .. }
                | Self::CheckFailed { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Names as a bounded list: the first ten, comma-separated, then how many more; `none`.
fn listing(names: &[String]) -> String {
    const SHOWN: usize = 10;
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut text = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// Sizes as people read them: `512 B`, `1.5 KiB`, `3.2 GiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
