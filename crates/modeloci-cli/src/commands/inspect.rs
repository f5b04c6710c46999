use anyhow::{Result, bail};
use modeloci_archive::{Error, verify_with_progress};
use modeloci_spec::{Digest, MediaType, ModelPackConfig, OciConfig, OciManifest};
use serde::Serialize;

use super::facts::FactsJson;
use super::layers::LayerJson;
use super::verify::{format_name, problem};
use super::{Ctx, Operand, Outcome};
use crate::cli::InspectArgs;
use crate::output::{count, human_size, outln, print_json, printable};

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
    modelpack: Option<&'a ModelPackConfig>,
    facts: FactsJson<'a>,
    ok: bool,
    /// Why unpack refuses the archive, whatever its blobs hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a str>,
    layers: Vec<LayerJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signatures: Vec<super::signing::SignatureJson>,
}

pub(super) fn run(args: &InspectArgs, ctx: &Ctx) -> Result<Outcome> {
    let path = match Operand::of(&args.archive) {
        Operand::Archive(path) => path,
        Operand::Remote(reference) => {
            if args.archive.reference.is_some() {
                bail!(
                    "--ref picks a manifest in an archive's index; for a registry, name the tag or digest in the reference"
                );
            }
            return super::remote::inspect(&reference, &args.registry, &args.keys, ctx);
        }
    };
    // The keys first: a key that cannot be used is refused before any blob is read.
    let keys = super::signing::public_keys(&args.keys)?;
    let archive = match super::verify::open(&path, args.archive.reference.as_deref())? {
        Ok(archive) => archive,
        Err(refused) => {
            if ctx.json {
                super::verify::print_refused_json(&path, &refused)?;
            } else if ctx.human() {
                outln!("Archive:       {}", printable(path.display()))?;
                outln!("Verification: FAILED ({})", printable(refused))?;
            } else {
                eprintln!("error: {}", printable(&refused));
            }
            return Ok(Outcome::VerificationFailed);
        }
    };
    let config = match archive.config() {
        Ok(config) => Some(config),
        Err(e @ Error::Io { .. }) => return Err(e.into()),
        // Anything else wrong with the config is among what verify reports.
        Err(_) => None,
    };
    let report = verify_with_progress(
        &archive,
        std::thread::available_parallelism().map_or(1, usize::from),
        ctx.progress.handle().as_ref(),
    )?;
    let files = model_files(&archive, report.is_ok() && !keys.is_empty(), ctx)?;
    let signatures = super::signing::signature_views(
        modeloci_sign::archive_signatures(&archive)?,
        &keys,
        files.as_deref(),
    );
    let signatures_ok = signatures.iter().any(|s| s.status == "verified");
    let manifest = archive.manifest();
    let modelpack = (manifest.config.media_type == MediaType::ModelPackConfig)
        .then(|| {
            archive
                .config_bytes()
                .ok()
                .and_then(|b| ModelPackConfig::from_slice(&b).ok())
        })
        .flatten();
    let facts = super::facts::recorded(manifest, modelpack.as_ref());
    if ctx.json {
        print_json(&InspectJson {
            archive: archive.path(),
            format: format_name(archive.format()),
            manifest_digest: archive.manifest_digest().as_str(),
            artifact_type: manifest.effective_artifact_type().as_str(),
            annotations: &manifest.annotations,
            config_media_type: manifest.config.media_type.as_str(),
            config: config.as_ref(),
            modelpack: modelpack.as_ref(),
            facts: FactsJson::new(&facts),
            ok: report.is_ok(),
            refused: report.refused.as_deref(),
            layers: report.layers.iter().map(LayerJson::checked).collect(),
            signatures,
        })?;
    } else if ctx.human() {
        outln!(
            "Archive:       {} ({})",
            printable(archive.path().display()),
            format_label(archive.format())
        )?;
        print_model(config.as_ref(), modelpack.as_ref(), manifest, &facts)?;
        print_identity(manifest, archive.manifest_digest())?;
        outln!("Layers ({}):", report.layers.len())?;
        for layer in &report.layers {
            let ok = layer.status.is_ok();
            let note = problem(&layer.status)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            outln!(
                "  {}  {}  {:>10}  {}{note}",
                if ok { "OK  " } else { "FAIL" },
                layer.digest,
                human_size(layer.size),
                printable(&layer.what)
            )?;
        }
        if !signatures.is_empty() || !keys.is_empty() {
            super::signing::print_signatures(&signatures)?;
        }
        print_verdict(&report, keys.len(), signatures_ok)?;
    }
    Ok(if report.is_ok() && (keys.is_empty() || signatures_ok) {
        Outcome::Success
    } else {
        Outcome::VerificationFailed
    })
}

