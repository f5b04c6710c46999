//! Adding a file to an archive as a new layer.

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use modeloci_spec::{Descriptor, Digest, LayerEncoding, ModelLayer};

use crate::atomic::lock::TargetLock;
use crate::codec::compress::decoder;
use crate::entry_policy::{PathSet, check_relative_path};
use crate::error::{Error, Result};
use crate::facts::metadata::{self, Candidate, Detection, Opened};
use crate::options::{AddOptions, Compression};
use crate::profile::{ArchiveConfig, LayerChange, Profile};
use crate::read::archive::Archive;
use crate::source::SourceFile;
use crate::tarfile::reader::{Stream, TarReader};
use crate::write::assemble::Assembler;
use crate::write::guard;
use crate::write::index::kept_name;
use crate::write::pack::ModelPackager;
use crate::write::regroup::{group_holding, range};

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
    /// The referrers (signatures) dropped with [`AddOptions::drop_referrers`], by manifest
    /// digest: they were made for the old manifest's files.
    pub dropped_referrers: Vec<Digest>,
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
    /// [`Error::HasReferrers`] when the archive holds referrers (signatures) and
    /// [`AddOptions::drop_referrers`] is not set,
    /// [`Error::AlreadyInModel`] without `force`, [`Error::UnsafeEntry`] for a path the
    /// unpacker would refuse, [`Error::BlobMismatch`] when an existing blob is corrupt, and
    /// the errors of [`Archive::open`].
    pub fn add(&self, archive_path: &Path, file: &Path, options: &AddOptions) -> Result<AddReport> {
        // Held from the first read of the archive to the rename of the new one: two adds at
        // once would each rewrite what they read, and one file would be lost.
        let _lock = TargetLock::acquire(archive_path).map_err(Error::io(archive_path))?;
        let source = source_file(file, options)?;
        let archive = Archive::open(archive_path)?;
        let plan = AddPlan::new(self, &archive, archive_path, source, options)?;
        let detection = plan.detect(&archive);
        let report = plan.write(&archive, archive_path, detection.as_ref())?;
        drop(archive);
        Ok(report)
    }
}

/// The file to add, named by `options.path_in_model` or its file name, and checked to be a
/// regular file with a path the unpacker accepts.
fn source_file(file: &Path, options: &AddOptions) -> Result<SourceFile> {
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
    Ok(SourceFile {
        rel,
        path: file.to_owned(),
        size: meta.len(),
        executable: meta.permissions().mode() & 0o111 != 0,
    })
}

/// What `add` will write, decided (and checked) before anything is written.
struct AddPlan {
    /// The file added.
    source: SourceFile,
    /// The index of the layer it replaces, in the archive's manifest.
    existing: Option<usize>,
    /// The layer it replaces.
    replaced: Option<ModelLayer>,
    /// The archive's other layers, in order.
    kept: Vec<Descriptor>,
    /// The group layer among `kept` that holds the file replaced, written again without it.
    regroup: Option<usize>,
    /// Where the new layer goes among `kept`.
    position: usize,
    /// The archive's profile.
    profile: Profile,
    /// Writes the new layer: the archive's profile and compression.
    packager: ModelPackager,
    /// The archive's config, to rewrite.
    config: ArchiveConfig,
    /// The referrers dropped.
    dropped: Vec<Digest>,
}

impl AddPlan {
    fn new(
        packager: &ModelPackager,
        archive: &Archive,
        archive_path: &Path,
        source: SourceFile,
        options: &AddOptions,
    ) -> Result<Self> {
        if archive.layout_dir().is_some() {
            return Err(Error::InvalidOption(format!(
                "{} is a layout directory; add works on archive files",
                archive_path.display()
            )));
        }
        let dropped = droppable_referrers(archive, archive_path, options)?;
        let manifest = archive.manifest();
        let rel = source.rel.as_str();
        let (existing, regroup) = held_by(archive, rel)?;
        if (existing.is_some() || regroup.is_some()) && !options.force {
            return Err(Error::AlreadyInModel {
                path: rel.to_owned(),
            });
        }
        let mut kept: Vec<Descriptor> = manifest.layers.clone();
        let replaced = existing
            .map(|i| ModelLayer::from(kept.remove(i)))
            .or_else(|| regroup.map(|g| ModelLayer::from(kept[g].clone())));
        check_paths(&kept, rel)?;
        let profile = Profile::of_manifest(manifest);
        let packager = packager.for_archive(profile, &kept, options);
        let config = profile.read_config(archive.config_bytes()?, manifest.layers.len())?;
        let position = insert_position(&kept, rel);
        Ok(Self {
            source,
            existing,
            replaced,
            kept,
            regroup,
            position,
            profile,
            packager,
            config,
            dropped,
        })
    }

