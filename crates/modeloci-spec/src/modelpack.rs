//! The CNCF ModelPack model config: <https://github.com/modelpack/model-spec>.

use serde::{Deserialize, Serialize};

use crate::{Digest, Error};

/// A ModelPack config blob (`application/vnd.cncf.model.config.v1+json`): what the model is,
/// and the layers that make up its file system.
///
/// ```
/// use modeloci_spec::{ModelPackConfig, ModelPackDescriptor};
///
/// let mut config = ModelPackConfig::default();
/// config.descriptor.name = Some("qwen2.5-0.5b".into());
/// config.config.param_size = Some("0.5b".into());
/// let json = String::from_utf8(config.to_json()).unwrap();
/// assert_eq!(json, r#"{"descriptor":{"name":"qwen2.5-0.5b"},"config":{"paramSize":"0.5b"},"modelfs":{"type":"layers","diffIds":[]}}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPackConfig {
    /// Who made the model and what it is called.
    #[serde(default)]
    pub descriptor: ModelPackDescriptor,
    /// How the model is built.
    #[serde(default)]
    pub config: ModelPackModelConfig,
    /// The layers' uncompressed digests, in layer order.
    #[serde(default)]
    pub modelfs: ModelFs,
}

/// The `descriptor` object: identity and provenance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPackDescriptor {
    /// When the model was packaged (RFC 3339); absent unless asked for, to stay reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The model's authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// The model family (`llama3`, `qwen2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where its documentation is.
    #[serde(rename = "docURL", default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    /// Where its source is.
    #[serde(rename = "sourceURL", default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Where its data sets are.
    #[serde(rename = "datasetsURL", default, skip_serializing_if = "Vec::is_empty")]
    pub datasets_url: Vec<String>,
    /// The model's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The source revision it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Who distributes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Its licenses, as SPDX identifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// A human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The `config` object: architecture and numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPackModelConfig {
    /// The architecture (`transformer`, `LlamaForCausalLM`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The weights' file format (`safetensors`, `gguf`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The parameter count, written short: `7b`, `1.5b`, `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_size: Option<String>,
    /// The weights' precision (`bf16`, `fp16`, `int8`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// The quantization (`gptq`, `awq`, `q4_k_m`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    /// What the model can do; kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<serde_json::Value>,
}

/// The `modelfs` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The digest of each layer's uncompressed content, in layer order.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for ModelFs {
    fn default() -> Self {
        Self {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

impl ModelPackConfig {
    /// Parses a ModelPack config blob.
    ///
    /// # Errors
    ///
    /// When the bytes are not a ModelPack config.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::json("ModelPack config", e))
    }

    /// The compact JSON of the config blob.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("config types always serialize")
    }
}

/// Writes a parameter count the way ModelPack and model cards do: `7b`, `1.5b`, `350m`, `12k`.
///
/// ```
/// use modeloci_spec::param_size;
/// assert_eq!(param_size(7_241_732_096), "7.2b");
/// assert_eq!(param_size(8_030_261_248), "8b");
/// assert_eq!(param_size(494_032_768), "494m");
/// assert_eq!(param_size(2_048), "2k");
/// assert_eq!(param_size(999), "999");
/// ```
pub fn param_size(count: u64) -> String {
    let (value, unit) = match count {
        c if c >= 1_000_000_000_000 => (c as f64 / 1e12, "t"),
        c if c >= 1_000_000_000 => (c as f64 / 1e9, "b"),
        c if c >= 1_000_000 => (c as f64 / 1e6, "m"),
        c if c >= 1_000 => (c as f64 / 1e3, "k"),
        c => return c.to_string(),
    };
    // One decimal below 10 (7.2b), none above (494m); no trailing .0.
    let text = if value < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{}{unit}", text.trim_end_matches(".0"))
}
