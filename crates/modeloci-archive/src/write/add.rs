//! Adding a file to an archive as a new layer.

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use modeloci_digest::Hasher;
use modeloci_spec::{
    Descriptor, Digest, LayerEncoding, MediaType, ModelLayer, ModelPackConfig, ModelPackKind,
    param_size,
};

use crate::atomic::lock::TargetLock;
use crate::codec::compress::decoder;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::facts::metadata::{self, Candidate, Opened};
use crate::options::Format;
use crate::options::{AddOptions, Compression};
use crate::read::archive::Archive;
use crate::source::SourceFile;
use crate::tarfile::reader::{Stream, TarReader};
use crate::write::assemble::Assembler;
use crate::write::index::ref_name;
use crate::write::pack::annotate_facts;
use crate::{Error, ModelPackager, Result};

/// What [`ModelPackager::add`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AddReport {
    /// The archive, rewritten in place.
    pub path: PathBuf,
    /// The new layer.
    pub layer: ModelLayer,
    /// The layer it replaced, with `force`.
    pub replaced: Option<ModelLayer>,
    /// The new manifest's digest.
    pub manifest_digest: Digest,
}

impl ModelPackager {
    /// Adds `file` to the archive as a new layer named by its file name, and returns the
    /// layer: the reference's `add_layer`, except that the manifest, config copy, index and
    /// root copies are rewritten too, so the archive still verifies.
    ///
    /// # Errors
    ///
    /// As [`Self::add`].
    pub fn add_layer(&self, archive_path: &Path, file: &Path) -> Result<ModelLayer> {
        self.add(archive_path, file, &AddOptions::default())
            .map(|report| report.layer)
    }

