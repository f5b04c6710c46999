//! What an archive may ask to write, and what it may not.
//!
//! Every path that reaches the file system during unpack (a layer title, a tar entry name)
//! passes [`check_relative_path`], and every set of paths passes a [`PathSet`], before
//! anything is written. The same checks run when packing, so that this tool never writes an
//! archive it would refuse to unpack.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// Why an entry or path is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The path is empty.
    EmptyPath,
    /// The path starts with `/`.
    AbsolutePath,
    /// The path has a `..` component.
    ParentDirectory,
    /// The path has an empty or `.` component (`a//b`, `./a`, `a/.`, a trailing `/`).
    EmptyComponent,
    /// The path holds a backslash, or starts with a drive letter (`C:`): a Windows path.
    WindowsPath,
    /// The path holds a NUL or another control character.
    ControlCharacter,
    /// A component is longer than 255 bytes or the path longer than 4096.
    TooLong,
    /// The entry name is not UTF-8.
    NotUtf8,
    /// The entry is a symbolic link.
    Symlink {
        /// Where it points.
        target: String,
    },
    /// The entry is a hard link.
    Hardlink {
        /// What it links to.
        target: String,
    },
    /// The entry is a character device.
    CharDevice,
    /// The entry is a block device.
    BlockDevice,
    /// The entry is a FIFO.
    Fifo,
    /// The entry is a GNU sparse file.
    Sparse,
    /// The entry has a type flag this tool does not know.
    UnknownType(u8),
    /// The path appears twice.
    Duplicate,
    /// The path differs from another only in letter case; on a case-insensitive file system
    /// one would overwrite the other.
    CaseCollision {
        /// The other path.
        other: String,
    },
    /// The path is a file in one place and a directory in another.
    FileDirectoryConflict {
        /// The other path.
        other: String,
    },
    /// A metadata entry (GNU long name, PAX header) is larger than the cap.
    OversizedMetadata {
        /// The kind of metadata entry.
        kind: &'static str,
        /// Its declared size.
        size: u64,
    },
    /// A PAX header carries a record this tool refuses.
    BadPaxRecord {
        /// The record's key, or what is wrong with it.
        key: String,
    },
    /// An entry that holds no data (a directory, a link, a device) declares a size.
    DataOnNonFile {
        /// The declared size.
        size: u64,
    },
    /// In an OCI layout directory, what is at a document or blob path is not a regular file
    /// (and not a link, FIFO or device, which have their own refusals).
    NotRegularFile {
        /// What it is: `a directory`, `a socket`.
        kind: &'static str,
    },
    /// An entry under `blobs/` that is neither `blobs/<algorithm>` nor a blob named by its
    /// digest, `blobs/<algorithm>/<hex>`: an OCI layout holds nothing else there.
    NotABlob,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyPath => f.write_str("empty path"),
            Self::AbsolutePath => f.write_str("absolute path"),
            Self::ParentDirectory => f.write_str("path has a '..' component"),
            Self::EmptyComponent => f.write_str("path has an empty or '.' component"),
            Self::WindowsPath => f.write_str("Windows drive, UNC or backslash path"),
            Self::ControlCharacter => f.write_str("path holds a NUL or control character"),
            Self::TooLong => {
                f.write_str("path longer than 4096 bytes or a component longer than 255")
            }
            Self::NotUtf8 => f.write_str("name is not UTF-8"),
            Self::Symlink { target } => write!(f, "symbolic link (to {target:?})"),
            Self::Hardlink { target } => write!(f, "hard link (to {target:?})"),
            Self::CharDevice => f.write_str("character device"),
            Self::BlockDevice => f.write_str("block device"),
            Self::Fifo => f.write_str("FIFO"),
            Self::Sparse => f.write_str("GNU sparse file"),
            Self::UnknownType(t) => write!(f, "unknown entry type {:?}", char::from(*t)),
            Self::Duplicate => f.write_str("duplicate path"),
            Self::CaseCollision { other } => write!(f, "differs only in case from {other:?}"),
            Self::FileDirectoryConflict { other } => {
                write!(f, "file and directory at once (with {other:?})")
            }
            Self::OversizedMetadata { kind, size } => write!(
                f,
                "{kind} of {size} bytes is over the {MAX_METADATA_SIZE}-byte limit"
            ),
            Self::BadPaxRecord { key } => write!(f, "PAX record {key:?} is not accepted"),
            Self::DataOnNonFile { size } => {
                write!(f, "entry that holds no data declares {size} bytes of it")
            }
            Self::NotRegularFile { kind } => write!(f, "not a regular file ({kind})"),
            Self::NotABlob => {
                f.write_str("under blobs/ an OCI layout holds only blobs/<algorithm>/<hex digest>")
            }
        }
    }
}

