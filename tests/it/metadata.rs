//! What packing learns from the weights: safetensors headers, GGUF metadata, config.json;
//! and what it does with hostile headers (a warning, no facts, never a crash).

use std::path::Path;

use modeloci_archive::{
    AddOptions, Archive, Format, ModelFacts, ModelPackager, PackOptions, PackReport,
};
use modeloci_spec::{ModelPackConfig, OciConfig, annotations};
use modeloci_tests::fixtures::safetensors;
use modeloci_tests::gguf::{Value, gguf};

fn pack_files(files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, PackReport) {
    pack_with(files, PackOptions::default())
}

/// Packs `files` with `options` into `m.tar` beside the model directory.
fn pack_with(files: &[(&str, Vec<u8>)], options: PackOptions) -> (tempfile::TempDir, PackReport) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    for (rel, data) in files {
        let path = model.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let out = dir.path().join("m.tar");
    let report = ModelPackager::with_options(options.with_output(&out))
        .pack(&model, &crate::config("m"))
        .unwrap();
    (dir, report)
}

fn facts(
    parameters: Option<u64>,
    dtype: Option<&str>,
    format: Option<&str>,
    quantization: Option<&str>,
    architecture: Option<&str>,
) -> ModelFacts {
    let mut f = ModelFacts::default();
    f.parameters = parameters;
    f.dtype = dtype.map(str::to_owned);
    f.format = format.map(str::to_owned);
    f.quantization = quantization.map(str::to_owned);
    f.architecture = architecture.map(str::to_owned);
    f
}

#[test]
fn safetensors_shards_and_config_json() {
    let (_dir, report) = pack_files(&[
        (
            "model-00001-of-00002.safetensors",
            safetensors(&[("a", &[1000, 1000]), ("b", &[10])], 1),
        ),
        (
            "model-00002-of-00002.safetensors",
            safetensors(&[("c", &[500, 1000])], 2),
        ),
        (
            "config.json",
            br#"{"architectures": ["MistralForCausalLM"], "torch_dtype": "bfloat16"}"#.to_vec(),
        ),
    ]);
    assert_eq!(
        report.facts,
        facts(
            Some(1_500_010),
            Some("bf16"),
            Some("safetensors"),
            None,
            Some("MistralForCausalLM")
        )
    );
    assert_eq!(report.warnings, Vec::<String>::new());
    // The default profile carries them as manifest annotations; the config blob stays the user's.
    let archive = Archive::open(&report.path).unwrap();
    let a = &archive.manifest().annotations;
    assert_eq!(a[annotations::MODEL_PARAMETERS], "1500010");
    assert_eq!(a[annotations::MODEL_DTYPE], "bf16");
    assert_eq!(a[annotations::MODEL_FORMAT], "safetensors");
    assert!(!a.contains_key(annotations::MODEL_QUANTIZATION));
    assert_eq!(a[annotations::MODEL_ARCHITECTURE], "MistralForCausalLM");
    assert_eq!(
        archive.config_bytes().unwrap(),
        crate::config("m").to_json()
    );
}

#[test]
fn gguf_metadata_and_tensor_infos() {
    let tokens: Vec<String> = (0..5000).map(|i| format!("tok{i}")).collect();
    let file = gguf(
        &[
            ("general.architecture", Value::Str("llama".into())),
            ("general.name", Value::Str("tiny llama".into())),
            ("llama.context_length", Value::U32(4096)),
            ("llama.rope.freq_base", Value::F32(10000.0)),
            ("tokenizer.ggml.tokens", Value::Strings(tokens)),
            ("tokenizer.ggml.token_type", Value::U32s(vec![1; 5000])),
            ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
            ("general.quantization_version", Value::U64(2)),
            ("general.file_type", Value::U32(15)),
        ],
        &[
            ("token_embd.weight", &[4096, 5000], 12),
            ("output_norm.weight", &[4096], 0),
        ],
        64,
    );
    let (_dir, report) = pack_files(&[("tiny-llama.Q4_K_M.gguf", file)]);
    assert_eq!(
        report.facts,
        facts(
            Some(20_484_096),
            Some("q4_k_m"),
            Some("gguf"),
            Some("q4_k_m"),
            Some("llama")
        )
    );
}

