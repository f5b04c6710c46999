//! Media types: the OCI ones, modeloci's own and the CNCF ModelPack ones.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a layer blob holds its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LayerEncoding {
    /// The blob is the file itself.
    Raw,
    /// An uncompressed tar.
    Tar,
    /// A gzip-compressed tar.
    TarGzip,
    /// A zstd-compressed tar.
    TarZstd,
}

impl LayerEncoding {
    /// The suffix used in media types: `raw`, `tar`, `tar+gzip`, `tar+zstd`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Tar => "tar",
            Self::TarGzip => "tar+gzip",
            Self::TarZstd => "tar+zstd",
        }
    }

    fn from_suffix(s: &str) -> Option<Self> {
        Some(match s {
            "raw" => Self::Raw,
            "tar" => Self::Tar,
            "tar+gzip" => Self::TarGzip,
            "tar+zstd" => Self::TarZstd,
            _ => return None,
        })
    }
}

/// What a CNCF ModelPack layer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelPackKind {
    /// Model weights (safetensors, gguf, bin, onnx, ...).
    Weight,
    /// Files that configure the weights: config.json, tokenizer files, generation config.
    WeightConfig,
    /// Documentation: README, LICENSE, model cards.
    Doc,
    /// Source code.
    Code,
    /// Data sets.
    Dataset,
}

impl ModelPackKind {
    /// The kind as it appears in media types: `weight`, `weight.config`, `doc`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Weight => "weight",
            Self::WeightConfig => "weight.config",
            Self::Doc => "doc",
            Self::Code => "code",
            Self::Dataset => "dataset",
        }
    }

    fn from_str(s: &str) -> Option<Self> {
        Some(match s {
            "weight" => Self::Weight,
            "weight.config" => Self::WeightConfig,
            "doc" => Self::Doc,
            "code" => Self::Code,
            "dataset" => Self::Dataset,
            _ => return None,
        })
    }
}

