//! Image indexes: <https://github.com/opencontainers/image-spec/blob/main/image-index.md>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::manifest::check_schema_version;
use crate::{Descriptor, Error, MediaType, annotations};

/// An OCI image index: the `index.json` of an image layout, pointing at its manifests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciIndex {
    /// MUST be 2.
    #[serde(alias = "schema_version")]
    pub schema_version: u32,
    /// SHOULD be `application/vnd.oci.image.index.v1+json`.
    #[serde(alias = "media_type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// The type of an artifact when the index is used for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<MediaType>,
    /// The manifests this index points at.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Arbitrary metadata for the index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl OciIndex {
    /// A schema-2 index of the given manifests.
    pub fn new(manifests: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MediaType::ImageIndex),
            artifact_type: None,
            manifests,
            annotations: BTreeMap::new(),
        }
    }

    /// Parses an index and checks `schemaVersion` and `mediaType`.
    ///
    /// # Errors
    ///
    /// When the bytes are not an index, `schemaVersion` is not 2, or `mediaType` names another
    /// kind of document.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        let index: Self = serde_json::from_slice(bytes).map_err(|e| Error::json("index", e))?;
        check_schema_version("index", index.schema_version)?;
        match &index.media_type {
            None | Some(MediaType::ImageIndex) => Ok(index),
            Some(other) => Err(Error::Invalid {
                what: "index",
                reason: format!("mediaType is {other}, not {}", MediaType::ImageIndex),
            }),
        }
    }

    /// The compact JSON of the index, as written to `index.json`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("index types always serialize")
    }

    /// The manifests whose `org.opencontainers.image.ref.name` is `name`.
    pub fn find_ref<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Descriptor> + 'a {
        self.manifests.iter().filter(move |m| {
            m.annotations.get(annotations::REF_NAME).map(String::as_str) == Some(name)
        })
    }
}