/// The largest GNU long-name or PAX header body read into memory.
pub const MAX_METADATA_SIZE: u64 = 64 * 1024;
const MAX_PATH: usize = 4096;
const MAX_COMPONENT: usize = 255;

/// Checks that `path` is a plain relative path that stays inside the directory it is joined
/// to, on Linux, macOS and Windows alike.
///
/// # Errors
///
/// The first rule the path breaks.
pub fn check_relative_path(path: &str) -> Result<(), Refusal> {
    if path.is_empty() {
        return Err(Refusal::EmptyPath);
    }
    if path.starts_with('/') {
        return Err(Refusal::AbsolutePath);
    }
    if path.contains('\\') || has_drive_prefix(path) {
        return Err(Refusal::WindowsPath);
    }
    if path.chars().any(char::is_control) {
        return Err(Refusal::ControlCharacter);
    }
    if path.len() > MAX_PATH {
        return Err(Refusal::TooLong);
    }
    for component in path.split('/') {
        match component {
            ".." => return Err(Refusal::ParentDirectory),
            "" | "." => return Err(Refusal::EmptyComponent),
            c if c.len() > MAX_COMPONENT => return Err(Refusal::TooLong),
            _ => {}
        }
    }
    Ok(())
}

fn has_drive_prefix(path: &str) -> bool {
    let b = path.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// The paths of one model, checked for duplicates, case collisions and file/directory
/// conflicts as they are added.
#[derive(Debug, Default)]
pub struct PathSet {
    /// Lower-cased file path -> the path as given.
    files: HashMap<String, String>,
    /// Lower-cased directory path -> a file path below it, as given.
    dirs: HashMap<String, String>,
    exact: HashSet<String>,
}

impl PathSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file path (already checked with [`check_relative_path`]).
    ///
    /// # Errors
    ///
    /// [`Refusal::Duplicate`], [`Refusal::CaseCollision`] or
    /// [`Refusal::FileDirectoryConflict`].
    pub fn insert(&mut self, path: &str) -> Result<(), Refusal> {
        if self.exact.contains(path) {
            return Err(Refusal::Duplicate);
        }
        let lower = path.to_lowercase();
        if let Some(other) = self.files.get(&lower) {
            return Err(Refusal::CaseCollision {
                other: other.clone(),
            });
        }
        if let Some(below) = self.dirs.get(&lower) {
            return Err(Refusal::FileDirectoryConflict {
                other: below.clone(),
            });
        }
        let mut ancestors = Vec::new();
        let mut end = 0;
        while let Some(i) = lower[end..].find('/') {
            end += i;
            let dir = &lower[..end];
            if let Some(other) = self.files.get(dir) {
                return Err(Refusal::FileDirectoryConflict {
                    other: other.clone(),
                });
            }
            ancestors.push(dir.to_owned());
            end += 1;
        }
        for dir in ancestors {
            self.dirs.entry(dir).or_insert_with(|| path.to_owned());
        }
        self.files.insert(lower, path.to_owned());
        self.exact.insert(path.to_owned());
        Ok(())
    }
}

