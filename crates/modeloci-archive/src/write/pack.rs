//! Packing a model directory into an archive.

use std::path::{Path, PathBuf};

use modeloci_digest::{DigestReader, DigestWriter, Hasher, Measured};
use modeloci_spec::{Digest, LayerEncoding, ModelLayer, OciConfig, OciManifest, annotations};

use crate::atomic::space;
use crate::codec::compress::{Codec, compress, compresses_well, suits_literals};
use crate::error::{Error, Result};
use crate::facts::metadata::{self, ModelFacts};
use crate::options::{Compression, PackOptions};
use crate::profile::Profile;
use crate::progress::{Counting, Reporter};
use crate::read::archive::Archive;
use crate::source::{FileId, SourceFile};
use crate::write::archive_write::ArchiveWriter;
use crate::write::assemble::Assembler;
use crate::write::digest_cache::{self, DigestCache, Identity};
use crate::write::group::{Unit, group_codec, plan_units, write_group};
use crate::write::guard;
use crate::write::hf_cache;
use crate::write::index::{pack_name, ref_name};
use crate::write::layer_tar::{LayerTar, exact, pipeline_error};
use crate::write::sink::{ArchiveSink, BlobSink, SinkWriter};
use crate::write::walk::{Selection, model_files, open_planned};

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
    /// The layers, in manifest order: one per file, or for a model of many files, group
    /// layers of small files and one per large file.
    pub layers: Vec<ModelLayer>,
    /// How many files were packed.
    pub files: usize,
    /// Bytes of model files read.
    pub input_bytes: u64,
    /// Size of the archive.
    pub archive_bytes: u64,
    /// What the weights say about the model.
    pub facts: ModelFacts,
    /// Files that could not be read for facts (their headers did not parse).
    pub warnings: Vec<String>,
    /// Bytes of model files read into layers: less than `input_bytes` when layers were taken
    /// from the digest cache.
    pub bytes_read: u64,
    /// Layers taken from the digest cache without reading their file.
    pub reused: usize,
    /// The directory packed: the model directory given, or the snapshot chosen in a
    /// Hugging Face cache's repository folder.
    pub model_dir: PathBuf,
    /// What packing chose for the user, in sentences: which snapshot of a Hugging Face
    /// cache was packed and why, where the archive went when not beside the model.
    pub notes: Vec<String>,
    /// The config written: the one given, with the framework and architecture the weights
    /// name when [`PackOptions::framework_from_facts`] and
    /// [`PackOptions::architecture_from_facts`] ask for them.
    pub config: OciConfig,
}

