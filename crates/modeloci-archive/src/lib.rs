//! Pack, inspect, verify, unpack and extend OCI archives of machine-learning models.
//!
//! An archive is a tar whose root is an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/`), plus `manifest.json` and `config.json` copies for users of the
//! reference implementation. Each file of the model is one layer: a tar of that one file,
//! compressed with gzip (the default), zstd, or not at all.
//!
//! - [`ModelPackager`] packs a directory ([`ModelPackager::package`]), builds manifests
//!   ([`ModelPackager::create_manifest`]) and adds files to archives
//!   ([`ModelPackager::add_layer`]).
//! - [`ModelUnpackager`] restores the model ([`ModelUnpackager::unpack`]) and verifies
//!   archives ([`ModelUnpackager::verify_layers`], [`ModelUnpackager::verify`]).
//! - [`Archive`] reads archives: this project's, the reference implementation's, and OCI
//!   layout directories.
//! - [`attach_referrers`] and [`remove_referrers`] store signatures (OCI referrers whose
//!   subject is the model manifest) in an archive; [`Archive::referrers`] reads them, and
//!   [`recorded_file_digests`] and [`ModelUnpackager::file_digests`] give the per-file
//!   digests a signature covers.
//!
//! # Guarantees
//!
//! - **Streaming.** Each input byte is read once while packing; blobs stream through the
//!   hasher and compressor and are never held whole in memory. Memory is bounded by buffers.
//! - **Reproducible.** The same directory and options give byte-identical archives, whatever
//!   the path, directory order, modification times, umask or clock.
//! - **Atomic.** Archives and unpacked directories appear at their final path complete, or
//!   not at all.
//!
//! # Security
//!
//! Archives are untrusted input. Digests are validated before they become paths; blobs are
//! checked against their digest and size before the files they hold reach the target; every
//! path is checked ([`check_relative_path`]), and links, devices, FIFOs, sparse files,
//! duplicate and case-colliding paths are refused with an error naming the entry. Tar
//! metadata entries are capped at 64 KiB. Verify refuses what unpack refuses
//! ([`Archive::check_layout`]), and [`layers_for`] is unpack's own choice of layers for
//! `--include` patterns.
//!
//! # Examples
//!
//! ```
//! use modeloci_archive::{ModelPackager, ModelUnpackager, PackOptions};
//! use modeloci_spec::OciConfig;
//!
//! let dir = tempfile::tempdir()?;
//! let model = dir.path().join("tiny");
//! std::fs::create_dir(&model)?;
//! std::fs::write(model.join("config.json"), br#"{"hidden_size": 8}"#)?;
//!
//! let config = OciConfig::new("tiny", "1.0.0", "pytorch", "transformer");
//! let archive = ModelPackager::new().package(&model, &config)?;
//! assert_eq!(archive, dir.path().join("tiny-1.0.0.tar"));
//!
//! let unpacker = ModelUnpackager::new();
//! assert!(unpacker.verify_layers(&archive)?.iter().all(|(_, ok)| *ok));
//! let restored = unpacker.unpack(&archive, &dir.path().join("out"))?;
//! assert_eq!(restored, config);
//! assert_eq!(std::fs::read(dir.path().join("out/config.json"))?, br#"{"hidden_size": 8}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

// Floors, lowest first: each module uses only modules listed before it (ARCHITECTURE.md;
// checked by `tests/it/tidy.rs`). Shared rules and types; how outputs land and the tar
// format; codecs and options; what the weights say and the artifact profiles; reading;
// writing, which reads too (add, repack).
mod atomic;
mod codec;
mod entry_policy;
mod error;
mod facts;
mod glob;
mod options;
mod profile;
mod progress;
mod read;
mod source;
mod tarfile;
mod write;

pub use atomic::lock::TargetLock;
pub use atomic::space::{TAR_SLACK, available_space, ensure_space, unpack_need};
pub use entry_policy::{MAX_METADATA_SIZE, PathSet, Refusal, check_relative_path};
pub use error::{Error, Result};
pub use facts::metadata::ModelFacts;
pub use glob::glob_match;
pub use options::{
    AddOptions, CheckError, CheckFn, Compression, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, Format,
    PackOptions, Symlinks, UnpackCheck, UnpackOptions, rfc3339,
};
pub use progress::{FileGuard, InFlight, Progress, ProgressHandle, blob_label};
pub use read::archive::{Archive, ArchiveFormat, MAX_DOCUMENT_SIZE};
pub use read::referrers::{MAX_REFERRER_BLOB_SIZE, MAX_REFERRERS, Referrer};
pub use read::unpack::{
    BlobOpener, FileDigest, ModelUnpackager, UnpackReport, UnpackedFile, layers_for,
    recorded_file_digests,
};
pub use read::verify::{
    BlobCheck, BlobStatus, CopyCheck, VerifyReport, verify, verify_with_progress,
};
pub use write::add::AddReport;
pub use write::assemble::{RepackReport, repack, repack_with_progress};
pub use write::index::{DEFAULT_TAG, index_json, ref_name};
pub use write::pack::{ModelPackager, PackReport, PackedArtifact};
pub use write::referrers::{
    NewReferrer, ReferrersReport, attach_referrers, attach_referrers_for_files, remove_referrers,
};
pub use write::sink::BlobSink;
pub use write::walk::IGNORE_FILE;
