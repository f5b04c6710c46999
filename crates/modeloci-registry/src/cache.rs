//! Where blobs were last seen, per registry, so a push can mount a blob from another
//! repository instead of uploading it again.

use std::collections::BTreeMap;
use std::path::Path;

use modeloci_spec::Digest;

/// Repositories remembered per blob.
const MAX_REPOS: usize = 4;
/// Blobs remembered per registry.
const MAX_BLOBS: usize = 50_000;

/// registry -> digest -> repositories (most recent last).
#[derive(Debug, Default)]
pub(crate) struct BlobLocations {
    map: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl BlobLocations {
    /// Reads the file; a missing or unreadable file is an empty memory.
    pub(crate) fn load(path: &Path) -> Self {
        let map = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { map }
    }

    pub(crate) fn lookup(&self, registry: &str, digest: &Digest) -> Vec<String> {
        self.map
            .get(registry)
            .and_then(|blobs| blobs.get(digest.as_str()))
            .map(|repos| repos.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn record(&mut self, registry: &str, repository: &str, digest: &Digest) {
        let blobs = self.map.entry(registry.to_owned()).or_default();
        if blobs.len() >= MAX_BLOBS && !blobs.contains_key(digest.as_str()) {
            return;
        }
        let repos = blobs.entry(digest.as_str().to_owned()).or_default();
        repos.retain(|r| r != repository);
        repos.push(repository.to_owned());
        if repos.len() > MAX_REPOS {
            repos.remove(0);
        }
    }

    /// Writes the file atomically.
    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let temp = dir.join(format!(
            ".blob-locations.json.modeloci-tmp-{}",
            std::process::id()
        ));
        // A new file, never one planted under the predictable name.
        crate::auth::remove_if_there(&temp)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        std::io::Write::write_all(
            &mut file,
            &serde_json::to_vec(&self.map).expect("strings serialize"),
        )?;
        std::fs::rename(&temp, path)
    }
}
