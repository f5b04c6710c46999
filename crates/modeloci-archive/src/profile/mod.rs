//! Artifact profiles: what each kind of artifact (modeloci, CNCF ModelPack) puts in its
//! layers, config and annotations. Pack and add ask the [`Profile`] and never branch on the
//! format themselves; readers ask `read` how each kind they meet, other tools' included,
//! holds its files.

pub(crate) mod modeloci;
pub(crate) mod modelpack;
pub(crate) mod read;

use modeloci_digest::{Hasher, Measured};
use modeloci_spec::{
    Descriptor, Digest, LayerEncoding, MediaType, ModelLayer, ModelPackConfig, ModelPackKind,
    OciConfig, OciManifest, annotations,
};

use crate::error::Result;
use crate::facts::metadata::{self, ModelFacts};
use crate::options::{Format, PackOptions};
use crate::source::SourceFile;

/// The kind of artifact written: its layers' media types and annotations, its config blob,
/// its manifest annotations, and what `add` refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// Our own: one tar per file, OCI layer types, the user's config, facts as manifest
    /// annotations.
    Modeloci,
    /// CNCF ModelPack: layer kinds, raw weights, a ModelPack config holding the facts.
    ModelPack,
}

/// What a profile makes of one file, decided before its blob is written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LayerPlan {
    /// The ModelPack kind, and whether it was decided without reading the file.
    modelpack: Option<(ModelPackKind, bool)>,
    /// Whether the blob is the file's bytes rather than a tar of it.
    pub(crate) raw: bool,
}

impl LayerPlan {
    /// The ModelPack kind of the file (`None` for the modeloci profile): group layers hold
    /// files of one kind.
    pub(crate) fn kind(&self) -> Option<ModelPackKind> {
        self.modelpack.map(|(kind, _)| kind)
    }
}

impl Profile {
    /// The profile `--format` asks for.
    pub(crate) fn of_format(format: Format) -> Self {
        match format {
            Format::Modeloci => Self::Modeloci,
            Format::ModelPack => Self::ModelPack,
        }
    }

    /// The profile an existing manifest was written in (by its `artifactType`).
    pub(crate) fn of_manifest(manifest: &OciManifest) -> Self {
        if manifest.artifact_type == Some(MediaType::ModelPackArtifact) {
            Self::ModelPack
        } else {
            Self::Modeloci
        }
    }

    /// The `--format` of this profile.
    pub(crate) fn format(self) -> Format {
        match self {
            Self::Modeloci => Format::Modeloci,
            Self::ModelPack => Format::ModelPack,
        }
    }

    /// Refuses, before anything is written, a config this profile cannot write.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidOption`]: for ModelPack, metadata that is not a descriptor
    /// field.
    pub(crate) fn check(self, config: &OciConfig, created: Option<&str>) -> Result<()> {
        match self {
            Self::Modeloci => Ok(()),
            Self::ModelPack => modelpack::descriptor(config, created).map(drop),
        }
    }

    /// Whether each layer's `diffId` (the digest of its uncompressed content) goes into
    /// the config.
    pub(crate) fn records_diff_ids(self) -> bool {
        self == Self::ModelPack
    }

    /// What `rel` becomes: its ModelPack kind, and whether its blob is the file itself.
    /// `checked` lists the weights whose header parsed.
    pub(crate) fn plan_layer(
        self,
        rel: &str,
        options: &PackOptions,
        checked: &[String],
    ) -> LayerPlan {
        match self {
            Self::Modeloci => LayerPlan {
                modelpack: None,
                raw: false,
            },
            Self::ModelPack => {
                let (kind, untested) = modelpack::classify(rel, &options.datasets, checked);
                LayerPlan {
                    modelpack: Some((kind, untested)),
                    raw: kind == ModelPackKind::Weight && options.raw_weights,
                }
            }
        }
    }

    /// The layer of `file`, whose blob is `blob` in `encoding`: its media type, title and
    /// the profile's annotations (times normalised to `mtime`, as in the tar headers).
    pub(crate) fn layer(
        self,
        plan: &LayerPlan,
        file: &SourceFile,
        blob: Measured,
        encoding: LayerEncoding,
        mtime: u64,
    ) -> ModelLayer {
        let media_type = match plan.modelpack {
            Some((kind, _)) => MediaType::ModelPackLayer { kind, encoding },
            None => MediaType::image_layer(encoding).expect("tar encodings have a media type"),
        };
        let mut layer = ModelLayer::new(blob.digest, blob.size)
            .with_media_type(media_type)
            .with_title(file.rel.clone());
        if let Some((_, untested)) = plan.modelpack {
            modelpack::annotate_layer(&mut layer, file, untested, mtime);
        }
        layer
    }

    /// A group layer (a tar of several files, read as a tree) whose blob is `blob` in
    /// `encoding`, holding `files` files from `first` to `last` (byte order), all of ModelPack
    /// `kind` (`None` for modeloci): the tar media type of the kind, or the OCI layer type,
    /// and the group annotations. No title: other tools take a title as a file name.
    pub(crate) fn group_layer(
        kind: Option<ModelPackKind>,
        range: (&str, &str),
        files: usize,
        blob: Measured,
        encoding: LayerEncoding,
    ) -> ModelLayer {
        let media_type = match kind {
            Some(kind) => MediaType::ModelPackLayer { kind, encoding },
            None => MediaType::image_layer(encoding).expect("tar encodings have a media type"),
        };
        let mut layer = ModelLayer::new(blob.digest, blob.size).with_media_type(media_type);
        let entries = [
            (annotations::GROUP_FIRST, range.0.to_owned()),
            (annotations::GROUP_LAST, range.1.to_owned()),
            (annotations::GROUP_FILES, files.to_string()),
        ];
        for (key, value) in entries {
            layer.annotations.insert(key.to_owned(), value);
        }
        layer
    }

