//! The CNCF ModelPack profile: what kind of layer each file is, and the model config.

use modeloci_spec::{
    ModelPackDescriptor, ModelPackKind, ModelPackModelConfig, OciConfig, param_size,
};
use serde_json::Value;

use crate::facts::metadata::ModelFacts;
use crate::glob::glob_match;
use crate::options::rfc3339;
use crate::{Error, Result};

/// Weight file extensions.
const WEIGHTS: &[&str] = &[
    "safetensors",
    "gguf",
    "bin",
    "pt",
    "pth",
    "onnx",
    "ckpt",
    "h5",
    "keras",
    "tflite",
    "msgpack",
    "npy",
    "npz",
    "pb",
    "mlmodel",
    "engine",
    "plan",
    "ot",
    "joblib",
    "pkl",
];
/// Files that configure the weights, by name.
const WEIGHT_CONFIGS: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "preprocessor_config.json",
    "processor_config.json",
    "chat_template.json",
    "chat_template.jinja",
    "adapter_config.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
];
const CONFIG_EXTENSIONS: &[&str] = &[
    "json", "yaml", "yml", "toml", "ini", "cfg", "conf", "jinja", "tiktoken", "model",
];
const DOC_EXTENSIONS: &[&str] = &["md", "markdown", "txt", "rst", "pdf", "html", "adoc"];
const DOC_NAMES: &[&str] = &[
    "readme",
    "license",
    "licence",
    "notice",
    "copying",
    "authors",
    "changelog",
    "citation",
];
const CODE_EXTENSIONS: &[&str] = &[
    "py", "ipynb", "sh", "bash", "js", "ts", "rs", "go", "c", "cc", "cpp", "h", "hpp", "java",
    "kt", "rb", "jl", "r", "sql", "lua", "swift", "scala", "cu", "cuh",
];

/// The kind of layer a file makes, and whether that was decided without looking at its
/// content (`org.cncf.model.file.mediatype.untested`): weights whose header parsed
/// (`checked`) and files the user marked as data are tested; names and extensions are not.
pub(crate) fn classify(
    rel: &str,
    datasets: &[String],
    checked: &[String],
) -> (ModelPackKind, bool) {
    if datasets.iter().any(|p| glob_match(p, rel)) {
        return (ModelPackKind::Dataset, false);
    }
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    let stem = lower.split('.').next().unwrap_or("");
    if WEIGHT_CONFIGS.contains(&lower.as_str()) {
        return (ModelPackKind::WeightConfig, true);
    }
    if WEIGHTS.contains(&ext) {
        return (ModelPackKind::Weight, !checked.iter().any(|c| c == rel));
    }
    if DOC_NAMES.contains(&stem) || DOC_EXTENSIONS.contains(&ext) {
        return (ModelPackKind::Doc, true);
    }
    if CODE_EXTENSIONS.contains(&ext) {
        return (ModelPackKind::Code, true);
    }
    if CONFIG_EXTENSIONS.contains(&ext) {
        return (ModelPackKind::WeightConfig, true);
    }
    (ModelPackKind::Doc, true)
}

/// The descriptor fields `--metadata` may set, with their JSON types.
const DESCRIPTOR_KEYS: &str = "authors, family, docURL, sourceURL, datasetsURL, revision, vendor, licenses (or license), title, description";