#[test]
fn quantization_from_config_json_and_pickles_for_format() {
    let (_dir, report) = pack_files(&[
        ("pytorch_model.bin", torch_zip()),
        ("config.json", br#"{"model_type": "llama", "quantization_config": {"quant_method": "gptq", "bits": 4}}"#.to_vec()),
    ]);
    assert_eq!(
        report.facts,
        facts(None, None, Some("pytorch"), Some("gptq"), Some("llama"))
    );
}

#[track_caller]
fn check_hostile(name: &str, data: Vec<u8>, warning: &str) {
    let (_dir, report) = pack_files(&[(name, data), ("README.md", b"still packed".to_vec())]);
    assert_eq!(report.warnings, [warning], "{name}");
    assert_eq!(report.facts.parameters, None);
    assert_eq!(report.layers.len(), 2, "the file is packed all the same");
}

#[test]
fn hostile_headers_give_a_warning_and_no_facts() {
    let header = |json: &str| {
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend(json.as_bytes());
        out
    };
    check_hostile(
        "a.safetensors",
        u64::MAX.to_le_bytes().to_vec(),
        "a.safetensors: safetensors header claims 18446744073709551615 bytes; no metadata from it",
    );
    check_hostile(
        "a.safetensors",
        b"\x01".to_vec(),
        "a.safetensors: too short for a safetensors header; no metadata from it",
    );
    check_hostile(
        "a.safetensors",
        header(
            "{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 0]}}",
        ),
        "a.safetensors: tensor \"t\" has a shape whose size overflows; no metadata from it",
    );
    check_hostile(
        "a.safetensors",
        header("[1, 2"),
        "a.safetensors: safetensors header is not a JSON object: invalid type: sequence, expected a map at line 1 column 0; no metadata from it",
    );
    check_hostile(
        "a.safetensors",
        header("{\"t\": {\"dtype\": \"F32\", \"shape\": [-1]}}"),
        "a.safetensors: tensor \"t\" has no valid dtype and shape; no metadata from it",
    );
    check_hostile(
        "a.gguf",
        b"GGML\x03\0\0\0".to_vec(),
        "a.gguf: not a GGUF file (no GGUF magic); no metadata from it",
    );
    let mut huge_count = b"GGUF".to_vec();
    huge_count.extend(3u32.to_le_bytes());
    huge_count.extend(u64::MAX.to_le_bytes());
    huge_count.extend(1u64.to_le_bytes());
    check_hostile(
        "a.gguf",
        huge_count,
        "a.gguf: GGUF header claims 18446744073709551615 tensors and 1 metadata entries; no metadata from it",
    );
    let mut huge_string = b"GGUF".to_vec();
    huge_string.extend(3u32.to_le_bytes());
    huge_string.extend(0u64.to_le_bytes());
    huge_string.extend(1u64.to_le_bytes());
    huge_string.extend((1u64 << 40).to_le_bytes());
    check_hostile(
        "a.gguf",
        huge_string,
        "a.gguf: has a string of 1099511627776 bytes; no metadata from it",
    );
    let overflowing = gguf(&[], &[("t", &[u64::MAX, 2], 0)], 0);
    check_hostile(
        "a.gguf",
        overflowing,
        "a.gguf: a tensor's size overflows; no metadata from it",
    );
    let truncated = gguf(
        &[("general.architecture", Value::Str("llama".into()))],
        &[("t", &[4, 4], 0)],
        0,
    );
    check_hostile(
        "a.gguf",
        truncated[..40].to_vec(),
        "a.gguf: ends early; no metadata from it",
    );
}

#[test]
fn the_tiny_model_is_described() {
    let archive = Archive::open(&crate::fixtures().join("golden/tiny-1.0.0.tar")).unwrap();
    let a = &archive.manifest().annotations;
    assert_eq!(
        (
            a[annotations::MODEL_PARAMETERS].as_str(),
            a[annotations::MODEL_DTYPE].as_str()
        ),
        ("2048", "bf16")
    );
    let _: &Path = archive.path();
}

/// The first bytes of what `torch.save` writes since PyTorch 1.6: a zip whose first entry,
/// stored, is `<name>/data.pkl`, a pickle.
fn torch_zip() -> Vec<u8> {
    let name = b"pytorch_model/data.pkl";
    let pickle = b"\x80\x02}q\x00X\x06\x00\x00\x00weightq\x01s.";
    let mut out = b"PK\x03\x04".to_vec();
    out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, stored, time, date
    out.extend(0u32.to_le_bytes()); // crc-32 (not read)
    out.extend((pickle.len() as u32).to_le_bytes());
    out.extend((pickle.len() as u32).to_le_bytes());
    out.extend((name.len() as u16).to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(name);
    out.extend(pickle);
    out.extend(b"PK\x03\x04 and the storages");
    out
}

/// Bytes that are nothing in particular, as a `big.bin` of unknown origin is.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn gguf_without_file_type_takes_dtype_and_quantization_from_tensor_types() {
    let file = gguf(
        &[("general.architecture", Value::Str("llama".into()))],
        &[
            ("output_norm.weight", &[64], 0),
            ("token_embd.weight", &[64, 100], 8),
            ("blk.0.attn_q.weight", &[64, 10], 12),
        ],
        64,
    );
    let (_dir, report) = pack_files(&[("tiny.gguf", file)]);
    assert_eq!(
        report.facts,
        facts(
            Some(64 + 6400 + 640),
            Some("q8_0"),
            Some("gguf"),
            Some("q8_0"),
            Some("llama")
        )
    );
    let archive = Archive::open(&report.path).unwrap();
    let a = &archive.manifest().annotations;
    assert_eq!(a[annotations::MODEL_QUANTIZATION], "q8_0");
    assert_eq!(a[annotations::MODEL_ARCHITECTURE], "llama");
    // Unquantized: f32 norms beside f16 matrices is f16, and no quantization.
    let file = gguf(&[], &[("norm", &[64], 0), ("embd", &[64, 100], 1)], 64);
    let (_dir, report) = pack_files(&[("f16.gguf", file)]);
    assert_eq!(
        report.facts,
        facts(Some(6464), Some("f16"), Some("gguf"), None, None)
    );
}

#[test]
fn safetensors_and_gguf_name_both_formats() {
    let files = [
        ("model.safetensors", safetensors(&[("a", &[10, 10])], 1)),
        ("model.Q8_0.gguf", gguf(&[], &[("a", &[10, 10], 8)], 64)),
    ];
    let (_dir, report) = pack_files(&files);
    assert_eq!(report.facts.format.as_deref(), Some("safetensors,gguf"));
    assert_eq!(report.facts.main_format(), Some("safetensors"));
    assert_eq!(report.facts.framework(), Some("pytorch"));
    let archive = Archive::open(&report.path).unwrap();
    assert_eq!(
        archive.manifest().annotations[annotations::MODEL_FORMAT],
        "safetensors,gguf"
    );
    // ModelPack's config names one format: the most specific.
    let (_dir, report) = pack_with(
        &files,
        PackOptions::default().with_format(Format::ModelPack),
    );
    let archive = Archive::open(&report.path).unwrap();
    let config = ModelPackConfig::from_slice(&archive.config_bytes().unwrap()).unwrap();
    assert_eq!(config.config.format.as_deref(), Some("safetensors"));
}

#[test]
fn pickle_extensions_are_pytorch_only_when_they_look_like_torch_save() {
    // Random bytes: a weight, in no format facts know; no warning either.
    let (_dir, report) = pack_files(&[("big.bin", noise(1 << 20))]);
    assert_eq!(report.facts, ModelFacts::default());
    assert_eq!(report.warnings, Vec::<String>::new());
    // torch.save's zip, and the legacy pickle (a pickled magic number first).
    let legacy = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.".to_vec();
    for (name, bytes) in [("model.bin", torch_zip()), ("model.pt", legacy)] {
        let (_dir, report) = pack_files(&[(name, bytes)]);
        assert_eq!(report.facts.format.as_deref(), Some("pytorch"), "{name}");
        assert_eq!(report.facts.framework(), Some("pytorch"));
    }
    // In ModelPack, a weight whose content was recognised is "tested"; one that was not is not.
    let modelpack = PackOptions::default().with_format(Format::ModelPack);
    let (_dir, report) = pack_with(
        &[("big.bin", noise(4096)), ("model.pth", torch_zip())],
        modelpack,
    );
    let untested: Vec<(&str, &str)> = report
        .layers
        .iter()
        .map(|l| {
            (
                l.title().unwrap(),
                l.annotations[annotations::MODELPACK_MEDIATYPE_UNTESTED].as_str(),
            )
        })
        .collect();
    assert_eq!(untested, [("big.bin", "true"), ("model.pth", "false")]);
}

#[test]
fn framework_and_architecture_from_the_weights_when_asked() {
    let files = [(
        "tiny.gguf",
        gguf(
            &[("general.architecture", Value::Str("llama".into()))],
            &[("a", &[32, 4], 8)],
            64,
        ),
    )];
    let options = PackOptions::default()
        .with_framework_from_facts(true)
        .with_architecture_from_facts(true);
    let (_dir, report) = pack_with(&files, options.clone());
    let expected = OciConfig::new("m", "1.0.0", "llama.cpp", "llama");
    let archive = Archive::open(&report.path).unwrap();
    assert_eq!(archive.config_bytes().unwrap(), expected.to_json());
    assert_eq!(report.config, expected);
    // The library keeps the config as given unless asked.
    let (_dir, report) = pack_files(&files);
    let archive = Archive::open(&report.path).unwrap();
    assert_eq!(
        archive.config_bytes().unwrap(),
        crate::config("m").to_json()
    );
    assert_eq!(report.config, crate::config("m"));
    // Weights that name nothing leave the config as given.
    let (_dir, report) = pack_with(&[("notes.txt", b"hi".to_vec())], options);
    let archive = Archive::open(&report.path).unwrap();
    assert_eq!(
        archive.config_bytes().unwrap(),
        crate::config("m").to_json()
    );
}

/// A sink that keeps nothing: `pack_to` without a registry.
struct Discard(std::path::PathBuf);

impl modeloci_archive::BlobSink for Discard {
    fn target(&self) -> &Path {
        &self.0
    }
    fn begin_blob(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn write_blob(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn finish_blob(&mut self, _: &modeloci_digest::Measured) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn pack_to_writes_the_config_from_the_weights_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors(&[("a", &[8, 8])], 3),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        br#"{"architectures": ["BertModel"]}"#,
    )
    .unwrap();
    let options = PackOptions::default()
        .with_framework_from_facts(true)
        .with_architecture_from_facts(true);
    let mut config = crate::config("m");
    config.framework = "given".into();
    let artifact = ModelPackager::with_options(options)
        .pack_to(dir.path(), &config, &mut Discard("nowhere".into()))
        .unwrap();
    let expected = OciConfig::new("m", "1.0.0", "pytorch", "BertModel");
    assert_eq!(artifact.config_bytes, expected.to_json());
    assert_eq!(artifact.config, expected);
}

#[test]
fn add_follows_the_architecture() {
    let (dir, report) = pack_files(&[
        (
            "model.gguf",
            gguf(
                &[("general.architecture", Value::Str("llama".into()))],
                &[("a", &[32, 4], 0)],
                64,
            ),
        ),
        (
            "config.json",
            br#"{"architectures": ["LlamaForCausalLM"]}"#.to_vec(),
        ),
    ]);
    let architecture = || {
        Archive::open(&report.path)
            .unwrap()
            .manifest()
            .annotations
            .get(annotations::MODEL_ARCHITECTURE)
            .cloned()
    };
    assert_eq!(architecture().as_deref(), Some("LlamaForCausalLM"));
    let replacement = dir.path().join("config.json");
    std::fs::write(
        &replacement,
        br#"{"architectures": ["MistralForCausalLM"]}"#,
    )
    .unwrap();
    let packager = ModelPackager::new();
    let force = AddOptions::default().with_force(true);
    packager.add(&report.path, &replacement, &force).unwrap();
    assert_eq!(architecture().as_deref(), Some("MistralForCausalLM"));
    // A config.json that names none: the GGUF file's own.
    std::fs::write(&replacement, b"{}").unwrap();
    packager.add(&report.path, &replacement, &force).unwrap();
    assert_eq!(architecture().as_deref(), Some("llama"));
}

#[test]
fn add_removes_the_architecture_the_facts_no_longer_give() {
    let (dir, report) = pack_files(&[("config.json", br#"{"model_type": "bert"}"#.to_vec())]);
    let annotations_now = || {
        Archive::open(&report.path)
            .unwrap()
            .manifest()
            .annotations
            .clone()
    };
    assert_eq!(annotations_now()[annotations::MODEL_ARCHITECTURE], "bert");
    let replacement = dir.path().join("config.json");
    std::fs::write(&replacement, b"{}").unwrap();
    ModelPackager::new()
        .add(
            &report.path,
            &replacement,
            &AddOptions::default().with_force(true),
        )
        .unwrap();
    assert!(!annotations_now().contains_key(annotations::MODEL_ARCHITECTURE));
}

/// Files written by the formats' own Python libraries (fixtures/weights/make.py).
#[test]
fn files_written_by_the_gguf_and_safetensors_libraries() {
    let weights = crate::fixtures().join("weights");
    let read = |name: &str| std::fs::read(weights.join(name)).unwrap();
    let (_dir, report) = pack_files(&[("tiny-q8_0.gguf", read("tiny-q8_0.gguf"))]);
    assert_eq!(
        report.facts,
        facts(
            Some(32 + 1024),
            Some("q8_0"),
            Some("gguf"),
            Some("q8_0"),
            Some("llama")
        )
    );
    assert_eq!(report.warnings, Vec::<String>::new());
    let (_dir, report) = pack_files(&[("tiny.safetensors", read("tiny.safetensors"))]);
    assert_eq!(
        report.facts,
        facts(
            Some(2 * 512 + 16),
            Some("f16"),
            Some("safetensors"),
            None,
            None
        )
    );
    let (_dir, report) = pack_files(&[
        ("tiny-q8_0.gguf", read("tiny-q8_0.gguf")),
        ("tiny.safetensors", read("tiny.safetensors")),
    ]);
    assert_eq!(report.facts.format.as_deref(), Some("safetensors,gguf"));
    // 1024 f16 and 1024 q8_0 elements: the tie goes to the first name.
    assert_eq!(report.facts.dtype.as_deref(), Some("f16"));
    assert_eq!(report.facts.quantization.as_deref(), Some("q8_0"));
}

/// A safetensors file whose header alone claims one BF16 tensor of `elements` elements.
fn claimed(elements: u64) -> Vec<u8> {
    let header = format!(r#"{{"a":{{"dtype":"BF16","shape":[{elements}],"data_offsets":[0,0]}}}}"#);
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out
}

#[test]
fn element_counts_that_overflow_across_files_saturate() {
    // Each count fits in a u64; their sum does not. No panic, no wrap to a small number.
    let (_dir, report) = pack_files(&[
        ("a.safetensors", claimed(u64::MAX - 1)),
        ("b.safetensors", claimed(u64::MAX - 1)),
    ]);
    assert_eq!(report.facts.parameters, Some(u64::MAX));
    assert_eq!(report.facts.dtype.as_deref(), Some("bf16"));
}

#[test]
fn implausible_names_are_not_recorded() {
    // A GGUF naming a 1 MiB architecture: read within the caps, but no manifest carries it.
    let (_dir, report) = pack_files(&[(
        "m.gguf",
        gguf(
            &[("general.architecture", Value::Str("x".repeat(1 << 20)))],
            &[("w", &[4], 0)],
            16,
        ),
    )]);
    assert_eq!(report.facts.architecture, None);
    assert_eq!(report.facts.parameters, Some(4));
    assert_eq!(
        report.warnings,
        ["the weights name an architecture that is 1048576 bytes long; not recorded"]
    );
    let archive = Archive::open(&report.path).unwrap();
    let stored = &archive.manifest().annotations;
    assert!(!stored.contains_key(annotations::MODEL_ARCHITECTURE));

    // A config.json whose architecture and quantization hold terminal controls.
    let (_dir, report) = pack_files(&[(
        "config.json",
        br#"{"architectures": ["Llama\u001b[2J"], "quantization_config": {"quant_method": ""}}"#
            .to_vec(),
    )]);
    assert_eq!(report.facts.architecture, None);
    assert_eq!(report.facts.quantization, None);
    assert_eq!(
        report.warnings,
        [
            "the weights name a quantization that is empty; not recorded",
            "the weights name an architecture that holds control characters; not recorded",
        ]
    );
}
