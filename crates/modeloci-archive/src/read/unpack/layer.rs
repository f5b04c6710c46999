//! One layer extracted into the staging directory while its blob is verified.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Mutex;

use modeloci_digest::{ChunkError, Measured, VerifyingReader, read_chunks};
use modeloci_spec::{Digest, LayerEncoding};

use crate::codec::compress::decoder;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::error::{Error, Result};
use crate::glob::glob_match;
use crate::progress::{Counting, Progress};
use crate::read::archive::{Archive, blob_error, normalize_name};
use crate::tarfile::reader::{
    Entry, EntryData, EntryKind, MAX_TRAILING_ZEROS, Source, Stream, TarError, TarReader,
};

use super::UnpackedFile;
use super::plan::Planned;
use super::target::{StageError, create_dirs, hash_only, write_staged};
use crate::profile::read::Form;

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

/// Where a layer's files go: into the staging directory, or nowhere (only hashed).
#[derive(Clone, Copy)]
pub(super) enum Out<'a> {
    /// Written below this directory.
    Stage(&'a Path),
    /// Hashed only.
    Hash,
}

impl Out<'_> {
    /// Writes (or only hashes) `data` as the file `name`; returns its SHA-256 and size.
    fn file(
        self,
        name: &str,
        data: &mut dyn Read,
        executable: bool,
    ) -> std::result::Result<Measured, (StageError, std::path::PathBuf)> {
        match self {
            Self::Stage(staging) => {
                let dest = staging.join(name);
                write_staged(&dest, data, executable).map_err(|e| (e, dest))
            }
            Self::Hash => hash_only(data).map_err(|e| (e, name.into())),
        }
    }

    /// Creates the directory `name` (when staging).
    fn dir(self, name: &str) -> Result<()> {
        match self {
            Self::Stage(staging) => {
                let dest = staging.join(name);
                create_dirs(&dest).map_err(Error::io(&dest))
            }
            Self::Hash => Ok(()),
        }
    }
}

/// Extracts one layer's file(s) into `out`, verifying the blob as it streams.
pub(super) fn extract_layer(
    archive: &Archive,
    planned: &Planned<'_>,
    staging: Out<'_>,
    set: &Mutex<PathSet>,
    include: &[String],
    progress: Option<&dyn Progress>,
) -> Result<Vec<UnpackedFile>> {
    let blob = LayerBlob::open(archive, planned, progress)?;
    extract_blob(blob, planned, staging, set, include)
}

/// Extracts one layer's file(s) into `out` from `reader`, the layer's blob from its first
/// byte, from anywhere (a registry's answer): verified against the descriptor as it
/// streams, as from an archive; errors reading it that are no mismatch are I/O errors of
/// `source`.
pub(super) fn extract_layer_from<'a>(
    reader: Box<dyn Read + 'a>,
    source: &'a Path,
    planned: &Planned<'a>,
    staging: Out<'_>,
    set: &Mutex<PathSet>,
    include: &[String],
    progress: Option<&'a dyn Progress>,
) -> Result<Vec<UnpackedFile>> {
    let descriptor = planned.descriptor;
    let blob = LayerBlob {
        reader: Counting::new(
            VerifyingReader::new(
                reader,
                Measured::new(descriptor.digest.clone(), descriptor.size),
            ),
            progress,
        ),
        what: format!("layer {}", planned.label),
        digest: &descriptor.digest,
        archive: source,
    };
    extract_blob(blob, planned, staging, set, include)
}

/// Extracts the layer `planned` from its blob, then reads and checks the rest of the blob.
fn extract_blob(
    mut blob: LayerBlob<'_>,
    planned: &Planned<'_>,
    staging: Out<'_>,
    set: &Mutex<PathSet>,
    include: &[String],
) -> Result<Vec<UnpackedFile>> {
    let written = match planned.form {
        Form::Raw => extract_raw(&mut blob, planned, staging).map(|file| vec![file]),
        Form::OneFile(encoding) => {
            extract_one_file(&mut blob, planned, encoding, staging).map(|file| vec![file])
        }
        Form::Tree(encoding) => extract_tree(&mut blob, planned, encoding, staging, set, include),
    };
    // The rest of the blob is hashed whatever happened: a corrupt blob explains a broken
    // layer better than a decompressor's complaint does.
    blob.finish().and(written)
}

