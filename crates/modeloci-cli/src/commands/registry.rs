use std::time::Duration;

use anyhow::{Result, bail};
use modeloci_archive::Archive;
use modeloci_registry::{
    BlobOutcome, ChunkFallback, Client, ClientOptions, Credentials, DockerConfig, PullOptions,
    PullTarget, PushOptions, PushReport, Reference, Scheme, TlsOptions, environment,
};
use modeloci_spec::tag::is_valid_tag;
use serde::Serialize;

use super::{Ctx, Outcome, credentials, mtime};
use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryArgs, TlsArgs};
use crate::output::{count, human_size, outln, print_json, printable, tags_phrase};

fn docker_config() -> Result<DockerConfig> {
    Ok(environment::docker_config()?)
}

/// The TLS options of the flags: `--ca-file`, `--insecure` (warned about on every use),
/// and Docker's `certs.d` roots, or those of `MODELOCI_CERTS_D` (a `:`-separated list) when
/// it is set.
pub(super) fn tls_options(args: &TlsArgs) -> TlsOptions {
    if args.insecure {
        eprintln!(
            "warning: --insecure: the registry's TLS certificate is not verified; anyone on the way can read and change what is sent, credentials included"
        );
    }
    let certs_dirs = environment::certs_dirs();
    TlsOptions::default()
        .with_ca_file(args.ca_file.clone())
        .with_insecure(args.insecure)
        .with_certs_dirs(certs_dirs)
}

/// The scheme asked for: the reference's `https://` or `http://`, else `--tls`; a flag
/// that contradicts the reference's scheme is a usage error.
fn scheme(given: Option<Scheme>, args: &TlsArgs, plain_http: bool) -> Result<Option<Scheme>> {
    match given {
        Some(Scheme::Http) if args.tls || args.insecure => {
            bail!("an http:// reference cannot be combined with --tls or --insecure")
        }
        Some(Scheme::Https) if plain_http => {
            bail!("an https:// reference cannot be combined with --plain-http")
        }
        _ => Ok(given.or(args.tls.then_some(Scheme::Https))),
    }
}

/// The credentials for the reference's registry, and for it alone: `--username` with
/// `--password-stdin`, else `MODELOCI_USERNAME` with `MODELOCI_PASSWORD`, else Docker's
/// config.json (or its credential helper); see [`credentials`].
pub(super) fn credentials_for(
    reference: &Reference,
    args: &RegistryArgs,
) -> Result<Option<Credentials>> {
    if let Some(given) =
        credentials::from_flags_or_env(args.username.as_deref(), args.password_stdin)?
    {
        return Ok(Some(given));
    }
    Ok(docker_config()?.credentials(&reference.registry)?)
}

pub(super) fn client(reference: &Reference, args: &RegistryArgs) -> Result<Client> {
    let credentials = credentials_for(reference, args)?;
    client_with(reference, args, credentials)
}

/// The clients of a copy, each with the credentials of its own registry. Those of the flags
/// or the environment are read once and are the destination's (the registry written to, as
/// in a push); the source gets them too only when it is the same registry, else its own from
/// Docker's config: a secret given for one registry never reaches another.
pub(super) fn copy_clients(
    source: &Reference,
    target: &Reference,
    args: &RegistryArgs,
) -> Result<(Client, Client)> {
    let given = credentials::from_flags_or_env(args.username.as_deref(), args.password_stdin)?;
    let stored = |r: &Reference| -> Result<Option<Credentials>> {
        Ok(docker_config()?.credentials(&r.registry)?)
    };
    let dst_credentials = match &given {
        Some(c) => Some(c.clone()),
        None => stored(target)?,
    };
    let src_credentials = match &given {
        Some(c) if source.registry == target.registry => Some(c.clone()),
        _ => stored(source)?,
    };
    Ok((
        client_with(source, args, src_credentials)?,
        client_with(target, args, dst_credentials)?,
    ))
}