/// What [`ModelPackager::pack_to`] made: the layer blobs are the sink's; the documents are
/// here, for the sink's owner to store beside them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PackedArtifact {
    /// The config blob.
    pub config_bytes: Vec<u8>,
    /// The manifest.
    pub manifest: OciManifest,
    /// The manifest's bytes, as an archive stores them.
    pub manifest_bytes: Vec<u8>,
    /// Their digest: the artifact's identity.
    pub manifest_digest: Digest,
    /// The layers, in manifest order (as [`PackReport::layers`]).
    pub layers: Vec<ModelLayer>,
    /// How many files were packed.
    pub files: usize,
    /// Bytes of model files.
    pub input_bytes: u64,
    /// Bytes of model files read into layers (the rest were remembered).
    pub bytes_read: u64,
    /// Layers taken from the digest cache without reading their file.
    pub reused: usize,
    /// What the weights say about the model.
    pub facts: ModelFacts,
    /// Files that could not be read for facts.
    pub warnings: Vec<String>,
    /// The directory packed (as [`PackReport::model_dir`]).
    pub model_dir: PathBuf,
    /// What packing chose, in sentences (as [`PackReport::notes`]).
    pub notes: Vec<String>,
    /// The config written (as [`PackReport::config`]).
    pub config: OciConfig,
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
    /// [`Error::InvalidOption`], [`Error::VersionNotATag`] (a version such as `1.0.0+cu121`
    /// with no [`PackOptions::tag`]), [`Error::InvalidTag`], or [`Error::Io`] naming the file.
    pub fn pack(&self, model_dir: &Path, config: &OciConfig) -> Result<PackReport> {
        self.check(config)?;
        let mut source = hf_cache::source(model_dir, self.options.revision.as_deref())?;
        let model_dir = source.dir.as_path();
        let output = match &self.options.output {
            Some(path) => path.clone(),
            None => default_output(model_dir, config, &mut source.notes)?,
        };
        let (files, ids) = self.walk(model_dir, Some(&output))?;
        let uncompressed = self.options.compression == Compression::None;
        space::check_pack(&output, &files, uncompressed)?;
        // With a digest cache, the archive being replaced lends the blobs of unchanged files.
        let previous = self
            .options
            .digest_cache
            .as_ref()
            .and_then(|_| Archive::open(&output).ok());
        let mut assembler = Assembler::create(&output, self.options.mtime)?;
        let mut sink = ArchiveSink::new(assembler.writer(), &output, previous.as_ref());
        let artifact = self.pack_files(&files, &ids, config, &mut sink)?;
        let (manifest_blob, archive_bytes) = assembler.finish(
            &artifact.config_bytes,
            &artifact.manifest,
            &artifact.manifest_bytes,
            ref_name(&artifact.manifest, None),
            &[],
        )?;
        Ok(PackReport {
            path: output,
            manifest_digest: manifest_blob.digest,
            manifest: artifact.manifest,
            input_bytes: artifact.input_bytes,
            layers: artifact.layers,
            files: artifact.files,
            archive_bytes,
            facts: artifact.facts,
            warnings: artifact.warnings,
            bytes_read: artifact.bytes_read,
            reused: artifact.reused,
            model_dir: source.dir,
            notes: source.notes,
            config: artifact.config,
        })
    }

    /// Packs `model_dir` as [`Self::pack`] does, each layer blob streamed to `sink` instead
    /// of an archive (the output option is not used); returns the config and manifest for
    /// the sink's owner to store. The artifact is the one [`Self::pack`] writes, byte for
    /// byte.
    ///
    /// # Errors
    ///
    /// As [`Self::pack`]; an error of the sink is [`Error::Io`] naming its target.
    pub fn pack_to(
        &self,
        model_dir: &Path,
        config: &OciConfig,
        sink: &mut dyn BlobSink,
    ) -> Result<PackedArtifact> {
        self.check(config)?;
        let source = hf_cache::source(model_dir, self.options.revision.as_deref())?;
        let (files, ids) = self.walk(&source.dir, None)?;
        let artifact = self.pack_files(&files, &ids, config, sink)?;
        Ok(PackedArtifact {
            model_dir: source.dir,
            notes: source.notes,
            ..artifact
        })
    }

    /// Refuses options, config and names that cannot be packed, before anything is written.
    fn check(&self, config: &OciConfig) -> Result<()> {
        self.options.validate()?;
        check_config(config)?;
        pack_name(self.options.tag.as_deref(), &config.version)?;
        // Refuse what the profile refuses before writing anything.
        self.profile()
            .check(config, self.options.created.as_deref())
    }

    /// Every file's layer into `sink`, then the documents.
    fn pack_files(
        &self,
        files: &[SourceFile],
        ids: &[FileId],
        config: &OciConfig,
        sink: &mut dyn BlobSink,
    ) -> Result<PackedArtifact> {
        let profile = self.profile();
        let detection = metadata::detect_files(files);
        let config = &self.config_from_facts(config, &detection.facts);
        let input_bytes = files.iter().map(|f| f.size).sum();
        let checked = &detection.checked;
        let units = plan_units(files, |f| {
            profile.plan_layer(&f.rel, &self.options, checked).kind()
        });
        // The manifest's size bounded before any blob is written.
        let estimate = self.estimate_layers(files, &units, checked)?;
        let diff_ids = vec![guard::placeholder_digest(); estimate.len()];
        let (_, bound) = self.documents(config, &estimate, diff_ids, &detection.facts)?;
        guard::check(estimate.len(), bound.to_json().len())?;
        let reporter = Reporter::start(self.options.progress.as_ref(), "packing", input_bytes);
        let mut cache = self.options.digest_cache.as_deref().map(DigestCache::load);
        let written = self.write_units(
            sink,
            (files, ids),
            &units,
            checked,
            &reporter,
            cache.as_mut(),
        )?;
        if let Some(cache) = cache {
            cache.save();
        }
        let (config_bytes, manifest) =
            self.documents(config, &written.layers, written.diff_ids, &detection.facts)?;
        let manifest_bytes = manifest.to_json();
        guard::check(written.layers.len(), manifest_bytes.len())?;
        Ok(PackedArtifact {
            manifest_digest: Hasher::digest_bytes(&manifest_bytes).digest,
            config_bytes,
            manifest,
            manifest_bytes,
            layers: written.layers,
            files: files.len(),
            input_bytes,
            bytes_read: written.bytes_read,
            reused: written.reused,
            facts: detection.facts,
            warnings: detection.warnings,
            model_dir: PathBuf::new(),
            notes: Vec::new(),
            config: config.clone(),
        })
    }

    /// `config`, with the framework and the architecture the facts name when the options
    /// ask for them and the facts name one.
    fn config_from_facts(&self, config: &OciConfig, facts: &ModelFacts) -> OciConfig {
        let mut config = config.clone();
        if self.options.framework_from_facts
            && let Some(framework) = facts.framework()
        {
            framework.clone_into(&mut config.framework);
        }
        if self.options.architecture_from_facts
            && let Some(architecture) = &facts.architecture
        {
            config.architecture.clone_from(architecture);
        }
        config
    }

    /// The config blob and manifest of `layers`: the profile's documents, and the name
    /// pack was given when it is not the version.
    fn documents(
        &self,
        config: &OciConfig,
        layers: &[ModelLayer],
        diff_ids: Vec<Digest>,
        facts: &ModelFacts,
    ) -> Result<(Vec<u8>, OciManifest)> {
        let created = self.options.created.as_deref();
        let (config_bytes, mut manifest) = self
            .profile()
            .documents(config, layers, diff_ids, facts, created)?;
        // A name other than the version travels in the manifest, so that a pull names the
        // archive as pack did, whatever tag it pulls by.
        if let Some(tag) = self.options.tag.as_deref().filter(|t| *t != config.version) {
            manifest
                .annotations
                .insert(annotations::REF_NAME.to_owned(), tag.to_owned());
        }
        Ok((config_bytes, manifest))
    }

    /// The layers `units` would make, each with a stand-in digest and size at least as long
    /// as the real ones: a manifest of them bounds the real one's size.
    fn estimate_layers(
        &self,
        files: &[SourceFile],
        units: &[Unit],
        checked: &[String],
    ) -> Result<Vec<ModelLayer>> {
        let profile = self.profile();
        let tar_encoding = group_codec(&self.options)?.encoding();
        let mtime = self.options.mtime;
        let estimate = |unit: &Unit| match unit {
            Unit::One(i) => {
                let plan = profile.plan_layer(&files[*i].rel, &self.options, checked);
                if plan.raw {
                    profile.layer(
                        &plan,
                        &files[*i],
                        guard::placeholder(),
                        LayerEncoding::Raw,
                        mtime,
                    )
                } else {
                    let layer =
                        profile.layer(&plan, &files[*i], guard::placeholder(), tar_encoding, mtime);
                    guard::with_file_digest(layer)
                }
            }
            Unit::Group { files: group, kind } => {
                let range = (
                    files[group[0]].rel.as_str(),
                    files[group[group.len() - 1]].rel.as_str(),
                );
                Profile::group_layer(
                    *kind,
                    range,
                    group.len(),
                    guard::placeholder(),
                    tar_encoding,
                )
            }
        };
        Ok(units.iter().map(estimate).collect())
    }

    /// Writes each unit's layer into `sink`, in order (a layer the digest cache remembers
    /// and the sink holds is not read again).
    fn write_units(
        &self,
        sink: &mut dyn BlobSink,
        (files, ids): (&[SourceFile], &[FileId]),
        units: &[Unit],
        checked: &[String],
        reporter: &Reporter<'_>,
        mut cache: Option<&mut DigestCache>,
    ) -> Result<Written> {
        let mut written = Written {
            layers: Vec::with_capacity(units.len()),
            diff_ids: Vec::with_capacity(units.len()),
            bytes_read: 0,
            reused: 0,
        };
        for unit in units {
            let (layer, diff_id) = match unit {
                Unit::One(i) => {
                    let file = &files[*i];
                    let _file = reporter.file(&file.rel, file.size);
                    let (layer, diff_id, read) =
                        self.layer(sink, file, Some(ids[*i]), checked, cache.as_deref_mut())?;
                    if read {
                        written.bytes_read += file.size;
                    } else {
                        written.reused += 1;
                        // Not read, but done.
                        if let Some(progress) = reporter.0 {
                            progress.advance(file.size);
                        }
                    }
                    (layer, diff_id)
                }
                Unit::Group { files: group, kind } => {
                    let members: Vec<_> = group.iter().map(|&i| (&files[i], ids[i])).collect();
                    written.bytes_read += members.iter().map(|(f, _)| f.size).sum::<u64>();
                    write_group(&self.options, sink, members, *kind)?
                }
            };
            written.layers.push(layer);
            written.diff_ids.extend(diff_id);
        }
        Ok(written)
    }

    /// The profile the options ask for.
    fn profile(&self) -> Profile {
        Profile::of_format(self.options.format)
    }

    /// The model's files, as the walk saw them, once the output is known to be none of them
    /// and outside the model.
    fn walk(
        &self,
        model_dir: &Path,
        output: Option<&Path>,
    ) -> Result<(Vec<SourceFile>, Vec<FileId>)> {
        let selection = Selection {
            exclude: &self.options.exclude,
            symlinks: self.options.symlinks,
        };
        if let Some(output) = output {
            check_output_outside(model_dir, output)?;
        }
        let (files, ids): (Vec<SourceFile>, Vec<FileId>) =
            model_files(model_dir, selection)?.into_iter().unzip();
        if let Some(output) = output {
            check_output_not_a_model_file(output, &files, &ids)?;
        }
        Ok((files, ids))
    }

    /// The codec of a tar layer for `file`.
    fn codec_for(&self, file: &SourceFile) -> Result<Codec> {
        self.options.codec(
            || compresses_well(&file.path, file.size).unwrap_or(true),
            || suits_literals(&file.path, file.size).unwrap_or(false),
        )
    }

    /// Streams one file into the sink as a blob: the file itself (`raw`) or its layer
    /// tar through `codec`. Returns the blob's digest and size; those of the uncompressed
    /// content (the ModelPack `diffId`), hashed on the way only when they differ from the
    /// blob's and `want_content` asks for them; and for a tar, the digest of the file's
    /// content, hashed in the same read. `handle` is the file, opened by [`open_planned`].
    #[allow(clippy::too_many_arguments)]
    fn stream_layer(
        &self,
        sink: &mut dyn BlobSink,
        file: &SourceFile,
        handle: std::fs::File,
        raw: bool,
        codec: Codec,
        want_content: bool,
    ) -> Result<Streamed> {
        let target = sink.target().to_owned();
        let output = target.as_path();
        sink.begin_blob().map_err(Error::io(output))?;
        let mut blob = DigestWriter::new(SinkWriter(&mut *sink));
        let threads = self.options.threads;
        let pipeline = |e| pipeline_error(e, output);
        let progress = self.options.progress.as_ref().map(|h| &*h.0);
        let (content, file_digest) = if raw {
            let mut source = Counting::new(exact(handle, file), progress);
            compress(Codec::Identity, &mut source, &mut blob, threads).map_err(pipeline)?;
            (None, None)
        } else {
            let inner = LayerTar::new(handle, file, self.options.mtime);
            let mut tar = Counting::capped(inner, progress, file.size);
            let content = if want_content && codec != Codec::Identity {
                let mut hashing = DigestReader::new(&mut tar);
                compress(codec, &mut hashing, &mut blob, threads).map_err(pipeline)?;
                Some(hashing.finish())
            } else {
                compress(codec, &mut tar, &mut blob, threads).map_err(pipeline)?;
                None
            };
            (content, Some(tar.inner.content().digest))
        };
        let (_, measured) = blob.finish();
        sink.finish_blob(&measured).map_err(Error::io(output))?;
        Ok(Streamed {
            blob: measured,
            content,
            file_digest,
        })
    }

    /// Streams one file's layer into the archive, as the profile of the options says;
    /// returns it, and its `diffId` when the profile records them. `checked` lists the
    /// weights whose header parsed.
    pub(crate) fn write_layer(
        &self,
        writer: &mut ArchiveWriter,
        file: &SourceFile,
        output: &Path,
        checked: &[String],
    ) -> Result<(ModelLayer, Option<Digest>)> {
        let mut sink = ArchiveSink::new(writer, output, None);
        let (layer, diff_id, _) = self.layer(&mut sink, file, None, checked, None)?;
        Ok((layer, diff_id))
    }

    /// [`Self::write_layer`] of a file the walk saw as `id`, into `sink`; with a digest
    /// cache, an unchanged file's remembered layer when the sink holds its blob. The last
    /// value says whether the file was read.
    fn layer(
        &self,
        sink: &mut dyn BlobSink,
        file: &SourceFile,
        id: Option<FileId>,
        checked: &[String],
        cache: Option<&mut DigestCache>,
    ) -> Result<(ModelLayer, Option<Digest>, bool)> {
        // Opened before anything reads it, and checked to be what the walk saw.
        let handle = open_planned(file, id, self.options.symlinks)?;
        let profile = self.profile();
        let plan = profile.plan_layer(&file.rel, &self.options, checked);
        let remembered = match cache {
            Some(cache) => {
                let before = Identity::of(&handle.metadata().map_err(Error::io(&file.path))?);
                let key = digest_cache::key(&before, file, &plan, &self.options);
                if let Some(hit) = cache.get(&key)
                    && sink
                        .reuse_blob(&hit.layer)
                        .map_err(Error::io(sink.target()))?
                {
                    return Ok((hit.layer, hit.diff_id, false));
                }
                Some((cache, key, before))
            }
            None => None,
        };
        let after = handle.try_clone().map_err(Error::io(&file.path))?;
        let (layer, diff_id) = self.stream_planned(sink, file, handle, &plan)?;
        if let Some((cache, key, before)) = remembered {
            let now = Identity::of(&after.metadata().map_err(Error::io(&file.path))?);
            cache.put(key, &before, &now, &layer, diff_id.as_ref());
        }
        Ok((layer, diff_id, true))
    }

    /// Streams the file of `handle` into `sink` as `plan` says.
    fn stream_planned(
        &self,
        sink: &mut dyn BlobSink,
        file: &SourceFile,
        handle: std::fs::File,
        plan: &crate::profile::LayerPlan,
    ) -> Result<(ModelLayer, Option<Digest>)> {
        let profile = self.profile();
        let codec = if plan.raw {
            Codec::Identity
        } else {
            self.codec_for(file)?
        };
        let diff_ids = profile.records_diff_ids();
        let Streamed {
            blob,
            content,
            file_digest,
        } = self.stream_layer(sink, file, handle, plan.raw, codec, diff_ids)?;
        let encoding = if plan.raw {
            LayerEncoding::Raw
        } else {
            codec.encoding()
        };
        let diff_id = diff_ids.then(|| content.map_or_else(|| blob.digest.clone(), |c| c.digest));
        let mut layer = profile.layer(plan, file, blob, encoding, self.options.mtime);
        if let Some(digest) = file_digest {
            layer
                .annotations
                .insert(annotations::FILE_DIGEST.to_owned(), digest.to_string());
        }
        Ok((layer, diff_id))
    }

    /// The manifest for a model: the config as its config blob, the layers in the order
    /// given, `artifactType` `application/vnd.modeloci.model.v1`, and title and version
    /// annotations (plus `created` when the options ask for it).
    pub fn create_manifest(&self, config: &OciConfig, layers: &[ModelLayer]) -> OciManifest {
        Profile::Modeloci.manifest(
            &config.to_json(),
            layers,
            config,
            self.options.created.as_deref(),
        )
    }
}