/// A layer's blob as it is read: verified against its descriptor and counted for progress.
///
/// Whatever a layer form's extraction read of it was hashed on the way; [`Self::finish`]
/// reads and hashes the rest (what a decoder left, or all of it after an early failure), so
/// that the digest and size of the whole blob are checked either way.
struct LayerBlob<'a> {
    reader: Counting<'a, VerifyingReader<Box<dyn Read + 'a>>>,
    /// What to call the blob in errors: `layer <label>`.
    what: String,
    digest: &'a Digest,
    archive: &'a Path,
}

impl<'a> LayerBlob<'a> {
    /// Opens the blob of `planned`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingBlob`], and the errors of opening an archive entry.
    fn open(
        archive: &'a Archive,
        planned: &Planned<'a>,
        progress: Option<&'a dyn Progress>,
    ) -> Result<Self> {
        let what = format!("layer {}", planned.label);
        let (blob, _) = archive
            .open_blob(&planned.descriptor.digest)?
            .ok_or_else(|| Error::MissingBlob {
                what: what.clone(),
                digest: planned.descriptor.digest.clone(),
            })?;
        let blob: Box<dyn Read + 'a> = Box::new(blob);
        let measured = Measured::new(planned.descriptor.digest.clone(), planned.descriptor.size);
        Ok(Self {
            reader: Counting::new(VerifyingReader::new(blob, measured), progress),
            what,
            digest: &planned.descriptor.digest,
            archive: archive.path(),
        })
    }

    /// The library error for an error reading the blob: a mismatch, or an I/O error.
    fn error(&self, err: io::Error) -> Error {
        blob_error(err, &self.what, self.digest, self.archive)
    }

    /// Reads the rest of the blob and checks its digest and size.
    ///
    /// # Errors
    ///
    /// [`Error::BlobMismatch`], or an I/O error reading the archive.
    fn finish(mut self) -> Result<()> {
        let mut buf = [0u8; 8192];
        read_chunks(&mut self.reader, &mut buf, |_| Ok(()))
            .map_err(ChunkError::into_io)
            .map_err(|e| self.error(e))?;
        debug_assert!(self.reader.inner.is_verified());
        Ok(())
    }
}

impl Read for LayerBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

/// A raw layer: the blob is the file.
fn extract_raw(
    blob: &mut LayerBlob<'_>,
    planned: &Planned<'_>,
    staging: Out<'_>,
) -> Result<UnpackedFile> {
    let path = planned.path.as_deref().expect("raw layers have a path");
    let written = staging
        .file(path, blob, planned.executable)
        .map_err(|(e, dest)| match e {
            StageError::Read(e) => blob.error(e),
            StageError::Write(e) => Error::Io {
                path: dest,
                source: e,
            },
        })?;
    Ok(UnpackedFile {
        path: path.to_owned(),
        size: written.size,
        executable: planned.executable,
        digest: written.digest,
    })
}

