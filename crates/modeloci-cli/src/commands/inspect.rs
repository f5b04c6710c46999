use anyhow::Result;
use modeloci_archive::{Archive, Error, verify};
use modeloci_spec::OciConfig;
use serde::Serialize;

use super::verify::{CheckJson, format_name, problem};
use super::{Ctx, Outcome};
use crate::cli::InspectArgs;
use crate::output::{human_size, print_json};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InspectJson<'a> {
    archive: &'a std::path::Path,
    format: &'static str,
    manifest_digest: &'a str,
    artifact_type: &'a str,
    annotations: &'a std::collections::BTreeMap<String, String>,
    config_media_type: &'a str,
    config: Option<&'a OciConfig>,
    ok: bool,
    layers: Vec<CheckJson<'a>>,
}

pub(super) fn run(args: &InspectArgs, ctx: &Ctx) -> Result<Outcome> {
    let archive = Archive::open_with(&args.archive.archive, args.archive.reference.as_deref())?;
    let config = match archive.config() {
        Ok(config) => Some(config),
        Err(
            Error::UnsupportedConfig { .. }
            | Error::BlobMismatch { .. }
            | Error::MissingBlob { .. },
        ) => None,
        Err(e) => return Err(e.into()),
    };
    let report = verify(
        &archive,
        std::thread::available_parallelism().map_or(1, usize::from),
    )?;
    let manifest = archive.manifest();
    if ctx.json {
        print_json(&InspectJson {
            archive: archive.path(),
            format: format_name(archive.format()),
            manifest_digest: archive.manifest_digest().as_str(),
            artifact_type: manifest.effective_artifact_type().as_str(),
            annotations: &manifest.annotations,
            config_media_type: manifest.config.media_type.as_str(),
            config: config.as_ref(),
            ok: report.is_ok(),
            layers: report.layers.iter().map(CheckJson::new).collect(),
        })?;
    } else if ctx.human() {
        println!(
            "Archive:       {} ({} format)",
            archive.path().display(),
            format_name(archive.format())
        );
        match &config {
            Some(c) => {
                println!("Model:         {}", c.model_name);
                println!("Version:       {}", c.version);
                println!("Framework:     {}", c.framework);
                println!("Architecture:  {}", c.architecture);
                if !c.metadata.is_empty() {
                    println!(
                        "Metadata:      {}",
                        serde_json::Value::Object(c.metadata.clone())
                    );
                }
            }
            None => println!(
                "Config:        {} ({})",
                manifest.config.media_type, manifest.config.digest
            ),
        }
        println!("Manifest:      {}", archive.manifest_digest());
        println!("Artifact type: {}", manifest.effective_artifact_type());
        for (key, value) in &manifest.annotations {
            if key.starts_with("org.modeloci.model.") {
                println!("  {key}: {value}");
            }
        }
        println!("Layers ({}):", report.layers.len());
        for layer in &report.layers {
            let ok = layer.status.is_ok();
            let note = problem(&layer.status)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            println!(
                "  {}  {}  {:>10}  {}{note}",
                if ok { "OK  " } else { "FAIL" },
                layer.digest,
                human_size(layer.size),
                layer.what
            );
        }
        if report.is_ok() {
            println!(
                "Verification: OK (config and {} layers)",
                report.layers.len()
            );
        } else {
            let failed_layers = report.layers.iter().filter(|l| !l.status.is_ok()).count();
            let config_note = if report.config.status.is_ok() {
                ""
            } else {
                ", config failed"
            };
            let copies = report.copies.iter().filter(|c| !c.matches).count();
            let copy_note = if copies == 0 {
                String::new()
            } else {
                format!(", {copies} root copies differ")
            };
            println!(
                "Verification: FAILED ({failed_layers} of {} layers{config_note}{copy_note})",
                report.layers.len()
            );
        }
    }
    Ok(if report.is_ok() {
        Outcome::Success
    } else {
        Outcome::VerificationFailed
    })
}
