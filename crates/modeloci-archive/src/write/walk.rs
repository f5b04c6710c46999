//! Finding the files of a model directory.

use std::fs::File;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::atomic::temp::TEMP_MARKER;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::error::{Error, Result};
use crate::options::Symlinks;
use crate::source::{FileId, SourceFile};

/// The file at the model root that lists paths to leave out, in gitignore syntax.
pub const IGNORE_FILE: &str = ".modelociignore";

/// Which files of the model directory to pack.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Selection<'a> {
    /// Patterns to leave out besides those of [`IGNORE_FILE`] (gitignore syntax).
    pub(crate) exclude: &'a [String],
    /// What to do with symbolic links.
    pub(crate) symlinks: Symlinks,
}

/// The matcher for `.modelociignore` (when present) and the `--exclude` patterns.
fn ignore_matcher(model_dir: &Path, exclude: &[String]) -> Result<Gitignore> {
    let mut builder = GitignoreBuilder::new(model_dir);
    let file = model_dir.join(IGNORE_FILE);
    if file.is_file()
        && let Some(err) = builder.add(&file)
    {
        return Err(Error::InvalidOption(format!("{}: {}", file.display(), err)));
    }
    for pattern in exclude {
        builder
            .add_line(None, pattern)
            .map_err(|err| Error::InvalidExcludePattern {
                pattern: pattern.clone(),
                reason: err.to_string(),
            })?;
    }
    builder
        .build()
        .map_err(|err| Error::InvalidOption(err.to_string()))
}