/// A one-file layer: a tar holding exactly the regular file its title names.
fn extract_one_file(
    blob: &mut LayerBlob<'_>,
    planned: &Planned<'_>,
    encoding: LayerEncoding,
    staging: Out<'_>,
) -> Result<UnpackedFile> {
    let label = planned.label.as_str();
    let title = planned
        .path
        .as_deref()
        .expect("one-file layers have a path");
    let mut tar = layer_tar(blob, encoding, label)?;
    let tar_err = |e| layer_tar_error(e, label);
    let mut file = None;
    while let Some(entry) = tar.next_entry().map_err(tar_err)? {
        let name = checked_name(&entry, false)?.unwrap_or_default();
        if file.is_some() {
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
        file = Some(write_entry(&mut tar, &entry, name, staging, label)?);
    }
    let Some(file) = file else {
        return Err(no_entry(label));
    };
    tar.finish(MAX_TRAILING_ZEROS).map_err(tar_err)?;
    Ok(file)
}

/// A tree layer: a tar of any number of files and directories, each path checked against
/// the others (of every layer) and written when `include` selects it.
fn extract_tree(
    blob: &mut LayerBlob<'_>,
    planned: &Planned<'_>,
    encoding: LayerEncoding,
    staging: Out<'_>,
    set: &Mutex<PathSet>,
    include: &[String],
) -> Result<Vec<UnpackedFile>> {
    let label = planned.label.as_str();
    let mut tar = layer_tar(blob, encoding, label)?;
    let tar_err = |e| layer_tar_error(e, label);
    let mut files = Vec::new();
    let mut any = false;
    let mut count = 0;
    while let Some(entry) = tar.next_entry().map_err(tar_err)? {
        let name = checked_name(&entry, true)?;
        if let Some(group) = &planned.group {
            group.check_entry(&entry, name, label)?;
            count += 1;
        }
        let Some(name) = name else {
            continue; // the tree's root directory
        };
        let mut set = set.lock().expect("no panics holding it");
        let inserted = if entry.kind == EntryKind::Dir {
            set.insert_dir(name)
        } else {
            set.insert(name)
        };
        drop(set);
        inserted.map_err(|refusal| Error::UnsafeEntry {
            entry: entry.name.clone(),
            refusal,
        })?;
        any = true;
        if entry.kind == EntryKind::Dir {
            staging.dir(name)?;
            continue;
        }
        if !include.is_empty() && !include.iter().any(|p| glob_match(p, name)) {
            continue;
        }
        files.push(write_entry(&mut tar, &entry, name, staging, label)?);
    }
    if !any {
        return Err(no_entry(label));
    }
    tar.finish(MAX_TRAILING_ZEROS).map_err(tar_err)?;
    if let Some(group) = &planned.group {
        group.check_count(count, label)?;
    }
    Ok(files)
}

/// The layer tar inside the blob, decoded.
fn layer_tar<'b>(
    blob: &'b mut LayerBlob<'_>,
    encoding: LayerEncoding,
    label: &str,
) -> Result<TarReader<Stream<Box<dyn Read + 'b>>>> {
    let decoded = decoder(encoding, blob).map_err(|e| Error::BadLayer {
        title: label.to_owned(),
        reason: format!("cannot decode: {e}"),
    })?;
    Ok(TarReader::new(Stream(decoded)))
}

/// An entry's name, normalised, once its kind and path passed the policy; `None` for the
/// root directory of a tree (`./`), when `tree`.
fn checked_name(entry: &Entry, tree: bool) -> Result<Option<&str>> {
    if let Some(refusal) = entry.kind.refusal() {
        return Err(Error::UnsafeEntry {
            entry: entry.name.clone(),
            refusal,
        });
    }
    let name = normalize_name(&entry.name);
    if tree && name.is_empty() {
        return Ok(None);
    }
    check_relative_path(name).map_err(|refusal| Error::UnsafeEntry {
        entry: entry.name.clone(),
        refusal,
    })?;
    Ok(Some(name))
}

/// Writes the data of the regular file `entry` to `name` in `staging`.
fn write_entry<S: Source>(
    tar: &mut TarReader<S>,
    entry: &Entry,
    name: &str,
    staging: Out<'_>,
    label: &str,
) -> Result<UnpackedFile> {
    let executable = entry.mode & 0o111 != 0;
    let written = staging
        .file(name, &mut EntryData(tar), executable)
        .map_err(|(e, dest)| match e {
            StageError::Read(e) => layer_tar_error(TarError::Io(e), label),
            StageError::Write(e) => Error::Io {
                path: dest,
                source: e,
            },
        })?;
    Ok(UnpackedFile {
        path: name.to_owned(),
        size: written.size,
        executable,
        digest: written.digest,
    })
}

fn no_entry(label: &str) -> Error {
    Error::BadLayer {
        title: label.to_owned(),
        reason: "the layer tar holds no entry".into(),
    }
}
