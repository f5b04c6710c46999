//! `pack --push REF`: the model packed straight into a registry.

use anyhow::Result;
use modeloci_archive::{ModelPackager, PackOptions};
use modeloci_registry::{
    BlobOutcome, ChunkFallback, PackPushOptions, PackPushReport, Reference, pack_and_push,
};
use modeloci_spec::OciConfig;
use serde::Serialize;

use super::{print_notes, print_warnings};
use crate::cli::PackArgs;
use crate::commands::facts::{FactsJson, model_title, weights_line};
use crate::commands::layers::{self, LayerJson};
use crate::commands::registry::{BlobJson, blobs_json, client};
use crate::commands::{Ctx, Outcome};
use crate::output::{count, human_size, outln, print_json, printable, tags_phrase};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PackPushJson<'a> {
    reference: String,
    manifest_digest: &'a str,
    tags: &'a [String],
    model_name: &'a str,
    version: &'a str,
    artifact_type: &'a str,
    input_bytes: u64,
    bytes_read: u64,
    layers_remembered: usize,
    bytes_uploaded: u64,
    blobs: Vec<BlobJson<'a>>,
    chunk_size: u64,
    fallback: Option<&'static str>,
    facts: FactsJson<'a>,
    warnings: &'a [String],
    notes: &'a [String],
    layers: Vec<LayerJson<'a>>,
}

pub(super) fn run(
    args: &PackArgs,
    reference: &str,
    options: PackOptions,
    config: &OciConfig,
    ctx: &Ctx,
) -> Result<Outcome> {
    let reference: Reference = reference.parse()?;
    let client = client(&reference, &args.registry)?;
    let packager = ModelPackager::with_options(options);
    let push_options = PackPushOptions::default()
        .with_chunk_size(args.chunk_size.max(1) << 20)
        .with_concurrency(args.registry.concurrency);
    let report = pack_and_push(
        &client,
        &packager,
        &args.model_dir,
        config,
        &reference,
        &push_options,
    )?;
    let config = &report.artifact.config;
    print_warnings(&report.artifact.warnings, ctx);
    print_notes(&report.artifact.notes, ctx);
    if ctx.json {
        print_json(&PackPushJson {
            reference: report.reference.to_string(),
            manifest_digest: report.manifest_digest.as_str(),
            tags: &report.tags,
            model_name: &config.model_name,
            version: &config.version,
            artifact_type: report.artifact.manifest.effective_artifact_type().as_str(),
            input_bytes: report.artifact.input_bytes,
            bytes_read: report.artifact.bytes_read,
            layers_remembered: report.artifact.reused,
            bytes_uploaded: report.bytes_uploaded(),
            blobs: blobs_json(&report.blobs, outcome),
            chunk_size: report.chunk_size,
            fallback: fallback(&report),
            facts: FactsJson::new(&report.artifact.facts),
            warnings: &report.artifact.warnings,
            notes: &report.artifact.notes,
            layers: layers::written(&report.artifact.layers),
        })?;
    } else if ctx.human() {
        summary(&report, config)?;
    }
    Ok(Outcome::Success)
}

fn outcome(o: BlobOutcome) -> &'static str {
    match o {
        BlobOutcome::Existed => "existed",
        BlobOutcome::Mounted => "mounted",
        BlobOutcome::UploadedInChunks => "uploaded-in-chunks",
        _ => "uploaded",
    }
}

fn fallback(report: &PackPushReport) -> Option<&'static str> {
    report.fallback.map(|f| match f {
        ChunkFallback::SmallerChunks => "smaller-chunks",
        _ => "spooled",
    })
}

fn summary(report: &PackPushReport, config: &OciConfig) -> Result<()> {
    let artifact = &report.artifact;
    outln!("Packed and pushed {}", printable(&report.reference))?;
    let reused = if artifact.reused == 0 {
        String::new()
    } else {
        format!(
            " ({} read, {} from the digest cache)",
            human_size(artifact.bytes_read),
            count(artifact.reused, "layer", "layers")
        )
    };
    outln!(
        "  {}: {}, {}{reused}",
        model_title(config, &artifact.facts),
        count(artifact.files, "file", "files"),
        human_size(artifact.input_bytes),
    )?;
    let uploaded =
        report.count(BlobOutcome::Uploaded) + report.count(BlobOutcome::UploadedInChunks);
    outln!(
        "  {}: {uploaded} uploaded ({}), {} already there; {}",
        count(report.blobs.len(), "blob", "blobs"),
        human_size(report.bytes_uploaded()),
        report.count(BlobOutcome::Existed),
        tags_phrase(&report.tags)
    )?;
    if let Some(line) = weights_line(&artifact.facts) {
        outln!("  weights: {}", printable(line))?;
    }
    match report.fallback {
        Some(ChunkFallback::SmallerChunks) => outln!(
            "  the registry refused larger chunks: sent {} chunks",
            human_size(report.chunk_size)
        )?,
        Some(_) => outln!(
            "  the registry refused chunks: each blob over the chunk size was spooled to a \
             temporary file, then sent in one PUT"
        )?,
        None => {}
    }
    outln!("  manifest {}", report.manifest_digest)?;
    Ok(())
}
