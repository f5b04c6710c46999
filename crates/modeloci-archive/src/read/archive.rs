//! Reading archives: this project's, the reference implementation's, and OCI layout
//! directories.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use modeloci_digest::{Measured, VerifyingReader};
use modeloci_spec::{
    Descriptor, Digest, MediaType, ModelLayer, OciConfig, OciIndex, OciManifest, annotations,
};

use crate::entry_policy::{PathSet, Refusal, check_relative_path};
use crate::error::{Error, Result};
use crate::tarfile::reader::{Entry, EntryKind, MAX_TRAILING_ZEROS, Source, TarError, TarReader};

/// The largest JSON document (index, manifest, config) read into memory.
pub const MAX_DOCUMENT_SIZE: u64 = 4 << 20;

/// How an archive is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveFormat {
    /// An OCI image layout (`oci-layout`, `index.json`, `blobs/`), as this project and other
    /// OCI tools write it.
    Layout,
    /// The reference implementation's format: a root `manifest.json`, `config.json` and
    /// `blobs/sha256/`, without an index.
    Reference,
}

/// An opened archive: its entries are indexed and its manifest is read and verified; blobs
/// are read on demand, streaming.
///
/// ```no_run
/// use modeloci_archive::Archive;
///
/// let archive = Archive::open("bert-base-1.0.0.tar".as_ref())?;
/// for layer in archive.layers() {
///     println!("{} {} {}", layer.digest, layer.size, layer.title().unwrap_or("?"));
/// }
/// let config = archive.config()?;
/// # Ok::<(), modeloci_archive::Error>(())
/// ```
#[derive(Debug)]
pub struct Archive {
    path: PathBuf,
    store: Store,
    format: ArchiveFormat,
    index: Option<OciIndex>,
    manifest_descriptor: Option<Descriptor>,
    manifest_bytes: Vec<u8>,
    manifest_digest: Digest,
    manifest: OciManifest,
}

#[derive(Debug)]
enum Store {
    Tar {
        file: File,
        /// Every entry in archive order, names normalised (no leading `./`).
        entries: Vec<Entry>,
        /// Regular files by name -> position in `entries`.
        by_name: HashMap<String, usize>,
    },
    Dir {
        root: PathBuf,
    },
}

/// Reads a byte range of a file with positioned reads, so several threads can read one file.
pub(crate) struct RangeReader<'a> {
    file: &'a File,
    offset: u64,
    remaining: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A blob's bytes, unverified.
pub(crate) enum BlobReader<'a> {
    Range(RangeReader<'a>),
    File(io::Take<File>),
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Range(r) => r.read(buf),
            Self::File(f) => f.read(buf),
        }
    }
}

/// A file read through `Source` for the tar walker, skipping by seeking.
struct SeekFile<'a>(&'a File);

impl Read for SeekFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Source for SeekFile<'_> {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let n = i64::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        self.0.seek(SeekFrom::Current(n)).map(drop)
    }
}

pub(crate) fn tar_error(err: TarError, archive: &Path) -> Error {
    match err {
        TarError::Io(source) => Error::Io {
            path: archive.to_owned(),
            source,
        },
        TarError::Malformed { offset, reason } => Error::MalformedTar {
            archive: archive.to_owned(),
            offset,
            reason,
        },
        TarError::Refused { entry, refusal } => Error::UnsafeEntry { entry, refusal },
        TarError::Truncated {
            offset,
            entry,
            reason,
        } => Error::Truncated {
            archive: archive.to_owned(),
            entry,
            offset,
            reason,
        },
    }
}

/// Removes leading `./`; the root directory itself (`/`, `.`, `./`) becomes empty.
pub(crate) fn normalize_name(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    if name == "/" || name == "." { "" } else { name }
}

