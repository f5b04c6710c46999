//! The OCI distribution API, client side, for modeloci archives.
//!
//! - [`push`]: every blob the registry lacks (HEAD first, cross-repository mounts, uploads
//!   streamed from the archive file, in one PUT or in resumable chunks, several at once, with
//!   retries), then the manifest with its bytes as stored, then the tags.
//! - [`pack_and_push`]: a model directory packed straight into a registry, each layer blob
//!   uploaded as it is compressed (no archive, no copy on disk), the artifact `pack` writes.
//! - [`pull`]: the manifest (capped, digest checked) and its blobs (each verified before it is
//!   kept; an interrupted pull resumes with HTTP Range) into an archive, byte-identical to the
//!   one pushed, or straight into a model directory, optionally only some files.
//! - [`copy`]: a manifest (or an index and its manifests) and its referrers from one
//!   repository or registry to another, blob by blob, mounted or streamed and checked on
//!   the way, with no local copy.
//! - [`referrers`], [`fetch_referrer`], [`attach`]: the manifests that refer to a manifest
//!   (signatures, SBOMs), through the referrers API or the `sha256-<hex>` tag schema;
//!   [`push`] attaches those it is given, [`pull`] brings them into the archive.
//! - [`inspect`], [`list_tags`], [`tag`]: a manifest and its config, a repository's tags
//!   (page by page), a new tag for a manifest; no layer is read.
//! - [`Client`]: anonymous, basic or bearer-token auth, answering the registry's
//!   `WWW-Authenticate` challenge; plain HTTP for local hosts only unless asked; HTTPS with
//!   rustls and the system's roots.
//! - [`DockerConfig`]: credentials where `docker login` keeps them, so both tools share them.
//!
//! I/O is blocking, on threads: two to four large streams need no async runtime.
//!
//! # Examples
//!
//! ```no_run
//! use modeloci_archive::Archive;
//! use modeloci_registry::{Client, ClientOptions, DockerConfig, PushOptions, Reference, push};
//!
//! let reference: Reference = "localhost:5000/models/bert:1.0.0".parse()?;
//! let credentials = DockerConfig::load(&DockerConfig::default_path().unwrap())?.credentials(&reference.registry)?;
//! let client = Client::new(reference.api_host(), ClientOptions::default().with_credentials(credentials));
//! let archive = Archive::open("bert-base-1.0.0.tar".as_ref())?;
//! let report = push(&client, &archive, &reference, &PushOptions::default())?;
//! println!("pushed {}", report.manifest_digest);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod auth;
mod cache;
mod client;
mod copy;
pub mod environment;
mod error;
mod naming;
mod pull;
mod pull_stream;
mod push;
mod push_stream;
mod ranged;
mod reference;
mod referrers;
mod remote;
mod space;
mod staging;

pub use auth::{Credentials, DockerConfig, Erased};
pub use client::{Client, ClientOptions, MAX_MANIFEST_SIZE, MAX_TLS_FILE, TlsOptions, is_local};
pub use copy::{CopyOptions, CopyReport, copy};
pub use error::{Error, Result, TlsFailure};
pub use pull::{
    CheckError, CheckFn, MAX_REFERRER_BLOB, PullCheck, PullOptions, PullReport, PullTarget,
    RANGED_ABOVE, pull, staging_dir,
};
pub use push::{BlobOutcome, ChunkFallback, MIN_CHUNK_SIZE, PushOptions, PushReport, push};
pub use push_stream::{PackPushOptions, PackPushReport, pack_and_push};
pub use reference::{Reference, Scheme};
pub use referrers::{FetchedReferrer, attach, fetch_listed_referrer, fetch_referrer, referrers};
pub use remote::{
    Inspected, MAX_CONFIG_SIZE, MAX_TAG_BYTES, RemoteBlobCheck, RemoteInspect, RemoteVerifyReport,
    Resolved, TagsOptions, inspect, is_valid_tag, list_tags, resolve, tag, verify,
};
