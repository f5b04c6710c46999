//! `modeloci sign`: sign the model in an archive or a registry, or attach a signature made
//! elsewhere.

use std::path::Path;

use anyhow::{Result, bail};
use modeloci_registry::Reference;
use modeloci_sign::{Bundle, HashOptions, MAX_BUNDLE_SIZE, Signed};
use serde::Serialize;

use super::signing::{because, key_name, private_key};
use super::{Ctx, Operand, Outcome};
use crate::cli::SignArgs;
use crate::output::{outln, print_json, printable};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    manifest_digest: &'a str,
    referrer: &'a str,
    files: usize,
    key_hint: Option<&'a str>,
}

/// The signature `--signature` names, read capped and parsed.
fn given_bundle(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(because(format!(
        "cannot open the signature {}",
        path.display()
    )))?;
    let bundle = Bundle::parse_reader(file, MAX_BUNDLE_SIZE).map_err(because(format!(
        "cannot use the signature {}",
        path.display()
    )))?;
    Ok(bundle.bytes().to_vec())
}

pub(super) fn run(args: &SignArgs, ctx: &Ctx) -> Result<Outcome> {
    let key = match &args.key {
        Some(path) => Some(private_key(path, args.key_password_stdin)?),
        None => None,
    };
    let bundle = match &args.signature {
        Some(path) => Some(given_bundle(path)?),
        None => None,
    };
    let (signed, place) = match Operand::of(&args.archive) {
        Operand::Archive(path) => {
            let hashing = HashOptions {
                threads: 0,
                progress: ctx.progress.handle(),
            };
            let reference = args.archive.reference.as_deref();
            let signed = match (&key, &bundle) {
                (Some(key), _) => modeloci_sign::sign_archive(&path, reference, key, &hashing)?,
                (None, Some(bundle)) => {
                    modeloci_sign::attach_signature(&path, reference, bundle, &hashing)?
                }
                (None, None) => bail!("give --key or --signature"),
            };
            (signed, Place::Archive(path))
        }
        Operand::Remote(reference) => {
            if args.archive.reference.is_some() {
                bail!(
                    "--ref picks a manifest in an archive's index; for a registry, name the tag or digest in the reference"
                );
            }
            let client = super::registry::client(&reference, &args.registry)?;
            let signed = match (&key, &bundle) {
                (Some(key), _) => modeloci_sign::sign_remote(&client, &reference, key)?,
                (None, Some(bundle)) => {
                    modeloci_sign::attach_remote_signature(&client, &reference, bundle)?
                }
                (None, None) => bail!("give --key or --signature"),
            };
            (signed, Place::Remote(reference))
        }
    };
    let hint = Bundle::parse(&signed.bundle)?.hint().map(str::to_owned);
    if ctx.json {
        print_json(&SignJson {
            archive: match &place {
                Place::Archive(p) => Some(p),
                Place::Remote(_) => None,
            },
            reference: match &place {
                Place::Remote(r) => Some(r.to_string()),
                Place::Archive(_) => None,
            },
            manifest_digest: signed.manifest_digest.as_str(),
            referrer: signed.referrer.as_str(),
            files: signed.files,
            key_hint: hint.as_deref(),
        })?;
    } else if ctx.human() {
        let by = match &key {
            Some(key) => key_name(&key.public_key()),
            None => hint.as_deref().map_or_else(
                || "a key the signature does not name".to_owned(),
                |h| format!("key {} (the signature's key hint)", &h[..h.len().min(16)]),
            ),
        };
        summary(&signed, &place, &by)?;
    }
    Ok(Outcome::Success)
}

/// Where the signature went.
enum Place {
    Archive(std::path::PathBuf),
    Remote(Reference),
}

fn summary(signed: &Signed, place: &Place, by: &str) -> Result<()> {
    let at = match place {
        Place::Archive(path) => printable(path.display()).to_string(),
        Place::Remote(reference) => printable(reference).to_string(),
    };
    outln!(
        "Signed {at}: {}, by {}",
        crate::output::count(signed.files, "file", "files"),
        printable(by)
    )?;
    outln!(
        "  signature {} (a referrer of manifest {})",
        signed.referrer,
        signed.manifest_digest
    )?;
    Ok(())
}