fn scan_tar(path: &Path, file: &File) -> Result<Vec<Entry>> {
    let len = file.metadata().map_err(Error::io(path))?.len();
    let mut reader = TarReader::new(SeekFile(file));
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        let mut entry = match reader.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            // A cut at a header: name the last whole entry, to say where the data stops.
            Err(TarError::Truncated {
                offset,
                entry: None,
                reason,
            }) => {
                let last = entries.last().map(|e| e.name.clone());
                let reason = match (&last, len) {
                    (_, 0) => "the file is empty".to_owned(),
                    (Some(name), _) => format!("{reason}, after entry {name:?}"),
                    (None, _) => reason,
                };
                return Err(Error::Truncated {
                    archive: path.to_owned(),
                    entry: last,
                    offset,
                    reason,
                });
            }
            Err(e) => return Err(tar_error(e, path)),
        };
        // Sizes come from the input: checked, so that a huge one cannot wrap around.
        let fits = entry
            .data_offset
            .checked_add(entry.size)
            .is_some_and(|end| end <= len);
        if !fits {
            return Err(Error::Truncated {
                archive: path.to_owned(),
                offset: len,
                reason: format!(
                    "entry {:?} of {} bytes runs past the end of the file ({len} bytes)",
                    entry.name, entry.size
                ),
                entry: Some(entry.name),
            });
        }
        let normalized = normalize_name(&entry.name);
        if normalized.is_empty() && entry.kind == EntryKind::Dir {
            continue;
        }
        entry.name = normalized.to_owned();
        entries.push(entry);
    }
    reader
        .finish(MAX_TRAILING_ZEROS)
        .map_err(|e| tar_error(e, path))?;
    Ok(entries)
}

/// What a path is, when it is neither a regular file nor a directory: reading a FIFO nobody
/// writes, or a device, would never end.
fn special_file_kind(file_type: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    Some(if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_file() || file_type.is_dir() {
        return None;
    } else {
        "not a regular file"
    })
}

/// Why a file of this type is refused as a document or blob of a layout directory; `None`
/// for a regular file.
fn dir_entry_refusal(file_type: std::fs::FileType) -> Option<Refusal> {
    use std::os::unix::fs::FileTypeExt;
    Some(if file_type.is_file() {
        return None;
    } else if file_type.is_dir() {
        Refusal::NotRegularFile {
            kind: "a directory",
        }
    } else if file_type.is_fifo() {
        Refusal::Fifo
    } else if file_type.is_char_device() {
        Refusal::CharDevice
    } else if file_type.is_block_device() {
        Refusal::BlockDevice
    } else if file_type.is_socket() {
        Refusal::NotRegularFile { kind: "a socket" }
    } else {
        Refusal::NotRegularFile {
            kind: "of an unknown type",
        }
    })
}

/// Opens the regular file `name` (`/`-separated, no `.` or `..`: a constant or a digest's
/// blob path) below the layout directory `root`, with its length, without following a
/// symbolic link on the way: each directory (`blobs`, `blobs/sha256`) is looked at without
/// following it, and the file is opened with `O_NOFOLLOW` and checked with `fstat`. Absent
/// (`None`) when a component is missing or a directory on the way is a file.
///
/// # Errors
///
/// [`Error::UnsafeEntry`] naming the link, directory, FIFO or device on the way or at
/// `name`; I/O errors.
fn open_in_dir(root: &Path, name: &str) -> Result<Option<(File, u64)>> {
    let parts: Vec<&str> = name.split('/').collect();
    let mut at = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let entry = &parts[..=i];
        // Looked at before opening: a FIFO or a device is never opened.
        let Some(meta) = look_at(&at, entry)? else {
            return Ok(None);
        };
        if i + 1 < parts.len() {
            if !meta.is_dir() {
                return Ok(None);
            }
            continue;
        }
        if let Some(refusal) = dir_entry_refusal(meta.file_type()) {
            return Err(refused_entry(entry, refusal));
        }
        return open_regular(&at, entry);
    }
    Ok(None)
}

