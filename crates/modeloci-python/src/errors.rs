//! Library errors as Python exceptions: one class per error kind, defined in
//! `modeloci/errors.py`, raised with the library's message and its facts as attributes.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Why a native call failed: a library error, or an exception already raised in Python.
#[derive(Debug)]
pub(crate) enum Failure {
    Archive(modeloci_archive::Error),
    Registry(modeloci_registry::Error),
    Sign(modeloci_sign::Error),
    Digest(modeloci_digest::Error),
    Python(PyErr),
}

impl From<modeloci_digest::Error> for Failure {
    fn from(e: modeloci_digest::Error) -> Self {
        Self::Digest(e)
    }
}

impl From<modeloci_archive::Error> for Failure {
    fn from(e: modeloci_archive::Error) -> Self {
        Self::Archive(e)
    }
}

impl From<modeloci_registry::Error> for Failure {
    fn from(e: modeloci_registry::Error) -> Self {
        Self::Registry(e)
    }
}

impl From<modeloci_sign::Error> for Failure {
    fn from(e: modeloci_sign::Error) -> Self {
        Self::Sign(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Self::Python(e)
    }
}

/// A fact an exception carries, as Python sees it.
#[derive(Debug)]
pub(crate) enum Fact {
    Str(String),
    Int(u64),
    Bool(bool),
    Path(PathBuf),
    List(Vec<String>),
    None,
}

/// An exception to raise: its class in `modeloci.errors`, message and facts.
#[derive(Debug)]
pub(crate) struct Raised {
    pub(crate) class: &'static str,
    pub(crate) message: String,
    pub(crate) facts: Vec<(&'static str, Fact)>,
}

impl Raised {
    fn new(class: &'static str, message: impl ToString) -> Self {
        Self {
            class,
            message: message.to_string(),
            facts: Vec::new(),
        }
    }
}

fn archive(e: &modeloci_archive::Error) -> Raised {
    Raised::new("ModelociError", e)
}

fn registry(e: &modeloci_registry::Error) -> Raised {
    match e {
        modeloci_registry::Error::Archive(inner) => archive(inner),
        other => Raised::new("RegistryError", other),
    }
}

fn digest(e: &modeloci_digest::Error) -> Raised {
    Raised::new("ModelociError", e)
}

fn sign(e: &modeloci_sign::Error) -> Raised {
    Raised::new("SignatureError", e)
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> Self {
        let raised = match &failure {
            Failure::Python(_) => {
                let Failure::Python(e) = failure else {
                    unreachable!()
                };
                return e;
            }
            Failure::Archive(e) => archive(e),
            Failure::Registry(e) => registry(e),
            Failure::Sign(e) => sign(e),
            Failure::Digest(e) => digest(e),
        };
        Python::attach(|py| raise(py, raised).unwrap_or_else(|e| e))
    }
}

/// The exception `modeloci.errors._from_native` makes of `raised`.
fn raise(py: Python<'_>, raised: Raised) -> PyResult<PyErr> {
    let facts = PyDict::new(py);
    for (name, fact) in raised.facts {
        match fact {
            Fact::Str(s) => facts.set_item(name, s)?,
            Fact::Int(n) => facts.set_item(name, n)?,
            Fact::Bool(b) => facts.set_item(name, b)?,
            Fact::Path(p) => facts.set_item(name, p)?,
            Fact::List(l) => facts.set_item(name, l)?,
            Fact::None => facts.set_item(name, py.None())?,
        }
    }
    let exception = py
        .import("modeloci.errors")?
        .getattr("_from_native")?
        .call1((raised.class, raised.message, facts))?;
    Ok(PyErr::from_value(exception))
}
