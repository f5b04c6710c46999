//! What the weights say about a model (parameters, dtype, quantization, formats,
//! architecture): as pack found it, and as an archive or a registry manifest records it; in
//! the one JSON shape every command prints, and in words.

use modeloci_archive::ModelFacts;
use modeloci_spec::{ModelPackConfig, OciConfig, OciManifest, annotations};
use serde::Serialize;

use crate::output::{and_list, printable};

/// The facts, as `pack`, `inspect` and `pull` print them in `--json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FactsJson<'a> {
    pub(super) parameters: Option<u64>,
    pub(super) dtype: Option<&'a str>,
    /// The weights' formats, the most specific first, comma-separated (`safetensors,gguf`).
    pub(super) format: Option<&'a str>,
    pub(super) quantization: Option<&'a str>,
    pub(super) architecture: Option<&'a str>,
}

impl<'a> FactsJson<'a> {
    pub(super) fn new(facts: &'a ModelFacts) -> Self {
        Self {
            parameters: facts.parameters,
            dtype: facts.dtype.as_deref(),
            format: facts.format.as_deref(),
            quantization: facts.quantization.as_deref(),
            architecture: facts.architecture.as_deref(),
        }
    }
}

/// The facts a manifest records: its `org.modeloci.model.*` annotations, else (ModelPack)
/// its config's fields. ModelPack records the parameter count rounded (`7.2b`): no count.
pub(super) fn recorded(manifest: &OciManifest, modelpack: Option<&ModelPackConfig>) -> ModelFacts {
    let get = |key: &str| manifest.annotations.get(key).cloned();
    let mut facts = ModelFacts::default();
    facts.parameters = get(annotations::MODEL_PARAMETERS).and_then(|p| p.parse().ok());
    facts.dtype = get(annotations::MODEL_DTYPE);
    facts.format = get(annotations::MODEL_FORMAT);
    facts.quantization = get(annotations::MODEL_QUANTIZATION);
    facts.architecture = get(annotations::MODEL_ARCHITECTURE);
    if let Some(mp) = modelpack {
        let model = &mp.config;
        facts.dtype = facts.dtype.or_else(|| model.precision.clone());
        facts.format = facts.format.or_else(|| model.format.clone());
        facts.quantization = facts.quantization.or_else(|| model.quantization.clone());
        facts.architecture = facts.architecture.or_else(|| model.architecture.clone());
    }
    facts
}

/// What the weights are, in words: `2k parameters, bf16, safetensors`; a quantized type that
/// is also the dtype is said once (`quantized q8_0`); several formats are listed
/// (`safetensors and gguf`). `None` when nothing is known.
pub(super) fn weights_line(facts: &ModelFacts) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(p) = facts.parameters {
        parts.push(format!("{} parameters", modeloci_spec::param_size(p)));
    }
    if let Some(dtype) = &facts.dtype
        && facts.quantization.as_ref() != Some(dtype)
    {
        parts.push(dtype.clone());
    }
    if let Some(q) = &facts.quantization {
        parts.push(format!("quantized {q}"));
    }
    if let Some(format) = &facts.format {
        let formats: Vec<&str> = format.split(',').map(str::trim).collect();
        parts.push(and_list(&formats));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The model as pack, pack --push and unpack name it: `tiny 1.0.0 (pytorch, LlamaForCausalLM)`,
/// or `(pytorch, transformer; the weights say LlamaForCausalLM)` when the config's
/// architecture is not the one the weights name. Escaped.
pub(super) fn model_title(config: &OciConfig, facts: &ModelFacts) -> String {
    let architecture = match other_architecture(&config.architecture, facts) {
        Some(detected) => format!("{}; the weights say {detected}", config.architecture),
        None => config.architecture.clone(),
    };
    printable(format!(
        "{} {} ({}, {architecture})",
        config.model_name, config.version, config.framework
    ))
    .to_string()
}

/// The model's architecture: the config's, with the weights' beside it when they name
/// another (`transformer (the weights say LlamaForCausalLM)`).
pub(super) fn architecture(configured: &str, facts: &ModelFacts) -> String {
    match other_architecture(configured, facts) {
        Some(detected) => format!("{configured} (the weights say {detected})"),
        None => configured.to_owned(),
    }
}

/// The architecture the weights name, when it is not the configured one.
fn other_architecture<'a>(configured: &str, facts: &'a ModelFacts) -> Option<&'a str> {
    facts
        .architecture
        .as_deref()
        .filter(|detected| *detected != configured)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(dtype: Option<&str>, quantization: Option<&str>, format: Option<&str>) -> ModelFacts {
        let mut f = ModelFacts::default();
        f.parameters = Some(1_100_000_000);
        f.dtype = dtype.map(str::to_owned);
        f.quantization = quantization.map(str::to_owned);
        f.format = format.map(str::to_owned);
        f
    }

    #[test]
    fn facts_in_words() {
        assert_eq!(
            weights_line(&facts(Some("q8_0"), Some("q8_0"), Some("gguf"))).unwrap(),
            "1.1b parameters, quantized q8_0, gguf"
        );
        assert_eq!(
            weights_line(&facts(Some("bf16"), Some("gptq"), Some("safetensors,gguf"))).unwrap(),
            "1.1b parameters, bf16, quantized gptq, safetensors and gguf"
        );
        assert_eq!(weights_line(&ModelFacts::default()), None);
        let mut f = ModelFacts::default();
        f.architecture = Some("llama".into());
        assert_eq!(architecture("llama", &f), "llama");
        let config = OciConfig::new("m\u{1b}", "1", "llama.cpp", "transformer");
        assert_eq!(
            model_title(&config, &f),
            "m\\u{1b} 1 (llama.cpp, transformer; the weights say llama)"
        );
        assert_eq!(
            architecture("transformer", &f),
            "transformer (the weights say llama)"
        );
    }
}