/// The `descriptor`: the model's name and version, the creation time when asked for, and
/// whatever of the user's metadata names a descriptor field.
///
/// # Errors
///
/// [`Error::NotADescriptorField`] for a metadata key that is not a descriptor field (the
/// ModelPack schema allows no other keys), [`Error::InvalidDescriptorValue`] for a value of
/// the wrong type.
pub(crate) fn descriptor(config: &OciConfig, created: Option<&str>) -> Result<ModelPackDescriptor> {
    let mut d = ModelPackDescriptor {
        name: Some(config.model_name.clone()),
        version: Some(config.version.clone()),
        created_at: created.map(str::to_owned),
        ..ModelPackDescriptor::default()
    };
    let wrong = |key: &str, expected: &'static str| Error::InvalidDescriptorValue {
        key: key.to_owned(),
        expected,
    };
    let string = |key: &str, v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| wrong(key, "a string"))
    };
    let strings = |key: &str, v: &Value| -> Result<Vec<String>> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => items.iter().map(|i| string(key, i)).collect(),
            _ => Err(wrong(key, "a string or an array of strings")),
        }
    };
    for (key, value) in &config.metadata {
        match key.as_str() {
            "authors" | "author" => d.authors = strings(key, value)?,
            "family" => d.family = Some(string(key, value)?),
            "docURL" | "doc_url" => d.doc_url = Some(string(key, value)?),
            "sourceURL" | "source_url" => d.source_url = Some(string(key, value)?),
            "datasetsURL" | "datasets_url" => d.datasets_url = strings(key, value)?,
            "revision" => d.revision = Some(string(key, value)?),
            "vendor" => d.vendor = Some(string(key, value)?),
            "licenses" | "license" => d.licenses = strings(key, value)?,
            "title" => d.title = Some(string(key, value)?),
            "description" => d.description = Some(string(key, value)?),
            other => {
                return Err(Error::NotADescriptorField {
                    key: other.to_owned(),
                    fields: DESCRIPTOR_KEYS,
                });
            }
        }
    }
    Ok(d)
}

/// The `config`: architecture and numbers, from what the weights say, else what the user gave.
pub(crate) fn model_config(config: &OciConfig, facts: &ModelFacts) -> ModelPackModelConfig {
    let given = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    ModelPackModelConfig {
        architecture: facts
            .architecture
            .clone()
            .or_else(|| given(&config.architecture)),
        format: facts.format.clone().or_else(|| given(&config.framework)),
        param_size: facts.parameters.map(param_size),
        precision: facts.dtype.clone(),
        quantization: facts.quantization.clone(),
        capabilities: None,
    }
}

/// `org.cncf.model.file.metadata+json`: name, mode, owner and time normalised as in the tar
/// headers, so the annotation is as reproducible as the rest.
pub(crate) fn file_metadata(rel: &str, size: u64, executable: bool, mtime: u64) -> String {
    serde_json::json!({
        "name": rel.rsplit('/').next().unwrap_or(rel),
        "mode": if executable { 0o755 } else { 0o644 },
        "uid": 0,
        "gid": 0,
        "size": size,
        "mtime": rfc3339(mtime),
        "typeflag": 48,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let checked = vec!["model.safetensors".to_owned()];
        let data = vec!["data/*".to_owned()];
        for (rel, kind, untested) in [
            ("model.safetensors", ModelPackKind::Weight, false),
            (
                "shards/model-00001-of-00002.safetensors",
                ModelPackKind::Weight,
                true,
            ),
            ("pytorch_model.bin", ModelPackKind::Weight, true),
            ("config.json", ModelPackKind::WeightConfig, true),
            ("tokenizer.model", ModelPackKind::WeightConfig, true),
            ("merges.txt", ModelPackKind::WeightConfig, true),
            ("README.md", ModelPackKind::Doc, true),
            ("LICENSE", ModelPackKind::Doc, true),
            ("scripts/serve.sh", ModelPackKind::Code, true),
            ("modeling_custom.py", ModelPackKind::Code, true),
            ("params.yaml", ModelPackKind::WeightConfig, true),
            ("data/train.jsonl", ModelPackKind::Dataset, false),
            ("mystery", ModelPackKind::Doc, true),
        ] {
            assert_eq!(classify(rel, &data, &checked), (kind, untested), "{rel}");
        }
    }

    #[test]
    fn descriptor_fields_from_metadata() {
        let metadata = serde_json::json!({"license": "apache-2.0", "authors": ["a", "b"], "docURL": "https://x"});
        let Value::Object(metadata) = metadata else {
            unreachable!()
        };
        let config = OciConfig::new("m", "1", "pytorch", "transformer").with_metadata(metadata);
        let d = descriptor(&config, Some("2024-06-01T00:00:00Z")).unwrap();
        assert_eq!(d.licenses, ["apache-2.0"]);
        assert_eq!(d.authors, ["a", "b"]);
        assert_eq!(d.doc_url.as_deref(), Some("https://x"));
        let Value::Object(bad) = serde_json::json!({"eval_accuracy": 0.9}) else {
            unreachable!()
        };
        let err =
            descriptor(&OciConfig::new("m", "1", "f", "a").with_metadata(bad), None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("metadata \"eval_accuracy\" is not a ModelPack descriptor field"),
            "{err}"
        );
    }
}
