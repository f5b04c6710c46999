//! A layer in every JSON document (pack, add, inspect, verify, in an archive or a registry):
//! `path` (the model path of its file, `null` for a layer without one), `mediaType`,
//! `digest`, `size`; where it was checked, `status` (and what was found instead). And a file
//! unpack or pull wrote: `path`, `size`, `mode`.

use modeloci_archive::{BlobCheck, BlobStatus, UnpackedFile};
use modeloci_spec::{Descriptor, MediaType, ModelLayer};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LayerJson<'a> {
    /// Absent for the config (a blob, not a file), `null` for a layer without a title.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<Option<&'a str>>,
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    check: Option<CheckJson<'a>>,
}

/// What a check found: `ok`, `missing`, `size-mismatch` (with `actualSize`),
/// `digest-mismatch` (with `actualDigest`), `refused` or `failed`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckJson<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    actual_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actual_digest: Option<&'a str>,
}

impl<'a> CheckJson<'a> {
    fn new(status: &'a BlobStatus) -> Self {
        let (status, actual_size, actual_digest) = match status {
            BlobStatus::Ok => ("ok", None, None),
            BlobStatus::Missing => ("missing", None, None),
            BlobStatus::SizeMismatch { actual } => ("size-mismatch", Some(*actual), None),
            BlobStatus::DigestMismatch { actual } => {
                ("digest-mismatch", None, Some(actual.as_str()))
            }
            BlobStatus::Refused { .. } => ("refused", None, None),
            _ => ("failed", None, None),
        };
        Self {
            status,
            actual_size,
            actual_digest,
        }
    }
}

impl<'a> LayerJson<'a> {
    /// A layer as a manifest describes it.
    pub(super) fn of(layer: &'a Descriptor) -> Self {
        Self::blob(
            Some(layer.title()),
            &layer.media_type,
            &layer.digest,
            layer.size,
        )
    }

    /// A layer pack or add wrote.
    pub(super) fn written(layer: &'a ModelLayer) -> Self {
        Self::blob(
            Some(layer.title()),
            &layer.media_type,
            &layer.digest,
            layer.size,
        )
    }

    /// The check of a layer in an archive.
    pub(super) fn checked(check: &'a BlobCheck) -> Self {
        Self::blob(
            Some(check.path.as_deref()),
            &check.media_type,
            &check.digest,
            check.size,
        )
        .with_status(&check.status)
    }

    /// The check of an archive's config.
    pub(super) fn checked_config(check: &'a BlobCheck) -> Self {
        Self::blob(None, &check.media_type, &check.digest, check.size).with_status(&check.status)
    }

    /// The check of a blob in a registry: a layer (`path` given) or the config (`None`).
    pub(super) fn checked_remote(
        path: Option<Option<&'a str>>,
        descriptor: &'a Descriptor,
        status: &'a BlobStatus,
    ) -> Self {
        Self::blob(
            path,
            &descriptor.media_type,
            &descriptor.digest,
            descriptor.size,
        )
        .with_status(status)
    }

    fn blob(
        path: Option<Option<&'a str>>,
        media_type: &'a MediaType,
        digest: &'a modeloci_spec::Digest,
        size: u64,
    ) -> Self {
        Self {
            path,
            media_type: media_type.as_str(),
            digest: digest.as_str(),
            size,
            check: None,
        }
    }

    fn with_status(mut self, status: &'a BlobStatus) -> Self {
        self.check = Some(CheckJson::new(status));
        self
    }
}

/// The layers pack or add wrote.
pub(super) fn written(layers: &[ModelLayer]) -> Vec<LayerJson<'_>> {
    layers.iter().map(LayerJson::written).collect()
}

/// A file unpack or pull wrote.
#[derive(Serialize)]
pub(super) struct FileJson<'a> {
    path: &'a str,
    size: u64,
    mode: &'static str,
}

/// The files unpack or pull wrote.
pub(super) fn files_json(files: &[UnpackedFile]) -> Vec<FileJson<'_>> {
    files
        .iter()
        .map(|f| FileJson {
            path: &f.path,
            size: f.size,
            mode: if f.executable { "0755" } else { "0644" },
        })
        .collect()
}
