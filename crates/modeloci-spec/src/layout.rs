//! The `oci-layout` file: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>.

use serde::{Deserialize, Serialize};

use crate::Error;

/// The content of an image layout's `oci-layout` file, which marks the directory (or tar) as a
/// layout and gives its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageLayout {
    /// The layout version; `1.0.0` is the only one defined.
    pub image_layout_version: String,
}

impl Default for ImageLayout {
    fn default() -> Self {
        Self {
            image_layout_version: Self::VERSION.to_owned(),
        }
    }
}

impl ImageLayout {
    /// The layout version this crate writes.
    pub const VERSION: &'static str = "1.0.0";

    /// Parses an `oci-layout` file.
    ///
    /// # Errors
    ///
    /// When the bytes are not JSON of this shape.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::json("oci-layout", e))
    }

    /// The compact JSON written to `oci-layout`: `{"imageLayoutVersion":"1.0.0"}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a struct of strings always serializes")
    }
}
