//! Hugging Face hub caches as pack meets them. A cache holds one folder per repository,
//! `models--<org>--<name>` (or `datasets--`, `spaces--`), laid out as `huggingface_hub`
//! writes it: `blobs/<hash>` (the files' content), `refs/<branch or tag>` (a file holding
//! a 40-hex commit; a pull request's ref is `refs/refs/pr/<n>`), and
//! `snapshots/<commit>/` (the repository's files at that commit, as symbolic links into
//! `../../blobs/`). Packing the repository folder packs one snapshot, the one `refs/main`
//! names or the one a revision names; a directory inside a snapshot is packed as it is,
//! but its archive does not go into the cache by default.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The names of repository folders begin with one of these.
const PREFIXES: [&str; 3] = ["models--", "datasets--", "spaces--"];
/// A ref file holds a 40-hex commit; anything longer is not one.
const MAX_REF_BYTES: u64 = 128;
/// The longest revision looked up.
const MAX_REVISION_BYTES: usize = 256;
/// The shortest commit prefix that names a snapshot, as `git` abbreviates.
const MIN_COMMIT_PREFIX: usize = 7;
/// Refs and snapshots read from a repository folder, at most (for errors and prefixes).
const MAX_ENTRIES: usize = 10_000;
/// How deep refs are looked for under `refs/` (`refs/refs/pr/1` is three down).
const MAX_REF_DEPTH: usize = 4;

/// The directory pack packs for the one it was given, and what it said about the choice.
#[derive(Debug)]
pub(crate) struct Source {
    /// The directory packed: the one given, or a repository folder's snapshot.
    pub(crate) dir: PathBuf,
    /// Sentences for the user: which snapshot was packed, and why.
    pub(crate) notes: Vec<String>,
}

/// The directory to pack for `model_dir`: with a repository folder of a Hugging Face cache,
/// the snapshot `revision` names (a ref, a commit, or a commit's first 7 or more hex
/// digits; `main` when `None`); otherwise `model_dir` itself, which `revision` must then
/// not be given for.
pub(crate) fn source(model_dir: &Path, revision: Option<&str>) -> Result<Source> {
    if let Some(name) = repository_name(model_dir) {
        let snapshot = resolve(model_dir, revision)?;
        let note = format!(
            "packing snapshot {} of the Hugging Face cache folder {name} ({})",
            snapshot.commit, snapshot.named_by
        );
        return Ok(Source {
            dir: snapshot.dir,
            notes: vec![note],
        });
    }
    if revision.is_some() {
        if !model_dir.is_dir() {
            return Err(Error::NotADirectory {
                path: model_dir.to_owned(),
            });
        }
        return Err(Error::RevisionWithoutCache {
            path: model_dir.to_owned(),
        });
    }
    Ok(Source {
        dir: model_dir.to_owned(),
        notes: Vec::new(),
    })
}

/// The folder's name when `dir` is a repository folder of a cache: named with a repository
/// prefix, holding `snapshots/` and `refs/` or `blobs/` (symbolic links resolved).
fn repository_name(dir: &Path) -> Option<String> {
    let real = dir.canonicalize().ok()?;
    let name = real.file_name()?.to_str()?;
    let named = PREFIXES
        .iter()
        .any(|p| name.len() > p.len() && name.starts_with(p));
    (named
        && real.join("snapshots").is_dir()
        && (real.join("refs").is_dir() || real.join("blobs").is_dir()))
    .then(|| name.to_owned())
}

/// Whether `dir` is a snapshot of a cache or inside one: it or one of its ancestors is
/// `snapshots/<commit>` in a repository folder (symbolic links resolved: a snapshot's
/// files are links, but the snapshot and its folders are real directories).
pub(crate) fn inside_cache(dir: &Path) -> bool {
    let Ok(real) = dir.canonicalize() else {
        return false;
    };
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    real.ancestors().any(|snapshot| {
        let snapshots = snapshot.parent();
        let repo = snapshots.and_then(Path::parent);
        name(snapshot).is_some_and(|n| is_commit(&n))
            && snapshots.and_then(name).as_deref() == Some("snapshots")
            && repo
                .and_then(name)
                .is_some_and(|n| PREFIXES.iter().any(|p| n.starts_with(p)))
    })
}

