//! What the signing and verifying commands share: reading keys (capped, never echoed),
//! checking the signatures stored beside a model, and saying so.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use modeloci_sign::{PrivateKey, PublicKey, Verified};

use crate::output::{outln, printable};

/// The largest key file read: a PEM key is well under a kilobyte.
const MAX_KEY_FILE: u64 = 64 << 10;

/// Wraps `err` as `what: err`. The message carries the cause (the command prints the
/// outermost message only), and the error stays underneath for its hint and exit code.
pub(super) fn because<E>(what: String) -> impl FnOnce(E) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |err| {
        let message = format!("{what}: {err}");
        anyhow::Error::new(err).context(message)
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .map_err(because(format!("cannot open the key {}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(because(format!("cannot read the key {}", path.display())))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        bail!(
            "{} is larger than {} KiB: not a PEM key",
            path.display(),
            MAX_KEY_FILE >> 10
        );
    }
    Ok(bytes)
}

/// The public keys of `--key` (any one of them must have signed).
pub(super) fn public_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|path| {
            PublicKey::from_pem(&read_key_file(path)?).map_err(because(format!(
                "cannot use the public key {}",
                path.display()
            )))
        })
        .collect()
}

/// The private key of `sign --key`, its password read from standard input when
/// `password_stdin` (an encrypted key without it is refused, naming the flag).
pub(super) fn private_key(path: &Path, password_stdin: bool) -> Result<PrivateKey> {
    let pem = read_key_file(path)?;
    let password = if password_stdin {
        Some(super::credentials::stdin_password()?)
    } else if PrivateKey::is_encrypted_pem(&pem) {
        bail!(
            "the private key {} is encrypted: give its password on standard input with --key-password-stdin",
            path.display()
        );
    } else {
        None
    };
    PrivateKey::from_pem(&pem, password.as_deref().map(str::as_bytes)).map_err(because(format!(
        "cannot use the private key {}",
        path.display()
    )))
}

/// A key's short name for people: its curve and the start of its hint.
pub(super) fn key_name(key: &PublicKey) -> String {
    format!("{} key {}", key.curve(), &key.hint()[..16])
}

/// Unpack's error, with a signature check's refusal of the files unwrapped: the signing
/// error itself, so that its message and hint are those `verify --key` gives.
pub(super) fn check_failure(err: modeloci_archive::Error) -> anyhow::Error {
    match err {
        modeloci_archive::Error::CheckFailed { source } => {
            match source.downcast::<modeloci_sign::Error>() {
                Ok(signing) => anyhow::Error::new(*signing),
                Err(source) => modeloci_archive::Error::CheckFailed { source }.into(),
            }
        }
        other => other.into(),
    }
}

/// Where `--signature-out` will write the verified bundle: a temporary file beside it, made
/// before any model file is written when it lies outside the output directory, so that a
/// place that cannot be written is refused before anything lands (inside, where the
/// directory must be empty or absent, it is made once the files are there).
pub(super) struct SignatureOut {
    path: PathBuf,
    temp: Option<tempfile::NamedTempFile>,
}

impl SignatureOut {
    pub(super) fn reserve(path: &Path, output: Option<&Path>) -> Result<Self> {
        let inside = match output {
            Some(output) => {
                std::path::absolute(parent(path))?.starts_with(std::path::absolute(output)?)
            }
            None => false,
        };
        Ok(Self {
            path: path.to_owned(),
            temp: if inside {
                None
            } else {
                Some(temp_beside(path)?)
            },
        })
    }