    /// Adds (or with `force` replaces) a file in the archive's model. The archive is
    /// rewritten beside itself (existing blobs copied and verified on the way, the new one
    /// streamed in) and renamed over the original, so it is never seen half-written.
    ///
    /// The new layer goes where packing the directory would put it (layers stay sorted by
    /// path), and takes the compression of the existing layers unless told otherwise. Adding
    /// a file to a packed directory therefore gives the same bytes as packing the directory
    /// with the file in it.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyInModel`] without `force`, [`Error::UnsafeEntry`] for a path the
    /// unpacker would refuse, [`Error::BlobMismatch`] when an existing blob is corrupt, and
    /// the errors of [`Archive::open`].
    pub fn add(&self, archive_path: &Path, file: &Path, options: &AddOptions) -> Result<AddReport> {
        // Held from the first read of the archive to the rename of the new one: two adds at
        // once would each rewrite what they read, and one file would be lost.
        let _lock = TargetLock::acquire(archive_path).map_err(Error::io(archive_path))?;
        let meta = std::fs::metadata(file).map_err(Error::io(file))?;
        if !meta.is_file() {
            return Err(Error::UnpackableFile {
                path: file.to_owned(),
                reason: "it is not a regular file".into(),
            });
        }
        let rel = match &options.path_in_model {
            Some(path) => path.clone(),
            None => file
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .ok_or_else(|| Error::UnpackableFile {
                    path: file.to_owned(),
                    reason: "its name is not UTF-8".into(),
                })?,
        };
        check_relative_path(&rel).map_err(|refusal| Error::UnsafeEntry {
            entry: rel.clone(),
            refusal,
        })?;

        let archive = Archive::open(archive_path)?;
        if archive.layout_dir().is_some() {
            return Err(Error::InvalidOption(format!(
                "{} is a layout directory; add works on archive files",
                archive_path.display()
            )));
        }
        let manifest = archive.manifest();
        let existing = manifest
            .layers
            .iter()
            .position(|l| l.title() == Some(rel.as_str()));
        if existing.is_some() && !options.force {
            return Err(Error::AlreadyInModel { path: rel });
        }
        let mut kept: Vec<Descriptor> = manifest.layers.clone();
        let replaced = existing.map(|i| ModelLayer::from(kept.remove(i)));
        let mut set = PathSet::new();
        for title in kept
            .iter()
            .filter_map(Descriptor::title)
            .chain([rel.as_str()])
        {
            set.insert(title).map_err(|refusal| Error::UnsafeEntry {
                entry: title.to_owned(),
                refusal,
            })?;
        }

        let modelpack = manifest.artifact_type == Some(MediaType::ModelPackArtifact);
        let compression = options
            .compression
            .unwrap_or_else(|| existing_compression(&kept).unwrap_or(self.options().compression));
        // ModelPack weights stay raw blobs unless the archive's weights are tars.
        let raw_weights = !kept.iter().any(|l| {
            matches!(l.media_type, MediaType::ModelPackLayer { kind: ModelPackKind::Weight, encoding } if encoding != LayerEncoding::Raw)
        });
        let format = if modelpack {
            Format::ModelPack
        } else {
            Format::Modeloci
        };
        let packager = ModelPackager::with_options(
            self.options()
                .clone()
                .with_compression(compression)
                .with_raw_weights(raw_weights)
                .with_format(format),
        );
        let config_bytes = archive.config_bytes()?;
        // A ModelPack config must list one diffId per layer; checked before anything is written.
        let modelpack_config = if modelpack {
            let config = ModelPackConfig::from_slice(&config_bytes).map_err(|source| {
                Error::InvalidDocument {
                    entry: "config".into(),
                    source,
                }
            })?;
            if config.modelfs.diff_ids.len() != manifest.layers.len() {
                return Err(Error::InvalidOption(format!(
                    "the ModelPack config lists {} diffIds for {} layers",
                    config.modelfs.diff_ids.len(),
                    manifest.layers.len()
                )));
            }
            Some(config)
        } else {
            None
        };
        let source = SourceFile {
            rel: rel.clone(),
            path: file.to_owned(),
            size: meta.len(),
            executable: meta.permissions().mode() & 0o111 != 0,
        };
        // When a weight (or config.json) comes or goes, the facts are read again from every
        // weight in the archive, as packing would.
        let refresh = metadata::is_inspected(&rel)
            || replaced
                .as_ref()
                .and_then(ModelLayer::title)
                .is_some_and(metadata::is_inspected);
        let archive_ref = &archive;
        let detection = if refresh {
            let mut candidates: Vec<Candidate<'_>> = kept
                .iter()
                .filter(|l| l.title().is_some_and(metadata::is_inspected))
                .map(|l| Candidate {
                    rel: l.title().unwrap_or_default().to_owned(),
                    open: Box::new(move || layer_file(archive_ref, l)),
                })
                .collect();
            candidates.extend(std::iter::once(Candidate {
                rel: source.rel.clone(),
                open: Box::new(|| {
                    Ok((
                        Box::new(crate::source::open_regular(&source.path)?) as Box<dyn Read>,
                        source.size,
                    ))
                }),
            }));
            Some(metadata::detect(&candidates))
        } else {
            None
        };
        let checked = detection
            .as_ref()
            .map(|d| d.checked.clone())
            .unwrap_or_default();

        let sorted = kept
            .windows(2)
            .all(|w| w[0].title().map(str::as_bytes) <= w[1].title().map(str::as_bytes));
        let position = if sorted {
            kept.partition_point(|l| l.title().map(str::as_bytes) < Some(rel.as_bytes()))
        } else {
            kept.len()
        };

        let mut assembler = Assembler::create(archive_path, self.options().mtime)?;
        let mut layers = Vec::with_capacity(kept.len() + 1);
        layers.extend(kept[..position].iter().cloned());
        for descriptor in &kept[..position] {
            copy_layer(&mut assembler, &archive, descriptor)?;
        }
        let (new_layer, new_diff) = if modelpack {
            let (layer, diff) = packager.write_modelpack_layer(
                assembler.writer(),
                &source,
                archive_path,
                &checked,
            )?;
            (layer, Some(diff))
        } else {
            let layer = packager.write_layer(assembler.writer(), &source, archive_path)?;
            (layer, None)
        };
        layers.push(Descriptor::from(new_layer.clone()));
        for descriptor in &kept[position..] {
            copy_layer(&mut assembler, &archive, descriptor)?;
            layers.push(descriptor.clone());
        }
        let mut new_manifest = manifest.clone();
        new_manifest.layers = layers;
        let mut config_bytes = config_bytes;
        if let Some(mut config) = modelpack_config {
            let mut diffs = std::mem::take(&mut config.modelfs.diff_ids);
            if let Some(i) = existing {
                diffs.remove(i);
            }
            diffs.insert(position, new_diff.expect("ModelPack layers have a diffId"));
            config.modelfs.diff_ids = diffs;
            if let Some(detection) = &detection {
                let facts = &detection.facts;
                let c = &mut config.config;
                c.architecture = facts.architecture.clone().or(c.architecture.take());
                c.format = facts.format.clone().or(c.format.take());
                c.param_size = facts.parameters.map(param_size).or(c.param_size.take());
                c.precision = facts.dtype.clone().or(c.precision.take());
                c.quantization = facts.quantization.clone().or(c.quantization.take());
            }
            config_bytes = config.to_json();
            let blob = Hasher::digest_bytes(&config_bytes);
            new_manifest.config.digest = blob.digest;
            new_manifest.config.size = blob.size;
        } else if let Some(detection) = &detection {
            annotate_facts(&mut new_manifest, &detection.facts);
        }
        // The name the archive goes by: its index's, else (reference archives have no index)
        // its config's version.
        let known = archive
            .reference_name()
            .map(str::to_owned)
            .or_else(|| archive.config().ok().map(|c| c.version));
        let (manifest_blob, _) = assembler.finish(
            &config_bytes,
            &new_manifest,
            &new_manifest.to_json(),
            ref_name(&new_manifest, known.as_deref()),
        )?;
        drop(archive);
        Ok(AddReport {
            path: archive_path.to_owned(),
            layer: new_layer,
            replaced,
            manifest_digest: manifest_blob.digest,
        })
    }
}