/// A snapshot chosen in a repository folder.
#[derive(Debug)]
struct Snapshot {
    /// `<repository>/snapshots/<commit>`.
    dir: PathBuf,
    /// Its commit, 40 hex digits.
    commit: String,
    /// What named it: `refs/main`, `refs/v1`, `revision 0123abc`, `the commit given`.
    named_by: String,
}

/// The snapshot `revision` names in the repository folder `repo`.
fn resolve(repo: &Path, revision: Option<&str>) -> Result<Snapshot> {
    let (commit, named_by) = match revision {
        None => {
            let main = repo.join("refs").join("main");
            if std::fs::symlink_metadata(&main).is_err() {
                return Err(Error::NoMainRef {
                    repo: repo.to_owned(),
                    refs: list_refs(repo),
                    snapshots: list_snapshots(repo),
                });
            }
            (read_ref(&main)?, "refs/main".to_owned())
        }
        Some(revision) => {
            check_revision(revision)?;
            let file = repo.join("refs").join(revision);
            if file.is_file() {
                (read_ref(&file)?, format!("refs/{revision}"))
            } else {
                let commit = find_commit(repo, revision)?;
                let named_by = if commit == revision {
                    "the commit given".to_owned()
                } else {
                    format!("revision {revision}")
                };
                (commit, named_by)
            }
        }
    };
    let dir = repo.join("snapshots").join(&commit);
    if !dir.is_dir() {
        return Err(Error::SnapshotMissing {
            repo: repo.to_owned(),
            named_by,
            commit,
        });
    }
    Ok(Snapshot {
        dir,
        commit,
        named_by,
    })
}

