//! The staging directory of a pull: an OCI layout beside the target, which an interrupted
//! pull resumes from.
//!
//! Its name is predictable (`.<target>.modeloci-pull`), so whoever can write the target's
//! parent directory can plant things there before the pull starts: a symlink named
//! `index.json` pointing at a victim file, a `blobs` link into another directory. Nothing
//! planted is trusted:
//! - the directory is created fresh (mode 0700), or else must be a real directory owned by
//!   this user; `blobs/` and `blobs/sha256/` likewise must be real directories;
//! - every file in it is opened without following links (`O_NOFOLLOW`), and must be a regular
//!   file once open;
//! - the documents we write (`oci-layout`, `index.json`, the manifest) go to a new temporary
//!   file that is renamed over whatever had the name, which replaces a link rather than
//!   writing through it;
//! - blobs found there are hashed again before they are used.
//!
//! The pull holds the target's [`TargetLock`] for its whole run, so two pulls never share a
//! staging directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use modeloci_archive::TargetLock;

use crate::{Error, Result};

/// A pull's staging directory, validated, with the target locked.
#[derive(Debug)]
pub(crate) struct Staging {
    root: PathBuf,
    _lock: TargetLock,
}

/// The flags for opening anything inside the staging directory.
const NO_FOLLOW: i32 = libc::O_NOFOLLOW | libc::O_CLOEXEC;

impl Staging {
    /// Locks `target` and checks what is at `root`, its staging directory, if anything:
    /// nothing is created yet, so a pull that fails before its first blob leaves nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the target when another process holds it, and naming the
    /// staging path when what is there is not a directory this user made.
    pub(crate) fn open(target: &Path, root: PathBuf) -> Result<Self> {
        let lock = TargetLock::acquire(target).map_err(Error::io(target))?;
        let staging = Self { root, _lock: lock };
        staging.dirs(false)?;
        Ok(staging)
    }

    /// Creates the directories that are missing (mode 0700), checking those that exist.
    pub(crate) fn create(&self) -> Result<()> {
        self.dirs(true)
    }

    /// The directory a streamed unpack keeps its verified layers' files in (`layers/`),
    /// created (0700) with the staging directory if missing, else checked like it: a real
    /// directory owned by this user. What is inside is checked again by the unpacker.
    pub(crate) fn layers(&self) -> Result<PathBuf> {
        self.create()?;
        let dir = self.root.join("layers");
        real_dir(&dir, my_uid()?, true).map_err(Error::io(&dir))?;
        Ok(dir)
    }

    fn dirs(&self, create: bool) -> Result<()> {
        let me = my_uid()?;
        let mut dir = self.root.clone();
        for part in ["", "blobs", "sha256"] {
            if !part.is_empty() {
                dir.push(part);
            }
            if !real_dir(&dir, me, create).map_err(Error::io(&dir))? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The staging directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Writes a document (`index.json`, `oci-layout`, a manifest blob) under `name`: to a new
    /// file, renamed over whatever had the name.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(name);
        let temp = self.root.join(format!("{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(NO_FOLLOW)
                .open(&temp)?;
            file.write_all(bytes)?;
            fs::rename(&temp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.map_err(Error::io(path))
    }
}

/// This process's user.
fn my_uid() -> Result<u32> {
    Ok(fs::metadata("/proc/self")
        .map_err(Error::io("/proc/self"))?
        .uid())
}

/// Whether `dir` is there: created (0700) when absent and `create`; else it must be a
/// directory, not a link, owned by `uid`.
fn real_dir(dir: &Path, uid: u32, create: bool) -> io::Result<bool> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new().mode(0o700).create(dir).map(|()| true)
        }
        Err(e) => Err(e),
        Ok(meta) if meta.file_type().is_symlink() => Err(not_ours("it is a symbolic link")),
        Ok(meta) if !meta.is_dir() => Err(not_ours("it is not a directory")),
        Ok(meta) if meta.uid() != uid => Err(not_ours(&format!(
            "it belongs to user {}, not to this user ({uid})",
            meta.uid()
        ))),
        Ok(_) => Ok(true),
    }
}

fn not_ours(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a staging directory this tool made ({why}); remove it, or pull elsewhere"),
    )
}

/// Opens a file in the staging directory for reading, without following a link; `None`
/// when there is no such file.
pub(crate) fn open_existing(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(NO_FOLLOW)
        .open(path)
    {
        Ok(file) if file.metadata()?.is_file() => Ok(Some(file)),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens a partial download for writing from `start` on: truncated when `start` is 0, else
/// appended to. Never follows a link; never writes to anything but a regular file.
pub(crate) fn open_partial(path: &Path, start: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(start == 0)
        .append(start > 0)
        .mode(0o600)
        .custom_flags(NO_FOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Opens the file a blob downloaded in parts is written into, in place, for reading and
/// writing (never following a link, never anything but a regular file), `size` bytes long.
/// Returns it and whether it was kept from an earlier run (there, and already that long):
/// a file of another length is emptied first, its parts to be fetched again.
pub(crate) fn open_ranged(path: &Path, size: u64) -> io::Result<(File, bool)> {
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(NO_FOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let kept = meta.len() == size;
    if !kept {
        file.set_len(0)?;
        file.set_len(size)?;
    }
    Ok((file, kept))
}

/// Opens the record of a ranged download's finished parts, to append to.
pub(crate) fn open_record(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(NO_FOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Removes whatever is at `path` in the staging directory (a link itself, never its target).
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_links_are_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let root = dir.path().join(".out.tar.modeloci-pull");
        fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("index.json")).unwrap();
        let staging = Staging::open(&dir.path().join("out.tar"), root.clone()).unwrap();
        staging.create().unwrap();
        staging.write("index.json", b"{}").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(root.join("index.json")).unwrap(), b"{}");
        assert!(
            !fs::symlink_metadata(root.join("index.json"))
                .unwrap()
                .is_symlink()
        );

        let partial = root.join("blobs/sha256/ab.partial");
        std::os::unix::fs::symlink(&victim, &partial).unwrap();
        assert!(open_partial(&partial, 0).is_err());
        assert!(open_partial(&partial, 3).is_err());
        assert!(open_existing(&partial).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        remove(&partial).unwrap();
        assert!(victim.exists());
    }

    #[test]
    fn a_linked_staging_or_blob_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let root = dir.path().join(".a.modeloci-pull");
        std::os::unix::fs::symlink(&elsewhere, &root).unwrap();
        let err = Staging::open(&dir.path().join("a"), root.clone()).unwrap_err();
        assert!(err.to_string().contains("it is a symbolic link"), "{err}");

        fs::remove_file(&root).unwrap();
        fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("blobs")).unwrap();
        let err = Staging::open(&dir.path().join("a"), root).unwrap_err();
        assert!(
            err.to_string().contains("blobs: not a staging directory"),
            "{err}"
        );
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}
