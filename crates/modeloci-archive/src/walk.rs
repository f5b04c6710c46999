//! Finding the files of a model directory.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::atomic::TEMP_MARKER;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::{Error, Result};

/// A regular file to pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceFile {
    /// The path relative to the model root, `/`-separated.
    pub(crate) rel: String,
    /// Where to read it.
    pub(crate) path: PathBuf,
    /// Its size when the walk saw it.
    pub(crate) size: u64,
    /// Whether any execute bit is set.
    pub(crate) executable: bool,
}

/// The model's regular files, sorted by relative path (byte order), symlinks followed.
///
/// `.git/` directories and this tool's temporary files are skipped, and so is `skip`, the
/// file the archive is being written to when it lies inside the model directory.
pub(crate) fn model_files(model_dir: &Path, skip: Option<&Path>) -> Result<Vec<SourceFile>> {
    if !model_dir.is_dir() {
        return Err(Error::NotADirectory {
            path: model_dir.to_owned(),
        });
    }
    let skip_ids: HashSet<(u64, u64)> = skip
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()))
        .into_iter()
        .collect();
    let walker = walkdir::WalkDir::new(model_dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| !(e.depth() > 0 && e.file_type().is_dir() && e.file_name() == ".git"));
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| walk_error(&e, model_dir))?;
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let path = entry.path();
        let unpackable = |reason: &str| Error::UnpackableFile {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if !file_type.is_file() {
            return Err(unpackable(special_kind(&entry)));
        }
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.contains(TEMP_MARKER))
        {
            continue;
        }
        let meta = entry.metadata().map_err(|e| walk_error(&e, model_dir))?;
        if skip_ids.contains(&(meta.dev(), meta.ino())) {
            continue;
        }
        let rel = relative(model_dir, path).ok_or_else(|| unpackable("its path is not UTF-8"))?;
        check_relative_path(&rel).map_err(|refusal| unpackable(&refusal.to_string()))?;
        files.push(SourceFile {
            rel,
            path: path.to_owned(),
            size: meta.len(),
            executable: meta.permissions().mode() & 0o111 != 0,
        });
    }
    files.sort_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    let mut set = PathSet::new();
    for file in &files {
        set.insert(&file.rel)
            .map_err(|refusal| Error::UnpackableFile {
                path: file.path.clone(),
                reason: refusal.to_string(),
            })?;
    }
    if files.is_empty() {
        return Err(Error::EmptyModel {
            path: model_dir.to_owned(),
        });
    }
    Ok(files)
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    Some(parts?.join("/"))
}

fn special_kind(entry: &walkdir::DirEntry) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = entry.file_type();
    if t.is_fifo() {
        "it is a FIFO, not a regular file"
    } else if t.is_socket() {
        "it is a socket, not a regular file"
    } else if t.is_block_device() || t.is_char_device() {
        "it is a device, not a regular file"
    } else {
        "it is not a regular file"
    }
}

fn walk_error(err: &walkdir::Error, model_dir: &Path) -> Error {
    let path = err.path().unwrap_or(model_dir).to_owned();
    if let Some(ancestor) = err.loop_ancestor() {
        return Error::UnpackableFile {
            reason: format!("symlink loop back to {}", ancestor.display()),
            path,
        };
    }
    match err.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound && path.is_symlink() => {
            Error::UnpackableFile {
                reason: "dangling symlink".to_owned(),
                path,
            }
        }
        Some(io) => Error::Io {
            path,
            source: std::io::Error::new(io.kind(), io.to_string()),
        },
        None => Error::UnpackableFile {
            reason: err.to_string(),
            path,
        },
    }
}
