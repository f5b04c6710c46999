//! Real-world documents round-trip through the types.

use modeloci_spec::{
    Digest, LayerEncoding, MediaType, ModelLayer, ModelPackKind, OciIndex, OciManifest, annotations,
};

/// The compact form of a JSON document, keys in the order written.
fn compact(json: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(json).unwrap()).unwrap()
}

#[test]
fn oci_image_manifest_round_trips_byte_for_byte() {
    let json = include_str!("data/oci-image-manifest.json");
    let manifest = OciManifest::from_slice(json.as_bytes()).unwrap();
    assert_eq!(manifest.config.media_type, MediaType::ImageConfig);
    assert_eq!(
        manifest.layers[1].media_type.layer_encoding(),
        Some(LayerEncoding::TarZstd)
    );
    assert_eq!(manifest.layers[1].title(), Some("bin/tool"));
    assert_eq!(
        manifest.layers[1].urls,
        ["https://mirror.example.com/layer"]
    );
    assert_eq!(manifest.effective_artifact_type(), &MediaType::ImageConfig);
    assert_eq!(manifest.to_json(), compact(json));
}

#[test]
fn modelpack_manifest_round_trips_byte_for_byte() {
    let json = include_str!("data/modelpack-manifest.json");
    let manifest = OciManifest::from_slice(json.as_bytes()).unwrap();
    assert_eq!(manifest.artifact_type, Some(MediaType::ModelPackArtifact));
    assert_eq!(manifest.config.media_type, MediaType::ModelPackConfig);
    let kinds: Vec<_> = manifest
        .layers
        .iter()
        .map(|l| l.media_type.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            MediaType::ModelPackLayer {
                kind: ModelPackKind::Weight,
                encoding: LayerEncoding::Raw
            },
            MediaType::ModelPackLayer {
                kind: ModelPackKind::WeightConfig,
                encoding: LayerEncoding::Tar
            },
            MediaType::ModelPackLayer {
                kind: ModelPackKind::Doc,
                encoding: LayerEncoding::TarGzip
            },
        ]
    );
    // Sizes beyond 4 GiB survive.
    assert_eq!(manifest.layers[0].size, 4_976_698_672);
    assert_eq!(
        manifest.layers[0]
            .annotations
            .get(annotations::MODELPACK_FILEPATH)
            .map(String::as_str),
        Some("model-00001-of-00002.safetensors")
    );
    assert_eq!(manifest.to_json(), compact(json));
}

#[test]
fn reference_manifest_parses_and_is_written_in_oci_spelling() {
    let json = include_str!("data/reference-manifest.json");
    let manifest = OciManifest::from_slice(json.as_bytes()).unwrap();
    assert_eq!(manifest.schema_version, 2);
    assert_eq!(manifest.media_type, Some(MediaType::ImageManifest));
    let layer = ModelLayer::from(manifest.layers[0].clone());
    assert_eq!(layer.title(), Some("pytorch_model.bin"));
    assert_eq!(layer.size, 4_456_789);
    let written = String::from_utf8(manifest.to_json()).unwrap();
    assert!(written.starts_with(
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":"#
    ));
    assert!(!written.contains("schema_version") && !written.contains("media_type"));
    assert_eq!(
        OciManifest::from_slice(written.as_bytes()).unwrap(),
        manifest
    );
}

#[test]
fn unknown_fields_are_ignored_on_reading() {
    let json = r#"{"schemaVersion":2,"futureField":{"x":1},"config":{"mediaType":"application/vnd.oci.empty.v1+json",
        "digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"newThing":true}}"#;
    let manifest = OciManifest::from_slice(json.as_bytes()).unwrap();
    assert_eq!(manifest.layers, []);
    assert_eq!(manifest.media_type, None);
    assert_eq!(manifest.config.media_type, MediaType::Empty);
}

#[track_caller]
fn check_manifest_error(json: &str, expected: &str) {
    let err = OciManifest::from_slice(json.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), expected);
}

#[test]
fn bad_manifests_are_refused_with_the_reason() {
    let config = r#""config":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;
    check_manifest_error(
        &format!(r#"{{"schemaVersion":1,{config}}}"#),
        "invalid manifest: schemaVersion is 1, not 2",
    );
    check_manifest_error(
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",{config}}}"#
        ),
        "invalid manifest: mediaType is application/vnd.oci.image.index.v1+json, \
         not application/vnd.oci.image.manifest.v1+json",
    );
    check_manifest_error(
        r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../etc/passwd","size":2}}"#,
        "invalid manifest JSON: invalid digest \"sha256:../../etc/passwd\": a sha256 digest has 64 \
         hexadecimal characters at line 1 column 79",
    );
    check_manifest_error(
        &format!(
            r#"{{"schemaVersion":2,{}}}"#,
            config.replace("\"size\":2", "\"size\":-1")
        ),
        "invalid manifest JSON: invalid value: integer `-1`, expected u64 at line 1 column 137",
    );
    check_manifest_error(
        &format!(
            r#"{{"schemaVersion":2,{}}}"#,
            config.replace("\"size\":2", "\"size\":18446744073709551615")
        ),
        "invalid manifest JSON: size 18446744073709551615 is beyond int64, the largest the OCI \
         specification allows at line 1 column 156",
    );
    // The largest int64 is a size like any other; the blob will not be found, not wrap.
    let largest = config.replace("\"size\":2", "\"size\":9223372036854775807");
    OciManifest::from_slice(format!(r#"{{"schemaVersion":2,{largest}}}"#).as_bytes()).unwrap();
    check_manifest_error(
        "{}",
        "invalid manifest JSON: missing field `schemaVersion` at line 1 column 2",
    );
}

#[test]
fn index_finds_manifests_by_ref_name() {
    let json = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,
         "annotations":{"org.opencontainers.image.ref.name":"1.0.0"},
         "platform":{"architecture":"amd64","os":"linux","os.version":"10"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,
         "annotations":{"org.opencontainers.image.ref.name":"2.0.0"}}]}"#;
    let index = OciIndex::from_slice(json.as_bytes()).unwrap();
    let found: Vec<&Digest> = index.find_ref("2.0.0").map(|d| &d.digest).collect();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        index.manifests[0]
            .platform
            .as_ref()
            .unwrap()
            .os_version
            .as_deref(),
        Some("10")
    );
    assert_eq!(index.to_json(), compact(json));
}
