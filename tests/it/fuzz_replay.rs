//! The fuzz targets' bodies run in the ordinary tests: every input in `fuzz/regressions/`
//! (each once crashed a target), and the seeds `cargo xtask fuzz` starts from, with each golden
//! archive also cut short at a spread of lengths. The libFuzzer runs themselves are
//! `cargo xtask fuzz` (they need cargo-fuzz and a build of their own).

use std::io::Read;
use std::path::Path;

use modeloci_tests::fuzz;
use modeloci_tests::rawtar::{Raw, gzip, tar};

use crate::fixtures;

/// The inputs in `fuzz/regressions/<target>/`.
fn regressions(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect()
}

fn golden_archives() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(fixtures().join("golden"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn documents_regressions_and_seeds() {
    let mut inputs = regressions("documents");
    assert!(
        !inputs.is_empty(),
        "fuzz/regressions/documents holds the float case"
    );
    for archive in golden_archives() {
        let mut tar = tar::Archive::new(&archive[..]);
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".json") || name == "oci-layout" {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                inputs.push(data);
            }
        }
    }
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/modeloci-spec/tests/data");
    for entry in std::fs::read_dir(spec).unwrap() {
        inputs.push(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(inputs.len() > 20, "{}", inputs.len());
    for input in &inputs {
        fuzz::documents(input);
    }
}

#[test]
fn archive_regressions_seeds_and_truncations() {
    let mut inputs = regressions("archive");
    for archive in golden_archives() {
        for cut in [0, 1, 511, 512, 1024, archive.len() / 3, archive.len() / 2] {
            inputs.push(archive[..cut.min(archive.len())].to_vec());
        }
        inputs.push(archive);
    }
    for input in &inputs {
        fuzz::archive(input);
    }
}

#[test]
fn layer_regressions_and_seeds() {
    let mut inputs = regressions("layer");
    let one = tar(&[Raw::file("model.bin", b"weights")]);
    let tree = tar(&[
        Raw::dir("models/"),
        Raw::file("models/model.bin", b"weights"),
        Raw::file("README.md", b"hi"),
    ]);
    for (selector, bytes) in [
        (0u8, one.clone()),
        (1, gzip(&one)),
        (0x80, tree.clone()),
        (0x81, gzip(&tree)),
        (2, b"not zstd".to_vec()),
    ] {
        let mut data = vec![selector];
        data.extend(bytes);
        inputs.push(data);
    }
    for input in &inputs {
        fuzz::layer(input);
    }
}
