//! The model config blob: the reference implementation's `OCIConfig`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;

/// The model's configuration, stored as the manifest's config blob and copied to `config.json`.
///
/// It holds what the user gave and nothing else: facts detected from the weights go into
/// manifest annotations, so that for the same input this blob (and so its digest) is
/// byte-identical to the one the reference implementation writes.
///
/// ```
/// use modeloci_spec::OciConfig;
///
/// let mut config = OciConfig::new("bert-base", "1.0.0", "pytorch", "transformer");
/// config.metadata.insert("dataset".into(), "wiki".into());
/// assert_eq!(
///     String::from_utf8(config.to_json())?,
///     "{\n  \"model_name\": \"bert-base\",\n  \"version\": \"1.0.0\",\n  \"framework\": \"pytorch\",\n  \
///      \"architecture\": \"transformer\",\n  \"metadata\": {\n    \"dataset\": \"wiki\"\n  }\n}"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OciConfig {
    /// Human-readable model name.
    pub model_name: String,
    /// Version string; semver recommended (`1.2.3`).
    pub version: String,
    /// ML framework: `pytorch`, `tensorflow`, `onnx`, `safetensors`, or any string.
    pub framework: String,
    /// Architecture family: `transformer`, `cnn`, `rnn`, `custom`, ...
    pub architecture: String,
    /// Arbitrary additional metadata (base model, data set, evaluation metrics, ...), in the
    /// key order the user gave.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl OciConfig {
    /// A config with empty metadata.
    pub fn new(
        model_name: impl Into<String>,
        version: impl Into<String>,
        framework: impl Into<String>,
        architecture: impl Into<String>,
    ) -> Self {
        Self {
            model_name: model_name.into(),
            version: version.into(),
            framework: framework.into(),
            architecture: architecture.into(),
            metadata: Map::new(),
        }
    }

    /// Sets the metadata object.
    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Parses a config blob.
    ///
    /// # Errors
    ///
    /// When the bytes are not JSON of this shape.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::json("config", e))
    }

    /// The config blob: pretty JSON, two-space indent, UTF-8 unescaped, no trailing newline,
    /// numbers formatted as the reference implementation (pydantic) formats them.
    pub fn to_json(&self) -> Vec<u8> {
        // serde_json's pretty printer and float formatting (shortest round-trip digits, `1e+21`)
        // are pydantic's; the tests below hold them to what pydantic wrote.
        serde_json::to_vec_pretty(self).expect("a config of JSON values always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by pydantic 2.13's `model_dump_json(indent=2)` for the same input, which
    /// is how the reference implementation serializes its `OCIConfig`.
    const REFERENCE: &str = "{\n  \"model_name\": \"llm-support-bot\",\n  \"version\": \"3.1.0\",\n  \
        \"framework\": \"pytorch\",\n  \"architecture\": \"transformer\",\n  \"metadata\": {\n    \
        \"zeta\": 1,\n    \"base_model\": \"llama-3-8b\",\n    \"eval_accuracy\": 0.913,\n    \
        \"nested\": {\n      \"b\": [\n        1,\n        2.5,\n        true,\n        null\n      ],\n      \
        \"a\": {}\n    },\n    \"empty\": [],\n    \"unicode\": \"héllo ✓ \\u0001 \\\"q\\\" \\\\ /\",\n    \
        \"big\": 12345678901234567890,\n    \"neg\": -0.0001,\n    \"sci\": 1e+21,\n    \"one\": 1.0\n  }\n}";

    #[test]
    fn writes_what_the_reference_writes() {
        let metadata = r#"{"zeta": 1, "base_model": "llama-3-8b", "eval_accuracy": 0.913,
            "nested": {"b": [1, 2.5, true, null], "a": {}}, "empty": [],
            "unicode": "héllo ✓ \u0001 \"q\" \\ /", "big": 12345678901234567890,
            "neg": -0.0001, "sci": 1e21, "one": 1.0}"#;
        let config = OciConfig::new("llm-support-bot", "3.1.0", "pytorch", "transformer")
            .with_metadata(serde_json::from_str(metadata).unwrap());
        assert_eq!(String::from_utf8(config.to_json()).unwrap(), REFERENCE);
        assert_eq!(OciConfig::from_slice(REFERENCE.as_bytes()).unwrap(), config);
    }

    /// Found by fuzzing: a long decimal was parsed one unit in the last place off what
    /// Python reads, so the config was written differently from the reference, and changed
    /// again when read back and rewritten.
    #[test]
    fn long_numbers_are_read_as_python_reads_them() {
        let long = "1111111011111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111110.5";
        let json = format!(
            "{{\"model_name\": \"m\", \"version\": \"1\", \"framework\": \"f\", \
             \"architecture\": \"a\", \"metadata\": {{\"x\": {long}}}}}"
        );
        let config = OciConfig::from_slice(json.as_bytes()).unwrap();
        let written = config.to_json();
        // Python: json.dumps(json.loads(long)) == "1.1111110111111111e+105"
        assert!(
            String::from_utf8_lossy(&written).contains("\"x\": 1.1111110111111111e+105"),
            "{}",
            String::from_utf8_lossy(&written)
        );
        assert_eq!(OciConfig::from_slice(&written).unwrap().to_json(), written);
    }

    #[test]
    fn empty_metadata_is_an_empty_object() {
        let config = OciConfig::new("m", "1", "f", "a");
        assert_eq!(
            String::from_utf8(config.to_json()).unwrap(),
            "{\n  \"model_name\": \"m\",\n  \"version\": \"1\",\n  \"framework\": \"f\",\n  \
             \"architecture\": \"a\",\n  \"metadata\": {}\n}"
        );
    }

    #[test]
    fn floats_follow_pydantic() {
        // Pairs printed by pydantic 2.13 `model_dump_json` for these floats.
        let cases: [(f64, &str); 12] = [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-5, "0.000015"),
            (1e-5, "0.00001"),
            (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-1e-7, "-1e-7"),
            (100.0, "100.0"),
            (2.5e20, "2.5e+20"),
            (1e22, "1e+22"),
        ];
        for (value, expected) in cases {
            let mut config = OciConfig::new("m", "1", "f", "a");
            config.metadata.insert("x".into(), value.into());
            let json = String::from_utf8(config.to_json()).unwrap();
            assert!(
                json.contains(&format!("\"x\": {expected}\n")),
                "{value}: {json}"
            );
        }
    }
}