/// Copies an existing layer's blob into the rewritten archive, verifying it on the way.
fn copy_layer(assembler: &mut Assembler, archive: &Archive, layer: &Descriptor) -> Result<()> {
    let what = format!("layer {}", layer.title().unwrap_or("?"));
    assembler.copy_blob(archive, layer, &what, None)
}

/// The content of a layer's file: the blob itself for raw layers, else the first entry of
/// its decoded tar.
fn layer_file<'a>(archive: &'a Archive, layer: &'a Descriptor) -> io::Result<Opened<'a>> {
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("blob {} is missing", layer.digest),
        )
    };
    let (blob, size) = archive
        .open_blob(&layer.digest)
        .map_err(io::Error::other)?
        .ok_or_else(not_found)?;
    match layer.media_type.layer_encoding() {
        None | Some(LayerEncoding::Raw) => Ok((Box::new(blob), size)),
        Some(encoding) => {
            let mut tar = TarReader::new(Stream(decoder(encoding, blob)?));
            let entry = tar
                .next_entry()
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the layer is not a readable tar",
                    )
                })?
                .ok_or_else(not_found)?;
            Ok((Box::new(FirstEntry(tar)), entry.size))
        }
    }
}

/// Reads the data of a tar's current entry.
struct FirstEntry<R>(TarReader<Stream<R>>);

impl<R: Read> Read for FirstEntry<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_data(buf)
    }
}

/// The compression all tar layers share, if they share one (raw layers aside).
fn existing_compression(layers: &[Descriptor]) -> Option<Compression> {
    let mut encodings = layers
        .iter()
        .filter_map(|l| l.media_type.layer_encoding())
        .filter(|e| *e != LayerEncoding::Raw);
    let first = encodings.next()?;
    if encodings.any(|e| e != first) {
        return None;
    }
    match first {
        LayerEncoding::Tar => Some(Compression::None),
        LayerEncoding::TarGzip => Some(Compression::Gzip),
        LayerEncoding::TarZstd => Some(Compression::Zstd),
        _ => None,
    }
}