/// A media type, as found in descriptors, manifests and `artifactType`.
///
/// The types this project writes or reads specially have variants; any other string is kept
/// as [`MediaType::Other`], so reading never fails on a type it does not know.
///
/// ```
/// use modeloci_spec::{LayerEncoding, MediaType};
///
/// let t: MediaType = "application/vnd.oci.image.layer.v1.tar+gzip".parse().unwrap();
/// assert_eq!(t, MediaType::ImageLayerGzip);
/// assert_eq!(t.layer_encoding(), Some(LayerEncoding::TarGzip));
/// let unknown: MediaType = "application/x-custom".parse().unwrap();
/// assert_eq!(unknown.as_str(), "application/x-custom");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// `application/vnd.oci.image.manifest.v1+json`
    ImageManifest,
    /// `application/vnd.oci.image.index.v1+json`
    ImageIndex,
    /// `application/vnd.oci.image.config.v1+json`: a container image config. The reference
    /// implementation labels its model config with it; modeloci does not.
    ImageConfig,
    /// `application/vnd.oci.image.layer.v1.tar`
    ImageLayer,
    /// `application/vnd.oci.image.layer.v1.tar+gzip`
    ImageLayerGzip,
    /// `application/vnd.oci.image.layer.v1.tar+zstd`
    ImageLayerZstd,
    /// `application/vnd.oci.empty.v1+json`: the `{}` blob.
    Empty,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.modeloci.config.v1+json`: the model config blob ([`crate::OciConfig`]).
    ModelociConfig,
    /// `application/vnd.modeloci.model.v1`: the `artifactType` of modeloci manifests.
    ModelociArtifact,
    /// `application/vnd.cncf.model.manifest.v1+json`: the `artifactType` of ModelPack manifests.
    ModelPackArtifact,
    /// `application/vnd.cncf.model.config.v1+json`: the ModelPack model config.
    ModelPackConfig,
    /// `application/vnd.dev.sigstore.bundle.v0.3+json`: a Sigstore bundle, as an OpenSSF
    /// model signature is stored. The `artifactType` of a signature referrer, and the media
    /// type of the layer that holds the bundle.
    SigstoreBundle,
    /// `application/vnd.cncf.model.<kind>.v1.<encoding>`: a ModelPack layer.
    ModelPackLayer {
        /// What the layer holds.
        kind: ModelPackKind,
        /// How the blob holds it.
        encoding: LayerEncoding,
    },
    /// Any other media type, kept as given.
    Other(String),
}

const MODELPACK_PREFIX: &str = "application/vnd.cncf.model.";

impl MediaType {
    /// The media type string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ImageManifest => "application/vnd.oci.image.manifest.v1+json",
            Self::ImageIndex => "application/vnd.oci.image.index.v1+json",
            Self::ImageConfig => "application/vnd.oci.image.config.v1+json",
            Self::ImageLayer => "application/vnd.oci.image.layer.v1.tar",
            Self::ImageLayerGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::ImageLayerZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Self::Empty => "application/vnd.oci.empty.v1+json",
            Self::DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            Self::ModelociConfig => "application/vnd.modeloci.config.v1+json",
            Self::ModelociArtifact => "application/vnd.modeloci.model.v1",
            Self::ModelPackArtifact => "application/vnd.cncf.model.manifest.v1+json",
            Self::ModelPackConfig => "application/vnd.cncf.model.config.v1+json",
            Self::SigstoreBundle => "application/vnd.dev.sigstore.bundle.v0.3+json",
            Self::ModelPackLayer { kind, encoding } => modelpack_layer_str(*kind, *encoding),
            Self::Other(s) => s,
        }
    }

    /// The OCI image layer type for a tar with the given compression, or `None` for
    /// [`LayerEncoding::Raw`], which has no OCI image layer type.
    pub fn image_layer(encoding: LayerEncoding) -> Option<Self> {
        match encoding {
            LayerEncoding::Raw => None,
            LayerEncoding::Tar => Some(Self::ImageLayer),
            LayerEncoding::TarGzip => Some(Self::ImageLayerGzip),
            LayerEncoding::TarZstd => Some(Self::ImageLayerZstd),
        }
    }

    /// How a layer of this type holds its content: for the types this crate knows, and for
    /// others by their suffix, as KitOps (`...modelkit.model.v1.tar+gzip`), the legacy CNAI
    /// ModelPack types (`application/vnd.cnai.model.weight.v1.tar`) and Docker
    /// (`...rootfs.diff.tar.gzip`) spell it. `None` when the type does not say.
    pub fn layer_encoding(&self) -> Option<LayerEncoding> {
        match self {
            Self::ImageLayer => Some(LayerEncoding::Tar),
            Self::ImageLayerGzip => Some(LayerEncoding::TarGzip),
            Self::ImageLayerZstd => Some(LayerEncoding::TarZstd),
            Self::ModelPackLayer { encoding, .. } => Some(*encoding),
            Self::Other(s) => {
                let s = s.split(';').next().unwrap_or(s).trim();
                if s.ends_with("tar+gzip") || s.ends_with(".tar.gzip") || s.ends_with(".tar.gz") {
                    Some(LayerEncoding::TarGzip)
                } else if s.ends_with("tar+zstd") || s.ends_with(".tar.zstd") {
                    Some(LayerEncoding::TarZstd)
                } else if s.ends_with(".tar") || s.ends_with("+tar") {
                    Some(LayerEncoding::Tar)
                } else if s.ends_with(".raw") {
                    Some(LayerEncoding::Raw)
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

fn modelpack_layer_str(kind: ModelPackKind, encoding: LayerEncoding) -> &'static str {
    use LayerEncoding::*;
    use ModelPackKind::*;
    match (kind, encoding) {
        (Weight, Raw) => "application/vnd.cncf.model.weight.v1.raw",
        (Weight, Tar) => "application/vnd.cncf.model.weight.v1.tar",
        (Weight, TarGzip) => "application/vnd.cncf.model.weight.v1.tar+gzip",
        (Weight, TarZstd) => "application/vnd.cncf.model.weight.v1.tar+zstd",
        (WeightConfig, Raw) => "application/vnd.cncf.model.weight.config.v1.raw",
        (WeightConfig, Tar) => "application/vnd.cncf.model.weight.config.v1.tar",
        (WeightConfig, TarGzip) => "application/vnd.cncf.model.weight.config.v1.tar+gzip",
        (WeightConfig, TarZstd) => "application/vnd.cncf.model.weight.config.v1.tar+zstd",
        (Doc, Raw) => "application/vnd.cncf.model.doc.v1.raw",
        (Doc, Tar) => "application/vnd.cncf.model.doc.v1.tar",
        (Doc, TarGzip) => "application/vnd.cncf.model.doc.v1.tar+gzip",
        (Doc, TarZstd) => "application/vnd.cncf.model.doc.v1.tar+zstd",
        (Code, Raw) => "application/vnd.cncf.model.code.v1.raw",
        (Code, Tar) => "application/vnd.cncf.model.code.v1.tar",
        (Code, TarGzip) => "application/vnd.cncf.model.code.v1.tar+gzip",
        (Code, TarZstd) => "application/vnd.cncf.model.code.v1.tar+zstd",
        (Dataset, Raw) => "application/vnd.cncf.model.dataset.v1.raw",
        (Dataset, Tar) => "application/vnd.cncf.model.dataset.v1.tar",
        (Dataset, TarGzip) => "application/vnd.cncf.model.dataset.v1.tar+gzip",
        (Dataset, TarZstd) => "application/vnd.cncf.model.dataset.v1.tar+zstd",
    }
}

fn parse_modelpack_layer(s: &str) -> Option<MediaType> {
    let rest = s.strip_prefix(MODELPACK_PREFIX)?;
    let (kind, encoding) = rest.split_once(".v1.")?;
    Some(MediaType::ModelPackLayer {
        kind: ModelPackKind::from_str(kind)?,
        encoding: LayerEncoding::from_suffix(encoding)?,
    })
}

impl FromStr for MediaType {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(s))
    }
}

impl From<&str> for MediaType {
    fn from(s: &str) -> Self {
        let known = [
            Self::ImageManifest,
            Self::ImageIndex,
            Self::ImageConfig,
            Self::ImageLayer,
            Self::ImageLayerGzip,
            Self::ImageLayerZstd,
            Self::Empty,
            Self::DockerManifest,
            Self::ModelociConfig,
            Self::ModelociArtifact,
            Self::ModelPackArtifact,
            Self::ModelPackConfig,
            Self::SigstoreBundle,
        ];
        known
            .into_iter()
            .find(|t| t.as_str() == s)
            .or_else(|| parse_modelpack_layer(s))
            .unwrap_or_else(|| Self::Other(s.to_owned()))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MediaType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::from(&*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_type_round_trips_through_its_string() {
        let kinds = [
            ModelPackKind::Weight,
            ModelPackKind::WeightConfig,
            ModelPackKind::Doc,
            ModelPackKind::Code,
            ModelPackKind::Dataset,
        ];
        let encodings = [
            LayerEncoding::Raw,
            LayerEncoding::Tar,
            LayerEncoding::TarGzip,
            LayerEncoding::TarZstd,
        ];
        let mut all = vec![
            MediaType::ImageManifest,
            MediaType::ImageIndex,
            MediaType::ImageConfig,
            MediaType::ImageLayer,
            MediaType::ImageLayerGzip,
            MediaType::ImageLayerZstd,
            MediaType::Empty,
            MediaType::DockerManifest,
            MediaType::ModelociConfig,
            MediaType::ModelociArtifact,
            MediaType::ModelPackArtifact,
            MediaType::ModelPackConfig,
            MediaType::SigstoreBundle,
        ];
        for kind in kinds {
            for encoding in encodings {
                let t = MediaType::ModelPackLayer { kind, encoding };
                assert_eq!(
                    t.as_str(),
                    format!(
                        "application/vnd.cncf.model.{}.v1.{}",
                        kind.as_str(),
                        encoding.suffix()
                    )
                );
                assert_eq!(t.layer_encoding(), Some(encoding));
                all.push(t);
            }
        }
        for t in all {
            assert_eq!(MediaType::from(t.as_str()), t);
        }
    }

    #[test]
    fn foreign_layer_types_reveal_their_encoding() {
        for (s, e) in [
            (
                "application/vnd.kitops.modelkit.model.v1.tar+gzip",
                Some(LayerEncoding::TarGzip),
            ),
            (
                "application/vnd.kitops.modelkit.code.v1.tar",
                Some(LayerEncoding::Tar),
            ),
            (
                "application/vnd.cnai.model.weight.v1.tar",
                Some(LayerEncoding::Tar),
            ),
            (
                "application/vnd.cnai.model.doc.v1.tar+gzip",
                Some(LayerEncoding::TarGzip),
            ),
            (
                "application/vnd.cnai.model.weight.v1.raw",
                Some(LayerEncoding::Raw),
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Some(LayerEncoding::TarGzip),
            ),
            (
                "application/vnd.example.weights.v1+tar",
                Some(LayerEncoding::Tar),
            ),
            ("application/octet-stream", None),
            ("application/vnd.oci.empty.v1+json", None),
        ] {
            assert_eq!(MediaType::from(s).layer_encoding(), e, "{s}");
        }
    }

    #[test]
    fn unknown_strings_are_kept() {
        for s in [
            "",
            "application/vnd.cncf.model.weight.v2.raw",
            "application/vnd.cncf.model.weights.v1.raw",
            "application/vnd.cncf.model.weight.v1.tar+lz4",
            "application/vnd.kitops.modelkit.model.v1.tar+gzip",
        ] {
            assert_eq!(MediaType::from(s), MediaType::Other(s.to_owned()));
            assert_eq!(MediaType::from(s).as_str(), s);
        }
    }
}
