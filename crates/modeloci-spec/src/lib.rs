//! Types for OCI image layouts that hold machine-learning models, as modeloci writes them.
//!
//! This crate is what a downstream project pulls to read or write modeloci's JSON without the
//! rest of the tool: it depends on serde, serde_json and thiserror only, and does no I/O.
//!
//! - [`Digest`] and [`MediaType`]: validated value types; serde goes through their parsers.
//! - [`Descriptor`], [`OciManifest`], [`OciIndex`], [`ImageLayout`]: the OCI image-spec
//!   documents, written in canonical camelCase with sorted annotations and optional fields
//!   left out, read leniently (unknown fields ignored, the reference implementation's
//!   snake_case keys accepted).
//! - [`OciConfig`] and [`ModelLayer`]: the reference implementation's model types.
//! - [`ModelPackConfig`]: the CNCF ModelPack model config.
//! - [`annotations`]: the annotation keys.
//!
//! # Examples
//!
//! Reading a manifest as the reference implementation writes it:
//!
//! ```
//! use modeloci_spec::{MediaType, OciManifest};
//!
//! let json = br#"{"schema_version": 2, "media_type": "application/vnd.oci.image.manifest.v1+json",
//!   "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
//!              "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
//!              "size": 2},
//!   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
//!               "digest": "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
//!               "size": 4456789,
//!               "annotations": {"org.opencontainers.image.title": "pytorch_model.bin"}}]}"#;
//! let manifest = OciManifest::from_slice(json)?;
//! assert_eq!(manifest.layers[0].title(), Some("pytorch_model.bin"));
//! assert_eq!(manifest.config.media_type, MediaType::ImageConfig);
//! // Written back in OCI's spelling.
//! assert!(manifest.to_json().starts_with(br#"{"schemaVersion":2,"#));
//! # Ok::<(), modeloci_spec::Error>(())
//! ```
#![deny(missing_docs)]

pub mod annotations;
mod config;
mod descriptor;
mod digest;
mod error;
mod index;
mod layer;
mod layout;
mod manifest;
mod media_type;
mod modelpack;
pub mod tag;
pub mod text;

pub use config::OciConfig;
pub use descriptor::{Descriptor, Platform};
pub use digest::{Algorithm, Digest};
pub use error::Error;
pub use index::OciIndex;
pub use layer::ModelLayer;
pub use layout::ImageLayout;
pub use manifest::OciManifest;
pub use media_type::{LayerEncoding, MediaType, ModelPackKind};
pub use modelpack::{
    ModelFs, ModelPackConfig, ModelPackDescriptor, ModelPackModelConfig, param_size,
};