/// The metadata of `at` (the path `entry` of the layout directory), not following a link;
/// `None` when it is missing or a directory on the way is a file.
///
/// # Errors
///
/// [`Error::UnsafeEntry`] for a symbolic link, I/O errors.
fn look_at(at: &Path, entry: &[&str]) -> Result<Option<std::fs::Metadata>> {
    let meta = match std::fs::symlink_metadata(at) {
        Ok(meta) => meta,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(Error::Io {
                path: at.to_owned(),
                source: e,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Err(link_entry(at, entry));
    }
    Ok(Some(meta))
}

/// Opens the regular file at `at` (the path `entry` of the layout directory), with its
/// length. What was looked at may have been replaced since: no link is followed now, a FIFO
/// does not block the open, and the open file is what is checked.
///
/// # Errors
///
/// [`Error::UnsafeEntry`] for a link or anything but a regular file, I/O errors.
fn open_regular(at: &Path, entry: &[&str]) -> Result<Option<(File, u64)>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(at)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(link_entry(at, entry)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                path: at.to_owned(),
                source: e,
            });
        }
    };
    let meta = file.metadata().map_err(Error::io(at))?;
    if let Some(refusal) = dir_entry_refusal(meta.file_type()) {
        return Err(refused_entry(entry, refusal));
    }
    Ok(Some((file, meta.len())))
}

/// The path `entry` of a layout directory, refused.
fn refused_entry(entry: &[&str], refusal: Refusal) -> Error {
    Error::UnsafeEntry {
        entry: entry.join("/"),
        refusal,
    }
}

/// The path `entry` of a layout directory, at `at`, refused as a symbolic link.
fn link_entry(at: &Path, entry: &[&str]) -> Error {
    refused_entry(
        entry,
        Refusal::Symlink {
            target: std::fs::read_link(at)
                .map_or_else(|_| "?".to_owned(), |t| t.to_string_lossy().into_owned()),
        },
    )
}

/// The digest an outer entry's name gives it: `blobs/<alg>/<hex>` as a parsed digest.
pub(crate) fn blob_digest_of(name: &str) -> Option<Digest> {
    let (alg, hex) = name.strip_prefix("blobs/")?.split_once('/')?;
    format!("{alg}:{hex}").parse::<Digest>().ok()
}

/// Checks one entry of the outer tar as `unpack --layout` extracts it, adding it to `set`:
/// its type, its path, no duplicate, case or file/directory collision, and under `blobs/`
/// only `blobs/<algorithm>` directories and blobs named by their digest. Returns the digest
/// a blob's name gives it.
///
/// # Errors
///
/// [`Error::UnsafeEntry`] naming the entry.
pub(crate) fn check_outer_entry(entry: &Entry, set: &mut PathSet) -> Result<Option<Digest>> {
    let refused = |refusal| Error::UnsafeEntry {
        entry: entry.name.clone(),
        refusal,
    };
    if let Some(refusal) = entry.kind.refusal() {
        return Err(refused(refusal));
    }
    check_relative_path(&entry.name).map_err(refused)?;
    let dir = entry.kind == EntryKind::Dir;
    if dir {
        set.insert_dir(&entry.name).map_err(refused)?;
    } else {
        set.insert(&entry.name).map_err(refused)?;
    }
    let Some(rest) = entry.name.strip_prefix("blobs/") else {
        return Ok(None);
    };
    if dir {
        let algorithms = [
            modeloci_spec::Algorithm::Sha256,
            modeloci_spec::Algorithm::Sha512,
        ];
        if algorithms.iter().any(|a| a.as_str() == rest) {
            return Ok(None);
        }
        return Err(refused(Refusal::NotABlob));
    }
    blob_digest_of(&entry.name)
        .map(Some)
        .ok_or_else(|| refused(Refusal::NotABlob))
}

/// The error for a blob entry whose bytes do not hash to the digest its name gives.
pub(crate) fn misnamed_blob(name: &str, expected: Digest, actual: Digest) -> Error {
    Error::BlobMismatch {
        what: format!("entry {name}"),
        digest: expected.clone(),
        source: modeloci_digest::Error::DigestMismatch { expected, actual },
    }
}

