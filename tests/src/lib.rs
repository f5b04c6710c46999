//! Support for modeloci's cross-crate tests, shared with `cargo xtask fixtures`:
//!
//! - [`fixtures`]: the bundled tiny model and the golden archives built from it;
//! - [`reference`](mod@reference): archives laid out as the reference implementation (Python) writes them;
//! - [`rawtar`]: a tar writer that writes whatever it is told, for hostile archives.
#![allow(missing_docs, clippy::missing_panics_doc)]

pub mod fixtures;
pub mod rawtar;
pub mod reference;
