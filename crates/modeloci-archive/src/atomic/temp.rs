//! Files and directories that appear at their final path complete or not at all.
//!
//! Work is written under a temporary name beside the target, on the same file system, and
//! renamed into place when complete. If the process dies, the temporary is what is left; its
//! name says which process made it, so a later run removes it once that process is gone.
//! Each temporary holds the target's [`TargetLock`] until it is renamed into place or
//! removed, so two processes never write one target at once.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::atomic::lock::TargetLock;

/// The marker in every temporary name this crate creates.
pub(crate) const TEMP_MARKER: &str = ".modeloci-tmp-";

fn temp_name(target_name: &str) -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        ".{target_name}{TEMP_MARKER}{}-{:012x}",
        std::process::id(),
        hasher.finish() & 0xffff_ffff_ffff
    )
}

fn parent_and_name(target: &Path) -> io::Result<(PathBuf, String)> {
    let name = target.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "target has no UTF-8 file name")
    })?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_owned()))
}

/// Removes temporaries of `target` left by processes that no longer run.
pub(crate) fn remove_stale(target: &Path) {
    let Ok((parent, name)) = parent_and_name(target) else {
        return;
    };
    let prefix = format!(".{name}{TEMP_MARKER}");
    let Ok(entries) = fs::read_dir(&parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let path = entry.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// A file being written beside its target; removed on drop unless persisted.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    target: PathBuf,
    persisted: bool,
    _lock: TargetLock,
}

impl TempFile {
    /// Creates the temporary for `target` (mode 0666 less the umask, as for any new file).
    pub(crate) fn beside(target: &Path) -> io::Result<(Self, File)> {
        let lock = TargetLock::acquire(target)?;
        remove_stale(target);
        let (parent, name) = parent_and_name(target)?;
        let path = parent.join(temp_name(&name));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&path)?;
        Ok((
            Self {
                path,
                target: target.to_owned(),
                persisted: false,
                _lock: lock,
            },
            file,
        ))
    }

    /// Renames the temporary onto the target.
    pub(crate) fn persist(mut self) -> io::Result<()> {
        fs::rename(&self.path, &self.target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A directory being filled; removed with its content on drop unless persisted.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
    persisted: bool,
    _lock: TargetLock,
}

impl TempDir {
    /// Creates a private (0700) directory beside `target`.
    pub(crate) fn beside(target: &Path) -> io::Result<Self> {
        let lock = TargetLock::acquire(target)?;
        remove_stale(target);
        let (parent, name) = parent_and_name(target)?;
        Self::create(parent.join(temp_name(&name)), lock)
    }

    /// Creates a private (0700) directory inside `dir`, for staging files that will be moved
    /// into `dir` one by one.
    pub(crate) fn inside(dir: &Path) -> io::Result<Self> {
        let lock = TargetLock::acquire(dir)?;
        remove_stale(&dir.join("staging"));
        Self::create(dir.join(temp_name("staging")), lock)
    }

    fn create(path: PathBuf, lock: TargetLock) -> io::Result<Self> {
        fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self {
            path,
            persisted: false,
            _lock: lock,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the directory onto `target`, which must not exist or be an empty directory.
    pub(crate) fn persist(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