impl Store {
    fn open(path: &Path) -> Result<Self> {
        // stat (following symlinks) before opening: opening a FIFO blocks until someone
        // writes to it, and a device reads for ever.
        let special = |path: &Path, what: &str| Error::NotAnArchive {
            path: path.to_owned(),
            reason: format!("it is {what}, not a regular file or a directory"),
        };
        let meta = std::fs::metadata(path).map_err(Error::io(path))?;
        if let Some(what) = special_file_kind(meta.file_type()) {
            return Err(special(path, what));
        }
        if meta.is_dir() {
            return Ok(Self::Dir {
                root: path.to_owned(),
            });
        }
        let file = File::open(path).map_err(Error::io(path))?;
        // The path may have been replaced between the stat and the open.
        let meta = file.metadata().map_err(Error::io(path))?;
        if let Some(what) = special_file_kind(meta.file_type()) {
            return Err(special(path, what));
        }
        let entries = scan_tar(path, &file).map_err(|e| match e {
            // Nothing tar-like at all: say what the file is not, rather than how it broke.
            Error::MalformedTar {
                offset: 0, reason, ..
            }
            | Error::Truncated {
                offset: 0, reason, ..
            } if meta.len() > 0 => Error::NotAnArchive {
                path: path.to_owned(),
                reason: format!("it is neither a tar file nor an OCI layout directory ({reason})"),
            },
            other => other,
        })?;
        let mut by_name = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            if entry.kind == EntryKind::Dir {
                continue;
            }
            if by_name.insert(entry.name.clone(), i).is_some() {
                return Err(Error::UnsafeEntry {
                    entry: entry.name.clone(),
                    refusal: Refusal::Duplicate,
                });
            }
        }
        Ok(Self::Tar {
            file,
            entries,
            by_name,
        })
    }

    /// A reader over the regular file `name`, with its stored length; `None` when absent.
    fn open_entry(&self, name: &str) -> Result<Option<(BlobReader<'_>, u64)>> {
        match self {
            Self::Tar {
                file,
                entries,
                by_name,
            } => {
                let Some(&i) = by_name.get(name) else {
                    return Ok(None);
                };
                let entry = &entries[i];
                if let Some(refusal) = entry.kind.refusal() {
                    return Err(Error::UnsafeEntry {
                        entry: entry.name.clone(),
                        refusal,
                    });
                }
                let reader = RangeReader {
                    file,
                    offset: entry.data_offset,
                    remaining: entry.size,
                };
                Ok(Some((BlobReader::Range(reader), entry.size)))
            }
            Self::Dir { root } => {
                Ok(open_in_dir(root, name)?
                    .map(|(file, len)| (BlobReader::File(file.take(len)), len)))
            }
        }
    }

    /// Whether there is an entry at `name`: exactly when [`Self::open_entry`] does not find
    /// it absent. In a layout directory nothing is followed: a link is there (and refused
    /// when opened), whether or not it dangles.
    fn exists(&self, name: &str) -> bool {
        match self {
            Self::Tar { by_name, .. } => by_name.contains_key(name),
            Self::Dir { .. } => !matches!(self.open_entry(name), Ok(None)),
        }
    }

    /// Reads a small regular file whole, refusing one over `limit` bytes.
    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let Some((mut reader, size)) = self.open_entry(name)? else {
            return Ok(None);
        };
        if size > limit {
            return Err(Error::TooLarge {
                entry: name.to_owned(),
                size,
                limit,
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        reader.read_to_end(&mut buf).map_err(|e| Error::Io {
            path: PathBuf::from(name),
            source: e,
        })?;
        Ok(Some(buf))
    }
}

impl Archive {
    /// Opens an archive (a tar file or an OCI layout directory) and reads its manifest.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedTar`] or [`Error::UnsafeEntry`] for a broken or hostile tar,
    /// [`Error::NotAnArchive`] when there is neither `index.json` nor `manifest.json`,
    /// [`Error::AmbiguousIndex`] when the index names several manifests,
    /// [`Error::BlobMismatch`] when the manifest blob does not match its descriptor.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, None)
    }

    /// Like [`Self::open`], choosing the manifest whose `org.opencontainers.image.ref.name`
    /// is `reference` when given.
    ///
    /// # Errors
    ///
    /// As [`Self::open`].
    pub fn open_with(path: &Path, reference: Option<&str>) -> Result<Self> {
        let store = Store::open(path)?;
        let not_archive = |reason: &str| Error::NotAnArchive {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let (format, index, descriptor, manifest_bytes) = if let Some(bytes) =
            store.read_small("index.json", MAX_DOCUMENT_SIZE)?
        {
            let index = OciIndex::from_slice(&bytes).map_err(|source| Error::InvalidDocument {
                entry: "index.json".into(),
                source,
            })?;
            let has_subject = |d: &Descriptor| {
                read_verified(&store, path, d, "manifest", MAX_DOCUMENT_SIZE)
                    .ok()
                    .and_then(|bytes| OciManifest::from_slice(&bytes).ok())
                    .is_some_and(|m| m.subject.is_some())
            };
            let descriptor = choose_manifest(&index, reference, path, has_subject)?;
            let bytes = read_verified(&store, path, &descriptor, "manifest", MAX_DOCUMENT_SIZE)?;
            (ArchiveFormat::Layout, Some(index), Some(descriptor), bytes)
        } else if let Some(bytes) = store.read_small("manifest.json", MAX_DOCUMENT_SIZE)? {
            (ArchiveFormat::Reference, None, None, bytes)
        } else if matches!(store, Store::Tar { ref entries, .. } if entries.is_empty()) {
            return Err(not_archive("the tar is empty"));
        } else {
            return Err(not_archive("no index.json or manifest.json at its root"));
        };
        let entry = descriptor.as_ref().map_or_else(
            || "manifest.json".to_owned(),
            |d| format!("manifest {}", d.digest),
        );
        let manifest = OciManifest::from_slice(&manifest_bytes)
            .map_err(|source| Error::InvalidDocument { entry, source })?;
        let manifest_digest = descriptor.as_ref().map_or_else(
            || modeloci_digest::Hasher::digest_bytes(&manifest_bytes).digest,
            |d| d.digest.clone(),
        );
        Ok(Self {
            path: path.to_owned(),
            store,
            format,
            index,
            manifest_descriptor: descriptor,
            manifest_bytes,
            manifest_digest,
            manifest,
        })
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the archive is laid out.
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// The manifest.
    pub fn manifest(&self) -> &OciManifest {
        &self.manifest
    }

    /// The manifest's bytes as stored.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The manifest's digest: from the index (and verified), or computed for reference
    /// archives.
    pub fn manifest_digest(&self) -> &Digest {
        &self.manifest_digest
    }

    /// The index's descriptor of the manifest, for layout archives.
    pub fn manifest_descriptor(&self) -> Option<&Descriptor> {
        self.manifest_descriptor.as_ref()
    }

    /// The index, for layout archives.
    pub fn index(&self) -> Option<&OciIndex> {
        self.index.as_ref()
    }

    /// The reference name (tag) of the manifest: from the index, else the version annotation.
    pub fn reference_name(&self) -> Option<&str> {
        self.manifest_descriptor
            .as_ref()
            .and_then(|d| d.annotations.get(annotations::REF_NAME))
            .or_else(|| self.manifest.annotations.get(annotations::VERSION))
            .map(String::as_str)
    }

    /// The layers, as the reference implementation's `ModelLayer`s.
    pub fn layers(&self) -> Vec<ModelLayer> {
        self.manifest
            .layers
            .iter()
            .cloned()
            .map(ModelLayer::from)
            .collect()
    }

    /// The config blob's bytes, verified against the manifest's descriptor. Reference
    /// archives keep the config at the root as `config.json` only; that is read then, for
    /// them alone: in an OCI layout the config is its blob.
    ///
    /// # Errors
    ///
    /// [`Error::MissingBlob`], [`Error::BlobMismatch`], [`Error::TooLarge`].
    pub fn config_bytes(&self) -> Result<Vec<u8>> {
        let descriptor = &self.manifest.config;
        match read_verified(
            &self.store,
            &self.path,
            descriptor,
            "config",
            MAX_DOCUMENT_SIZE,
        ) {
            // Only the reference's archives keep the config at the root instead of in
            // `blobs/`; in an OCI layout a root `config.json` is a copy, never the config.
            Err(Error::MissingBlob { .. })
                if self.format == ArchiveFormat::Reference && self.store.exists("config.json") =>
            {
                read_verified_entry(
                    &self.store,
                    &self.path,
                    "config.json",
                    descriptor,
                    "config",
                    MAX_DOCUMENT_SIZE,
                )
            }
            other => other,
        }
    }

    /// The model config, for archives whose config is a modeloci (or reference) model config.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedConfig`] for other config types, [`Error::InvalidDocument`], and
    /// those of [`Self::config_bytes`].
    pub fn config(&self) -> Result<OciConfig> {
        let media_type = &self.manifest.config.media_type;
        if !matches!(
            media_type,
            MediaType::ModelociConfig | MediaType::ImageConfig
        ) {
            return Err(Error::UnsupportedConfig {
                media_type: media_type.clone(),
            });
        }
        let bytes = self.config_bytes()?;
        OciConfig::from_slice(&bytes).map_err(|source| Error::InvalidDocument {
            entry: "config".into(),
            source,
        })
    }

    /// A blob's bytes, read whole and verified against `descriptor` (digest and size);
    /// refused before reading when the descriptor's size is over `limit`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingBlob`], [`Error::BlobMismatch`], [`Error::TooLarge`], I/O errors.
    pub fn read_blob(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        self.read_blob_as(descriptor, "blob", limit)
    }

    /// [`Self::read_blob`], calling the blob `what` in errors.
    pub(crate) fn read_blob_as(
        &self,
        descriptor: &Descriptor,
        what: &str,
        limit: u64,
    ) -> Result<Vec<u8>> {
        read_verified(&self.store, &self.path, descriptor, what, limit)
    }

    /// The modification time of the archive's `index.json` header (else `manifest.json`'s),
    /// which a rewrite keeps: 0 for a layout directory or when neither is there.
    pub(crate) fn header_mtime(&self) -> u64 {
        self.tar_entries()
            .iter()
            .find(|e| e.name == "index.json" || e.name == "manifest.json")
            .map_or(0, |e| e.mtime)
    }

    /// Whether the archive holds a blob with this digest.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.store.exists(&digest.blob_path())
    }

    /// A reader over a blob's stored bytes from `offset` on, unverified: for streaming a blob
    /// elsewhere (a registry checks the digest itself). `None` when the archive lacks it.
    ///
    /// # Errors
    ///
    /// [`Error::UnsafeEntry`] when the entry is not a regular file, I/O errors.
    pub fn blob_reader(
        &self,
        digest: &Digest,
        offset: u64,
    ) -> Result<Option<impl Read + Send + '_>> {
        Ok(self.open_blob(digest)?.map(|(reader, _)| match reader {
            BlobReader::Range(mut r) => {
                let skip = offset.min(r.remaining);
                r.offset += skip;
                r.remaining -= skip;
                BlobReader::Range(r)
            }
            BlobReader::File(take) => {
                let limit = take.limit();
                let mut file = take.into_inner();
                let skip = offset.min(limit);
                let _ = file.seek(SeekFrom::Current(i64::try_from(skip).unwrap_or(i64::MAX)));
                BlobReader::File(file.take(limit - skip))
            }
        }))
    }

    /// A reader over a blob's stored bytes, unverified, with the stored length.
    pub(crate) fn open_blob(&self, digest: &Digest) -> Result<Option<(BlobReader<'_>, u64)>> {
        self.store.open_entry(&digest.blob_path())
    }

    /// A reader over a root file (`manifest.json`, `config.json`), with its length.
    pub(crate) fn open_root_file(&self, name: &str) -> Result<Option<(BlobReader<'_>, u64)>> {
        self.store.open_entry(name)
    }

    /// A reader that verifies the blob against `descriptor` as it is read.
    pub(crate) fn verified_blob(
        &self,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<VerifyingReader<BlobReader<'_>>> {
        let (reader, _) =
            self.open_blob(&descriptor.digest)?
                .ok_or_else(|| Error::MissingBlob {
                    what: what.to_owned(),
                    digest: descriptor.digest.clone(),
                })?;
        Ok(VerifyingReader::new(
            reader,
            Measured::new(descriptor.digest.clone(), descriptor.size),
        ))
    }

    /// The tar entries in archive order (empty for a layout directory).
    pub(crate) fn tar_entries(&self) -> &[Entry] {
        match &self.store {
            Store::Tar { entries, .. } => entries,
            Store::Dir { .. } => &[],
        }
    }

    /// A reader over the data of one of [`Self::tar_entries`].
    pub(crate) fn tar_entry_reader(&self, entry: &Entry) -> Option<RangeReader<'_>> {
        match &self.store {
            Store::Tar { file, .. } => Some(RangeReader {
                file,
                offset: entry.data_offset,
                remaining: entry.size,
            }),
            Store::Dir { .. } => None,
        }
    }

    /// Every entry of the outer tar, under the policy of `unpack --layout`, and every blob
    /// no descriptor names against the digest its name gives (which `unpack --layout`
    /// checks as it extracts it). In a layout directory, the documents and blobs the manifest
    /// names are opened as they are read, so that a link or a non-file on the way is found.
    pub(crate) fn check_outer_entries(&self) -> Result<()> {
        let manifest = &self.manifest;
        let named = |digest: &Digest| {
            *digest == self.manifest_digest
                || *digest == manifest.config.digest
                || manifest.layers.iter().any(|l| l.digest == *digest)
        };
        let Store::Tar { entries, file, .. } = &self.store else {
            let blobs = std::iter::once(&manifest.config)
                .chain(&manifest.layers)
                .map(|d| d.digest.blob_path());
            for name in blobs.chain(["manifest.json".into(), "config.json".into()]) {
                self.store.open_entry(&name)?;
            }
            return Ok(());
        };
        let mut set = PathSet::new();
        let mut unnamed = Vec::new();
        for entry in entries {
            if let Some(digest) = check_outer_entry(entry, &mut set)?
                && !named(&digest)
            {
                unnamed.push((entry, digest));
            }
        }
        for (entry, expected) in unnamed {
            let reader = RangeReader {
                file,
                offset: entry.data_offset,
                remaining: entry.size,
            };
            let mut hashing =
                modeloci_digest::DigestReader::with_algorithm(reader, expected.algorithm());
            io::copy(&mut hashing, &mut io::sink()).map_err(Error::io(&self.path))?;
            let actual = hashing.finish();
            if actual.digest != expected {
                return Err(misnamed_blob(&entry.name, expected, actual.digest));
            }
        }
        Ok(())
    }

    /// In a layout directory, opens the blob `digest` names as reading it would (refusing a
    /// link or a non-file on the way); nothing to do in a tar, whose entries were checked.
    pub(crate) fn check_blob_entry(&self, digest: &Digest) -> Result<()> {
        match &self.store {
            Store::Dir { .. } => self.store.open_entry(&digest.blob_path()).map(drop),
            Store::Tar { .. } => Ok(()),
        }
    }

    /// The root directory, for a layout directory.
    pub(crate) fn layout_dir(&self) -> Option<&Path> {
        match &self.store {
            Store::Dir { root } => Some(root),
            Store::Tar { .. } => None,
        }
    }
}

