//! Content descriptors: <https://github.com/opencontainers/image-spec/blob/main/descriptor.md>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Digest, MediaType};

/// Points at a blob by media type, digest and size.
///
/// Written in the field order of the OCI specification, optional fields left out when empty.
/// Read leniently: unknown fields are ignored, and the reference implementation's `media_type`
/// spelling is accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content. MUST be present.
    #[serde(alias = "media_type")]
    pub media_type: MediaType,
    /// The digest of the targeted content. Retrieved content SHOULD be verified against it.
    pub digest: Digest,
    /// The size of the raw content in bytes: the exact length of the blob. Retrieved content
    /// SHOULD be verified against it. The specification makes it an int64: a larger value
    /// is refused when reading, so no size taken from input exceeds `i64::MAX`.
    #[serde(deserialize_with = "int64_size")]
    pub size: u64,
    /// URIs from which the content may be downloaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata for this descriptor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The embedded content, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The type of an artifact when the descriptor points to an artifact manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<MediaType>,
    /// The platform of an image manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// A descriptor's size, at most `i64::MAX` as the specification's int64 allows.
fn int64_size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let size = u64::deserialize(deserializer)?;
    if i64::try_from(size).is_err() {
        return Err(serde::de::Error::custom(format!(
            "size {size} is beyond int64, the largest the OCI specification allows"
        )));
    }
    Ok(size)
}

impl Descriptor {
    /// A descriptor with no optional fields.
    pub fn new(media_type: MediaType, digest: Digest, size: u64) -> Self {
        Self {
            media_type,
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            data: None,
            artifact_type: None,
            platform: None,
        }
    }

    /// Adds one annotation.
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Sets `artifactType`.
    pub fn with_artifact_type(mut self, artifact_type: MediaType) -> Self {
        self.artifact_type = Some(artifact_type);
        self
    }

    /// The `org.opencontainers.image.title` annotation: for a layer, its file's path.
    pub fn title(&self) -> Option<&str> {
        self.annotations
            .get(crate::annotations::TITLE)
            .map(String::as_str)
    }
}

/// The platform an image manifest in an index runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// The CPU architecture, as Go's `GOARCH` names it.
    pub architecture: String,
    /// The operating system, as Go's `GOOS` names it.
    pub os: String,
    /// The version of the operating system.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// The variant of the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}
