//! Properties over random input (proptest): any tree of files and names round-trips through
//! pack and unpack, and no byte flip in an archive goes unnoticed where it matters.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use modeloci_archive::{Archive, Compression, ModelPackager, ModelUnpackager, PackOptions, verify};
use proptest::prelude::*;

use crate::{config, tree};

/// A file name: letters, digits, spaces, dots, dashes, non-ASCII; never `.`, `..` or a name
/// packing leaves out.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.\\-éßЖ中🦀]{1,10}".prop_filter("not a special name", |n| {
        n != "." && n != ".." && n != ".git" && n != ".modelociignore" && !n.contains("modeloci")
    })
}

/// Files as path -> (content, executable), without two paths that differ only in case or a
/// file where another path needs a directory: the trees a model directory can hold on any
/// file system.
fn model_tree() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, bool)>> {
    let file = (
        prop::collection::vec(name(), 1..4),
        prop::collection::vec(any::<u8>(), 0..3000),
        any::<bool>(),
    );
    prop::collection::vec(file, 1..12).prop_map(|files| {
        let mut out = BTreeMap::new();
        let mut taken_files = BTreeSet::new();
        let mut taken_dirs = BTreeSet::new();
        for (parts, data, executable) in files {
            let lower: Vec<String> = parts.iter().map(|p| p.to_lowercase()).collect();
            let path = lower.join("/");
            let prefixes: Vec<String> = (1..lower.len()).map(|i| lower[..i].join("/")).collect();
            if taken_files.contains(&path)
                || taken_dirs.contains(&path)
                || prefixes.iter().any(|p| taken_files.contains(p))
            {
                continue;
            }
            taken_files.insert(path);
            taken_dirs.extend(prefixes);
            out.insert(parts.join("/"), (data, executable));
        }
        out
    })
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::Gzip),
        Just(Compression::Zstd),
        Just(Compression::None),
        Just(Compression::Auto),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_tree_round_trips(files in model_tree(), compression in compression()) {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        for (path, (data, executable)) in &files {
            let file = model.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, data).unwrap();
            let mode = if *executable { 0o755 } else { 0o644 };
            fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        }
        let archive = dir.path().join("m.tar");
        let options = PackOptions::default().with_compression(compression).with_output(&archive);
        ModelPackager::with_options(options).pack(&model, &config("m")).unwrap();
        let out = dir.path().join("out");
        ModelUnpackager::new().unpack(&archive, &out).unwrap();
        prop_assert_eq!(tree(&out), tree(&model));
    }
}

/// The files a model directory holds (as `tree` lists them) and the manifest digest.
type ReadBack = (Vec<(String, Vec<u8>, u32)>, String);

/// What a reader makes of an archive: `None` when it notices damage (open, verify or
/// unpack fails), else the restored files and the manifest digest.
fn read_back(archive: &Path, out: &Path) -> Option<ReadBack> {
    let opened = Archive::open(archive).ok()?;
    if !verify(&opened, 2).ok()?.is_ok() {
        return None;
    }
    let digest = opened.manifest_digest().to_string();
    drop(opened);
    ModelUnpackager::new().unpack(archive, out).ok()?;
    Some((tree(out), digest))
}

/// Where the blobs' bytes lie in the archive.
fn blob_ranges(archive: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut tar = tar::Archive::new(archive);
    tar.entries()
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.path().unwrap().starts_with("blobs/"))
        .map(|e| {
            let start = e.raw_file_position() as usize;
            start..start + e.size() as usize
        })
        .collect()
}

fn golden() -> Vec<u8> {
    fs::read(crate::fixtures().join("golden/tiny-1.0.0.tar")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A flip anywhere either is noticed or changes nothing a user gets: the same files and
    /// the same manifest come out (a flip in a tar header's time, or in padding).
    #[test]
    fn a_flip_anywhere_is_noticed_or_harmless(at in any::<prop::sample::Index>(), bit in 0..8u8) {
        let original = golden();
        let dir = tempfile::tempdir().unwrap();
        let clean = read_back(&crate::fixtures().join("golden/tiny-1.0.0.tar"), &dir.path().join("clean"));
        prop_assert!(clean.is_some(), "the untouched archive reads back");
        let mut bytes = original;
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let path = dir.path().join("flipped.tar");
        fs::write(&path, &bytes).unwrap();
        let flipped = read_back(&path, &dir.path().join("out"));
        prop_assert!(flipped.is_none() || flipped == clean, "flip at byte {i} went unnoticed");
    }

    /// A flip in any blob is always noticed.
    #[test]
    fn a_flip_in_a_blob_is_always_noticed(at in any::<prop::sample::Index>(), bit in 0..8u8) {
        let mut bytes = golden();
        let ranges = blob_ranges(&bytes);
        let positions: Vec<usize> = ranges.into_iter().flatten().collect();
        let i = positions[at.index(positions.len())];
        bytes[i] ^= 1 << bit;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.tar");
        fs::write(&path, &bytes).unwrap();
        prop_assert!(read_back(&path, &dir.path().join("out")).is_none(), "flip at byte {i}");
    }
}