/// What [`ModelPackager::write_units`] wrote.
struct Written {
    layers: Vec<ModelLayer>,
    diff_ids: Vec<Digest>,
    bytes_read: u64,
    reused: usize,
}

/// What [`ModelPackager::stream_layer`] measured of one blob.
struct Streamed {
    /// The blob's digest and size.
    blob: Measured,
    /// The uncompressed layer's, when asked for and different from the blob's.
    content: Option<Measured>,
    /// The file's content digest, for a layer whose blob is not the file.
    file_digest: Option<Digest>,
}

/// Refuses an output whose directory entry (the one the finished archive is renamed onto) is
/// inside the model directory: it would replace a model file, or become one. Symbolic links
/// in the output's directory are resolved; the output itself need not exist.
fn check_output_outside(model_dir: &Path, output: &Path) -> Result<()> {
    let Ok(root) = model_dir.canonicalize() else {
        // The walk names the missing model directory.
        return Ok(());
    };
    let Some(name) = output.file_name() else {
        return Err(Error::InvalidOption(format!(
            "the archive {} names a directory, not a file",
            output.display()
        )));
    };
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(parent) = parent.canonicalize() else {
        // Creating the archive names the missing directory.
        return Ok(());
    };
    let entry = parent.join(name);
    if entry.starts_with(&root) {
        return Err(Error::InvalidOption(format!(
            "the archive {} would be written inside the model directory {} ({}): write it \
             elsewhere",
            output.display(),
            model_dir.display(),
            entry.display()
        )));
    }
    Ok(())
}

