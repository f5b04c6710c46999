//! `modeloci._native`: the native module of the `modeloci` Python package. The package's
//! Python modules (`python/modeloci/`) hold the reference's classes and Pydantic models and
//! call these functions, which run modeloci's Rust crates with the interpreter released.
//!
//! Documents cross as JSON text, in both directions: the Pydantic models stay the one
//! definition of the Python types, and the native side is a thin layer over the libraries.

mod archive;
mod errors;
mod json;
mod keys;
mod progress;
mod registry;

use pyo3::prelude::*;

/// `sha256:<hex>` of a file, streamed.
#[pyfunction]
fn sha256_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<String> {
    let measured = py
        .detach(|| modeloci_digest::hash_file(&path))
        .map_err(errors::Failure::from)?;
    Ok(measured.digest.to_string())
}

/// `sha256:<hex>` of bytes.
#[pyfunction]
fn sha256_bytes(py: Python<'_>, data: &[u8]) -> String {
    py.detach(|| {
        modeloci_digest::Hasher::digest_bytes(data)
            .digest
            .to_string()
    })
}

/// Whether `text` parses as a registry reference (`host[:port]/repo[:tag][@digest]`).
#[pyfunction]
fn is_reference(text: &str) -> bool {
    text.parse::<modeloci_registry::Reference>().is_ok()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(is_reference, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_file, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(archive::package, m)?)?;
    m.add_function(wrap_pyfunction!(archive::config_descriptor, m)?)?;
    m.add_function(wrap_pyfunction!(archive::add_layer, m)?)?;
    m.add_function(wrap_pyfunction!(archive::unpack, m)?)?;
    m.add_function(wrap_pyfunction!(archive::verify_layers, m)?)?;
    m.add_function(wrap_pyfunction!(archive::verify_archive, m)?)?;
    m.add_function(wrap_pyfunction!(archive::inspect_archive, m)?)?;
    m.add_function(wrap_pyfunction!(registry::pull, m)?)?;
    m.add_function(wrap_pyfunction!(registry::push, m)?)?;
    m.add_function(wrap_pyfunction!(registry::verify_remote, m)?)?;
    m.add_function(wrap_pyfunction!(registry::inspect_remote, m)?)?;
    Ok(())
}
