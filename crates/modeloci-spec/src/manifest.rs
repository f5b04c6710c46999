//! Image manifests: <https://github.com/opencontainers/image-spec/blob/main/manifest.md>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Descriptor, Error, MediaType, annotations};

/// An OCI image manifest: a config descriptor and an ordered list of layers.
///
/// This is the reference implementation's `OCIManifest`. It is written in OCI's camelCase
/// (`schemaVersion`, `mediaType`); the reference's own snake_case spelling is accepted on
/// reading, as are unknown fields.
///
/// ```
/// use modeloci_spec::{Descriptor, Digest, MediaType, OciManifest};
///
/// let empty: Digest =
///     "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".parse()?;
/// let config = Descriptor::new(MediaType::Empty, empty, 2);
/// let manifest = OciManifest::new(config, vec![]);
/// let json = manifest.to_json();
/// assert!(json.starts_with(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json""#));
/// assert_eq!(OciManifest::from_slice(&json)?, manifest);
/// # Ok::<(), modeloci_spec::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciManifest {
    /// MUST be 2.
    #[serde(alias = "schema_version")]
    pub schema_version: u32,
    /// SHOULD be `application/vnd.oci.image.manifest.v1+json`.
    #[serde(alias = "media_type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// The type of an artifact when the manifest is used for one.
    #[serde(
        alias = "artifact_type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<MediaType>,
    /// The configuration object of the artifact.
    pub config: Descriptor,
    /// The layers, in order. For a model, one per file.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// A manifest this one refers to (for example, a signature's subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata for the manifest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl OciManifest {
    /// A schema-2 OCI manifest with the given config and layers.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MediaType::ImageManifest),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Sets `artifactType`.
    pub fn with_artifact_type(mut self, artifact_type: MediaType) -> Self {
        self.artifact_type = Some(artifact_type);
        self
    }

    /// Adds one annotation.
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The `org.opencontainers.image.title` annotation.
    pub fn title(&self) -> Option<&str> {
        self.annotations.get(annotations::TITLE).map(String::as_str)
    }

    /// The artifact type: `artifactType` when set, else the config's media type, as the OCI
    /// specification says to determine it.
    pub fn effective_artifact_type(&self) -> &MediaType {
        self.artifact_type
            .as_ref()
            .unwrap_or(&self.config.media_type)
    }

    /// Parses a manifest and checks `schemaVersion` and `mediaType`.
    ///
    /// # Errors
    ///
    /// When the bytes are not a manifest, `schemaVersion` is not 2, or `mediaType` names
    /// another kind of document (an index, say).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        let manifest: Self =
            serde_json::from_slice(bytes).map_err(|e| Error::json("manifest", e))?;
        check_schema_version("manifest", manifest.schema_version)?;
        match &manifest.media_type {
            None | Some(MediaType::ImageManifest | MediaType::DockerManifest) => Ok(manifest),
            Some(other) => Err(Error::Invalid {
                what: "manifest",
                reason: format!("mediaType is {other}, not {}", MediaType::ImageManifest),
            }),
        }
    }

    /// The compact JSON of the manifest, as stored in its blob.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest types always serialize")
    }
}

pub(crate) fn check_schema_version(what: &'static str, version: u32) -> Result<(), Error> {
    if version == 2 {
        Ok(())
    } else {
        Err(Error::Invalid {
            what,
            reason: format!("schemaVersion is {version}, not 2"),
        })
    }
}