    /// When a weight (or `config.json`) comes or goes, the facts read again from every
    /// weight in the archive and the new file, as packing would.
    fn detect(&self, archive: &Archive) -> Option<Detection> {
        let refresh = self.profile.refreshes(&self.source.rel)
            || self
                .replaced
                .as_ref()
                .and_then(ModelLayer::title)
                .is_some_and(|t| self.profile.refreshes(t));
        if !refresh {
            return None;
        }
        let source = &self.source;
        let mut candidates: Vec<Candidate<'_>> = self
            .kept
            .iter()
            .filter(|l| l.title().is_some_and(metadata::is_inspected))
            .map(|l| Candidate {
                rel: l.title().unwrap_or_default().to_owned(),
                open: Box::new(move || layer_file(archive, l)),
            })
            .collect();
        candidates.push(Candidate {
            rel: source.rel.clone(),
            open: Box::new(|| {
                Ok((
                    Box::new(crate::source::open_regular(&source.path)?) as Box<dyn Read>,
                    source.size,
                ))
            }),
        });
        Some(metadata::detect(&candidates))
    }

    /// Rewrites the archive beside itself: the kept blobs copied and verified, the new layer
    /// streamed in where it sorts, then config, manifest, index and root copies.
    fn write(
        self,
        archive: &Archive,
        archive_path: &Path,
        detection: Option<&Detection>,
    ) -> Result<AddReport> {
        let checked = detection.map_or(&[][..], |d| &d.checked[..]);
        let estimate = archive.manifest().to_json().len()
            + 1024
            + 3 * serde_json::to_string(&self.source.rel).map_or(0, |s| s.len());
        guard::check(self.kept.len() + 1, estimate)?;
        let mut assembler = Assembler::create(archive_path, self.packager.options().mtime)?;
        let (layers, new_layer, diff_id, regrouped) =
            self.write_layers(&mut assembler, archive, archive_path, checked)?;
        let mut manifest = archive.manifest().clone();
        manifest.layers = layers;
        let change = LayerChange {
            removed: self.existing,
            inserted: self.position,
            diff_id,
            regrouped,
        };
        let config = self
            .config
            .rewrite(&mut manifest, change, detection.map(|d| &d.facts));
        // The name the archive goes by: its index's, else (reference archives have no index)
        // its config's version.
        let known = archive
            .reference_name()
            .map(str::to_owned)
            .or_else(|| archive.config().ok().map(|c| c.version));
        let manifest_bytes = manifest.to_json();
        guard::check(manifest.layers.len(), manifest_bytes.len())?;
        let (manifest_blob, _) = assembler.finish(
            &config,
            &manifest,
            &manifest_bytes,
            kept_name(&manifest, known.as_deref()),
            &[],
        )?;
        Ok(AddReport {
            path: archive_path.to_owned(),
            layer: new_layer,
            replaced: self.replaced,
            manifest_digest: manifest_blob.digest,
            dropped_referrers: self.dropped,
        })
    }
}

/// A new layer list as [`AddPlan::write_layers`] wrote it: the layers, the new one, its
/// `diffId`, and the group written again (its index and `diffId`).
type Written = (
    Vec<Descriptor>,
    ModelLayer,
    Option<Digest>,
    Option<(usize, Option<Digest>)>,
);

