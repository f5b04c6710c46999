use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use modeloci_archive::Archive;
use modeloci_registry::{
    BlobOutcome, Client, ClientOptions, Credentials, DockerConfig, PullOptions, PullTarget,
    PushOptions, Reference,
};
use serde::Serialize;

use super::{Ctx, Outcome, mtime};
use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryArgs};
use crate::output::{human_size, outln, print_json, printable};

fn docker_config() -> Result<DockerConfig> {
    let path = DockerConfig::default_path()
        .context("neither DOCKER_CONFIG nor HOME is set: cannot find Docker's config.json")?;
    Ok(DockerConfig::load(&path)?)
}

/// Where pushes remember which repositories hold which blobs.
fn blob_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("modeloci/blob-locations.json"))
}

pub(super) fn client(reference: &Reference, args: &RegistryArgs) -> Result<Client> {
    let credentials = docker_config()?.credentials(&reference.registry)?;
    let options = ClientOptions::default()
        .with_credentials(credentials)
        .with_plain_http(args.plain_http)
        .with_timeout(Duration::from_secs(args.timeout));
    Ok(Client::new(reference.api_host(), options))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PushJson<'a> {
    reference: String,
    manifest_digest: &'a str,
    tags: &'a [String],
    bytes_uploaded: u64,
    blobs: Vec<BlobJson<'a>>,
}

#[derive(Serialize)]
struct BlobJson<'a> {
    digest: &'a str,
    size: u64,
    outcome: &'static str,
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
        .with_cache(blob_cache())
        .with_progress(ctx.progress.handle());
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
            blobs: report
                .blobs
                .iter()
                .map(|(d, o)| BlobJson {
                    digest: d.digest.as_str(),
                    size: d.size,
                    outcome: outcome(*o),
                })
                .collect(),
        })?;
    } else if ctx.human() {
        outln!("Pushed {}", printable(&report.reference))?;
        let uploaded =
            report.count(BlobOutcome::Uploaded) + report.count(BlobOutcome::UploadedInChunks);
        outln!(
            "  {} blobs: {uploaded} uploaded ({}), {} already there, {} mounted; tags: {}",
            report.blobs.len(),
            human_size(report.bytes_uploaded()),
            report.count(BlobOutcome::Existed),
            report.count(BlobOutcome::Mounted),
            printable(report.tags.join(", "))
        )?;
    }
    Ok(Outcome::Success)
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
    files: Vec<&'a str>,
}

pub(super) fn pull(args: &PullArgs, ctx: &Ctx) -> Result<Outcome> {
    let reference: Reference = args.reference.parse()?;
    let client = client(&reference, &args.registry)?;
    let target = match (&args.output, &args.unpack) {
        (Some(path), None) => PullTarget::Archive(path.clone()),
        (None, Some(dir)) => PullTarget::Unpack(dir.clone()),
        _ => bail!("give one of --output and --unpack"),
    };
    let options = PullOptions::default()
        .with_concurrency(args.registry.concurrency)
        .with_include(args.include.clone())
        .with_force(args.force)
        .with_mtime(mtime()?)
        .with_progress(ctx.progress.handle());
    let report = modeloci_registry::pull(&client, &reference, &target, &options)?;
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
            files: report.files.iter().map(|f| f.path.as_str()).collect(),
        })?;
    } else if ctx.human() {
        let what = if unpacked {
            format!("{} files into", report.files.len())
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
            "  {} blobs, {} downloaded{resumed}, every blob verified",
            report.blobs.len(),
            human_size(report.bytes_downloaded)
        )?;
    }
    Ok(Outcome::Success)
}

pub(super) fn login(args: &LoginArgs, ctx: &Ctx) -> Result<Outcome> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    let credentials = Credentials::new(&args.username, password);
    let host = args
        .host
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let api_host = if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    };
    let options = ClientOptions::default()
        .with_credentials(Some(credentials.clone()))
        .with_plain_http(args.plain_http)
        .with_timeout(Duration::from_secs(args.timeout));
    Client::new(api_host, options).ping()?;
    let mut config = docker_config()?;
    config.store(host, &credentials)?;
    let helper = config
        .helper(host)
        .map(|h| format!("docker-credential-{h}"));
    if ctx.json {
        let mut doc = serde_json::json!({ "registry": host, "username": args.username, "config": config.path() });
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
            printable(host),
            printable(place)
        )?;
    }
    Ok(Outcome::Success)
}

pub(super) fn logout(args: &LogoutArgs, ctx: &Ctx) -> Result<Outcome> {
    let host = args
        .host
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
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
