//! `pack --format modelpack`: the CNCF ModelPack profile.

use std::io::Read;
use std::path::Path;

use modeloci_archive::{Archive, Compression, Format, ModelPackager, ModelUnpackager, PackOptions};
use modeloci_digest::Hasher;
use modeloci_spec::{
    Digest, LayerEncoding, MediaType, ModelPackConfig, ModelPackKind, annotations,
};
use modeloci_tests::fixtures::{Normal, modelpack_config, safetensors};

use crate::schema::Validator;
use crate::{fixtures, names, tiny_model, tree};

fn golden() -> Archive {
    Archive::open(&fixtures().join("golden/tiny-1.0.0-modelpack.tar")).unwrap()
}

fn config_of(archive: &Archive) -> ModelPackConfig {
    ModelPackConfig::from_slice(&archive.config_bytes().unwrap()).unwrap()
}

/// The digest of a layer's uncompressed content, computed here independently.
fn content_digest(archive: &Archive, layer: &modeloci_spec::Descriptor) -> Digest {
    let mut tar = tar::Archive::new(std::fs::File::open(archive.path()).unwrap());
    let mut blob = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(&layer.digest.blob_path()) {
            entry.read_to_end(&mut blob).unwrap();
        }
    }
    let content = match layer.media_type.layer_encoding().unwrap() {
        LayerEncoding::TarGzip => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&blob[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        LayerEncoding::TarZstd => zstd_decode(&blob),
        _ => blob,
    };
    Hasher::digest_bytes(&content).digest
}

fn zstd_decode(blob: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("zstd")
        .args(["-dc"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("zstd is installed by `cargo xtask ci`");
    let mut stdin = child.stdin.take().unwrap();
    let data = blob.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out.stdout
}

#[test]
fn modelpack_archives_follow_the_spec() {
    let archive = golden();
    let manifest = archive.manifest();
    assert_eq!(manifest.artifact_type, Some(MediaType::ModelPackArtifact));
    assert_eq!(manifest.config.media_type, MediaType::ModelPackConfig);
    let schema = Validator::new("modelpack", "config-schema.json");
    assert_eq!(schema.validate(&archive.config_bytes().unwrap()), Ok(()));

    let config = config_of(&archive);
    assert_eq!(config.descriptor.name.as_deref(), Some("tiny"));
    assert_eq!(config.descriptor.version.as_deref(), Some("1.0.0"));
    assert_eq!(config.descriptor.licenses, ["apache-2.0"]);
    assert_eq!(config.descriptor.created_at, None, "no time unless asked");
    assert_eq!(config.config.param_size.as_deref(), Some("2k"));
    assert_eq!(config.config.precision.as_deref(), Some("bf16"));
    assert_eq!(config.config.format.as_deref(), Some("safetensors"));
    assert_eq!(
        config.config.architecture.as_deref(),
        Some("LlamaForCausalLM")
    );
    assert_eq!(config.modelfs.kind, "layers");

    let mut kinds = Vec::new();
    for (layer, diff_id) in manifest.layers.iter().zip(&config.modelfs.diff_ids) {
        let path = layer.annotations[annotations::MODELPACK_FILEPATH].as_str();
        assert_eq!(
            &content_digest(&archive, layer),
            diff_id,
            "diffId of {path}"
        );
        let metadata: serde_json::Value =
            serde_json::from_str(&layer.annotations[annotations::MODELPACK_FILE_METADATA]).unwrap();
        assert_eq!(metadata["mtime"], "1970-01-01T00:00:00Z");
        assert_eq!(
            metadata["size"],
            std::fs::metadata(tiny_model().join(path)).unwrap().len()
        );
        let MediaType::ModelPackLayer { kind, encoding } = layer.media_type else {
            panic!("{path}: {}", layer.media_type)
        };
        kinds.push((
            path.to_owned(),
            kind,
            encoding,
            layer.annotations[annotations::MODELPACK_MEDIATYPE_UNTESTED].clone(),
        ));
    }
    let row = |p: &str, k, e, u: &str| (p.to_owned(), k, e, u.to_owned());
    assert_eq!(
        kinds,
        [
            row(
                "README.md",
                ModelPackKind::Doc,
                LayerEncoding::TarGzip,
                "true"
            ),
            row(
                "config.json",
                ModelPackKind::WeightConfig,
                LayerEncoding::TarGzip,
                "true"
            ),
            row(
                "generation_config.json",
                ModelPackKind::WeightConfig,
                LayerEncoding::TarGzip,
                "true"
            ),
            row(
                "model.safetensors",
                ModelPackKind::Weight,
                LayerEncoding::Raw,
                "false"
            ),
            row(
                "scripts/serve.sh",
                ModelPackKind::Code,
                LayerEncoding::TarGzip,
                "true"
            ),
            row(
                "tokenizer.json",
                ModelPackKind::WeightConfig,
                LayerEncoding::TarGzip,
                "true"
            ),
            row(
                "tokenizer_config.json",
                ModelPackKind::WeightConfig,
                LayerEncoding::TarGzip,
                "true"
            ),
        ]
    );
    // A raw weight layer is the file itself.
    let weights = &manifest.layers[3];
    assert_eq!(
        weights.digest,
        Hasher::digest_bytes(&std::fs::read(tiny_model().join("model.safetensors")).unwrap())
            .digest
    );
    crate::assert_verifies(&archive);
}

#[test]
fn modelpack_round_trips_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ModelUnpackager::new()
        .extract(golden().path(), &out)
        .unwrap();
    assert_eq!(tree(&out), tree(&tiny_model()));
    let again = dir.path().join("again.tar");
    let options = PackOptions::default()
        .with_format(Format::ModelPack)
        .with_output(&again);
    ModelPackager::with_options(options)
        .pack(&tiny_model(), &modelpack_config())
        .unwrap();
    assert!(std::fs::read(&again).unwrap() == std::fs::read(golden().path()).unwrap());
}

#[test]
fn created_at_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.tar");
    let options = PackOptions::default()
        .with_format(Format::ModelPack)
        .with_source_date_epoch(1_718_914_617)
        .with_output(&out);
    ModelPackager::with_options(options)
        .pack(&tiny_model(), &modelpack_config())
        .unwrap();
    let archive = Archive::open(&out).unwrap();
    assert_eq!(
        config_of(&archive).descriptor.created_at.as_deref(),
        Some("2024-06-20T20:16:57Z")
    );
    assert_eq!(
        Validator::new("modelpack", "config-schema.json")
            .validate(&archive.config_bytes().unwrap()),
        Ok(())
    );
}

