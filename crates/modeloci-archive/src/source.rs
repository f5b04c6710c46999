//! The model's files as the walk found them, and opening one for a look before packing.
//! Shared by writing (which packs them) and by the facts and codec choices (which sample
//! them).

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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

/// Which file the walk saw at a path: its device and inode (those of a link's target when
/// links are followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Opens a model file for a look before packing (weight headers, codec samples): never
/// blocks on a FIFO swapped in, and yields only a regular file. What is packed is opened
/// again by `open_planned`, which checks it is the file the walk saw.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok(file)
}
