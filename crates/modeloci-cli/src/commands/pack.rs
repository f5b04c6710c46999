mod push;

use anyhow::{Result, bail};
use modeloci_archive::{Format, ModelPackager, PackOptions, Symlinks};
use std::path::PathBuf;

use modeloci_spec::OciConfig;
use serde::Serialize;

use super::facts::{FactsJson, model_title, weights_line};
use super::layers::{self, LayerJson};
use super::{Ctx, Outcome, compression, source_date_epoch};
use crate::cli::{FormatArg, PackArgs, SymlinksArg};
use crate::output::{count, human_size, outln, print_json, printable};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PackJson<'a> {
    archive: &'a std::path::Path,
    manifest_digest: &'a str,
    model_name: &'a str,
    version: &'a str,
    input_bytes: u64,
    archive_bytes: u64,
    artifact_type: &'a str,
    facts: FactsJson<'a>,
    warnings: &'a [String],
    notes: &'a [String],
    layers: Vec<LayerJson<'a>>,
}

pub(super) fn run(args: PackArgs, ctx: &Ctx) -> Result<Outcome> {
    let (options, config) = pack_options(&args, ctx)?;
    if let Some(reference) = &args.push {
        return push::run(&args, reference, options, &config, ctx);
    }
    let report = ModelPackager::with_options(options).pack(&args.model_dir, &config)?;
    let config = &report.config;
    print_warnings(&report.warnings, ctx);
    print_notes(&report.notes, ctx);
    if ctx.json {
        print_json(&PackJson {
            archive: &report.path,
            manifest_digest: report.manifest_digest.as_str(),
            model_name: &config.model_name,
            version: &config.version,
            input_bytes: report.input_bytes,
            archive_bytes: report.archive_bytes,
            artifact_type: report.manifest.effective_artifact_type().as_str(),
            facts: FactsJson::new(&report.facts),
            warnings: &report.warnings,
            notes: &report.notes,
            layers: layers::written(&report.layers),
        })?;
    } else if ctx.human() {
        outln!("Packaged model to {}", printable(report.path.display()))?;
        outln!(
            "  {}: {}, {} -> {} archive",
            model_title(config, &report.facts),
            count(report.files, "file", "files"),
            human_size(report.input_bytes),
            human_size(report.archive_bytes)
        )?;
        if let Some(line) = weights_line(&report.facts) {
            outln!("  weights: {}", printable(line))?;
        }
        outln!("  manifest {}", report.manifest_digest)?;
    }
    Ok(Outcome::Success)
}

pub(super) fn print_warnings(warnings: &[String], ctx: &Ctx) {
    if !ctx.quiet {
        for warning in warnings {
            eprintln!("warning: {}", printable(warning));
        }
    }
}

/// What packing chose for the user (the snapshot of a Hugging Face cache, where the archive
/// went), on stderr.
pub(super) fn print_notes(notes: &[String], ctx: &Ctx) {
    if !ctx.quiet {
        for note in notes {
            eprintln!("note: {}", printable(note));
        }
    }
}

/// Where pack remembers the layers of unchanged files: `MODELOCI_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/modeloci`, else `~/.cache/modeloci`; none with --no-cache or no home.
fn digest_cache(args: &PackArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    modeloci_registry::environment::digest_cache_path()
}

/// The packing options and the config the arguments ask for.
fn pack_options(args: &PackArgs, ctx: &Ctx) -> Result<(PackOptions, OciConfig)> {
    let metadata = match serde_json::from_str::<serde_json::Value>(&args.metadata) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(other) => bail!(
            "--metadata must be a JSON object, not {}",
            json_kind(&other)
        ),
        Err(e) => bail!("--metadata is not valid JSON: {e}"),
    };
    let config = OciConfig::new(
        args.name.clone(),
        args.model_version.clone(),
        args.framework.clone().unwrap_or_else(|| "pytorch".into()),
        args.architecture
            .clone()
            .unwrap_or_else(|| "transformer".into()),
    )
    .with_metadata(metadata);
    let format = match args.format {
        FormatArg::Modeloci => Format::Modeloci,
        FormatArg::Modelpack => Format::ModelPack,
    };
    let mut options = PackOptions::default()
        .with_progress(ctx.progress.handle())
        .with_format(format)
        .with_datasets(args.datasets.clone())
        .with_exclude(args.exclude.clone())
        .with_symlinks(match args.symlinks {
            SymlinksArg::Follow => Symlinks::Follow,
            SymlinksArg::Skip => Symlinks::Skip,
            SymlinksArg::Error => Symlinks::Error,
        })
        .with_digest_cache(digest_cache(args))
        .with_framework_from_facts(args.framework.is_none())
        .with_architecture_from_facts(args.architecture.is_none());
    if let Some(revision) = &args.revision {
        options = options.with_revision(revision);
    }
    if let Some(c) = args.compression {
        options = options
            .with_compression(compression(c))
            .with_raw_weights(false);
    }
    if let Some(level) = args.level {
        options = options.with_level(level);
    }
    if let Some(output) = &args.output {
        options = options.with_output(output);
    }
    if let Some(tag) = &args.tag {
        options = options.with_tag(tag);
    }
    if let Some(epoch) = source_date_epoch()? {
        options = options.with_source_date_epoch(epoch);
    }
    if let Some(created) = &args.created {
        check_rfc3339(created)?;
        options = options.with_created(created);
    }
    Ok((options, config))
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn check_rfc3339(value: &str) -> Result<()> {
    let b = value.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let mut ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if ok {
        let mut rest = &b[19..];
        if let Some(frac) = rest.strip_prefix(b".") {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            ok &= n > 0;
            rest = &frac[n..];
        }
        ok &= matches!(rest, [b'Z' | b'z'])
            || (rest.len() == 6
                && matches!(rest[0], b'+' | b'-')
                && rest[3] == b':'
                && rest[1..3].iter().chain(&rest[4..]).all(u8::is_ascii_digit));
    }
    if !ok {
        bail!("--created {value:?} is not an RFC 3339 time such as 2024-06-01T12:00:00Z");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_rfc3339;

    #[test]
    fn rfc3339_times() {
        for good in [
            "2024-06-01T12:00:00Z",
            "2024-06-01T12:00:00.123Z",
            "2024-06-01t12:00:00+02:00",
        ] {
            check_rfc3339(good).unwrap();
        }
        for bad in [
            "2024-06-01",
            "2024-06-01 12:00:00Z",
            "2024-06-01T12:00:00",
            "2024-06-01T12:00:00.Z",
            "now",
        ] {
            assert!(check_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
