//! The CNCF ModelPack profile: what kind of layer each file is, its annotations, and the
//! model config as pack writes it and add rewrites it.

use modeloci_spec::{
    Digest, ModelFs, ModelLayer, ModelPackConfig, ModelPackDescriptor, ModelPackKind,
    ModelPackModelConfig, OciConfig, annotations, param_size,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::facts::files::{extension, is_weight};
use crate::facts::metadata::ModelFacts;
use crate::glob::glob_match;
use crate::options::rfc3339;
use crate::profile::LayerChange;
use crate::source::SourceFile;

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
/// content (`org.cncf.model.file.mediatype.untested`): weights whose header parsed or whose
/// first bytes were recognised (`checked`) and files the user marked as data are tested;
/// names and extensions are not.
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
    let ext = extension(&lower);
    let ext = ext.as_str();
    let stem = lower.split('.').next().unwrap_or("");
    if WEIGHT_CONFIGS.contains(&lower.as_str()) {
        return (ModelPackKind::WeightConfig, true);
    }
    if is_weight(ext) {
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

/// The config blob pack writes: the descriptor, the facts in `config`, one `diffId` per
/// layer.
///
/// # Errors
///
/// As [`descriptor`].
pub(crate) fn config_blob(
    config: &OciConfig,
    facts: &ModelFacts,
    diff_ids: Vec<Digest>,
    created: Option<&str>,
) -> Result<Vec<u8>> {
    let modelpack = ModelPackConfig {
        descriptor: descriptor(config, created)?,
        config: model_config(config, facts),
        modelfs: ModelFs {
            diff_ids,
            ..ModelFs::default()
        },
    };
    Ok(modelpack.to_json())
}

/// An archive's ModelPack config, checked to list one `diffId` for each of its `layers`.
///
/// # Errors
///
/// [`Error::InvalidDocument`] when it does not parse, [`Error::InvalidOption`] when the
/// `diffIds` do not match the layers.
pub(crate) fn read_config(bytes: &[u8], layers: usize) -> Result<ModelPackConfig> {
    let config = ModelPackConfig::from_slice(bytes).map_err(|source| Error::InvalidDocument {
        entry: "config".into(),
        source,
    })?;
    if config.modelfs.diff_ids.len() != layers {
        return Err(Error::InvalidOption(format!(
            "the ModelPack config lists {} diffIds for {layers} layers",
            config.modelfs.diff_ids.len(),
        )));
    }
    Ok(config)
}

/// An archive's config after `add` changed its layers: the `diffIds` follow the layers,
/// and the facts, when read again, go in as pack puts them.
pub(crate) fn rewrite_config(
    config: &mut ModelPackConfig,
    change: LayerChange,
    facts: Option<&ModelFacts>,
) {
    let diffs = &mut config.modelfs.diff_ids;
    if let Some((i, Some(diff_id))) = change.regrouped {
        diffs[i] = diff_id;
    }
    if let Some(i) = change.removed {
        diffs.remove(i);
    }
    let diff_id = change.diff_id.expect("ModelPack layers have a diffId");
    diffs.insert(change.inserted, diff_id);
    if let Some(facts) = facts {
        merge_facts(&mut config.config, facts);
    }
}

/// The `config` pack writes: what the weights say, else what the user gave.
pub(crate) fn model_config(config: &OciConfig, facts: &ModelFacts) -> ModelPackModelConfig {
    let given = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let mut model = ModelPackModelConfig {
        architecture: given(&config.architecture),
        format: given(&config.framework),
        ..ModelPackModelConfig::default()
    };
    merge_facts(&mut model, facts);
    model
}

/// Puts the facts into a `config`, the one precedence pack and add share: what the weights
/// say wins; where they say nothing, the config keeps what it had (the user's architecture
/// and framework when packing, the archive's config when adding).
pub(crate) fn merge_facts(model: &mut ModelPackModelConfig, facts: &ModelFacts) {
    model.architecture = facts.architecture.clone().or(model.architecture.take());
    // The schema's `format` is one format: the most specific of those the weights are in.
    model.format = facts
        .main_format()
        .map(str::to_owned)
        .or(model.format.take());
    model.param_size = facts.parameters.map(param_size).or(model.param_size.take());
    model.precision = facts.dtype.clone().or(model.precision.take());
    model.quantization = facts.quantization.clone().or(model.quantization.take());
}

/// A layer's ModelPack annotations: its path, its file metadata, and whether its kind was
/// decided without reading it.
pub(crate) fn annotate_layer(
    layer: &mut ModelLayer,
    file: &SourceFile,
    untested: bool,
    mtime: u64,
) {
    layer
        .annotations
        .insert(annotations::MODELPACK_FILEPATH.into(), file.rel.clone());
    layer.annotations.insert(
        annotations::MODELPACK_FILE_METADATA.into(),
        file_metadata(&file.rel, file.size, file.executable, mtime),
    );
    layer.annotations.insert(
        annotations::MODELPACK_MEDIATYPE_UNTESTED.into(),
        untested.to_string(),
    );
}

/// `org.cncf.model.file.metadata+json`: name, mode, owner and time normalised as in the tar
/// headers, so the annotation is as reproducible as the rest.
fn file_metadata(rel: &str, size: u64, executable: bool, mtime: u64) -> String {
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
