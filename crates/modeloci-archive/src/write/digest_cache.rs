//! The digest cache: a layer remembered by the identity of its file (device, inode, size,
//! modification and change times in nanoseconds, mode) and by everything that shapes its
//! blob (tool version, profile, compression, level, raw weights, the layer's plan, the tar
//! times, the file's path in the model), so that pack can take an unchanged file's blob
//! from where it already is without reading the file.
//!
//! The cache is a hint, never trusted for bytes: a sink takes a remembered layer only when
//! it can check the blob is there (a registry's HEAD; the archive being rebuilt, copied
//! through a verifying reader), and otherwise the file is read as if nothing were
//! remembered. Keys are SHA-256 hashes (no path of the user's appears in the file), each
//! entry carries a checksum of what it says, the file is read up to [`MAX_FILE_SIZE`] and
//! [`MAX_ENTRIES`], and written atomically (a temporary in the cache's directory renamed
//! over it) under a lock, merged with what another pack wrote meanwhile.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use modeloci_digest::Hasher;
use modeloci_spec::{Digest, ModelLayer};
use serde_json::{Map, Value, json};

use crate::options::PackOptions;
use crate::profile::LayerPlan;
use crate::source::SourceFile;

/// The largest cache file read; a larger one is ignored (and replaced when saved).
pub(crate) const MAX_FILE_SIZE: u64 = 64 << 20;
/// Entries kept at most: the most recently used.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// A file changed this recently is not remembered: a change within the same tick of the
/// file system's clock would leave its times as they were ("racy git").
const RACY: Duration = Duration::from_secs(2);
/// The format of the file; another is ignored.
const VERSION: u64 = 1;

/// A remembered layer and its `diffId`.
#[derive(Clone, Debug)]
pub(crate) struct Cached {
    pub(crate) layer: ModelLayer,
    pub(crate) diff_id: Option<Digest>,
    used: u64,
}

/// The cache as loaded, and what this pack learned.
#[derive(Debug)]
pub(crate) struct DigestCache {
    path: PathBuf,
    known: HashMap<String, Cached>,
    learned: HashMap<String, Cached>,
}

/// The identity of a file as `fstat` saw it: what must not change between two packs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Identity {
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mode: meta.mode(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file last changed long enough ago for its times to tell a later change.
    fn settled(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let limit = i128::try_from(now).unwrap_or(i128::MAX) - RACY.as_nanos() as i128;
        self.ctime_ns < limit && self.mtime_ns < limit
    }
}

/// The cache key of `file` with identity `id`, planned as `plan` under `options`.
pub(crate) fn key(
    id: &Identity,
    file: &SourceFile,
    plan: &LayerPlan,
    options: &PackOptions,
) -> String {
    let material = format!(
        "modeloci digest cache {VERSION}\0{}\0{}\0{}\0{}\0{}\0{:o}\0{}\0{}\0{}\0{:?}\0{}\0{:?}\0{}\0{}",
        env!("CARGO_PKG_VERSION"),
        id.dev,
        id.ino,
        id.size,
        id.mtime_ns,
        id.mode,
        id.ctime_ns,
        file.rel,
        file.executable,
        options.format,
        options.compression.as_str(),
        options.level,
        options.raw_weights,
        options.mtime,
    );
    let plan = format!("{plan:?}");
    let mut hasher = Hasher::default();
    hasher.update(material.as_bytes());
    hasher.update(b"\0");
    hasher.update(plan.as_bytes());
    hasher.finish().digest.hex().to_owned()
}

/// The checksum an entry carries: a bit flipped anywhere in it drops it.
fn checksum(key: &str, layer: &Value, diff_id: &Value) -> String {
    let text = format!("{key}\0{layer}\0{diff_id}");
    Hasher::digest_bytes(text.as_bytes())
        .digest
        .hex()
        .to_owned()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads the entries of the file at `path`: none when it is missing, too large, or not
/// ours; each entry whose checksum fails is left out.
fn read_entries(path: &Path) -> HashMap<String, Cached> {
    let Ok(file) = File::open(path) else {
        return HashMap::new();
    };
    let mut bytes = Vec::new();
    if file
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .is_err()
        || bytes.len() as u64 > MAX_FILE_SIZE
    {
        return HashMap::new();
    }
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(&bytes) else {
        return HashMap::new();
    };
    if root.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return HashMap::new();
    }
    let Some(Value::Object(entries)) = root.get("entries") else {
        return HashMap::new();
    };
    entries
        .iter()
        .take(MAX_ENTRIES)
        .filter_map(|(key, entry)| Some((key.clone(), parse_entry(key, entry)?)))
        .collect()
}

fn parse_entry(key: &str, entry: &Value) -> Option<Cached> {
    let layer_value = entry.get("layer")?;
    let diff_value = entry.get("diffId").cloned().unwrap_or(Value::Null);
    if entry.get("check")?.as_str()? != checksum(key, layer_value, &diff_value) {
        return None;
    }
    let layer: ModelLayer = serde_json::from_value(layer_value.clone()).ok()?;
    let diff_id = match &diff_value {
        Value::Null => None,
        Value::String(s) => Some(s.parse().ok()?),
        _ => return None,
    };
    let used = entry.get("used").and_then(Value::as_u64).unwrap_or(0);
    Some(Cached {
        layer,
        diff_id,
        used,
    })
}