/// The files signatures are checked against: hashed from the layers when `hash` (keys given,
/// and every blob checked), never taken from the digests the manifest records, which a
/// rewritten manifest makes say anything; else those recorded digests, when there are.
fn model_files(
    archive: &modeloci_archive::Archive,
    hash: bool,
    ctx: &Ctx,
) -> Result<Option<Vec<(String, Digest)>>> {
    if hash {
        let options = modeloci_sign::HashOptions {
            threads: 0,
            progress: ctx.progress.handle(),
        };
        return Ok(Some(modeloci_sign::archive_files(archive, &options)?));
    }
    Ok(modeloci_archive::recorded_file_digests(archive.manifest())
        .ok()
        .flatten()
        .map(|files| files.into_iter().map(|f| (f.path, f.digest)).collect()))
}

/// The last line of inspect: the blobs' verdict and, with `keys` keys given, the signatures'.
fn print_verdict(
    report: &modeloci_archive::VerifyReport,
    keys: usize,
    signatures_ok: bool,
) -> std::io::Result<()> {
    if report.is_ok() && keys > 0 && !signatures_ok {
        outln!(
            "Verification: FAILED (config and {} OK, but no signature verifies with the {} given)",
            count(report.layers.len(), "layer", "layers"),
            if keys == 1 { "key" } else { "keys" }
        )?;
    } else if report.is_ok() {
        let signed = if keys == 0 {
            ""
        } else {
            "; a signature verified"
        };
        outln!(
            "Verification: OK (config and {}{signed})",
            count(report.layers.len(), "layer", "layers")
        )?;
    } else if let Some(refused) = &report.refused {
        outln!("Verification: FAILED ({})", printable(refused))?;
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
            format!(", {} differ", count(copies, "root copy", "root copies"))
        };
        outln!(
            "Verification: FAILED ({failed_layers} of {}{config_note}{copy_note})",
            count(report.layers.len(), "layer", "layers")
        )?;
    }
    Ok(())
}

/// The model a config describes: modeloci's fields, ModelPack's, or the config's type.
pub(super) fn print_model(
    config: Option<&OciConfig>,
    modelpack: Option<&ModelPackConfig>,
    manifest: &OciManifest,
    facts: &modeloci_archive::ModelFacts,
) -> std::io::Result<()> {
    match config {
        Some(c) => {
            outln!("Model:         {}", printable(&c.model_name))?;
            outln!("Version:       {}", printable(&c.version))?;
            outln!("Framework:     {}", printable(&c.framework))?;
            outln!(
                "Architecture:  {}",
                printable(super::facts::architecture(&c.architecture, facts))
            )?;
            if let Some(weights) = super::facts::weights_line(facts) {
                outln!("Weights:       {}", printable(weights))?;
            }
            if !c.metadata.is_empty() {
                outln!(
                    "Metadata:      {}",
                    printable(serde_json::Value::Object(c.metadata.clone()))
                )?;
            }
            Ok(())
        }
        None => match modelpack {
            Some(mp) => print_modelpack(mp),
            None => outln!(
                "Config:        {} ({})",
                printable(&manifest.config.media_type),
                manifest.config.digest
            ),
        },
    }
}

/// The manifest's digest and artifact type.
pub(super) fn print_identity(manifest: &OciManifest, digest: &Digest) -> std::io::Result<()> {
    outln!("Manifest:      {digest}")?;
    outln!(
        "Artifact type: {}",
        printable(manifest.effective_artifact_type())
    )
}

/// An archive's format, in words.
fn format_label(format: modeloci_archive::ArchiveFormat) -> &'static str {
    match format {
        modeloci_archive::ArchiveFormat::Reference => "the aumai-modeloci format",
        _ => "an OCI image layout",
    }
}

fn print_modelpack(mp: &ModelPackConfig) -> std::io::Result<()> {
    let fields = [
        ("Model:", mp.descriptor.name.as_ref()),
        ("Version:", mp.descriptor.version.as_ref()),
        ("Architecture:", mp.config.architecture.as_ref()),
        ("Format:", mp.config.format.as_ref()),
        ("Parameters:", mp.config.param_size.as_ref()),
        ("Precision:", mp.config.precision.as_ref()),
        ("Quantization:", mp.config.quantization.as_ref()),
    ];
    for (label, value) in fields {
        if let Some(v) = value {
            outln!("{label:<15}{}", printable(v))?;
        }
    }
    if !mp.descriptor.licenses.is_empty() {
        outln!(
            "Licenses:      {}",
            printable(mp.descriptor.licenses.join(", "))
        )?;
    }
    Ok(())
}
