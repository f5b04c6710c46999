//! The archive operations: the reference's `package`, `create_manifest`, `add_layer`,
//! `unpack` and `verify_layers`, and `verify` and `inspect` of an archive. Each takes and
//! returns JSON text (the Python side turns it into its models) and runs with the
//! interpreter released.

use std::path::PathBuf;

use modeloci_archive::{
    AddOptions, Archive, Compression, Format, ModelPackager, ModelUnpackager, PackOptions,
    Symlinks, UnpackOptions,
};
use modeloci_spec::OciConfig;
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::errors::Failure;
use crate::json::{self, parse};
use crate::progress::PyProgress;

/// `ModelPackager`'s keyword arguments, as the Python side passes them (a dict).
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct PackArgs {
    output: Option<PathBuf>,
    compression: Option<String>,
    level: Option<i32>,
    format: Option<String>,
    exclude: Vec<String>,
    symlinks: Option<String>,
    tag: Option<String>,
    revision: Option<String>,
    cache: bool,
}

/// The packing options of the keyword arguments, as `modeloci pack` reads its flags.
fn pack_options(args: PackArgs) -> Result<PackOptions, Failure> {
    let mut options = PackOptions::default()
        .with_exclude(args.exclude)
        .with_digest_cache(
            args.cache
                .then(modeloci_registry::environment::digest_cache_path)
                .flatten(),
        );
    if let Some(format) = args.format {
        options = options.with_format(format.parse::<Format>()?);
    }
    if let Some(symlinks) = args.symlinks {
        options = options.with_symlinks(symlinks.parse::<Symlinks>()?);
    }
    if let Some(c) = args.compression {
        options = options
            .with_compression(c.parse::<Compression>()?)
            .with_raw_weights(false);
    }
    if let Some(level) = args.level {
        options = options.with_level(level);
    }
    if let Some(output) = args.output {
        options = options.with_output(output);
    }
    if let Some(tag) = args.tag {
        options = options.with_tag(tag);
    }
    if let Some(revision) = args.revision {
        options = options.with_revision(revision);
    }
    if let Some(epoch) = modeloci_registry::environment::source_date_epoch()? {
        options = options.with_source_date_epoch(epoch);
    }
    Ok(options)
}

/// Packs `model_dir` with the config `config` (JSON) and the options `options`; the report.
#[pyfunction]
#[pyo3(signature = (model_dir, config, options, *, progress=None))]
pub(crate) fn package(
    py: Python<'_>,
    model_dir: PathBuf,
    config: &str,
    options: PackArgs,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let config: OciConfig = parse(config)?;
    let options = pack_options(options)?;
    let progress = PyProgress::new(progress);
    let options = options.with_progress(PyProgress::handle(&progress));
    let report = py.detach(|| ModelPackager::with_options(options).pack(&model_dir, &config));
    PyProgress::take_error(&progress)?;
    let report = report.map_err(Failure::from)?;
    Ok(json!({
        "path": report.path,
        "manifest_digest": report.manifest_digest,
        "layers": report.layers,
        "files": report.files,
        "input_bytes": report.input_bytes,
        "archive_bytes": report.archive_bytes,
        "bytes_read": report.bytes_read,
        "reused": report.reused,
        "facts": {
            "parameters": report.facts.parameters,
            "dtype": report.facts.dtype,
            "format": report.facts.format,
            "quantization": report.facts.quantization,
            "architecture": report.facts.architecture,
        },
        "warnings": report.warnings,
        "notes": report.notes,
    })
    .to_string())
}

/// The config descriptor of a manifest for `config` (JSON): the config's JSON as the
/// archive stores it, its digest and size, and modeloci's config media type.
#[pyfunction]
pub(crate) fn config_descriptor(config: &str) -> PyResult<String> {
    let config: OciConfig = parse(config)?;
    json::to_string(&ModelPackager::new().create_manifest(&config, &[]).config)
}

