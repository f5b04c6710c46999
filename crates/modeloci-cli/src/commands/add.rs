use anyhow::Result;
use modeloci_archive::{AddOptions, ModelPackager, PackOptions};
use serde::Serialize;

use super::layers::LayerJson;
use super::{Ctx, Outcome, compression, source_date_epoch};
use crate::cli::AddArgs;
use crate::output::{human_size, outln, print_json, printable};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddJson<'a> {
    archive: &'a std::path::Path,
    manifest_digest: &'a str,
    layer: LayerJson<'a>,
    replaced: Option<LayerJson<'a>>,
    dropped_signatures: Vec<&'a str>,
}

pub(super) fn run(args: &AddArgs, ctx: &Ctx) -> Result<Outcome> {
    let mut options = AddOptions::default()
        .with_force(args.force)
        .with_drop_referrers(args.force);
    if let Some(path) = &args.path {
        options = options.with_path(path);
    }
    if let Some(c) = args.compression {
        options = options.with_compression(compression(c));
    }
    let mut pack_options = PackOptions::default();
    if let Some(epoch) = source_date_epoch()? {
        pack_options = pack_options.with_source_date_epoch(epoch);
    }
    let report =
        ModelPackager::with_options(pack_options).add(&args.archive, &args.file, &options)?;
    if ctx.json {
        print_json(&AddJson {
            archive: &report.path,
            manifest_digest: report.manifest_digest.as_str(),
            layer: LayerJson::written(&report.layer),
            replaced: report.replaced.as_ref().map(LayerJson::written),
            dropped_signatures: report
                .dropped_referrers
                .iter()
                .map(modeloci_spec::Digest::as_str)
                .collect(),
        })?;
    } else if ctx.human() {
        let (verb, preposition) = if report.replaced.is_some() {
            ("Replaced", "in")
        } else {
            ("Added", "to")
        };
        outln!(
            "{verb} {} ({}) {preposition} {}",
            printable(report.layer.title().unwrap_or("?")),
            human_size(report.layer.size),
            printable(report.path.display())
        )?;
        outln!("  layer    {}", report.layer.digest)?;
        outln!("  manifest {}", report.manifest_digest)?;
        let dropped = report.dropped_referrers.len();
        if dropped > 0 {
            let (what, it) = if dropped == 1 {
                ("signature", "it")
            } else {
                ("signatures", "they")
            };
            outln!(
                "  dropped {dropped} {what}: {it} covered the old files (sign the archive again)"
            )?;
        }
    }
    Ok(Outcome::Success)
}
