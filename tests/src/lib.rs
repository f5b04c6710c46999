//! Support for modeloci's cross-crate tests, shared with `cargo xtask fixtures`:
//!
//! - [`fixtures`]: the bundled tiny model and the golden archives built from it;
//! - [`reference`](mod@reference): archives laid out as the reference implementation (Python) writes them;
//! - [`gguf`]: small GGUF files as llama.cpp writes them;
//! - [`layout`]: artifacts laid out as other tools (or attackers) lay them out;
//! - [`rawtar`]: a tar writer that writes whatever it is told, for hostile archives;
//! - [`registry`]: a real OCI registry (Debian's `docker-registry`) on 127.0.0.1;
//! - [`proxy`]: an HTTP proxy in front of it that demands bearer tokens or injects faults.
#![allow(missing_docs, clippy::missing_panics_doc)]

pub mod fixtures;
pub mod gguf;
pub mod layout;
pub mod proxy;
pub mod rawtar;
pub mod reference;
pub mod registry;