/// Refuses a revision that cannot name a ref under `refs/`: empty, too long, holding a NUL,
/// absolute, or with a `..`, `.` or empty component. Nested names (`refs/pr/1`) are refs.
fn check_revision(revision: &str) -> Result<()> {
    let reason = if revision.is_empty() {
        Some("is empty")
    } else if revision.len() > MAX_REVISION_BYTES {
        Some("is longer than 256 bytes")
    } else if revision.contains('\0') {
        Some("holds a NUL byte")
    } else if revision.starts_with('/') || revision.contains('\\') {
        Some("is not a relative name")
    } else if revision
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
        || Path::new(revision)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        Some("has an empty, `.` or `..` component")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidRevision {
            revision: revision.to_owned(),
            reason: reason.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The commit a ref file holds: 40 hex digits (a line break after them is allowed).
fn read_ref(path: &Path) -> Result<String> {
    let bad = |reason: String| Error::BadRef {
        path: path.to_owned(),
        reason,
    };
    // Never blocks on a FIFO, and reads only a regular file.
    let file = crate::source::open_regular(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => bad("it is not a regular file".into()),
        _ => Error::Io {
            path: path.to_owned(),
            source: e,
        },
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_REF_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io(path))?;
    if bytes.len() as u64 > MAX_REF_BYTES {
        return Err(bad(format!(
            "it holds more than {MAX_REF_BYTES} bytes, not a commit hash"
        )));
    }
    let text = String::from_utf8_lossy(&bytes);
    let commit = text.trim_end();
    if !is_commit(commit) {
        return Err(bad(format!(
            "it holds {commit:?}, not a commit hash (40 hex digits)"
        )));
    }
    Ok(commit.to_ascii_lowercase())
}

/// The snapshot whose commit is `revision`, or begins with it (7 or more hex digits).
fn find_commit(repo: &Path, revision: &str) -> Result<String> {
    let wanted = revision.to_ascii_lowercase();
    let hex = wanted.len() >= MIN_COMMIT_PREFIX && wanted.chars().all(|c| c.is_ascii_hexdigit());
    let snapshots = list_snapshots(repo);
    let matches: Vec<&String> = if hex {
        snapshots
            .iter()
            .filter(|s| s.starts_with(&wanted))
            .collect()
    } else {
        Vec::new()
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::UnknownRevision {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            refs: list_refs(repo),
            snapshots,
        }),
        several => Err(Error::AmbiguousRevision {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            matches: several.iter().map(|s| (*s).clone()).collect(),
        }),
    }
}

/// Whether `name` is a full commit hash: 40 hex digits.
fn is_commit(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The snapshots' commits, sorted (at most [`MAX_ENTRIES`]).
fn list_snapshots(repo: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(repo.join("snapshots")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .take(MAX_ENTRIES)
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_commit(n) && repo.join("snapshots").join(n).is_dir())
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names
}

/// The refs' names (`main`, `v1`, `refs/pr/1`), sorted (at most [`MAX_ENTRIES`]).
fn list_refs(repo: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = vec![(repo.join("refs"), String::new(), 0)];
    while let Some((dir, prefix, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if names.len() >= MAX_ENTRIES {
                break;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth + 1 < MAX_REF_DEPTH {
                pending.push((entry.path(), format!("{prefix}{name}/"), depth + 1));
            } else if kind.is_file() {
                names.push(format!("{prefix}{name}"));
            }
        }
    }
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "0123456789abcdef0123456789abcdef01234567";
    const V1: &str = "89abcdef0123456789abcdef0123456789abcdef";

    /// A repository folder with two snapshots, `refs/main` and a tag `v1`.
    fn repo() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("models--org--name");
        for commit in [MAIN, V1] {
            std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
        }
        std::fs::create_dir_all(repo.join("refs/refs/pr")).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::write(repo.join("refs/main"), MAIN).unwrap();
        std::fs::write(repo.join("refs/v1"), format!("{V1}\n")).unwrap();
        std::fs::write(repo.join("refs/refs/pr/1"), V1).unwrap();
        (tmp, repo)
    }

    fn commit_of(repo: &Path, revision: Option<&str>) -> Result<String> {
        resolve(repo, revision).map(|s| s.commit)
    }

    #[test]
    fn revisions_that_cannot_name_a_ref_are_refused() {
        for bad in [
            "", "../x", "/abs", "a/../b", "a//b", "./x", "x/", "a\0b", "a\\b",
        ] {
            let err = check_revision(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidRevision { .. }),
                "{bad:?}: {err}"
            );
        }
        check_revision(&"x".repeat(257)).unwrap_err();
        for good in ["main", "v1.0", "refs/pr/1", "pr/1", MAIN, "0123456"] {
            check_revision(good).unwrap();
        }
    }

    #[test]
    fn refs_commits_and_prefixes_name_snapshots() {
        let (_tmp, repo) = repo();
        assert_eq!(commit_of(&repo, None).unwrap(), MAIN);
        assert_eq!(commit_of(&repo, Some("v1")).unwrap(), V1);
        assert_eq!(commit_of(&repo, Some("refs/pr/1")).unwrap(), V1);
        assert_eq!(commit_of(&repo, Some(MAIN)).unwrap(), MAIN);
        assert_eq!(commit_of(&repo, Some("89ABCDE")).unwrap(), V1);
        let snapshot = resolve(&repo, Some("v1")).unwrap();
        assert_eq!(snapshot.dir, repo.join("snapshots").join(V1));
        assert_eq!(snapshot.named_by, "refs/v1");
        // Too short to be a prefix, or no snapshot's.
        for unknown in ["012345", "fedcba9", "pr/1", "nope"] {
            let err = commit_of(&repo, Some(unknown)).unwrap_err();
            assert!(matches!(err, Error::UnknownRevision { .. }), "{err}");
        }
        let err = commit_of(&repo, Some("../refs/main")).unwrap_err();
        assert!(matches!(err, Error::InvalidRevision { .. }), "{err}");
    }

    #[test]
    fn the_unknown_revision_names_what_there_is() {
        let (_tmp, repo) = repo();
        let err = commit_of(&repo, Some("v2")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.ends_with(&format!(
                "has no ref or snapshot \"v2\" (refs: main, refs/pr/1, v1; snapshots: {MAIN}, {V1})"
            )),
            "{text}"
        );
    }

    #[test]
    fn an_ambiguous_prefix_is_refused() {
        let (_tmp, repo) = repo();
        let other = format!("{}ffffffff", &MAIN[..32]);
        std::fs::create_dir_all(repo.join("snapshots").join(&other)).unwrap();
        let err = commit_of(&repo, Some(&MAIN[..10])).unwrap_err();
        assert!(
            matches!(&err, Error::AmbiguousRevision { matches, .. } if matches.len() == 2),
            "{err}"
        );
    }

    #[test]
    fn bad_refs_and_missing_snapshots_are_errors_naming_the_file() {
        let (_tmp, repo) = repo();
        std::fs::write(repo.join("refs/bad"), "not a hash").unwrap();
        std::fs::write(repo.join("refs/huge"), vec![b'a'; 4096]).unwrap();
        let gone = "fedcba9876543210fedcba9876543210fedcba98";
        std::fs::write(repo.join("refs/gone"), gone).unwrap();
        let err = commit_of(&repo, Some("bad")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: not a Hugging Face ref: it holds \"not a hash\", not a commit hash (40 hex digits)",
                repo.join("refs/bad").display()
            )
        );
        let err = commit_of(&repo, Some("huge")).unwrap_err();
        assert!(matches!(err, Error::BadRef { .. }), "{err}");
        let err = commit_of(&repo, Some("gone")).unwrap_err();
        assert!(
            matches!(&err, Error::SnapshotMissing { commit, named_by, .. }
                if commit == gone && named_by == "refs/gone"),
            "{err}"
        );
        // A FIFO where refs/main should be is refused at once, not waited on.
        std::fs::remove_file(repo.join("refs/main")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(repo.join("refs/main"))
            .status()
            .unwrap();
        assert!(status.success());
        let err = commit_of(&repo, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: not a Hugging Face ref: it is not a regular file",
                repo.join("refs/main").display()
            )
        );
        std::fs::remove_file(repo.join("refs/main")).unwrap();
        let err = commit_of(&repo, None).unwrap_err();
        assert!(matches!(err, Error::NoMainRef { .. }), "{err}");
    }

    #[test]
    fn the_pack_report_names_the_snapshot_packed() {
        let (tmp, repo) = repo();
        std::fs::write(repo.join("blobs/abc"), b"{}").unwrap();
        let snapshot = repo.join("snapshots").join(V1);
        std::os::unix::fs::symlink("../../blobs/abc", snapshot.join("config.json")).unwrap();
        let config = modeloci_spec::OciConfig::new("m", "1", "pytorch", "transformer");
        let options = crate::PackOptions::default()
            .with_output(tmp.path().join("m.tar"))
            .with_revision("v1");
        let report = crate::ModelPackager::with_options(options)
            .pack(&repo, &config)
            .unwrap();
        assert_eq!(report.model_dir, snapshot);
        assert_eq!(report.files, 1);
        assert_eq!(
            report.notes,
            [format!(
                "packing snapshot {V1} of the Hugging Face cache folder models--org--name (refs/v1)"
            )]
        );
    }

    #[test]
    fn folders_and_snapshots_are_recognised() {
        let (tmp, repo) = repo();
        assert_eq!(repository_name(&repo).as_deref(), Some("models--org--name"));
        let snapshot = repo.join("snapshots").join(MAIN);
        std::fs::create_dir(snapshot.join("onnx")).unwrap();
        assert!(repository_name(&snapshot).is_none());
        assert!(inside_cache(&snapshot));
        assert!(inside_cache(&snapshot.join("onnx")));
        assert!(!inside_cache(&repo));
        assert!(!inside_cache(tmp.path()));
        // The name alone is not enough.
        let plain = tmp.path().join("models--plain");
        std::fs::create_dir(&plain).unwrap();
        assert!(repository_name(&plain).is_none());
        let err = source(&plain, Some("main")).unwrap_err();
        assert!(matches!(err, Error::RevisionWithoutCache { .. }), "{err}");
        assert_eq!(source(&plain, None).unwrap().dir, plain);
    }
}