#[test]
fn metadata_must_name_descriptor_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.tar");
    let options = PackOptions::default()
        .with_format(Format::ModelPack)
        .with_output(&out);
    let err = ModelPackager::with_options(options)
        .pack(&tiny_model(), &modeloci_tests::fixtures::tiny_config())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "metadata \"base_model\" is not a ModelPack descriptor field; use one of authors, family, docURL, sourceURL, \
         datasetsURL, revision, vendor, licenses (or license), title, description"
    );
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

fn put(dir: &Path, rel: &str, data: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

#[test]
fn datasets_and_explicit_compression() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    put(
        &model,
        "model.safetensors",
        &safetensors(&[("w", &[256, 256])], 3),
    );
    put(&model, "data/train.jsonl", b"{\"text\": \"hello\"}\n");
    let out = dir.path().join("m.tar");
    let options = PackOptions::default()
        .with_format(Format::ModelPack)
        .with_datasets(["data/*"])
        .with_compression(Compression::Zstd)
        .with_raw_weights(false)
        .with_output(&out);
    ModelPackager::with_options(options)
        .pack(&model, &modelpack_config())
        .unwrap();
    let archive = Archive::open(&out).unwrap();
    let types: Vec<String> = archive
        .manifest()
        .layers
        .iter()
        .map(|l| l.media_type.to_string())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.cncf.model.dataset.v1.tar+zstd",
            "application/vnd.cncf.model.weight.v1.tar+zstd"
        ]
    );
    let config = config_of(&archive);
    for (layer, diff_id) in archive
        .manifest()
        .layers
        .iter()
        .zip(&config.modelfs.diff_ids)
    {
        assert_eq!(&content_digest(&archive, layer), diff_id);
    }
    assert_eq!(config.config.param_size.as_deref(), Some("66k"));
}

#[test]
fn add_to_a_modelpack_archive_gives_what_packing_gives() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    put(
        &base,
        "config.json",
        br#"{"architectures": ["BertModel"], "torch_dtype": "float32"}"#,
    );
    put(
        &base,
        "model-00001-of-00002.safetensors",
        &safetensors(&[("a", &[64, 64])], 1),
    );
    let archive = dir.path().join("a.tar");
    let pack = |model: &Path, out: &Path| {
        let options = PackOptions::default()
            .with_format(Format::ModelPack)
            .with_output(out);
        ModelPackager::with_options(options)
            .pack(model, &modelpack_config())
            .unwrap();
    };
    pack(&base, &archive);

    // A document, then a second weight shard (which changes the parameter count).
    let readme = dir.path().join("README.md");
    std::fs::write(&readme, "# model\n").unwrap();
    ModelPackager::new().add_layer(&archive, &readme).unwrap();
    let shard = dir.path().join("model-00002-of-00002.safetensors");
    let mut big = vec![0u8; 1 << 20];
    Normal::new(5).fill_bf16(0.02, &mut big);
    std::fs::write(&shard, safetensors(&[("b", &[512, 1024])], 2)).unwrap();
    ModelPackager::new().add_layer(&archive, &shard).unwrap();

    let with = dir.path().join("with");
    std::fs::create_dir(&with).unwrap();
    for (rel, data, _) in tree(&base) {
        put(&with, &rel, &data);
    }
    put(&with, "README.md", b"# model\n");
    put(
        &with,
        "model-00002-of-00002.safetensors",
        &std::fs::read(&shard).unwrap(),
    );
    let expected = dir.path().join("expected.tar");
    pack(&with, &expected);
    let added = Archive::open(&archive).unwrap();
    assert_eq!(config_of(&added).config.param_size.as_deref(), Some("528k"));
    assert!(
        std::fs::read(&archive).unwrap() == std::fs::read(&expected).unwrap(),
        "add differs from pack"
    );
    crate::assert_verifies(&added);
}