/// The model's regular files, sorted by relative path (byte order), each with the identity
/// the walk saw.
///
/// Left out: what `.modelociignore` and `selection.exclude` name, `.git/` directories, the
/// ignore file itself and this tool's temporary files. Symbolic links are followed, skipped
/// or refused as `selection.symlinks` says.
pub(crate) fn model_files(
    model_dir: &Path,
    selection: Selection<'_>,
) -> Result<Vec<(SourceFile, FileId)>> {
    if !model_dir.is_dir() {
        return Err(Error::NotADirectory {
            path: model_dir.to_owned(),
        });
    }
    let ignore = ignore_matcher(model_dir, selection.exclude)?;
    let walker = walkdir::WalkDir::new(model_dir)
        .follow_links(selection.symlinks == Symlinks::Follow)
        .into_iter()
        .filter_entry(|e| !left_out(e, &ignore));
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| walk_error(&e, model_dir))?;
        if let Some(file) = walked_file(&entry, model_dir, selection.symlinks)? {
            files.push(file);
        }
    }
    files.sort_by(|a, b| a.0.rel.as_bytes().cmp(b.0.rel.as_bytes()));
    let mut set = PathSet::new();
    for (file, _) in &files {
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

/// Whether the walk leaves out an entry and, for a directory, all below it: `.git/`, the
/// ignore file at the top, and what the ignore rules name. The root is never left out.
fn left_out(entry: &walkdir::DirEntry, ignore: &Gitignore) -> bool {
    if entry.depth() == 0 {
        return false;
    }
    let dir = entry.file_type().is_dir();
    (dir && entry.file_name() == ".git")
        || (entry.depth() == 1 && !dir && entry.file_name() == IGNORE_FILE)
        || ignore.matched(entry.path(), dir).is_ignore()
}

/// The model file an entry of the walk is, if it is one: directories, skipped links and
/// this tool's temporary files are not; a link under `--symlinks error`, a special file or
/// a path the unpacker would refuse is an error.
fn walked_file(
    entry: &walkdir::DirEntry,
    model_dir: &Path,
    symlinks: Symlinks,
) -> Result<Option<(SourceFile, FileId)>> {
    let file_type = entry.file_type();
    if file_type.is_dir() {
        return Ok(None);
    }
    let path = entry.path();
    let unpackable = |reason: &str| Error::UnpackableFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if file_type.is_symlink() {
        match symlinks {
            Symlinks::Skip => return Ok(None),
            _ => {
                return Err(Error::SymlinkRefused {
                    path: path.to_owned(),
                });
            }
        }
    }
    if !file_type.is_file() {
        return Err(unpackable(special_kind(entry)));
    }
    if entry
        .file_name()
        .to_str()
        .is_some_and(|n| n.contains(TEMP_MARKER))
    {
        return Ok(None);
    }
    let meta = entry.metadata().map_err(|e| walk_error(&e, model_dir))?;
    let rel = relative(model_dir, path).ok_or_else(|| unpackable("its path is not UTF-8"))?;
    check_relative_path(&rel).map_err(|refusal| unpackable(&refusal.to_string()))?;
    let file = SourceFile {
        rel,
        path: path.to_owned(),
        size: meta.len(),
        executable: meta.permissions().mode() & 0o111 != 0,
    };
    Ok(Some((file, FileId::of(&meta))))
}

/// Opens a file the walk planned, to read its content into the archive, and checks that what
/// was opened is what the walk saw: a regular file of the size planned and, given `id`, the
/// same device and inode. Under `--symlinks skip` and `error` a link now at the path is not
/// followed (`O_NOFOLLOW`); the identity check also catches a directory of the path replaced
/// by a link. A FIFO now at the path is opened without waiting for a writer (`O_NONBLOCK`,
/// which changes nothing for regular files) and refused.
///
/// # Errors
///
/// [`Error::UnpackableFile`] saying that the file changed while packing (now a link, not a
/// regular file, another file), [`Error::FileChanged`] for another size, [`Error::Io`].
pub(crate) fn open_planned(
    file: &SourceFile,
    id: Option<FileId>,
    symlinks: Symlinks,
) -> Result<File> {
    let changed = |what: &str| Error::UnpackableFile {
        path: file.path.clone(),
        reason: format!("it changed while packing: {what}"),
    };
    let mut flags = libc::O_NONBLOCK;
    if symlinks != Symlinks::Follow {
        flags |= libc::O_NOFOLLOW;
    }
    let handle = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(&file.path)
    {
        Ok(handle) => handle,
        Err(e) if flags & libc::O_NOFOLLOW != 0 && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(changed("it is a symbolic link now"));
        }
        Err(e) => return Err(Error::io(&file.path)(e)),
    };
    let meta = handle.metadata().map_err(Error::io(&file.path))?;
    if !meta.is_file() {
        return Err(changed("it is not a regular file now"));
    }
    if id.is_some_and(|id| id != FileId::of(&meta)) {
        return Err(changed("another file is at its path now"));
    }
    if meta.len() != file.size {
        return Err(Error::FileChanged {
            path: file.path.clone(),
            expected: file.size,
        });
    }
    Ok(handle)
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

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::symlink;

    use super::*;

    /// The walk of `dir` under `symlinks`: each file with what the walk saw.
    fn walk(dir: &Path, symlinks: Symlinks) -> Vec<(SourceFile, FileId)> {
        let selection = Selection {
            exclude: &[],
            symlinks,
        };
        model_files(dir, selection).unwrap()
    }

    #[track_caller]
    fn refused(result: Result<File>, expected: &str) {
        match result {
            Ok(_) => panic!("opened; expected {expected:?}"),
            Err(err) => assert_eq!(err.to_string(), expected),
        }
    }

    #[test]
    fn a_file_swapped_for_a_link_after_the_walk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("w.bin"), b"12345").unwrap();
        std::fs::write(dir.path().join("secret"), b"abcde").unwrap();
        for symlinks in [Symlinks::Error, Symlinks::Skip, Symlinks::Follow] {
            let planned = walk(&model, symlinks);
            let (file, id) = &planned[0];
            assert_eq!(file.rel, "w.bin");
            let mut content = String::new();
            open_planned(file, Some(*id), symlinks)
                .unwrap()
                .read_to_string(&mut content)
                .unwrap();
            assert_eq!(content, "12345");

            // Same size, another file: a link to it.
            std::fs::rename(model.join("w.bin"), dir.path().join("saved")).unwrap();
            symlink(dir.path().join("secret"), model.join("w.bin")).unwrap();
            let name = model.join("w.bin").display().to_string();
            let expected = if symlinks == Symlinks::Follow {
                format!(
                    "cannot pack {name}: it changed while packing: another file is at its path now"
                )
            } else {
                format!("cannot pack {name}: it changed while packing: it is a symbolic link now")
            };
            refused(open_planned(file, Some(*id), symlinks), &expected);
            if symlinks != Symlinks::Follow {
                // Without the walk's identity, O_NOFOLLOW alone refuses it.
                refused(open_planned(file, None, symlinks), &expected);
            }
            std::fs::remove_file(model.join("w.bin")).unwrap();

            // Same size, another regular file renamed into place.
            std::fs::copy(dir.path().join("secret"), model.join("w.bin")).unwrap();
            refused(
                open_planned(file, Some(*id), symlinks),
                &format!(
                    "cannot pack {name}: it changed while packing: another file is at its path now"
                ),
            );
            std::fs::remove_file(model.join("w.bin")).unwrap();

            // A FIFO: refused at once, not waiting for a writer.
            let status = std::process::Command::new("mkfifo")
                .arg(model.join("w.bin"))
                .status()
                .unwrap();
            assert!(status.success());
            refused(
                open_planned(file, Some(*id), symlinks),
                &format!(
                    "cannot pack {name}: it changed while packing: it is not a regular file now"
                ),
            );
            std::fs::remove_file(model.join("w.bin")).unwrap();
            std::fs::rename(dir.path().join("saved"), model.join("w.bin")).unwrap();

            // The same file, grown.
            std::fs::write(model.join("w.bin"), b"123456").unwrap();
            refused(
                open_planned(file, Some(*id), symlinks),
                &format!("{name} changed while it was being packed (expected 5 bytes)"),
            );
            std::fs::write(model.join("w.bin"), b"12345").unwrap();
        }
    }

    #[test]
    fn a_directory_swapped_for_a_link_after_the_walk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("sub/w.bin"), b"12345").unwrap();
        std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
        std::fs::write(dir.path().join("elsewhere/w.bin"), b"abcde").unwrap();
        let planned = walk(&model, Symlinks::Error);
        let (file, id) = &planned[0];
        std::fs::rename(model.join("sub"), dir.path().join("saved")).unwrap();
        symlink(dir.path().join("elsewhere"), model.join("sub")).unwrap();
        refused(
            open_planned(file, Some(*id), Symlinks::Error),
            &format!(
                "cannot pack {}: it changed while packing: another file is at its path now",
                model.join("sub/w.bin").display()
            ),
        );
    }
}
