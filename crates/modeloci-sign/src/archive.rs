//! Signing the model in an archive, and checking an archive's signatures.

use std::path::Path;

use modeloci_archive::{
    Archive, ModelUnpackager, NewReferrer, ProgressHandle, UnpackOptions, attach_referrers,
    attach_referrers_for_files,
};
use modeloci_spec::{Descriptor, Digest, MediaType};

use crate::bundle::{Bundle, MAX_BUNDLE_SIZE, sign};
use crate::error::{Error, Result};
use crate::key::{PrivateKey, PublicKey};
use crate::referrer::{Referrer, bundle_layer, is_signature, referrer_manifest};
use crate::statement::Statement;
use crate::stored::{StoredSignature, Verified, check_files, choose_all, matching};

/// What signing (or attaching a signature to) a model produced.
#[derive(Debug)]
#[non_exhaustive]
pub struct Signed {
    /// The model manifest's digest, the signature referrer's subject.
    pub manifest_digest: Digest,
    /// The referrer manifest's digest.
    pub referrer: Digest,
    /// The bundle's bytes.
    pub bundle: Vec<u8>,
    /// How many files the signature covers.
    pub files: usize,
}

/// How many threads hash, and where progress goes.
#[derive(Clone, Debug, Default)]
pub struct HashOptions {
    /// Worker threads (0: the machine's).
    pub threads: usize,
    /// Where progress goes.
    pub progress: Option<ProgressHandle>,
}

/// Each file of the archive's model with the SHA-256 of its content, read from the
/// layers (every blob checked against its digest), never from an annotation.
///
/// # Errors
///
/// Those of reading the archive, as unpack meets them.
pub fn archive_files(archive: &Archive, options: &HashOptions) -> Result<Vec<(String, Digest)>> {
    let files = unpacker(options).file_digests(archive)?;
    Ok(files.into_iter().map(|f| (f.path, f.digest)).collect())
}

/// The name a signature gives the model: its config's name, else the manifest's title,
/// else `model`.
pub(crate) fn model_name(config_name: Option<String>, title: Option<&str>) -> String {
    config_name
        .filter(|n| !n.is_empty())
        .or_else(|| title.map(str::to_owned))
        .unwrap_or_else(|| "model".to_owned())
}

/// The descriptor of the archive's model manifest.
fn subject(archive: &Archive) -> Descriptor {
    archive.manifest_descriptor().cloned().unwrap_or_else(|| {
        Descriptor::new(
            MediaType::ImageManifest,
            archive.manifest_digest().clone(),
            archive.manifest_bytes().len() as u64,
        )
    })
}

/// Signs the model in the archive at `path` (the manifest named `reference` when its index
/// holds several) with `key`, and stores the signature in the archive as a referrer of the
/// model manifest. The archive is rewritten atomically; signing again with the same key
/// gives the same bytes.
///
/// # Errors
///
/// Those of reading the archive and of rewriting it.
pub fn sign_archive(
    path: &Path,
    reference: Option<&str>,
    key: &PrivateKey,
    options: &HashOptions,
) -> Result<Signed> {
    if reference.is_some() {
        // The rewrite opens the archive's one model; a chosen one is signed in two passes.
        let archive = Archive::open_with(path, reference)?;
        let statement = statement_of(&archive, archive_files(&archive, options)?)?;
        let bundle = sign(&statement, key);
        return store(path, &archive, bundle, statement.resources().len());
    }
    // One read (the files hashed, every layer checked, under the archive's lock), then one
    // write with the signature.
    let mut signed = None;
    let report = attach_referrers_for_files(path, &unpacker(options), |archive, files| {
        let files = files.into_iter().map(|f| (f.path, f.digest)).collect();
        let statement = statement_of(archive, files)?;
        let bundle = sign(&statement, key);
        let referrer = referrer_manifest(&subject(archive), &bundle);
        let new = new_referrer(&referrer);
        signed = Some((
            referrer.descriptor().digest,
            bundle,
            statement.resources().len(),
        ));
        Ok(vec![new])
    })
    .map_err(unwrap_check)?;
    let (referrer, bundle, files) = signed.expect("the referrer was made");
    Ok(Signed {
        manifest_digest: report.manifest_digest,
        referrer,
        bundle,
        files,
    })
}

