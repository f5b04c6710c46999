//! Unpacking a model whose layer blobs are read from anywhere (a registry's answers) rather
//! than from an archive: the same plan, the same policy and checks, each blob verified
//! against its descriptor as it streams through the layer's decoder and tar walker into the
//! staging directory, and the same publish. No copy of a blob is kept.

use std::io::Read;
use std::path::Path;

use modeloci_spec::{Descriptor, OciManifest};

use super::layer::{Out, extract_layer_from};
use super::plan::plan_for;
use super::target::{Target, as_written_to};
use super::{ModelUnpackager, UnpackedFile};
use crate::error::Result;

/// Opens the blob a layer descriptor names, from its first byte; the unpacker verifies what
/// it reads against the descriptor. An error opening it ends the unpack, as does one
/// reading it.
pub type BlobOpener<'a> = dyn Fn(&Descriptor) -> std::io::Result<Box<dyn Read + 'a>> + Sync + 'a;

impl ModelUnpackager {
    /// Restores the model `manifest` describes into `output_dir`, reading each selected
    /// layer's blob once from `open`: the files are written into a staging directory beside
    /// the target as the blob streams (every blob checked against its digest and size on
    /// the way), the options' check runs on them, and they are published only once every
    /// blob verified. Errors reading a blob that are no mismatch are I/O errors naming
    /// `source` (what the blobs come from, for messages).
    ///
    /// # Errors
    ///
    /// As [`Self::extract_from`]: nothing reaches the target on any error, and the staging
    /// directory is removed.
    pub fn extract_streamed(
        &self,
        manifest: &OciManifest,
        open: &BlobOpener<'_>,
        source: &Path,
        output_dir: &Path,
    ) -> Result<Vec<UnpackedFile>> {
        let (plan, set) = plan_for(manifest, &self.options.include)?;
        let target = Target::prepare(output_dir, self.options.force)?;
        target.check_conflicts(plan.iter().filter_map(|p| p.path.as_deref()))?;
        let staging = target.staging()?;
        let out = Out::Stage(staging.path());
        let files = self
            .extract_layers(&plan, set, |planned, set, include, progress| {
                let reader = open(planned.descriptor).map_err(crate::error::Error::io(source))?;
                extract_layer_from(reader, source, planned, out, set, include, progress)
            })
            .map_err(|e| as_written_to(e, staging.path(), output_dir))?;
        self.check(&files)?;
        target.publish(staging, &files)?;
        Ok(files)
    }
}
