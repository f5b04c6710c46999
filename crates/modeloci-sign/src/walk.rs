//! The files of a model directory that a `model_signing` signature covers, hashed.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use modeloci_digest::{all_or_first_error, largest_first};
use modeloci_spec::Digest;

use crate::statement::DEFAULT_IGNORE_PATHS;
use crate::{Error, Result};

/// Every regular file below `dir`, named by its `/`-separated path relative to `dir`, with
/// its SHA-256, hashed on up to `threads` threads: what `model_signing` signs for a
/// directory. Skipped: directories themselves (an empty one is not recorded) and the paths
/// `model_signing` ignores by default (`.git`, `.gitattributes`, `.github`, `.gitignore`),
/// plus `ignore`, each a path relative to `dir` that ignores itself and everything below it
/// (whole components: `a` ignores `a/b`, not `ab`). An ignore path that is not a valid
/// relative name ([`crate::check_name`]: absolute, with `..`, ...) ignores nothing. The list is
/// in walk order; a [`crate::Statement`] sorts it.
///
/// # Errors
///
/// [`Error::NotADirectory`], [`Error::Symlink`] and [`Error::SpecialFile`] naming the path,
/// [`Error::NonUtf8Name`], [`Error::Io`] and [`Error::Digest`] when something cannot be read.
pub fn hash_dir(dir: &Path, threads: usize, ignore: &[String]) -> Result<Vec<(String, Digest)>> {
    let meta = std::fs::metadata(dir).map_err(|source| Error::Io {
        path: dir.into(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory { path: dir.into() });
    }
    let ignored: Vec<Vec<&str>> = DEFAULT_IGNORE_PATHS
        .iter()
        .copied()
        .chain(ignore.iter().map(String::as_str))
        .filter(|path| crate::check_name(path).is_ok())
        .map(|path| path.split('/').collect())
        .collect();
    let files = list_files(dir, &ignored)?;
    let sizes: Vec<u64> = files.iter().map(|f| f.2).collect();
    let digests = all_or_first_error(largest_first(&sizes, threads, |i| hash(&files[i].1)))?;
    Ok(files.into_iter().map(|f| f.0).zip(digests).collect())
}

/// `(name, path, size)` of every file to hash.
fn list_files(dir: &Path, ignored: &[Vec<&str>]) -> Result<Vec<(String, PathBuf, u64)>> {
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !is_ignored(dir, e.path(), ignored));
    for entry in walk {
        let entry = entry.map_err(|e| Error::Io {
            path: e.path().unwrap_or(dir).to_owned(),
            source: e.into(),
        })?;
        let path = entry.path();
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() {
            return Err(Error::Symlink { path: path.into() });
        }
        if !kind.is_file() {
            return Err(Error::SpecialFile { path: path.into() });
        }
        let name = relative_name(dir, path)?;
        let size = entry
            .metadata()
            .map_err(|e| Error::Io {
                path: path.into(),
                source: e.into(),
            })?
            .len();
        files.push((name, path.to_owned(), size));
    }
    Ok(files)
}

fn is_ignored(dir: &Path, path: &Path, ignored: &[Vec<&str>]) -> bool {
    let Ok(rel) = path.strip_prefix(dir) else {
        return false;
    };
    let parts: Vec<std::borrow::Cow<'_, str>> = rel.iter().map(|c| c.to_string_lossy()).collect();
    ignored
        .iter()
        .any(|ig| parts.len() >= ig.len() && parts.iter().zip(ig).all(|(p, i)| p == i))
}

fn relative_name(dir: &Path, path: &Path) -> Result<String> {
    let rel = path
        .strip_prefix(dir)
        .expect("the walk stays below its root");
    let parts: Option<Vec<&str>> = rel.iter().map(|c| c.to_str()).collect();
    match parts {
        Some(parts) => Ok(parts.join("/")),
        None => Err(Error::NonUtf8Name { path: path.into() }),
    }
}

/// Hashes a regular file, refusing a symbolic link planted after the walk saw a file.
fn hash(path: &Path) -> Result<Digest> {
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(Error::SpecialFile { path: path.into() });
    }
    let measured = modeloci_digest::hash_reader(file).map_err(io)?;
    Ok(measured.digest)
}
