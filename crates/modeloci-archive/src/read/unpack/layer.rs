//! One layer extracted into the staging directory while its blob is verified.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Mutex;

use crate::codec::compress::decoder;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::glob::glob_match;
use crate::progress::{Counting, Progress};
use crate::read::archive::{Archive, blob_error, normalize_name};
use crate::tarfile::reader::{
    EntryData, EntryKind, MAX_TRAILING_ZEROS, Stream, TarError, TarReader,
};
use crate::{Error, Result};

use super::UnpackedFile;
use super::plan::{Form, Planned};
use super::target::{StageError, write_staged};

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

/// Extracts one layer's file(s) into `staging`, verifying the blob as it streams.
pub(super) fn extract_layer(
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