impl PathSet {
    /// Adds a directory path (already checked with [`check_relative_path`]); a directory may
    /// appear more than once.
    ///
    /// # Errors
    ///
    /// [`Refusal::FileDirectoryConflict`] when a file has this path or one of its ancestors'.
    pub fn insert_dir(&mut self, path: &str) -> Result<(), Refusal> {
        let lower = path.to_lowercase();
        let mut end = 0;
        loop {
            let next = lower[end..].find('/').map(|i| end + i);
            let prefix = &lower[..next.unwrap_or(lower.len())];
            if let Some(other) = self.files.get(prefix) {
                return Err(Refusal::FileDirectoryConflict {
                    other: other.clone(),
                });
            }
            self.dirs
                .entry(prefix.to_owned())
                .or_insert_with(|| path.to_owned());
            match next {
                Some(i) => end = i + 1,
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(path: &str, expected: Result<(), Refusal>) {
        assert_eq!(check_relative_path(path), expected, "{path:?}");
    }

    #[test]
    fn relative_paths() {
        check("model.safetensors", Ok(()));
        check("nested/dir/tokenizer.json", Ok(()));
        check("with space/ünïcödé ✓.bin", Ok(()));
        check("..hidden/...dots", Ok(()));
        check("", Err(Refusal::EmptyPath));
        check("/etc/passwd", Err(Refusal::AbsolutePath));
        check("../x", Err(Refusal::ParentDirectory));
        check("a/../../x", Err(Refusal::ParentDirectory));
        check("a/..", Err(Refusal::ParentDirectory));
        check("./a", Err(Refusal::EmptyComponent));
        check("a//b", Err(Refusal::EmptyComponent));
        check("a/", Err(Refusal::EmptyComponent));
        check("C:\\Windows\\x", Err(Refusal::WindowsPath));
        check("C:x", Err(Refusal::WindowsPath));
        check("\\\\server\\share\\x", Err(Refusal::WindowsPath));
        check("a\\..\\..\\x", Err(Refusal::WindowsPath));
        check("a\0b", Err(Refusal::ControlCharacter));
        check("a\nb", Err(Refusal::ControlCharacter));
        check(&"x".repeat(256), Err(Refusal::TooLong));
        check(&format!("{}/x", "d/".repeat(2048)), Err(Refusal::TooLong));
    }

    #[test]
    fn path_sets() {
        let mut set = PathSet::new();
        set.insert("a/b/c.bin").unwrap();
        set.insert("a/b/d.bin").unwrap();
        set.insert("A.txt").unwrap();
        assert_eq!(set.insert("a/b/c.bin"), Err(Refusal::Duplicate));
        assert_eq!(
            set.insert("a/B/c.bin"),
            Err(Refusal::CaseCollision {
                other: "a/b/c.bin".into()
            })
        );
        assert_eq!(
            set.insert("a.TXT"),
            Err(Refusal::CaseCollision {
                other: "A.txt".into()
            })
        );
        assert_eq!(
            set.insert("a/b"),
            Err(Refusal::FileDirectoryConflict {
                other: "a/b/c.bin".into()
            })
        );
        assert_eq!(
            set.insert("A.txt/inner"),
            Err(Refusal::FileDirectoryConflict {
                other: "A.txt".into()
            })
        );
        set.insert("a/bb").unwrap();
        set.insert_dir("a/b").unwrap();
        set.insert_dir("new/dir").unwrap();
        assert_eq!(
            set.insert("new"),
            Err(Refusal::FileDirectoryConflict {
                other: "new/dir".into()
            })
        );
        assert_eq!(
            set.insert_dir("A.txt"),
            Err(Refusal::FileDirectoryConflict {
                other: "A.txt".into()
            })
        );
        assert_eq!(
            set.insert_dir("a/bb/c"),
            Err(Refusal::FileDirectoryConflict {
                other: "a/bb".into()
            })
        );
    }
}