/// A client for the reference's registry with these credentials.
fn client_with(
    reference: &Reference,
    args: &RegistryArgs,
    credentials: Option<Credentials>,
) -> Result<Client> {
    let options = ClientOptions::default()
        .with_credentials(credentials)
        .with_plain_http(args.plain_http)
        .with_scheme(scheme(reference.scheme, &args.tls, args.plain_http)?)
        .with_tls(tls_options(&args.tls))
        .with_timeout(Duration::from_secs(args.timeout));
    Ok(Client::try_new(reference.api_host(), options)?)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PushJson<'a> {
    reference: String,
    manifest_digest: &'a str,
    tags: &'a [String],
    bytes_uploaded: u64,
    blobs: Vec<BlobJson<'a>>,
    chunk_size: u64,
    fallback: Option<&'static str>,
}

#[derive(Serialize)]
pub(super) struct BlobJson<'a> {
    digest: &'a str,
    size: u64,
    outcome: &'static str,
}

/// The `blobs` of a push or copy document, each outcome named by `outcome`.
pub(super) fn blobs_json(
    blobs: &[(modeloci_spec::Descriptor, BlobOutcome)],
    outcome: fn(BlobOutcome) -> &'static str,
) -> Vec<BlobJson<'_>> {
    blobs
        .iter()
        .map(|(d, o)| BlobJson {
            digest: d.digest.as_str(),
            size: d.size,
            outcome: outcome(*o),
        })
        .collect()
}

pub(super) fn push(args: &PushArgs, ctx: &Ctx) -> Result<Outcome> {
    let reference: Reference = args.reference.parse()?;
    let archive = Archive::open(&args.archive)?;
    let client = client(&reference, &args.registry)?;
    let options = PushOptions::default()
        .with_concurrency(args.registry.concurrency)
        .with_chunk_size(args.chunk_size.max(1) << 20)
        .with_extra_tags(args.tags.clone())
        .with_mount_from(args.mount_from.clone())
        .with_cache(environment::blob_cache_path())
        .with_progress(ctx.progress.handle())
        .with_archive_referrers(&archive)?;
    let report = modeloci_registry::push(&client, &archive, &reference, &options)?;
    let outcome = |o: BlobOutcome| match o {
        BlobOutcome::Existed => "existed",
        BlobOutcome::Mounted => "mounted",
        BlobOutcome::UploadedInChunks => "uploaded-in-chunks",
        _ => "uploaded",
    };
    if ctx.json {
        print_json(&PushJson {
            reference: report.reference.to_string(),
            manifest_digest: report.manifest_digest.as_str(),
            tags: &report.tags,
            bytes_uploaded: report.bytes_uploaded(),
            blobs: blobs_json(&report.blobs, outcome),
            chunk_size: report.chunk_size,
            fallback: fallback(&report),
        })?;
    } else if ctx.human() {
        push_summary(&report, &archive)?;
    }
    Ok(Outcome::Success)
}

/// How the push got around the registry's refusal of its chunks, for `--json`.
fn fallback(report: &PushReport) -> Option<&'static str> {
    report.fallback.map(|f| match f {
        ChunkFallback::SmallerChunks => "smaller-chunks",
        _ => "single-put",
    })
}

