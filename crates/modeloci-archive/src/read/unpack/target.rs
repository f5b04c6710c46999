//! The output directory: its staging directory, files written into that, and publishing
//! into the target (a fresh directory renamed into place, or `--force` moving files one by
//! one into a directory that holds files already).

use std::cell::RefCell;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use modeloci_digest::{ChunkError, Hasher, Measured, read_chunks};

use crate::atomic::temp::TempDir;
use crate::error::{Error, Result};

use super::UnpackedFile;

/// An I/O error on a staged file, told as of the file the user asked for: `out/weights.bin`,
/// not `.out.modeloci-tmp-123-4567/weights.bin` (which is gone by the time they read it).
pub(super) fn as_written_to(err: Error, staging: &Path, output_dir: &Path) -> Error {
    match err {
        Error::Io { path, source } if path.starts_with(staging) => Error::Io {
            path: output_dir.join(path.strip_prefix(staging).unwrap_or(&path)),
            source,
        },
        other => other,
    }
}

/// Creates the directory `path` and those missing above it, with mode 0755.
pub(super) fn create_dirs(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
}

/// Runs `f` with this thread's 1 MiB copy buffer: allocated once a thread, not once a file
/// (a model of 100,000 small files would otherwise zero 100 GiB).
fn with_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.is_empty() {
            buffer.resize(1 << 20, 0);
        }
        f(&mut buffer)
    })
}

/// [`create_dirs`] of a staged file's directory, skipped when this thread created it last
/// (the files of a tree come directory by directory). The staging directory is private and
/// nothing in it is ever removed or replaced while staging, so a directory made stays one;
/// [`write_staged`] creates it again should the file's open find it gone.
fn create_parent(parent: &Path) -> io::Result<()> {
    thread_local! {
        static LAST: RefCell<PathBuf> = RefCell::new(PathBuf::new());
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if *last != parent {
            create_dirs(parent)?;
            parent.clone_into(&mut last);
        }
        Ok(())
    })
}

pub(super) enum StageError {
    Read(io::Error),
    Write(io::Error),
}

/// Writes a new file (never through an existing one) from `data`, with mode 0644 or 0755;
/// returns the SHA-256 and size of what was written, hashed on the way.
pub(super) fn write_staged(
    dest: &Path,
    data: &mut dyn Read,
    executable: bool,
) -> std::result::Result<Measured, StageError> {
    if let Some(parent) = dest.parent() {
        create_parent(parent).map_err(StageError::Write)?;
    }
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
    };
    let mut file = match open() {
        // A directory remembered from an earlier staging directory of the same name.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dest.parent() {
                create_dirs(parent).map_err(StageError::Write)?;
            }
            open()
        }
        other => other,
    }
    .map_err(StageError::Write)?;
    let mut hasher = Hasher::default();
    with_buffer(|buf| {
        read_chunks(data, buf, |chunk| {
            hasher.update(chunk);
            file.write_all(chunk)
        })
    })
    .map_err(|e| match e {
        ChunkError::Read(e) => StageError::Read(e),
        ChunkError::Sink(e) => StageError::Write(e),
    })?;
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(StageError::Write)?;
    Ok(hasher.finish())
}

/// Hashes `data` without writing it anywhere: what [`write_staged`] would have written.
pub(super) fn hash_only(data: &mut dyn Read) -> std::result::Result<Measured, StageError> {
    let mut hasher = Hasher::default();
    with_buffer(|buf| {
        read_chunks(data, buf, |chunk| {
            hasher.update(chunk);
            Ok::<(), io::Error>(())
        })
    })
    .map_err(|e| match e {
        ChunkError::Read(e) => StageError::Read(e),
        ChunkError::Sink(e) => StageError::Write(e),
    })?;
    Ok(hasher.finish())
}

/// The output directory, and how files get there.
pub(super) struct Target {
    path: PathBuf,
    /// The directory holds files already: stage inside it and move files one by one.
    overlay: bool,
    /// Directories this run created above the target, removed again on failure.
    created_parents: Vec<PathBuf>,
}

impl Target {
    pub(super) fn prepare(path: &Path, force: bool) -> Result<Self> {
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

    pub(super) fn staging(&self) -> Result<TempDir> {
        let staged = if self.overlay {
            TempDir::inside(&self.path)
        } else {
            TempDir::beside(&self.path)
        };
        staged.map_err(Error::io(&self.path))
    }

    /// In overlay mode, refuses paths that would replace a directory or write through a
    /// symlink or a file in the target.
    pub(super) fn check_conflicts<'a>(&self, paths: impl Iterator<Item = &'a str>) -> Result<()> {
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
    pub(super) fn publish(mut self, staging: TempDir, files: &[UnpackedFile]) -> Result<()> {
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
                create_dirs(parent).map_err(Error::io(parent))?;
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
