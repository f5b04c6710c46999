//! Whole archives: open, inspect, verify and extract the layout. Never a panic, and nothing is
//! ever written outside the target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modeloci_archive::{Archive, ModelUnpackager, UnpackOptions, verify};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.tar");
    std::fs::write(&path, data).expect("write");
    if let Ok(archive) = Archive::open(&path) {
        let _ = verify(&archive, 1);
        let _ = archive.config();
        let _ = archive.config_bytes();
        let _ = archive.layers();
    }
    let out = dir.path().join("out");
    for layout in [false, true] {
        let unpacker = ModelUnpackager::with_options(
            UnpackOptions::default().with_layout(layout).with_threads(1),
        );
        if unpacker.extract(&path, &out).is_ok() {
            std::fs::remove_dir_all(&out).expect("clean up");
        }
    }
    modeloci_tests::only_entry(dir.path(), "a.tar");
});
