//! Commands on a registry that move no archive: `inspect REF`, `tags`, `copy`, `tag`.

use anyhow::{Result, bail};
use modeloci_registry::Reference;
use modeloci_registry::{
    BlobOutcome, CopyOptions, Inspected, RemoteBlobCheck, RemoteInspect, RemoteVerifyReport,
    TagsOptions, is_valid_tag,
};
use modeloci_spec::{Descriptor, MediaType, ModelPackConfig, OciConfig, OciIndex, OciManifest};
use serde::Serialize;

use std::path::PathBuf;

use super::facts::FactsJson;
use super::layers::LayerJson;
use super::registry::{BlobJson, blobs_json, client, copy_clients};
use super::signing::SignatureJson;
use super::verify::{problem, verdict};
use super::{Ctx, Outcome};
use crate::cli::{CopyArgs, RegistryArgs, TagArgs, TagsArgs};
use crate::output::{count, human_size, outln, print_json, printable, tags_phrase};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson<'a> {
    reference: String,
    manifest_digest: &'a str,
    media_type: &'a str,
    artifact_type: &'a str,
    annotations: &'a std::collections::BTreeMap<String, String>,
    config_media_type: &'a str,
    config: Option<&'a OciConfig>,
    modelpack: Option<&'a ModelPackConfig>,
    facts: FactsJson<'a>,
    size: u64,
    layers: Vec<LayerJson<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    signatures: &'a [SignatureJson],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson<'a> {
    reference: String,
    manifest_digest: &'a str,
    media_type: &'a str,
    manifests: Vec<EntryJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryJson<'a> {
    digest: &'a str,
    media_type: &'a str,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
}

/// What `layer i` is called: its title, else its place.
fn what(i: usize, layer: &Descriptor) -> String {
    layer
        .title()
        .map_or_else(|| format!("layer {i}"), str::to_owned)
}

/// `inspect REF`: the manifest and config of a model in a registry, and its signatures
/// (checked against `keys` and the file digests the manifest records, when given); no layer
/// downloaded.
pub(super) fn inspect(
    reference: &Reference,
    args: &RegistryArgs,
    keys: &[PathBuf],
    ctx: &Ctx,
) -> Result<Outcome> {
    let keys = super::signing::public_keys(keys)?;
    let client = client(reference, args)?;
    let found = modeloci_registry::inspect(&client, reference)?;
    match &found.inspected {
        Inspected::Manifest { manifest, config } => {
            let views = signatures(&client, &found, manifest, &keys)?;
            print_manifest(&found, manifest, config, &views, ctx)?;
            if ctx.human() && (!views.is_empty() || !keys.is_empty()) {
                super::signing::print_signatures(&views)?;
            }
            if !keys.is_empty() && !views.iter().any(|v| v.status == "verified") {
                return Ok(Outcome::VerificationFailed);
            }
        }
        Inspected::Index(index) => {
            if !keys.is_empty() {
                bail!(
                    "{reference} is an image index; name one of its manifests by digest to check its signatures"
                );
            }
            print_index(&found, index, ctx)?;
        }
        _ => bail!("{reference} is neither a manifest nor an index"),
    }
    Ok(Outcome::Success)
}