/// The manifest the index names `reference`, else its one image manifest. Without a
/// reference, referrers are not candidates: those whose `artifactType` says they are
/// signatures, and, only when several remain, those `has_subject` finds to refer to another
/// manifest (tools that list them without an `artifactType`).
fn choose_manifest(
    index: &OciIndex,
    reference: Option<&str>,
    path: &Path,
    has_subject: impl Fn(&Descriptor) -> bool,
) -> Result<Descriptor> {
    // Signatures listed beside the model (no reference name, a Sigstore bundle artifact
    // type) are never the model.
    let manifests: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            matches!(
                d.media_type,
                MediaType::ImageManifest | MediaType::DockerManifest
            ) && (reference.is_some() || d.artifact_type != Some(MediaType::SigstoreBundle))
        })
        .collect();
    let refs = || {
        let names: Vec<&str> = manifests
            .iter()
            .filter_map(|d| d.annotations.get(annotations::REF_NAME).map(String::as_str))
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let ambiguous = |reason: String| Error::AmbiguousIndex {
        archive: path.to_owned(),
        reason,
    };
    let chosen: Vec<&Descriptor> = match reference {
        Some(name) => manifests
            .iter()
            .copied()
            .filter(|d| d.annotations.get(annotations::REF_NAME).map(String::as_str) == Some(name))
            .collect(),
        None if manifests.len() > 1 => {
            let models: Vec<&Descriptor> = manifests
                .iter()
                .copied()
                .filter(|d| !has_subject(d))
                .collect();
            if models.len() == 1 {
                models
            } else {
                manifests.clone()
            }
        }
        None => manifests.clone(),
    };
    match (chosen.as_slice(), reference) {
        ([one], _) => Ok((*one).clone()),
        ([], None) => Err(ambiguous("index.json lists no image manifest".into())),
        ([], Some(name)) => Err(ambiguous(format!(
            "index.json has no manifest named {name:?} (refs: {})",
            refs()
        ))),
        (many, _) => Err(ambiguous(format!(
            "index.json lists {} manifests (refs: {})",
            many.len(),
            refs()
        ))),
    }
}

