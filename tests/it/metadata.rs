//! What packing learns from the weights: safetensors headers, GGUF metadata, config.json;
//! and what it does with hostile headers (a warning, no facts, never a crash).

use std::path::Path;

use modeloci_archive::{Archive, ModelFacts, ModelPackager, PackOptions, PackReport};
use modeloci_spec::annotations;
use modeloci_tests::fixtures::safetensors;
use modeloci_tests::gguf::{Value, gguf};

fn pack_files(files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, PackReport) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    for (rel, data) in files {
        let path = model.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let out = dir.path().join("m.tar");
    let report = ModelPackager::with_options(PackOptions::default().with_output(&out))
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
        ("pytorch_model.bin", b"PK\x03\x04 pickled".to_vec()),
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