/// The signatures of a registry model, as inspect shows them. Without keys, a registry that
/// cannot list them leaves them out rather than failing the inspection.
fn signatures(
    client: &modeloci_registry::Client,
    found: &RemoteInspect,
    manifest: &OciManifest,
    keys: &[modeloci_sign::PublicKey],
) -> Result<Vec<SignatureJson>> {
    let model = modeloci_sign::RemoteModel {
        resolved: found.resolved.clone(),
        manifest: manifest.clone(),
    };
    let stored = match modeloci_sign::remote_signatures(
        client,
        &model.resolved.reference.repository,
        &model,
    ) {
        Ok(stored) => stored,
        Err(_) if keys.is_empty() => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let recorded = model.recorded_files().ok();
    Ok(super::signing::signature_views(
        stored,
        keys,
        recorded.as_deref(),
    ))
}

fn print_manifest(
    found: &RemoteInspect,
    manifest: &OciManifest,
    config_bytes: &[u8],
    signatures: &[SignatureJson],
    ctx: &Ctx,
) -> Result<()> {
    let config = (manifest.config.media_type == MediaType::ModelociConfig)
        .then(|| OciConfig::from_slice(config_bytes).ok())
        .flatten();
    let modelpack = (manifest.config.media_type == MediaType::ModelPackConfig)
        .then(|| ModelPackConfig::from_slice(config_bytes).ok())
        .flatten();
    let total = manifest
        .layers
        .iter()
        .fold(0u64, |sum, l| sum.saturating_add(l.size));
    let resolved = &found.resolved;
    let facts = super::facts::recorded(manifest, modelpack.as_ref());
    if ctx.json {
        return print_json(&ManifestJson {
            reference: resolved.reference.to_string(),
            manifest_digest: resolved.digest.as_str(),
            media_type: resolved.media_type.as_str(),
            artifact_type: manifest.effective_artifact_type().as_str(),
            annotations: &manifest.annotations,
            config_media_type: manifest.config.media_type.as_str(),
            config: config.as_ref(),
            modelpack: modelpack.as_ref(),
            facts: FactsJson::new(&facts),
            size: total,
            layers: manifest.layers.iter().map(LayerJson::of).collect(),
            signatures,
        });
    }
    if !ctx.human() {
        return Ok(());
    }
    outln!("Reference:     {}", printable(&resolved.reference))?;
    super::inspect::print_model(config.as_ref(), modelpack.as_ref(), manifest, &facts)?;
    super::inspect::print_identity(manifest, &resolved.digest)?;
    outln!(
        "Layers ({}, {} in all, not downloaded):",
        manifest.layers.len(),
        human_size(total)
    )?;
    for (i, layer) in manifest.layers.iter().enumerate() {
        outln!(
            "  {}  {:>10}  {}",
            layer.digest,
            human_size(layer.size),
            printable(what(i, layer))
        )?;
    }
    Ok(())
}

fn print_index(found: &RemoteInspect, index: &OciIndex, ctx: &Ctx) -> Result<()> {
    let resolved = &found.resolved;
    let platform = |d: &Descriptor| {
        d.platform
            .as_ref()
            .map(|p| format!("{}/{}", p.os, p.architecture))
    };
    if ctx.json {
        return print_json(&IndexJson {
            reference: resolved.reference.to_string(),
            manifest_digest: resolved.digest.as_str(),
            media_type: resolved.media_type.as_str(),
            manifests: index
                .manifests
                .iter()
                .map(|d| EntryJson {
                    digest: d.digest.as_str(),
                    media_type: d.media_type.as_str(),
                    size: d.size,
                    artifact_type: d.artifact_type.as_ref().map(MediaType::as_str),
                    platform: platform(d),
                })
                .collect(),
        });
    }
    if !ctx.human() {
        return Ok(());
    }
    outln!("Reference:     {}", printable(&resolved.reference))?;
    outln!(
        "Index:         {} ({})",
        resolved.digest,
        count(index.manifests.len(), "manifest", "manifests")
    )?;
    for d in &index.manifests {
        let kind = d
            .artifact_type
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| platform(d))
            .unwrap_or_else(|| d.media_type.to_string());
        outln!(
            "  {}  {:>10}  {}",
            d.digest,
            human_size(d.size),
            printable(kind)
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyJson<'a> {
    reference: String,
    ok: bool,
    failures: usize,
    manifest: ManifestCheckJson<'a>,
    config: LayerJson<'a>,
    layers: Vec<LayerJson<'a>>,
}

#[derive(Serialize)]
struct ManifestCheckJson<'a> {
    digest: &'a str,
    size: u64,
}

/// The document of one layer's check, as `verify ARCHIVE` writes it.
fn check_json(check: &RemoteBlobCheck) -> LayerJson<'_> {
    LayerJson::checked_remote(
        Some(check.descriptor.title()),
        &check.descriptor,
        &check.status,
    )
}

/// `verify REF`: every blob downloaded and checked as it streams, nothing kept.
pub(super) fn verify(reference: &Reference, args: &RegistryArgs, ctx: &Ctx) -> Result<Outcome> {
    let client = client(reference, args)?;
    let report = modeloci_registry::verify(
        &client,
        reference,
        args.concurrency,
        ctx.progress.handle().as_ref(),
    )?;
    let resolved = &report.resolved;
    if ctx.json {
        print_json(&VerifyJson {
            reference: resolved.reference.to_string(),
            ok: report.is_ok(),
            failures: report.failures(),
            manifest: ManifestCheckJson {
                digest: resolved.digest.as_str(),
                size: resolved.bytes.len() as u64,
            },
            config: LayerJson::checked_remote(
                None,
                &report.config.descriptor,
                &report.config.status,
            ),
            layers: report.layers.iter().map(check_json).collect(),
        })?;
    } else if ctx.human() {
        print_verify(&report)?;
    } else if !report.is_ok() {
        eprintln!(
            "error: {} of the manifest's blobs failed",
            report.failures()
        );
    }
    Ok(if report.is_ok() {
        Outcome::Success
    } else {
        Outcome::VerificationFailed
    })
}

fn print_verify(report: &RemoteVerifyReport) -> std::io::Result<()> {
    let resolved = &report.resolved;
    outln!(
        "OK    manifest  {}  {}  ({})",
        resolved.digest,
        human_size(resolved.bytes.len() as u64),
        printable(&resolved.reference)
    )?;
    let line = |kind: &str, check: &RemoteBlobCheck| {
        let title = if kind == "layer" {
            format!("  {}", printable(&check.what))
        } else {
            String::new()
        };
        let problem = problem(&check.status)
            .map(|p| format!(": {}", p.replace("from the archive", "from the registry")))
            .unwrap_or_default();
        outln!(
            "{}  {kind:<8}  {}  {}{title}{problem}",
            verdict(check.status.is_ok()),
            check.descriptor.digest,
            human_size(check.descriptor.size)
        )
    };
    line("config", &report.config)?;
    for layer in &report.layers {
        line("layer", layer)?;
    }
    let total = 2 + report.layers.len();
    if report.is_ok() {
        outln!(
            "All {total} checks passed ({}, downloaded and not kept).",
            count(report.layers.len(), "layer", "layers")
        )
    } else {
        outln!("{} of {total} checks failed.", report.failures())
    }
}

