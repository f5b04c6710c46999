//! The registry operations: `pull`, `push`, and `verify` and `inspect` of a model in a
//! registry. The client is made as `modeloci` makes it: credentials, CA file and the rest
//! from the keyword arguments, else from the places the command reads
//! (`modeloci_registry::environment`).

use std::path::PathBuf;
use std::time::Duration;

use modeloci_archive::Archive;
use modeloci_registry::{
    Client, ClientOptions, Credentials, Inspected, PullOptions, PullTarget, PushOptions, Reference,
    Scheme, TlsOptions, environment,
};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::errors::Failure;
use crate::json;
use crate::progress::PyProgress;

/// The registry keyword arguments, as the Python side passes them (a dict).
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct RegistryArgs {
    username: Option<String>,
    password: Option<String>,
    ca_file: Option<PathBuf>,
    insecure: bool,
    plain_http: bool,
    tls: bool,
    timeout: f64,
    concurrency: usize,
}

/// The most connections a call may open at once.
const MAX_CONCURRENCY: usize = 256;

fn invalid(message: impl Into<String>) -> Failure {
    Failure::Registry(modeloci_registry::Error::InvalidOption(message.into()))
}

/// A client for the reference's registry: the credentials given, else those of the
/// environment or Docker's config for that registry alone.
fn client(reference: &Reference, args: &RegistryArgs) -> Result<Client, Failure> {
    let credentials = match (&args.username, &args.password) {
        (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
        (None, None) => environment::default_credentials(&reference.registry)?,
        _ => {
            return Err(invalid(
                "username and password are given together, or neither",
            ));
        }
    };
    let scheme = match reference.scheme {
        Some(Scheme::Http) if args.tls || args.insecure => {
            return Err(invalid(
                "an http:// reference cannot be combined with tls or insecure",
            ));
        }
        Some(Scheme::Https) if args.plain_http => {
            return Err(invalid(
                "an https:// reference cannot be combined with plain_http",
            ));
        }
        given => given.or(args.tls.then_some(Scheme::Https)),
    };
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            invalid(format!(
                "timeout must be a positive number of seconds, not {}",
                args.timeout
            ))
        })?;
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(invalid(format!(
            "concurrency must be 1 to {MAX_CONCURRENCY}, not {}",
            args.concurrency
        )));
    }
    let tls = TlsOptions::default()
        .with_ca_file(args.ca_file.clone())
        .with_insecure(args.insecure)
        .with_certs_dirs(environment::certs_dirs());
    let options = ClientOptions::default()
        .with_credentials(credentials)
        .with_plain_http(args.plain_http)
        .with_scheme(scheme)
        .with_tls(tls)
        .with_timeout(timeout);
    Ok(Client::try_new(reference.api_host(), options)?)
}

fn reference(text: &str) -> Result<Reference, Failure> {
    Ok(text.parse::<Reference>()?)
}

/// Pulls `reference` into `directory` (its files) or `archive` (a tar archive); the report.
#[pyfunction]
#[pyo3(signature = (reference, registry, *, directory=None, archive=None, include=Vec::new(),
    keys=Vec::new(), force=false, progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn pull(
    py: Python<'_>,
    reference: &str,
    registry: RegistryArgs,
    directory: Option<PathBuf>,
    archive: Option<PathBuf>,
    include: Vec<String>,
    keys: Vec<PathBuf>,
    force: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let target = match (directory, archive) {
        (Some(dir), None) => PullTarget::Unpack(dir),
        (None, Some(path)) => PullTarget::Archive(path),
        _ => return Err(invalid("give one of directory and archive").into()),
    };
    let keys = crate::keys::load(&keys)?;
    let progress = PyProgress::new(progress);
    let handle = PyProgress::handle(&progress);
    let done = py.detach(|| -> Result<Value, Failure> {
        let mut reference = self::reference(reference)?;
        let client = client(&reference, &registry)?;
        let subset = !include.is_empty();
        let mut options = PullOptions::default()
            .with_concurrency(registry.concurrency)
            .with_include(include)
            .with_force(force)
            .with_mtime(environment::source_date_epoch()?.unwrap_or(0))
            .with_progress(handle);
        let mut signature = None;
        if !keys.is_empty() {
            let signed =
                modeloci_sign::signed_pull(&client, &reference, &keys, &target, options, subset)?;
            reference = signed.reference;
            options = signed.options;
            signature = Some(json::verified(&signed.verified));
        }
        let report = modeloci_registry::pull(&client, &reference, &target, &options)?;
        let (directory, archive) = match &target {
            PullTarget::Unpack(d) => (Some(d), None),
            PullTarget::Archive(a) => (None, Some(a)),
            _ => (None, None),
        };
        Ok(json!({
            "reference": report.reference.to_string(),
            "manifest_digest": report.manifest_digest,
            "directory": directory,
            "archive": archive,
            "bytes_downloaded": report.bytes_downloaded,
            "bytes_resumed": report.bytes_resumed,
            "blobs": report.blobs.len(),
            "config": report.config,
            "files": json::files(&report.files),
            "signature": signature,
        }))
    });
    PyProgress::take_error(&progress)?;
    Ok(done?.to_string())
}

