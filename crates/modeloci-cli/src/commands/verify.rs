use std::path::Path;

use anyhow::{Result, bail};
use modeloci_archive::{
    Archive, ArchiveFormat, BlobCheck, BlobStatus, Error, VerifyReport, verify_with_progress,
};
use serde::Serialize;

use super::layers::LayerJson;
use super::{Ctx, Outcome};
use crate::cli::VerifyArgs;
use crate::output::{count, human_size, outln, print_json, printable};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyJson<'a> {
    archive: &'a std::path::Path,
    format: &'static str,
    ok: bool,
    failures: usize,
    /// Why unpack refuses the archive, whatever its blobs hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a str>,
    manifest: ManifestJson<'a>,
    config: LayerJson<'a>,
    layers: Vec<LayerJson<'a>>,
    copies: Vec<CopyJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson<'a> {
    digest: &'a str,
    size: u64,
    /// Checked against the index's descriptor (false for reference archives: no index).
    checked: bool,
}

#[derive(Serialize)]
struct CopyJson<'a> {
    name: &'a str,
    matches: bool,
}

pub(super) fn format_name(format: ArchiveFormat) -> &'static str {
    match format {
        ArchiveFormat::Reference => "reference",
        _ => "layout",
    }
}

/// The explanation of a failed check, for people.
pub(super) fn problem(status: &BlobStatus) -> Option<String> {
    Some(match status {
        BlobStatus::Ok => return None,
        BlobStatus::Missing => "missing from the archive".to_owned(),
        BlobStatus::SizeMismatch { actual } => format!("size mismatch, the blob is {actual} bytes"),
        BlobStatus::DigestMismatch { actual } => {
            format!("digest mismatch, the blob hashes to {actual}")
        }
        BlobStatus::Refused { refusal } => format!("its entry is refused: {refusal}"),
        _ => "failed".to_owned(),
    })
}

pub(super) fn verdict(ok: bool) -> &'static str {
    if ok { "OK  " } else { "FAIL" }
}

