//! Adding a file to an archive as a new layer.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use modeloci_spec::{Descriptor, Digest, LayerEncoding, ModelLayer};

use crate::archive::Archive;
use crate::assemble::Assembler;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::options::{AddOptions, Compression};
use crate::walk::SourceFile;
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

        let compression = options
            .compression
            .unwrap_or_else(|| existing_compression(&kept).unwrap_or(self.options().compression));
        let packager =
            ModelPackager::with_options(self.options().clone().with_compression(compression));
        let config_bytes = archive.config_bytes()?;
        let source = SourceFile {
            rel: rel.clone(),
            path: file.to_owned(),
            size: meta.len(),
            executable: meta.permissions().mode() & 0o111 != 0,
        };

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
        let mut new_layer = None;
        for (i, descriptor) in kept.iter().enumerate() {
            if i == position {
                let layer = packager.write_layer(assembler.writer(), &source, archive_path)?;
                layers.push(Descriptor::from(layer.clone()));
                new_layer = Some(layer);
            }
            let what = format!("layer {}", descriptor.title().unwrap_or("?"));
            assembler.copy_blob(&archive, descriptor, &what)?;
            layers.push(descriptor.clone());
        }
        if new_layer.is_none() {
            let layer = packager.write_layer(assembler.writer(), &source, archive_path)?;
            layers.push(Descriptor::from(layer.clone()));
            new_layer = Some(layer);
        }
        let mut new_manifest = manifest.clone();
        new_manifest.layers = layers;
        let ref_name = archive
            .reference_name()
            .map(str::to_owned)
            .or_else(|| archive.config().ok().map(|c| c.version))
            .unwrap_or_else(|| "latest".to_owned());
        let (manifest_blob, _) = assembler.finish(
            &config_bytes,
            &new_manifest.to_json(),
            new_manifest.artifact_type.clone(),
            &ref_name,
        )?;
        drop(archive);
        Ok(AddReport {
            path: archive_path.to_owned(),
            layer: new_layer.expect("the new layer was written"),
            replaced,
            manifest_digest: manifest_blob.digest,
        })
    }
}

/// The compression all tar layers share, if they share one.
fn existing_compression(layers: &[Descriptor]) -> Option<Compression> {
    let mut encodings = layers.iter().filter_map(|l| l.media_type.layer_encoding());
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