    /// Writes the bundle and renames it into place.
    pub(super) fn write(self, verified: &Verified) -> Result<()> {
        let mut temp = match self.temp {
            Some(temp) => temp,
            None => temp_beside(&self.path)?,
        };
        std::io::Write::write_all(&mut temp, verified.bundle.bytes()).map_err(because(format!(
            "cannot write the signature to {}",
            self.path.display()
        )))?;
        temp.persist(&self.path).map_err(because(format!(
            "cannot write the signature to {}",
            self.path.display()
        )))?;
        Ok(())
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    tempfile::Builder::new()
        .prefix(".modeloci-signature-")
        .tempfile_in(dir)
        .map_err(because(format!(
            "cannot write the signature into {}",
            dir.display()
        )))
}

/// The line that says a signature verified.
pub(super) fn print_verified(keys: &[PublicKey], verified: &Verified, how: &str) -> Result<()> {
    let files = verified.bundle.statement().resources().len();
    outln!(
        "OK    signature  signed by {}; {} {how}",
        printable(key_name(&keys[verified.key])),
        crate::output::count(files, "file", "files")
    )?;
    Ok(())
}

/// The line that says a signature verified the part of a model unpack wrote (with
/// `--include`): each file written is signed, with its signed digest.
pub(super) fn print_verified_part(
    keys: &[PublicKey],
    verified: &Verified,
    written: usize,
) -> Result<()> {
    let signed = verified.bundle.statement().resources().len();
    outln!(
        "OK    signature  signed by {}; {written} of its {signed} files match the files written",
        printable(key_name(&keys[verified.key])),
    )?;
    Ok(())
}

/// One signature as inspect shows it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignatureJson {
    referrer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<usize>,
    /// `unchecked` (no --key), `verified` or `failed`.
    pub(super) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// What inspect says of each stored signature: read, and given keys, checked against
/// them and against the file digests the manifest records (when it records them).
pub(super) fn signature_views(
    signatures: Vec<modeloci_sign::StoredSignature>,
    keys: &[PublicKey],
    recorded: Option<&[(String, modeloci_spec::Digest)]>,
) -> Vec<SignatureJson> {
    signatures
        .into_iter()
        .map(|stored| {
            let (hint, files, outcome) = match &stored.bundle {
                Err(e) => (None, None, Err(e.to_string())),
                Ok(bundle) => {
                    let outcome = if keys.is_empty() {
                        Ok(false)
                    } else {
                        bundle
                            .verify(keys)
                            .and_then(|_| match recorded {
                                Some(files) => {
                                    modeloci_sign::check_files(bundle.statement(), files)
                                }
                                None => Ok(()),
                            })
                            .map(|()| true)
                            .map_err(|e| e.to_string())
                    };
                    (
                        bundle.hint().map(str::to_owned),
                        Some(bundle.statement().resources().len()),
                        outcome,
                    )
                }
            };
            let (status, problem) = match outcome {
                Ok(false) => ("unchecked", None),
                Ok(true) => ("verified", None),
                Err(p) => ("failed", Some(p)),
            };
            SignatureJson {
                referrer: stored.referrer.to_string(),
                bundle: stored.bundle_digest.map(|d| d.to_string()),
                key_hint: hint,
                files,
                status,
                problem,
            }
        })
        .collect()
}

/// The signature lines of inspect's human output.
pub(super) fn print_signatures(views: &[SignatureJson]) -> std::io::Result<()> {
    if views.is_empty() {
        return outln!("Signatures:    none");
    }
    outln!("Signatures ({}):", views.len())?;
    for v in views {
        let verdict = match v.status {
            "verified" => "OK  ",
            "failed" => "FAIL",
            _ => "    ",
        };
        let by = v.key_hint.as_deref().map_or_else(
            || "no key hint".to_owned(),
            |h| format!("key {}", &h[..h.len().min(16)]),
        );
        let files = v
            .files
            .map(|n| format!(", {}", crate::output::count(n, "file", "files")))
            .unwrap_or_default();
        let problem = v
            .problem
            .as_deref()
            .map(|p| format!(": {p}"))
            .unwrap_or_default();
        outln!(
            "  {verdict}  {}  {}{files}{}",
            v.referrer,
            printable(by),
            printable(problem)
        )?;
    }
    Ok(())
}

/// The `signature` member of verify's JSON.
pub(super) fn verified_json(keys: &[PublicKey], verified: &Verified) -> serde_json::Value {
    serde_json::json!({
        "ok": true,
        "referrer": verified.referrer.as_ref().map(ToString::to_string),
        "keyHint": keys[verified.key].hint(),
        "curve": keys[verified.key].curve(),
        "files": verified.bundle.statement().resources().len(),
        "root": verified.bundle.statement().root().to_string(),
    })
}

/// `verify --dir D --signature S --key K`: the directory's files, hashed in parallel, against
/// a signature file (as `model_signing verify key` checks them).
pub(super) fn verify_dir(
    dir: &Path,
    signature: &Path,
    keys: &[PublicKey],
    ctx: &super::Ctx,
) -> Result<super::Outcome> {
    let file = std::fs::File::open(signature).map_err(because(format!(
        "cannot open the signature {}",
        signature.display()
    )))?;
    let bundle =
        modeloci_sign::Bundle::parse_reader(file, modeloci_sign::MAX_BUNDLE_SIZE).map_err(
            because(format!("cannot use the signature {}", signature.display())),
        )?;
    let key = bundle.verify(keys)?;
    // The signature file itself, when it lies in the directory, is not a model file (both
    // paths resolved, as `model_signing` resolves them: `..` and symbolic links).
    let mut ignore: Vec<String> = bundle.statement().ignore_paths().to_vec();
    let resolved = |path: &Path| std::fs::canonicalize(path).or_else(|_| std::path::absolute(path));
    if let Ok(inside) = resolved(signature)?.strip_prefix(resolved(dir)?) {
        ignore.push(inside.to_string_lossy().into_owned());
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let files = modeloci_sign::hash_dir(dir, threads, &ignore)?;
    modeloci_sign::check_files(bundle.statement(), &files)?;
    let verified = Verified {
        referrer: None,
        key,
        bundle,
    };
    if ctx.json {
        let mut doc = verified_json(keys, &verified);
        doc["dir"] = serde_json::json!(dir);
        crate::output::print_json(&doc)?;
    } else if ctx.human() {
        print_verified(
            keys,
            &verified,
            &format!("match {}", printable(dir.display())),
        )?;
    }
    Ok(super::Outcome::Success)
}

/// `verify REF --key K`: the signatures in the registry against the file digests the
/// manifest records; no layer is downloaded.
pub(super) fn verify_remote(
    client: &modeloci_registry::Client,
    reference: &modeloci_registry::Reference,
    keys: &[PublicKey],
    ctx: &super::Ctx,
) -> Result<super::Outcome> {
    let found = modeloci_sign::verify_remote(client, reference, keys)?;
    if !found.files_checked {
        bail!(
            "{reference} is signed by {}, but its manifest does not record every file's digest: `modeloci pull {reference} --key ... --unpack DIR` checks the files as it writes them",
            key_name(&keys[found.verified.key])
        );
    }
    if ctx.json {
        let mut doc = verified_json(keys, &found.verified);
        doc["reference"] = serde_json::json!(found.model.resolved.reference.to_string());
        doc["manifestDigest"] = serde_json::json!(found.model.resolved.digest.to_string());
        crate::output::print_json(&doc)?;
    } else if ctx.human() {
        outln!("Verified {}", printable(&found.model.resolved.reference))?;
        print_verified(
            keys,
            &found.verified,
            "match the manifest's recorded digests (no layer downloaded; pull --key checks the bytes)",
        )?;
    }
    Ok(super::Outcome::Success)
}
