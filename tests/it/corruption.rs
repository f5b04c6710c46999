//! One flipped byte in any blob makes verify fail and unpack refuse.

use std::path::Path;

use modeloci_archive::{Archive, BlobStatus, Error, ModelUnpackager, verify};

use crate::{fixtures, names};

/// (name, offset of the data, size) of every entry under blobs/.
fn blob_entries(archive: &Path) -> Vec<(String, u64, u64)> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    tar.entries()
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.header().entry_type().is_file())
        .map(|e| {
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.raw_file_position(),
                e.size(),
            )
        })
        .filter(|(name, _, _)| name.starts_with("blobs/sha256/"))
        .collect()
}

#[test]
fn a_flipped_byte_in_any_blob_is_caught() {
    for golden in [
        "tiny-1.0.0.tar",
        "tiny-1.0.0-zstd.tar",
        "tiny-1.0.0-none.tar",
        "tiny-1.0.0-reference.tar",
    ] {
        let source = fixtures().join("golden").join(golden);
        let pristine = std::fs::read(&source).unwrap();
        let manifest_digest = Archive::open(&source).unwrap().manifest_digest().clone();
        for (name, offset, size) in blob_entries(&source) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("corrupt.tar");
            let mut bytes = pristine.clone();
            let at = usize::try_from(offset + size / 2).unwrap();
            bytes[at] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            let case = format!("{golden}: {name}");
            let hex = name.rsplit('/').next().unwrap();

            if hex == manifest_digest.hex() {
                // The manifest is checked against the index when the archive is opened.
                let err = Archive::open(&path).unwrap_err();
                assert!(err.is_verification_failure(), "{case}: {err}");
                assert!(
                    err.to_string()
                        .starts_with(&format!("manifest blob {manifest_digest}: digest mismatch")),
                    "{case}: {err}"
                );
            } else {
                let archive = Archive::open(&path).unwrap();
                let report = verify(&archive, 2).unwrap();
                assert!(!report.is_ok(), "{case}");
                let failed: Vec<&str> = std::iter::once(&report.config)
                    .chain(&report.layers)
                    .filter(|c| !c.status.is_ok())
                    .map(|c| c.digest.hex())
                    .collect();
                assert_eq!(failed, [hex], "{case}");
                let check = std::iter::once(&report.config)
                    .chain(&report.layers)
                    .find(|c| c.digest.hex() == hex)
                    .unwrap();
                assert!(
                    matches!(check.status, BlobStatus::DigestMismatch { .. }),
                    "{case}"
                );
            }

            let out = dir.path().join("out");
            let err = ModelUnpackager::new().extract(&path, &out).unwrap_err();
            assert!(matches!(err, Error::BlobMismatch { .. }), "{case}: {err}");
            assert!(
                err.to_string()
                    .contains(&format!("sha256:{hex}: digest mismatch")),
                "{case}: {err}"
            );
            assert!(!out.exists(), "{case}");
            assert_eq!(names(dir.path()), ["corrupt.tar"], "{case}");
        }
    }
}

#[test]
fn verify_layers_reports_each_layer_as_the_reference_does() {
    let source = fixtures().join("golden/tiny-1.0.0-reference.tar");
    let results = ModelUnpackager::new().verify_layers(&source).unwrap();
    assert_eq!(results.len(), 7);
    assert!(results.iter().all(|(_, ok)| *ok));
    let (name, offset, size) = blob_entries(&source).remove(2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.tar");
    let mut bytes = std::fs::read(&source).unwrap();
    bytes[usize::try_from(offset + size - 1).unwrap()] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();
    let results = ModelUnpackager::new().verify_layers(&path).unwrap();
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(d, _)| d.blob_path())
        .collect();
    assert_eq!(failed, [name]);
}
