//! A model layer: the reference implementation's `ModelLayer`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Descriptor, Digest, MediaType, annotations};

/// One layer of a packaged model: a blob that holds one file.
///
/// This is the reference implementation's `ModelLayer`. It converts to and from a
/// [`Descriptor`] without loss of the fields it has.
///
/// ```
/// use modeloci_spec::{Descriptor, MediaType, ModelLayer};
///
/// let layer = ModelLayer::new(
///     "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945".parse()?,
///     1_048_576,
/// )
/// .with_title("pytorch_model.bin");
/// assert_eq!(layer.media_type, MediaType::ImageLayerGzip);
/// let descriptor = Descriptor::from(layer.clone());
/// assert_eq!(descriptor.title(), Some("pytorch_model.bin"));
/// assert_eq!(ModelLayer::from(descriptor), layer);
/// # Ok::<(), modeloci_spec::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelLayer {
    /// The digest of the layer blob.
    pub digest: Digest,
    /// The exact byte length of the layer blob (compressed, when it is compressed).
    pub size: u64,
    /// The layer's media type; `application/vnd.oci.image.layer.v1.tar+gzip` by default.
    #[serde(alias = "media_type", default = "default_media_type")]
    pub media_type: MediaType,
    /// Annotations; [`annotations::TITLE`] holds the file's path relative to the model root.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_media_type() -> MediaType {
    MediaType::ImageLayerGzip
}

impl ModelLayer {
    /// A gzip tar layer with no annotations.
    pub fn new(digest: Digest, size: u64) -> Self {
        Self {
            digest,
            size,
            media_type: default_media_type(),
            annotations: BTreeMap::new(),
        }
    }

    /// Sets the media type.
    pub fn with_media_type(mut self, media_type: MediaType) -> Self {
        self.media_type = media_type;
        self
    }

    /// Sets the title annotation: the file's path relative to the model root.
    pub fn with_title(mut self, path: impl Into<String>) -> Self {
        self.annotations
            .insert(annotations::TITLE.to_owned(), path.into());
        self
    }

    /// The file's path relative to the model root, from the title annotation.
    pub fn title(&self) -> Option<&str> {
        self.annotations.get(annotations::TITLE).map(String::as_str)
    }
}

impl From<ModelLayer> for Descriptor {
    fn from(layer: ModelLayer) -> Self {
        let mut descriptor = Descriptor::new(layer.media_type, layer.digest, layer.size);
        descriptor.annotations = layer.annotations;
        descriptor
    }
}

impl From<Descriptor> for ModelLayer {
    fn from(descriptor: Descriptor) -> Self {
        Self {
            digest: descriptor.digest,
            size: descriptor.size,
            media_type: descriptor.media_type,
            annotations: descriptor.annotations,
        }
    }
}