/// The human summary of a push: what went up, how, and the tag to name it as the archive.
fn push_summary(report: &PushReport, archive: &Archive) -> Result<()> {
    outln!("Pushed {}", printable(&report.reference))?;
    let uploaded =
        report.count(BlobOutcome::Uploaded) + report.count(BlobOutcome::UploadedInChunks);
    outln!(
        "  {}: {uploaded} uploaded ({}), {} already there, {} mounted; {}",
        count(report.blobs.len(), "blob", "blobs"),
        human_size(report.bytes_uploaded()),
        report.count(BlobOutcome::Existed),
        report.count(BlobOutcome::Mounted),
        tags_phrase(&report.tags)
    )?;
    if !report.referrers.is_empty() {
        outln!(
            "  {} attached (referrers of the manifest)",
            count(report.referrers.len(), "signature", "signatures")
        )?;
    }
    match report.fallback {
        Some(ChunkFallback::SmallerChunks) => outln!(
            "  the registry refused larger chunks: sent {} chunks",
            human_size(report.chunk_size)
        )?,
        Some(_) => outln!("  the registry refused chunks: each blob went up in one PUT")?,
        None => {}
    }
    let name = archive.reference_name().unwrap_or_default();
    if !report.tags.iter().any(|t| t == name) && is_valid_tag(name) {
        let mut by_name = report.reference.clone();
        by_name.tag = Some(name.to_owned());
        by_name.digest = None;
        outln!(
            "  the archive is named {}: push to {} to tag it so too",
            printable(name),
            printable(&by_name)
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PullJson<'a> {
    reference: String,
    manifest_digest: &'a str,
    target: &'a std::path::Path,
    unpacked: bool,
    bytes_downloaded: u64,
    bytes_resumed: u64,
    blobs: usize,
    config: Option<&'a modeloci_spec::OciConfig>,
    files: Vec<super::layers::FileJson<'a>>,
    /// With --key: the signature that verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<serde_json::Value>,
}

pub(super) fn pull(args: &PullArgs, ctx: &Ctx) -> Result<Outcome> {
    let reference: Reference = args.reference.parse()?;
    let client = client(&reference, &args.registry)?;
    let target = match (&args.output, &args.unpack) {
        (Some(path), None) => PullTarget::Archive(path.clone()),
        (None, Some(dir)) => PullTarget::Unpack(dir.clone()),
        _ => bail!("give one of --output and --unpack"),
    };
    let mut options = PullOptions::default()
        .with_concurrency(args.registry.concurrency)
        .with_include(args.include.clone())
        .with_force(args.force)
        .with_mtime(mtime()?)
        .with_progress(ctx.progress.handle());
    let keys = super::signing::public_keys(&args.signed.keys)?;
    let mut reference = reference;
    let verified = if keys.is_empty() {
        None
    } else {
        let signed = modeloci_sign::signed_pull(
            &client,
            &reference,
            &keys,
            &target,
            options,
            !args.include.is_empty(),
        )?;
        reference = signed.reference;
        options = signed.options;
        Some(signed.verified)
    };
    let signature_out = match &args.signed.signature_out {
        Some(out) => Some(super::signing::SignatureOut::reserve(
            out,
            args.unpack.as_deref(),
        )?),
        None => None,
    };
    let report =
        modeloci_registry::pull(&client, &reference, &target, &options).map_err(pull_failure)?;
    if let (Some(verified), Some(out)) = (&verified, signature_out) {
        out.write(verified)?;
    }
    let (path, unpacked) = match &target {
        PullTarget::Archive(p) => (p.as_path(), false),
        PullTarget::Unpack(p) => (p.as_path(), true),
        _ => unreachable!("only the two targets above are built"),
    };
    if ctx.json {
        print_json(&PullJson {
            reference: report.reference.to_string(),
            manifest_digest: report.manifest_digest.as_str(),
            target: path,
            unpacked,
            bytes_downloaded: report.bytes_downloaded,
            bytes_resumed: report.bytes_resumed,
            blobs: report.blobs.len(),
            config: report.config.as_ref(),
            files: super::layers::files_json(&report.files),
            signature: verified
                .as_ref()
                .map(|v| super::signing::verified_json(&keys, v)),
        })?;
    } else if ctx.human() {
        pull_summary(&report, path, unpacked)?;
        if let Some(verified) = &verified {
            let how = if unpacked {
                "match the files written"
            } else {
                "match the files the layers hold"
            };
            super::signing::print_verified(&keys, verified, how)?;
        }
    }
    Ok(Outcome::Success)
}

/// The human summary of a pull: what came down, and where it went.
fn pull_summary(
    report: &modeloci_registry::PullReport,
    path: &std::path::Path,
    unpacked: bool,
) -> Result<()> {
    let what = if unpacked {
        format!("{} into", count(report.files.len(), "file", "files"))
    } else {
        "archive".to_owned()
    };
    outln!(
        "Pulled {} -> {what} {}",
        printable(&report.reference),
        printable(path.display())
    )?;
    let resumed = if report.bytes_resumed > 0 {
        format!(", {} resumed", human_size(report.bytes_resumed))
    } else {
        String::new()
    };
    outln!(
        "  {}, {} downloaded{resumed}, every blob verified",
        count(report.blobs.len(), "blob", "blobs"),
        human_size(report.bytes_downloaded)
    )?;
    Ok(())
}

/// A pull's error, with a signature check's refusal of the files unwrapped: the signing
/// error itself, so that its message and hint are those `verify --key` gives.
fn pull_failure(err: modeloci_registry::Error) -> anyhow::Error {
    match err {
        modeloci_registry::Error::Archive(e @ modeloci_archive::Error::CheckFailed { .. }) => {
            super::signing::check_failure(e)
        }
        modeloci_registry::Error::Check(source) => {
            match source.downcast::<modeloci_sign::Error>() {
                Ok(signing) => anyhow::Error::new(*signing),
                Err(source) => modeloci_registry::Error::Check(source).into(),
            }
        }
        other => other.into(),
    }
}

pub(super) fn login(args: &LoginArgs, ctx: &Ctx) -> Result<Outcome> {
    let (given, _) = Scheme::strip(&args.host);
    let host = credentials::login_host(&args.host)?;
    let credentials = credentials::for_login(args.username.as_deref(), args.password_stdin)?;
    let api_host = match host.as_str() {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    };
    let options = ClientOptions::default()
        .with_credentials(Some(credentials.clone()))
        .with_plain_http(args.plain_http)
        .with_scheme(scheme(given, &args.tls, args.plain_http)?)
        .with_tls(tls_options(&args.tls))
        .with_timeout(Duration::from_secs(args.timeout));
    Client::try_new(api_host, options)?.ping()?;
    let mut config = docker_config()?;
    config.store(&host, &credentials)?;
    if let Some(warning) = credentials::config_dir_warning(config.path()) {
        eprintln!("warning: {}", printable(warning));
    }
    let helper = config
        .helper(&host)
        .map(|h| format!("docker-credential-{h}"));
    if ctx.json {
        let mut doc = serde_json::json!({ "registry": host, "username": credentials.username, "config": config.path() });
        if let Some(helper) = &helper {
            doc["credentialHelper"] = helper.as_str().into();
        }
        print_json(&doc)?;
    } else if ctx.human() {
        let place = match &helper {
            Some(helper) => format!("by {helper}"),
            None => format!("in {}", config.path().display()),
        };
        outln!(
            "Login Succeeded: credentials for {} stored {}",
            printable(&host),
            printable(place)
        )?;
    }
    Ok(Outcome::Success)
}

pub(super) fn logout(args: &LogoutArgs, ctx: &Ctx) -> Result<Outcome> {
    let host = credentials::login_host(&args.host)?;
    let host = host.as_str();
    let mut config = docker_config()?;
    let erased = config.erase(host)?;
    let removed = erased.helper.is_some() || erased.file;
    if ctx.json {
        print_json(&serde_json::json!({ "registry": host, "removed": removed }))?;
    } else if ctx.human() {
        if removed {
            let file = config.path().display().to_string();
            let places = match (&erased.helper, erased.file) {
                (Some(helper), true) => format!("docker-credential-{helper} and {file}"),
                (Some(helper), false) => format!("docker-credential-{helper}"),
                (None, _) => file,
            };
            outln!(
                "Removed the credentials for {} from {}",
                printable(host),
                printable(places)
            )?;
        } else {
            outln!("Not logged in to {}", printable(host))?;
        }
    }
    Ok(Outcome::Success)
}