fn read_verified(
    store: &Store,
    path: &Path,
    descriptor: &Descriptor,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>> {
    read_verified_entry(
        store,
        path,
        &descriptor.digest.blob_path(),
        descriptor,
        what,
        limit,
    )
}

fn read_verified_entry(
    store: &Store,
    path: &Path,
    name: &str,
    descriptor: &Descriptor,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>> {
    if descriptor.size > limit {
        return Err(Error::TooLarge {
            entry: format!("{what} blob {}", descriptor.digest),
            size: descriptor.size,
            limit,
        });
    }
    let (reader, _) = store.open_entry(name)?.ok_or_else(|| Error::MissingBlob {
        what: what.to_owned(),
        digest: descriptor.digest.clone(),
    })?;
    let mut verifying = VerifyingReader::new(
        reader,
        Measured::new(descriptor.digest.clone(), descriptor.size),
    );
    let mut buf = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
    verifying
        .read_to_end(&mut buf)
        .map_err(|e| blob_error(e, what, &descriptor.digest, path))?;
    Ok(buf)
}

/// The library error for an error met while reading a blob through a [`VerifyingReader`].
pub(crate) fn blob_error(err: io::Error, what: &str, digest: &Digest, archive: &Path) -> Error {
    match modeloci_digest::Error::try_from_io(err) {
        Ok(source) => Error::BlobMismatch {
            what: what.to_owned(),
            digest: digest.clone(),
            source,
        },
        Err(err) => Error::Io {
            path: archive.to_owned(),
            source: err,
        },
    }
}
