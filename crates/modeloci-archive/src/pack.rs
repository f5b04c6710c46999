//! Packing a model directory into an archive.

use std::path::{Path, PathBuf};

use modeloci_digest::Hasher;
use modeloci_spec::{
    Descriptor, Digest, MediaType, ModelLayer, OciConfig, OciManifest, annotations,
};

use crate::archive_write::ArchiveWriter;
use crate::assemble::Assembler;
use crate::compress::{compress, compresses_well, suits_literals};
use crate::layer_tar::{LayerTar, pipeline_error};
use crate::options::PackOptions;
use crate::walk::{SourceFile, model_files};
use crate::{Error, Result};

/// Packages model directories into OCI archives: the reference implementation's
/// `ModelPackager`.
///
/// ```no_run
/// use modeloci_archive::{Compression, ModelPackager, PackOptions};
/// use modeloci_spec::OciConfig;
///
/// let config = OciConfig::new("bert-base", "1.0.0", "pytorch", "transformer");
/// let packager = ModelPackager::with_options(PackOptions::default().with_compression(Compression::Zstd));
/// let path = packager.package("/models/bert-base".as_ref(), &config)?;
/// assert_eq!(path, std::path::Path::new("/models/bert-base-1.0.0.tar"));
/// # Ok::<(), modeloci_archive::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ModelPackager {
    options: PackOptions,
}

/// What [`ModelPackager::pack`] wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PackReport {
    /// The archive.
    pub path: PathBuf,
    /// The digest of the manifest: the artifact's identity.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: OciManifest,
    /// One layer per file, in manifest order.
    pub layers: Vec<ModelLayer>,
    /// Bytes of model files read.
    pub input_bytes: u64,
    /// Size of the archive.
    pub archive_bytes: u64,
}

impl ModelPackager {
    /// A packager with default options: gzip, output beside the model directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A packager with the given options.
    pub fn with_options(options: PackOptions) -> Self {
        Self { options }
    }

    /// The options.
    pub fn options(&self) -> &PackOptions {
        &self.options
    }

    /// Packs `model_dir` and returns the archive's path.
    ///
    /// # Errors
    ///
    /// As [`Self::pack`].
    pub fn package(&self, model_dir: &Path, config: &OciConfig) -> Result<PathBuf> {
        self.pack(model_dir, config).map(|report| report.path)
    }

    /// Packs `model_dir`: one layer per regular file (symlinks followed), sorted by path,
    /// streamed through the compressor into the archive without a temporary copy. The
    /// archive is written beside its final path and renamed into place when complete.
    ///
    /// # Errors
    ///
    /// [`Error::NotADirectory`], [`Error::EmptyModel`], [`Error::UnpackableFile`] (a FIFO, a
    /// dangling symlink, a name the unpacker would refuse), [`Error::FileChanged`],
    /// [`Error::InvalidOption`], or [`Error::Io`] naming the file.
    pub fn pack(&self, model_dir: &Path, config: &OciConfig) -> Result<PackReport> {
        self.options.validate()?;
        check_config(config)?;
        let output = match &self.options.output {
            Some(path) => path.clone(),
            None => default_output(model_dir, config)?,
        };
        let files = model_files(model_dir, Some(&output))?;
        let mut assembler = Assembler::create(&output, self.options.mtime)?;
        let mut layers = Vec::with_capacity(files.len());
        for file in &files {
            layers.push(self.write_layer(assembler.writer(), file, &output)?);
        }
        let manifest = self.create_manifest(config, &layers);
        let (manifest_blob, archive_bytes) = assembler.finish(
            &config.to_json(),
            &manifest.to_json(),
            manifest.artifact_type.clone(),
            &config.version,
        )?;
        Ok(PackReport {
            path: output,
            manifest_digest: manifest_blob.digest,
            manifest,
            input_bytes: files.iter().map(|f| f.size).sum(),
            layers,
            archive_bytes,
        })
    }

    /// Streams one file's layer into the archive.
    pub(crate) fn write_layer(
        &self,
        writer: &mut ArchiveWriter,
        file: &SourceFile,
        output: &Path,
    ) -> Result<ModelLayer> {
        let codec = self.options.codec(
            || compresses_well(&file.path, file.size).unwrap_or(true),
            || suits_literals(&file.path, file.size).unwrap_or(false),
        )?;
        let mut tar = LayerTar::open(file, self.options.mtime).map_err(Error::io(&file.path))?;
        let slot = writer.begin_blob().map_err(Error::io(output))?;
        let mut blob = writer.blob_writer();
        compress(codec, &mut tar, &mut blob, self.options.threads)
            .map_err(|e| pipeline_error(e, output))?;
        let (_, measured) = blob.finish();
        writer
            .finish_blob(slot, &measured)
            .map_err(Error::io(output))?;
        let media_type =
            MediaType::image_layer(codec.encoding()).expect("tar encodings have a media type");
        Ok(ModelLayer::new(measured.digest, measured.size)
            .with_media_type(media_type)
            .with_title(file.rel.clone()))
    }

    /// The manifest for a model: the config as its config blob, the layers in the order
    /// given, `artifactType` `application/vnd.modeloci.model.v1`, and title and version
    /// annotations (plus `created` when the options ask for it).
    pub fn create_manifest(&self, config: &OciConfig, layers: &[ModelLayer]) -> OciManifest {
        let config_blob = Hasher::digest_bytes(&config.to_json());
        let mut manifest = OciManifest::new(
            Descriptor::new(
                MediaType::ModelociConfig,
                config_blob.digest,
                config_blob.size,
            ),
            layers.iter().cloned().map(Descriptor::from).collect(),
        )
        .with_artifact_type(MediaType::ModelociArtifact)
        .with_annotation(annotations::TITLE, &config.model_name)
        .with_annotation(annotations::VERSION, &config.version);
        if let Some(created) = &self.options.created {
            manifest = manifest.with_annotation(annotations::CREATED, created);
        }
        manifest
    }
}

fn check_config(config: &OciConfig) -> Result<()> {
    if config.model_name.trim().is_empty() {
        return Err(Error::InvalidOption("the model name is empty".into()));
    }
    if config.version.trim().is_empty() {
        return Err(Error::InvalidOption("the model version is empty".into()));
    }
    Ok(())
}

/// `<parent of model_dir>/<name>-<version>.tar`, with characters that would leave the
/// directory replaced.
fn default_output(model_dir: &Path, config: &OciConfig) -> Result<PathBuf> {
    let absolute = model_dir.canonicalize().map_err(|_| Error::NotADirectory {
        path: model_dir.to_owned(),
    })?;
    let parent = absolute.parent().ok_or_else(|| {
        Error::InvalidOption(format!(
            "{} has no parent directory: pass --output",
            absolute.display()
        ))
    })?;
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c == '/' || c == '\\' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    };
    Ok(parent.join(format!(
        "{}-{}.tar",
        clean(&config.model_name),
        clean(&config.version)
    )))
}
