//! Every JSON document modeloci reads: never a panic; what parses writes back and re-parses
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modeloci_spec::{
    Digest, ImageLayout, MediaType, ModelPackConfig, OciConfig, OciIndex, OciManifest,
};

fuzz_target!(|data: &[u8]| {
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
});