    /// The config blob and the manifest pack writes for `config` and the layers written
    /// (with their `diffIds` when [`Self::records_diff_ids`]), and what the weights say.
    ///
    /// # Errors
    ///
    /// As [`Self::check`].
    pub(crate) fn documents(
        self,
        config: &OciConfig,
        layers: &[ModelLayer],
        diff_ids: Vec<Digest>,
        facts: &ModelFacts,
        created: Option<&str>,
    ) -> Result<(Vec<u8>, OciManifest)> {
        match self {
            Self::Modeloci => {
                let bytes = config.to_json();
                let mut manifest = self.manifest(&bytes, layers, config, created);
                modeloci::annotate_facts(&mut manifest, facts);
                Ok((bytes, manifest))
            }
            Self::ModelPack => {
                let bytes = modelpack::config_blob(config, facts, diff_ids, created)?;
                let manifest = self.manifest(&bytes, layers, config, created);
                Ok((bytes, manifest))
            }
        }
    }

    /// The manifest of a config blob and layers: the profile's config media type and
    /// `artifactType`, title and version annotations, and `created` when given.
    pub(crate) fn manifest(
        self,
        config_blob: &[u8],
        layers: &[ModelLayer],
        config: &OciConfig,
        created: Option<&str>,
    ) -> OciManifest {
        let (config_type, artifact_type) = match self {
            Self::Modeloci => (MediaType::ModelociConfig, MediaType::ModelociArtifact),
            Self::ModelPack => (MediaType::ModelPackConfig, MediaType::ModelPackArtifact),
        };
        let blob = Hasher::digest_bytes(config_blob);
        let mut manifest = OciManifest::new(
            Descriptor::new(config_type, blob.digest, blob.size),
            layers.iter().cloned().map(Descriptor::from).collect(),
        )
        .with_artifact_type(artifact_type)
        .with_annotation(annotations::TITLE, &config.model_name)
        .with_annotation(annotations::VERSION, &config.version);
        if let Some(created) = created {
            manifest = manifest.with_annotation(annotations::CREATED, created);
        }
        manifest
    }

    /// Whether `add` reads the facts again when `rel` comes or goes: for a weight whose
    /// header facts read, or `config.json`.
    pub(crate) fn refreshes(self, rel: &str) -> bool {
        metadata::is_inspected(rel)
    }

    /// Whether `add` writes weights as raw blobs among `layers`: unless the archive already
    /// holds a weight tar (only ModelPack layers are ever raw).
    pub(crate) fn raw_weights_among(self, layers: &[Descriptor]) -> bool {
        !layers.iter().any(|l| {
            matches!(
                l.media_type,
                MediaType::ModelPackLayer { kind: ModelPackKind::Weight, encoding }
                    if encoding != LayerEncoding::Raw
            )
        })
    }

    /// An archive's config blob, as `add` will rewrite it; `layers` is the number of layers
    /// the manifest lists.
    ///
    /// # Errors
    ///
    /// For ModelPack, as [`modelpack::read_config`]: checked before anything is written.
    pub(crate) fn read_config(self, bytes: Vec<u8>, layers: usize) -> Result<ArchiveConfig> {
        match self {
            Self::Modeloci => Ok(ArchiveConfig::Modeloci(bytes)),
            Self::ModelPack => Ok(ArchiveConfig::ModelPack(Box::new(modelpack::read_config(
                &bytes, layers,
            )?))),
        }
    }
}

/// An archive's config, read by [`Profile::read_config`] for `add` to rewrite.
pub(crate) enum ArchiveConfig {
    /// The modeloci config blob: the user's input, kept byte for byte.
    Modeloci(Vec<u8>),
    /// A ModelPack config: one `diffId` per layer, and the facts.
    ModelPack(Box<ModelPackConfig>),
}

/// How `add` changed the layers: the group at `regrouped` (in the old list) was written
/// again with the `diffId` given, the one at `removed` (in the old list) went, a new one with
/// `diff_id` went in at `inserted` (in the list without it).
pub(crate) struct LayerChange {
    pub(crate) removed: Option<usize>,
    pub(crate) inserted: usize,
    pub(crate) diff_id: Option<Digest>,
    pub(crate) regrouped: Option<(usize, Option<Digest>)>,
}

impl ArchiveConfig {
    /// The config blob after `change`, with the facts when they were read again; `manifest`
    /// (whose layers are already the new ones) gets the new config descriptor or facts.
    pub(crate) fn rewrite(
        self,
        manifest: &mut OciManifest,
        change: LayerChange,
        facts: Option<&ModelFacts>,
    ) -> Vec<u8> {
        match self {
            Self::Modeloci(bytes) => {
                if let Some(facts) = facts {
                    modeloci::annotate_facts(manifest, facts);
                }
                bytes
            }
            Self::ModelPack(mut config) => {
                modelpack::rewrite_config(&mut config, change, facts);
                let bytes = config.to_json();
                let blob = Hasher::digest_bytes(&bytes);
                manifest.config.digest = blob.digest;
                manifest.config.size = blob.size;
                bytes
            }
        }
    }
}
