//! The fuzz targets' bodies: `fuzz/fuzz_targets/*.rs` hand them libFuzzer's inputs (`cargo
//! xtask fuzz`), and `tests/it/fuzz_replay.rs` replays every input that once crashed one, and
//! the seeds, in the ordinary test run. Each panics on what must never happen.

use modeloci_archive::{Archive, ModelUnpackager, UnpackOptions, verify};
use modeloci_spec::{
    Digest, ImageLayout, MediaType, ModelPackConfig, OciConfig, OciIndex, OciManifest, annotations,
};

use crate::layout::{Artifact, Layer};

/// Every JSON document and name parser: what parses is written back the same.
pub fn documents(data: &[u8]) {
    if let Ok(manifest) = OciManifest::from_slice(data) {
        let again = OciManifest::from_slice(&manifest.to_json()).expect("what we write parses");
        assert_eq!(again, manifest);
    }
    if let Ok(index) = OciIndex::from_slice(data) {
        assert_eq!(
            OciIndex::from_slice(&index.to_json()).expect("what we write parses"),
            index
        );
    }
    if let Ok(config) = OciConfig::from_slice(data) {
        let again = OciConfig::from_slice(&config.to_json()).expect("what we write parses");
        assert_eq!(again.to_json(), config.to_json());
    }
    if let Ok(config) = ModelPackConfig::from_slice(data) {
        assert_eq!(
            ModelPackConfig::from_slice(&config.to_json()).expect("what we write parses"),
            config
        );
    }
    let _ = ImageLayout::from_slice(data);
    let text = String::from_utf8_lossy(data);
    if let Ok(digest) = text.parse::<Digest>() {
        assert_eq!(digest.to_string(), text);
        assert!(digest.blob_path().starts_with("blobs/sha"));
        assert!(!digest.blob_path().contains(".."));
    }
    assert_eq!(MediaType::from(&*text).as_str(), &*text);
}

/// Whole archives: open, inspect, verify and extract the layout. Never a panic, and nothing is
/// ever written outside the target.
pub fn archive(data: &[u8]) {
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
    crate::only_entry(dir.path(), "a.tar");
}

/// One layer's content (first byte: compression and layout), unpacked: every file written is
/// inside the target.
pub fn layer(data: &[u8]) {
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
            &OciConfig::new("m", "1", "f", "a").to_json(),
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
    crate::only_entry(dir.path(), "a.tar");
}