/// A repository operand: `host[:port]/repository`, no tag or digest.
fn repository(text: &str) -> Result<Reference> {
    let reference: Reference = text.parse()?;
    if reference.tag.is_some() || reference.digest.is_some() {
        bail!(
            "{} names a tag or digest; tags lists a repository: {}/{}",
            printable(text),
            reference.registry,
            reference.repository
        );
    }
    Ok(reference)
}

pub(super) fn tags(args: &TagsArgs, ctx: &Ctx) -> Result<Outcome> {
    let reference = repository(&args.repository)?;
    let client = client(&reference, &args.registry)?;
    let page_size = args.page_size.and_then(|n| usize::try_from(n).ok());
    let options = TagsOptions::default().with_page_size(page_size);
    let tags = modeloci_registry::list_tags(&client, &reference.repository, &options)?;
    if ctx.json {
        print_json(&serde_json::json!({
            "repository": format!("{}/{}", reference.registry, reference.repository),
            "tags": tags,
        }))?;
    } else if ctx.human() {
        for tag in &tags {
            outln!("{}", printable(tag))?;
        }
    }
    Ok(Outcome::Success)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CopyJson<'a> {
    source: String,
    target: String,
    manifest_digest: &'a str,
    tags: &'a [String],
    bytes_copied: u64,
    manifests: Vec<&'a str>,
    referrers: Vec<&'a str>,
    blobs: Vec<BlobJson<'a>>,
}

fn outcome(o: BlobOutcome) -> &'static str {
    match o {
        BlobOutcome::Existed => "existed",
        BlobOutcome::Mounted => "mounted",
        _ => "copied",
    }
}

pub(super) fn copy(args: &CopyArgs, ctx: &Ctx) -> Result<Outcome> {
    let source: Reference = args.source.parse()?;
    let target: Reference = args.target.parse()?;
    let (src, dst) = copy_clients(&source, &target, &args.registry)?;
    let options = CopyOptions::default()
        .with_concurrency(args.registry.concurrency)
        .with_referrers(!args.no_referrers)
        .with_extra_tags(args.tags.clone())
        .with_progress(ctx.progress.handle());
    let report = modeloci_registry::copy(&src, &source, &dst, &target, &options)?;
    if ctx.json {
        print_json(&CopyJson {
            source: report.source.to_string(),
            target: report.target.to_string(),
            manifest_digest: report.manifest_digest.as_str(),
            tags: &report.tags,
            bytes_copied: report.bytes_copied(),
            manifests: report.manifests.iter().map(|d| d.as_str()).collect(),
            referrers: report.referrers.iter().map(|d| d.as_str()).collect(),
            blobs: blobs_json(&report.blobs, outcome),
        })?;
    } else if ctx.human() {
        outln!(
            "Copied {} -> {}",
            printable(&report.source),
            printable(&report.target)
        )?;
        let tags = if report.tags.is_empty() {
            "no tag (by digest)".to_owned()
        } else {
            tags_phrase(&report.tags)
        };
        outln!(
            "  {}: {} copied ({}), {} already there, {} mounted; {}, {}; {tags}",
            count(report.blobs.len(), "blob", "blobs"),
            report.count(BlobOutcome::Uploaded),
            human_size(report.bytes_copied()),
            report.count(BlobOutcome::Existed),
            report.count(BlobOutcome::Mounted),
            count(report.manifests.len(), "manifest", "manifests"),
            count(report.referrers.len(), "referrer", "referrers"),
        )?;
    }
    Ok(Outcome::Success)
}

pub(super) fn tag(args: &TagArgs, ctx: &Ctx) -> Result<Outcome> {
    let reference: Reference = args.reference.parse()?;
    // Checked before a client exists: nothing is sent for a bad tag.
    if !is_valid_tag(&args.new_tag) {
        bail!(
            "invalid tag {:?}: a tag is up to 128 letters, digits, _ . and -, not starting with . or -",
            args.new_tag
        );
    }
    let client = client(&reference, &args.registry)?;
    let digest = modeloci_registry::tag(&client, &reference, &args.new_tag)?;
    let tagged = reference.with_tag(&args.new_tag);
    let tagged = Reference {
        digest: Some(digest.clone()),
        ..tagged
    };
    if ctx.json {
        print_json(&serde_json::json!({
            "reference": tagged.to_string(),
            "manifestDigest": digest.as_str(),
            "tag": args.new_tag,
        }))?;
    } else if ctx.human() {
        outln!("Tagged {}", printable(&tagged))?;
    }
    Ok(Outcome::Success)
}
