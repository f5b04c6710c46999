//! Free space, asked of the filesystem before a pack, unpack or pull writes anything.
//!
//! Each check compares the bytes available to this user on the filesystem of the target
//! (its nearest existing ancestor: the target itself may not exist yet) with a *lower
//! bound* of what the operation will write, and refuses with [`Error::NoSpace`] when the
//! bound alone does not fit. A lower bound never refuses what would fit; what it misses
//! (compression that does worse than the bound assumes, metadata) still ends in the usual
//! out-of-space error while writing, and nothing is left at the target either way.
//!
//! - **Pack, `none`:** the sum of the file sizes plus one 512-byte tar header per file:
//!   an uncompressed archive holds every byte of every file.
//! - **Pack, compressed (`gzip`, `zstd`, `auto`):** compression usually makes the archive
//!   smaller than its files, by an amount known only once it is done (a file of zeros
//!   shrinks to almost nothing), so the sum of the file sizes is an upper bound and not
//!   used; the bound is the tar headers alone.
//! - **Unpack:** per layer, the file size ModelPack file metadata records
//!   (`org.cncf.model.file.metadata+json`), else what the blob proves: a raw blob is the
//!   file; a one-file tar holds its file less at most [`TAR_SLACK`] of headers and padding,
//!   and compressed, at least 8/9 of the blob (no honest encoder expands by more than
//!   deflate's fixed code, 9 bits a byte); a tree layer's files, at least nothing. With
//!   `layout`, the blobs themselves.

use std::path::{Path, PathBuf};

use modeloci_spec::{Descriptor, LayerEncoding, MediaType, OciManifest, annotations};

use crate::error::{Error, Result};
use crate::source::SourceFile;

/// What a one-file layer tar may hold besides its file: a header, a PAX header of up to
/// 64 KiB with its own header, padding to 512 bytes, the end blocks, padding of the last
/// record to 10 KiB.
pub const TAR_SLACK: u64 = 512 + (64 << 10) + 512 + 511 + 1024 + 10240;

/// One tar header: what every file of an archive costs at least, compressed or not.
const TAR_HEADER: u64 = 512;

/// The bytes available to this user on the filesystem of `target`, and the path asked
/// (`target`'s nearest existing ancestor).
///
/// # Errors
///
/// [`Error::Io`] naming the path when the filesystem cannot be asked.
pub fn available_space(target: &Path) -> Result<(PathBuf, u64)> {
    let existing = nearest_existing(target);
    let stat = rustix::fs::statvfs(&existing).map_err(|e| Error::Io {
        path: existing.clone(),
        source: e.into(),
    })?;
    Ok((existing, stat.f_bavail.saturating_mul(stat.f_frsize.max(1))))
}

/// Refuses with [`Error::NoSpace`] when the filesystem of `target` has fewer than
/// `needed` bytes available.
///
/// # Errors
///
/// [`Error::NoSpace`], or [`Error::Io`] as [`available_space`].
pub fn ensure_space(target: &Path, needed: u64) -> Result<()> {
    let (_, available) = available_space(target)?;
    if needed > available {
        return Err(Error::NoSpace {
            path: target.to_owned(),
            needed,
            available,
        });
    }
    Ok(())
}

/// Refuses a pack of `files` to `output` that certainly does not fit ([`pack_need`]).
pub(crate) fn check_pack(output: &Path, files: &[SourceFile], uncompressed: bool) -> Result<()> {
    ensure_space(output, pack_need(files, uncompressed))
}

/// Refuses an unpack into `output_dir` that certainly does not fit ([`unpack_need`]).
pub(crate) fn check_unpack(
    output_dir: &Path,
    manifest: &OciManifest,
    layers: &[Descriptor],
    layout: bool,
) -> Result<()> {
    ensure_space(output_dir, unpack_need(manifest, layers, layout))
}

/// The nearest ancestor of `path` (itself included) that exists; `.` for a relative path
/// none of whose ancestors do.
fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.symlink_metadata().is_ok())
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

/// What packing `files` certainly writes: their bytes when `uncompressed`, and a header
/// each.
pub(crate) fn pack_need(files: &[SourceFile], uncompressed: bool) -> u64 {
    files.iter().fold(0u64, |total, f| {
        let content = if uncompressed { f.size } else { 0 };
        total.saturating_add(content).saturating_add(TAR_HEADER)
    })
}

/// What unpacking `layers` of `manifest` certainly writes (see the module's rules); with
/// `layout`, every blob of the manifest instead.
pub fn unpack_need(manifest: &OciManifest, layers: &[Descriptor], layout: bool) -> u64 {
    if layout {
        let mut seen = Vec::new();
        return std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .filter(|d| {
                let new = !seen.contains(&&d.digest);
                seen.push(&d.digest);
                new
            })
            .fold(0u64, |total, d| total.saturating_add(d.size));
    }
    let strict = matches!(
        manifest.config.media_type,
        MediaType::ModelociConfig | MediaType::ImageConfig
    );
    layers.iter().fold(0u64, |total, layer| {
        total.saturating_add(layer_need(layer, strict))
    })
}

/// The bytes of files one layer certainly holds. `strict`: a tar layer holds one file (this
/// tool's and the reference implementation's layers), else it is a tree.
fn layer_need(layer: &Descriptor, strict: bool) -> u64 {
    if let Some(size) = recorded_size(layer) {
        return size;
    }
    let named = layer.title().is_some()
        || layer
            .annotations
            .contains_key(annotations::MODELPACK_FILEPATH);
    match layer.media_type.layer_encoding() {
        Some(LayerEncoding::Raw) => layer.size,
        None if !strict && named => layer.size,
        Some(LayerEncoding::Tar) if strict => layer.size.saturating_sub(TAR_SLACK),
        Some(LayerEncoding::TarGzip | LayerEncoding::TarZstd) if strict => {
            (layer.size / 9 * 8).saturating_sub(TAR_SLACK)
        }
        _ => 0,
    }
}

/// The file size ModelPack file metadata records for a layer.
fn recorded_size(layer: &Descriptor) -> Option<u64> {
    let metadata = layer
        .annotations
        .get(annotations::MODELPACK_FILE_METADATA)?;
    serde_json::from_str::<serde_json::Value>(metadata)
        .ok()?
        .get("size")?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_existing_ancestor_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c.tar");
        assert_eq!(nearest_existing(&deep), dir.path());
        assert_eq!(nearest_existing(Path::new("no-such-dir/x")), Path::new("."));
        let (asked, available) = available_space(&deep).unwrap();
        assert_eq!(asked, dir.path());
        assert!(available > 0);
    }

    #[test]
    fn more_than_the_filesystem_has_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure_space(&dir.path().join("x"), u64::MAX).unwrap_err();
        match err {
            Error::NoSpace {
                needed, available, ..
            } => {
                assert_eq!(needed, u64::MAX);
                assert!(available < u64::MAX);
            }
            other => panic!("{other}"),
        }
        ensure_space(&dir.path().join("x"), 1).unwrap();
    }

    fn source(size: u64) -> SourceFile {
        SourceFile {
            rel: "w.bin".into(),
            path: "w.bin".into(),
            size,
            executable: false,
        }
    }

    #[test]
    fn a_compressed_pack_counts_only_its_headers() {
        let files = [source(1000), source(24)];
        assert_eq!(pack_need(&files, true), 1024 + 1024);
        assert_eq!(pack_need(&files, false), 1024);
    }
}