fn entry_json(key: &str, cached: &Cached) -> Value {
    let layer = serde_json::to_value(&cached.layer).expect("a layer serializes");
    let diff_id = cached
        .diff_id
        .as_ref()
        .map_or(Value::Null, |d| Value::String(d.to_string()));
    json!({
        "layer": layer,
        "diffId": diff_id,
        "used": cached.used,
        "check": checksum(key, &layer, &diff_id),
    })
}

impl DigestCache {
    /// The cache in `path`; unreadable or corrupt, an empty one.
    pub(crate) fn load(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            known: read_entries(path),
            learned: HashMap::new(),
        }
    }

    /// The layer remembered under `key`.
    pub(crate) fn get(&mut self, key: &str) -> Option<Cached> {
        let found = self.known.get(key).cloned()?;
        // Used again: kept longer when the cache is trimmed.
        let mut used = found.clone();
        used.used = now_secs();
        self.learned.insert(key.to_owned(), used);
        Some(found)
    }

    /// Remembers `layer` for the file of `key`, read when it had identity `before` and
    /// `after` once read: unless the file changed meanwhile or too recently.
    pub(crate) fn put(
        &mut self,
        key: String,
        before: &Identity,
        after: &Identity,
        layer: &ModelLayer,
        diff_id: Option<&Digest>,
    ) {
        if before != after || !after.settled() {
            return;
        }
        let cached = Cached {
            layer: layer.clone(),
            diff_id: diff_id.cloned(),
            used: now_secs(),
        };
        self.learned.insert(key, cached);
    }

    /// Merges what this pack learned into the file, under its lock; a failure to is no
    /// failure of the pack (the cache only saves time).
    pub(crate) fn save(self) {
        if self.learned.is_empty() {
            return;
        }
        let _ = self.try_save();
    }

    fn try_save(self) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("digests.json");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dir.join(format!(".{name}.lock")))?;
        lock.lock()?;
        // Last writer wins per entry: what others wrote meanwhile stays.
        let mut entries = read_entries(&self.path);
        entries.extend(self.learned);
        let mut sorted: Vec<(String, Cached)> = entries.into_iter().collect();
        sorted.sort_by(|a, b| b.1.used.cmp(&a.1.used).then_with(|| a.0.cmp(&b.0)));
        sorted.truncate(MAX_ENTRIES);
        let map: Map<String, Value> = sorted
            .iter()
            .map(|(k, c)| (k.clone(), entry_json(k, c)))
            .collect();
        let bytes = serde_json::to_vec(&json!({ "version": VERSION, "entries": map }))
            .expect("JSON serializes");
        let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&temp);
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use modeloci_spec::Digest;

    use super::*;

    fn layer(i: u32) -> ModelLayer {
        let digest = Hasher::digest_bytes(&i.to_le_bytes()).digest;
        ModelLayer::new(digest, u64::from(i)).with_title(format!("f{i}"))
    }

    /// An identity old enough to be remembered.
    fn settled(ino: u64) -> Identity {
        Identity {
            dev: 1,
            ino,
            size: 1,
            mode: 0o100_644,
            mtime_ns: 0,
            ctime_ns: 0,
        }
    }

    #[test]
    fn concurrent_saves_merge_and_every_entry_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/digests.json");
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let path = &path;
                s.spawn(move || {
                    for round in 0..5u32 {
                        let mut cache = DigestCache::load(path);
                        let i = t * 100 + round;
                        let id = settled(u64::from(i));
                        cache.put(format!("k{i}"), &id, &id, &layer(i), None);
                        cache.save();
                    }
                });
            }
        });
        let mut cache = DigestCache::load(&path);
        for t in 0..4u32 {
            for round in 0..5u32 {
                let i = t * 100 + round;
                assert_eq!(cache.get(&format!("k{i}")).unwrap().layer, layer(i));
            }
        }
        let mut names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".digests.json.lock", "digests.json"]);
    }

    #[test]
    fn a_file_changed_while_read_or_too_recently_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = DigestCache::load(&dir.path().join("d.json"));
        let before = settled(1);
        let mut after = before;
        after.ctime_ns = 5;
        cache.put("a".into(), &before, &after, &layer(1), None);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut recent = before;
        recent.ctime_ns = i128::try_from(now).unwrap();
        cache.put("b".into(), &recent, &recent, &layer(2), None);
        assert!(cache.learned.is_empty());
        let diff: Digest = Hasher::digest_bytes(b"x").digest;
        cache.put("c".into(), &before, &before, &layer(3), Some(&diff));
        cache.save();
        let mut again = DigestCache::load(&dir.path().join("d.json"));
        assert_eq!(again.get("c").unwrap().diff_id, Some(diff));
    }

    #[test]
    fn an_oversized_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.json");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_FILE_SIZE + 1).unwrap();
        assert!(DigestCache::load(&path).known.is_empty());
    }
}
