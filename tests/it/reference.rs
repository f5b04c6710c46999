//! Archives written by the reference implementation are read, verified and unpacked.

use modeloci_archive::{Archive, ArchiveFormat, ModelUnpackager};
use modeloci_spec::MediaType;

use crate::{fixtures, tiny_model, tree};

#[test]
fn reference_archives_read_verify_and_unpack() {
    let path = fixtures().join("golden/tiny-1.0.0-reference.tar");
    let archive = Archive::open(&path).unwrap();
    assert_eq!(archive.format(), ArchiveFormat::Reference);
    assert_eq!(archive.manifest().config.media_type, MediaType::ImageConfig);
    assert_eq!(
        archive.config().unwrap(),
        modeloci_tests::fixtures::tiny_config()
    );
    let report = crate::assert_verifies(&archive);
    assert!(!report.manifest_checked);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = ModelUnpackager::new().unpack(&path, &out).unwrap();
    assert_eq!(config.model_name, "tiny");
    // Same bytes and modes as the model packed (the reference kept the executable bit).
    assert_eq!(tree(&out), tree(&tiny_model()));
}

#[test]
fn reference_layers_carry_python_tarfile_pax_headers() {
    // The emulation is what makes this test meaningful: check the layer tar as Python
    // itself lists it.
    let layer = modeloci_tests::reference::layer("scripts/serve.sh", b"#!/bin/sh\n", true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar.gz");
    std::fs::write(&path, layer).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, tarfile\nfor m in tarfile.open(sys.argv[1]):\n print(m.name, oct(m.mode), m.uname, m.pax_headers)"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "scripts/serve.sh 0o755 root {'mtime': '1700000000.25'}\n"
    );
}