/// Adds `file` to the archive (at `path` in the model, by default its name); the report.
#[pyfunction]
#[pyo3(signature = (archive, file, *, path=None, force=false, compression=None))]
pub(crate) fn add_layer(
    py: Python<'_>,
    archive: PathBuf,
    file: PathBuf,
    path: Option<String>,
    force: bool,
    compression: Option<&str>,
) -> PyResult<String> {
    let mut options = AddOptions::default().with_force(force);
    if let Some(path) = path {
        options = options.with_path(path);
    }
    if let Some(c) = compression {
        options = options.with_compression(c.parse::<Compression>().map_err(Failure::from)?);
    }
    let report = py
        .detach(|| ModelPackager::new().add(&archive, &file, &options))
        .map_err(Failure::from)?;
    Ok(json!({
        "path": report.path,
        "layer": report.layer,
        "replaced": report.replaced,
        "manifest_digest": report.manifest_digest,
    })
    .to_string())
}

/// Restores the model files of `archive` into `output_dir`; the report.
/// With `model_config`, an archive whose config is not a model config is refused before
/// anything is written (the reference's `unpack` returns that config).
#[pyfunction]
#[pyo3(signature = (archive, output_dir, *, include=Vec::new(), force=false, layout=false,
    model_config=false, progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn unpack(
    py: Python<'_>,
    archive: PathBuf,
    output_dir: PathBuf,
    include: Vec<String>,
    force: bool,
    layout: bool,
    model_config: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let progress = PyProgress::new(progress);
    let options = UnpackOptions::default()
        .with_include(include)
        .with_force(force)
        .with_layout(layout)
        .with_progress(PyProgress::handle(&progress));
    let report = py.detach(|| -> Result<_, Failure> {
        let opened = Archive::open(&archive)?;
        if model_config {
            opened.config()?;
        }
        Ok(ModelUnpackager::with_options(options).extract_from(&opened, &output_dir)?)
    });
    PyProgress::take_error(&progress)?;
    let report = report?;
    Ok(json!({
        "directory": report.output,
        "manifest_digest": report.manifest_digest,
        "config": report.config,
        "files": json::files(&report.files),
        "layout": report.layout,
    })
    .to_string())
}

/// `(digest, valid)` for every layer, as `ModelUnpackager.verify_layers` returns them.
#[pyfunction]
pub(crate) fn verify_layers(py: Python<'_>, archive: PathBuf) -> PyResult<Vec<(String, bool)>> {
    let checks = py
        .detach(|| ModelUnpackager::new().verify_layers(&archive))
        .map_err(Failure::from)?;
    Ok(checks
        .into_iter()
        .map(|(d, ok)| (d.to_string(), ok))
        .collect())
}

/// Every blob of the archive against its digest and size, and with `keys` (PEM files) its
/// signature; the report.
#[pyfunction]
#[pyo3(signature = (archive, *, keys=Vec::new(), progress=None))]
pub(crate) fn verify_archive(
    py: Python<'_>,
    archive: PathBuf,
    keys: Vec<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let keys = crate::keys::load(&keys)?;
    let progress = PyProgress::new(progress);
    let handle = PyProgress::handle(&progress);
    let done = py.detach(|| -> Result<Value, Failure> {
        let opened = Archive::open(&archive)?;
        let threads = PackOptions::default().threads;
        let report = modeloci_archive::verify_with_progress(&opened, threads, handle.as_ref())?;
        let signature = json::signature_when(report.is_ok(), &keys, || {
            modeloci_sign::verify_archive(&opened, &keys, &Default::default())
        })?;
        Ok(json::verify_report(&report, signature))
    });
    PyProgress::take_error(&progress)?;
    Ok(done?.to_string())
}

/// The archive's manifest, config and layers, read without extracting anything.
#[pyfunction]
pub(crate) fn inspect_archive(py: Python<'_>, archive: PathBuf) -> PyResult<String> {
    let done = py.detach(|| -> Result<Value, Failure> {
        let opened = Archive::open(&archive)?;
        let config: Value = serde_json::from_slice(&opened.config_bytes()?)
            .map_err(|e| Failure::Python(json::value_error(&e)))?;
        Ok(json!({
            "source": archive,
            "manifest_digest": opened.manifest_digest(),
            "manifest": opened.manifest(),
            "config": config,
            "reference_name": opened.reference_name(),
            "index": opened.index(),
        }))
    });
    Ok(done?.to_string())
}
