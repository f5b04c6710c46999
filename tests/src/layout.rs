//! Artifacts laid out as other tools lay them out, written as OCI layout tars: for tests of
//! what modeloci reads, and hostile variants of it.

use std::collections::BTreeMap;

use modeloci_digest::Hasher;
use modeloci_spec::{
    Descriptor, Digest, ImageLayout, MediaType, OciIndex, OciManifest, annotations,
};

use crate::rawtar::{Raw, tar};

/// One layer of a hand-made artifact.
#[derive(Clone, Debug)]
pub struct Layer {
    pub media_type: MediaType,
    pub blob: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
    /// Descriptor digest and size when they should lie.
    pub claim: Option<(Digest, u64)>,
    /// Whether the blob is stored at all.
    pub stored: bool,
}

impl Layer {
    pub fn new(media_type: impl Into<MediaType>, blob: Vec<u8>) -> Self {
        Self {
            media_type: media_type.into(),
            blob,
            annotations: BTreeMap::new(),
            claim: None,
            stored: true,
        }
    }

    pub fn annotate(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn titled(self, title: &str) -> Self {
        self.annotate(annotations::TITLE, title)
    }

    pub fn digest(&self) -> Digest {
        Hasher::digest_bytes(&self.blob).digest
    }
}

/// A modeloci-style layer: a gzip tar holding `data` at `title`, titled so.
pub fn one_file_layer(title: &str, data: &[u8]) -> Layer {
    Layer::new(
        MediaType::ImageLayerGzip,
        crate::rawtar::gzip(&tar(&[Raw::file(title, data)])),
    )
    .titled(title)
}

/// An artifact with a modeloci config (the tiny model's) and these layers.
pub fn modeloci_artifact(layers: Vec<Layer>) -> Artifact {
    Artifact::new(
        MediaType::ModelociConfig,
        &crate::fixtures::tiny_config().to_json(),
        layers,
    )
    .artifact_type(MediaType::ModelociArtifact)
}

/// An artifact: config, layers, optional artifact type, plus extra outer entries.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub config_media_type: MediaType,
    pub config: Vec<u8>,
    pub artifact_type: Option<MediaType>,
    pub layers: Vec<Layer>,
    pub extra: Vec<Raw>,
    /// More index entries after the manifest's.
    pub index_extra: Vec<Descriptor>,
    /// Whether the config blob is stored under `blobs/`.
    pub config_stored: bool,
}

impl Artifact {
    pub fn new(config_media_type: impl Into<MediaType>, config: &[u8], layers: Vec<Layer>) -> Self {
        Self {
            config_media_type: config_media_type.into(),
            config: config.to_vec(),
            artifact_type: None,
            layers,
            extra: Vec::new(),
            index_extra: Vec::new(),
            config_stored: true,
        }
    }

    pub fn artifact_type(mut self, t: impl Into<MediaType>) -> Self {
        self.artifact_type = Some(t.into());
        self
    }

    /// The manifest, as JSON.
    pub fn manifest(&self) -> Vec<u8> {
        let config = Hasher::digest_bytes(&self.config);
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let (digest, size) = l
                    .claim
                    .clone()
                    .unwrap_or_else(|| (l.digest(), l.blob.len() as u64));
                let mut d = Descriptor::new(l.media_type.clone(), digest, size);
                d.annotations = l.annotations.clone();
                d
            })
            .collect();
        let mut manifest = OciManifest::new(
            Descriptor::new(self.config_media_type.clone(), config.digest, config.size),
            layers,
        );
        manifest.artifact_type = self.artifact_type.clone();
        manifest.to_json()
    }

    /// The whole artifact as an OCI layout tar (no root copies: as skopeo or oras write it).
    pub fn to_tar(&self) -> Vec<u8> {
        let manifest = self.manifest();
        let manifest_blob = Hasher::digest_bytes(&manifest);
        let config_blob = Hasher::digest_bytes(&self.config);
        let mut index_entries = vec![
            Descriptor::new(
                MediaType::ImageManifest,
                manifest_blob.digest.clone(),
                manifest_blob.size,
            )
            .with_annotation(annotations::REF_NAME, "1.0.0"),
        ];
        index_entries.extend(self.index_extra.iter().cloned());
        let index = OciIndex::new(index_entries).to_json();
        let mut entries = vec![
            Raw::file("oci-layout", &ImageLayout::default().to_json()),
            Raw::dir("blobs/"),
            Raw::dir("blobs/sha256/"),
        ];
        // Each blob once, however many descriptors name it, as OCI tools store them.
        let mut stored = std::collections::BTreeSet::new();
        let blobs = self
            .layers
            .iter()
            .filter(|l| l.stored)
            .map(|l| (l.digest(), l.blob.as_slice()))
            .chain(
                self.config_stored
                    .then(|| (config_blob.digest.clone(), self.config.as_slice())),
            )
            .chain([(manifest_blob.digest.clone(), manifest.as_slice())]);
        for (digest, blob) in blobs {
            if stored.insert(digest.clone()) {
                entries.push(Raw::file(&digest.blob_path(), blob));
            }
        }
        entries.push(Raw::file("index.json", &index));
        entries.extend_from_slice(&self.extra);
        tar(&entries)
    }

    /// The artifact as an OCI layout directory at `dir`: [`Self::to_tar`] extracted.
    pub fn write_dir(&self, dir: &std::path::Path) {
        tar::Archive::new(self.to_tar().as_slice())
            .unpack(dir)
            .expect("an artifact's tar extracts");
    }
}

/// A ModelPack artifact as modctl writes it: raw layers named by `org.cncf.model.filepath`
/// only, no title: `model.safetensors`, `config.json`, `nested/tokenizer.json`.
pub fn modctl_artifact() -> Artifact {
    let raw = |path: &str, data: &[u8]| {
        Layer::new("application/vnd.cncf.model.weight.v1.raw", data.to_vec())
            .annotate(modeloci_spec::annotations::MODELPACK_FILEPATH, path)
    };
    Artifact::new(
        MediaType::ModelPackConfig,
        &modeloci_spec::ModelPackConfig::default().to_json(),
        vec![
            raw("model.safetensors", b"weights"),
            raw("config.json", b"{}"),
            raw("nested/tokenizer.json", b"{\"t\": 1}"),
        ],
    )
}

/// A KitOps ModelKit: tree layers, `models/a.gguf` (tar+gzip) and `src/x.py` (tar).
pub fn kitops_artifact() -> Artifact {
    use crate::rawtar::{Raw, gzip, tar};
    Artifact::new(
        "application/vnd.kitops.modelkit.config.v1+json",
        b"{}",
        vec![
            Layer::new(
                "application/vnd.kitops.modelkit.model.v1.tar+gzip",
                gzip(&tar(&[Raw::file("models/a.gguf", b"GGUF")])),
            ),
            Layer::new(
                "application/vnd.kitops.modelkit.code.v1.tar",
                tar(&[Raw::file("src/x.py", b"1")]),
            ),
        ],
    )
}