impl AddPlan {
    /// Writes the layers: the kept blobs copied and verified, the group holding the file
    /// replaced written again without it, the new layer where it sorts.
    fn write_layers(
        &self,
        assembler: &mut Assembler,
        archive: &Archive,
        archive_path: &Path,
        checked: &[String],
    ) -> Result<Written> {
        let mut layers = Vec::with_capacity(self.kept.len() + 1);
        let mut new = None;
        let mut regrouped = None;
        for j in 0..=self.kept.len() {
            if j == self.position {
                let (layer, diff_id) = self.packager.write_layer(
                    assembler.writer(),
                    &self.source,
                    archive_path,
                    checked,
                )?;
                layers.push(Descriptor::from(layer.clone()));
                new = Some((layer, diff_id));
            }
            let Some(descriptor) = self.kept.get(j) else {
                break;
            };
            if self.regroup == Some(j) {
                let (layer, diff_id) = self.packager.regroup(
                    assembler.writer(),
                    archive,
                    descriptor,
                    &self.source.rel,
                )?;
                layers.push(Descriptor::from(layer));
                regrouped = Some((j, diff_id));
            } else {
                copy_layer(assembler, archive, descriptor)?;
                layers.push(descriptor.clone());
            }
        }
        let (layer, diff_id) = new.expect("the position is at most the number of layers");
        Ok((layers, layer, diff_id, regrouped))
    }
}

/// Which layer of `archive` holds `rel`: the index of a one-file layer titled so (or of a
/// group holding only it), and that of a group holding it among other files.
///
/// # Errors
///
/// As [`group_holding`].
fn held_by(archive: &Archive, rel: &str) -> Result<(Option<usize>, Option<usize>)> {
    let layers = &archive.manifest().layers;
    if let Some(i) = layers.iter().position(|l| l.title() == Some(rel)) {
        return Ok((Some(i), None));
    }
    Ok(match group_holding(archive, layers, rel)? {
        Some((g, 1)) => (Some(g), None),
        Some((g, _)) => (None, Some(g)),
        None => (None, None),
    })
}

/// The referrers `add` drops: none without any; with some, refused unless
/// `options.drop_referrers` (a signature of the old files would not cover the new ones).
///
/// # Errors
///
/// [`Error::HasReferrers`], and those of [`Archive::referrers`].
fn droppable_referrers(
    archive: &Archive,
    archive_path: &Path,
    options: &AddOptions,
) -> Result<Vec<Digest>> {
    let referrers = archive.referrers()?;
    if !referrers.is_empty() && !options.drop_referrers {
        return Err(Error::HasReferrers {
            archive: archive_path.to_owned(),
            count: referrers.len(),
        });
    }
    Ok(referrers.into_iter().map(|r| r.descriptor.digest).collect())
}

impl ModelPackager {
    /// A packager writing the new layer of an archive in `profile` whose other layers are
    /// `kept`: their shared compression unless `options` names one, and ModelPack weights
    /// raw unless the archive's weights are tars.
    fn for_archive(&self, profile: Profile, kept: &[Descriptor], options: &AddOptions) -> Self {
        let compression = options
            .compression
            .unwrap_or_else(|| existing_compression(kept).unwrap_or(self.options().compression));
        Self::with_options(
            self.options()
                .clone()
                .with_compression(compression)
                .with_raw_weights(profile.raw_weights_among(kept))
                .with_format(profile.format()),
        )
    }
}

/// Refuses a new path `rel` that collides with the titles of the `kept` layers.
fn check_paths(kept: &[Descriptor], rel: &str) -> Result<()> {
    let mut set = PathSet::new();
    for title in kept.iter().filter_map(Descriptor::title).chain([rel]) {
        set.insert(title).map_err(|refusal| Error::UnsafeEntry {
            entry: title.to_owned(),
            refusal,
        })?;
    }
    Ok(())
}

/// A layer's first path: its title, or a group's least path.
fn key(l: &Descriptor) -> Option<&[u8]> {
    l.title()
        .or_else(|| range(l).map(|(first, _)| first))
        .map(str::as_bytes)
}

/// Where a layer titled `rel` goes among `layers`: where sorting by path puts it, or at the
/// end if they are not sorted.
fn insert_position(layers: &[Descriptor], rel: &str) -> usize {
    let sorted = layers.windows(2).all(|w| key(&w[0]) <= key(&w[1]));
    if sorted {
        layers.partition_point(|l| key(l) < Some(rel.as_bytes()))
    } else {
        layers.len()
    }
}

/// Copies an existing layer's blob into the rewritten archive, verifying it on the way.
fn copy_layer(assembler: &mut Assembler, archive: &Archive, layer: &Descriptor) -> Result<()> {
    let what = format!("layer {}", layer.title().unwrap_or("?"));
    assembler.copy_blob(
        archive,
        layer,
        &what,
        crate::write::assemble::Layers::Verify,
        None,
    )
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
