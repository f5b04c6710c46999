//! Exclusive locks on targets, so that two processes never write one archive, staging
//! directory or unpack target at once.
//!
//! The lock is an advisory `flock` on a file beside the target, `.<name>.modeloci-lock`,
//! holding the owner's process id. A second process fails at once with "in use by process
//! N" rather than waiting: a pack, pull or unpack can run for an hour, and a script that
//! started two of them on one target has a bug to be told about, not a queue.
//!
//! The lock file is removed when the lock is released. To make that safe against a process
//! that opened the file just before it was removed, a lock counts only once the path still
//! names the file that was locked (the usual unlink-while-locked protocol); otherwise the
//! acquirer starts again. The kernel drops the lock of a process that dies, so a lock file
//! left by `kill -9` blocks nobody; the next run takes it and removes it.
//!
//! Locks are re-entrant within one thread: an operation holding a target's lock (`add`,
//! `pull`) calls others that take it again (the archive writer). Another thread of the same
//! process is refused like another process.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::{self, ThreadId};

/// The suffix of every lock file.
pub(crate) const LOCK_SUFFIX: &str = ".modeloci-lock";

/// Locks this process holds: lock file, holding thread, how many guards share it, the file.
static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());

struct Held {
    path: PathBuf,
    thread: ThreadId,
    count: usize,
    /// Open for as long as the lock is held: closing it releases the `flock`.
    _file: File,
}

/// An exclusive lock on a target path; released on drop.
#[derive(Debug)]
#[must_use = "the lock is released when this is dropped"]
pub struct TargetLock {
    path: PathBuf,
}

/// The lock file for `target`: beside it, in its canonical parent directory, so that
/// `x.tar`, `./x.tar` and `dir/../x.tar` share one lock.
fn lock_path(target: &Path) -> io::Result<PathBuf> {
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names no file or directory",
        )
    })?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = parent.canonicalize().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => io::Error::new(
            io::ErrorKind::NotFound,
            format!("the directory {} does not exist", parent.display()),
        ),
        _ => e,
    })?;
    let mut file_name = std::ffi::OsString::from(".");
    file_name.push(name);
    file_name.push(LOCK_SUFFIX);
    Ok(parent.join(file_name))
}

fn in_use(pid: Option<u32>) -> io::Error {
    let who = pid.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"));
    io::Error::new(io::ErrorKind::ResourceBusy, format!("in use by {who}"))
}

impl TargetLock {
    /// Takes the lock on `target` (a file or directory that may not exist yet; its parent
    /// must), or fails at once.
    ///
    /// # Errors
    ///
    /// An error of kind [`io::ErrorKind::ResourceBusy`] saying "in use by process N" when
    /// another process (or another thread of this one) holds it; the parent directory's
    /// errors otherwise.
    pub fn acquire(target: &Path) -> io::Result<Self> {
        let path = lock_path(target)?;
        let mut held = HELD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = held.iter_mut().find(|h| h.path == path) {
            if entry.thread != thread::current().id() {
                return Err(in_use(Some(std::process::id())));
            }
            entry.count += 1;
            return Ok(Self { path });
        }
        let file = lock_file(&path)?;
        held.push(Held {
            path: path.clone(),
            thread: thread::current().id(),
            count: 1,
            _file: file,
        });
        Ok(Self { path })
    }
}

/// Opens, locks and claims the lock file, or says who holds it.
fn lock_file(path: &Path) -> io::Result<File> {
    // Someone else may remove the file between our open and our lock: then the path no
    // longer names what we locked, and we start again. A few rounds are plenty.
    for _ in 0..16 {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("lock file {} is not a regular file", path.display()),
            ));
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(in_use(holder(&mut file))),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let still_there = fs::symlink_metadata(path)
            .is_ok_and(|now| now.dev() == meta.dev() && now.ino() == meta.ino());
        if !still_there {
            continue;
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        return Ok(file);
    }
    Err(in_use(None))
}

/// The process id the holder wrote, waiting a little for a holder that has just taken the
/// lock and not yet written it.
fn holder(file: &mut File) -> Option<u32> {
    for _ in 0..20 {
        let mut text = String::new();
        if file.rewind().is_ok()
            && file.take(32).read_to_string(&mut text).is_ok()
            && let Ok(pid) = text.trim().parse()
        {
            return Some(pid);
        }
        thread::sleep(std::time::Duration::from_millis(5));
    }
    None
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        let mut held = HELD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(i) = held.iter().position(|h| h.path == self.path) else {
            return;
        };
        held[i].count -= 1;
        if held[i].count == 0 {
            // Removed while still locked, then closed: whoever opened it meanwhile sees that
            // the path no longer names their file and tries again.
            let _ = fs::remove_file(&self.path);
            drop(held.swap_remove(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_thread_is_refused_and_the_same_thread_re_enters() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.tar");
        let first = TargetLock::acquire(&target).unwrap();
        let again = TargetLock::acquire(&dir.path().join("./model.tar")).unwrap();
        let lock_file = dir.path().join(".model.tar.modeloci-lock");
        assert_eq!(
            fs::read_to_string(&lock_file).unwrap(),
            format!("{}\n", std::process::id())
        );
        let other = std::thread::scope(|s| {
            s.spawn(|| TargetLock::acquire(&target).map(drop))
                .join()
                .unwrap()
        });
        let err = other.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy);
        assert_eq!(
            err.to_string(),
            format!("in use by process {}", std::process::id())
        );
        drop(again);
        assert!(lock_file.exists(), "still held by the first guard");
        drop(first);
        assert!(!lock_file.exists(), "removed on release");
        drop(TargetLock::acquire(&target).unwrap());
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".out.tar.modeloci-lock")).unwrap();
        assert!(TargetLock::acquire(&dir.path().join("out.tar")).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_blocks_nobody() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".out.modeloci-lock"), b"999999\n").unwrap();
        let lock = TargetLock::acquire(&dir.path().join("out")).unwrap();
        drop(lock);
        assert!(!dir.path().join(".out.modeloci-lock").exists());
    }
}