/// Opens the archive for verify and inspect. An entry the safety policy refuses while the
/// outer tar is read (a duplicate path, an oversized PAX header, ...) is a failed check, as
/// what [`Archive::check_layout`] finds is: `Ok(Err(why))`, and the command exits 1. Unpack
/// refuses the same archive with exit 2, as it refuses every entry it will not extract.
pub(super) fn open(path: &Path, reference: Option<&str>) -> Result<Result<Archive, String>> {
    match Archive::open_with(path, reference) {
        Ok(archive) => Ok(Ok(archive)),
        Err(e @ Error::UnsafeEntry { .. }) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The JSON document for an archive refused as it was opened.
pub(super) fn print_refused_json(path: &std::path::Path, refused: &str) -> Result<()> {
    print_json(&serde_json::json!({
        "archive": path,
        "ok": false,
        "failures": 1,
        "refused": refused,
    }))
}

pub(super) fn run(args: &VerifyArgs, ctx: &Ctx) -> Result<Outcome> {
    let keys = super::signing::public_keys(&args.keys)?;
    if let (Some(dir), Some(signature)) = (&args.archive.dir, &args.signature) {
        return super::signing::verify_dir(dir, signature, &keys, ctx);
    }
    let path = match super::Operand::of(&args.archive.archive_arg()) {
        super::Operand::Archive(path) => path,
        super::Operand::Remote(reference) => {
            if args.archive.reference.is_some() {
                bail!(
                    "--ref picks a manifest in an archive's index; for a registry, name the tag or digest in the reference"
                );
            }
            if !keys.is_empty() {
                let client = super::registry::client(&reference, &args.registry)?;
                return super::signing::verify_remote(&client, &reference, &keys, ctx);
            }
            return super::remote::verify(&reference, &args.registry, ctx);
        }
    };
    let archive = match open(&path, args.archive.reference.as_deref())? {
        Ok(archive) => archive,
        Err(refused) => {
            if ctx.json {
                print_refused_json(&path, &refused)?;
            } else if ctx.human() {
                outln!("{}  archive   {}", verdict(false), printable(refused))?;
                outln!("1 check failed.")?;
            } else {
                eprintln!("error: {}", printable(&refused));
            }
            return Ok(Outcome::VerificationFailed);
        }
    };
    let report = verify_with_progress(
        &archive,
        std::thread::available_parallelism().map_or(1, usize::from),
        ctx.progress.handle().as_ref(),
    )?;
    let signature = if keys.is_empty() || !report.is_ok() {
        None
    } else {
        let hashing = modeloci_sign::HashOptions {
            threads: 0,
            progress: ctx.progress.handle(),
        };
        Some(modeloci_sign::verify_archive(&archive, &keys, &hashing)?)
    };
    if ctx.json {
        let mut doc = serde_json::to_value(json(&report))?;
        if let Some(verified) = &signature {
            doc["signature"] = super::signing::verified_json(&keys, verified);
        }
        print_json(&doc)?;
    } else if ctx.human() {
        print_human(&report)?;
        if let Some(verified) = &signature {
            super::signing::print_verified(
                &keys,
                verified,
                "match the archive's, hashed from its layers",
            )?;
        }
    } else if !report.is_ok() {
        eprintln!(
            "error: {} of the archive's checks failed",
            report.failures()
        );
    }
    Ok(if report.is_ok() {
        Outcome::Success
    } else {
        Outcome::VerificationFailed
    })
}

fn json(report: &VerifyReport) -> VerifyJson<'_> {
    VerifyJson {
        archive: &report.archive,
        format: format_name(report.format),
        ok: report.is_ok(),
        failures: report.failures(),
        refused: report.refused.as_deref(),
        manifest: ManifestJson {
            digest: report.manifest_digest.as_str(),
            size: report.manifest_size,
            checked: report.manifest_checked,
        },
        config: LayerJson::checked_config(&report.config),
        layers: report.layers.iter().map(LayerJson::checked).collect(),
        copies: report
            .copies
            .iter()
            .map(|c| CopyJson {
                name: &c.name,
                matches: c.matches,
            })
            .collect(),
    }
}

fn print_human(report: &VerifyReport) -> std::io::Result<()> {
    let how = if report.manifest_checked {
        "matches index.json"
    } else {
        "computed: the archive has no index"
    };
    outln!(
        "OK    manifest  {}  {}  ({how})",
        report.manifest_digest,
        human_size(report.manifest_size)
    )?;
    if let Some(refused) = &report.refused {
        outln!("{}  archive   {}", verdict(false), printable(refused))?;
    }
    let line = |kind: &str, check: &BlobCheck| {
        let title = if kind == "layer" {
            format!("  {}", printable(&check.what))
        } else {
            String::new()
        };
        let problem = problem(&check.status)
            .map(|p| format!(": {p}"))
            .unwrap_or_default();
        outln!(
            "{}  {kind:<8}  {}  {}{title}{problem}",
            verdict(check.status.is_ok()),
            check.digest,
            human_size(check.size)
        )
    };
    line("config", &report.config)?;
    for layer in &report.layers {
        line("layer", layer)?;
    }
    for copy in &report.copies {
        let problem = if copy.matches {
            ""
        } else {
            ": differs from the blob it copies"
        };
        outln!(
            "{}  copy      {}{problem}",
            verdict(copy.matches),
            printable(&copy.name)
        )?;
    }
    let total =
        2 + usize::from(report.refused.is_some()) + report.layers.len() + report.copies.len();
    if report.is_ok() {
        outln!(
            "All {total} checks passed ({}).",
            count(report.layers.len(), "layer", "layers")
        )?;
    } else {
        outln!("{} of {total} checks failed.", report.failures())?;
    }
    Ok(())
}
