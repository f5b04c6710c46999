//! The golden archives in fixtures/ are what the code writes today, byte for byte.

use modeloci_tests::fixtures::{GOLDEN, build_golden, listing, write_tiny_model};

use crate::{fixtures, tiny_model, tree};

const REGENERATE: &str =
    "fixtures/ is out of date with the code: run `cargo xtask fixtures`, review the diff, commit";

#[test]
fn tiny_model_matches_its_builder() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path()).unwrap();
    let built = tree(dir.path());
    let committed = tree(&tiny_model());
    let norm = |t: Vec<(String, Vec<u8>, u32)>| -> Vec<(String, Vec<u8>, bool)> {
        t.into_iter()
            .map(|(p, b, m)| (p, b, m & 0o111 != 0))
            .collect()
    };
    assert!(norm(built) == norm(committed), "{REGENERATE}");
}

#[test]
fn golden_archives_match_what_packing_writes_now() {
    let dir = tempfile::tempdir().unwrap();
    build_golden(&tiny_model(), dir.path()).unwrap();
    for golden in GOLDEN {
        let built = std::fs::read(dir.path().join(golden.file_name)).unwrap();
        let committed = std::fs::read(fixtures().join("golden").join(golden.file_name)).unwrap();
        assert!(built == committed, "{}: {REGENERATE}", golden.file_name);
    }
}

#[test]
fn golden_listings() {
    for golden in GOLDEN {
        let text = listing(&fixtures().join("golden").join(golden.file_name)).unwrap();
        insta::assert_snapshot!(golden.file_name, text);
    }
}

#[test]
fn the_config_blob_is_byte_identical_to_the_references() {
    let ours = modeloci_archive::Archive::open(&fixtures().join("golden/tiny-1.0.0.tar")).unwrap();
    let reference =
        modeloci_archive::Archive::open(&fixtures().join("golden/tiny-1.0.0-reference.tar"))
            .unwrap();
    assert_eq!(
        ours.config_bytes().unwrap(),
        reference.config_bytes().unwrap()
    );
    assert_eq!(
        ours.manifest().config.digest,
        reference.manifest().config.digest
    );
}
