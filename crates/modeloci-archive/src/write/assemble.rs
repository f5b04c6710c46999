//! Writing an archive from its parts: what pack, add and pull share, so that the same model
//! gives the same bytes whichever way the archive was made.

use std::io;
use std::path::{Path, PathBuf};

use modeloci_digest::Measured;
use modeloci_spec::{Descriptor, Digest, ImageLayout, OciManifest};

use crate::atomic::temp::TempFile;
use crate::error::{Error, Result};
use crate::progress::{Counting, Progress, ProgressHandle, Reporter};
use crate::read::archive::{Archive, blob_error};
use crate::read::referrers::{StoredReferrer, stored_referrers};
use crate::write::archive_write::ArchiveWriter;
use crate::write::index::{index_json_with, kept_name};

/// How a rewrite treats the layer blobs it copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layers {
    /// Hash each as it is copied, and fail on a mismatch.
    Verify,
    /// Copy them as they are: this process checked every one against its digest under the
    /// archive's lock just before (a signature's file digests were hashed from them).
    Verified,
}

/// An archive being written beside its final path: `oci-layout` and the blob directories
/// first, then the layer blobs, then [`Assembler::finish`] adds config, manifest, index and
/// root copies and renames the archive into place.
pub(crate) struct Assembler {
    writer: ArchiveWriter,
    temp: TempFile,
    path: PathBuf,
}

impl Assembler {
    pub(crate) fn create(path: &Path, mtime: u64) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.exists() {
            return Err(Error::OutputDirMissing {
                path: path.to_owned(),
                dir: dir.to_owned(),
            });
        }
        let (temp, file) = TempFile::beside(path).map_err(Error::io(path))?;
        let mut writer = ArchiveWriter::new(file, mtime);
        let mut start = || -> io::Result<()> {
            writer.append_file("oci-layout", &ImageLayout::default().to_json())?;
            writer.append_dir("blobs/")?;
            writer.append_dir("blobs/sha256/")
        };
        start().map_err(Error::io(path))?;
        Ok(Self {
            writer,
            temp,
            path: path.to_owned(),
        })
    }

    pub(crate) fn writer(&mut self) -> &mut ArchiveWriter {
        &mut self.writer
    }

    /// Copies a blob from another archive, verifying it on the way (unless `layers` says it
    /// was just checked). The verifying reader fails at the end unless the bytes are the
    /// descriptor's, so they are hashed once.
    pub(crate) fn copy_blob(
        &mut self,
        archive: &Archive,
        descriptor: &Descriptor,
        what: &str,
        layers: Layers,
        progress: Option<&dyn Progress>,
    ) -> Result<()> {
        let reader: Box<dyn io::Read + '_> = match layers {
            Layers::Verify => Box::new(archive.verified_blob(descriptor, what)?),
            Layers::Verified => Box::new(exact_blob(archive, descriptor, what)?),
        };
        // Read in 1 MiB steps (io::copy's own buffer is 8 KiB: a pread each).
        let mut source = io::BufReader::with_capacity(1 << 20, Counting::new(reader, progress));
        let out = Error::io(&self.path);
        let slot = self.writer.begin_blob().map_err(out)?;
        let mut blob = self.writer.blob_data();
        io::copy(&mut source, &mut blob).map_err(|e| {
            match modeloci_digest::Error::from_io(&e) {
                Some(_) => blob_error(e, what, &descriptor.digest, archive.path()),
                None => Error::Io {
                    path: self.path.clone(),
                    source: e,
                },
            }
        })?;
        let measured = Measured::new(descriptor.digest.clone(), descriptor.size);
        self.writer
            .finish_blob(slot, &measured)
            .map_err(Error::io(&self.path))
    }

    /// Adds the config and manifest blobs (`manifest_bytes` are `manifest`'s), each
    /// referrer's blobs and manifest (in the order given), `index.json` naming the manifest
    /// `ref_name` and listing the referrers after it, the root copies, and renames the
    /// archive into place. Returns the manifest blob's digest and size, and the archive's
    /// size.
    pub(crate) fn finish(
        mut self,
        config: &[u8],
        manifest: &OciManifest,
        manifest_bytes: &[u8],
        ref_name: &str,
        referrers: &[StoredReferrer],
    ) -> Result<(Measured, u64)> {
        let path = self.path.clone();
        let out = |e| Error::Io {
            path: path.clone(),
            source: e,
        };
        self.writer.append_blob(config).map_err(out)?;
        let manifest_blob = self.writer.append_blob(manifest_bytes).map_err(out)?;
        for referrer in referrers {
            for blob in &referrer.blobs {
                self.writer.append_blob(blob).map_err(out)?;
            }
            self.writer
                .append_blob(&referrer.manifest_bytes)
                .map_err(out)?;
        }
        let listed: Vec<Descriptor> = referrers.iter().map(|r| r.descriptor.clone()).collect();
        self.writer
            .append_file(
                "index.json",
                &index_json_with(manifest, &manifest_blob, ref_name, &listed),
            )
            .map_err(out)?;
        self.writer
            .append_file("manifest.json", manifest_bytes)
            .map_err(out)?;
        self.writer
            .append_file("config.json", config)
            .map_err(out)?;
        let size = self.writer.position() + 1024;
        self.writer.finish().map_err(out)?;
        self.temp.persist().map_err(out)?;
        Ok((manifest_blob, size))
    }
}

