use anyhow::{Result, bail};
use modeloci_archive::{ModelUnpackager, UnpackOptions};
use serde::Serialize;

use super::layers::{FileJson, files_json};

use super::{Ctx, Outcome};
use crate::cli::UnpackArgs;
use crate::output::{count, human_size, outln, print_json, printable};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnpackJson<'a> {
    output: &'a std::path::Path,
    manifest_digest: &'a str,
    layout: bool,
    config: Option<&'a modeloci_spec::OciConfig>,
    bytes: u64,
    files: Vec<FileJson<'a>>,
    /// With --key: the signature that verified the files written.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<serde_json::Value>,
}

/// With --key: the signatures one of `keys` verifies, first, so that an unsigned model is
/// refused before a file is read; and `options` with the check of the files as they are
/// written (they must match one of them), before any lands.
fn signature_check(
    args: &UnpackArgs,
    path: &std::path::Path,
    keys: &[modeloci_sign::PublicKey],
    options: UnpackOptions,
) -> Result<(Vec<modeloci_sign::Verified>, UnpackOptions)> {
    if args.layout {
        bail!(
            "--key checks the model's files; --layout extracts the layout as it is (verify --key the archive instead)"
        );
    }
    let archive = modeloci_archive::Archive::open_with(path, args.archive.reference.as_deref())?;
    let verified = modeloci_sign::choose_all(modeloci_sign::archive_signatures(&archive)?, keys)?;
    let statements = verified.iter().map(|v| v.bundle.statement().clone());
    let options = options.with_check(modeloci_sign::unpack_check_any(
        statements.collect(),
        !args.include.is_empty(),
    ));
    Ok((verified, options))
}

/// The signature the files written matched (the check passed, so one does).
fn matched(
    verified: Vec<modeloci_sign::Verified>,
    report: &modeloci_archive::UnpackReport,
    subset: bool,
) -> Result<modeloci_sign::Verified> {
    let files: Vec<_> = report
        .files
        .iter()
        .map(|f| (f.path.clone(), f.digest.clone()))
        .collect();
    Ok(modeloci_sign::matching(verified, &files, subset)?)
}

pub(super) fn run(args: &UnpackArgs, ctx: &Ctx) -> Result<Outcome> {
    let path = super::archive_path(&args.archive, "--unpack DIR")?;
    let mut options = UnpackOptions::default()
        .with_layout(args.layout)
        .with_force(args.force)
        .with_include(args.include.clone())
        .with_progress(ctx.progress.handle());
    if let Some(reference) = &args.archive.reference {
        options = options.with_reference(reference);
    }
    let keys = super::signing::public_keys(&args.signed.keys)?;
    let verified = if keys.is_empty() {
        None
    } else {
        let (verified, with_check) = signature_check(args, &path, &keys, options)?;
        options = with_check;
        Some(verified)
    };
    let signature_out = match &args.signed.signature_out {
        Some(out) => Some(super::signing::SignatureOut::reserve(
            out,
            Some(&args.output),
        )?),
        None => None,
    };
    let report = ModelUnpackager::with_options(options)
        .extract(&path, &args.output)
        .map_err(super::signing::check_failure)?;
    let verified = match verified {
        Some(verified) => Some(matched(verified, &report, !args.include.is_empty())?),
        None => None,
    };
    if let (Some(verified), Some(out)) = (&verified, signature_out) {
        out.write(verified)?;
    }
    if ctx.json {
        print_json(&UnpackJson {
            output: &report.output,
            manifest_digest: report.manifest_digest.as_str(),
            layout: report.layout,
            config: report.config.as_ref(),
            bytes: report.bytes(),
            files: files_json(&report.files),
            signature: verified
                .as_ref()
                .map(|v| super::signing::verified_json(&keys, v)),
        })?;
    } else if ctx.human() {
        print_human(&report, verified.as_ref(), &keys, !args.include.is_empty())?;
    }
    Ok(Outcome::Success)
}

fn print_human(
    report: &modeloci_archive::UnpackReport,
    verified: Option<&modeloci_sign::Verified>,
    keys: &[modeloci_sign::PublicKey],
    subset: bool,
) -> Result<()> {
    let what = if report.layout { "OCI layout" } else { "model" };
    outln!("Unpacked {what} to {}", printable(report.output.display()))?;
    let facts = super::facts::recorded(&report.manifest, None);
    let model = report
        .config
        .as_ref()
        .map(|c| format!("{}: ", super::facts::model_title(c, &facts)))
        .unwrap_or_default();
    outln!(
        "  {model}{}, {}, every blob verified",
        count(report.files.len(), "file", "files"),
        human_size(report.bytes())
    )?;
    match verified {
        Some(verified) if subset => {
            super::signing::print_verified_part(keys, verified, report.files.len())?;
        }
        Some(verified) => {
            super::signing::print_verified(keys, verified, "match the files written")?;
        }
        None => {}
    }
    Ok(())
}
