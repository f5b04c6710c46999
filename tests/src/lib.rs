//! Support for modeloci's cross-crate tests, shared with `cargo xtask fixtures`:
//!
//! - [`fixtures`]: the bundled tiny model and the golden archives built from it;
//! - [`reference`](mod@reference): archives laid out as the reference implementation (Python) writes them;
//! - [`gguf`]: small GGUF files as llama.cpp writes them;
//! - [`layout`]: artifacts laid out as other tools (or attackers) lay them out;
//! - [`rawtar`]: a tar writer that writes whatever it is told, for hostile archives;
//! - [`registry`]: a real OCI registry (Debian's `docker-registry`) on 127.0.0.1;
//! - [`proxy`]: an HTTP proxy in front of it that demands bearer tokens or injects faults;
//! - [`shaping_proxy`]: a TCP proxy that adds a delay each way and caps the rate, for benchmarks;
//! - [`tls`]: a private CA made with openssl, and the certificates TLS tests need;
//! - [`forward_proxy`]: a `CONNECT` proxy that records what it was asked;
//! - [`fake_registry`]: a scripted in-memory registry that lies about uploads and downloads;
//! - [`token_server`]: the real registry demanding bearer tokens from a token server of ours;
//! - [`oms`]: the real `model_signing` 1.1.1 (OpenSSF model signing) and `openssl` keys;
//! - [`only_entry`]: the check that work left nothing beside its target.
#![allow(missing_docs, clippy::missing_panics_doc)]

pub mod fake_registry;
pub mod fixtures;
pub mod forward_proxy;
pub mod fuzz;
pub mod gguf;
pub mod layout;
pub mod oms;
pub mod proxy;
pub mod rawtar;
pub mod reference;
pub mod registry;
pub mod shaping_proxy;
pub mod tls;
pub mod token_server;

/// Asserts that `dir` holds `name` and nothing else: whatever ran there, failed or not, left
/// nothing behind (no temporary, no staging directory, no partial output).
///
/// # Panics
///
/// When `dir` holds anything else, or cannot be listed.
pub fn only_entry(dir: &std::path::Path, name: &str) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, [name], "something was left beside {name}");
}