/// Pushes `archive` to `reference` (and `tags`), with the archive's signatures; the report.
#[pyfunction]
#[pyo3(signature = (archive, reference, registry, *, tags=Vec::new(), progress=None))]
pub(crate) fn push(
    py: Python<'_>,
    archive: PathBuf,
    reference: &str,
    registry: RegistryArgs,
    tags: Vec<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let progress = PyProgress::new(progress);
    let handle = PyProgress::handle(&progress);
    let done = py.detach(|| -> Result<Value, Failure> {
        let reference = self::reference(reference)?;
        let opened = Archive::open(&archive)?;
        let client = client(&reference, &registry)?;
        let options = PushOptions::default()
            .with_concurrency(registry.concurrency)
            .with_extra_tags(tags)
            .with_cache(environment::blob_cache_path())
            .with_progress(handle)
            .with_archive_referrers(&opened)?;
        let report = modeloci_registry::push(&client, &opened, &reference, &options)?;
        let blobs: Vec<Value> = report
            .blobs
            .iter()
            .map(|(d, o)| json!({"digest": d.digest, "size": d.size, "outcome": outcome(*o)}))
            .collect();
        Ok(json!({
            "reference": report.reference.to_string(),
            "manifest_digest": report.manifest_digest,
            "tags": report.tags,
            "bytes_uploaded": report.bytes_uploaded(),
            "blobs": blobs,
            "referrers": report.referrers,
        }))
    });
    PyProgress::take_error(&progress)?;
    Ok(done?.to_string())
}

fn outcome(o: modeloci_registry::BlobOutcome) -> &'static str {
    use modeloci_registry::BlobOutcome;
    match o {
        BlobOutcome::Existed => "existed",
        BlobOutcome::Mounted => "mounted",
        BlobOutcome::UploadedInChunks => "uploaded-in-chunks",
        _ => "uploaded",
    }
}

/// Every blob of the model `reference` names, streamed through a hasher (nothing kept),
/// and with `keys` its signature; the report.
#[pyfunction]
#[pyo3(signature = (reference, registry, *, keys=Vec::new(), progress=None))]
pub(crate) fn verify_remote(
    py: Python<'_>,
    reference: &str,
    registry: RegistryArgs,
    keys: Vec<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let keys = crate::keys::load(&keys)?;
    let progress = PyProgress::new(progress);
    let handle = PyProgress::handle(&progress);
    let done = py.detach(|| -> Result<Value, Failure> {
        let reference = self::reference(reference)?;
        let client = client(&reference, &registry)?;
        let report =
            modeloci_registry::verify(&client, &reference, registry.concurrency, handle.as_ref())?;
        let signature = json::signature_when(report.is_ok(), &keys, || {
            Ok(modeloci_sign::verify_remote(&client, &reference, &keys)?.verified)
        })?;
        Ok(json::remote_verify_report(&report, signature))
    });
    PyProgress::take_error(&progress)?;
    Ok(done?.to_string())
}

/// The manifest and config (or the index) `reference` names; no layer is downloaded.
#[pyfunction]
pub(crate) fn inspect_remote(
    py: Python<'_>,
    reference: &str,
    registry: RegistryArgs,
) -> PyResult<String> {
    let done = py.detach(|| -> Result<Value, Failure> {
        let reference = self::reference(reference)?;
        let client = client(&reference, &registry)?;
        let found = modeloci_registry::inspect(&client, &reference)?;
        let (manifest, config, index) = match &found.inspected {
            Inspected::Manifest { manifest, config } => {
                let config: Value = serde_json::from_slice(config)
                    .map_err(|e| Failure::Python(json::value_error(&e)))?;
                (Some(json!(manifest)), Some(config), None)
            }
            Inspected::Index(index) => (None, None, Some(json!(index))),
            _ => (None, None, None),
        };
        Ok(json!({
            "source": found.resolved.reference.to_string(),
            "manifest_digest": found.resolved.digest,
            "manifest": manifest,
            "config": config,
            "index": index,
            "reference_name": Value::Null,
        }))
    });
    Ok(done?.to_string())
}
