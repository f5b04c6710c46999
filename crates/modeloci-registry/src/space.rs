//! Free space for a pull, asked before its first blob request: the blobs still to come
//! (those not already in the staging directory, less what a partial download holds), and
//! what delivering them writes beside the staging directory, on the same filesystem: the
//! archive a repack writes (every blob, and a tar header each), or the files an unpack
//! writes ([`modeloci_archive::unpack_need`]). Each a lower bound, as
//! [`modeloci_archive::ensure_space`] documents; a pull that does not fit is refused with
//! [`modeloci_archive::Error::NoSpace`] before anything is written.

use std::path::Path;

use modeloci_spec::{Descriptor, OciManifest};

use crate::Result;

/// One tar header: what each blob costs in the archive besides its bytes.
const TAR_HEADER: u64 = 512;

/// Refuses a pull into `target` of `wanted` (the config, then the layers) that certainly
/// does not fit, `staging` holding what earlier runs brought. `unpack`: the manifest when
/// the target is a directory the layers are unpacked into; `None` for an archive.
pub(crate) fn check_pull(
    target: &Path,
    staging: &Path,
    wanted: &[Descriptor],
    unpack: Option<&OciManifest>,
) -> Result<()> {
    let to_fetch = wanted.iter().fold(0u64, |total, d| {
        total.saturating_add(still_to_fetch(staging, d))
    });
    let delivered = if let Some(manifest) = unpack {
        modeloci_archive::unpack_need(manifest, wanted.get(1..).unwrap_or_default(), false)
    } else {
        wanted.iter().fold(0u64, |total, d| {
            total.saturating_add(d.size).saturating_add(TAR_HEADER)
        })
    };
    Ok(modeloci_archive::ensure_space(
        target,
        to_fetch.saturating_add(delivered),
    )?)
}

/// The bytes of `blob` not yet in the staging directory: none when it is kept there at its
/// size, else its size less a partial download's.
fn still_to_fetch(staging: &Path, blob: &Descriptor) -> u64 {
    let path = staging.join(blob.digest.blob_path());
    let len = |p: &Path| {
        p.symlink_metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    };
    if len(&path) == Some(blob.size) {
        return 0;
    }
    let partial = path.with_file_name(format!(
        "{}.partial",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    blob.size
        .saturating_sub(len(&partial).unwrap_or(0).min(blob.size))
}
