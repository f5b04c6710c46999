//! Cross-crate tests: workspace invariants, schemas, golden archives, third-party readers,
//! round trips, hostile archives and corruption.

mod corruption;
mod credentials;
mod foreign;
mod fuzz_replay;
mod golden;
mod hostile;
mod hostile_registry;
mod large;
mod many_files;
mod metadata;
mod modelpack;
mod oms;
mod pack_push;
mod properties;
mod pull_ranges;
mod pull_stream;
mod pull_target;
mod quirks;
mod reference;
mod referrers;
mod referrers_registry;
mod registry;
mod remote;
mod roundtrip;
mod schema;
mod selection;
mod space;
mod swap;
mod third_party;
mod tidy;
mod tls;

use std::path::{Path, PathBuf};

use modeloci_archive::{
    Archive, BlobStatus, Compression, ModelPackager, PackOptions, VerifyReport, verify,
};
use modeloci_spec::OciConfig;

/// The repository's `fixtures/`.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The bundled tiny model.
pub(crate) fn tiny_model() -> PathBuf {
    fixtures().join(modeloci_tests::fixtures::TINY_MODEL)
}

/// Packs `model` into `out` with `compression` and the tiny model's config.
pub(crate) fn pack(
    model: &Path,
    out: &Path,
    compression: Compression,
) -> modeloci_archive::PackReport {
    let options = PackOptions::default()
        .with_compression(compression)
        .with_output(out);
    ModelPackager::with_options(options)
        .pack(model, &modeloci_tests::fixtures::tiny_config())
        .expect("packing succeeds")
}

/// A config for ad-hoc models.
pub(crate) fn config(name: &str) -> OciConfig {
    OciConfig::new(name, "1.0.0", "pytorch", "transformer")
}

/// Every file below `dir` (relative path, bytes, mode), sorted: what a model directory holds.
pub(crate) fn tree(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((
                    rel,
                    std::fs::read(&path).unwrap(),
                    meta.permissions().mode() & 0o7777,
                ));
            }
        }
    }
    out.sort();
    out
}

/// The names in a directory, sorted (to check that nothing was left behind).
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Verifies `archive` and asserts what every check found: each blob (config first, then the
/// layers by title) `Ok`, and each root copy matching its blob. Returns the report.
#[track_caller]
pub(crate) fn assert_verifies(archive: &Archive) -> VerifyReport {
    let report = verify(archive, 2).unwrap();
    let found: Vec<(&str, &BlobStatus)> = std::iter::once(&report.config)
        .chain(&report.layers)
        .map(|c| (c.what.as_str(), &c.status))
        .collect();
    let all_ok: Vec<(&str, &BlobStatus)> =
        found.iter().map(|(w, _)| (*w, &BlobStatus::Ok)).collect();
    assert_eq!(found, all_ok, "blobs of {}", archive.path().display());
    let copies: Vec<(&str, bool)> = report
        .copies
        .iter()
        .map(|c| (c.name.as_str(), c.matches))
        .collect();
    let all_match: Vec<(&str, bool)> = copies.iter().map(|(n, _)| (*n, true)).collect();
    assert_eq!(
        copies,
        all_match,
        "root copies of {}",
        archive.path().display()
    );
    assert_eq!(report.failures(), 0);
    report
}