/// Refuses an output that is one of the model's files by another name (a hard link, or a
/// link to it): replacing it leaves the model intact, but the archive would not be the model.
fn check_output_not_a_model_file(
    output: &Path,
    files: &[SourceFile],
    ids: &[FileId],
) -> Result<()> {
    let Ok(meta) = std::fs::metadata(output) else {
        return Ok(());
    };
    let id = FileId::of(&meta);
    if let Some(i) = ids.iter().position(|f| *f == id) {
        return Err(Error::InvalidOption(format!(
            "the archive {} is the model's file {}: write it elsewhere",
            output.display(),
            files[i].path.display()
        )));
    }
    Ok(())
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
/// directory replaced; in the current directory when `model_dir` is in a Hugging Face
/// cache (a snapshot's archive would land among its snapshots), which `notes` then says.
fn default_output(
    model_dir: &Path,
    config: &OciConfig,
    notes: &mut Vec<String>,
) -> Result<PathBuf> {
    let absolute = model_dir.canonicalize().map_err(|_| Error::NotADirectory {
        path: model_dir.to_owned(),
    })?;
    let current;
    let parent = if hf_cache::inside_cache(&absolute) {
        current = std::env::current_dir().map_err(Error::io("."))?;
        notes.push(
            "the model directory is inside a Hugging Face cache: writing the archive to the \
             current directory"
                .to_owned(),
        );
        current.as_path()
    } else {
        absolute.parent().ok_or_else(|| Error::NoDefaultOutput {
            path: absolute.clone(),
        })?
    };
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