/// A blob already checked against `descriptor`, read as it is: the entry must still have
/// the descriptor's size.
fn exact_blob<'a>(
    archive: &'a Archive,
    descriptor: &Descriptor,
    what: &str,
) -> Result<impl io::Read + 'a> {
    let missing = || Error::MissingBlob {
        what: what.to_owned(),
        digest: descriptor.digest.clone(),
    };
    let (reader, size) = archive.open_blob(&descriptor.digest)?.ok_or_else(missing)?;
    if size != descriptor.size {
        return Err(missing());
    }
    Ok(reader)
}

/// What [`repack`] wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RepackReport {
    /// The manifest's digest (unchanged: its bytes are copied as they are).
    pub manifest_digest: Digest,
    /// The archive's size.
    pub archive_bytes: u64,
}

/// Writes the artifact in `archive` (any readable archive or OCI layout directory) as a
/// modeloci archive at `output`: blobs in manifest order, the manifest bytes as they are, the
/// index naming it by the manifest's version annotation (else its current reference name),
/// and the model's referrers (signatures) carried along, listed after it.
/// For an artifact packed by modeloci this gives the bytes pack wrote.
///
/// # Errors
///
/// [`Error::MissingBlob`] or [`Error::BlobMismatch`] when a blob is absent or corrupt (each
/// is verified as it is copied), and I/O errors naming the output.
pub fn repack(archive: &Archive, output: &Path, mtime: u64) -> Result<RepackReport> {
    repack_with_progress(archive, output, mtime, None)
}

/// Like [`repack`], reporting the bytes copied to `progress` (as `writing`).
///
/// # Errors
///
/// As [`repack`].
pub fn repack_with_progress(
    archive: &Archive,
    output: &Path,
    mtime: u64,
    progress: Option<&ProgressHandle>,
) -> Result<RepackReport> {
    let referrers = stored_referrers(archive)?;
    let mut assembler = Assembler::create(output, mtime)?;
    copy_layers(&mut assembler, archive, Layers::Verify, progress)?;
    finish_artifact(assembler, archive, &referrers, archive.reference_name())
}

/// Writes the artifact in `archive` at `output` as [`repack`] does, with `referrers` (sorted
/// by digest) listed after the model, named `known` when its index names it not.
pub(crate) fn write_artifact(
    archive: &Archive,
    layers: Layers,
    output: &Path,
    mtime: u64,
    referrers: &[StoredReferrer],
    known: Option<&str>,
) -> Result<RepackReport> {
    let mut assembler = Assembler::create(output, mtime)?;
    copy_layers(&mut assembler, archive, layers, None)?;
    finish_artifact(assembler, archive, referrers, known)
}

/// Copies the model's layer blobs, verified, in manifest order.
fn copy_layers(
    assembler: &mut Assembler,
    archive: &Archive,
    layers: Layers,
    progress: Option<&ProgressHandle>,
) -> Result<()> {
    let manifest = archive.manifest();
    let reporter = Reporter::start(
        progress,
        "writing",
        manifest
            .layers
            .iter()
            .fold(0, |total, l| total.saturating_add(l.size)),
    );
    for (i, layer) in manifest.layers.iter().enumerate() {
        let what = layer
            .title()
            .map_or_else(|| format!("layer {i}"), |t| format!("layer {t}"));
        let _file = reporter.file(&crate::progress::blob_label(layer), layer.size);
        assembler.copy_blob(archive, layer, &what, layers, reporter.0)?;
    }
    Ok(())
}

/// The config, manifest and referrers after the layers, named `known` (else by the
/// manifest), and the archive renamed into place.
fn finish_artifact(
    assembler: Assembler,
    archive: &Archive,
    referrers: &[StoredReferrer],
    known: Option<&str>,
) -> Result<RepackReport> {
    let manifest = archive.manifest();
    let config = archive.config_bytes()?;
    let (manifest_blob, archive_bytes) = assembler.finish(
        &config,
        manifest,
        archive.manifest_bytes(),
        kept_name(manifest, known),
        referrers,
    )?;
    Ok(RepackReport {
        manifest_digest: manifest_blob.digest,
        archive_bytes,
    })
}