/// The statement of the archive's files.
fn statement_of(archive: &Archive, files: Vec<(String, Digest)>) -> Result<Statement> {
    let name = model_name(
        archive.config().ok().map(|c| c.model_name),
        archive.manifest().title(),
    );
    Statement::for_files(&name, files)
}

/// The unpacker that hashes the archive's files.
fn unpacker(options: &HashOptions) -> ModelUnpackager {
    let mut unpack = UnpackOptions::default().with_progress(options.progress.clone());
    if options.threads > 0 {
        unpack = unpack.with_threads(options.threads);
    }
    ModelUnpackager::with_options(unpack)
}

/// A signing error the archive's rewrite carried back, as it was.
fn unwrap_check(err: modeloci_archive::Error) -> Error {
    match err {
        modeloci_archive::Error::CheckFailed { source } => match source.downcast::<Error>() {
            Ok(signing) => *signing,
            Err(source) => modeloci_archive::Error::CheckFailed { source }.into(),
        },
        other => other.into(),
    }
}

/// Attaches a signature made elsewhere (by `model_signing sign key` on the model's
/// directory) to the model in the archive at `path`, once its files are checked to be
/// exactly the archive's.
///
/// # Errors
///
/// The bundle's ([`Bundle::parse`]), [`Error::FilesDiffer`], and those of reading and
/// rewriting the archive.
pub fn attach_signature(
    path: &Path,
    reference: Option<&str>,
    bundle: &[u8],
    options: &HashOptions,
) -> Result<Signed> {
    let parsed = Bundle::parse(bundle)?;
    let archive = Archive::open_with(path, reference)?;
    let files = archive_files(&archive, options)?;
    check_files(parsed.statement(), &files)?;
    let signed = parsed.statement().resources().len();
    store(path, &archive, bundle.to_vec(), signed)
}

fn store(path: &Path, archive: &Archive, bundle: Vec<u8>, files: usize) -> Result<Signed> {
    let referrer = referrer_manifest(&subject(archive), &bundle);
    let digest = referrer.descriptor().digest;
    attach_referrers(path, &[new_referrer(&referrer)])?;
    Ok(Signed {
        manifest_digest: archive.manifest_digest().clone(),
        referrer: digest,
        bundle,
        files,
    })
}

fn new_referrer(referrer: &Referrer) -> NewReferrer {
    NewReferrer {
        manifest_bytes: referrer.manifest_bytes.clone(),
        blobs: referrer.blobs.iter().map(|(_, b)| b.clone()).collect(),
    }
}

/// The signatures stored in the archive beside its model, each bundle read (at most
/// [`MAX_BUNDLE_SIZE`]) and parsed.
///
/// # Errors
///
/// Those of reading the archive's index and referrer manifests; a bundle that cannot be
/// read or parsed is reported in its [`StoredSignature`].
pub fn archive_signatures(archive: &Archive) -> Result<Vec<StoredSignature>> {
    let mut found = Vec::new();
    for referrer in archive.referrers()? {
        if !is_signature(&referrer.manifest) {
            continue;
        }
        let layer = bundle_layer(&referrer.manifest);
        let bundle = match layer {
            None => Err(Error::InvalidBundle {
                reason: "the signature referrer holds no bundle layer".into(),
            }),
            Some(layer) => archive
                .read_blob(layer, MAX_BUNDLE_SIZE)
                .map_err(Error::from)
                .and_then(|bytes| Bundle::parse(&bytes)),
        };
        found.push(StoredSignature {
            referrer: referrer.descriptor.digest.clone(),
            bundle_digest: layer.map(|l| l.digest.clone()),
            bundle,
        });
    }
    Ok(found)
}

/// Checks that one of `keys` signed the archive's model and that the signed files are
/// exactly the archive's, hashed from its layers (when several signatures verify, one of
/// them must match).
///
/// # Errors
///
/// [`Error::Unsigned`], the signatures' errors ([`crate::choose`]), [`Error::FilesDiffer`], and
/// those of reading the archive.
pub fn verify_archive(
    archive: &Archive,
    keys: &[PublicKey],
    options: &HashOptions,
) -> Result<Verified> {
    let verified = choose_all(archive_signatures(archive)?, keys)?;
    let files = archive_files(archive, options)?;
    matching(verified, &files, false)
}
