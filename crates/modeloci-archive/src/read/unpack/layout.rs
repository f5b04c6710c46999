//! `--layout`: the outer tar's entries extracted as they are.

use std::path::Path;

use modeloci_digest::DigestReader;
use modeloci_spec::{Algorithm, Digest};

use crate::entry_policy::PathSet;
use crate::error::{Error, Result};
use crate::read::archive::{Archive, check_outer_entry, misnamed_blob};
use crate::tarfile::reader::EntryKind;

use super::UnpackedFile;
use super::target::{StageError, create_dirs, write_staged};

/// Extracts the outer tar's entries as they are, after the same checks.
pub(super) fn extract_layout(archive: &Archive, staging: &Path) -> Result<Vec<UnpackedFile>> {
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
            create_dirs(&dest).map_err(Error::io(&dest))?;
            continue;
        }
        let reader = archive.tar_entry_reader(entry).expect("a tar archive");
        let algorithm = blob_digest
            .as_ref()
            .map_or(Algorithm::Sha256, Digest::algorithm);
        let mut hashing = DigestReader::with_algorithm(reader, algorithm);
        let written = write_staged(&dest, &mut hashing, false).map_err(|e| match e {
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
            let actual = hashing.finish();
            if actual.digest != expected {
                return Err(misnamed_blob(&entry.name, expected, actual.digest));
            }
        }
        files.push(UnpackedFile {
            path: entry.name.clone(),
            size: written.size,
            executable: false,
            digest: written.digest,
        });
    }
    Ok(files)
}
