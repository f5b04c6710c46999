//! Layer content: the fuzzer's bytes become a layer (a tar, or a gzip or zstd stream) of a
//! well-formed artifact whose digests match, so what is exercised is the decompressors, the
//! tar walker and the unpack policy. Never a panic; every file written stays in the target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modeloci_archive::{ModelUnpackager, UnpackOptions};
use modeloci_spec::{MediaType, annotations};
use modeloci_tests::layout::{Artifact, Layer};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, content)) = data.split_first() else {
        return;
    };
    let media_type = match selector % 3 {
        0 => MediaType::ImageLayer,
        1 => MediaType::ImageLayerGzip,
        _ => MediaType::ImageLayerZstd,
    };
    let layer = Layer::new(media_type, content.to_vec()).annotate(annotations::TITLE, "model.bin");
    // Our own format (one file per layer) and another tool's (a tree per layer).
    let artifact = if selector & 0x80 == 0 {
        Artifact::new(
            MediaType::ModelociConfig,
            &modeloci_spec::OciConfig::new("m", "1", "f", "a").to_json(),
            vec![layer],
        )
    } else {
        Artifact::new(
            "application/vnd.kitops.modelkit.config.v1+json",
            b"{}",
            vec![layer],
        )
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.tar");
    std::fs::write(&path, artifact.to_tar()).expect("write");
    let out = dir.path().join("out");
    let unpacker = ModelUnpackager::with_options(UnpackOptions::default().with_threads(1));
    if let Ok(report) = unpacker.extract(&path, &out) {
        for file in &report.files {
            let written = out
                .join(&file.path)
                .canonicalize()
                .expect("written file exists");
            assert!(written.starts_with(out.canonicalize().expect("target exists")));
        }
        std::fs::remove_dir_all(&out).expect("clean up");
    }
    modeloci_tests::only_entry(dir.path(), "a.tar");
});
